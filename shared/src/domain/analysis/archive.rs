//! Reading an uploaded or GitHub archive into a [`Tree`] (API.md §2.1, §20), from bytes only.
//!
//! * **Formats**, told apart by magic bytes (never by file name): zip (`PK\x03\x04`,
//!   `PK\x05\x06`), gzip'd tar (`\x1f\x8b`) and, for convenience, plain tar (`ustar` at 257).
//!   Anything else is [`ArchiveError::NotAnArchive`].
//! * **Bounded expansion.** Every decompressed byte is counted while it is produced (for tar the
//!   whole decompressed stream, headers and skipped entries included; for zip the data of the
//!   entries read), never taken from headers (which can lie): past [`Limits::max_total_bytes`]
//!   reading stops with [`ArchiveError::TooLarge`]. Entries are counted as they are met
//!   (directories, links and skipped entries included): past [`Limits::max_entries`] →
//!   `TooLarge`. Data is read in 64 KiB chunks, so a bomb never allocates its size.
//! * **No escapes.** An entry (of any type) whose name is absolute (`/…`), has a drive prefix
//!   (`C:…`), a `..` component, a backslash or a NUL refuses the whole archive with
//!   [`ArchiveError::UnsafePath`]. `.` and empty components are dropped.
//! * **Links are never followed nor read**: symbolic and hard links (tar `2`/`1`, zip entries
//!   whose Unix mode is a symlink) are skipped, as are devices, FIFOs, GNU sparse files and
//!   every other non-regular entry. Directory entries carry no data; their paths are kept in
//!   [`Tree::dirs`] (architecture detection looks at directory names).
//! * **Duplicates**: when the same path occurs twice, the last one wins (as extraction would).
//! * **Top-level directory**: when every file (and every explicit directory) lies under one
//!   top-level directory (GitHub tarballs `owner-repo-sha/…`, zips of a folder), it is stripped.
//! * **Text** is kept only for the files the analysis reads (see [`needs_text`]): at most
//!   [`Limits::max_file_text_bytes`] per file (larger → no text), and within two totals
//!   ([`Limits::max_python_text_bytes`], [`Limits::max_config_text_bytes`]); a file over a cap
//!   keeps no text and is counted in [`Tree::texts_dropped`]. Non-blank line counts are
//!   computed while streaming for every file, so no other text is kept.
//!
//! Error mapping for the API (§2.1): every variant means `400 invalid_archive` `Archive could
//! not be read`; the caller may prefer `413` for [`ArchiveError::TooLarge`].

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Cursor, Read};

use flate2::read::GzDecoder;

use super::{detect, manifests, metrics};

/// Caps on what reading an archive may cost. All are enforced while streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total decompressed bytes (tar: the whole tar stream; zip: entry data read).
    pub max_total_bytes: u64,
    /// Entries met in the archive (files, directories, links, others).
    pub max_entries: u64,
    /// Text kept for one file; a larger file keeps no text (its lines are still counted).
    pub max_file_text_bytes: u64,
    /// Total text kept for Python files (code metrics).
    pub max_python_text_bytes: u64,
    /// Total text kept for manifests and the files technology detection reads.
    pub max_config_text_bytes: u64,
}

impl Default for Limits {
    /// 100 MiB expanded, 20 000 entries, 2 MiB text per file, 48 MiB of Python text,
    /// 8 MiB of manifest/config text.
    fn default() -> Self {
        Limits {
            max_total_bytes: 100 * MIB,
            max_entries: 20_000,
            max_file_text_bytes: 2 * MIB,
            max_python_text_bytes: 48 * MIB,
            max_config_text_bytes: 8 * MIB,
        }
    }
}

const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Why an archive could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// Neither zip nor (gzip'd) tar, by magic bytes.
    #[error("not a zip or tar.gz archive")]
    NotAnArchive,
    /// Recognised format, but it could not be decoded.
    #[error("archive is corrupt: {0}")]
    Corrupt(String),
    /// An expansion cap of [`Limits`] was exceeded.
    #[error("archive is too large: {0}")]
    TooLarge(String),
    /// An entry would land outside the extraction root.
    #[error("archive entry has an unsafe path: {0}")]
    UnsafePath(String),
}

