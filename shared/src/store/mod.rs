//! The DynamoDB single-table adapter: keys, item ⇄ entity mapping, transactions (with the
//! request's rate charge and bounded retry of `TransactionConflict`), batch reads, pagination.

pub mod analyses;
pub mod github;
pub mod jobs;
pub mod keys;
pub mod kinds;
pub mod live;
pub mod projects;
pub mod ratelimit;
pub mod records;
pub mod schedules;
pub mod users;
pub mod webhook_events;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::{self, ChargeState};
pub use keys::Key;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition of item `index` of a transaction failed (callers map it to 404/409).
    #[error("condition failed on transaction item {0}")]
    Condition(usize),
    /// The request's rate window is full.
    #[error("rate limit exceeded")]
    RateLimited,
    /// DynamoDB throttled us or timed out: 503 with Retry-After.
    #[error("DynamoDB is throttling or unavailable: {0}")]
    Unavailable(String),
    /// The project was deleted (or is being swept) while the request ran: its 404.
    #[error("project {0} was deleted")]
    ProjectGone(u64),
    /// The item would exceed `ITEM_BUDGET` bytes; `field` is its largest attribute.
    #[error("item of {size} bytes exceeds the budget (largest field: {field})")]
    TooLarge { field: String, size: usize },
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("DynamoDB error: {0}")]
    Other(String),
}

fn classify<E>(e: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = e.code().unwrap_or_default().to_string();
    let server_side = e
        .raw_response()
        .is_some_and(|r| r.status().is_server_error());
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())
        }
        _ if server_side => {
            StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())
        }
        _ if code.contains("Throttl")
            || code == "ProvisionedThroughputExceededException"
            || code == "RequestLimitExceeded"
            || code == "InternalServerError"
            || code == "ServiceUnavailable" =>
        {
            StoreError::Unavailable(code)
        }
        _ => StoreError::Other(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string()),
    }
}

/// The largest item we write. DynamoDB's limit is 400 KB (409 600 bytes); a record is also
/// copied into the event its write records (same size plus a small envelope), so records are
/// held to a budget that leaves room for that envelope and for later bookkeeping attributes.
pub const ITEM_BUDGET: usize = 350_000;

/// The size DynamoDB counts for a value (UTF-8 bytes of strings, names included in maps;
/// numbers ~1 byte per two digits + 1; 3 bytes + 1 per element for lists and maps).
pub fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len()).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// The size of an item, or `TooLarge` naming its largest attribute when over `ITEM_BUDGET`.
pub fn check_item_size(item: &Item) -> Result<usize, StoreError> {
    let size: usize = item.iter().map(|(k, v)| k.len() + value_size(v)).sum();
    if size <= ITEM_BUDGET {
        return Ok(size);
    }
    let field = item
        .iter()
        .max_by_key(|(k, v)| k.len() + value_size(v))
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    Err(StoreError::TooLarge { field, size })
}

/// Serializes an entity and adds its keys (and any index keys); refuses one over the budget.
pub fn to_item<T: Serialize>(entity: &T, key: &Key) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(entity).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.extend(key.to_item());
    check_item_size(&item)?;
    Ok(item)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Takes one item of a batch read and parses it.
