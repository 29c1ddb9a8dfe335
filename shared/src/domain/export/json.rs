//! JSON (API.md §13): the analysis with `technologies` named `detected_technologies`, keys in
//! the documented order; 2-space indent when pretty, else compact.

use serde::Serialize;

use super::ExportError;
use crate::domain::analysis::model::{
    AnalysisSource, CodeMetrics, Dependency, DetectedTechnology, ProjectAnalysis, ResearchGap,
};

#[derive(Serialize)]
struct Export<'a> {
    id: u64,
    project_id: u64,
    project_path: &'a str,
    source: &'a AnalysisSource,
    analyzed_at: &'a str,
    analysis_version: &'a str,
    analysis_duration_ms: u64,
    detected_technologies: &'a [DetectedTechnology],
    dependencies: &'a [Dependency],
    code_metrics: &'a CodeMetrics,
    research_gaps: &'a [ResearchGap],
    created_at: &'a str,
    updated_at: &'a str,
}

pub(crate) fn render(a: &ProjectAnalysis, pretty: bool) -> Result<Vec<u8>, ExportError> {
    let e = Export {
        id: a.id,
        project_id: a.project_id,
        project_path: &a.project_path,
        source: &a.source,
        analyzed_at: &a.analyzed_at,
        analysis_version: &a.analysis_version,
        analysis_duration_ms: a.analysis_duration_ms,
        detected_technologies: &a.technologies,
        dependencies: &a.dependencies,
        code_metrics: &a.code_metrics,
        research_gaps: &a.research_gaps,
        created_at: &a.created_at,
        updated_at: &a.updated_at,
    };
    let mut out = Vec::with_capacity(4096 + 400 * (a.dependencies.len() + a.research_gaps.len()));
    let r = if pretty {
        serde_json::to_writer_pretty(&mut out, &e)
    } else {
        serde_json::to_writer(&mut out, &e)
    };
    r.map_err(|e| ExportError::Json(e.to_string()))?;
    Ok(out)
}
