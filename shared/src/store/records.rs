//! Pieces shared by the project items that are plain records (technologies, repositories,
//! research tasks): the id pointer, STATS counter deltas, optimistic versions.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde_json::{Map, Value};

use super::{attr_n, attr_s, keys, n, s, to_item, tx, Item, Key, Store, StoreError};
use crate::domain::project::breakdown;
use crate::domain::Id;
use crate::events::{emit, EventType};

/// A record as stored: its fields plus id, project_id, created_at, updated_at, version.
pub type Record = Map<String, Value>;

/// Kinds whose items have an id pointer.
pub const POINTED_KINDS: &[&str] = &["TECH", "REPO", "TASK", "JOB", "WHCFG", "WHDEL", "SCHED"];

/// The id of an item sort key (`TECH#0000375305903448`) of a pointed kind.
pub fn pointed_id(sk: &str) -> Option<Id> {
    let (kind, id) = sk.split_once('#')?;
    if !POINTED_KINDS.contains(&kind) || id.len() != 16 {
        return None;
    }
    id.parse().ok()
}

/// A transaction item that holds only while project `pid` exists and is not marked deleted.
pub fn project_live_check(pid: Id, table: &str) -> TransactWriteItem {
    let c = aws_sdk_dynamodb::types::ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(keys::project(pid).to_item()))
        .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting)")
        .build()
        .expect("table, key and condition are set");
    TransactWriteItem::builder().condition_check(c).build()
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

    /// The dashboard's view of a project in one Query: repositories, research tasks and
    /// technologies (sort keys `REPO#…` to `TECH#…`), which brings the STATS item along.
    pub async fn dashboard_records(
        &self,
        pid: Id,
    ) -> Result<(Vec<(String, Record)>, Option<Item>), StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(keys::project_pk(pid)))
            .expression_attribute_values(":from", s("REPO#"))
            .expression_attribute_values(":to", s("TECH#~"))
            .consistent_read(true);
        let mut records = Vec::new();
        let mut stats = None;
        for item in self.paginate(q, None).await? {
            match attr_s(&item, "sk").as_deref() {
                Some("STATS") => stats = Some(item),
                Some(sk) if pointed_id(sk).is_some() => {
                    let kind = sk.split('#').next().unwrap_or_default().to_string();
                    records.push((kind, record_of(item)?));
                }
                _ => {}
            }
        }
        Ok((records, stats))
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

/// How a kind of record is kept: its sort-key prefix, the field unique per project (ignoring
/// case), and the STATS counters it contributes to (a total, per-value breakdowns, and sums of
/// integer fields: `(field, counter)`).
pub struct RecordType {
    pub prefix: &'static str,
    pub unique_field: Option<&'static str>,
    pub counter: &'static str,
    pub breakdowns: &'static [&'static str],
    pub sums: &'static [(&'static str, &'static str)],
}

/// Index of the uniqueness marker in `create` (and of the new marker in a renaming `update`).
pub const CREATE_MARKER_INDEX: usize = 2;
pub const UPDATE_MARKER_INDEX: usize = 2;
/// `create_record` reports its j-th failed existence check as `Condition(CHECK_BASE + j)`.
pub const CHECK_BASE: usize = 1000;
/// `create_records_batch_with` reports its j-th extra item's failed condition as
/// `Condition(EXTRA_BASE + j)`.
pub const EXTRA_BASE: usize = 2000;

fn text<'a>(r: &'a Record, name: &str) -> &'a str {
    r.get(name).and_then(Value::as_str).unwrap_or("")
}

pub fn id_of(r: &Record) -> Id {
    r.get("id").and_then(Value::as_u64).unwrap_or_default()
}

impl RecordType {
    pub fn key(&self, pid: Id, id: Id) -> Key {
        keys::item(pid, self.prefix, id)
    }

    fn marker(&self, pid: Id, r: &Record) -> Option<Key> {
        self.unique_field
            .map(|f| keys::project_unique(pid, self.prefix, &text(r, f).trim().to_lowercase()))
    }

    fn contribution(&self, r: &Record, sign: i64) -> Vec<(String, i64)> {
        let mut c = vec![(self.counter.to_string(), sign)];
        for field in self.breakdowns {
            c.push((breakdown(self.counter, field, text(r, field)), sign));
        }
        for (field, counter) in self.sums {
            let n = r.get(*field).and_then(Value::as_i64).unwrap_or(0);
            c.push((counter.to_string(), sign * n));
        }
        c
    }

