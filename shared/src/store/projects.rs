//! Projects, their STATS counters, memberships and the per-creator (owner, name) marker.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{attr_bool, from_item, keys, n, s, to_item, tx, Item, Key, Store, StoreError};
use crate::domain::project::{Membership, Project, ProjectCounters, ProjectRole};
use crate::domain::{Id, Timestamp};

/// Index of the (owner, name) marker in the create transaction (its condition failing = 409).
pub const CREATE_NAME_MARKER_INDEX: usize = 3;
/// In `update_project`, the new marker's index when the name or owner changes.
pub const UPDATE_NAME_MARKER_INDEX: usize = 2;
/// In `remove_member`, the STATS owner-count guard.
pub const REMOVE_OWNER_GUARD_INDEX: usize = 1;

fn membership_item(m: &Membership) -> Result<Item, StoreError> {
    let mut item = to_item(m, &keys::member(m.project_id, m.user_id))?;
    let (g1pk, g1sk) = keys::member_gsi1(m.project_id, m.user_id);
    item.insert("gsi1pk".into(), s(g1pk));
    item.insert("gsi1sk".into(), s(g1sk));
    Ok(item)
}

/// A project META item marked for deletion reads as missing.
pub fn is_live(item: &Item) -> bool {
    !attr_bool(item, "deleting").unwrap_or(false)
}

/// The numeric attributes of a STATS item.
pub fn counters_of(item: Option<Item>) -> ProjectCounters {
    ProjectCounters(
        item.unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
            .collect(),
    )
}

/// Which fields of a project change, and to what.
#[derive(Debug, Default, Clone)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub owner: Option<String>,
    pub description: Option<Option<String>>,
    pub github_token_enc: Option<Option<String>>,
}

/// One step of a project's sweep (`Store::sweep_page`).
#[derive(Debug, Default)]
pub struct SweepPage {
    /// Items of the partition (META and STATS excepted).
    pub items: Vec<Key>,
    /// `ID#<id>` pointers of the records among them.
    pub pointers: Vec<Key>,
    /// S3 objects they name.
    pub objects: Vec<String>,
    /// Nothing else is left in the partition after these.
    pub last: bool,
}

/// Adds an expression value to a transaction `Delete`.
fn with_value(
    mut item: aws_sdk_dynamodb::types::TransactWriteItem,
    k: &str,
    v: AttributeValue,
) -> aws_sdk_dynamodb::types::TransactWriteItem {
    if let Some(d) = item.delete.as_mut() {
        d.expression_attribute_values
            .get_or_insert_with(Default::default)
            .insert(k.to_string(), v);
    }
    item
}

impl Store {
    pub async fn create_project(&self, p: &Project, owner: &Membership) -> Result<(), StoreError> {
        let mut meta = to_item(p, &keys::project(p.id))?;
        let (g1pk, g1sk) = keys::all_projects_gsi1(p.id);
        meta.insert("gsi1pk".into(), s(g1pk));
        meta.insert("gsi1sk".into(), s(g1sk));
        let mut stats = keys::project_stats(p.id).to_item();
        stats.insert("owners".into(), n(1));
        stats.insert("members".into(), n(1));
        let mut marker = keys::project_name_marker(p.created_by, &p.owner, &p.name).to_item();
        marker.insert("project_id".into(), n(p.id));
        self.transact(vec![
            tx::put(meta, Some("attribute_not_exists(pk)")).build(&self.table),
            tx::put(stats, None).build(&self.table),
            tx::put(membership_item(owner)?, None).build(&self.table),
            tx::put(marker, Some("attribute_not_exists(pk)")).build(&self.table),
        ])
        .await
    }

