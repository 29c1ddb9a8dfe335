//! SQS: one queue per job type. A job message names the job; workers read the job item for
//! everything else, so a message is small, and a duplicate delivery is harmless.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::jobs::JobType;
use crate::domain::validate::EnumValues;
use crate::domain::{Id, Timestamp};

/// SQS's longest delivery delay; longer delays are re-delayed by the worker until due.
pub const MAX_SQS_DELAY_SECS: i64 = 900;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: Id,
    pub project_id: Id,
    pub job_type: JobType,
    /// Unix seconds before which the job must not start (delays beyond SQS's 15 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no queue is configured for {0} jobs")]
    NotConfigured(JobType),
    #[error("SQS error: {0}")]
    Sqs(String),
}

/// The job queues of the stack (QUEUE_URL_<JOB_TYPE> for each type).
#[derive(Clone, Debug)]
pub struct Queues {
    client: aws_sdk_sqs::Client,
    urls: BTreeMap<String, String>,
}

impl Queues {
    pub fn new(client: aws_sdk_sqs::Client, urls: BTreeMap<String, String>) -> Self {
        Self { client, urls }
    }

    pub fn url(&self, job_type: JobType) -> Result<&str, QueueError> {
        self.urls
            .get(job_type.as_str())
            .map(String::as_str)
            .ok_or(QueueError::NotConfigured(job_type))
    }

    /// Sends a job message, delayed by `delay_secs` (beyond 15 minutes: sent with the maximum
    /// delay and a `not_before` the worker honours). Returns the message id.
    pub async fn send_job(
        &self,
        mut msg: JobMessage,
        delay_secs: i64,
    ) -> Result<String, QueueError> {
        if delay_secs > MAX_SQS_DELAY_SECS {
            msg.not_before = Some(Timestamp::now().unix() + delay_secs);
        }
        self.send_message(msg.job_type, &msg, delay_secs).await
    }

    /// Sends any message to a job type's queue, delayed by at most 15 minutes (the caller
    /// carries a longer wait in the message itself).
    pub async fn send_message<T: Serialize>(
        &self,
        queue: JobType,
        msg: &T,
        delay_secs: i64,
    ) -> Result<String, QueueError> {
        let url = self.url(queue)?.to_string();
        self.send_to(&url, msg, delay_secs).await
    }

    /// Sends a message to the queue at `url` (a dead-letter queue, for instance).
    pub async fn send_to<T: Serialize>(
        &self,
        url: &str,
        msg: &T,
        delay_secs: i64,
    ) -> Result<String, QueueError> {
        let body = serde_json::to_string(msg).map_err(|e| QueueError::Sqs(e.to_string()))?;
        let out = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(delay_secs.clamp(0, MAX_SQS_DELAY_SECS) as i32)
            .send()
            .await
            .map_err(|e| QueueError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(out.message_id.unwrap_or_default())
    }
}

impl Queues {
    /// Sends JSON bodies to the queue `name` (one of `OTHER_QUEUES`), ten per
    /// SendMessageBatch; returns per body whether it was sent.
    pub async fn send_bodies(
        &self,
        name: &str,
        bodies: &[String],
    ) -> Result<Vec<bool>, QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let url = self
            .urls
            .get(name)
            .ok_or_else(|| QueueError::Sqs(format!("no queue is configured for {name}")))?;
        let mut sent = vec![false; bodies.len()];
        for (c, chunk) in bodies.chunks(10).enumerate() {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    SendMessageBatchRequestEntry::builder()
                        .id((c * 10 + i).to_string())
                        .message_body(b)
                        .build()
                        .ok()
                })
                .collect();
            let out = self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    QueueError::Sqs(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            for ok in out.successful() {
                if let Some(slot) = ok.id().parse::<usize>().ok().and_then(|i| sent.get_mut(i)) {
                    *slot = true;
                }
            }
        }
        Ok(sent)
    }

    /// The URL of the queue `name` (a job type or one of `OTHER_QUEUES`).
    pub fn url_of(&self, name: &str) -> Option<&str> {
        self.urls.get(name).map(String::as_str)
    }

    /// Sends many messages of one job type, ten per SendMessageBatch call (a few calls at
    /// once); failed entries are retried once. Returns per message its queue message id or
    /// why it could not be sent.
    pub async fn send_jobs(
        &self,
        job_type: JobType,
        msgs: &[JobMessage],
    ) -> Result<Vec<Result<String, String>>, QueueError> {
        self.send_messages(job_type, msgs).await
    }

    /// `send_jobs` for any message type (webhook deliveries share the webhook_delivery queue).
    pub async fn send_messages<T: Serialize + Clone + Send + Sync>(
        &self,
        job_type: JobType,
        msgs: &[T],
    ) -> Result<Vec<Result<String, String>>, QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        use futures::StreamExt;
        let url = self.url(job_type)?.to_string();
        let send_chunk = |chunk: Vec<(usize, T)>| {
            let url = url.clone();
            async move {
                let mut results: Vec<(usize, Result<String, String>)> = Vec::new();
                let mut pending = chunk;
                for round in 0..2 {
                    if pending.is_empty() {
                        break;
                    }
                    let entries: Vec<_> = pending
                        .iter()
                        .filter_map(|(i, m)| {
                            SendMessageBatchRequestEntry::builder()
                                .id(i.to_string())
                                .message_body(serde_json::to_string(m).unwrap_or_default())
                                .build()
                                .ok()
                        })
                        .collect();
                    let out = self
                        .client
                        .send_message_batch()
                        .queue_url(&url)
                        .set_entries(Some(entries))
                        .send()
                        .await;
                    match out {
                        Ok(out) => {
                            for ok in out.successful() {
                                if let Ok(i) = ok.id().parse::<usize>() {
                                    results.push((i, Ok(ok.message_id().to_string())));
                                }
                            }
                            let failed: Vec<(usize, String)> = out
                                .failed()
                                .iter()
                                .filter_map(|f| {
                                    Some((
                                        f.id().parse::<usize>().ok()?,
                                        f.message().unwrap_or(f.code()).to_string(),
                                    ))
                                })
                                .collect();
                            pending.retain(|(i, _)| failed.iter().any(|(f, _)| f == i));
                            if round == 1 {
                                results.extend(failed.into_iter().map(|(i, e)| (i, Err(e))));
                            }
                        }
                        Err(e) => {
                            let why = aws_sdk_sqs::error::DisplayErrorContext(e).to_string();
                            if round == 1 {
                                results.extend(pending.iter().map(|(i, _)| (*i, Err(why.clone()))));
                            }
                        }
                    }
                }
                results
            }
        };
        let chunks: Vec<Vec<(usize, T)>> = msgs
            .iter()
            .cloned()
            .enumerate()
            .collect::<Vec<_>>()
            .chunks(10)
            .map(<[_]>::to_vec)
            .collect();
        let mut all: Vec<Result<String, String>> = vec![Err("not sent".to_string()); msgs.len()];
        let mut stream =
            futures::stream::iter(chunks.into_iter().map(send_chunk)).buffer_unordered(4);
        while let Some(results) = stream.next().await {
            for (i, r) in results {
                if let Some(slot) = all.get_mut(i) {
                    *slot = r;
                }
            }
        }
        Ok(all)
    }
}