    fn marker_put(&self, pid: Id, r: &Record, table: &str) -> Option<TransactWriteItem> {
        self.marker(pid, r).map(|k| {
            let mut m = k.to_item();
            m.insert("item_id".into(), n(id_of(r)));
            tx::put(m, Some("attribute_not_exists(pk)")).build(table)
        })
    }
}

/// Records per `create_records_batch` transaction: 2 items each, plus one check each, the
/// counters and the project check stay within DynamoDB's 100 items per transaction.
pub const BATCH_CREATE_MAX: usize = 32;

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
    /// Creates a record with its id pointer, uniqueness marker (condition
    /// `CREATE_MARKER_INDEX`), counters and events, atomically.
    /// Inserts `r` as a new record of project `pid`: allocates its id (retrying the rare
    /// collision of two processes on one id), sets project_id and version 1, and writes it
    /// with its pointer, marker (condition `CREATE_MARKER_INDEX`), counters and the events
    /// `events` builds from the stored record. `must_exist` are keys checked in the same
    /// transaction (links to other items); the j-th failing is `Condition(CHECK_BASE + j)`.
    pub async fn create_record(
        &self,
        rt: &RecordType,
        pid: Id,
        r: Record,
        events: impl Fn(&Record) -> Vec<(EventType, Value)>,
        must_exist: &[Key],
    ) -> Result<Record, StoreError> {
        self.create_record_with(rt, pid, r, events, must_exist, |_| {})
            .await
    }

    /// `create_record`, with `complete` called on the record once its id is known (for
    /// attributes built from the id, such as an index entry).
    pub async fn create_record_with(
        &self,
        rt: &RecordType,
        pid: Id,
        mut r: Record,
        events: impl Fn(&Record) -> Vec<(EventType, Value)>,
        must_exist: &[Key],
        complete: impl Fn(&mut Record),
    ) -> Result<Record, StoreError> {
        r.insert("project_id".into(), Value::from(pid));
        r.insert("version".into(), Value::from(1));
        for attempt in 0..3 {
            let id = crate::domain::new_id();
            r.insert("id".into(), Value::from(id));
            complete(&mut r);
            let mut items = vec![
                record_put(&rt.key(pid, id), &r, None, &self.table)?,
                pointer_put(id, pid, rt.prefix, &self.table),
            ];
            items.extend(rt.marker_put(pid, &r, &self.table));
            items.extend(counters(pid, &rt.contribution(&r, 1), &self.table));
            for (event, data) in events(&r) {
                emit(&mut items, &self.table, pid, event, data)?;
            }
            let first_check = items.len();
            items.extend(must_exist.iter().map(|k| tx::check_exists(k, &self.table)));
            // Nothing is created in a project once it is marked deleted: its sweep must find
            // the partition shrinking, and a request that read the project just before the
            // delete must not leave an orphan behind the sweep.
            let live = items.len();
            items.push(project_live_check(pid, &self.table));
            match self.transact(items).await {
                Ok(()) => return Ok(r),
                Err(StoreError::Condition(i)) if i == live => {
                    return Err(StoreError::ProjectGone(pid))
                }
                // The id (record or pointer) is taken: another one.
                Err(StoreError::Condition(0 | 1)) if attempt < 2 => continue,
                Err(StoreError::Condition(i)) if i >= first_check => {
                    return Err(StoreError::Condition(CHECK_BASE + i - first_check))
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Other("could not allocate an id".into()))
    }

    /// Creates up to `BATCH_CREATE_MAX` records of a kind without uniqueness markers or events
    /// (jobs) in ONE transaction: each with its id pointer and its `must_exist` check, the
    /// counters of all of them in one STATS update, the project-live check. `complete` is
    /// called on each record once its id is known. The j-th record's failing check is
    /// `Condition(CHECK_BASE + j)` (nothing was written: drop it and call again).
    pub async fn create_records_batch(
        &self,
        rt: &RecordType,
        pid: Id,
        records: Vec<(Record, Vec<Key>)>,
        complete: impl Fn(&mut Record),
    ) -> Result<Vec<Record>, StoreError> {
        self.create_records_batch_with(rt, pid, records, complete, |_| Vec::new(), &[])
            .await
    }

    /// `create_records_batch` with `extra` items (built from the records once their ids are
    /// known) in the same transaction, e.g. the state change that must happen exactly once
    /// with the creation; the j-th extra item's failed condition is
    /// `Condition(EXTRA_BASE + j)`. `extra` items count against DynamoDB's 100. `extra_deltas`
    /// join the records' counters in the one STATS update (a transaction may touch an item
    /// only once).
    pub async fn create_records_batch_with(
        &self,
        rt: &RecordType,
        pid: Id,
        records: Vec<(Record, Vec<Key>)>,
        complete: impl Fn(&mut Record),
        extra: impl Fn(&[Record]) -> Vec<TransactWriteItem>,
        extra_deltas: &[(String, i64)],
    ) -> Result<Vec<Record>, StoreError> {
        if records.len() > BATCH_CREATE_MAX || rt.unique_field.is_some() {
            return Err(StoreError::Other(format!(
                "a batch create takes at most {BATCH_CREATE_MAX} records of a kind without markers"
            )));
        }
        for attempt in 0..3 {
            let mut done = Vec::with_capacity(records.len());
            let mut items = Vec::new();
            let mut deltas = extra_deltas.to_vec();
            for (r, _) in &records {
                let mut r = r.clone();
                r.insert("project_id".into(), Value::from(pid));
                r.insert("version".into(), Value::from(1));
                let id = crate::domain::new_id();
                r.insert("id".into(), Value::from(id));
                complete(&mut r);
                items.push(record_put(&rt.key(pid, id), &r, None, &self.table)?);
                items.push(pointer_put(id, pid, rt.prefix, &self.table));
                deltas = merge(deltas, rt.contribution(&r, 1));
                done.push(r);
            }
            let ids_end = items.len();
            items.extend(counters(pid, &deltas, &self.table));
            // Which record each check belongs to.
            let mut owners = Vec::new();
            let first_check = items.len();
            for (j, (_, must)) in records.iter().enumerate() {
                for k in must {
                    items.push(tx::check_exists(k, &self.table));
                    owners.push(j);
                }
            }
            let live = items.len();
            items.push(project_live_check(pid, &self.table));
            let first_extra = items.len();
            items.extend(extra(&done));
            match self.transact(items).await {
                Ok(()) => return Ok(done),
                Err(StoreError::Condition(i)) if i == live => {
                    return Err(StoreError::ProjectGone(pid))
                }
                Err(StoreError::Condition(i)) if i >= first_extra => {
                    return Err(StoreError::Condition(EXTRA_BASE + i - first_extra))
                }
                Err(StoreError::Condition(i)) if i < ids_end && attempt < 2 => continue,
                Err(StoreError::Condition(i)) if i >= first_check => {
                    return Err(StoreError::Condition(
                        CHECK_BASE + owners.get(i - first_check).copied().unwrap_or(0),
                    ))
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Other("could not allocate ids".into()))
    }

    /// Replaces `old` by `new` unless it changed meanwhile (condition 0); a changed unique
    /// field moves the marker (condition `UPDATE_MARKER_INDEX` = taken); counters follow.
    pub async fn update_record(
        &self,
        rt: &RecordType,
        pid: Id,
        old: &Record,
        new: &Record,
        events: Vec<(EventType, Value)>,
        extra: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        self.update_record_with(rt, pid, old, new, events, extra, &[])
            .await
    }

    /// `update_record` with `extra_deltas` in the same STATS update; the j-th `extra` item's
    /// failed condition is `Condition(EXTRA_BASE + j)`.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_record_with(
        &self,
        rt: &RecordType,
        pid: Id,
        old: &Record,
        new: &Record,
        events: Vec<(EventType, Value)>,
        extra: Vec<TransactWriteItem>,
        extra_deltas: &[(String, i64)],
    ) -> Result<(), StoreError> {
        let mut items = vec![record_put(
            &rt.key(pid, id_of(new)),
            new,
            Some(version_of(old)),
            &self.table,
        )?];
        let (old_marker, new_marker) = (rt.marker(pid, old), rt.marker(pid, new));
        if old_marker != new_marker {
            if let Some(k) = old_marker {
                items.push(tx::delete(&k, None, &self.table));
            }
            items.extend(rt.marker_put(pid, new, &self.table));
        }
        items.extend(counters(
            pid,
            &merge(
                merge(rt.contribution(old, -1), rt.contribution(new, 1)),
                extra_deltas.to_vec(),
            ),
            &self.table,
        ));
        for (event, data) in events {
            emit(&mut items, &self.table, pid, event, data)?;
        }
        let first_extra = items.len();
        items.extend(extra);
        match self.transact(items).await {
            Err(StoreError::Condition(i)) if i >= first_extra => {
                Err(StoreError::Condition(EXTRA_BASE + i - first_extra))
            }
            other => other,
        }
    }

    /// Deletes records of one project with their pointers, markers and counters, plus any
    /// `extra` items, in one transaction. Every record is deleted only at the version it was
    /// read at, so the counters it takes back are exactly the ones it added (a failed
    /// condition = a record changed or is gone: `delete_cascade` re-reads and retries).
    pub async fn delete_records(
        &self,
        pid: Id,
        doomed: &[(&RecordType, &Record)],
        extra: Vec<TransactWriteItem>,
        events: Vec<(EventType, Value)>,
    ) -> Result<(), StoreError> {
        let mut items = Vec::new();
        let mut deltas = Vec::new();
        for (rt, r) in doomed {
            let id = id_of(r);
            items.push(at_version(&rt.key(pid, id), version_of(r), &self.table));
            items.push(pointer_delete(id, &self.table));
            if let Some(k) = rt.marker(pid, r) {
                items.push(tx::delete(&k, None, &self.table));
            }
            deltas = merge(deltas, rt.contribution(r, -1));
        }
        items.extend(counters(pid, &deltas, &self.table));
        items.extend(extra);
        for (event, data) in events {
            emit(&mut items, &self.table, pid, event, data)?;
        }
        self.transact(items).await
    }
}

/// Deletes `key` only at version `v` (records written before versions existed: only if it
/// exists).
fn at_version(key: &Key, v: i64, table: &str) -> TransactWriteItem {
    if v == 0 {
        return tx::delete(key, Some("attribute_exists(pk)"), table);
    }
    let d = aws_sdk_dynamodb::types::Delete::builder()
        .table_name(table)
        .set_key(Some(key.to_item()))
        .condition_expression("version = :v")
        .expression_attribute_values(":v", n(v))
        .build()
        .expect("table and key are set");
    TransactWriteItem::builder().delete(d).build()
}

/// What `delete_cascade` did.
#[derive(Debug)]
pub enum Cascade {
    /// Deleted: the parent and every linked record removed with it (for their S3 objects).
    Deleted(Vec<Record>),
    /// The parent no longer exists.
    Gone,
    /// `allow` refused the parent as it now is (e.g. a job that started running).
    Refused(Record),
}

/// Linked records per transaction in a cascade (each takes 3 items; the parent, counters,
/// events and the rate charge fit beside them in DynamoDB's 100).
const LINKED_PER_TRANSACTION: usize = 30;

impl Store {
    /// Deletes `parent` (as read) together with every record of `linked.0` whose field
    /// `linked.1` names it — technology or repository → its research tasks — keeping every
    /// counter exact under concurrent writes: each record goes only at the version read, and
    /// on any conflict everything is read again and the cascade retried (bounded). Linked
    /// records beyond one transaction go first, in their own transactions; the parent and
    /// the rest go last, with `events`. `allow` is re-checked on every fresh read of the
    /// parent.
    pub async fn delete_cascade(
        &self,
        rt: &RecordType,
        pid: Id,
        mut parent: Record,
        linked: Option<(&RecordType, &str)>,
        allow: impl Fn(&Record) -> bool,
        events: impl Fn(&Record) -> Vec<(EventType, Value)>,
    ) -> Result<Cascade, StoreError> {
        let id = id_of(&parent);
        for _ in 0..8 {
            if !allow(&parent) {
                return Ok(Cascade::Refused(parent));
            }
            let children: Vec<Record> = match linked {
                Some((lrt, field)) => self
                    .records(pid, lrt.prefix)
                    .await?
                    .into_iter()
                    .filter(|r| r.get(field).and_then(Value::as_u64) == Some(id))
                    .collect(),
                None => Vec::new(),
            };
            let lrt = linked.map(|(l, _)| l).unwrap_or(rt);
            let split = children.len().saturating_sub(LINKED_PER_TRANSACTION);
            let mut conflict = false;
            for chunk in children[..split].chunks(LINKED_PER_TRANSACTION) {
                let doomed: Vec<_> = chunk.iter().map(|r| (lrt, r)).collect();
                match self.delete_records(pid, &doomed, vec![], vec![]).await {
                    Ok(()) => {}
                    Err(StoreError::Condition(_)) => {
                        conflict = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !conflict {
                let mut doomed = vec![(rt, &parent)];
                doomed.extend(children[split..].iter().map(|r| (lrt, r)));
                match self
                    .delete_records(pid, &doomed, vec![], events(&parent))
                    .await
                {
                    Ok(()) => {
                        let mut removed = vec![parent];
                        removed.extend(children);
                        return Ok(Cascade::Deleted(removed));
                    }
                    Err(StoreError::Condition(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            // Something changed under us: read the parent again and start over.
            match self.get(&rt.key(pid, id)).await? {
                Some(item) => parent = record_of(item)?,
                None => return Ok(Cascade::Gone),
            }
        }
        Err(StoreError::Unavailable(
            "the item kept changing during its delete".into(),
        ))
    }
}