/// One regular file of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Relative, `/`-separated, normalized path (no `.`, `..`, empty components).
    pub path: String,
    /// Bytes actually read.
    pub size: u64,
    /// Non-blank lines, as Python counts them (`open(errors="ignore")`, `line.strip()`):
    /// `\n` and `\r` end lines, invalid UTF-8 is ignored, Python whitespace is blank.
    pub non_blank_lines: u64,
    /// UTF-8 text (lossy), only for the files the analysis reads ([`needs_text`]) and within
    /// the caps of [`Limits`].
    pub text: Option<String>,
    /// The text contained invalid UTF-8 (replaced by U+FFFD).
    pub text_lossy: bool,
}

/// The regular files (and directory paths) of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    /// Sorted by path, paths unique.
    pub files: Vec<TreeFile>,
    /// Every directory: explicit directory entries and the ancestors of files. Sorted, unique.
    pub dirs: Vec<String>,
    /// The top-level directory that was stripped, if any.
    pub stripped_prefix: Option<String>,
    /// Files whose text was wanted but not kept (per-file or total text cap).
    pub texts_dropped: u64,
}

impl Tree {
    /// The file at `path`, if any.
    pub fn file(&self, path: &str) -> Option<&TreeFile> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
            .and_then(|i| self.files.get(i))
    }

    /// Whether `path` is a file or directory of the tree.
    pub fn exists(&self, path: &str) -> bool {
        self.file(path).is_some() || self.dirs.binary_search_by(|d| d.as_str().cmp(path)).is_ok()
    }

    /// A tree from in-memory files, with the same rules as archives (path safety, caps,
    /// duplicates, top-level directory stripping). Paths ending in `/` are directories.
    pub fn from_entries<'a, I>(entries: I, limits: &Limits) -> Result<Tree, ArchiveError>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let budget = Budget::new(limits.max_total_bytes);
        let mut b = Builder::new(limits);
        for (name, data) in entries {
            b.count_entry()?;
            let Some(path) = normalize(name)? else {
                continue;
            };
            if name.ends_with('/') {
                b.dirs.insert(path);
            } else {
                b.add_file(path, Counting::new(data, &budget), &budget)?;
            }
        }
        Ok(b.finish())
    }
}

/// Whether the analysis reads the text of the file at (final, relative) `path`, and for what:
/// Python files (metrics), files technology detection reads, and root manifests — never inside
/// skipped directories.
pub fn needs_text(path: &str) -> bool {
    text_kind(path).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    Python,
    Config,
}

fn text_kind(path: &str) -> Option<TextKind> {
    if metrics::is_skipped_file(path) {
        return None;
    }
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, path),
    };
    if metrics::language_of(name) == Some("python") {
        Some(TextKind::Python)
    } else if detect::reads_file(name) || (dir.is_none() && manifests::is_manifest(name)) {
        Some(TextKind::Config)
    } else {
        None
    }
}

/// While streaming the final path is not known yet (the top-level directory may be stripped):
/// want the text if either candidate path needs it.
fn streaming_text_kind(raw: &str) -> Option<TextKind> {
    text_kind(raw).or_else(|| raw.split_once('/').and_then(|(_, rest)| text_kind(rest)))
}

/// A cheap check, for a request, that `bytes` is an archive this module reads: a zip whose
/// central directory opens and names no unsafe path, or a (gzip'd) tar whose first header is
/// a valid tar header. The full read, with every cap, happens in the analysis job.
pub fn probe(bytes: &[u8]) -> Result<(), ArchiveError> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        let zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        for name in zip.file_names() {
            let name = name.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
            normalize(&name)?;
        }
        return Ok(());
    }
    let mut header = [0u8; 512];
    if bytes.starts_with(b"\x1f\x8b") {
        GzDecoder::new(bytes)
            .read_exact(&mut header)
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    } else if let Some(first) = bytes.get(..512) {
        header.copy_from_slice(first);
    } else {
        return Err(ArchiveError::NotAnArchive);
    }
    if tar_checksum_ok(&header) {
        Ok(())
    } else {
        Err(ArchiveError::NotAnArchive)
    }
}

