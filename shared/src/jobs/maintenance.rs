//! worker-maintenance (EventBridge, every 5 minutes): jobs stuck after dispatch (their message
//! lost or dead-lettered without a handler) are sent again; running jobs whose lease expired
//! (the worker died) are sent again for another worker to take over, or failed once they have
//! used up their attempts. Stuck jobs are found through the sparse gsi2 index of active jobs,
//! sorted by when each is due (a running job: when its lease ends), so a dead worker's job is
//! taken over within its lease plus one maintenance period.
//!
//! The same pass sweeps deleted projects: `DELETE /projects/{id}` only marks the project (one
//! transaction: it reads as missing and its name is free at once) and lists it in a sparse
//! gsi2 index; each pass removes their partitions, pointers, S3 objects, STATS and META in
//! bounded steps for up to `SWEEP_BUDGET`, and the next pass resumes where one stopped.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::JobState;
use crate::domain::jobs::{status_of, JobStatus, JobType};
use crate::domain::validate::EnumValues;
use crate::domain::{Id, Timestamp};
use crate::queue::JobMessage;
use crate::store::StoreError;

pub use crate::domain::jobs::STALE_SECS;
/// Deliveries after which a job whose lease keeps expiring is failed.
pub const MAX_ATTEMPTS: i64 = 5;

/// How long one pass may spend sweeping deleted projects (the function times out after 120 s;
/// the jobs part of a pass comes first and takes seconds).
pub const SWEEP_BUDGET: Duration = Duration::from_secs(60);
/// Items per sweep step: one Query page, then at most 2 × 20 BatchWriteItem calls and one
/// DeleteObjects.
pub const SWEEP_PAGE: i32 = 500;
/// Deleted projects looked at per pass (oldest deletion first).
const SWEEP_PROJECTS: i32 = 20;

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub examined: usize,
    pub resent: usize,
    pub failed: usize,
    /// Deleted projects whose sweep finished in this pass.
    pub projects_swept: usize,
    /// Items (and their id pointers, not counted) removed from deleted projects.
    pub items_swept: usize,
    /// Deleted projects left for the next pass (the time budget ran out).
    pub projects_pending: usize,
}

/// One maintenance pass: stuck jobs, then deleted projects' sweeps for up to `SWEEP_BUDGET`.
pub async fn run(state: &JobState) -> Result<Report, StoreError> {
    run_with(state, SWEEP_BUDGET).await
}

/// A maintenance pass that sweeps for at most `budget`.
pub async fn run_with(state: &JobState, budget: Duration) -> Result<Report, StoreError> {
    let deadline = Instant::now() + budget;
    // Boxed: the nested futures are deep enough to overflow the compiler's layout queries in
    // the function's `main`.
    let mut report = Box::pin(resend_stuck_jobs(state)).await?;
    Box::pin(sweep_projects(state, deadline, &mut report)).await?;
    tracing::info!(
        examined = report.examined,
        resent = report.resent,
        failed = report.failed,
        projects_swept = report.projects_swept,
        items_swept = report.items_swept,
        projects_pending = report.projects_pending,
        "maintenance pass"
    );
    Ok(report)
}

/// The jobs part of a pass (also run by the schedule dispatcher every minute): dispatched jobs
/// that have not started when due are sent again, running ones whose lease ended are sent for a
/// takeover or failed after `MAX_ATTEMPTS`.
pub async fn resend_stuck_jobs(state: &JobState) -> Result<Report, StoreError> {
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
    Ok(report)
}

/// Sweeps deleted projects (oldest deletion first) until `deadline`.
async fn sweep_projects(
    state: &JobState,
    deadline: Instant,
    report: &mut Report,
) -> Result<(), StoreError> {
    for pid in state.store.projects_to_sweep(SWEEP_PROJECTS).await? {
        if Instant::now() >= deadline {
            report.projects_pending += 1;
            continue;
        }
        // One project's trouble (S3 refusing, say) must not stop the others' sweeps.
        let swept = match sweep_project(state, pid, deadline).await {
            Ok(swept) => swept,
            Err(e) => {
                tracing::warn!(project_id = pid, error = %e, "sweep of a deleted project failed; retried next pass");
                report.projects_pending += 1;
                continue;
            }
        };
        report.items_swept += swept.items;
        if swept.finished {
            report.projects_swept += 1;
        } else {
            report.projects_pending += 1;
        }
    }
    Ok(())
}

/// What one sweep of a project did.
#[derive(Debug, Default, PartialEq)]
pub struct Swept {
    pub items: usize,
    pub finished: bool,
}

/// Sweeps a deleted project's partition in steps of `SWEEP_PAGE` items until it is empty (then
/// removes STATS and META, which ends the sweep) or `deadline` passed. Each step deletes the S3
/// objects its items name, then their pointers, then the items; a step interrupted anywhere
/// is repeated by the next one, since the partition itself says what is left.
pub async fn sweep_project(
    state: &JobState,
    pid: Id,
    deadline: Instant,
) -> Result<Swept, StoreError> {
    let mut swept = Swept::default();
    loop {
        let page = state.store.sweep_page(pid, SWEEP_PAGE).await?;
        if !page.objects.is_empty() {
            state
                .blobs
                .delete(&page.objects)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        }
        state.store.sweep_delete(&page).await?;
        swept.items += page.items.len();
        if page.last {
            // Nothing can be added meanwhile: creates check that the project is not deleted.
            state.store.finish_sweep(pid).await?;
            swept.finished = true;
            tracing::info!(
                project_id = pid,
                items = swept.items,
                "deleted project swept"
            );
            return Ok(swept);
        }
        if Instant::now() >= deadline {
            return Ok(swept);
        }
    }
}
