//! One delivery attempt (API.md §10.2 Sending, Outcome): read the delivery and its config (one
//! BatchGetItem), claim the attempt (pending|retrying → delivering, version-conditioned, with
//! a lease), sign and POST, then record the outcome with its counters and the config's
//! last_delivery_at in one transaction. A duplicate or superseded message changes nothing;
//! a message that arrives before its attempt is due is sent again with the rest of the delay.
//! The message is acknowledged only once the state it leads to is stored.

use aws_lambda_events::event::sqs::SqsMessage;
use serde_json::Value;

use super::send::Attempt;
use super::{config_status, num, text, DeliveryMessage, QUEUE};
use crate::domain::delivery::{
    classify, hub_signature, retry_delay_secs, standard_signature, Answer,
};
use crate::domain::validate::EnumValues;
use crate::domain::webhook::{envelope, DeliveryStatus};
use crate::domain::{Id, Timestamp};
use crate::jobs::JobState;
use crate::queue::MAX_SQS_DELAY_SECS;
use crate::store::kinds::{WEBHOOK_CONFIGS, WEBHOOK_DELIVERIES};
use crate::store::records::{record_of, version_of, Record};
use crate::store::{n, s, tx, StoreError};

/// How long a claimed attempt is this worker's (the send takes at most 15 s).
pub const LEASE_SECS: i64 = 60;
/// First characters of a response body that are kept.
pub const BODY_KEPT: usize = 10_000;
/// First characters of a response body quoted in error_message.
const BODY_QUOTED: usize = 500;

/// What handling one message came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// An attempt was made (or the delivery failed before one): its new status.
    Attempted(DeliveryStatus),
    /// Nothing to do: gone, final, superseded, or claimed by another worker.
    Skipped(&'static str),
    /// Not due yet: sent again with the remaining delay.
    Redelayed,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// Leave the message for another delivery (AWS trouble).
    #[error("{0}")]
    Retryable(String),
}

impl From<StoreError> for DeliverError {
    fn from(e: StoreError) -> Self {
        DeliverError::Retryable(e.to_string())
    }
}

/// Handles the delivery messages of an SQS batch; returns the ids of those to leave in the
/// queue.
pub async fn handle_messages(
    state: &JobState,
    messages: &[(SqsMessage, DeliveryMessage)],
) -> Vec<String> {
    let results = futures::future::join_all(messages.iter().map(|(m, d)| async move {
        match handle(state, d).await {
            Ok(h) => {
                tracing::info!(delivery_id = d.delivery_id, outcome = ?h, "delivery message handled");
                None
            }
            Err(e) => {
                tracing::warn!(delivery_id = d.delivery_id, error = %e, "delivery message left for redelivery");
                m.message_id.clone()
            }
        }
    }))
    .await;
    results.into_iter().flatten().collect()
}

/// One message: the attempt it schedules, if it is still the delivery's next one.
pub async fn handle(state: &JobState, msg: &DeliveryMessage) -> Result<Handled, DeliverError> {
    let (pid, id) = (msg.project_id, msg.delivery_id);
    let (dkey, ckey) = (
        WEBHOOK_DELIVERIES.key(pid, id),
        WEBHOOK_CONFIGS.key(pid, msg.config_id),
    );
    let mut found = state.store.batch_get(&[dkey.clone(), ckey.clone()]).await?;
    let Some(item) = found.remove(&dkey) else {
        return Ok(Handled::Skipped("gone"));
    };
    let delivery = record_of(item)?;
    let config = found.remove(&ckey).map(record_of).transpose()?;
    attempt(state, delivery, config, Some(msg.dispatch)).await
}

