//! Project analysis (API.md §2.1, §20): archive reading, dependencies, technologies, metrics.
//! Pure code: inputs are byte slices, no I/O.

pub mod archive;
pub mod detect;
pub mod gaps;
pub mod manifests;
pub mod metrics;
pub mod model;

#[cfg(test)]
mod tests;

pub use archive::{ArchiveError, Limits, Tree, TreeFile};
use model::Examined;

/// Root manifests are read in the order of `manifests::MANIFEST_FILES` (the original's parser
/// order), which is the order of `dependencies`.
const MANIFEST_ORDER: &[&str] = &manifests::MANIFEST_FILES;

/// Examines a tree: dependencies of its root manifests (a manifest whose text was not kept
/// gives none), technologies, code metrics. latest_version is filled in later.
pub fn examine(tree: &Tree) -> Examined {
    let mut roots: Vec<&TreeFile> = tree
        .files
        .iter()
        .filter(|f| !f.path.contains('/') && manifests::is_manifest(&f.path))
        .collect();
    roots.sort_by_key(|f| {
        let rank = MANIFEST_ORDER
            .iter()
            .position(|m| *m == f.path)
            .unwrap_or(MANIFEST_ORDER.len());
        (rank, f.path.as_str())
    });
    let dependencies = roots
        .iter()
        .filter_map(|f| {
            f.text
                .as_deref()
                .map(|t| manifests::parse_manifest(&f.path, t))
        })
        .flatten()
        .collect();
    Examined {
        dependencies,
        technologies: detect::detect(tree),
        code_metrics: metrics::code_metrics(tree),
    }
}

/// Reads an archive (zip or tar.gz, by magic bytes) and examines it.
pub fn examine_archive(bytes: &[u8], limits: &Limits) -> Result<Examined, ArchiveError> {
    Ok(examine(&archive::read_archive(bytes, limits)?))
}
