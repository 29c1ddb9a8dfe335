//! Tests of archive reading, metrics, detection and `examine`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use super::archive::{count_non_blank_lines, read_archive, ArchiveError, Limits, Tree};
use super::detect::{detect, version_of};
use super::metrics::{code_metrics, python_stats, round2, PythonStats};
use super::model::{ArchitecturePattern, DependencyType, DetectedTechnology, TechnologyCategory};
use super::{examine, examine_archive};

// ---------------------------------------------------------------- archive writers

enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

fn zip_of(entries: &[Entry]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for e in entries {
        match e {
            Entry::File(name, data) => {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
            Entry::Dir(name) => w.add_directory(*name, opts).unwrap(),
            Entry::Symlink(name, target) => w.add_symlink(*name, *target, opts).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

/// A tar header with the raw name bytes (no validation by the writer).
fn tar_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    h
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            Entry::File(name, data) => {
                let h = tar_header(name, tar::EntryType::Regular, data.len() as u64);
                b.append(&h, *data).unwrap();
            }
            Entry::Dir(name) => {
                let h = tar_header(name, tar::EntryType::Directory, 0);
                b.append(&h, std::io::empty()).unwrap();
            }
            Entry::Symlink(name, target) => {
                let mut h = tar_header(name, tar::EntryType::Symlink, 0);
                h.set_link_name(target).unwrap();
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tgz_of(entries: &[Entry]) -> Vec<u8> {
    gz(&tar_of(entries))
}

/// CRC-32 of stored data (0 for compressed data: those tests stop before the check).
fn crc(method: u16, data: &[u8]) -> u32 {
    if method != 0 {
        return 0;
    }
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// A minimal zip written by hand: (name, method, declared size, data). Headers may lie.
fn raw_zip(entries: &[(&str, u16, u32, &[u8])]) -> Vec<u8> {
    let with_crc: Vec<(&str, u16, u32, u32, &[u8])> = entries
        .iter()
        .map(|(n, m, d, data)| (*n, *m, *d, crc(*m, data), *data))
        .collect();
    raw_zip_crc(&with_crc)
}

/// As [`raw_zip`] with an explicit CRC-32: (name, method, declared size, crc, data).
fn raw_zip_crc(entries: &[(&str, u16, u32, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, method, declared, crc, data) in entries {
        let offset = out.len() as u32;
        let csize = data.len() as u32;
        let n = name.len() as u16;
        let mut local = Vec::new();
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&20u16.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes()); // flags
        local.extend_from_slice(&method.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes()); // time
        local.extend_from_slice(&0x21u16.to_le_bytes()); // date
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&csize.to_le_bytes());
        local.extend_from_slice(&declared.to_le_bytes());
        local.extend_from_slice(&n.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&local);
        out.extend_from_slice(data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&0x031eu16.to_le_bytes()); // made by unix
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0x21u16.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&csize.to_le_bytes());
        central.extend_from_slice(&declared.to_le_bytes());
        central.extend_from_slice(&n.to_le_bytes());
        central.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attrs
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let count = entries.len() as u16;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A raw deflate stream of `mib` MiB of zeros, built by repeating one 1 MiB block (cheap).
fn zeros_deflate(mib: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(1 << 16);
    c.compress_vec(&zeros, &mut block, flate2::FlushCompress::Sync)
        .unwrap();
    assert_eq!(c.total_in(), 1 << 20);
    let mut out = Vec::with_capacity(block.len() * mib + 2);
    for _ in 0..mib {
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&[0x03, 0x00]); // final empty fixed-Huffman block
    out
}

fn small_limits() -> Limits {
    Limits {
        max_total_bytes: 1 << 20,
        ..Limits::default()
    }
}

// ---------------------------------------------------------------- bombs and caps

#[test]
fn zip_bomb_with_lying_header_stops_early() {
    let data = zeros_deflate(64);
    assert!(data.len() < 200 * 1024, "bomb is {} bytes", data.len());
    // Declares 10 bytes; expands to 64 MiB.
    let zip = raw_zip(&[("bomb.txt", 8, 10, &data)]);
    let start = Instant::now();
    let err = read_archive(&zip, &small_limits()).unwrap_err();
    // zip itself notices the lie (Corrupt) — or our cap does (TooLarge); either stops early.
    assert!(
        matches!(err, ArchiveError::TooLarge(_) | ArchiveError::Corrupt(_)),
        "{err:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // Declared honestly (64 MiB): our cap stops it at 1 MiB.
    let zip = raw_zip(&[("bomb.txt", 8, 64 << 20, &data)]);
    let err = read_archive(&zip, &small_limits()).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge(_)), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn zip_bomb_default_limits() {
    let data = zeros_deflate(300);
    let zip = raw_zip(&[("a.txt", 8, 300 << 20, &data)]);
    assert!(zip.len() < 5 * 1024 * 1024);
    let start = Instant::now();
    let err = read_archive(&zip, &Limits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge(_)), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn many_small_zip_bombs_share_the_budget() {
    let data = zeros_deflate(1);
    let mut c = flate2::Crc::new();
    c.update(&vec![0u8; 1 << 20]);
    let zeros_crc = c.sum();
    let entries: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("f{i}.txt"), data.clone()))
        .collect();
    let refs: Vec<(&str, u16, u32, u32, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), 8u16, 1u32 << 20, zeros_crc, d.as_slice()))
        .collect();
    let limits = Limits {
        max_total_bytes: 3 << 20,
        ..Limits::default()
    };
    let err = read_archive(&raw_zip_crc(&refs), &limits).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge(_)), "{err:?}");
}

#[test]
fn tar_gz_bomb_stops_early() {
    // A tar whose one entry is 8 MiB of zeros, gzip'd (~8 KiB).
    let zeros = vec![0u8; 8 << 20];
    let tgz = tgz_of(&[Entry::File("big.bin", &zeros)]);
    assert!(tgz.len() < 100 * 1024);
    let err = read_archive(&tgz, &small_limits()).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge(_)), "{err:?}");
}