/// Queues that carry other messages than jobs: inbound GitHub deliveries to process
/// (`{project_id, event_id}`, job-github-event).
pub const GITHUB_EVENT_QUEUE: &str = "github_event";
const OTHER_QUEUES: &[&str] = &[GITHUB_EVENT_QUEUE];

/// QUEUE_URL_<NAME> variables present in the environment: one per job type, and the
/// `OTHER_QUEUES`.
pub fn urls_from(lookup: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    JobType::VALUES
        .iter()
        .chain(OTHER_QUEUES)
        .filter_map(|t| {
            lookup(&format!("QUEUE_URL_{}", t.to_uppercase()))
                .filter(|u| !u.is_empty())
                .map(|u| (t.to_string(), u))
        })
        .collect()
}

/// An SQS message as Lambda's event source mapping hands it to a function (the dev server's
/// pollers and tests deliver real queue messages this way).
pub fn to_lambda_message(
    m: &aws_sdk_sqs::types::Message,
) -> aws_lambda_events::event::sqs::SqsMessage {
    let mut msg = aws_lambda_events::event::sqs::SqsMessage::default();
    msg.message_id = m.message_id().map(str::to_string);
    msg.receipt_handle = m.receipt_handle().map(str::to_string);
    msg.body = m.body().map(str::to_string);
    msg.attributes = m
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    msg
}

/// Dead-letter queue URLs by job type (DLQ_URL_<JOB_TYPE>, on the dlq-handler).
pub fn dlq_urls_from(lookup: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    JobType::VALUES
        .iter()
        .filter_map(|t| {
            lookup(&format!("DLQ_URL_{}", t.to_uppercase()))
                .filter(|u| !u.is_empty())
                .map(|u| (t.to_string(), u))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = JobMessage {
            job_id: 1,
            project_id: 2,
            job_type: JobType::BatchImport,
            not_before: None,
        };
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(
            s,
            r#"{"job_id":1,"project_id":2,"job_type":"batch_import"}"#
        );
        assert_eq!(serde_json::from_str::<JobMessage>(&s).unwrap(), m);
    }

    #[test]
    fn queue_urls_come_from_the_environment() {
        let urls = urls_from(|k| (k == "QUEUE_URL_BATCH_IMPORT").then(|| "http://q".to_string()));
        assert_eq!(
            urls.get("batch_import").map(String::as_str),
            Some("http://q")
        );
        assert_eq!(urls.len(), 1);
    }
}
