//! Excel workbook (API.md §13): sheets Summary, Technologies, Dependencies, Metrics,
//! Research Gaps with the CSV columns. Strings are written as strings (never formulas), so no
//! `'` guard is needed; strings over Excel's cell limit (32 767 characters) are truncated.

use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError,
};

use super::csv::{
    metric_rows, summary_rows, DEPENDENCY_HEADER, GAP_CATEGORY, GAP_HEADER, TECHNOLOGY_HEADER,
};
use super::{
    category_str, confidence_percent, is_outdated, severity_str, ExportError, SeverityIndex,
};
use crate::domain::analysis::model::ProjectAnalysis;

pub(crate) const HEADER_FILL: u32 = 0x3B82F6;
pub(crate) const OUTDATED_FILL: u32 = 0xFEF3C7;
const MAX_CELL_CHARS: usize = 32_767;

pub(crate) fn render(a: &ProjectAnalysis) -> Result<Vec<u8>, ExportError> {
    build(a).map_err(|e| ExportError::Xlsx(e.to_string()))
}

struct Styles {
    title: Format,
    header: Format,
    bold: Format,
    outdated: Format,
    plain: Format,
}

fn build(a: &ProjectAnalysis) -> Result<Vec<u8>, XlsxError> {
    let st = Styles {
        title: Format::new().set_bold().set_font_size(16),
        header: Format::new()
            .set_bold()
            .set_font_color(Color::White)
            .set_background_color(Color::RGB(HEADER_FILL)),
        bold: Format::new().set_bold(),
        outdated: Format::new().set_background_color(Color::RGB(OUTDATED_FILL)),
        plain: Format::new(),
    };

    let mut wb = Workbook::new();
    // Deterministic document metadata: created at analyzed_at (not the wall clock).
    let mut props = DocProperties::new().set_title("CommandCenter Analysis Report");
    if let Some(created) = creation_time(&a.analyzed_at) {
        props = props.set_creation_datetime(&created);
    }
    wb.set_properties(&props);

    summary(wb.add_worksheet().set_name("Summary")?, a, &st)?;
    technologies(wb.add_worksheet().set_name("Technologies")?, a, &st)?;
    dependencies(wb.add_worksheet().set_name("Dependencies")?, a, &st)?;
    metrics(wb.add_worksheet().set_name("Metrics")?, a, &st)?;
    gaps(wb.add_worksheet().set_name("Research Gaps")?, a, &st)?;

    wb.save_to_buffer()
}

fn summary(ws: &mut Worksheet, a: &ProjectAnalysis, st: &Styles) -> Result<(), XlsxError> {
    ws.write_string_with_format(0, 0, "CommandCenter Analysis Report", &st.title)?;
    let meta = [
        ("Project", a.project_path.as_str()),
        ("Analyzed At", a.analyzed_at.as_str()),
        ("Analysis Version", a.analysis_version.as_str()),
    ];
    for (i, (label, value)) in meta.into_iter().enumerate() {
        let row = 2 + i as u32;
        ws.write_string_with_format(row, 0, label, &st.bold)?;
        text(ws, row, 1, value, &st.plain)?;
    }
    ws.write_string_with_format(6, 0, "SUMMARY", &st.bold)?;
    header(ws, 7, &["Metric", "Value"], st)?;
    for (i, (label, n)) in summary_rows(a).into_iter().enumerate() {
        let row = 8 + i as u32;
        ws.write_string(row, 0, label)?;
        ws.write_number(row, 1, n as f64)?;
    }
    ws.set_column_width(0, 28)?;
    ws.set_column_width(1, 60)?;
    Ok(())
}

fn technologies(ws: &mut Worksheet, a: &ProjectAnalysis, st: &Styles) -> Result<(), XlsxError> {
    header(ws, 0, &TECHNOLOGY_HEADER, st)?;
    for (i, t) in a.technologies.iter().enumerate() {
        let row = 1 + i as u32;
        text(ws, row, 0, &t.name, &st.plain)?;
        text(ws, row, 1, t.version.as_deref().unwrap_or(""), &st.plain)?;
        ws.write_string(row, 2, category_str(t.category))?;
        ws.write_number(row, 3, confidence_percent(t.confidence) as f64)?;
        text(ws, row, 5, &t.file_path, &st.plain)?;
    }
    widths(ws, &[24, 14, 16, 16, 30, 36])?;
    freeze_header(ws)
}