    /// The projects `user_id` is a member of, in creation order, with the caller's role.
    pub async fn list_member_projects(
        &self,
        user_id: Id,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<(Project, ProjectRole)>, StoreError> {
        self.live_memberships(user_id, skip.saturating_add(limit))
            .await?
            .into_iter()
            .skip(skip)
            .map(|(m, meta)| Ok((from_item(meta)?, m.role)))
            .collect()
    }

    /// The user's memberships of live projects in creation order, with each project's META
    /// item, until `want` are found. A deleted project's memberships stay until its sweep
    /// removes them; they are passed over here (its META reads as deleted or is gone), so the
    /// project shows up nowhere meanwhile and skip/limit count live projects only. Two reads
    /// (a page of memberships, one batch of META items) unless deleted ones fill the page.
    async fn live_memberships(
        &self,
        user_id: Id,
        want: usize,
    ) -> Result<Vec<(Membership, Item)>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        while out.len() < want {
            let page = want.saturating_sub(out.len()).saturating_add(2).min(1000) as i32;
            let q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(keys::user_pk(user_id)))
                .limit(page)
                .set_exclusive_start_key(start.take());
            let res = q.send().await.map_err(super::classify)?;
            let memberships: Vec<Membership> = res
                .items
                .unwrap_or_default()
                .into_iter()
                .map(from_item)
                .collect::<Result<_, _>>()?;
            let metas: Vec<_> = memberships
                .iter()
                .map(|m| keys::project(m.project_id))
                .collect();
            let mut found = self.batch_get(&metas).await?;
            for m in memberships {
                match found.remove(&keys::project(m.project_id)) {
                    Some(meta) if is_live(&meta) && out.len() < want => out.push((m, meta)),
                    _ => {}
                }
            }
            start = res.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Every project (superusers), in creation order.
    pub async fn list_all_projects(
        &self,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<Project>, StoreError> {
        self.query_index(
            "gsi1",
            keys::ALL_PROJECTS_GSI1PK,
            Some(super::query_limit(skip.saturating_add(limit))),
            true,
        )
        .await?
        .into_iter()
        .skip(skip)
        .filter(is_live)
        .map(from_item)
        .collect()
    }

    /// Up to `limit` of a user's memberships, live projects or not (one Query).
    pub async fn membership_project_ids(
        &self,
        user_id: Id,
        limit: i32,
    ) -> Result<Vec<Id>, StoreError> {
        Ok(self
            .query_index("gsi1", &keys::user_pk(user_id), Some(limit), true)
            .await?
            .iter()
            .filter_map(|i| super::attr_n(i, "project_id"))
            .map(|v| v as Id)
            .collect())
    }

    /// Up to `limit` of the live projects a user is a member of (a project being deleted is
    /// not one of them).
    pub async fn user_project_ids(&self, user_id: Id, limit: i32) -> Result<Vec<Id>, StoreError> {
        Ok(self
            .live_memberships(user_id, limit.max(0) as usize)
            .await?
            .iter()
            .map(|(m, _)| m.project_id)
            .collect())
    }

    /// Applies `c` to the project as read, conditioned on that read (name, owner and
    /// updated_at unchanged), so two concurrent renames cannot both move the name marker: the
    /// loser reads the project again and re-applies its change from there. Returns the
    /// project as stored; condition 0 = the project is gone (or being deleted),
    /// `UPDATE_NAME_MARKER_INDEX` = the new (owner, name) is taken.
    pub async fn update_project(
        &self,
        read: &Project,
        c: &ProjectChanges,
        now: Timestamp,
    ) -> Result<Project, StoreError> {
        let mut p = read.clone();
        for _ in 0..5 {
            match self.update_project_once(&p, c, now).await {
                Ok(updated) => return Ok(updated),
                Err(StoreError::Condition(0)) => match self.get(&keys::project(p.id)).await? {
                    Some(item) if is_live(&item) => p = from_item(item)?,
                    _ => return Err(StoreError::Condition(0)),
                },
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "the project kept changing during its update".into(),
        ))
    }

    async fn update_project_once(
        &self,
        p: &Project,
        c: &ProjectChanges,
        now: Timestamp,
    ) -> Result<Project, StoreError> {
        let mut updated = p.clone();
        if let Some(v) = &c.name {
            updated.name = v.clone();
        }
        if let Some(v) = &c.owner {
            updated.owner = v.clone();
        }
        if let Some(v) = &c.description {
            updated.description = v.clone();
        }
        if let Some(v) = &c.github_token_enc {
            updated.github_token_enc = v.clone();
        }
        updated.updated_at = now;
        let mut sets = vec!["updated_at = :now".to_string()];
        let mut values: Vec<(String, AttributeValue)> = vec![
            (":now".into(), s(now.to_rfc3339())),
            (":old_name".into(), s(&p.name)),
            (":old_owner".into(), s(&p.owner)),
            (":old_at".into(), s(p.updated_at.to_rfc3339())),
        ];
        for (field, value) in [("name", &c.name), ("owner", &c.owner)] {
            if let Some(v) = value {
                sets.push(format!("#{field} = :{field}"));
                values.push((format!(":{field}"), s(v)));
            }
        }
        for (field, value) in [
            ("description", &c.description),
            ("github_token_enc", &c.github_token_enc),
        ] {
            if let Some(v) = value {
                sets.push(format!("{field} = :{field}"));
                values.push((
                    format!(":{field}"),
                    v.as_ref().map(s).unwrap_or(AttributeValue::Null(true)),
                ));
            }
        }
        // `name` and `owner` are DynamoDB reserved words.
        let mut up = tx::update(&keys::project(p.id), format!("SET {}", sets.join(", ")))
            .condition(
                "attribute_exists(pk) AND attribute_not_exists(deleting) AND #name = :old_name \
                 AND #owner = :old_owner AND updated_at = :old_at",
            )
            .name("#name", "name")
            .name("#owner", "owner");
        for (k, v) in values {
            up = up.value(&k, v);
        }
        let mut items = vec![up.build(&self.table)];
        if updated.name != p.name || updated.owner != p.owner {
            let old = keys::project_name_marker(p.created_by, &p.owner, &p.name);
            let mut marker =
                keys::project_name_marker(p.created_by, &updated.owner, &updated.name).to_item();
            marker.insert("project_id".into(), n(p.id));
            items.push(tx::delete(&old, None, &self.table));
            items.push(tx::put(marker, Some("attribute_not_exists(pk)")).build(&self.table));
        }
        self.transact(items).await?;
        Ok(updated)
    }

    /// Deletes a project as far as anyone can tell, in one transaction conditioned on the
    /// project as read: its META item is marked `deleting` (it reads as missing from then on,
    /// leaves the superusers' list, and enters the sparse gsi2 index of partitions to sweep)
    /// and its (owner, name) marker is freed, so the name can be used again at once. The rest
    /// of the partition is swept later, in bounded steps (`sweep_page`, `finish_sweep`), by the
    /// maintenance pass. A concurrent rename is re-read and the delete applied to it;
    /// condition 0 = the project is gone or already deleted (404).
    pub async fn delete_project(&self, read: &Project) -> Result<(), StoreError> {
        let mut p = read.clone();
        for _ in 0..5 {
            let now = Timestamp::now().to_rfc3339();
            let (g2pk, g2sk) = keys::project_sweep_gsi2(p.id, &now);
            let mark = tx::update(
                &keys::project(p.id),
                "SET deleting = :t, deleted_at = :now, gsi2pk = :g2pk, gsi2sk = :g2sk REMOVE gsi1pk, gsi1sk",
            )
            .condition(
                "attribute_exists(pk) AND attribute_not_exists(deleting) AND #name = :name AND #owner = :owner",
            )
            .name("#name", "name")
            .name("#owner", "owner")
            .value(":t", AttributeValue::Bool(true))
            .value(":now", s(&now))
            .value(":g2pk", s(g2pk))
            .value(":g2sk", s(g2sk))
            .value(":name", s(&p.name))
            .value(":owner", s(&p.owner))
            .build(&self.table);
            let free = tx::delete(
                &keys::project_name_marker(p.created_by, &p.owner, &p.name),
                Some("attribute_not_exists(pk) OR project_id = :pid"),
                &self.table,
            );
            let free = with_value(free, ":pid", n(p.id));
            match self.transact(vec![mark, free]).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Condition(0)) => match self.get(&keys::project(p.id)).await? {
                    Some(item) if is_live(&item) => p = from_item(item)?,
                    _ => return Err(StoreError::Condition(0)),
                },
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "the project kept changing during its delete".into(),
        ))
    }

