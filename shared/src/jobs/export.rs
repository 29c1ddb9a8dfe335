//! Export jobs (API.md §7, §13): `export` (one analysis, one file) and `batch_export` (a zip of
//! one file per analysis), both kept in S3 under `exports/<project>/` (the bucket's lifecycle
//! rule removes them after 7 days) with a presigned URL valid 1 h; the job routes presign again
//! on every read (`file_key` / `download_key` in the result).

use std::io::Write;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{json, Value};

use super::runner::{JobError, JobRun};
use crate::domain::analysis::model::ProjectAnalysis;
use crate::domain::export::{self, CsvExportType, ExportFormat, ExportOptions};
use crate::domain::{Id, Timestamp};

/// How long a presigned download URL is valid (API.md §7).
pub const URL_TTL: Duration = Duration::from_secs(3600);

/// Export options from a job's parameters (`format` was validated on creation).
fn options(p: &serde_json::Map<String, Value>) -> Result<(ExportFormat, ExportOptions), JobError> {
    let format = p
        .get("format")
        .and_then(Value::as_str)
        .and_then(|f| ExportFormat::from_str(f).ok())
        .ok_or_else(|| JobError::Fatal("format is missing or unknown".into()))?;
    let csv_type = p
        .get("export_type")
        .and_then(Value::as_str)
        .and_then(|t| CsvExportType::from_str(t).ok())
        .unwrap_or(CsvExportType::Combined);
    Ok((format, opts(csv_type, true)))
}

/// Rendering options with the current year for footers.
pub fn opts(csv_type: CsvExportType, pretty: bool) -> ExportOptions {
    ExportOptions {
        csv_type,
        pretty,
        year: Timestamp::now().0.year(),
    }
}

async fn render(
    a: ProjectAnalysis,
    format: ExportFormat,
    o: ExportOptions,
) -> Result<export::Rendered, JobError> {
    tokio::task::spawn_blocking(move || export::render(&a, format, &o))
        .await
        .map_err(|e| JobError::Retryable(format!("rendering stopped: {e}")))?
        .map_err(|e| JobError::Fatal(e.to_string()))
}

/// export: `{analysis_id, format, export_type?}` → `{analysis_id, format, file_url, expires_at,
/// size_bytes}` (+ filename, file_key).
pub async fn run_export(run: JobRun) -> Result<Value, JobError> {
    let p = run.parameters();
    let (pid, state) = (run.project_id, &run.state);
    let id = p
        .get("analysis_id")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let (format, o) = options(&p)?;
    run.checkpoint(10, "Loading analysis").await?;
    let a = crate::analysis::load(&state.store, &state.blobs, pid, id)
        .await?
        .ok_or_else(|| JobError::Fatal(format!("Analysis {id} not found")))?;
    run.checkpoint(40, "Rendering export").await?;
    let rendered = render(a, format, o).await?;
    let key = format!("exports/{pid}/{}/{}", run.job_id, rendered.filename);
    let size = rendered.body.len();
    run.checkpoint(80, "Storing export").await?;
    state
        .blobs
        .put(&key, rendered.body, rendered.content_type)
        .await
        .map_err(|e| JobError::Retryable(e.to_string()))?;
    let (url, expires_at) = presign(state, &key, &rendered.filename).await?;
    Ok(json!({
        "analysis_id": id,
        "format": format.as_str(),
        "file_url": url,
        "expires_at": expires_at,
        "size_bytes": size,
        "filename": rendered.filename,
        "file_key": key,
    }))
}

/// A download URL for `key` valid `URL_TTL`, and when it expires.
pub async fn presign(
    state: &super::JobState,
    key: &str,
    filename: &str,
) -> Result<(String, String), JobError> {
    let url = state
        .blobs
        .presign_get_for(key, filename, URL_TTL)
        .await
        .map_err(|e| JobError::Retryable(e.to_string()))?;
    Ok((url, expires_at()))
}

pub fn expires_at() -> String {
    Timestamp::now()
        .plus_secs(URL_TTL.as_secs() as i64)
        .to_rfc3339()
}

/// batch_export: `{analysis_ids, format, export_type?}`: one file per analysis in a zip
/// (`analysis_<id>.<ext>`, CSV `analysis_<id>_<type>.csv`) → counts + `download_url,
/// expires_at, files:[{analysis_id, filename, status, error}]` (+ download_key, size_bytes).
/// A missing analysis fails its item; the job fails only if every item failed.
pub async fn run_batch_export(run: JobRun) -> Result<Value, JobError> {
    let p = run.parameters();
    let (pid, state) = (run.project_id, &run.state);
    let (format, o) = options(&p)?;
    let ids: Vec<Id> = p
        .get("analysis_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let total = ids.len();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut files = Vec::with_capacity(total);
    let mut failed = 0usize;
    for (i, id) in ids.iter().enumerate() {
        let pct = 5 + (85 * i / total.max(1)) as i64;
        run.checkpoint(pct, &format!("Exporting analysis {} of {total}", i + 1))
            .await?;
        let filename = export::file_name(*id, format, o.csv_type);
        let loaded = crate::analysis::load(&state.store, &state.blobs, pid, *id).await?;
        let outcome = match loaded {
            None => Err(format!("Analysis {id} not found")),
            Some(a) => match render(a, format, opts(o.csv_type, o.pretty)).await {
                Ok(r) => zip
                    .start_file(filename.as_str(), deflated)
                    .and_then(|()| zip.write_all(&r.body).map_err(Into::into))
                    .map_err(|e| e.to_string()),
                Err(JobError::Fatal(e)) => Err(e),
                Err(other) => return Err(other),
            },
        };
        files.push(match outcome {
            Ok(()) => json!({"analysis_id": id, "filename": filename, "status": "completed", "error": null}),
            Err(error) => {
                failed += 1;
                json!({"analysis_id": id, "filename": filename, "status": "failed", "error": error})
            }
        });
    }
    if total > 0 && failed == total {
        return Err(JobError::Fatal(format!(
            "All {total} exports failed; first: {}",
            files
                .first()
                .and_then(|f| f["error"].as_str())
                .unwrap_or_default()
        )));
    }
    let bytes = zip
        .finish()
        .map_err(|e| JobError::Fatal(format!("zip: {e}")))?
        .into_inner();
    let size = bytes.len();
    let name = format!("export_{}.zip", run.job_id);
    let key = format!("exports/{pid}/{}/{name}", run.job_id);
    run.checkpoint(92, "Storing archive").await?;
    state
        .blobs
        .put(&key, bytes, "application/zip")
        .await
        .map_err(|e| JobError::Retryable(e.to_string()))?;
    let (url, expires_at) = presign(state, &key, &name).await?;
    Ok(json!({
        "total_items": total,
        "completed_items": total - failed,
        "failed_items": failed,
        "format": format.as_str(),
        "download_url": url,
        "expires_at": expires_at,
        "size_bytes": size,
        "download_key": key,
        "files": files,
    }))
}
