//! The generic job runner. Each SQS record names a job; the runner claims it (conditional
//! update), runs the type's work function with a `JobRun` handle for checkpoints, and records
//! the outcome. At-least-once delivery, exactly-once effect: a duplicate of a finished job, or
//! of one running under a live lease, is acknowledged without effect.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::Value;

use super::JobState;
use crate::domain::jobs::{give_back_secs, result_summary, JobStatus, JobType, RESULT_INLINE_MAX};
use crate::domain::{Id, Timestamp};
use crate::live::frames;
use crate::queue::JobMessage;
use crate::store::jobs::Claim;
use crate::store::records::Record;
use crate::store::StoreError;

/// How a work function fails.
#[derive(Debug, Clone, PartialEq)]
pub enum JobError {
    /// Worth another delivery (throttling, a dependency down): the message comes back after a
    /// back-off; after maxReceiveCount it is dead-lettered.
    Retryable(String),
    /// Not now, but certainly later (a rate limit until its reset): the job is given back and
    /// its message sent again with this delay, so the wait costs no delivery attempt and the
    /// job never reaches the dead-letter queue for waiting.
    RetryAfter { secs: u64, reason: String },
    /// Will fail again: the job is failed with this error.
    Fatal(String),
    /// The job was cancelled (or taken over) while running: stop without recording anything.
    Stopped,
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => JobError::Retryable(m),
            // Its project is being deleted: the job item goes with it; nothing to record.
            StoreError::ProjectGone(_) => JobError::Stopped,
            other => JobError::Fatal(other.to_string()),
        }
    }
}

impl From<crate::github::GitHubError> for JobError {
    fn from(e: crate::github::GitHubError) -> Self {
        use crate::github::GitHubError as G;
        match e {
            G::RateLimited { retry_after } => JobError::RetryAfter {
                secs: retry_after,
                reason: e.to_string(),
            },
            // Network trouble and GitHub's own 5xx pass; a refused token or a missing
            // repository will not.
            G::Upstream(m) => JobError::Retryable(m),
            G::Token(m) => JobError::Retryable(m),
            other => JobError::Fatal(other.to_string()),
        }
    }
}

/// A claimed job, for its work function.
#[derive(Clone)]
pub struct JobRun {
    pub state: JobState,
    pub project_id: Id,
    pub job_id: Id,
    pub job: Record,
    token: String,
    /// The job as last written by this worker (listeners included).
    latest: Arc<std::sync::Mutex<Record>>,
}