/// Attempts `delivery` if it is due and this schedule (`dispatch`; None = whatever is
/// current, for the webhook_delivery job's inline first attempt) is still its own.
pub async fn attempt(
    state: &JobState,
    delivery: Record,
    config: Option<Record>,
    dispatch: Option<i64>,
) -> Result<Handled, DeliverError> {
    let now = Timestamp::now();
    let status = DeliveryStatus::parse(text(&delivery, "status"));
    if dispatch.is_some_and(|d| d != num(&delivery, "dispatch")) {
        return Ok(Handled::Skipped("superseded"));
    }
    match status {
        Some(DeliveryStatus::Pending | DeliveryStatus::Retrying) => {}
        Some(DeliveryStatus::Delivering) if num(&delivery, "lease_until") < now.unix() => {}
        Some(DeliveryStatus::Delivering) => return Ok(Handled::Skipped("claimed")),
        _ => return Ok(Handled::Skipped("final")),
    }
    let due = Timestamp::parse(text(&delivery, "scheduled_for"))
        .map(|t| t.unix())
        .unwrap_or(0);
    if due > now.unix() + 1 {
        let delay = (due - now.unix()).min(MAX_SQS_DELAY_SECS);
        state
            .queues
            .send_message(QUEUE, &DeliveryMessage::of(&delivery), delay)
            .await
            .map_err(|e| DeliverError::Retryable(e.to_string()))?;
        return Ok(Handled::Redelayed);
    }
    let pid = num(&delivery, "project_id") as Id;
    let config_id = num(&delivery, "config_id") as Id;
    // The config must exist and be active at the attempt, as at the request.
    let config = match config {
        Some(c) if c.get("active").and_then(Value::as_bool) == Some(true) => c,
        Some(_) => {
            let why = format!("Webhook configuration {config_id} is inactive");
            return finish(state, &delivery, None, failed(&now, why), None).await;
        }
        None => {
            let why = format!("Webhook configuration {config_id} not found");
            return finish(state, &delivery, None, failed(&now, why), None).await;
        }
    };
    // Claim: only one worker attempts a schedule.
    let mut claimed = delivery.clone();
    set_status(&mut claimed, config_id, DeliveryStatus::Delivering);
    claimed.insert("lease_until".into(), Value::from(now.unix() + LEASE_SECS));
    claimed.insert("attempted_at".into(), Value::from(now.to_rfc3339()));
    bump(&mut claimed, &now);
    match state
        .store
        .update_record(
            &WEBHOOK_DELIVERIES,
            pid,
            &delivery,
            &claimed,
            vec![],
            vec![],
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Condition(0)) => return Ok(Handled::Skipped("claimed")),
        Err(e) => return Err(e.into()),
    }
    let secret = state
        .webhooks
        .secret(pid, text(&config, "secret_sealed"))
        .await
        .map_err(|e| DeliverError::Retryable(e.to_string()))?;
    let id = crate::store::records::id_of(&delivery).to_string();
    let body = envelope(
        text(&delivery, "event_type"),
        text(&delivery, "emitted_at"),
        pid,
        delivery.get("payload").unwrap_or(&Value::Null),
    );
    let ts = Timestamp::now().unix();
    let headers = [
        ("webhook-id", id.clone()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            standard_signature(&secret, &id, ts, &body),
        ),
        ("X-Hub-Signature-256", hub_signature(&secret, &body)),
        ("X-Webhook-Event", text(&delivery, "event_type").to_string()),
        ("X-Webhook-Delivery-ID", id.clone()),
    ];
    let sent = state
        .webhooks
        .sender
        .post(text(&delivery, "target_url"), &headers, body.into())
        .await;
    let outcome = outcome_of(&claimed, &config, sent);
    finish(state, &claimed, Some(&config), outcome, Some(&now)).await
}

/// The recorded result of an attempt.
#[derive(Debug)]
pub struct Outcome {
    status: DeliveryStatus,
    http_status_code: Option<u16>,
    response_body: Option<String>,
    error_message: Option<String>,
    duration_ms: Option<u64>,
    /// Seconds until the retry (status retrying).
    retry_in: Option<u64>,
    /// 410: the config is disabled.
    disable_config: bool,
}

fn failed(_now: &Timestamp, why: String) -> Outcome {
    Outcome {
        status: DeliveryStatus::Failed,
        http_status_code: None,
        response_body: None,
        error_message: Some(why),
        duration_ms: None,
        retry_in: None,
        disable_config: false,
    }
}