#[test]
fn tar_gz_of_zeros_stream_counts_skipped_bytes() {
    // Gzip of 8 MiB of zeros: an empty tar (zero blocks end it) — fine, nothing read past.
    let tgz = gz(&vec![0u8; 8 << 20]);
    let tree = read_archive(&tgz, &small_limits()).unwrap();
    assert!(tree.files.is_empty());
    // A skipped (FIFO) entry's data still counts toward the cap.
    let data = vec![b'x'; 4 << 20];
    let mut b = tar::Builder::new(Vec::new());
    let h = tar_header("pipe", tar::EntryType::Fifo, data.len() as u64);
    b.append(&h, data.as_slice()).unwrap();
    let tgz = gz(&b.into_inner().unwrap());
    let err = read_archive(&tgz, &small_limits()).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge(_)), "{err:?}");
}

#[test]
fn entry_count_cap() {
    let names: Vec<String> = (0..30).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<Entry> = names.iter().map(|n| Entry::File(n, b"x")).collect();
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    for bytes in [zip_of(&entries), tgz_of(&entries)] {
        let err = read_archive(&bytes, &limits).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge(_)), "{err:?}");
    }
    assert!(read_archive(&zip_of(&entries), &Limits::default()).is_ok());
}

#[test]
fn text_caps() {
    let big = "x = 1\n".repeat(1000);
    let limits = Limits {
        max_file_text_bytes: 1000,
        ..Limits::default()
    };
    let tree = read_archive(
        &tgz_of(&[
            Entry::File("big.py", big.as_bytes()),
            Entry::File("small.py", b"y = 2\n"),
        ]),
        &limits,
    )
    .unwrap();
    let f = tree.file("big.py").unwrap();
    assert_eq!(f.text, None);
    assert_eq!(f.non_blank_lines, 1000);
    assert_eq!(f.size, 6000);
    assert_eq!(
        tree.file("small.py").unwrap().text.as_deref(),
        Some("y = 2\n")
    );
    assert_eq!(tree.texts_dropped, 1);

    let limits = Limits {
        max_python_text_bytes: 8,
        ..Limits::default()
    };
    let tree = read_archive(
        &zip_of(&[
            Entry::File("a.py", b"a = 1\n"),
            Entry::File("b.py", b"b = 2\n"),
        ]),
        &limits,
    )
    .unwrap();
    let kept = tree.files.iter().filter(|f| f.text.is_some()).count();
    assert_eq!((kept, tree.texts_dropped), (1, 1));
}

#[test]
fn text_kept_only_where_needed() {
    let tree = read_archive(
        &zip_of(&[
            Entry::File("r/package.json", b"{}"),
            Entry::File("r/sub/package.json", b"{}"),
            Entry::File("r/sub/Gemfile", b"gem 'x'"),
            Entry::File("r/Gemfile", b"gem 'x'"),
            Entry::File("r/main.rs", b"fn main() {}"),
            Entry::File("r/venv/lib/x.py", b"x = 1"),
            Entry::File("r/x.py", b"x = 1"),
        ]),
        &Limits::default(),
    )
    .unwrap();
    let with_text: Vec<&str> = tree
        .files
        .iter()
        .filter(|f| f.text.is_some())
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        with_text,
        ["Gemfile", "package.json", "sub/package.json", "x.py"]
    );
}

// ---------------------------------------------------------------- unsafe paths, links

#[test]
fn unsafe_paths_refused_in_zip_and_tar() {
    for name in [
        "../evil",
        "a/../../evil",
        "ok/../evil",
        "/etc/passwd",
        "/abs/x",
        "C:/windows/x",
        "c:evil",
        "..\\evil",
        "a\\..\\..\\evil",
    ] {
        let zip = raw_zip(&[("fine.txt", 0, 2, b"ok"), (name, 0, 4, b"evil")]);
        let err = read_archive(&zip, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ArchiveError::UnsafePath(_)),
            "zip {name}: {err:?}"
        );

        let tgz = tgz_of(&[Entry::File("fine.txt", b"ok"), Entry::File(name, b"evil")]);
        let err = read_archive(&tgz, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, ArchiveError::UnsafePath(_)),
            "tar {name}: {err:?}"
        );
    }
    // An unsafe directory or symlink name refuses the archive too.
    let tgz = tgz_of(&[Entry::Dir("../d/")]);
    assert!(matches!(
        read_archive(&tgz, &Limits::default()),
        Err(ArchiveError::UnsafePath(_))
    ));
    let tgz = tgz_of(&[Entry::Symlink("../l", "x")]);
    assert!(matches!(
        read_archive(&tgz, &Limits::default()),
        Err(ArchiveError::UnsafePath(_))
    ));
}

