//! job-github-event (API.md §10.1 step 5): processes the inbound GitHub deliveries stored by
//! `webhook-github`, one queue message `{project_id, event_id}` per stored event.
//!
//! A `push` creates a `repository_sync` job for the project's repository of that name (at most
//! one: names are unique per project) in ONE transaction with the event's change to
//! processed (condition: not processed yet), so a duplicate SQS delivery creates no second job;
//! the job is then queued (a lost message is re-sent by maintenance: the job carries the
//! active-job index entry, as the nightly sync's do). Other events are only marked processed.
//! A retryable failure records `error` and gives the message back (after maxReceiveCount it
//! goes to the dead-letter queue, whose records mark the event's error `gave up after N
//! attempts`); a fatal one records `error` and is acknowledged.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::JobState;
use crate::domain::jobs::{active_index, new_job, JobType, STALE_SECS};
use crate::domain::{Id, Timestamp};
use crate::queue::JobMessage;
use crate::store::kinds::{JOBS, REPOSITORIES};
use crate::store::records::{CHECK_BASE, EXTRA_BASE};
use crate::store::StoreError;

/// The processing message of one stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    pub project_id: Id,
    pub event_id: Id,
}

/// What processing one record did.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    /// A push: the sync jobs created (and queued).
    Synced(Vec<Id>),
    /// Marked processed without a job (another event type, or no repository of that name).
    Recorded,
    /// Already processed, or the event (its project) is gone: nothing done.
    Skipped(&'static str),
    /// Retryable: the message is given back.
    Retry(String),
    /// Recorded as the event's error; acknowledged.
    Failed(String),
    Malformed,
}

fn message_of(record: &SqsMessage) -> Option<EventMessage> {
    record
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
}