    /// Projects marked deleted whose partition is still to be swept, oldest first.
    pub async fn projects_to_sweep(&self, limit: i32) -> Result<Vec<Id>, StoreError> {
        Ok(self
            .query_index("gsi2", keys::SWEEP_GSI2PK, Some(limit), true)
            .await?
            .iter()
            .filter_map(|i| super::attr_s(i, "pk"))
            .filter_map(|pk| pk.strip_prefix("PROJECT#")?.parse().ok())
            .collect())
    }

    /// One bounded step of a deleted project's sweep: up to `limit` items of its partition
    /// (META and STATS, which go last, excepted), with what lives outside it — the `ID#<id>`
    /// pointers of its records, and the S3 objects its items name (research task documents,
    /// pending uploads, job results). The partition is its own cursor: what a step deleted is
    /// gone, so a step after a crash starts where the last one stopped.
    pub async fn sweep_page(&self, pid: Id, limit: i32) -> Result<SweepPage, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::project_pk(pid)))
            .projection_expression("pk, sk, uploaded_documents, pending_key, result_key")
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(super::classify)?;
        let mut page = SweepPage {
            last: out.last_evaluated_key.is_none(),
            ..SweepPage::default()
        };
        for item in out.items.unwrap_or_default() {
            let Some(key) = Key::of_item(&item) else {
                continue;
            };
            if key.sk == "META" || key.sk == "STATS" {
                continue;
            }
            if let Some(id) = super::records::pointed_id(&key.sk) {
                page.pointers.push(keys::pointer(id));
            }
            for k in ["pending_key", "result_key", "body_key"] {
                page.objects.extend(super::attr_s(&item, k));
            }
            if let Some(AttributeValue::L(docs)) = item.get("uploaded_documents") {
                page.objects.extend(
                    docs.iter()
                        .filter_map(|d| d.as_m().ok()?.get("file_path")?.as_s().ok().cloned()),
                );
            }
            page.items.push(key);
        }
        Ok(page)
    }

    /// Deletes what a sweep step found: the pointers first (a pointer without its item reads
    /// as missing; an item without its pointer would be unreachable), then the items.
    pub async fn sweep_delete(&self, page: &SweepPage) -> Result<(), StoreError> {
        self.batch_delete(&page.pointers).await?;
        self.batch_delete(&page.items).await
    }

    /// Ends a sweep once the partition holds only META and STATS: both go in one transaction,
    /// conditioned on the project still being marked deleted. `Ok(false)`: already finished.
    pub async fn finish_sweep(&self, pid: Id) -> Result<bool, StoreError> {
        match self
            .transact(vec![
                tx::delete(
                    &keys::project(pid),
                    Some("attribute_exists(deleting)"),
                    &self.table,
                ),
                tx::delete(&keys::project_stats(pid), None, &self.table),
            ])
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Condition(0)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn list_members(&self, pid: Id) -> Result<Vec<Membership>, StoreError> {
        let mut members: Vec<Membership> = self
            .query_prefix(&keys::project_pk(pid), keys::MEMBER_PREFIX, None, true)
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        members.sort_by(|a, b| a.added_at.cmp(&b.added_at).then(a.user_id.cmp(&b.user_id)));
        Ok(members)
    }

    /// Adds a member; condition 0 failing = already a member, 2 = project gone.
    pub async fn add_member(&self, m: &Membership) -> Result<(), StoreError> {
        let owners = i64::from(m.role == ProjectRole::Owner);
        self.transact(vec![
            tx::put(membership_item(m)?, Some("attribute_not_exists(pk)")).build(&self.table),
            tx::update(
                &keys::project_stats(m.project_id),
                "ADD members :one, owners :o",
            )
            .value(":one", n(1))
            .value(":o", n(owners))
            .build(&self.table),
            tx::update(&keys::project(m.project_id), "SET updated_at = updated_at")
                .condition("attribute_exists(pk) AND attribute_not_exists(deleting)")
                .build(&self.table),
        ])
        .await
    }

    /// Removes a member; an owner only while another owner remains
    /// (condition `REMOVE_OWNER_GUARD_INDEX` failing = last owner).
    pub async fn remove_member(&self, m: &Membership) -> Result<(), StoreError> {
        let stats = keys::project_stats(m.project_id);
        let guard = if m.role == ProjectRole::Owner {
            tx::update(&stats, "ADD members :m, owners :m")
                .condition("owners > :one")
                .value(":m", n(-1))
                .value(":one", n(1))
        } else {
            tx::update(&stats, "ADD members :m").value(":m", n(-1))
        };
        self.transact(vec![
            tx::delete(
                &keys::member(m.project_id, m.user_id),
                Some("attribute_exists(pk)"),
                &self.table,
            ),
            guard.build(&self.table),
        ])
        .await
    }
}
