//! Inbound GitHub deliveries (API.md §10.1) in the table:
//!
//! * repositories carry a sparse gsi1 entry `GHREPO#<lower-case full_name>` /
//!   `<pid>#<rid>` (16-digit ids), so one Query finds every project tracking a repository;
//! * webhook configs (`PROJECT#<pid>` / `WHCFG#<id>`, written by the config API) are read one
//!   Query per tracking project, for their repository_id, active flag and sealed secret;
//! * a delivery is remembered by a marker `GHDELIVERY#<X-GitHub-Delivery>` / `DELIVERY`
//!   (TTL 7 days), written on condition in the same transaction as the WebhookEvent items
//!   (`PROJECT#<pid>` / `WHEVT#<id>`, TTL 7 days): either the delivery is new and every event
//!   exists, or it was known and nothing is written.
//!
//! The payload is stored as compact JSON text (attribute `payload`), cut to the item budget
//! by `domain::github_event::stored_payload`: text keeps GitHub's numbers and nesting exactly
//! as sent, whatever DynamoDB's number and depth rules.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde_json::Value;

use super::records::project_live_check;
use super::{attr_bool, attr_n, attr_s, keys, n, s, tx, Item, Key, Store, StoreError};
use crate::domain::github_event::{WebhookEvent, RETENTION_SECS};
use crate::domain::ids::sk_id;
use crate::domain::{Id, Timestamp};

/// Sort-key prefix of stored deliveries in a project's partition.
pub const EVENT_PREFIX: &str = "WHEVT#";
/// Sort-key prefix of webhook configs (the config API writes them).
pub const CONFIG_PREFIX: &str = "WHCFG#";

/// The gsi1 entry of a tracked repository: all projects tracking `full_name` (any case).
pub fn repo_index(full_name: &str, pid: Id, rid: Id) -> (String, String) {
    (
        repo_index_pk(full_name),
        format!("{}#{}", sk_id(pid), sk_id(rid)),
    )
}

pub fn repo_index_pk(full_name: &str) -> String {
    format!("GHREPO#{}", full_name.to_lowercase())
}

pub fn event_key(pid: Id, id: Id) -> Key {
    Key::new(
        keys::project_pk(pid),
        format!("{EVENT_PREFIX}{}", sk_id(id)),
    )
}

/// The dedupe marker of a delivery.
pub fn delivery_marker(delivery_id: &str) -> Key {
    Key::new(format!("GHDELIVERY#{delivery_id}"), "DELIVERY")
}

/// A tracked repository found through gsi1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracking {
    pub project_id: Id,
    pub repository_id: Id,
}

/// What the inbound endpoint needs of a webhook config.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigKey {
    pub id: Id,
    pub project_id: Id,
    pub repository_id: Option<Id>,
    pub active: bool,
    pub secret_sealed: Option<String>,
}

/// One event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub project_id: Id,
    pub config_id: Option<Id>,
    /// Compact JSON (already within its budget).
    pub payload: String,
}

/// What `record_delivery` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Stored: (project, event id) of each event.
    Stored(Vec<(Id, Id)>),
    /// The delivery id was known: nothing written.
    Duplicate,
    /// Every project went away meanwhile: nothing written.
    NoProject,
}

/// Events per transaction beside the marker: each is a put and a project check (100 items).
pub const EVENTS_PER_TRANSACTION: usize = 49;

fn event_of(item: Item) -> Result<WebhookEvent, StoreError> {
    let corrupt = |f: &str| StoreError::Corrupt(format!("webhook event without {f}"));
    let text = |f: &str| attr_s(&item, f);
    let time = |f: &str| text(f).and_then(|t| Timestamp::parse(&t));
    let payload = text("payload")
        .and_then(|p| serde_json::from_str::<Value>(&p).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    Ok(WebhookEvent {
        id: attr_n(&item, "id").ok_or_else(|| corrupt("id"))? as Id,
        project_id: attr_n(&item, "project_id").ok_or_else(|| corrupt("project_id"))? as Id,
        config_id: attr_n(&item, "config_id").map(|c| c as Id),
        event_type: text("event_type").ok_or_else(|| corrupt("event_type"))?,
        delivery_id: text("delivery_id").ok_or_else(|| corrupt("delivery_id"))?,
        payload,
        repository_full_name: text("repository_full_name"),
        processed: attr_bool(&item, "processed").unwrap_or(false),
        processed_at: time("processed_at"),
        error: text("error"),
        received_at: time("received_at").ok_or_else(|| corrupt("received_at"))?,
    })
}

/// Filters of `GET /webhooks/events`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    /// Compared ignoring case (GitHub names do).
    pub repository_full_name: Option<String>,
    pub processed: Option<bool>,
}

