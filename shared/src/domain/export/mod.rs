//! Export of a stored analysis (API.md §13): SARIF 2.1.0, HTML, CSV, Excel (.xlsx) and JSON.
//!
//! Pure functions: no I/O, no clock (the footer year comes in through [`ExportOptions`]).
//! Every renderer accepts any analysis content (huge strings, control characters, markup,
//! any Unicode) without panicking.

mod csv;
mod html;
mod json;
mod sarif;
mod xlsx;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::domain::analysis::model::{
    ArchitecturePattern, Dependency, GapSeverity, ProjectAnalysis, ResearchGap, TechnologyCategory,
};

/// `/export/{id}/<format>` (API.md §18 ExportFormat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    Sarif,
    Html,
    Csv,
    Excel,
    Json,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 5] = [
        ExportFormat::Sarif,
        ExportFormat::Html,
        ExportFormat::Csv,
        ExportFormat::Excel,
        ExportFormat::Json,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Sarif => "sarif",
            ExportFormat::Html => "html",
            ExportFormat::Csv => "csv",
            ExportFormat::Excel => "excel",
            ExportFormat::Json => "json",
        }
    }

    /// File extension (without the dot) of the rendered file.
    pub const fn extension(self) -> &'static str {
        match self {
            ExportFormat::Sarif => "sarif",
            ExportFormat::Html => "html",
            ExportFormat::Csv => "csv",
            ExportFormat::Excel => "xlsx",
            ExportFormat::Json => "json",
        }
    }

    /// Content-Type of the response (§13).
    pub const fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Sarif => "application/sarif+json",
            ExportFormat::Html => "text/html; charset=utf-8",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Excel => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            ExportFormat::Json => "application/json",
        }
    }

    /// `inline` for HTML, `attachment` for the others (§13).
    pub const fn disposition_type(self) -> &'static str {
        match self {
            ExportFormat::Html => "inline",
            _ => "attachment",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportFormat {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExportFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                kind: "export format",
                value: s.to_owned(),
            })
    }
}

/// `export_type` of the CSV export (API.md §18 CsvExportType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CsvExportType {
    #[default]
    Combined,
    Technologies,
    Dependencies,
    Metrics,
    Gaps,
}

impl CsvExportType {
    pub const ALL: [CsvExportType; 5] = [
        CsvExportType::Combined,
        CsvExportType::Technologies,
        CsvExportType::Dependencies,
        CsvExportType::Metrics,
        CsvExportType::Gaps,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CsvExportType::Combined => "combined",
            CsvExportType::Technologies => "technologies",
            CsvExportType::Dependencies => "dependencies",
            CsvExportType::Metrics => "metrics",
            CsvExportType::Gaps => "gaps",
        }
    }
}

impl fmt::Display for CsvExportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CsvExportType {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CsvExportType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                kind: "CSV export type",
                value: s.to_owned(),
            })
    }
}

/// A string that names no variant of [`ExportFormat`] or [`CsvExportType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind}: {value}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// Which CSV (ignored by the other formats).
    pub csv_type: CsvExportType,
    /// JSON only: 2-space indent if true, else compact.
    pub pretty: bool,
    /// The clock, as an argument: the year in the HTML footer.
    pub year: i32,
}