impl JobRun {
    pub fn parameters(&self) -> serde_json::Map<String, Value> {
        self.job
            .get("parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Reports progress (pushed to the job's WebSocket listeners when it changed) and extends
    /// the lease; `Err(Stopped)` when the job was cancelled or another worker took it over, so
    /// the work stops at this checkpoint.
    pub async fn checkpoint(&self, progress: i64, step: &str) -> Result<(), JobError> {
        let now = self
            .state
            .store
            .job_checkpoint(
                self.project_id,
                self.job_id,
                &self.token,
                progress.clamp(0, 100),
                step,
                self.state.lease_secs,
            )
            .await?
            .ok_or(JobError::Stopped)?;
        let before = std::mem::replace(&mut *self.lock(), now.clone());
        self.state
            .live
            .notify(&now, &frames::changes(&before, &now), false)
            .await;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The job as last written by this worker.
    pub fn latest(&self) -> Record {
        self.lock().clone()
    }
}

pub type WorkFuture = Pin<Box<dyn Future<Output = Result<Value, JobError>> + Send>>;
/// A job type's work: the job in, its result out.
pub type Work = Arc<dyn Fn(JobRun) -> WorkFuture + Send + Sync>;

/// What happened to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed,
    Failed(String),
    /// Given back for a later delivery (reported in batchItemFailures).
    Retry(String),
    Skipped(&'static str),
    Stopped,
    Redelayed,
    Malformed,
}

/// Handles an SQS batch for one job type; failed records are reported so only they return.
pub async fn handle_batch(
    state: &JobState,
    job_type: JobType,
    work: &Work,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut records = event.records;
    if job_type == crate::webhooks::QUEUE {
        // Webhook deliveries share this queue with webhook_delivery jobs.
        let (deliveries, jobs): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| {
            r.body
                .as_deref()
                .and_then(crate::webhooks::DeliveryMessage::parse)
                .is_some()
        });
        let parsed: Vec<_> = deliveries
            .into_iter()
            .filter_map(|r| {
                let m = crate::webhooks::DeliveryMessage::parse(r.body.as_deref()?)?;
                Some((r, m))
            })
            .collect();
        for id in crate::webhooks::deliver::handle_messages(state, &parsed).await {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
        records = jobs;
    }
    for record in records {
        let outcome = handle_record(state, job_type, work, &record).await;
        tracing::info!(
            job_type = %job_type,
            message_id = record.message_id.as_deref().unwrap_or(""),
            outcome = ?outcome,
            "job message handled"
        );
        if let Outcome::Retry(_) = outcome {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// Makes the message visible again after the back-off for its delivery count, or after
/// `lease_left` seconds (plus one) if that is longer: a lease the worker could not cut short.
async fn back_off(
    state: &JobState,
    job_type: JobType,
    record: &SqsMessage,
    lease_left: Option<i64>,
) {
    let (Ok(url), Some(handle)) = (state.queues.url(job_type), record.receipt_handle.as_deref())
    else {
        return;
    };
    let delay = give_back_secs(receive_count(record), lease_left);
    if let Err(e) = state
        .sqs
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(handle)
        .visibility_timeout(delay as i32)
        .send()
        .await
    {
        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not set the retry back-off");
    }
}

/// The job a queue message names; a malformed one is logged (and dropped by the caller: it
/// would fail on every delivery).
fn job_message(record: &SqsMessage) -> Option<JobMessage> {
    let msg = record
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<JobMessage>(b).ok());
    if msg.is_none() {
        tracing::error!(
            body = record.body.as_deref().unwrap_or(""),
            "malformed job message dropped"
        );
    }
    msg
}

pub async fn handle_record(
    state: &JobState,
    job_type: JobType,
    work: &Work,
    record: &SqsMessage,
) -> Outcome {
    let Some(msg) = job_message(record) else {
        return Outcome::Malformed;
    };
    // Delays beyond SQS's 15 minutes: send again with what remains.
    if let Some(due) = msg.not_before {
        let remaining = due - Timestamp::now().unix();
        if remaining > 0 {
            let mut again = msg.clone();
            again.not_before = None;
            return match state.queues.send_job(again, remaining).await {
                Ok(_) => Outcome::Redelayed,
                Err(e) => {
                    back_off(state, job_type, record, None).await;
                    Outcome::Retry(e.to_string())
                }
            };
        }
    }
    let token = uuid::Uuid::new_v4().to_string();
    let job = match state
        .store
        .claim_job(msg.project_id, msg.job_id, &token, state.lease_secs)
        .await
    {
        Ok(Claim::Claimed(job)) => job,
        Ok(Claim::Skip(why)) => return Outcome::Skipped(why),
        Err(e) => {
            back_off(state, job_type, record, None).await;
            return Outcome::Retry(e.to_string());
        }
    };
    state
        .live
        .notify(&job, &[frames::progress(&job)], false)
        .await;
    let run = JobRun {
        state: state.clone(),
        project_id: msg.project_id,
        job_id: msg.job_id,
        job: job.clone(),
        token: token.clone(),
        latest: Arc::new(std::sync::Mutex::new(job)),
    };
    let result = work(run.clone()).await;
    let latest = run.latest();
    let held = Held {
        state,
        pid: msg.project_id,
        id: msg.job_id,
        latest: &latest,
        token: &token,
    };
    let recorded = match result {
        Ok(value) => held.complete(value).await,
        Err(JobError::Fatal(error)) => held.fail(error).await,
        Err(JobError::Retryable(reason)) => {
            let delay = give_back_secs(receive_count(record), None);
            match held.release(&reason, delay).await {
                Ok(true) => {
                    back_off(state, job_type, record, None).await;
                    Ok(Some(Outcome::Retry(reason)))
                }
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            }
        }
        Err(JobError::RetryAfter { secs, reason }) => {
            let secs = secs as i64;
            match held.release(&reason, secs).await {
                Ok(true) => {
                    let again = JobMessage {
                        not_before: None,
                        ..msg.clone()
                    };
                    match state.queues.send_job(again, secs).await {
                        Ok(_) => Ok(Some(Outcome::Redelayed)),
                        Err(e) => {
                            tracing::warn!(error = %e, "could not re-send a rate-limited job; its message returns after the wait");
                            back_off(state, job_type, record, Some(secs)).await;
                            Ok(Some(Outcome::Retry(reason)))
                        }
                    }
                }
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            }
        }
        Err(JobError::Stopped) => return Outcome::Stopped,
    };
    match recorded {
        Ok(Some(outcome)) => outcome,
        // Cancelled or taken over meanwhile: whoever holds it now records the end.
        Ok(None) => Outcome::Stopped,
        Err(e) => {
            let lease_left = held.give_back().await;
            back_off(state, job_type, record, lease_left).await;
            Outcome::Retry(e.to_string())
        }
    }
}

/// A job this worker claimed, once its work returned.
struct Held<'a> {
    state: &'a JobState,
    pid: Id,
    id: Id,
    latest: &'a Record,
    token: &'a str,
}

impl Held<'_> {
    /// Records the result (a large one goes to S3 first). `Ok(None)`: not held anymore; `Err`:
    /// nothing could be recorded (give the job back). A result DynamoDB refuses for good fails
    /// the job with the reason instead of running it again.
    async fn complete(&self, value: Value) -> Result<Option<Outcome>, StoreError> {
        let (kept, key) = match self.keep(&value).await {
            Ok(kept) => kept,
            Err(e) => return Err(StoreError::Unavailable(e.to_string())),
        };
        match finish(
            self.state,
            self.pid,
            self.latest,
            self.token,
            Ok(kept),
            key.as_deref(),
        )
        .await
        {
            Ok(true) => Ok(Some(Outcome::Completed)),
            Ok(false) => Ok(None),
            Err(e @ StoreError::Unavailable(_)) => Err(e),
            Err(e) => {
                tracing::error!(job_id = self.id, error = %e, "a job result could not be recorded");
                self.fail(format!("The job's result could not be recorded: {e}"))
                    .await
            }
        }
    }

    async fn fail(&self, error: String) -> Result<Option<Outcome>, StoreError> {
        Ok(finish(
            self.state,
            self.pid,
            self.latest,
            self.token,
            Err(error.clone()),
            None,
        )
        .await?
        .then_some(Outcome::Failed(error)))
    }

    async fn release(&self, reason: &str, retry_in: i64) -> Result<bool, StoreError> {
        let released = self
            .state
            .store
            .release_job(self.pid, self.id, self.token, reason, retry_in)
            .await?;
        if released {
            let mut now = self.latest.clone();
            now.insert("status".into(), Value::from("pending"));
            now.insert(
                "current_step".into(),
                Value::from(format!("Retrying after error: {reason}")),
            );
            self.state
                .live
                .notify(&now, &frames::changes(self.latest, &now), false)
                .await;
        }
        Ok(released)
    }

    /// A result too large for the job item goes to S3 (`blob::job_result_key`); the item keeps
    /// its summary. Returns what the item keeps and the object's key.
    async fn keep(&self, value: &Value) -> Result<(Value, Option<String>), crate::blob::BlobError> {
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        if bytes.len() <= RESULT_INLINE_MAX {
            return Ok((value.clone(), None));
        }
        let key = crate::blob::job_result_key(self.pid, self.id);
        self.state
            .blobs
            .put(&key, bytes, "application/json")
            .await?;
        Ok((result_summary(value), Some(key)))
    }

    /// The outcome could not be recorded: ends the lease now so the message's redelivery takes
    /// the job over instead of finding a live lease and being dropped as a duplicate. If even
    /// that write fails, returns how long the lease still runs, which the message must wait out.
    async fn give_back(&self) -> Option<i64> {
        match self
            .state
            .store
            .cut_lease(self.pid, self.id, self.token)
            .await
        {
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(job_id = self.id, error = %e, "could not cut the lease short");
                let until = self
                    .latest
                    .get("lease_until")
                    .and_then(Value::as_i64)
                    .unwrap_or_else(|| Timestamp::now().unix() + self.state.lease_secs);
                Some(until - Timestamp::now().unix())
            }
        }
    }
}

/// Records a held job's end and tells its listeners (then closes their connections).
async fn finish(
    state: &JobState,
    pid: Id,
    latest: &Record,
    token: &str,
    outcome: Result<Value, String>,
    result_key: Option<&str>,
) -> Result<bool, StoreError> {
    match state
        .store
        .finish_job_kept(pid, latest, token, outcome, result_key)
        .await?
    {
        Some(done) => {
            state
                .live
                .notify(&done, &frames::changes(latest, &done), true)
                .await;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Dead letters: the job could not be run after maxReceiveCount deliveries; it is failed with
/// `gave up after N attempts`, and a metric (CloudWatch EMF) is emitted.
pub async fn handle_dead_letters(state: &JobState, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        if let Some(d) = record
            .body
            .as_deref()
            .and_then(crate::webhooks::DeliveryMessage::parse)
        {
            let reason = format!("gave up after {} receives", receive_count(&record).max(1));
            if let Err(e) = crate::webhooks::deliver::give_up(state, &d, &reason).await {
                tracing::warn!(error = %e, delivery_id = d.delivery_id, "could not end a dead-lettered delivery");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
            continue;
        }
        let Some(msg) = job_message(&record) else {
            continue;
        };
        let attempts = receive_count(&record).max(1);
        let reason = format!("gave up after {attempts} attempts");
        match state
            .store
            .give_up_job(msg.project_id, msg.job_id, &reason)
            .await
        {
            Ok(failed) => {
                let changed = failed.is_some();
                if let Some(job) = &failed {
                    state.live.notify(job, &frames::ended(job), true).await;
                }
                println!(
                    "{}",
                    serde_json::json!({
                        "_aws": {
                            "Timestamp": Timestamp::now().0.unix_timestamp() * 1000,
                            "CloudWatchMetrics": [{
                                "Namespace": "CommandCenter",
                                "Dimensions": [["JobType"]],
                                "Metrics": [{"Name": "DeadLetteredJobs", "Unit": "Count"}],
                            }],
                        },
                        "JobType": msg.job_type.to_string(),
                        "DeadLetteredJobs": 1,
                        "job_id": msg.job_id,
                        "marked_failed": changed,
                    })
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, job_id = msg.job_id, "could not fail a dead-lettered job");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = record.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

/// Whether a stored job is still active (for tests and maintenance).
pub fn is_active(status: Option<JobStatus>) -> bool {
    status.is_some_and(JobStatus::is_active)
}