/// A tar header's checksum (bytes 148..156, octal) equals the sum of its bytes with that field
/// read as spaces.
fn tar_checksum_ok(h: &[u8; 512]) -> bool {
    let field = &h[148..156];
    let digits: String = field
        .iter()
        .map(|b| *b as char)
        .take_while(|c| *c != '\0')
        .collect::<String>()
        .trim()
        .to_string();
    let Ok(stored) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    stored == sum
}

/// Reads a zip, gzip'd tar or tar archive (told apart by magic bytes) into a [`Tree`].
pub fn read_archive(bytes: &[u8], limits: &Limits) -> Result<Tree, ArchiveError> {
    if bytes.starts_with(b"\x1f\x8b") {
        read_tar(GzDecoder::new(bytes), limits)
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        read_zip(bytes, limits)
    } else if bytes.get(257..262) == Some(b"ustar".as_slice()) {
        read_tar(bytes, limits)
    } else {
        Err(ArchiveError::NotAnArchive)
    }
}

fn read_tar<R: Read>(reader: R, limits: &Limits) -> Result<Tree, ArchiveError> {
    use tar::EntryType;
    let budget = Budget::new(limits.max_total_bytes);
    let mut archive = tar::Archive::new(Counting::new(reader, &budget));
    let mut b = Builder::new(limits);
    let entries = archive.entries().map_err(|e| budget.error(e))?;
    for entry in entries {
        let entry = entry.map_err(|e| budget.error(e))?;
        b.count_entry()?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(path) = normalize(&raw)? else {
            continue;
        };
        match kind {
            EntryType::Regular | EntryType::Continuous => b.add_file(path, entry, &budget)?,
            EntryType::Directory => {
                b.dirs.insert(path);
            }
            // Symlinks, hard links, devices, FIFOs, sparse files, …: skipped, never followed.
            _ => {}
        }
    }
    Ok(b.finish())
}

fn read_zip(bytes: &[u8], limits: &Limits) -> Result<Tree, ArchiveError> {
    let corrupt = |e: zip::result::ZipError| ArchiveError::Corrupt(e.to_string());
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    if archive.len() as u64 > limits.max_entries {
        return Err(too_many_entries(limits));
    }
    let budget = Budget::new(limits.max_total_bytes);
    let mut b = Builder::new(limits);
    for i in 0..archive.len() {
        b.count_entry()?;
        let file = archive.by_index(i).map_err(corrupt)?;
        let raw = file.name().map_err(corrupt)?.into_owned();
        let Some(path) = normalize(&raw)? else {
            continue;
        };
        const S_IFMT: u32 = 0o170_000;
        let file_type = file.unix_mode().map_or(0, |m| m & S_IFMT);
        if file.is_symlink() || file_type == 0o120_000 {
            continue; // symlink: skipped, never followed
        }
        if file.is_dir() || file_type == 0o040_000 {
            b.dirs.insert(path);
            continue;
        }
        if file_type != 0 && file_type != 0o100_000 {
            continue; // device, FIFO, socket
        }
        b.add_file(path, Counting::new(file, &budget), &budget)?;
    }
    Ok(b.finish())
}

fn too_many_entries(limits: &Limits) -> ArchiveError {
    ArchiveError::TooLarge(format!("more than {} entries", limits.max_entries))
}

/// Shared count of decompressed bytes.
struct Budget {
    used: Cell<u64>,
    max: u64,
}

impl Budget {
    fn new(max: u64) -> Self {
        Budget {
            used: Cell::new(0),
            max,
        }
    }

    fn exceeded(&self) -> bool {
        self.used.get() > self.max
    }

    /// Maps a read error: the budget's own error, or a corrupt archive.
    fn error(&self, e: io::Error) -> ArchiveError {
        if self.exceeded() {
            ArchiveError::TooLarge(format!("expands to more than {} bytes", self.max))
        } else {
            ArchiveError::Corrupt(e.to_string())
        }
    }
}

/// A reader that charges every byte it yields to a [`Budget`] and fails once it is spent.
struct Counting<'b, R> {
    inner: R,
    budget: &'b Budget,
}

