//! Outbound webhooks (API.md §10.2): deliveries are created by the fan-out (one per event ×
//! matching config, from the table's stream), by `POST /webhooks/deliveries` and by
//! webhook_delivery jobs; each is queued on the webhook_delivery queue and attempted by
//! `deliver`, which signs, sends through `send` (the SSRF-guarded client), records the
//! outcome and schedules the retries.

pub mod deliver;
pub mod fanout;
pub mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::jobs::JobType;
use crate::domain::validate::EnumValues;
use crate::domain::webhook::DeliveryStatus;
use crate::domain::{Id, Timestamp};
use crate::queue::{QueueError, Queues};
use crate::secrets::{Sealer, SecretsError};
use crate::store::kinds::{WEBHOOK_CONFIGS, WEBHOOK_DELIVERIES};
use crate::store::records::{id_of, record_of, Record, CHECK_BASE, CREATE_MARKER_INDEX};
use crate::store::{Store, StoreError};

/// The queue deliveries travel on (shared with webhook_delivery jobs).
pub const QUEUE: JobType = JobType::WebhookDelivery;

/// Opened secrets kept per warm process (a config's secret is opened once, not per attempt).
const OPENED_MAX: usize = 1024;

/// What delivering needs, built once per process: the HTTP client and the secret opener.
#[derive(Clone)]
pub struct Webhooks {
    pub sender: send::Sender,
    sealer: Sealer,
    opened: Arc<Mutex<HashMap<String, String>>>,
}

impl Webhooks {
    pub fn new(sender: send::Sender, sealer: Sealer) -> Self {
        Self {
            sender,
            sealer,
            opened: Arc::default(),
        }
    }

    /// A config's signing secret (KMS-opened once per process and ciphertext).
    pub async fn secret(&self, pid: Id, sealed: &str) -> Result<String, SecretsError> {
        if let Some(s) = self.lock().get(sealed) {
            return Ok(s.clone());
        }
        let secret = self.sealer.open(pid, sealed).await?;
        let mut opened = self.lock();
        if opened.len() >= OPENED_MAX {
            opened.clear();
        }
        opened.insert(sealed.to_string(), secret.clone());
        Ok(secret)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.opened.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The SQS message of one scheduled attempt. `dispatch` numbers the delivery's schedules: a
/// message of an older schedule (superseded by a retry) is dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub delivery_id: Id,
    pub project_id: Id,
    pub config_id: Id,
    pub dispatch: i64,
}

impl DeliveryMessage {
    pub fn of(d: &Record) -> Self {
        Self {
            delivery_id: id_of(d),
            project_id: num(d, "project_id") as Id,
            config_id: num(d, "config_id") as Id,
            dispatch: num(d, "dispatch"),
        }
    }

    /// Whether an SQS body is a delivery message (the queue also carries job messages).
    pub fn parse(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }
}

pub(crate) fn num(r: &Record, k: &str) -> i64 {
    r.get(k).and_then(Value::as_i64).unwrap_or(0)
}

pub(crate) fn text<'a>(r: &'a Record, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `config_status` of a delivery: its breakdown key under its config (statistics per config).
pub fn config_status(config_id: Id, status: DeliveryStatus) -> String {
    format!("{config_id}:{status}")
}

/// A delivery to create.
pub struct NewDelivery<'a> {
    pub config: &'a Record,
    pub event_type: &'a str,
    pub data: Value,
    /// The envelope's timestamp: when the event was emitted.
    pub emitted_at: String,
    pub target_url: String,
    /// Unique per delivery: `event:<event id>:<config id>`, `job:<job id>`, `manual:<uuid>`.
    pub origin: String,
}

/// What `create` found.
#[derive(Debug)]
pub enum Created {
    New(Record),
    /// The origin already has its delivery (a repeated fan-out or job attempt).
    Existing(Record),
}

