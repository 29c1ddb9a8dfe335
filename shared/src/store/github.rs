//! GitHub-related items: the sparse index of tracked repositories the nightly sync walks, the
//! per-project cache of GitHub reads (API.md §11) and tracked rate-limit readings (§12).

use aws_sdk_dynamodb::types::AttributeValue;

use super::{attr_n, attr_s, check_item_size, keys, n, s, tx, Item, Key, Store, StoreError};
use crate::domain::{Id, Timestamp};
use crate::github::repos::Snapshot;
use crate::github::sync::TRACKED_SHARDS;
use crate::store::kinds::REPOSITORIES;
use crate::store::records::{pointed_id, project_live_check};

impl Store {
    /// Every tracked repository of every project as (project id, repository id): one Query
    /// per shard of the sparse gsi2 `TRACKED#<n>` (only repository items carry it), keys only,
    /// the shards read at once. No Scan, whatever else the table holds.
    pub async fn tracked_repositories(&self) -> Result<Vec<(Id, Id)>, StoreError> {
        let shards = (0..TRACKED_SHARDS).map(|shard| {
            let q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :pk")
                .expression_attribute_values(":pk", super::s(format!("TRACKED#{shard}")))
                .projection_expression("pk, sk");
            self.paginate(q, None)
        });
        let mut out = Vec::new();
        for items in futures::future::try_join_all(shards).await? {
            for item in items {
                let pid = super::attr_s(&item, "pk")
                    .and_then(|pk| pk.strip_prefix("PROJECT#").and_then(|p| p.parse().ok()));
                let rid = super::attr_s(&item, "sk").and_then(|sk| pointed_id(&sk));
                if let (Some(pid), Some(rid)) = (pid, rid) {
                    out.push((pid, rid));
                }
            }
        }
        Ok(out)
    }
}

// ------------------------------------------------------------ §11 cache, §12 tracked limits

/// A cached GitHub read (API.md §11; the policy is `github::cache`).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    pub snapshot: Snapshot,
    /// Fingerprint of the token it was read with.
    pub token: String,
    /// Unix seconds until which it is served without asking GitHub.
    pub fresh_until: i64,
    /// Unique per write: a freshness extension applies only to the entry that was revalidated.
    pub stamp: String,
}

impl CacheEntry {
    pub fn new(snapshot: Snapshot, token: String, fresh_until: i64) -> Self {
        Self {
            snapshot,
            token,
            fresh_until,
            stamp: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The entry an item holds; None for anything malformed (then it is simply not used).
    pub fn of_item(item: &Item) -> Option<Self> {
        fn json<T: serde::de::DeserializeOwned>(item: &Item, k: &str) -> Option<T> {
            attr_s(item, k).and_then(|s| serde_json::from_str(&s).ok())
        }
        Some(Self {
            snapshot: Snapshot {
                body: json(item, "body")?,
                pages: json(item, "pages")?,
            },
            token: attr_s(item, "token")?,
            fresh_until: attr_n(item, "fresh_until")?,
            stamp: attr_s(item, "stamp")?,
        })
    }
}

/// How long a tracked rate-limit reading is kept (API.md §12): a week of readings shows how a
/// project's token is used across days; DynamoDB TTL removes older ones.
pub const TRACKED_RATE_KEEP_SECS: i64 = 7 * 24 * 3600;

/// One tracked reading of a resource's window (API.md §12 `POST /rate-limits/track`).
#[derive(Debug, Clone, PartialEq)]
pub struct RateReading {
    pub resource_type: String,
    pub limit: i64,
    pub remaining: i64,
    pub reset_at: Timestamp,
    /// SHA-256 hex of the token; None for anonymous requests.
    pub token_hash: Option<String>,
    pub checked_at: Timestamp,
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Stores a read (one PutItem). `Ok(false)`: the item would exceed `ITEM_BUDGET`, so it is
    /// not stored, and the entry it would have replaced is removed (one DeleteItem) so that a
    /// stale answer cannot be served in its place.
    pub async fn put_github_cache(
        &self,
        key: &Key,
        repo: &str,
        kind: &str,
        entry: &CacheEntry,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut item = key.to_item();
        item.insert("kind".into(), s(kind));
        item.insert("repo".into(), s(repo));
        item.insert("token".into(), s(&entry.token));
        item.insert("body".into(), s(json_text(&entry.snapshot.body)?));
        item.insert("pages".into(), s(json_text(&entry.snapshot.pages)?));
        if let Some(etag) = entry.snapshot.etag() {
            item.insert("etag".into(), s(etag));
        }
        item.insert("fresh_until".into(), n(entry.fresh_until));
        item.insert("expires_at".into(), n(expires_at));
        item.insert("cached_at".into(), s(Timestamp::now().to_rfc3339()));
        item.insert("stamp".into(), s(&entry.stamp));
        if check_item_size(&item).is_err() {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key.to_item()))
                .send()
                .await
                .map_err(super::classify)?;
            return Ok(false);
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(super::classify)?;
        Ok(true)
    }

    /// Extends the freshness of the entry written with `stamp` (one UpdateItem); nothing
    /// happens if it was replaced or removed meanwhile.
    pub async fn refresh_github_cache(
        &self,
        key: &Key,
        stamp: &str,
        fresh_until: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .update_expression("SET fresh_until = :f, expires_at = :e")
            .condition_expression("stamp = :s")
            .expression_attribute_values(":f", n(fresh_until))
            .expression_attribute_values(":e", n(expires_at))
            .expression_attribute_values(":s", s(stamp))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(super::classify(e)),
        }
    }