#[test]
fn zip_writer_made_unsafe_names_refused() {
    let zip = zip_of(&[Entry::File("../evil.txt", b"x")]);
    assert!(matches!(
        read_archive(&zip, &Limits::default()),
        Err(ArchiveError::UnsafePath(_))
    ));
    let zip = zip_of(&[Entry::File("/etc/passwd", b"x")]);
    assert!(matches!(
        read_archive(&zip, &Limits::default()),
        Err(ArchiveError::UnsafePath(_))
    ));
}

#[test]
fn dot_components_are_normalized() {
    let tree = read_archive(
        &tgz_of(&[
            Entry::File("./a//b/./c.txt", b"x"),
            Entry::File("./d.txt", b"y"),
        ]),
        &Limits::default(),
    )
    .unwrap();
    let paths: Vec<&str> = tree.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["a/b/c.txt", "d.txt"]);
    assert_eq!(tree.dirs, ["a", "a/b"]);
}

#[test]
fn symlinks_neither_followed_nor_included() {
    let entries = [
        Entry::File("proj/readme.txt", b"hello"),
        Entry::Symlink("proj/passwd", "/etc/passwd"),
        Entry::Symlink("proj/Dockerfile", "/etc/passwd"),
        Entry::Symlink("proj/up", "../../.."),
    ];
    for bytes in [zip_of(&entries), tgz_of(&entries)] {
        let tree = read_archive(&bytes, &Limits::default()).unwrap();
        let paths: Vec<&str> = tree.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["readme.txt"]);
        assert!(tree
            .files
            .iter()
            .all(|f| f.text.as_deref() != Some("root:x:0:0")));
    }
    // A hard link is skipped as well.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar_header("hard", tar::EntryType::Link, 0);
    h.set_link_name("/etc/passwd").unwrap();
    h.set_cksum();
    b.append(&h, std::io::empty()).unwrap();
    let tree = read_archive(&gz(&b.into_inner().unwrap()), &Limits::default()).unwrap();
    assert!(tree.files.is_empty());
}

// ---------------------------------------------------------------- stripping, duplicates

#[test]
fn top_level_directory_stripped() {
    let entries = [
        Entry::Dir("owner-repo-abc123/"),
        Entry::Dir("owner-repo-abc123/src/"),
        Entry::File("owner-repo-abc123/README.md", b"# hi\n"),
        Entry::File("owner-repo-abc123/src/main.py", b"print('x')\n"),
    ];
    for bytes in [zip_of(&entries), tgz_of(&entries)] {
        let tree = read_archive(&bytes, &Limits::default()).unwrap();
        let paths: Vec<&str> = tree.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["README.md", "src/main.py"]);
        assert_eq!(tree.dirs, ["src"]);
        assert_eq!(tree.stripped_prefix.as_deref(), Some("owner-repo-abc123"));
        assert!(tree.file("src/main.py").unwrap().text.is_some());
    }
    // Two top-level entries: nothing stripped.
    let tree = read_archive(
        &zip_of(&[Entry::File("a/x.txt", b"1"), Entry::File("b/y.txt", b"2")]),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(tree.stripped_prefix, None);
    assert_eq!(tree.files[0].path, "a/x.txt");
    // A root file: nothing stripped.
    let tree = read_archive(
        &zip_of(&[Entry::File("a/x.txt", b"1"), Entry::File("y.txt", b"2")]),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(tree.stripped_prefix, None);
}

#[test]
fn github_tarball_with_pax_global_header() {
    let mut b = tar::Builder::new(Vec::new());
    let comment = b"52 comment=0123456789abcdef0123456789abcdef01234567\n";
    let h = tar_header(
        "pax_global_header",
        tar::EntryType::XGlobalHeader,
        comment.len() as u64,
    );
    b.append(&h, comment.as_slice()).unwrap();
    let h = tar_header("o-r-0123456/", tar::EntryType::Directory, 0);
    b.append(&h, std::io::empty()).unwrap();
    let h = tar_header("o-r-0123456/go.mod", tar::EntryType::Regular, 23);
    b.append(&h, b"module x\n\ngo 1.22\n\n\n\n\n".as_slice())
        .unwrap();
    let tree = read_archive(&gz(&b.into_inner().unwrap()), &Limits::default()).unwrap();
    assert_eq!(tree.files.len(), 1);
    assert_eq!(tree.files[0].path, "go.mod");
    let techs = detect(&tree);
    assert_eq!(techs[0].version.as_deref(), Some("1.22"));
}

#[test]
fn duplicate_paths_last_wins() {
    let tree = read_archive(
        &tgz_of(&[
            Entry::File("a.py", b"x = 1\n"),
            Entry::File("a.py", b"y = 2\nz = 3\n"),
        ]),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(tree.files.len(), 1);
    assert_eq!(tree.files[0].non_blank_lines, 2);
    assert_eq!(tree.files[0].text.as_deref(), Some("y = 2\nz = 3\n"));
}

// ---------------------------------------------------------------- garbage

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert_eq!(
        read_archive(b"", &Limits::default()),
        Err(ArchiveError::NotAnArchive)
    );
    assert_eq!(
        read_archive(b"hello world, not an archive", &Limits::default()),
        Err(ArchiveError::NotAnArchive)
    );
    // Pseudo-random bytes behind each magic.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for magic in [
        &b"PK\x03\x04"[..],
        b"PK\x05\x06",
        b"\x1f\x8b",
        b"\x1f\x8b\x08\x00",
    ] {
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&noise);
        assert!(read_archive(&bytes, &Limits::default()).is_err());
        assert!(examine_archive(&bytes, &Limits::default()).is_err());
    }
    // Noise in a gzip: a valid gzip of non-tar data.
    assert!(matches!(
        read_archive(&gz(&noise), &Limits::default()),
        Err(ArchiveError::Corrupt(_))
    ));
    // Every truncation of real archives: no panic.
    let entries = polyglot_entries();
    let entries: Vec<Entry> = entries.iter().map(|(n, d)| Entry::File(n, d)).collect();
    for bytes in [zip_of(&entries), tgz_of(&entries), tar_of(&entries)] {
        for cut in (0..bytes.len()).step_by(97) {
            let _ = read_archive(&bytes[..cut], &Limits::default());
        }
        // Flipped bytes: no panic.
        for i in (0..bytes.len()).step_by(131) {
            let mut b = bytes.clone();
            b[i] ^= 0x5A;
            let _ = examine_archive(&b, &Limits::default());
        }
    }
}

