//! WebSocket listeners of a job (API.md §7.1). A connection is two things written in one
//! transaction: its own item `WSCONN#<id>` (which job it follows; expires with API Gateway's
//! 2-hour connection limit) and an entry in the job's `listeners` map (connection id → expiry),
//! so whoever changes a job already holds its listeners — the runner's checkpoint returns them,
//! the API's versioned writes read them — and a push costs no extra query. Changing the map bumps
//! the job's version, so a concurrent versioned write of the job retries instead of dropping it.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kinds::JOBS;
use super::records::Record;
use super::{keys, n, tx, Store, StoreError};
use crate::domain::{Id, Timestamp};

/// API Gateway closes a WebSocket after 2 hours; the item outlives it by the idle timeout.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 600;

/// Live listeners one job keeps at most: the map lives on the job item (400 KB), and every
/// change of the job is posted to each of them.
pub const MAX_LISTENERS: usize = 100;

/// What registering a listener did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    Added,
    /// The job does not exist.
    NoJob,
    /// The job has `MAX_LISTENERS` live listeners already.
    Full,
}

/// A WebSocket connection following one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub connection_id: String,
    pub job_id: Id,
    pub project_id: Id,
    pub user_id: Id,
    pub connected_at: String,
    pub expires_at: i64,
}

impl Connection {
    pub fn new(connection_id: &str, project_id: Id, job_id: Id, user_id: Id) -> Self {
        let now = Timestamp::now();
        Self {
            connection_id: connection_id.to_string(),
            job_id,
            project_id,
            user_id,
            connected_at: now.to_rfc3339(),
            expires_at: now.unix() + CONNECTION_TTL_SECS,
        }
    }
}

/// The connection ids listening to a stored job.
pub fn listeners(job: &Record) -> Vec<String> {
    job.get("listeners")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The job's `listeners` attribute exactly as stored (for conditions that it did not change).
pub fn listeners_value(job: &Record) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(
        job.get("listeners")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default())),
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Registers a connection on a job, unless the job already has `MAX_LISTENERS` listeners
    /// (entries past their expiry, left by connections that vanished without `$disconnect`,
    /// are pruned first and do not count).
    pub async fn add_listener(&self, c: &Connection) -> Result<Listen, StoreError> {
        let item = super::to_item(c, &keys::connection(&c.connection_id))?;
        let job = JOBS.key(c.project_id, c.job_id);
        let bump = "version = if_not_exists(version, :zero) + :one";
        // The map usually exists (jobs are created with it); older items get it created.
        let mut create_map = false;
        for _ in 0..4 {
            let update = if !create_map {
                tx::update(&job, format!("SET listeners.#c = :exp, {bump}"))
                    .condition(
                        "attribute_exists(listeners) AND (size(listeners) < :max OR attribute_exists(listeners.#c))",
                    )
                    .name("#c", &c.connection_id)
                    .value(":exp", n(c.expires_at))
                    .value(":max", n(MAX_LISTENERS))
            } else {
                let mut map = std::collections::HashMap::new();
                map.insert(c.connection_id.clone(), n(c.expires_at));
                tx::update(&job, format!("SET listeners = :m, {bump}"))
                    .condition("attribute_exists(pk) AND attribute_not_exists(listeners)")
                    .value(":m", AttributeValue::M(map))
            }
            .value(":zero", n(0))
            .value(":one", n(1))
            .build(&self.table);
            let put = tx::put(item.clone(), None).build(&self.table);
            match self.transact(vec![update, put]).await {
                Ok(()) => return Ok(Listen::Added),
                Err(StoreError::Condition(0)) => {}
                Err(e) => return Err(e),
            }
            // Why: no job, no map, or a full map (of which some entries may have expired).
            let Some(current) = self.get(&job).await? else {
                return Ok(Listen::NoJob);
            };
            let Some(AttributeValue::M(map)) = current.get("listeners") else {
                create_map = true;
                continue;
            };
            create_map = false;
            let now = crate::domain::Timestamp::now().unix();
            let expired: Vec<&String> = map
                .iter()
                .filter(|(_, v)| v.as_n().ok().and_then(|e| e.parse::<i64>().ok()) < Some(now))
                .map(|(k, _)| k)
                .collect();
            if map.len() >= MAX_LISTENERS && expired.is_empty() {
                return Ok(Listen::Full);
            }
            if !expired.is_empty() {
                self.prune_listeners(&job, &expired).await?;
            }
        }
        Ok(Listen::Full)
    }

    /// Removes listener entries (expired ones) from a job's map.
    async fn prune_listeners(&self, job: &super::Key, ids: &[&String]) -> Result<(), StoreError> {
        let removes: Vec<String> = (0..ids.len()).map(|i| format!("listeners.#c{i}")).collect();
        let mut up = tx::update(
            job,
            format!(
                "REMOVE {} SET version = if_not_exists(version, :zero) + :one",
                removes.join(", ")
            ),
        )
        .condition("attribute_exists(pk)")
        .value(":zero", n(0))
        .value(":one", n(1));
        for (i, id) in ids.iter().enumerate() {
            up = up.name(&format!("#c{i}"), id);
        }
        self.update_one(up.build(&self.table)).await.map(|_| ())
    }

    /// The connection, if it is still registered.
    pub async fn connection(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        self.get(&keys::connection(connection_id))
            .await?
            .map(super::from_item)
            .transpose()
    }

    /// Forgets a connection (closed by the client, or found gone): its item and its entry in
    /// the job's listeners. Returns what was registered.
    pub async fn remove_listener(
        &self,
        connection_id: &str,
    ) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::connection(connection_id).to_item()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(super::classify)?;
        let Some(old) = out.attributes else {
            return Ok(None);
        };
        let c: Connection = super::from_item(old)?;
        self.forget_listener(c.project_id, c.job_id, connection_id)
            .await?;
        Ok(Some(c))
    }

    /// Removes a connection from a job's listeners (if the job still exists).
    pub async fn forget_listener(
        &self,
        pid: Id,
        job_id: Id,
        connection_id: &str,
    ) -> Result<(), StoreError> {
        let up = tx::update(
            &JOBS.key(pid, job_id),
            "REMOVE listeners.#c SET version = if_not_exists(version, :zero) + :one",
        )
        .condition("attribute_exists(listeners.#c)")
        .name("#c", connection_id)
        .value(":zero", n(0))
        .value(":one", n(1))
        .build(&self.table);
        self.update_one(up).await.map(|_| ())
    }
}

/// The connection item's job key (for reads).
pub fn job_key(c: &Connection) -> super::Key {
    JOBS.key(c.project_id, c.job_id)
}