impl EventFilter {
    fn admits(&self, e: &WebhookEvent) -> bool {
        self.event_type.as_deref().is_none_or(|t| e.event_type == t)
            && self.repository_full_name.as_deref().is_none_or(|r| {
                e.repository_full_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(r))
            })
            && self.processed.is_none_or(|p| e.processed == p)
    }
}

impl Store {
    /// Every project tracking `full_name` (any case): one gsi1 Query (paged only past 1 MB).
    pub async fn repositories_named(&self, full_name: &str) -> Result<Vec<Tracking>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(repo_index_pk(full_name)))
            .projection_expression("project_id, id");
        Ok(self
            .paginate(q, None)
            .await?
            .iter()
            .filter_map(|i| {
                Some(Tracking {
                    project_id: attr_n(i, "project_id")? as Id,
                    repository_id: attr_n(i, "id")? as Id,
                })
            })
            .collect())
    }

    /// The repositories of one project named `full_name` (0 or 1: names are unique per
    /// project, ignoring case): one gsi1 Query.
    pub async fn project_repositories_named(
        &self,
        pid: Id,
        full_name: &str,
    ) -> Result<Vec<Id>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :p)")
            .expression_attribute_values(":pk", s(repo_index_pk(full_name)))
            .expression_attribute_values(":p", s(format!("{}#", sk_id(pid))))
            .projection_expression("project_id, id");
        Ok(self
            .paginate(q, None)
            .await?
            .iter()
            .filter(|i| attr_n(i, "project_id") == Some(pid as i64))
            .filter_map(|i| Some(attr_n(i, "id")? as Id))
            .collect())
    }

    /// A project's webhook configs (keys only: id, repository_id, active, sealed secret).
    pub async fn webhook_config_keys(&self, pid: Id) -> Result<Vec<ConfigKey>, StoreError> {
        Ok(self
            .query_prefix(&keys::project_pk(pid), CONFIG_PREFIX, None, true)
            .await?
            .iter()
            .filter_map(|i| {
                let id = attr_n(i, "id")
                    .map(|x| x as Id)
                    .or_else(|| attr_s(i, "sk")?.strip_prefix(CONFIG_PREFIX)?.parse().ok())?;
                Some(ConfigKey {
                    id,
                    project_id: pid,
                    repository_id: attr_n(i, "repository_id").map(|r| r as Id),
                    active: attr_bool(i, "active").unwrap_or(false),
                    secret_sealed: attr_s(i, "secret_sealed"),
                })
            })
            .collect())
    }

    /// Stores a delivery: the marker (condition: unknown or expired) and one event per
    /// project, each with its project's live check, in one transaction (more than
    /// `EVENTS_PER_TRANSACTION` projects: the rest in further transactions after it). A
    /// project deleted meanwhile is left out and the write retried.
    pub async fn record_delivery(
        &self,
        delivery_id: &str,
        event_type: &str,
        repository_full_name: Option<&str>,
        mut events: Vec<NewEvent>,
    ) -> Result<Recorded, StoreError> {
        let now = Timestamp::now();
        let expires = now.unix() + RETENTION_SECS;
        let put_event = |e: &NewEvent, id: Id| -> TransactWriteItem {
            let mut item = event_key(e.project_id, id).to_item();
            item.insert("id".into(), n(id));
            item.insert("project_id".into(), n(e.project_id));
            if let Some(c) = e.config_id {
                item.insert("config_id".into(), n(c));
            }
            item.insert("event_type".into(), s(event_type));
            item.insert("delivery_id".into(), s(delivery_id));
            item.insert("payload".into(), s(e.payload.clone()));
            if let Some(r) = repository_full_name {
                item.insert("repository_full_name".into(), s(r));
            }
            item.insert(
                "processed".into(),
                aws_sdk_dynamodb::types::AttributeValue::Bool(false),
            );
            item.insert("received_at".into(), s(now.to_rfc3339()));
            item.insert("expires_at".into(), n(expires));
            tx::put(item, Some("attribute_not_exists(pk)")).build(&self.table)
        };
        let mut stored = Vec::new();
        let mut first = true;
        while !events.is_empty() {
            let take = events.len().min(EVENTS_PER_TRANSACTION);
            let mut chunk: Vec<NewEvent> = events.drain(..take).collect();
            loop {
                if chunk.is_empty() {
                    break;
                }
                let ids: Vec<Id> = chunk.iter().map(|_| crate::domain::new_id()).collect();
                let mut items = Vec::new();
                if first {
                    let mut marker = delivery_marker(delivery_id).to_item();
                    marker.insert("delivery_id".into(), s(delivery_id));
                    marker.insert("event_type".into(), s(event_type));
                    marker.insert("received_at".into(), s(now.to_rfc3339()));
                    marker.insert("expires_at".into(), n(expires));
                    items.push(
                        tx::put(
                            marker,
                            Some("attribute_not_exists(pk) OR expires_at < :now"),
                        )
                        .value(":now", n(now.unix()))
                        .build(&self.table),
                    );
                }
                let base = items.len();
                for (e, id) in chunk.iter().zip(&ids) {
                    items.push(put_event(e, *id));
                    items.push(project_live_check(e.project_id, &self.table));
                }
                match self.transact(items).await {
                    Ok(()) => {
                        stored.extend(chunk.iter().map(|e| e.project_id).zip(ids));
                        first = false;
                        break;
                    }
                    Err(StoreError::Condition(0)) if first => return Ok(Recorded::Duplicate),
                    // A project's live check (odd offsets): leave that project out.
                    Err(StoreError::Condition(i)) if i >= base && (i - base) % 2 == 1 => {
                        chunk.remove((i - base) / 2);
                    }
                    // An id collision (even offsets): new ids.
                    Err(StoreError::Condition(i)) if i >= base => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if stored.is_empty() {
            return Ok(Recorded::NoProject);
        }
        Ok(Recorded::Stored(stored))
    }

    pub async fn webhook_event(&self, pid: Id, id: Id) -> Result<Option<WebhookEvent>, StoreError> {
        self.get(&event_key(pid, id))
            .await?
            .map(event_of)
            .transpose()
    }

    /// A project's stored deliveries, newest first (ids follow receipt time), filtered, at
    /// most `limit`: Queries of up to `limit` items until enough match.
    pub async fn webhook_events(
        &self,
        pid: Id,
        filter: &EventFilter,
        limit: usize,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":pk", s(keys::project_pk(pid)))
                .expression_attribute_values(":p", s(EVENT_PREFIX))
                .scan_index_forward(false)
                .limit(super::query_limit(limit.max(100)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(super::classify)?;
            for item in page.items.unwrap_or_default() {
                let e = event_of(item)?;
                if filter.admits(&e) {
                    out.push(e);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// The update that marks an event processed, on condition it was not yet (a duplicate
    /// processing message then writes nothing).
    pub fn event_processed(&self, pid: Id, id: Id, job_ids: &[Id]) -> TransactWriteItem {
        let mut up = tx::update(
            &event_key(pid, id),
            "SET #processed = :t, processed_at = :now, job_ids = :jobs REMOVE #error",
        )
        .condition("#processed = :f")
        .name("#processed", "processed")
        .name("#error", "error")
        .value(":t", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
        .value(":f", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
        .value(":now", s(Timestamp::now().to_rfc3339()));
        up = up.value(
            ":jobs",
            aws_sdk_dynamodb::types::AttributeValue::L(job_ids.iter().map(n).collect()),
        );
        up.build(&self.table)
    }

    /// Marks an event processed (no job): false when it already was (or is gone).
    pub async fn mark_event_processed(&self, pid: Id, id: Id) -> Result<bool, StoreError> {
        Ok(self
            .update_one(self.event_processed(pid, id, &[]))
            .await?
            .is_some())
    }

    /// Records why processing failed (the event stays unprocessed).
    pub async fn record_event_error(&self, pid: Id, id: Id, error: &str) -> Result<(), StoreError> {
        let up = tx::update(&event_key(pid, id), "SET #error = :e")
            .condition("attribute_exists(pk) AND #processed = :f")
            .name("#processed", "processed")
            .name("#error", "error")
            .value(":e", s(error.chars().take(1000).collect::<String>()))
            .value(":f", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
            .build(&self.table);
        self.update_one(up).await.map(|_| ())
    }
}
