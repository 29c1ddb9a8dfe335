//! SQS pollers: what Lambda's event source mappings do on AWS. Each job queue is polled and
//! its messages handed to the job runner as a real `SqsEvent`; records reported in
//! `batchItemFailures` are left in the queue (with the runner's back-off), so moto redrives
//! them to the dead-letter queue after maxReceiveCount, whose poller runs the dlq handler.
//! The `github-event` queue (inbound GitHub deliveries) and its dead-letter queue are polled
//! for job-github-event's handlers.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use commandcenter::domain::jobs::JobType;
use commandcenter::domain::validate::EnumValues;
use commandcenter::jobs::github_event;
use commandcenter::jobs::runner::{handle_batch, handle_dead_letters};
use commandcenter::jobs::work::work_for;
use commandcenter::jobs::JobState;
use commandcenter::queue::to_lambda_message;
use commandcenter::queue::GITHUB_EVENT_QUEUE;

const IDLE: Duration = Duration::from_millis(500);

/// Starts one poller per job queue and per dead-letter queue.
pub fn spawn(state: JobState, dlq_urls: std::collections::BTreeMap<String, String>) {
    for (name, url) in state.config.queue_urls.clone() {
        let Some(job_type) = JobType::parse(&name) else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let work = work_for(job_type);
            poll(state.clone(), url, move |state, event| {
                let work = work.clone();
                async move { handle_batch(&state, job_type, &work, event).await }
            })
            .await;
        });
    }
    for (_, url) in dlq_urls {
        let state = state.clone();
        tokio::spawn(poll(state, url, |state, event| async move {
            handle_dead_letters(&state, event).await
        }));
    }
    // Inbound GitHub deliveries (job-github-event) and its dead-letter queue.
    if let Some(url) = state.queues.url_of(GITHUB_EVENT_QUEUE).map(str::to_string) {
        tokio::spawn(poll(state.clone(), url, |state, event| async move {
            github_event::handle_batch(&state, event).await
        }));
    }
    if let Some(url) = std::env::var("DLQ_URL_GITHUB_EVENT")
        .ok()
        .filter(|u| !u.is_empty())
    {
        tokio::spawn(poll(state, url, |state, event| async move {
            github_event::handle_dead_letters(&state, event).await
        }));
    }
}

async fn poll<F, Fut>(state: JobState, url: String, handler: F)
where
    F: Fn(JobState, SqsEvent) -> Fut,
    Fut: std::future::Future<Output = SqsBatchResponse>,
{
    loop {
        let received = state
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(queue = %url, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "poll failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if messages.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(to_lambda_message).collect();
        let response = handler(state.clone(), event).await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for m in &messages {
            if failed.contains(&m.message_id().unwrap_or_default()) {
                continue;
            }
            if let Some(handle) = m.receipt_handle() {
                if let Err(e) = state
                    .sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(handle)
                    .send()
                    .await
                {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not delete a handled message");
                }
            }
        }
    }
}
