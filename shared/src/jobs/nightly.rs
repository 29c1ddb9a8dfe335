//! worker-nightly-sync (EventBridge, 02:00 UTC; API.md §3, issue "nightly sync"): every
//! tracked repository of every project gets a `repository_sync` job, sent to the
//! `job-repository-sync` queue ten messages per SendMessageBatch. The repositories come from
//! the sparse gsi2 `TRACKED#<n>` (no Scan); the jobs of a project are created 32 per
//! transaction, with the project's counters and a check that each repository still exists,
//! and carry the active-job index entry, so a job whose message is lost is sent again by
//! maintenance.
//!
//! A second firing (EventBridge delivers at least once) creates a second round of jobs:
//! harmless, since a sync whose ETags still match costs two 304s and changes only
//! last_synced_at.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::JobState;
use crate::domain::jobs::{active_index, new_job, JobType, STALE_SECS};
use crate::domain::{Id, Timestamp};
use crate::queue::JobMessage;
use crate::store::kinds::{JOBS, REPOSITORIES};
use crate::store::records::{BATCH_CREATE_MAX, CHECK_BASE};
use crate::store::StoreError;

/// Creation transactions in flight at once.
const CREATE_CONCURRENCY: usize = 4;

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
    /// Time spent finding the repositories, creating the jobs, sending the messages.
    pub query_ms: u128,
    pub create_ms: u128,
    pub send_ms: u128,
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
    report.query_ms = started.elapsed().as_millis();
    // Per project, BATCH_CREATE_MAX jobs per transaction.
    let mut by_project: BTreeMap<Id, Vec<Id>> = BTreeMap::new();
    for (pid, rid) in tracked {
        by_project.entry(pid).or_default().push(rid);
    }
    let chunks: Vec<(Id, Vec<Id>)> = by_project
        .into_iter()
        .flat_map(|(pid, rids)| {
            rids.chunks(BATCH_CREATE_MAX)
                .map(|c| (pid, c.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    let create = |(pid, mut rids): (Id, Vec<Id>)| {
        let fired = fired.clone();
        async move {
            let mut skipped = 0;
            loop {
                if rids.is_empty() {
                    return (pid, Ok(Vec::new()), skipped);
                }
                let records = rids
                    .iter()
                    .map(|rid| {
                        let mut params = Map::new();
                        params.insert("repository_id".into(), json!(rid));
                        let mut tags = Map::new();
                        tags.insert("trigger".into(), json!("nightly-sync"));
                        tags.insert("fired_at".into(), json!(fired));
                        (
                            new_job(JobType::RepositorySync, params, tags, None),
                            vec![REPOSITORIES.key(pid, *rid)],
                        )
                    })
                    .collect();
                let due = Timestamp::now().plus_secs(STALE_SECS).to_rfc3339();
                match state
                    .store
                    .create_records_batch(&JOBS, pid, records, |r| {
                        // Listed as active: maintenance sends a job whose message was lost.
                        let id = r.get("id").and_then(Value::as_u64).unwrap_or(0);
                        let (pk, sk) = active_index(pid, id, &due);
                        r.insert("gsi2pk".into(), json!(pk));
                        r.insert("gsi2sk".into(), json!(sk));
                    })
                    .await
                {
                    Ok(jobs) => return (pid, Ok(jobs), skipped),
                    // A repository untracked meanwhile: without it.
                    Err(StoreError::Condition(i))
                        if i >= CHECK_BASE && i - CHECK_BASE < rids.len() =>
                    {
                        rids.remove(i - CHECK_BASE);
                        skipped += 1;
                    }
                    // The project is being deleted.
                    Err(StoreError::ProjectGone(_)) => {
                        return (pid, Ok(Vec::new()), skipped + rids.len())
                    }
                    Err(e) => return (pid, Err(e), skipped),
                }
            }
        }
    };
    let mut messages = Vec::new();
    let mut creations =
        futures::stream::iter(chunks.into_iter().map(create)).buffer_unordered(CREATE_CONCURRENCY);
    while let Some((pid, created, skipped)) = creations.next().await {
        report.skipped += skipped;
        for job in created? {
            report.jobs_created += 1;
            messages.push(JobMessage {
                job_id: job.get("id").and_then(Value::as_u64).unwrap_or(0),
                project_id: pid,
                job_type: JobType::RepositorySync,
                not_before: None,
            });
        }
    }
    report.create_ms = started.elapsed().as_millis() - report.query_ms;
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
    report.send_ms = report.duration_ms - report.query_ms - report.create_ms;
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
