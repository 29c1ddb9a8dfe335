//! worker-maintenance (EventBridge, every 5 minutes): jobs stuck after dispatch (their message
//! lost or dead-lettered without a handler) are sent again; running jobs whose lease expired
//! (the worker died) are sent again for another worker to take over, or failed once they have
//! used up their attempts. Stuck jobs are found through the sparse gsi2 index of active jobs,
//! sorted by when each is due (a running job: when its lease ends), so a dead worker's job is
//! taken over within its lease plus one maintenance period.

use serde::Serialize;
use serde_json::Value;

use super::JobState;
use crate::domain::jobs::{status_of, JobStatus, JobType};
use crate::domain::validate::EnumValues;
use crate::domain::Timestamp;
use crate::queue::JobMessage;

pub use crate::domain::jobs::STALE_SECS;
/// Deliveries after which a job whose lease keeps expiring is failed.
pub const MAX_ATTEMPTS: i64 = 5;

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub examined: usize,
    pub resent: usize,
    pub failed: usize,
}

pub async fn run(state: &JobState) -> Result<Report, crate::store::StoreError> {
    let now = Timestamp::now();
    let mut report = Report::default();
    for job in state.store.due_jobs(&now.to_rfc3339()).await? {
        report.examined += 1;
        let num = |k: &str| job.get(k).and_then(Value::as_i64).unwrap_or(0);
        let (pid, id) = (num("project_id") as u64, num("id") as u64);
        let Some(job_type) = job
            .get("job_type")
            .and_then(Value::as_str)
            .and_then(JobType::parse)
        else {
            continue;
        };
        let status = status_of(&job);
        match status {
            JobStatus::Running if num("lease_until") >= now.unix() => continue,
            JobStatus::Running if num("attempts") >= MAX_ATTEMPTS => {
                let reason = format!("lease expired after {} attempts", num("attempts"));
                if let Some(failed) = state.store.give_up_job(pid, id, &reason).await? {
                    report.failed += 1;
                    state
                        .live
                        .notify(&failed, &crate::live::frames::ended(&failed), true)
                        .await;
                }
                continue;
            }
            JobStatus::Pending | JobStatus::Running => {}
            _ => continue,
        }
        // Re-send: a claim is idempotent, so a duplicate of a message still in flight is harmless.
        let seen = job
            .get("gsi2sk")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if state.store.touch_active_job(pid, id, status, seen).await? {
            let msg = JobMessage {
                job_id: id,
                project_id: pid,
                job_type,
                not_before: None,
            };
            match state.queues.send_job(msg, 0).await {
                Ok(_) => report.resent += 1,
                Err(e) => tracing::warn!(job_id = id, error = %e, "could not re-send a stuck job"),
            }
        }
    }
    tracing::info!(
        examined = report.examined,
        resent = report.resent,
        failed = report.failed,
        "maintenance pass"
    );
    Ok(report)
}