impl Created {
    pub fn record(&self) -> &Record {
        match self {
            Created::New(r) | Created::Existing(r) => r,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("Webhook configuration {0} not found")]
    ConfigGone(Id),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a pending delivery (attempt 1, due now) with its pointer, origin marker and
/// counters in one transaction, on condition that its config still exists. An origin that
/// already has its delivery returns that one (exactly one delivery per event × config).
pub async fn create(store: &Store, pid: Id, new: NewDelivery<'_>) -> Result<Created, CreateError> {
    create_with(store, pid, new, None).await
}

/// `create`, or with `failed` a delivery that is failed from the start with that error (one
/// that cannot be sent, kept so that the loss is visible in the API and the statistics).
pub async fn create_with(
    store: &Store,
    pid: Id,
    new: NewDelivery<'_>,
    failed: Option<String>,
) -> Result<Created, CreateError> {
    let config_id = id_of(new.config);
    let now = Timestamp::now().to_rfc3339();
    let status = if failed.is_some() {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    let mut r = Record::new();
    r.insert("config_id".into(), Value::from(config_id));
    r.insert("event_type".into(), Value::from(new.event_type));
    r.insert("payload".into(), new.data);
    r.insert("target_url".into(), Value::from(new.target_url));
    r.insert("attempt_number".into(), Value::from(1));
    r.insert("status".into(), Value::from(status.as_str()));
    if let Some(why) = failed {
        r.insert("error_message".into(), Value::from(why));
        r.insert("completed_at".into(), Value::from(now.clone()));
    }
    r.insert("scheduled_for".into(), Value::from(now.clone()));
    r.insert("created_at".into(), Value::from(now.clone()));
    r.insert("updated_at".into(), Value::from(now));
    r.insert("emitted_at".into(), Value::from(new.emitted_at));
    r.insert("origin".into(), Value::from(new.origin.clone()));
    r.insert("budget_start".into(), Value::from(1));
    r.insert("dispatch".into(), Value::from(1));
    r.insert(
        "config_status".into(),
        Value::from(config_status(config_id, status)),
    );
    let config_key = WEBHOOK_CONFIGS.key(pid, config_id);
    match store
        .create_record(&WEBHOOK_DELIVERIES, pid, r, |_| Vec::new(), &[config_key])
        .await
    {
        Ok(r) => Ok(Created::New(r)),
        Err(StoreError::Condition(CREATE_MARKER_INDEX)) => {
            let marker = crate::store::keys::project_unique(
                pid,
                WEBHOOK_DELIVERIES.prefix,
                &new.origin.to_lowercase(),
            );
            let id = store
                .get(&marker)
                .await?
                .and_then(|m| crate::store::attr_n(&m, "item_id"))
                .ok_or_else(|| StoreError::Unavailable("a delivery is being created".into()))?;
            match store.get(&WEBHOOK_DELIVERIES.key(pid, id as Id)).await? {
                Some(item) => Ok(Created::Existing(record_of(item)?)),
                None => Err(StoreError::Unavailable("a delivery is being created".into()).into()),
            }
        }
        Err(StoreError::Condition(CHECK_BASE)) => Err(CreateError::ConfigGone(config_id)),
        Err(e) => Err(e.into()),
    }
}

/// Queues the next attempt of `delivery` (delayed until its scheduled_for, at most 15 min:
/// the worker re-delays an early message).
pub async fn queue(queues: &Queues, delivery: &Record) -> Result<(), QueueError> {
    let due = Timestamp::parse(text(delivery, "scheduled_for"))
        .map(|t| t.unix())
        .unwrap_or(0);
    let delay = (due - Timestamp::now().unix()).max(0);
    queues
        .send_message(QUEUE, &DeliveryMessage::of(delivery), delay)
        .await
        .map(|_| ())
}

/// Queues many deliveries at once (SendMessageBatch); returns how many could not be sent.
pub async fn queue_all(queues: &Queues, deliveries: &[Record]) -> Result<usize, QueueError> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let msgs: Vec<DeliveryMessage> = deliveries.iter().map(DeliveryMessage::of).collect();
    let sent = queues.send_messages(QUEUE, &msgs).await?;
    Ok(sent.iter().filter(|r| r.is_err()).count())
}

/// Whether a delivery was created but never attempted nor queued again since (the fan-out
/// re-queues those when it meets their origin again).
pub fn never_attempted(d: &Record) -> bool {
    text(d, "status") == DeliveryStatus::Pending.as_str()
        && d.get("attempted_at").is_none_or(Value::is_null)
}

/// Deletes the configs bound to repository `repo_id` with their deliveries (each config and
/// its deliveries consistently, `delete_cascade`). Repository delete calls it before and
/// after removing the repository: a config created for it meanwhile (its create checks the
/// repository exists) is caught by the second pass.
pub async fn delete_repository_configs(
    store: &Store,
    pid: Id,
    repo_id: Id,
) -> Result<usize, StoreError> {
    let configs = store.records(pid, WEBHOOK_CONFIGS.prefix).await?;
    let mut removed = 0;
    for c in configs
        .into_iter()
        .filter(|c| c.get("repository_id").and_then(Value::as_u64) == Some(repo_id))
    {
        if let crate::store::records::Cascade::Deleted(_) = store
            .delete_cascade(
                &WEBHOOK_CONFIGS,
                pid,
                c,
                Some((&WEBHOOK_DELIVERIES, "config_id")),
                |_| true,
                |_| Vec::new(),
            )
            .await?
        {
            removed += 1;
        }
    }
    Ok(removed)
}
