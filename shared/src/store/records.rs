//! Pieces shared by the project items that are plain records (technologies, repositories,
//! research tasks): the id pointer, STATS counter deltas, optimistic versions.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde_json::{Map, Value};

use super::{attr_n, attr_s, keys, n, s, to_item, tx, Item, Key, Store, StoreError};
use crate::domain::Id;

/// A record as stored: its fields plus id, project_id, created_at, updated_at, version.
pub type Record = Map<String, Value>;

/// Kinds whose items have an id pointer.
pub const POINTED_KINDS: &[&str] = &["TECH", "REPO", "TASK"];

/// The id of an item sort key (`TECH#0000375305903448`) of a pointed kind.
pub fn pointed_id(sk: &str) -> Option<Id> {
    let (kind, id) = sk.split_once('#')?;
    if !POINTED_KINDS.contains(&kind) || id.len() != 16 {
        return None;
    }
    id.parse().ok()
}

pub fn pointer_put(id: Id, pid: Id, kind: &str, table: &str) -> TransactWriteItem {
    let mut item = keys::pointer(id).to_item();
    item.insert("project_id".into(), n(pid));
    item.insert("kind".into(), s(kind));
    tx::put(item, Some("attribute_not_exists(pk)")).build(table)
}

pub fn pointer_delete(id: Id, table: &str) -> TransactWriteItem {
    tx::delete(&keys::pointer(id), None, table)
}

/// `ADD` of counter deltas to the project's STATS item (zero deltas are dropped).
pub fn counters(pid: Id, deltas: &[(String, i64)], table: &str) -> Option<TransactWriteItem> {
    let deltas: Vec<_> = deltas.iter().filter(|(_, d)| *d != 0).collect();
    if deltas.is_empty() {
        return None;
    }
    let expr = (0..deltas.len())
        .map(|i| format!("#c{i} :d{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut up = tx::update(&keys::project_stats(pid), format!("ADD {expr}"));
    for (i, (name, delta)) in deltas.iter().enumerate() {
        up = up
            .name(&format!("#c{i}"), name)
            .value(&format!(":d{i}"), n(delta));
    }
    Some(up.build(table))
}

/// Puts a record; `expected_version` None = must not exist, Some(v) = must be at version v.
pub fn record_put(
    key: &Key,
    record: &Record,
    expected_version: Option<i64>,
    table: &str,
) -> Result<TransactWriteItem, StoreError> {
    let item = to_item(&Value::Object(record.clone()), key)?;
    Ok(match expected_version {
        None => tx::put(item, Some("attribute_not_exists(pk)")).build(table),
        Some(v) => tx::put(item, Some("version = :v"))
            .value(":v", n(v))
            .build(table),
    })
}

pub fn record_of(item: Item) -> Result<Record, StoreError> {
    let mut r: Record = super::from_item(item)?;
    r.remove("pk");
    r.remove("sk");
    Ok(r)
}

pub fn version_of(r: &Record) -> i64 {
    r.get("version").and_then(Value::as_i64).unwrap_or(0)
}

impl Store {
    /// The project and kind of an item id.
    pub async fn locate(&self, id: Id) -> Result<Option<(Id, String)>, StoreError> {
        Ok(self
            .get(&keys::pointer(id))
            .await?
            .and_then(|i| Some((attr_n(&i, "project_id")? as Id, attr_s(&i, "kind")?))))
    }

    /// Every record of a kind in a project (one Query, paged through).
    pub async fn records(&self, pid: Id, prefix: &str) -> Result<Vec<Record>, StoreError> {
        self.query_prefix(&keys::project_pk(pid), &format!("{prefix}#"), None, true)
            .await?
            .into_iter()
            .map(record_of)
            .collect()
    }
}
