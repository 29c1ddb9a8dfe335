//! Domain events (API.md §10.2 catalogue). Every create/update/delete records its event through
//! `emit`, inside the write's own transaction, so an event exists exactly when its change does.
//! Stored events expire after `RETENTION_SECS`; the webhook fan-out reads them.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde_json::Value;

use crate::domain::ids::sk_id;
use crate::domain::{new_id, Id, Timestamp};
use crate::store::{keys, n, s, tx, Key, Store, StoreError};
use crate::string_enum;

string_enum!(
    /// A webhook event type.
    EventType {
        RepositorySynced = "repository.synced",
        TechnologyCreated = "technology.created",
        TechnologyUpdated = "technology.updated",
        TechnologyDeleted = "technology.deleted",
        ResearchTaskCreated = "research_task.created",
        ResearchTaskUpdated = "research_task.updated",
        ResearchTaskCompleted = "research_task.completed",
        JobCompleted = "job.completed",
        JobFailed = "job.failed",
        AnalysisComplete = "analysis.complete",
        ExportComplete = "export.complete",
    }
);

pub const RETENTION_SECS: i64 = 7 * 24 * 3600;
pub const EVENT_PREFIX: &str = "EVENT#";

pub fn event_key(project_id: Id, id: Id) -> Key {
    Key::new(
        keys::project_pk(project_id),
        format!("{EVENT_PREFIX}{}", sk_id(id)),
    )
}

/// Adds the event to a write transaction.
pub fn emit(
    items: &mut Vec<TransactWriteItem>,
    table: &str,
    project_id: Id,
    event: EventType,
    data: Value,
) -> Result<(), StoreError> {
    let id = new_id();
    let now = Timestamp::now();
    let mut item = event_key(project_id, id).to_item();
    item.insert("id".into(), n(id));
    item.insert("project_id".into(), n(project_id));
    item.insert("event_type".into(), s(event.to_string()));
    item.insert(
        "data".into(),
        serde_dynamo::to_attribute_value(data).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    );
    item.insert("created_at".into(), s(now.to_rfc3339()));
    item.insert("expires_at".into(), n(now.unix() + RETENTION_SECS));
    crate::store::check_item_size(&item)?;
    items.push(tx::put(item, Some("attribute_not_exists(pk)")).build(table));
    Ok(())
}

/// A stored event.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
pub struct StoredEvent {
    pub id: Id,
    pub project_id: Id,
    pub event_type: String,
    pub data: Value,
    pub created_at: Timestamp,
}

impl Store {
    /// A project's events, oldest first.
    pub async fn events(&self, project_id: Id) -> Result<Vec<StoredEvent>, StoreError> {
        self.query_prefix(&keys::project_pk(project_id), EVENT_PREFIX, None, true)
            .await?
            .into_iter()
            .map(crate::store::from_item)
            .collect()
    }
}