impl<'b, R> Counting<'b, R> {
    fn new(inner: R, budget: &'b Budget) -> Self {
        Counting { inner, budget }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget.exceeded() {
            return Err(io::Error::other("expansion limit exceeded"));
        }
        let n = self.inner.read(buf)?;
        let used = self.budget.used.get().saturating_add(n as u64);
        self.budget.used.set(used);
        if used > self.budget.max {
            return Err(io::Error::other("expansion limit exceeded"));
        }
        Ok(n)
    }
}

/// Normalizes an entry name: `None` for an empty path (`./`), an error for an unsafe one.
fn normalize(raw: &str) -> Result<Option<String>, ArchiveError> {
    let unsafe_path = || ArchiveError::UnsafePath(raw.chars().take(200).collect());
    if raw.contains('\\') || raw.contains('\0') || raw.starts_with('/') {
        return Err(unsafe_path());
    }
    if matches!(raw.as_bytes(), [d, b':', ..] if d.is_ascii_alphabetic()) {
        return Err(unsafe_path()); // drive prefix
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(unsafe_path()),
            p => parts.push(p),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

struct Pending {
    path: String,
    size: u64,
    lines: u64,
    text: Option<Vec<u8>>,
    kind: Option<TextKind>,
    dropped: bool,
}

struct Builder<'l> {
    limits: &'l Limits,
    entries: u64,
    files: Vec<Pending>,
    index: HashMap<String, usize>,
    dirs: BTreeSet<String>,
    python_text: u64,
    config_text: u64,
    buf: Vec<u8>,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits) -> Self {
        Builder {
            limits,
            entries: 0,
            files: Vec::new(),
            index: HashMap::new(),
            dirs: BTreeSet::new(),
            python_text: 0,
            config_text: 0,
            buf: vec![0; CHUNK],
        }
    }

    fn count_entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(too_many_entries(self.limits));
        }
        Ok(())
    }

    fn text_used(&mut self, kind: TextKind) -> (&mut u64, u64) {
        match kind {
            TextKind::Python => (&mut self.python_text, self.limits.max_python_text_bytes),
            TextKind::Config => (&mut self.config_text, self.limits.max_config_text_bytes),
        }
    }

    fn add_file<R: Read>(
        &mut self,
        path: String,
        mut reader: R,
        budget: &Budget,
    ) -> Result<(), ArchiveError> {
        let kind = streaming_text_kind(&path);
        let mut text: Option<Vec<u8>> = kind.map(|_| Vec::new());
        let mut dropped = false;
        let mut lines = LineCounter::default();
        let mut size = 0u64;
        loop {
            let n = match reader.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(budget.error(e)),
            };
            let chunk = self.buf.get(..n).unwrap_or_default();
            lines.feed(chunk);
            size += n as u64;
            if let Some(t) = text.as_mut() {
                if (t.len() + n) as u64 > self.limits.max_file_text_bytes {
                    text = None;
                    dropped = true;
                } else {
                    t.extend_from_slice(chunk);
                }
            }
        }
        if let (Some(k), Some(t)) = (kind, text.as_ref()) {
            let len = t.len() as u64;
            let (used, max) = self.text_used(k);
            if *used + len > max {
                text = None;
                dropped = true;
            } else {
                *used += len;
            }
        }
        let pending = Pending {
            path,
            size,
            lines: lines.finish(),
            text,
            kind,
            dropped,
        };
        match self.index.get(&pending.path).copied() {
            Some(i) => {
                if let Some(old) = self.files.get_mut(i) {
                    let old = std::mem::replace(old, pending);
                    if let (Some(k), Some(t)) = (old.kind, old.text) {
                        let (used, _) = self.text_used(k);
                        *used = used.saturating_sub(t.len() as u64);
                    }
                }
            }
            None => {
                self.index.insert(pending.path.clone(), self.files.len());
                self.files.push(pending);
            }
        }
        Ok(())
    }

    fn finish(self) -> Tree {
        let Builder {
            files, mut dirs, ..
        } = self;
        // One shared top-level directory (files and explicit directories) → strip it.
        let top = files
            .first()
            .and_then(|f| f.path.split_once('/'))
            .map(|(t, _)| t.to_string());
        let top = top.filter(|t| {
            let prefix = format!("{t}/");
            files.iter().all(|f| f.path.starts_with(&prefix))
                && dirs.iter().all(|d| d == t || d.starts_with(&prefix))
        });
        if let Some(t) = &top {
            let cut = t.len() + 1;
            dirs = dirs
                .into_iter()
                .filter_map(|d| d.get(cut..).map(str::to_string))
                .filter(|d| !d.is_empty())
                .collect();
        }
        let cut = top.as_ref().map_or(0, |t| t.len() + 1);
        let mut texts_dropped = 0;
        let mut out: Vec<TreeFile> = Vec::with_capacity(files.len());
        for f in files {
            let path = f.path.get(cut..).unwrap_or_default().to_string();
            let needed = text_kind(&path).is_some();
            if needed && f.dropped {
                texts_dropped += 1;
            }
            let (text, text_lossy) = match f.text.filter(|_| needed) {
                None => (None, false),
                Some(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => (Some(s), false),
                    Err(e) => (
                        Some(String::from_utf8_lossy(e.as_bytes()).into_owned()),
                        true,
                    ),
                },
            };
            // Ancestors of the file are directories too.
            let mut at = 0;
            while let Some(i) = path.get(at..).and_then(|p| p.find('/')) {
                dirs.insert(path.get(..at + i).unwrap_or_default().to_string());
                at += i + 1;
            }
            out.push(TreeFile {
                path,
                size: f.size,
                non_blank_lines: f.lines,
                text,
                text_lossy,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Tree {
            files: out,
            dirs: dirs.into_iter().collect(),
            stripped_prefix: top,
            texts_dropped,
        }
    }
}

/// Counts non-blank lines of a byte stream as Python's
/// `sum(1 for line in open(p, encoding="utf-8", errors="ignore") if line.strip())` does:
/// lines end at `\n` or `\r` (universal newlines; `\r\n` only adds a blank line), invalid UTF-8
/// is dropped, and a line is blank when every character is Python whitespace.
#[derive(Debug, Default)]
pub struct LineCounter {
    lines: u64,
    non_blank: bool,
    pending: [u8; 4],
    have: usize,
    need: usize,
}

impl LineCounter {
    /// Feeds the next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if self.need > 0 {
            if b & 0xC0 == 0x80 {
                if let Some(slot) = self.pending.get_mut(self.have) {
                    *slot = b;
                }
                self.have += 1;
                if self.have == self.need {
                    let seq = self.pending.get(..self.need).unwrap_or_default();
                    if let Some(c) = std::str::from_utf8(seq).ok().and_then(|s| s.chars().next()) {
                        if !c.is_whitespace() {
                            self.non_blank = true;
                        }
                    }
                    self.need = 0;
                    self.have = 0;
                }
                return;
            }
            // Truncated sequence: dropped (errors="ignore"); the byte starts afresh.
            self.need = 0;
            self.have = 0;
        }
        match b {
            b'\n' | b'\r' => {
                if self.non_blank {
                    self.lines += 1;
                }
                self.non_blank = false;
            }
            // Python's str.isspace() for ASCII: \t \n \v \f \r, 0x1C..0x1F, space.
            0x09..=0x0D | 0x1C..=0x20 => {}
            0x00..=0x7F => self.non_blank = true,
            0xC2..=0xDF => self.start(b, 2),
            0xE0..=0xEF => self.start(b, 3),
            0xF0..=0xF4 => self.start(b, 4),
            _ => {} // stray continuation or invalid lead byte: ignored
        }
    }

    fn start(&mut self, b: u8, need: usize) {
        self.pending[0] = b;
        self.have = 1;
        self.need = need;
    }

    /// Non-blank lines seen (the last line need not end with a newline).
    pub fn finish(&self) -> u64 {
        self.lines + u64::from(self.non_blank)
    }
}

/// Non-blank lines of `bytes` ([`LineCounter`]).
pub fn count_non_blank_lines(bytes: &[u8]) -> u64 {
    let mut c = LineCounter::default();
    c.feed(bytes);
    c.finish()
}
