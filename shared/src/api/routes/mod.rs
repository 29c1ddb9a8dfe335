//! One module per route group.

pub mod analysis;
pub mod auth;
pub mod batch;
pub mod dashboard;
pub mod export;
pub mod github;
pub mod jobs;
pub mod meta;
pub mod projects;
pub mod rate_limits;
pub mod repositories;
pub mod research_tasks;
pub mod schedules;
pub mod technologies;
pub mod webhooks;
pub mod webhooks_inbound;

use serde_json::{Map, Value};

use crate::domain::validate::{Fields, Kind, Spec};
use crate::domain::Id;

/// The optional body `project_id` of a collection write: 0 or null = absent, else an id; a
/// project named by X-Project-ID or the query too must be the same (API.md §0.3).
pub(crate) const PROJECT_ID: &[Spec] = &[Spec::opt(
    "project_id",
    Kind::Int {
        min: Some(0),
        max: Some(crate::domain::ids::MAX_ID as i64),
    },
)];

/// The optional body `project_id` of a collection write (0 = absent).
pub(crate) fn body_project(f: &mut Fields<'_>) -> Option<Id> {
    match f.record(PROJECT_ID, false).get("project_id") {
        Some(v) => v.as_u64().filter(|n| *n > 0),
        None => None,
    }
}

/// Deletes an item (with the records linked to it) through `Store::delete_cascade` and
/// removes the S3 documents of what went: 204, or the item's 404 when it is gone.
pub(crate) async fn delete_item<K: crate::api::scope::ItemKind>(
    state: &crate::api::AppState,
    rt: &crate::store::records::RecordType,
    item: crate::api::scope::ItemAccess<K>,
    linked: Option<&str>,
    events: impl Fn(&Map<String, Value>) -> Vec<(crate::events::EventType, Value)>,
) -> crate::api::ApiResult<axum::http::StatusCode> {
    use crate::store::records::Cascade;
    let linked = linked.map(|field| (&crate::store::kinds::RESEARCH_TASKS, field));
    match state
        .store
        .delete_cascade(rt, item.scope.id(), item.record, linked, |_| true, events)
        .await?
    {
        Cascade::Deleted(removed) => {
            research_tasks::remove_documents(state, &removed.iter().collect::<Vec<_>>()).await;
            Ok(axum::http::StatusCode::NO_CONTENT)
        }
        Cascade::Gone | Cascade::Refused(_) => {
            Err(crate::api::scope::ItemAccess::<K>::not_found(item.id))
        }
    }
}

/// A record with `changes` laid over it.
pub(crate) fn overlay(
    old: &Map<String, Value>,
    changes: &Map<String, Value>,
) -> Map<String, Value> {
    let mut new = old.clone();
    new.extend(changes.clone());
    new
}

/// Applies `change` to a record with optimistic concurrency: on a concurrent write the record
/// is read again and the change re-applied (so no update is lost). Returns the stored record,
/// or the store's error for the caller to map (e.g. a taken unique field).
pub(crate) async fn update_retrying<K: crate::api::scope::ItemKind>(
    state: &crate::api::AppState,
    rt: &crate::store::records::RecordType,
    item: crate::api::scope::ItemAccess<K>,
    change: impl Fn(&crate::store::records::Record) -> crate::store::records::Record,
    events: impl Fn(
        &crate::store::records::Record,
        &crate::store::records::Record,
    ) -> Vec<(crate::events::EventType, Value)>,
    extra: impl Fn() -> Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> crate::api::ApiResult<Result<crate::store::records::Record, crate::store::StoreError>> {
    use crate::store::records::{record_of, version_of};
    use crate::store::StoreError;
    let (pid, id, mut old) = (item.scope.id(), item.id, item.record);
    for _ in 0..5 {
        let mut new = change(&old);
        new.insert(
            "updated_at".into(),
            Value::from(crate::domain::Timestamp::now().to_rfc3339()),
        );
        new.insert("version".into(), Value::from(version_of(&old) + 1));
        match state
            .store
            .update_record(rt, pid, &old, &new, events(&old, &new), extra())
            .await
        {
            Ok(()) => return Ok(Ok(new)),
            Err(StoreError::Condition(0)) => match state.store.get(&rt.key(pid, id)).await? {
                Some(item) => old = record_of(item)?,
                None => return Err(crate::api::scope::ItemAccess::<K>::not_found(id)),
            },
            Err(e) => return Ok(Err(e)),
        }
    }
    Err(crate::api::ApiError::unavailable(
        "The item is being changed by others; retry shortly",
    ))
}