pub fn take<T: DeserializeOwned>(
    found: &mut HashMap<Key, Item>,
    key: &Key,
) -> Result<Option<T>, StoreError> {
    found.remove(key).map(from_item).transpose()
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Builders for the items of a `TransactWriteItems`.
pub mod tx {
    use super::*;

    pub fn put(item: Item, condition: Option<&str>) -> PutBuilder {
        PutBuilder {
            item,
            condition: condition.map(str::to_string),
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    pub struct PutBuilder {
        item: Item,
        condition: Option<String>,
        names: HashMap<String, String>,
        values: Item,
    }

    impl PutBuilder {
        pub fn value(mut self, k: &str, v: AttributeValue) -> Self {
            self.values.insert(k.into(), v);
            self
        }
        pub fn build(self, table: &str) -> TransactWriteItem {
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(self.item))
                .set_condition_expression(self.condition)
                .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
                .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
                .build()
                .expect("table and item are set");
            TransactWriteItem::builder().put(put).build()
        }
    }

    /// An update expression with names `#x` and values `:x`.
    pub struct UpdateBuilder {
        key: Key,
        expression: String,
        condition: Option<String>,
        names: HashMap<String, String>,
        values: Item,
    }

    pub fn update(key: &Key, expression: impl Into<String>) -> UpdateBuilder {
        UpdateBuilder {
            key: key.clone(),
            expression: expression.into(),
            condition: None,
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    impl UpdateBuilder {
        pub fn condition(mut self, c: impl Into<String>) -> Self {
            self.condition = Some(c.into());
            self
        }
        pub fn name(mut self, k: &str, v: &str) -> Self {
            self.names.insert(k.into(), v.into());
            self
        }
        pub fn value(mut self, k: &str, v: AttributeValue) -> Self {
            self.values.insert(k.into(), v);
            self
        }
        pub fn build(self, table: &str) -> TransactWriteItem {
            let u = Update::builder()
                .table_name(table)
                .set_key(Some(self.key.to_item()))
                .update_expression(self.expression)
                .set_condition_expression(self.condition)
                .set_expression_attribute_names((!self.names.is_empty()).then_some(self.names))
                .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
                .build()
                .expect("table, key and expression are set");
            TransactWriteItem::builder().update(u).build()
        }
    }

    pub fn delete(key: &Key, condition: Option<&str>, table: &str) -> TransactWriteItem {
        let d = Delete::builder()
            .table_name(table)
            .set_key(Some(key.to_item()))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(d).build()
    }

    pub fn check_exists(key: &Key, table: &str) -> TransactWriteItem {
        let c = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key.to_item()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .expect("table, key and condition are set");
        TransactWriteItem::builder().condition_check(c).build()
    }
}

#[derive(Clone)]
pub struct Store {
    pub client: Client,
    pub table: String,
}

const MAX_CONFLICT_RETRIES: u32 = 5;

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    /// Strongly consistent read of up to 100 keys per call; unprocessed keys are retried.
    pub async fn batch_get(&self, keys: &[Key]) -> Result<HashMap<Key, Item>, StoreError> {
        self.batch_read(keys, None).await
    }

    /// `batch_get` reading only `projection` of each item.
    async fn batch_read(
        &self,
        keys: &[Key],
        projection: Option<&str>,
    ) -> Result<HashMap<Key, Item>, StoreError> {
        let mut found = HashMap::new();
        let mut unique: Vec<&Key> = Vec::new();
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        for chunk in unique.chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().map(|k| k.to_item()).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let req = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .set_projection_expression(projection.map(str::to_string))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(classify)?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if let Some(k) = Key::of_item(&item) {
                        found.insert(k, item);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .map(|ka| ka.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Unavailable("unprocessed keys".into()));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(found)
    }

    /// The ids among `ids` whose item (`key(id)`) does not exist: keys-only BatchGetItems (one per
    /// 100; existence checks read no attributes).
    pub async fn missing_keys(
        &self,
        ids: &[crate::domain::Id],
        key: impl Fn(crate::domain::Id) -> Key,
    ) -> Result<Vec<crate::domain::Id>, StoreError> {
        let keys: Vec<Key> = ids.iter().map(|id| key(*id)).collect();
        let found = self.batch_read(&keys, Some("pk, sk")).await?;
        Ok(ids
            .iter()
            .copied()
            .filter(|id| !found.contains_key(&key(*id)))
            .collect())
    }

    /// Runs a Query to the end (or until `limit` items), page by page.
    pub async fn paginate(
        &self,
        query: QueryFluentBuilder,
        limit: Option<i32>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = query
                .clone()
                .set_limit(limit.map(|l| l - items.len() as i32))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() || limit.is_some_and(|l| items.len() as i32 >= l) {
                return Ok(items);
            }
        }
    }

    /// A partition's items whose sort key begins with `prefix`, in sort-key order.
    pub async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
        limit: Option<i32>,
        forward: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":p", s(prefix))
            .scan_index_forward(forward)
            .consistent_read(true);
        self.paginate(q, limit).await
    }

    /// A GSI partition (`gsi1`/`gsi2`), optionally limited.
    pub async fn query_index(
        &self,
        index: &str,
        pk: &str,
        limit: Option<i32>,
        forward: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let (pk_name, _) = index_keys(index);
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(forward);
        self.paginate(q, limit).await
    }

    /// Puts whole items 25 at a time (no conditions), retrying unprocessed ones: caches.
    pub async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.batch_write(requests).await
    }

    /// Deletes keys 25 at a time, retrying unprocessed ones.
    pub async fn batch_delete(&self, keys: &[Key]) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let mut requests = Vec::with_capacity(keys.len());
        for k in keys {
            let delete = DeleteRequest::builder()
                .set_key(Some(k.to_item()))
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(requests).await
    }

    /// BatchWriteItem 25 requests at a time, retrying unprocessed ones with back-off.
    async fn batch_write(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(classify)?;
                pending = out
                    .unprocessed_items
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Unavailable("unprocessed writes".into()));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(())
    }

    /// One atomic `TransactWriteItems`. Carries the request's pending rate charge (so counting
    /// costs no extra round trip), retries `TransactionConflict` with jittered back-off, and
    /// reports which item's condition failed.
    pub async fn transact(&self, mut items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let charge = context::pending_rate_charge();
        let charge_index = charge.as_ref().map(|c| {
            items.push(ratelimit::charge_item(&self.table, c));
            items.len() - 1
        });
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => {
                    if let Some(c) = &charge {
                        context::settle_rate_charge(ChargeState::Applied {
                            count: c.prior.map(|p| p + 1),
                        });
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            let codes: Vec<String> = match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None").to_string())
                    .collect(),
                _ => Vec::new(),
            };
            if let Some(i) = codes.iter().position(|c| c == "ConditionalCheckFailed") {
                if Some(i) == charge_index {
                    context::settle_rate_charge(ChargeState::Exceeded);
                    return Err(StoreError::RateLimited);
                }
                return Err(StoreError::Condition(i));
            }
            let conflict = codes.iter().any(|c| c == "TransactionConflict")
                || err.code() == Some("TransactionInProgressException");
            if conflict && attempt < MAX_CONFLICT_RETRIES {
                attempt += 1;
                backoff(attempt).await;
                continue;
            }
            if conflict {
                return Err(StoreError::Unavailable("transaction conflict".into()));
            }
            // Throttled items are worth a retry later (503); anything else — a
            // ValidationError above all — is a request we should never have sent: a bug (500).
            if codes
                .iter()
                .any(|c| c.contains("Throttl") || c == "ProvisionedThroughputExceeded")
            {
                return Err(StoreError::Unavailable(format!(
                    "transaction cancelled: {codes:?}"
                )));
            }
            if !codes.is_empty() {
                return Err(StoreError::Other(format!(
                    "transaction cancelled: {codes:?}"
                )));
            }
            return Err(classify(err));
        }
    }
}

