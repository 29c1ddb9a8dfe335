//! worker-nightly-sync (EventBridge, 02:00 UTC; API.md §3, issue "nightly sync"): every
//! tracked repository of every project gets a `repository_sync` job, sent to the
//! `job-repository-sync` queue ten messages per SendMessageBatch. The repositories come from
//! the sparse gsi2 `TRACKED#<n>` (no Scan); each job is created in its own transaction with
//! the project's counters and a check that the repository still exists, and carries the
//! active-job index entry, so a job whose message is lost is sent again by maintenance.
//!
//! A second firing (EventBridge delivers at least once) creates a second round of jobs:
//! harmless, since a sync whose ETags still match costs two 304s and changes only
//! last_synced_at.

use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::JobState;
use crate::domain::jobs::{active_index, new_job, JobType, STALE_SECS};
use crate::domain::{Id, Timestamp};
use crate::queue::JobMessage;
use crate::store::kinds::{JOBS, REPOSITORIES};
use crate::store::StoreError;

/// Job creations in flight at once.
const CREATE_CONCURRENCY: usize = 16;

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// When this firing started (the jobs' `fired_at` tag).
    pub fired_at: String,
    pub repositories: usize,
    pub jobs_created: usize,
    pub messages_sent: usize,
    /// Repositories whose project or record went away meanwhile.
    pub skipped: usize,
    /// Jobs created whose message could not be sent: maintenance sends them.
    pub send_failures: usize,
    pub duration_ms: u128,
}

pub async fn run(state: &JobState) -> Result<Report, StoreError> {
    let started = Instant::now();
    let fired = Timestamp::now().to_rfc3339();
    let tracked = state.store.tracked_repositories().await?;
    let mut report = Report {
        fired_at: fired.clone(),
        repositories: tracked.len(),
        ..Report::default()
    };
    let create = |(pid, rid): (Id, Id)| {
        let fired = fired.clone();
        async move {
            let mut params = Map::new();
            params.insert("repository_id".into(), json!(rid));
            let mut tags = Map::new();
            tags.insert("trigger".into(), json!("nightly-sync"));
            tags.insert("fired_at".into(), json!(fired));
            let record = new_job(JobType::RepositorySync, params, tags, None);
            let due = Timestamp::now().plus_secs(STALE_SECS).to_rfc3339();
            let created = state
                .store
                .create_record_with(
                    &JOBS,
                    pid,
                    record,
                    |_| vec![],
                    &[REPOSITORIES.key(pid, rid)],
                    |r| {
                        let id = r.get("id").and_then(Value::as_u64).unwrap_or(0);
                        let (pk, sk) = active_index(pid, id, &due);
                        r.insert("gsi2pk".into(), json!(pk));
                        r.insert("gsi2sk".into(), json!(sk));
                    },
                )
                .await;
            (pid, created)
        }
    };
    let mut messages = Vec::new();
    let mut creations =
        futures::stream::iter(tracked.into_iter().map(create)).buffer_unordered(CREATE_CONCURRENCY);
    while let Some((pid, created)) = creations.next().await {
        match created {
            Ok(job) => {
                report.jobs_created += 1;
                messages.push(JobMessage {
                    job_id: job.get("id").and_then(Value::as_u64).unwrap_or(0),
                    project_id: pid,
                    job_type: JobType::RepositorySync,
                    not_before: None,
                });
            }
            // The project is being deleted, or the repository was untracked meanwhile.
            Err(StoreError::ProjectGone(_) | StoreError::Condition(_)) => report.skipped += 1,
            Err(e) => return Err(e),
        }
    }
    match state
        .queues
        .send_jobs(JobType::RepositorySync, &messages)
        .await
    {
        Ok(results) => {
            for r in results {
                match r {
                    Ok(_) => report.messages_sent += 1,
                    Err(e) => {
                        report.send_failures += 1;
                        tracing::warn!(error = %e, "nightly sync message not sent; maintenance will send it");
                    }
                }
            }
        }
        Err(e) => {
            report.send_failures = messages.len();
            tracing::error!(error = %e, "nightly sync messages not sent; maintenance will send them");
        }
    }
    report.duration_ms = started.elapsed().as_millis();
    tracing::info!(
        repositories = report.repositories,
        jobs_created = report.jobs_created,
        messages_sent = report.messages_sent,
        skipped = report.skipped,
        send_failures = report.send_failures,
        duration_ms = report.duration_ms as u64,
        "nightly sync fan-out"
    );
    Ok(report)
}
