//! Analysis jobs (API.md §7): `analysis` (one source, `crate::analysis::run_job`),
//! `batch_analysis` and `scheduled_analysis` (repositories of the project, one analysis each).

use serde_json::{json, Value};

use super::runner::{JobError, JobRun};
use crate::analysis::{analyze_source, Source};
use crate::domain::Id;
use crate::store::kinds::REPOSITORIES;
use crate::store::records::id_of;

/// batch_analysis: `{repository_ids}`; scheduled_analysis: `{repository_ids?}` (absent: every
/// repository of the project, one Query). Each repository is analyzed (or found in the cache
/// unless `use_cache` is false); a repository that fails does not stop the others; the job
/// fails only if every item failed. Result: counts + `results:[{repository_id, status,
/// analysis_id, error}]`.
pub async fn run_batch(run: JobRun) -> Result<Value, JobError> {
    let p = run.parameters();
    let pid = run.project_id;
    let use_cache = p.get("use_cache").and_then(Value::as_bool).unwrap_or(true);
    let ids: Vec<Id> = match p.get("repository_ids").and_then(Value::as_array) {
        Some(ids) => ids.iter().filter_map(Value::as_u64).collect(),
        None => run
            .state
            .store
            .records(pid, REPOSITORIES.prefix)
            .await?
            .iter()
            .map(id_of)
            .collect(),
    };
    let total = ids.len();
    let mut results = Vec::with_capacity(total);
    let (mut completed, mut failed) = (0usize, 0usize);
    for (i, rid) in ids.iter().enumerate() {
        let pct = 5 + (90 * i / total.max(1)) as i64;
        run.checkpoint(pct, &format!("Analyzing repository {} of {total}", i + 1))
            .await?;
        let origin = format!("{}-{rid}", run.job_id);
        let source = Source::Repository {
            id: *rid,
            git_ref: None,
        };
        match analyze_source(&run.state, pid, &source, None, use_cache, &origin, None).await {
            Ok((analysis_id, _)) => {
                completed += 1;
                results.push(json!({"repository_id": rid, "status": "completed",
                    "analysis_id": analysis_id, "error": null}));
            }
            // Give the whole job back when the cause will pass (GitHub's rate limit, an
            // outage): the items done so far are found again through their job markers.
            Err(e @ (JobError::RetryAfter { .. } | JobError::Retryable(_))) => return Err(e),
            Err(JobError::Stopped) => return Err(JobError::Stopped),
            Err(JobError::Fatal(error)) => {
                failed += 1;
                results.push(json!({"repository_id": rid, "status": "failed",
                    "analysis_id": null, "error": error}));
            }
        }
    }
    if total > 0 && failed == total {
        return Err(JobError::Fatal(format!(
            "All {total} analyses failed; first: {}",
            results
                .first()
                .and_then(|r| r["error"].as_str())
                .unwrap_or_default()
        )));
    }
    Ok(json!({
        "total_items": total,
        "completed_items": completed,
        "failed_items": failed,
        "results": results,
    }))
}