fn dependencies(ws: &mut Worksheet, a: &ProjectAnalysis, st: &Styles) -> Result<(), XlsxError> {
    let severities = SeverityIndex::new(&a.research_gaps);
    header(ws, 0, &DEPENDENCY_HEADER, st)?;
    for (i, d) in a.dependencies.iter().enumerate() {
        let row = 1 + i as u32;
        let outdated = is_outdated(d);
        let f = if outdated { &st.outdated } else { &st.plain };
        text(ws, row, 0, &d.name, f)?;
        text(ws, row, 1, &d.version, f)?;
        text(ws, row, 2, d.latest_version.as_deref().unwrap_or(""), f)?;
        text(ws, row, 3, if outdated { "Outdated" } else { "Current" }, f)?;
        text(ws, row, 4, severities.label(d), f)?;
        text(ws, row, 5, &d.package_manager, f)?;
        text(ws, row, 6, &d.source_file, f)?;
    }
    widths(ws, &[32, 16, 16, 12, 12, 16, 32])?;
    freeze_header(ws)
}

fn metrics(ws: &mut Worksheet, a: &ProjectAnalysis, st: &Styles) -> Result<(), XlsxError> {
    header(ws, 0, &["Metric", "Value"], st)?;
    let m = &a.code_metrics;
    let numbers: [Option<f64>; 6] = [
        Some(m.lines_of_code as f64),
        Some(m.total_files as f64),
        Some(m.complexity_score).filter(|x| x.is_finite()),
        m.cyclomatic_complexity.filter(|x| x.is_finite()),
        m.total_functions.map(|n| n as f64),
        m.total_classes.map(|n| n as f64),
    ];
    let rows = metric_rows(a);
    for (i, (label, shown)) in rows.iter().enumerate() {
        let row = 1 + i as u32;
        ws.write_string(row, 0, *label)?;
        match numbers.get(i).copied().flatten() {
            Some(x) => {
                ws.write_number(row, 1, x)?;
            }
            None if !shown.is_empty() => {
                ws.write_string(row, 1, shown)?;
            }
            None => {}
        }
    }
    if !m.languages.is_empty() {
        let start = 1 + rows.len() as u32 + 1;
        header(ws, start, &["Language", "Lines"], st)?;
        for (i, (lang, lines)) in m.languages.iter().enumerate() {
            let row = start + 1 + i as u32;
            text(ws, row, 0, lang, &st.plain)?;
            ws.write_number(row, 1, *lines as f64)?;
        }
    }
    widths(ws, &[28, 18])
}

fn gaps(ws: &mut Worksheet, a: &ProjectAnalysis, st: &Styles) -> Result<(), XlsxError> {
    header(ws, 0, &GAP_HEADER, st)?;
    for (i, g) in a.research_gaps.iter().enumerate() {
        let row = 1 + i as u32;
        text(ws, row, 0, &g.technology, &st.plain)?;
        text(ws, row, 1, &g.description, &st.plain)?;
        ws.write_string(row, 2, GAP_CATEGORY)?;
        ws.write_string(row, 3, severity_str(g.severity))?;
        text(ws, row, 4, &g.estimated_effort, &st.plain)?;
        text(ws, row, 5, &g.suggested_task, &st.plain)?;
    }
    widths(ws, &[30, 60, 12, 10, 16, 60])?;
    freeze_header(ws)
}

fn header(ws: &mut Worksheet, row: u32, names: &[&str], st: &Styles) -> Result<(), XlsxError> {
    for (col, name) in names.iter().enumerate() {
        ws.write_string_with_format(row, col as u16, *name, &st.header)?;
    }
    Ok(())
}

/// Writes a string cell (truncated to Excel's limit); an empty string with a fill becomes a
/// formatted blank so the row's fill has no gap.
fn text(ws: &mut Worksheet, row: u32, col: u16, s: &str, f: &Format) -> Result<(), XlsxError> {
    if s.is_empty() {
        ws.write_blank(row, col, f)?;
        return Ok(());
    }
    ws.write_string_with_format(row, col, truncate(s), f)?;
    Ok(())
}

fn truncate(s: &str) -> &str {
    // Fast path: byte length bounds the char count.
    if s.len() <= MAX_CELL_CHARS {
        return s;
    }
    match s.char_indices().nth(MAX_CELL_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn widths(ws: &mut Worksheet, w: &[u16]) -> Result<(), XlsxError> {
    for (col, width) in w.iter().enumerate() {
        ws.set_column_width(col as u16, *width)?;
    }
    Ok(())
}

fn freeze_header(ws: &mut Worksheet) -> Result<(), XlsxError> {
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// analyzed_at as the workbook's creation time (UTC); 1970-01-01 if unparsable or out of
/// Excel's range.
fn creation_time(ts: &str) -> Option<ExcelDateTime> {
    use ::time::format_description::well_known::Rfc3339;
    use ::time::{OffsetDateTime, UtcOffset};
    OffsetDateTime::parse(ts, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(UtcOffset::UTC))
        .and_then(|t| {
            let year = u16::try_from(t.year()).ok()?;
            ExcelDateTime::from_ymd(year, t.month() as u8, t.day())
                .and_then(|d| d.and_hms(u16::from(t.hour()), t.minute(), t.second()))
                .ok()
        })
        .or_else(|| ExcelDateTime::from_ymd(1970, 1, 1).ok())
}
