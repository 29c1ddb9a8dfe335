//! Technologies: record, title marker, counters and event in one transaction per write.

use serde_json::Value;

use super::records::{counters, pointer_delete, pointer_put, record_put, version_of, Record};
use super::{keys, n, tx, Key, Store, StoreError};
use crate::domain::project::breakdown;
use crate::domain::technology::title_key;
use crate::domain::Id;
use crate::events::{emit, EventType};

pub const PREFIX: &str = "TECH";
/// Index of the title marker in create (and the new marker in a renaming update).
pub const CREATE_TITLE_INDEX: usize = 2;
pub const UPDATE_TITLE_INDEX: usize = 2;

pub fn key(pid: Id, id: Id) -> Key {
    keys::item(pid, PREFIX, id)
}

fn marker(pid: Id, title: &str) -> Key {
    keys::project_unique(pid, PREFIX, &title_key(title))
}

fn field<'a>(r: &'a Record, name: &str) -> &'a str {
    r.get(name).and_then(Value::as_str).unwrap_or("")
}

/// The counters a technology contributes to.
fn contribution(r: &Record, sign: i64) -> Vec<(String, i64)> {
    vec![
        ("technologies".into(), sign),
        (
            breakdown("technologies", "status", field(r, "status")),
            sign,
        ),
        (
            breakdown("technologies", "domain", field(r, "domain")),
            sign,
        ),
    ]
}

fn merge(mut a: Vec<(String, i64)>, b: Vec<(String, i64)>) -> Vec<(String, i64)> {
    for (k, d) in b {
        match a.iter_mut().find(|(n, _)| *n == k) {
            Some((_, v)) => *v += d,
            None => a.push((k, d)),
        }
    }
    a
}

impl Store {
    pub async fn create_technology(&self, pid: Id, r: &Record) -> Result<(), StoreError> {
        let id = r["id"].as_u64().unwrap_or_default();
        let mut m = marker(pid, field(r, "title")).to_item();
        m.insert("technology_id".into(), n(id));
        let mut items = vec![
            record_put(&key(pid, id), r, None, &self.table)?,
            pointer_put(id, pid, PREFIX, &self.table),
            tx::put(m, Some("attribute_not_exists(pk)")).build(&self.table),
        ];
        items.extend(counters(pid, &contribution(r, 1), &self.table));
        emit(
            &mut items,
            &self.table,
            pid,
            EventType::TechnologyCreated,
            Value::Object(r.clone()),
        )?;
        self.transact(items).await
    }

    /// Replaces `old` by `new` (same id) if nobody changed it meanwhile (condition 0 fails
    /// otherwise); a changed title moves the marker (condition 2 = taken).
    pub async fn update_technology(
        &self,
        pid: Id,
        old: &Record,
        new: &Record,
    ) -> Result<(), StoreError> {
        let id = new["id"].as_u64().unwrap_or_default();
        let mut items = vec![record_put(
            &key(pid, id),
            new,
            Some(version_of(old)),
            &self.table,
        )?];
        if title_key(field(old, "title")) != title_key(field(new, "title")) {
            items.push(tx::delete(
                &marker(pid, field(old, "title")),
                None,
                &self.table,
            ));
            let mut m = marker(pid, field(new, "title")).to_item();
            m.insert("technology_id".into(), n(id));
            items.push(tx::put(m, Some("attribute_not_exists(pk)")).build(&self.table));
        }
        items.extend(counters(
            pid,
            &merge(contribution(old, -1), contribution(new, 1)),
            &self.table,
        ));
        emit(
            &mut items,
            &self.table,
            pid,
            EventType::TechnologyUpdated,
            Value::Object(new.clone()),
        )?;
        self.transact(items).await
    }

    pub async fn delete_technology(&self, pid: Id, r: &Record) -> Result<(), StoreError> {
        let id = r["id"].as_u64().unwrap_or_default();
        let mut items = vec![
            tx::delete(&key(pid, id), Some("attribute_exists(pk)"), &self.table),
            pointer_delete(id, &self.table),
            tx::delete(&marker(pid, field(r, "title")), None, &self.table),
        ];
        items.extend(counters(pid, &contribution(r, -1), &self.table));
        emit(
            &mut items,
            &self.table,
            pid,
            EventType::TechnologyDeleted,
            serde_json::json!({"id": id, "title": r.get("title")}),
        )?;
        self.transact(items).await
    }
}