/// Handles a batch from the `github-event` queue; retryable records are reported.
pub async fn handle_batch(state: &JobState, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let outcome = match message_of(&record) {
            Some(msg) => process(state, &msg).await,
            None => {
                tracing::error!(
                    body = record.body.as_deref().unwrap_or(""),
                    "malformed github event message dropped"
                );
                Processed::Malformed
            }
        };
        tracing::info!(
            message_id = record.message_id.as_deref().unwrap_or(""),
            outcome = ?outcome,
            "github event message handled"
        );
        if let Processed::Retry(_) = outcome {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Processes one stored event.
pub async fn process(state: &JobState, msg: &EventMessage) -> Processed {
    let (pid, eid) = (msg.project_id, msg.event_id);
    // Boxed: the whole processing future would otherwise be one deeply nested type.
    let work: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Processed, StoreError>> + Send + '_>,
    > = Box::pin(run(state, pid, eid));
    let outcome = match work.await {
        Ok(p) => p,
        Err(StoreError::Unavailable(e)) => Processed::Retry(e),
        Err(StoreError::ProjectGone(_)) => Processed::Skipped("project deleted"),
        Err(e) => Processed::Failed(e.to_string()),
    };
    let error = match &outcome {
        Processed::Retry(e) => Some(format!("Processing failed (will retry): {e}")),
        Processed::Failed(e) => Some(format!("Processing failed: {e}")),
        _ => None,
    };
    if let Some(error) = error {
        if let Err(e) = state.store.record_event_error(pid, eid, &error).await {
            tracing::warn!(error = %e, event_id = eid, "could not record a github event's error");
        }
    }
    outcome
}

async fn run(state: &JobState, pid: Id, eid: Id) -> Result<Processed, StoreError> {
    let Some(event) = state.store.webhook_event(pid, eid).await? else {
        return Ok(Processed::Skipped("event not found"));
    };
    if event.processed {
        return Ok(Processed::Skipped("already processed"));
    }
    let repos = match (event.event_type.as_str(), &event.repository_full_name) {
        ("push", Some(name)) => state.store.project_repositories_named(pid, name).await?,
        _ => Vec::new(),
    };
    if repos.is_empty() {
        return Ok(if state.store.mark_event_processed(pid, eid).await? {
            Processed::Recorded
        } else {
            Processed::Skipped("already processed")
        });
    }
    let mut rids = repos;
    loop {
        if rids.is_empty() {
            return Ok(if state.store.mark_event_processed(pid, eid).await? {
                Processed::Recorded
            } else {
                Processed::Skipped("already processed")
            });
        }
        let records = rids
            .iter()
            .map(|rid| {
                let mut params = Map::new();
                params.insert("repository_id".into(), json!(rid));
                let mut tags = Map::new();
                tags.insert("trigger".into(), json!("github-push"));
                tags.insert("webhook_event_id".into(), json!(eid));
                tags.insert("delivery_id".into(), json!(event.delivery_id));
                (
                    new_job(JobType::RepositorySync, params, tags, None),
                    vec![REPOSITORIES.key(pid, *rid)],
                )
            })
            .collect();
        let due = Timestamp::now().plus_secs(STALE_SECS).to_rfc3339();
        let created = state
            .store
            .create_records_batch_with(
                &JOBS,
                pid,
                records,
                |r| {
                    // Listed as active: maintenance sends a job whose message was lost.
                    let id = r.get("id").and_then(Value::as_u64).unwrap_or(0);
                    let (pk, sk) = active_index(pid, id, &due);
                    r.insert("gsi2pk".into(), json!(pk));
                    r.insert("gsi2sk".into(), json!(sk));
                },
                |jobs| {
                    let ids: Vec<Id> = jobs
                        .iter()
                        .filter_map(|j| j.get("id").and_then(Value::as_u64))
                        .collect();
                    vec![state.store.event_processed(pid, eid, &ids)]
                },
                &[],
            )
            .await;
        match created {
            Ok(jobs) => {
                let messages: Vec<JobMessage> = jobs
                    .iter()
                    .map(|j| JobMessage {
                        job_id: j.get("id").and_then(Value::as_u64).unwrap_or(0),
                        project_id: pid,
                        job_type: JobType::RepositorySync,
                        not_before: None,
                    })
                    .collect();
                match state
                    .queues
                    .send_jobs(JobType::RepositorySync, &messages)
                    .await
                {
                    Ok(results) if results.iter().all(Result::is_ok) => {}
                    Ok(_) | Err(_) => tracing::warn!(
                        event_id = eid,
                        "sync job message not sent; maintenance will send it"
                    ),
                }
                return Ok(Processed::Synced(
                    messages.iter().map(|m| m.job_id).collect(),
                ));
            }
            // Processed meanwhile (a duplicate delivery of this message): nothing written.
            Err(StoreError::Condition(EXTRA_BASE)) => {
                return Ok(Processed::Skipped("already processed"))
            }
            // The repository was untracked meanwhile: without it.
            Err(StoreError::Condition(i)) if i >= CHECK_BASE && i - CHECK_BASE < rids.len() => {
                rids.remove(i - CHECK_BASE);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The dead-letter queue's records: processing gave up after maxReceiveCount deliveries; the
/// event's error says so (it stays unprocessed), and a metric is emitted.
pub async fn handle_dead_letters(state: &JobState, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let Some(msg) = message_of(&record) else {
            continue;
        };
        let attempts = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1);
        let reason = format!("Processing gave up after {attempts} attempts");
        match state
            .store
            .record_event_error(msg.project_id, msg.event_id, &reason)
            .await
        {
            Ok(()) => println!(
                "{}",
                json!({
                    "_aws": {
                        "Timestamp": Timestamp::now().unix() * 1000,
                        "CloudWatchMetrics": [{
                            "Namespace": "CommandCenter",
                            "Dimensions": [["Queue"]],
                            "Metrics": [{"Name": "DeadLetteredGitHubEvents", "Unit": "Count"}],
                        }],
                    },
                    "Queue": "github-event",
                    "DeadLetteredGitHubEvents": 1,
                    "event_id": msg.event_id,
                })
            ),
            Err(e) => {
                tracing::warn!(error = %e, event_id = msg.event_id, "could not mark a dead-lettered github event");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

/// Whether an SQS record came from the dead-letter queue `dlq_url` (Lambda: its
/// eventSourceARN ends with the queue's name).
pub fn from_queue(record: &SqsMessage, queue_url: &str) -> bool {
    let name = queue_url.rsplit('/').next().unwrap_or("");
    !name.is_empty()
        && record
            .event_source_arn
            .as_deref()
            .is_some_and(|arn| arn.rsplit(':').next() == Some(name))
}

/// The Lambda handler: records of the dead-letter queue (`dlq_url`) are dead letters, the
/// rest processing messages.
pub async fn handle_any(
    state: &JobState,
    dlq_url: Option<&str>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let (dead, live): (Vec<SqsMessage>, Vec<SqsMessage>) = event
        .records
        .into_iter()
        .partition(|r| dlq_url.is_some_and(|u| from_queue(r, u)));
    let mut response = SqsBatchResponse::default();
    if !live.is_empty() {
        let mut e = SqsEvent::default();
        e.records = live;
        response
            .batch_item_failures
            .extend(handle_batch(state, e).await.batch_item_failures);
    }
    if !dead.is_empty() {
        let mut e = SqsEvent::default();
        e.records = dead;
        response
            .batch_item_failures
            .extend(handle_dead_letters(state, e).await.batch_item_failures);
    }
    response
}