impl ExportOptions {
    /// The endpoints' defaults (export_type=combined, pretty=true) for the given footer year.
    pub const fn new(year: i32) -> Self {
        ExportOptions {
            csv_type: CsvExportType::Combined,
            pretty: true,
            year,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub filename: String,
    /// Full Content-Disposition value, e.g. `attachment; filename="analysis_7.sarif"`.
    pub disposition: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("xlsx writer failed: {0}")]
    Xlsx(String),
    #[error("json writer failed: {0}")]
    Json(String),
}

/// Renders `a` in `format`.
pub fn render(
    a: &ProjectAnalysis,
    format: ExportFormat,
    opts: &ExportOptions,
) -> Result<Rendered, ExportError> {
    let body = match format {
        ExportFormat::Sarif => sarif::render(a)?,
        ExportFormat::Html => html::render(a, opts.year).into_bytes(),
        ExportFormat::Csv => csv::render(a, opts.csv_type).into_bytes(),
        ExportFormat::Excel => xlsx::render(a)?,
        ExportFormat::Json => json::render(a, opts.pretty)?,
    };
    let filename = file_name(a.id, format, opts.csv_type);
    let disposition = format!("{}; filename=\"{}\"", format.disposition_type(), filename);
    Ok(Rendered {
        body,
        content_type: format.content_type(),
        filename,
        disposition,
    })
}

/// `analysis_<id>.sarif`, `analysis_<id>.html`, `analysis_<id>_<type>.csv`, `analysis_<id>.xlsx`,
/// `analysis_<id>.json` (`csv_type` matters only for CSV).
pub fn file_name(id: u64, format: ExportFormat, csv_type: CsvExportType) -> String {
    match format {
        ExportFormat::Csv => format!("analysis_{id}_{}.csv", csv_type.as_str()),
        _ => format!("analysis_{id}.{}", format.extension()),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared derivations (§13 "Data")
// ---------------------------------------------------------------------------------------------

/// §13: outdated = is_outdated with latest_version.
pub(crate) fn is_outdated(d: &Dependency) -> bool {
    d.is_outdated && d.latest_version.is_some()
}

pub(crate) fn outdated_count(a: &ProjectAnalysis) -> usize {
    a.dependencies.iter().filter(|d| is_outdated(d)).count()
}

/// round(confidence × 100), saturating; NaN → 0.
pub(crate) fn confidence_percent(c: f64) -> i64 {
    (c * 100.0).round() as i64
}

/// First 16 hex chars of SHA-256 of `key`.
pub(crate) fn fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..8])
}

/// §13: dependency severity = the same-name gap's, else empty. A gap's technology is
/// `<name> (<language>)`; the exact `<name> (<language>)` match wins, else a gap whose name part
/// equals the dependency's name. The first matching gap wins (gaps are stored critical first).
pub(crate) struct SeverityIndex<'a> {
    exact: HashMap<&'a str, GapSeverity>,
    by_name: HashMap<&'a str, GapSeverity>,
}

impl<'a> SeverityIndex<'a> {
    pub(crate) fn new(gaps: &'a [ResearchGap]) -> Self {
        let mut exact = HashMap::with_capacity(gaps.len());
        let mut by_name = HashMap::with_capacity(gaps.len());
        for g in gaps {
            exact.entry(g.technology.as_str()).or_insert(g.severity);
            by_name.entry(gap_name(&g.technology)).or_insert(g.severity);
        }
        SeverityIndex { exact, by_name }
    }

    pub(crate) fn get(&self, d: &Dependency) -> Option<GapSeverity> {
        if self.exact.is_empty() {
            return None;
        }
        let key = format!("{} ({})", d.name, d.language);
        self.exact
            .get(key.as_str())
            .or_else(|| self.by_name.get(d.name.as_str()))
            .copied()
    }

    /// The severity's name, or "" without a gap.
    pub(crate) fn label(&self, d: &Dependency) -> &'static str {
        self.get(d).map(severity_str).unwrap_or("")
    }
}

/// `<name> (<language>)` → `<name>`; anything else unchanged.
fn gap_name(technology: &str) -> &str {
    if technology.ends_with(')') {
        if let Some(i) = technology.rfind(" (") {
            return &technology[..i];
        }
    }
    technology
}

pub(crate) const fn severity_str(s: GapSeverity) -> &'static str {
    match s {
        GapSeverity::Critical => "critical",
        GapSeverity::High => "high",
        GapSeverity::Medium => "medium",
        GapSeverity::Low => "low",
    }
}

pub(crate) const fn category_str(c: TechnologyCategory) -> &'static str {
    match c {
        TechnologyCategory::Framework => "framework",
        TechnologyCategory::BuildTool => "build_tool",
        TechnologyCategory::Database => "database",
        TechnologyCategory::Infrastructure => "infrastructure",
        TechnologyCategory::Language => "language",
        TechnologyCategory::CiCd => "ci_cd",
    }
}

pub(crate) const fn pattern_str(p: ArchitecturePattern) -> &'static str {
    match p {
        ArchitecturePattern::Microservices => "microservices",
        ArchitecturePattern::Mvc => "mvc",
        ArchitecturePattern::Mvvm => "mvvm",
        ArchitecturePattern::CleanArchitecture => "clean_architecture",
        ArchitecturePattern::Hexagonal => "hexagonal",
        ArchitecturePattern::Layered => "layered",
    }
}

/// A number as JSON writes it (`42.0`, `12.34`); "" if not finite.
pub(crate) fn num_str(x: f64) -> String {
    if x.is_finite() {
        serde_json::Number::from_f64(x)
            .map(|n| n.to_string())
            .unwrap_or_default()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests;