// ---------------------------------------------------------------- polyglot: exact metrics

const USER_PY: &str = "import os


class User:
    def __init__(self, name):
        self.name = name

    async def save(self, db):
        if db and self.name:
            await db.write(self)
        elif db is None or not self.name:
            raise ValueError(\"x\")
        return [x for x in range(3) if x]
";

const HOME_PY: &str = "def home(request):
    for item in request.items:
        while item:
            item = item.next
    try:
        with open(\"f\") as fh:
            fh.read()
    except OSError:
        pass
    return a if b else c


async def stream(q):
    async for x in q:
        async with x:
            pass
    return lambda y: y
";

fn polyglot_entries() -> Vec<(String, Vec<u8>)> {
    let files: &[(&str, &str)] = &[
        (
            "package.json",
            r#"{"name":"x","dependencies":{"react":"^18.2.0","left-pad":"1.0.0"},"devDependencies":{"vite":"~5.0.1"}}"#,
        ),
        (
            "docker-compose.yml",
            "services:\n  db:\n    image: postgres:15-alpine\n  cache:\n    image: \"redis:7.2\" # cache\n",
        ),
        ("Dockerfile", "FROM python:3.12-slim\nRUN true\n"),
        ("README.md", "# Title\n\ntext\n"),
        (".github/workflows/ci.yml", "on: push\n"),
        ("k8s/deploy.yaml", "kind: Deployment\n"),
        ("app/models/user.py", USER_PY),
        ("app/views/home.py", HOME_PY),
        ("app/controllers/broken.py", "def broken(:\n    pass\n"),
        ("src/index.js", "const a = 1;\n\n   \n\t  \r\nconsole.log(a);\r\nexport default a;"),
        ("src/App.TSX", "export const App = () => null;\n\n\nexport default App;\n"),
        ("app/services/api/v1/handler.go", "package v1\n\nfunc H() {\n}\n\n// end\n"),
        ("node_modules/react/index.js", "a\nb\nc\nd\ne\n"),
        ("lib/build/gen.py", "def f():\n    pass\n"),
    ];
    files
        .iter()
        .map(|(n, t)| (format!("proj-abc123/{n}"), t.as_bytes().to_vec()))
        .collect()
}

fn polyglot(kind: &str) -> Vec<u8> {
    let owned = polyglot_entries();
    let mut entries: Vec<Entry> = owned.iter().map(|(n, d)| Entry::File(n, d)).collect();
    entries.push(Entry::Symlink("proj-abc123/passwd.py", "/etc/passwd"));
    entries.push(Entry::Dir("proj-abc123/empty/"));
    match kind {
        "zip" => zip_of(&entries),
        "tgz" => tgz_of(&entries),
        _ => tar_of(&entries),
    }
}

#[test]
fn polyglot_exact_metrics() {
    for kind in ["zip", "tgz", "tar"] {
        let bytes = polyglot(kind);
        let tree = read_archive(&bytes, &Limits::default()).unwrap();
        assert_eq!(
            tree.stripped_prefix.as_deref(),
            Some("proj-abc123"),
            "{kind}"
        );
        let m = code_metrics(&tree);
        assert_eq!(m.total_files, 12, "{kind}");
        assert_eq!(m.lines_of_code, 36, "{kind}");
        let langs: BTreeMap<String, u64> = [
            ("go", 4),
            ("javascript", 3),
            ("python", 27),
            ("typescript", 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(m.languages, langs, "{kind}");
        assert_eq!(m.cyclomatic_complexity, Some(7.0), "{kind}");
        assert_eq!(m.total_functions, Some(4), "{kind}");
        assert_eq!(m.total_classes, Some(1), "{kind}");
        // 12/100 + 36/10000 + min(4*2, 20) + 7/20*25 = 0.12 + 0.0036 + 8 + 8.75
        assert_eq!(m.complexity_score, 16.87, "{kind}");
        assert_eq!(
            m.architecture_pattern,
            Some(ArchitecturePattern::Mvc),
            "{kind}"
        );
    }
}

#[test]
fn polyglot_examine() {
    let ex = examine_archive(&polyglot("tgz"), &Limits::default()).unwrap();
    let t =
        |name: &str, category, version: Option<&str>, confidence, path: &str| DetectedTechnology {
            name: name.into(),
            category,
            version: version.map(Into::into),
            confidence,
            file_path: path.into(),
        };
    use TechnologyCategory::*;
    assert_eq!(
        ex.technologies,
        vec![
            t("react", Framework, Some("18.2.0"), 0.95, "package.json"),
            t("vite", BuildTool, Some("5.0.1"), 0.95, "package.json"),
            t(
                "postgresql",
                Database,
                Some("15"),
                0.95,
                "docker-compose.yml"
            ),
            t("redis", Database, Some("7.2"), 0.95, "docker-compose.yml"),
            t("docker", Infrastructure, None, 0.95, "Dockerfile"),
            t("github-actions", CiCd, None, 1.0, ".github/workflows"),
            t("kubernetes", Infrastructure, None, 0.9, "k8s"),
        ]
    );
    let deps: Vec<(&str, &str, DependencyType)> = ex
        .dependencies
        .iter()
        .map(|d| (d.name.as_str(), d.version.as_str(), d.dep_type))
        .collect();
    assert_eq!(
        deps,
        vec![
            ("react", "18.2.0", DependencyType::Runtime),
            ("left-pad", "1.0.0", DependencyType::Runtime),
            ("vite", "5.0.1", DependencyType::Dev),
        ]
    );
    let zip = examine_archive(&polyglot("zip"), &Limits::default()).unwrap();
    assert_eq!(zip, ex);
}

#[test]
fn metrics_without_python_are_null() {
    let tree = Tree::from_entries(
        [
            ("main.go", b"package main\n".as_slice()),
            ("README", b"x".as_slice()),
        ],
        &Limits::default(),
    )
    .unwrap();
    let m = code_metrics(&tree);
    assert_eq!(m.cyclomatic_complexity, None);
    assert_eq!(m.total_functions, None);
    assert_eq!(m.total_classes, None);
    assert_eq!(m.total_files, 2);
    assert_eq!(m.lines_of_code, 1);
    // 2/100 + 1/10000 + 0 + 0
    assert_eq!(m.complexity_score, 0.02);
    assert_eq!(m.architecture_pattern, None);
    // Only unparsable Python: null too (but lines counted).
    let tree = Tree::from_entries([("x.py", b"def (:\n".as_slice())], &Limits::default()).unwrap();
    let m = code_metrics(&tree);
    assert_eq!(
        (m.cyclomatic_complexity, m.total_functions, m.lines_of_code),
        (None, None, 1)
    );
    // An empty Python file parses (score 1) and gives a zero language entry.
    let tree = Tree::from_entries([("e.py", b"".as_slice())], &Limits::default()).unwrap();
    let m = code_metrics(&tree);
    assert_eq!(m.cyclomatic_complexity, Some(1.0));
    assert_eq!(m.languages.get("python"), Some(&0));
}

#[test]
fn metrics_caps_and_depth() {
    let names: Vec<String> = (0..3000)
        .map(|i| format!("a/b/c/d/e/f/g/h/i/j/k/f{i}.txt"))
        .collect();
    let tree = Tree::from_entries(
        names.iter().map(|n| (n.as_str(), b"x".as_slice())),
        &Limits::default(),
    )
    .unwrap();
    let m = code_metrics(&tree);
    // Stripped top dir "a": depth 10 → 20 (cap), 3000 files → 25 (cap).
    assert_eq!(m.complexity_score, 45.0);
}

#[test]
fn architecture_patterns() {
    let arch = |dirs: &[&str]| {
        let names: Vec<String> = dirs.iter().map(|d| format!("{d}/f.txt")).collect();
        let mut names = names;
        names.push("root.txt".into());
        let tree = Tree::from_entries(
            names.iter().map(|n| (n.as_str(), b"".as_slice())),
            &Limits::default(),
        )
        .unwrap();
        code_metrics(&tree).architecture_pattern
    };
    use ArchitecturePattern::*;
    assert_eq!(arch(&["services", "docker-compose"]), Some(Microservices));
    assert_eq!(
        arch(&["user-services", "src/microservices"]),
        Some(Microservices)
    );
    assert_eq!(arch(&["Models", "Views"]), Some(Mvc));
    assert_eq!(arch(&["viewmodels"]), Some(Mvvm)); // viewmodels + models (substring)
    assert_eq!(arch(&["viewmodels", "views"]), Some(Mvc)); // models + views: mvc first
    assert_eq!(arch(&["domain", "application"]), Some(CleanArchitecture));
    assert_eq!(arch(&["ports", "adapters"]), Some(Hexagonal));
    assert_eq!(arch(&["presentation", "database"]), Some(Layered));
    assert_eq!(arch(&["domain"]), None);
    assert_eq!(arch(&["node_modules/models", "node_modules/views"]), None);
    assert_eq!(arch(&[]), None);
}

// ---------------------------------------------------------------- python scoring

fn stats(src: &str) -> Option<PythonStats> {
    python_stats(src)
}

#[test]
fn python_scoring_rules() {
    let s = |score, functions, classes| {
        Some(PythonStats {
            score,
            functions,
            classes,
        })
    };
    assert_eq!(stats(""), s(1, 0, 0));
    assert_eq!(stats("x = 1\n"), s(1, 0, 0));
    // if + 2 elif (each an If), else nothing
    assert_eq!(
        stats("if a:\n    pass\nelif b:\n    pass\nelif c:\n    pass\nelse:\n    pass\n"),
        s(4, 0, 0)
    );
    // conditional expression and comprehension if/for do not count
    assert_eq!(
        stats("x = [i for i in y if i] if a else {k: v for k, v in z}\n"),
        s(1, 0, 0)
    );
    // boolean operations: a and b and c → +2; (a and b) or c → +2; not → 0
    assert_eq!(stats("x = a and b and c\n"), s(3, 0, 0));
    assert_eq!(stats("x = (a and b) or c\n"), s(3, 0, 0));
    assert_eq!(stats("x = not a\n"), s(1, 0, 0));
    // while/else, for/else count once
    assert_eq!(
        stats("while a:\n    pass\nelse:\n    pass\nfor i in x:\n    pass\nelse:\n    pass\n"),
        s(3, 0, 0)
    );
    // try with two excepts, finally
    assert_eq!(stats("try:\n    pass\nexcept A:\n    pass\nexcept (B, C) as e:\n    pass\nfinally:\n    pass\n"), s(3, 0, 0));
    assert_eq!(stats("try:\n    pass\nexcept* A:\n    pass\n"), s(2, 0, 0));
    // with (one statement, two items) → +1
    assert_eq!(stats("with a as x, b as y:\n    pass\n"), s(2, 0, 0));
    // async def counts; async for / async with do not
    assert_eq!(stats("async def f():\n    async for x in y:\n        pass\n    async with z:\n        pass\n"), s(2, 1, 0));
    // classes, methods, nested functions, decorators, lambdas
    assert_eq!(
        stats("@dec\nclass A:\n    class B:\n        pass\n    @staticmethod\n    def m():\n        def inner():\n            return lambda: 1\n"),
        s(3, 2, 2)
    );
    // match statements add nothing, nor their guards
    assert_eq!(
        stats("match x:\n    case 1 if y:\n        pass\n    case _:\n        pass\n"),
        s(1, 0, 0)
    );
    // Python 3 print call is fine
    assert_eq!(stats("print('x')\nprint (1, 2)\n"), s(1, 0, 0));
}

#[test]
fn python_unparsable() {
    assert_eq!(stats("def f(:\n"), None);
    assert_eq!(stats("if x\n    pass\n"), None);
    assert_eq!(stats("print \"hello\"\n"), None); // Python 2
    assert_eq!(stats("exec \"code\"\n"), None);
    assert_eq!(stats("x = (\n"), None);
    assert_eq!(stats("class A:\npass\n"), None); // expected an indented block
    assert_eq!(stats("def f():\n    # only a comment\n"), None);
    assert_eq!(stats("x = 1\n  y = 2\n"), None); // unexpected indent
    assert_eq!(stats("  x = 1\n"), None);
    assert_eq!(stats("def f():\n    if x:\n        a\n      b\n"), None); // bad unindent
                                                                          // Still fine: comments anywhere, `;`, one-line suites, continuation lines, decorators.
    let ok = "# c\nif x: a = 1; b = 2\ndef f(a,\n      b):\n    x = (1 +\n        2)\n      # odd comment\n    return \\\n        x\n@d\nclass C: pass\n";
    assert_eq!(
        stats(ok).map(|s| (s.score, s.functions, s.classes)),
        Some((3, 1, 1))
    );
    // Invalid UTF-8 Python files are not parsed (Python reads them with encoding="utf-8").
    let tree =
        Tree::from_entries([("x.py", b"x = '\xff'\n".as_slice())], &Limits::default()).unwrap();
    assert!(tree.files[0].text_lossy);
    let m = code_metrics(&tree);
    assert_eq!((m.cyclomatic_complexity, m.lines_of_code), (None, 1));
}

#[test]
fn python_deep_nesting_does_not_overflow() {
    let src = format!("x = {}1{}\n", "(".repeat(5000), ")".repeat(5000));
    assert!(python_stats(&src).is_some());
    let src = format!("x = {}\n", "a and ".repeat(20000) + "b");
    assert_eq!(python_stats(&src).map(|s| s.score), Some(20001));
}

// ---------------------------------------------------------------- lines, rounding

#[test]
fn non_blank_lines_like_python() {
    assert_eq!(count_non_blank_lines(b""), 0);
    assert_eq!(count_non_blank_lines(b"a"), 1);
    assert_eq!(count_non_blank_lines(b"a\n\nb\n"), 2);
    assert_eq!(count_non_blank_lines(b"a\r\nb\rc"), 3);
    assert_eq!(count_non_blank_lines(b" \t\x0b\x0c\x1c\x1d\x1e\x1f\n"), 0);
    // U+00A0, U+3000 are whitespace; U+FEFF (BOM) is not.
    assert_eq!(
        count_non_blank_lines("\u{a0}\u{3000}\n\u{feff}\n".as_bytes()),
        1
    );
    // Invalid UTF-8 is dropped: a line of only invalid bytes is blank.
    assert_eq!(count_non_blank_lines(b"\xff\xfe\n\xe2\x28\n\xc3\n"), 1);
    assert_eq!(count_non_blank_lines("é\n".as_bytes()), 1);
    // U+2028 is whitespace, not a line end for file iteration.
    assert_eq!(count_non_blank_lines("a\u{2028}b\n".as_bytes()), 1);
}

#[test]
fn rounding_like_python() {
    assert_eq!(round2(16.8736), 16.87);
    assert_eq!(round2(0.125), 0.12); // exact tie → even
    assert_eq!(round2(0.375), 0.38);
    assert_eq!(round2(2.675), 2.67); // binary value below the tie
    assert_eq!(round2(1.005), 1.0);
    assert_eq!(round2(45.0), 45.0);
}

// ---------------------------------------------------------------- detection

fn tree(files: &[(&str, &str)]) -> Tree {
    Tree::from_entries(
        files.iter().map(|(n, t)| (*n, t.as_bytes())),
        &Limits::default(),
    )
    .unwrap()
}

fn names(t: &[DetectedTechnology]) -> Vec<(&str, Option<&str>, &str)> {
    t.iter()
        .map(|d| (d.name.as_str(), d.version.as_deref(), d.file_path.as_str()))
        .collect()
}

#[test]
fn version_rule() {
    assert_eq!(version_of("^18.2.0").as_deref(), Some("18.2.0"));
    assert_eq!(version_of("~4.17").as_deref(), Some("4.17"));
    assert_eq!(version_of(">=1.2.3 <2").as_deref(), Some("1.2.3"));
    assert_eq!(version_of("=1.0").as_deref(), Some("1.0"));
    assert_eq!(version_of("v2.1.0").as_deref(), Some("2.1.0"));
    assert_eq!(version_of("15-alpine").as_deref(), Some("15"));
    assert_eq!(version_of("1.2.3-beta.1").as_deref(), Some("1.2.3"));
    assert_eq!(version_of("latest"), None);
    assert_eq!(version_of("*"), None);
    assert_eq!(version_of("workspace:*"), None);
    assert_eq!(version_of("${TAG}"), None);
}

#[test]
fn detect_package_json() {
    let t = tree(&[(
        "package.json",
        r#"{"dependencies":{"@angular/core":"17.0.0","next":"14.1.0","express":"latest","@nestjs/core":"^10"},
            "devDependencies":{"webpack":"5.90.0","svelte":"^4.2.0","vue":"3.4.0"},
            "peerDependencies":{"react":"18.0.0"}}"#,
    )]);
    assert_eq!(
        names(&detect(&t)),
        [
            ("vue", Some("3.4.0"), "package.json"),
            ("angular", Some("17.0.0"), "package.json"),
            ("svelte", Some("4.2.0"), "package.json"),
            ("express", None, "package.json"),
            ("nestjs", Some("10"), "package.json"),
            ("next", Some("14.1.0"), "package.json"),
            ("webpack", Some("5.90.0"), "package.json"),
        ]
    );
    assert!(detect(&tree(&[("package.json", "{not json")])).is_empty());
}

#[test]
fn detect_requirements() {
    let t = tree(&[(
        "requirements.txt",
        "# deps\nDJANGO==4.2.1\nflask-cors==4.0\nFlask >= 2.0\nfastapi == 0.110.0  # api\nrequests==2.31\n",
    )]);
    assert_eq!(
        names(&detect(&t)),
        [
            ("django", Some("4.2.1"), "requirements.txt"),
            ("fastapi", Some("0.110.0"), "requirements.txt")
        ]
    );
    // Only requirements.txt is read for detection.
    assert!(detect(&tree(&[("requirements-dev.txt", "django==4.0\n")])).is_empty());
}

#[test]
fn detect_compose_images() {
    let t = tree(&[
        ("README.md", ""),
        (
        "deploy/docker-compose.yaml",
        "services:\n  a:\n    image: 'bitnami/mysql:8.0.34-debian'\n  b:\n    image: mongo\n  c:\n    image: docker.elastic.co/elasticsearch/elasticsearch:8.11.0\n  d:\n    image: redis-commander:latest\n  e:\n    image: localhost:5000/postgres@sha256:abc\n",
    ),
    ]);
    assert_eq!(
        names(&detect(&t)),
        [
            ("postgresql", None, "deploy/docker-compose.yaml"),
            ("mysql", Some("8.0.34"), "deploy/docker-compose.yaml"),
            ("mongodb", None, "deploy/docker-compose.yaml"),
            (
                "elasticsearch",
                Some("8.11.0"),
                "deploy/docker-compose.yaml"
            ),
        ]
    );
}

#[test]
fn detect_languages_and_docker() {
    let t = tree(&[
        ("svc/Dockerfile", "# comment\nfrom alpine:3.19 AS base\n"),
        ("Dockerfile", "# no from here\n"),
        ("Cargo.toml", "[workspace]\nmembers = [\"a\"]\n"),
        ("a/Cargo.toml", "[package]\nname = \"a\"\n"),
        ("go.mod", "module example.com/x\n\ngo 1.21.5\n"),
    ]);
    assert_eq!(
        names(&detect(&t)),
        [
            ("docker", None, "svc/Dockerfile"),
            ("rust", None, "a/Cargo.toml"),
            ("go", Some("1.21.5"), "go.mod")
        ]
    );
}

#[test]
fn detect_paths_root_only() {
    let t = tree(&[
        (".gitlab-ci.yml", "x"),
        (".circleci/config.yml", "x"),
        ("terraform/main.tf", "x"),
        ("kubernetes/a.yaml", "x"),
        ("k8s/b.yaml", "x"),
        ("sub/.github/workflows/ci.yml", "x"),
    ]);
    assert_eq!(
        names(&detect(&t)),
        [
            ("gitlab-ci", None, ".gitlab-ci.yml"),
            ("circleci", None, ".circleci"),
            ("terraform", None, "terraform"),
            ("kubernetes", None, "k8s"),
        ]
    );
    let d = detect(&t);
    assert_eq!(d[0].category, TechnologyCategory::CiCd);
    assert_eq!(d[0].confidence, 1.0);
    assert_eq!(d[2].category, TechnologyCategory::Infrastructure);
    assert_eq!(d[2].confidence, 0.9);
}

#[test]
fn detect_dedup_and_skipped_dirs() {
    let t = tree(&[
        ("web/package.json", r#"{"dependencies":{"react":"17.0.0"}}"#),
        ("package.json", r#"{"dependencies":{"react":"18.0.0"}}"#),
        (
            "node_modules/x/package.json",
            r#"{"dependencies":{"vue":"2.0.0"}}"#,
        ),
        ("vendor/Dockerfile", "FROM x\n"),
        (
            "a/docker-compose.yml",
            "services:\n  r:\n    image: redis:6\n",
        ),
        (
            "b/docker-compose.yml",
            "services:\n  r:\n    image: redis:7\n",
        ),
    ]);
    assert_eq!(
        names(&detect(&t)),
        [
            ("react", Some("18.0.0"), "package.json"),
            ("redis", Some("6"), "a/docker-compose.yml")
        ]
    );
}

#[test]
fn examine_uses_root_manifests_only() {
    let t = tree(&[
        ("package.json", "{}"),
        ("sub/requirements.txt", "django==4.2\n"),
    ]);
    let ex = examine(&t);
    assert!(ex.dependencies.is_empty());
    assert_eq!(
        names(&ex.technologies),
        [("django", Some("4.2"), "sub/requirements.txt")]
    );
    assert_eq!(ex.code_metrics.total_files, 2);
}

/// Measurement for the issue note (run in release):
/// `cargo test --release -p commandcenter --lib -- --ignored --nocapture measure_5mb_archive`.
/// A realistic 5 MB tar.gz (Python, JavaScript, Go sources with manifests): time of the whole
/// examination and the process's peak resident memory (VmHWM) before and after. With
/// `MEASURE_OUT=<file>` the archive is also written there, for `examples/examine.rs` to measure
/// in a process of its own (`/usr/bin/time -v`).
#[test]
#[ignore]
fn measure_5mb_archive() {
    fn vm_hwm_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
    // Varied text so gzip compresses it like real code (~4-6x).
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut word = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        format!("w{:x}", seed % 100_000)
    };
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("proj/package.json".into(), br#"{"dependencies":{"react":"^18.2.0","express":"4.18.2"},"devDependencies":{"vite":"5.0.0"}}"#.to_vec()),
        ("proj/requirements.txt".into(), b"django==4.2.1\nrequests>=2.31\nnumpy\n".to_vec()),
        ("proj/go.mod".into(), b"module x\n\ngo 1.22\n\nrequire (\n  github.com/gin-gonic/gin v1.9.1\n)\n".to_vec()),
    ];
    let mut total = 0usize;
    let mut i = 0;
    while total < 17 << 20 {
        let (path, text) = match i % 3 {
            0 => {
                let mut s = String::new();
                for f in 0..40 {
                    s.push_str(&format!("class C{f}:\n    def m{f}(self, {}, {}):\n        if {} and {} or {}:\n            for x in range(10):\n                return {}\n        return None\n\n", word(), word(), word(), word(), word(), word()));
                }
                (format!("proj/app/pkg{}/mod{i}.py", i % 50), s)
            }
            1 => {
                let mut s = String::new();
                for f in 0..60 {
                    s.push_str(&format!(
                        "export function f{f}({}) {{\n  return {} + {};\n}}\n\n",
                        word(),
                        word(),
                        word()
                    ));
                }
                (format!("proj/web/src/c{}/m{i}.js", i % 40), s)
            }
            _ => {
                let mut s = String::from("package main\n\n");
                for f in 0..50 {
                    s.push_str(&format!(
                        "func F{f}() int {{\n\treturn len(\"{}\")\n}}\n\n",
                        word()
                    ));
                }
                (format!("proj/services/s{}/f{i}.go", i % 30), s)
            }
        };
        total += text.len();
        files.push((path, text.into_bytes()));
        i += 1;
    }
    let entries: Vec<Entry> = files.iter().map(|(n, d)| Entry::File(n, d)).collect();
    let bytes = tgz_of(&entries);
    if let Ok(out) = std::env::var("MEASURE_OUT") {
        std::fs::write(out, &bytes).expect("archive written");
    }
    let before = vm_hwm_kib();
    let started = Instant::now();
    let ex = examine_archive(&bytes, &Limits::default()).expect("examines");
    let elapsed = started.elapsed();
    let after = vm_hwm_kib();
    println!(
        "measure: {} files, {:.1} MiB expanded, {:.2} MiB tar.gz; examine {:.0} ms; VmHWM {} → {} KiB; loc {}, functions {:?}",
        files.len(),
        total as f64 / 1048576.0,
        bytes.len() as f64 / 1048576.0,
        elapsed.as_secs_f64() * 1000.0,
        before,
        after,
        ex.code_metrics.lines_of_code,
        ex.code_metrics.total_functions,
    );
    assert!(ex.code_metrics.total_files as usize >= files.len() - 1);
}