    /// Removes every cached read of `repo` in project `pid`: one Query (keys only) and one
    /// BatchWriteItem per 25 entries. Answers how many went.
    pub async fn invalidate_github_cache(&self, pid: Id, repo: &str) -> Result<usize, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(keys::project_pk(pid)))
            .expression_attribute_values(":p", s(keys::github_cache_prefix(repo)))
            .projection_expression("pk, sk")
            .consistent_read(true);
        let found: Vec<Key> = self
            .paginate(q, None)
            .await?
            .iter()
            .filter_map(Key::of_item)
            .collect();
        self.batch_delete(&found).await?;
        Ok(found.len())
    }

    /// The sealed access token of repository `rid` of project `pid`, if it has one (one
    /// GetItem of that attribute alone).
    pub async fn repository_token(&self, pid: Id, rid: Id) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(REPOSITORIES.key(pid, rid).to_item()))
            .projection_expression("access_token_enc")
            .consistent_read(true)
            .send()
            .await
            .map_err(super::classify)?;
        Ok(out.item.and_then(|i| attr_s(&i, "access_token_enc")))
    }

    /// Stores one reading per resource in project `pid` (one TransactWriteItems, which also
    /// carries the request's rate charge and holds only while the project is live).
    pub async fn record_rate_readings(
        &self,
        pid: Id,
        readings: &[RateReading],
    ) -> Result<(), StoreError> {
        let mut items = Vec::new();
        for r in readings {
            let checked_at = r.checked_at.to_rfc3339();
            let mut item = keys::github_rate(pid, &r.resource_type, &checked_at).to_item();
            item.insert("project_id".into(), n(pid));
            item.insert("resource_type".into(), s(&r.resource_type));
            item.insert("limit".into(), n(r.limit));
            item.insert("remaining".into(), n(r.remaining));
            item.insert("reset_at".into(), s(r.reset_at.to_rfc3339()));
            item.insert(
                "token_hash".into(),
                r.token_hash
                    .as_deref()
                    .map_or(AttributeValue::Null(true), s),
            );
            item.insert("checked_at".into(), s(checked_at));
            item.insert(
                "expires_at".into(),
                n(r.checked_at.unix().saturating_add(TRACKED_RATE_KEEP_SECS)),
            );
            items.push(tx::put(item, None).build(&self.table));
        }
        let live = items.len();
        items.push(project_live_check(pid, &self.table));
        match self.transact(items).await {
            Err(StoreError::Condition(i)) if i == live => Err(StoreError::ProjectGone(pid)),
            other => other,
        }
    }
}