fn truncate(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

/// Maps what the sender saw onto §10.2's outcome rules.
fn outcome_of(delivery: &Record, config: &Record, sent: Attempt) -> Outcome {
    let (answer, code, body, duration) = match sent {
        Attempt::Blocked => {
            return failed(&Timestamp::now(), "Target address not allowed".into());
        }
        Attempt::Answered {
            status,
            retry_after,
            body,
            duration_ms,
        } => (
            classify(
                status,
                retry_after.as_deref(),
                &truncate(&body, BODY_QUOTED),
            ),
            Some(status),
            Some(truncate(&body, BODY_KEPT)),
            duration_ms,
        ),
        Attempt::Timeout { ms, duration_ms } => (
            Answer::Failed {
                error: format!("Timeout after {ms}ms"),
                retry_after: None,
            },
            None,
            None,
            duration_ms,
        ),
        Attempt::Failed {
            reason,
            duration_ms,
        } => (
            Answer::Failed {
                error: format!("Request error: {reason}"),
                retry_after: None,
            },
            None,
            None,
            duration_ms,
        ),
    };
    let mut out = Outcome {
        status: DeliveryStatus::Delivered,
        http_status_code: code,
        response_body: body,
        error_message: None,
        duration_ms: Some(duration),
        retry_in: None,
        disable_config: false,
    };
    match answer {
        Answer::Delivered => {}
        Answer::Gone => {
            out.status = DeliveryStatus::Failed;
            out.error_message = Some("Endpoint gone (410); configuration disabled".into());
            out.disable_config = true;
        }
        Answer::Failed { error, retry_after } => {
            out.error_message = Some(error);
            let attempt = num(delivery, "attempt_number");
            let retries_used = attempt - num(delivery, "budget_start").max(1);
            if retries_used < num(config, "retry_count") {
                out.status = DeliveryStatus::Retrying;
                let jitter = 0.8 + rand::random::<f64>() * 0.4;
                out.retry_in = Some(retry_delay_secs(
                    num(config, "retry_delay_seconds").max(1) as u64,
                    (retries_used + 1).clamp(1, 64) as u32,
                    jitter,
                    retry_after,
                ));
            } else {
                out.status = DeliveryStatus::Exhausted;
            }
        }
    }
    out
}

fn set_status(r: &mut Record, config_id: Id, status: DeliveryStatus) {
    r.insert("status".into(), Value::from(status.as_str()));
    r.insert(
        "config_status".into(),
        Value::from(config_status(config_id, status)),
    );
}

fn bump(r: &mut Record, now: &Timestamp) {
    r.insert("updated_at".into(), Value::from(now.to_rfc3339()));
    r.insert("version".into(), Value::from(version_of(r) + 1));
}

/// Records an outcome (with the config's last_delivery_at, and its disabling on 410) in one
/// transaction. A retry's message is sent first and the dead letter of an exhausted delivery
/// too: if the transaction then fails, the message of the next schedule finds its schedule
/// unrecorded and is dropped, and this attempt's message comes back after its visibility
/// timeout (the lease has expired by then) — nothing is lost, an attempt may repeat.
async fn finish(
    state: &JobState,
    current: &Record,
    config: Option<&Record>,
    outcome: Outcome,
    attempted: Option<&Timestamp>,
) -> Result<Handled, DeliverError> {
    let now = Timestamp::now();
    let pid = num(current, "project_id") as Id;
    let config_id = num(current, "config_id") as Id;
    let mut next = current.clone();
    set_status(&mut next, config_id, outcome.status);
    next.remove("lease_until");
    let opt = |v: Option<Value>| v.unwrap_or(Value::Null);
    next.insert(
        "http_status_code".into(),
        opt(outcome.http_status_code.map(Value::from)),
    );
    next.insert(
        "response_body".into(),
        opt(outcome.response_body.map(Value::from)),
    );
    next.insert(
        "error_message".into(),
        opt(outcome.error_message.map(Value::from)),
    );
    next.insert(
        "duration_ms".into(),
        opt(outcome.duration_ms.map(Value::from)),
    );
    if outcome.status.is_final() {
        next.insert("completed_at".into(), Value::from(now.to_rfc3339()));
    }
    bump(&mut next, &now);
    if let Some(secs) = outcome.retry_in {
        next.insert(
            "attempt_number".into(),
            Value::from(num(current, "attempt_number") + 1),
        );
        next.insert(
            "scheduled_for".into(),
            Value::from(now.plus_secs(secs as i64).to_rfc3339()),
        );
        next.insert("dispatch".into(), Value::from(num(current, "dispatch") + 1));
        state
            .queues
            .send_message(
                QUEUE,
                &DeliveryMessage::of(&next),
                (secs as i64).min(MAX_SQS_DELAY_SECS),
            )
            .await
            .map_err(|e| DeliverError::Retryable(e.to_string()))?;
    }
    if outcome.status == DeliveryStatus::Exhausted {
        dead_letter(state, &next).await?;
    }
    let mut extra = Vec::new();
    if let (Some(_), Some(t)) = (config, attempted) {
        let key = WEBHOOK_CONFIGS.key(pid, config_id);
        let mut up = if outcome.disable_config {
            tx::update(
                &key,
                "SET last_delivery_at = :t, active = :off, updated_at = :now, version = version + :one",
            )
            .value(":off", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
            .value(":now", s(now.to_rfc3339()))
        } else {
            tx::update(&key, "SET last_delivery_at = :t, version = version + :one")
        };
        up = up
            .value(":t", s(t.to_rfc3339()))
            .value(":one", n(1))
            .condition("attribute_exists(pk)");
        extra.push(up.build(&state.store.table));
    }
    match state
        .store
        .update_record(&WEBHOOK_DELIVERIES, pid, current, &next, vec![], extra)
        .await
    {
        Ok(()) => Ok(Handled::Attempted(outcome.status)),
        // Changed under us (a manual retry, a takeover) or the config went meanwhile: the
        // newer state stands; this message is done.
        Err(StoreError::Condition(_)) => Ok(Handled::Skipped("changed meanwhile")),
        Err(e) => Err(e.into()),
    }
}

/// Puts an exhausted delivery's message on the webhook_delivery dead-letter queue.
async fn dead_letter(state: &JobState, delivery: &Record) -> Result<(), DeliverError> {
    let Some(url) = state.config.webhook_dlq_url.as_deref() else {
        tracing::warn!(
            "DLQ_URL_WEBHOOK_DELIVERY is not set: an exhausted delivery is only recorded"
        );
        return Ok(());
    };
    state
        .queues
        .send_to(url, &DeliveryMessage::of(delivery), 0)
        .await
        .map(|_| ())
        .map_err(|e| DeliverError::Retryable(e.to_string()))
}

/// A delivery message the dead-letter queue received: an exhausted delivery's (already
/// recorded) or one whose attempts kept crashing (maxReceiveCount): that delivery is made
/// `exhausted` unless it already ended.
pub async fn give_up(
    state: &JobState,
    msg: &DeliveryMessage,
    reason: &str,
) -> Result<bool, DeliverError> {
    let key = WEBHOOK_DELIVERIES.key(msg.project_id, msg.delivery_id);
    for _ in 0..3 {
        let Some(item) = state.store.get(&key).await? else {
            return Ok(false);
        };
        let current = record_of(item)?;
        if DeliveryStatus::parse(text(&current, "status")).is_none_or(DeliveryStatus::is_final) {
            return Ok(false);
        }
        let now = Timestamp::now();
        let mut next = current.clone();
        set_status(&mut next, msg.config_id, DeliveryStatus::Exhausted);
        next.remove("lease_until");
        next.insert("error_message".into(), Value::from(reason));
        next.insert("completed_at".into(), Value::from(now.to_rfc3339()));
        bump(&mut next, &now);
        match state
            .store
            .update_record(
                &WEBHOOK_DELIVERIES,
                msg.project_id,
                &current,
                &next,
                vec![],
                vec![],
            )
            .await
        {
            Ok(()) => return Ok(true),
            Err(StoreError::Condition(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(DeliverError::Retryable("the delivery kept changing".into()))
}
