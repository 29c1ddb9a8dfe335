//! The single-table key layout (DESIGN.md "Storage"). Every key is built here.
//!
//! Project-scoped uniqueness markers live inside the project's partition
//! (`PROJECT#<pid>` / `UNIQUE#<kind>#<value>`), so deleting a project's partition removes
//! them with everything else; only global markers (email) have a partition of their own.

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

use crate::domain::ids::sk_id;
use crate::domain::Id;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    pub fn to_item(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(self.pk.clone())),
            ("sk".to_string(), AttributeValue::S(self.sk.clone())),
        ])
    }

    pub fn of_item(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        Some(Self::new(
            item.get("pk")?.as_s().ok()?.clone(),
            item.get("sk")?.as_s().ok()?.clone(),
        ))
    }
}

pub fn user_pk(uid: Id) -> String {
    format!("USER#{uid}")
}
pub fn user(uid: Id) -> Key {
    Key::new(user_pk(uid), "META")
}
/// The global email marker. Emails are at most 255 characters (≤ 1020 bytes), inside the
/// 2 KB partition-key limit, so the address itself is the key (readable when debugging).
pub fn email_marker(email: &str) -> Key {
    Key::new(format!("UNIQUE#EMAIL#{email}"), "UNIQUE")
}
pub fn family(uid: Id, family: &str) -> Key {
    Key::new(user_pk(uid), format!("FAMILY#{family}"))
}
pub const PAT_PREFIX: &str = "PAT#";
pub fn pat(uid: Id, token_id: Id) -> Key {
    Key::new(user_pk(uid), format!("{PAT_PREFIX}{}", sk_id(token_id)))
}
pub fn pat_lookup(hash: &str) -> Key {
    Key::new(format!("PATHASH#{hash}"), "PAT")
}

pub fn project_pk(pid: Id) -> String {
    format!("PROJECT#{pid}")
}
pub fn project(pid: Id) -> Key {
    Key::new(project_pk(pid), "META")
}
pub fn project_stats(pid: Id) -> Key {
    Key::new(project_pk(pid), "STATS")
}
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub fn member(pid: Id, uid: Id) -> Key {
    Key::new(project_pk(pid), format!("{MEMBER_PREFIX}{}", sk_id(uid)))
}
/// gsi1 of a membership: lists a user's projects in id (= creation) order.
pub fn member_gsi1(pid: Id, uid: Id) -> (String, String) {
    (user_pk(uid), format!("PROJECT#{}", sk_id(pid)))
}
/// gsi1 of a project META item: lists every project (superusers only).
pub const ALL_PROJECTS_GSI1PK: &str = "PROJECTS";
pub fn all_projects_gsi1(pid: Id) -> (String, String) {
    (
        ALL_PROJECTS_GSI1PK.into(),
        format!("PROJECT#{}", sk_id(pid)),
    )
}
/// gsi2 of a project META item marked deleted: the projects whose partition the maintenance
/// pass still has to sweep, oldest deletion first (sparse: removed with the META item).
pub const SWEEP_GSI2PK: &str = "PROJECTSWEEP";
pub fn project_sweep_gsi2(pid: Id, deleted_at: &str) -> (String, String) {
    (SWEEP_GSI2PK.into(), format!("{deleted_at}#{pid}"))
}
/// A project's (owner, name) is unique among its creator's projects.
pub fn project_name_marker(creator: Id, owner: &str, name: &str) -> Key {
    let digest = Sha256::digest(format!("{owner}\u{0}{name}").as_bytes());
    Key::new(
        user_pk(creator),
        format!("PROJECTNAME#{}", hex::encode(&digest[..16])),
    )
}
/// A uniqueness marker inside a project's partition (repository full_name, technology title…).
/// The value is hashed (SHA-256, 32 hex digits kept), so the sort key has a fixed length
/// however long or multibyte the value is: DynamoDB refuses sort keys over 1 KB, and a
/// 255-character emoji title alone is 1020 bytes.
pub fn project_unique(pid: Id, kind: &str, value: &str) -> Key {
    let digest = Sha256::digest(value.as_bytes());
    Key::new(
        project_pk(pid),
        format!("UNIQUE#{kind}#{}", hex::encode(&digest[..16])),
    )
}

/// Fixed rate-limit window item.
pub fn rate_window(bucket: &str, subject: &str, window_start: i64) -> String {
    format!("RATE#{bucket}#{subject}#{window_start}")
}

/// Where an item of a project lives: `ID#<id>` → project and kind, so item routes that carry
/// only the item's id find its project in one read.
pub fn pointer(id: Id) -> Key {
    Key::new(format!("ID#{id}"), "ID")
}

/// An item of a kind (`TECH`, `REPO`, `TASK`…) in a project's partition.
pub fn item(pid: Id, prefix: &str, id: Id) -> Key {
    Key::new(project_pk(pid), format!("{prefix}#{}", sk_id(id)))
}

/// A WebSocket connection listening to a job (expires with the connection's 2-hour limit).
pub fn connection(connection_id: &str) -> Key {
    Key::new(format!("WSCONN#{connection_id}"), "CONN")
}

/// Sort-key prefix of the GitHub reads cached in a project's partition (API.md §11). It sorts
/// before `REPO#`, outside the dashboard's `REPO#`..`TECH#~` range.
pub const GITHUB_CACHE_PREFIX: &str = "GHCACHE#";

/// The cache entries of one repository in a project: `GHCACHE#<owner/name>#` (lower-case:
/// GitHub names ignore case; a name has no `#`, so one repository's prefix never matches
/// another's).
pub fn github_cache_prefix(repo: &str) -> String {
    format!("{GITHUB_CACHE_PREFIX}{}#", repo.to_lowercase())
}

/// One cached GitHub read: `GHCACHE#<owner/name>#<kind>#<hash of the query>`. An owner is at
/// most 39 and a name 100 ASCII characters, so the sort key stays under 200 bytes whatever the
/// query (DynamoDB's limit is 1 KB).
pub fn github_cache(pid: Id, repo: &str, kind: &str, query: &str) -> Key {
    let digest = Sha256::digest(query.as_bytes());
    Key::new(
        project_pk(pid),
        format!(
            "{}{kind}#{}",
            github_cache_prefix(repo),
            hex::encode(&digest[..8])
        ),
    )
}

/// One tracked GitHub rate-limit reading (API.md §12): `GHRATE#<resource>#<checked_at>`, so a
/// resource's readings list in time order (`begins_with(sk, "GHRATE#core#")`).
pub fn github_rate(pid: Id, resource: &str, checked_at: &str) -> Key {
    Key::new(project_pk(pid), format!("GHRATE#{resource}#{checked_at}"))
}
