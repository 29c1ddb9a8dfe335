//! GitHub-related items: the sparse index of tracked repositories the nightly sync walks.

use super::{Store, StoreError};
use crate::domain::Id;
use crate::github::sync::TRACKED_SHARDS;
use crate::store::records::pointed_id;

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
