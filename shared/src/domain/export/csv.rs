//! CSV (API.md §13): RFC 4180, CRLF line ends, UTF-8 (no BOM). A field is quoted when it holds
//! `,`, `"`, CR or LF (quotes doubled). Formula guard: a cell starting with `=`, `+`, `-`, `@`,
//! tab or CR gets a leading `'`.

use super::{
    category_str, confidence_percent, is_outdated, num_str, outdated_count, pattern_str,
    severity_str, CsvExportType, SeverityIndex,
};
use crate::domain::analysis::model::ProjectAnalysis;

pub(crate) fn render(a: &ProjectAnalysis, t: CsvExportType) -> String {
    let mut w = Writer::with_capacity(
        1024 + 200 * (a.dependencies.len() + a.technologies.len()) + 700 * a.research_gaps.len(),
    );
    match t {
        CsvExportType::Technologies => technologies(&mut w, a),
        CsvExportType::Dependencies => dependencies(&mut w, a),
        CsvExportType::Metrics => metrics(&mut w, a),
        CsvExportType::Gaps => gaps(&mut w, a),
        CsvExportType::Combined => combined(&mut w, a),
    }
    w.out
}

pub(crate) const TECHNOLOGY_HEADER: [&str; 6] = [
    "Technology",
    "Version",
    "Category",
    "Confidence (%)",
    "Description",
    "Source File",
];
pub(crate) const DEPENDENCY_HEADER: [&str; 7] = [
    "Package",
    "Current Version",
    "Latest Version",
    "Status",
    "Severity",
    "Package Manager",
    "File",
];
pub(crate) const GAP_HEADER: [&str; 6] = [
    "Title",
    "Description",
    "Category",
    "Priority",
    "Estimated Effort",
    "Recommendation",
];
/// The Category column of gaps: every gap is about a dependency.
pub(crate) const GAP_CATEGORY: &str = "dependency";

fn technologies(w: &mut Writer, a: &ProjectAnalysis) {
    w.row(TECHNOLOGY_HEADER);
    for t in &a.technologies {
        let pct = confidence_percent(t.confidence).to_string();
        w.row([
            t.name.as_str(),
            t.version.as_deref().unwrap_or(""),
            category_str(t.category),
            pct.as_str(),
            "",
            t.file_path.as_str(),
        ]);
    }
}

fn dependencies(w: &mut Writer, a: &ProjectAnalysis) {
    let severities = SeverityIndex::new(&a.research_gaps);
    w.row(DEPENDENCY_HEADER);
    for d in &a.dependencies {
        w.row([
            d.name.as_str(),
            d.version.as_str(),
            d.latest_version.as_deref().unwrap_or(""),
            if is_outdated(d) {
                "Outdated"
            } else {
                "Current"
            },
            severities.label(d),
            d.package_manager.as_str(),
            d.source_file.as_str(),
        ]);
    }
}

/// `(label, value)` rows of the metrics table; null values are empty.
pub(crate) fn metric_rows(a: &ProjectAnalysis) -> [(&'static str, String); 7] {
    let m = &a.code_metrics;
    [
        ("Lines of Code", m.lines_of_code.to_string()),
        ("File Count", m.total_files.to_string()),
        ("Complexity Score", num_str(m.complexity_score)),
        (
            "Cyclomatic Complexity",
            m.cyclomatic_complexity.map(num_str).unwrap_or_default(),
        ),
        (
            "Total Functions",
            m.total_functions.map(|n| n.to_string()).unwrap_or_default(),
        ),
        (
            "Total Classes",
            m.total_classes.map(|n| n.to_string()).unwrap_or_default(),
        ),
        (
            "Architecture Pattern",
            m.architecture_pattern
                .map(|p| pattern_str(p).to_owned())
                .unwrap_or_default(),
        ),
    ]
}

fn metrics(w: &mut Writer, a: &ProjectAnalysis) {
    w.row(["Metric", "Value"]);
    for (label, value) in metric_rows(a) {
        w.row([label, value.as_str()]);
    }
    if !a.code_metrics.languages.is_empty() {
        w.blank();
        w.row(["Language", "Lines"]);
        for (lang, lines) in &a.code_metrics.languages {
            let lines = lines.to_string();
            w.row([lang.as_str(), lines.as_str()]);
        }
    }
}

fn gaps(w: &mut Writer, a: &ProjectAnalysis) {
    w.row(GAP_HEADER);
    for g in &a.research_gaps {
        w.row([
            g.technology.as_str(),
            g.description.as_str(),
            GAP_CATEGORY,
            severity_str(g.severity),
            g.estimated_effort.as_str(),
            g.suggested_task.as_str(),
        ]);
    }
}

/// `(label, value)` rows of the SUMMARY table.
pub(crate) fn summary_rows(a: &ProjectAnalysis) -> [(&'static str, usize); 4] {
    [
        ("Technologies Detected", a.technologies.len()),
        ("Total Dependencies", a.dependencies.len()),
        ("Outdated Dependencies", outdated_count(a)),
        ("Research Gaps", a.research_gaps.len()),
    ]
}

fn combined(w: &mut Writer, a: &ProjectAnalysis) {
    w.row(["CommandCenter Analysis Report"]);
    w.row(["Project", a.project_path.as_str()]);
    w.row(["Analyzed At", a.analyzed_at.as_str()]);
    w.row(["Analysis Version", a.analysis_version.as_str()]);
    w.blank();

    w.row(["SUMMARY"]);
    w.row(["Metric", "Value"]);
    for (label, n) in summary_rows(a) {
        let n = n.to_string();
        w.row([label, n.as_str()]);
    }
    w.blank();

    w.row(["DETECTED TECHNOLOGIES"]);
    technologies(w, a);
    w.blank();

    w.row(["DEPENDENCIES"]);
    dependencies(w, a);
    w.blank();

    w.row(["CODE METRICS"]);
    metrics(w, a);
    w.blank();

    w.row(["RESEARCH GAPS"]);
    gaps(w, a);
}

struct Writer {
    out: String,
}

impl Writer {
    fn with_capacity(n: usize) -> Self {
        Writer {
            out: String::with_capacity(n),
        }
    }

    fn row<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) {
        for (i, f) in fields.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.field(f);
        }
        self.out.push_str("\r\n");
    }

    fn blank(&mut self) {
        self.out.push_str("\r\n");
    }

    fn field(&mut self, f: &str) {
        let guard = f.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let quote = f.contains([',', '"', '\r', '\n']);
        if quote {
            self.out.push('"');
        }
        if guard {
            self.out.push('\'');
        }
        if quote {
            for c in f.chars() {
                if c == '"' {
                    self.out.push('"');
                }
                self.out.push(c);
            }
            self.out.push('"');
        } else {
            self.out.push_str(f);
        }
    }
}

#[cfg(test)]
pub(crate) fn field_for_test(f: &str) -> String {
    let mut w = Writer::with_capacity(16);
    w.field(f);
    w.out
}
