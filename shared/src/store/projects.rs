//! Projects, their STATS counters, memberships and the per-creator (owner, name) marker.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{attr_bool, from_item, keys, n, s, to_item, tx, Item, Store, StoreError};
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
        let memberships: Vec<Membership> = self
            .query_index(
                "gsi1",
                &keys::user_pk(user_id),
                Some(super::query_limit(skip.saturating_add(limit))),
                true,
            )
            .await?
            .into_iter()
            .skip(skip)
            .map(from_item)
            .collect::<Result<_, _>>()?;
        let metas: Vec<_> = memberships
            .iter()
            .map(|m| keys::project(m.project_id))
            .collect();
        let mut found = self.batch_get(&metas).await?;
        let mut out = Vec::with_capacity(memberships.len());
        for m in memberships {
            if let Some(item) = found.remove(&keys::project(m.project_id)) {
                if is_live(&item) {
                    out.push((from_item(item)?, m.role));
                }
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

    /// Up to `limit` of a user's memberships (for "the caller's only project").
    pub async fn user_project_ids(&self, user_id: Id, limit: i32) -> Result<Vec<Id>, StoreError> {
        Ok(self
            .query_index("gsi1", &keys::user_pk(user_id), Some(limit), true)
            .await?
            .iter()
            .filter_map(|i| super::attr_n(i, "project_id"))
            .map(|v| v as Id)
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

    /// Deletes a project and everything in its partition: first marks it deleting (it reads as
    /// missing from then on, and a retried DELETE resumes), then removes the partition, then
    /// the META item and its name marker. A crash half-way leaves a project a retry finishes.
    pub async fn delete_project(&self, p: &Project) -> Result<(), StoreError> {
        self.transact(vec![tx::update(&keys::project(p.id), "SET deleting = :t")
            .condition("attribute_exists(pk)")
            .value(":t", AttributeValue::Bool(true))
            .build(&self.table)])
            .await?;
        let meta = keys::project(p.id);
        let mut doomed: Vec<_> = self
            .partition_keys(&keys::project_pk(p.id))
            .await?
            .into_iter()
            .filter(|k| *k != meta)
            .collect();
        // Items reachable by id alone have a pointer outside the partition.
        let pointers: Vec<_> = doomed
            .iter()
            .filter_map(|k| super::records::pointed_id(&k.sk))
            .map(keys::pointer)
            .collect();
        doomed.extend(pointers);
        self.batch_delete(&doomed).await?;
        self.transact(vec![
            tx::delete(&meta, None, &self.table),
            tx::delete(
                &keys::project_name_marker(p.created_by, &p.owner, &p.name),
                None,
                &self.table,
            ),
        ])
        .await
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