impl Store {
    /// One conditional `UpdateItem` (built like a transaction item) that returns the whole
    /// updated item; `Ok(None)` when its condition failed.
    pub async fn update_one(&self, item: TransactWriteItem) -> Result<Option<Item>, StoreError> {
        let u = item
            .update
            .ok_or_else(|| StoreError::Other("update_one needs an update item".into()))?;
        let out = self
            .client
            .update_item()
            .table_name(u.table_name)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_condition_expression(u.condition_expression)
            .set_expression_attribute_names(u.expression_attribute_names)
            .set_expression_attribute_values(u.expression_attribute_values)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(o.attributes.unwrap_or_default())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(e)),
        }
    }
}

/// A Query `Limit` for "the first `n` items": DynamoDB takes an i32, so a huge skip (a client
/// may send 2^31) saturates instead of wrapping into a negative limit.
pub fn query_limit(n: usize) -> i32 {
    i32::try_from(n.max(1)).unwrap_or(i32::MAX)
}

fn index_keys(index: &str) -> (&'static str, &'static str) {
    match index {
        "gsi2" => ("gsi2pk", "gsi2sk"),
        _ => ("gsi1pk", "gsi1sk"),
    }
}

/// Jittered exponential back-off: 20 ms · 2^attempt · [0.5, 1.5), capped at 1 s.
async fn backoff(attempt: u32) {
    let base = 20u64.saturating_mul(1 << attempt.min(6)).min(1000);
    let jitter = rand::rng().random_range(0.5..1.5);
    tokio::time::sleep(Duration::from_millis((base as f64 * jitter) as u64)).await;
}

/// Reads an attribute as string / number / bool.
pub fn attr_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}
pub fn attr_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}
pub fn attr_bool(item: &Item, k: &str) -> Option<bool> {
    item.get(k).and_then(|v| v.as_bool().ok()).copied()
}
