//! Repository sync (API.md §3), shared by `POST /repositories/{id}/sync` and the
//! `repository_sync` job: the repository and the newest commit of its default branch, read with
//! conditional requests (the ETags this record stored for this token), the GitHub-derived
//! fields refreshed, `repository.synced` emitted in the same transaction.
//!
//! Costs: 2 GitHub requests (both 304 and free of rate-limit points when nothing changed) and
//! one TransactWriteItems (a re-read and another write only when the record changed under us).

use serde_json::{json, Map, Value};

use super::{Call, GitHub, GitHubError, Token};
use crate::domain::{Id, Timestamp};
use crate::events::EventType;
use crate::store::kinds::REPOSITORIES;
use crate::store::records::{record_of, version_of, Record};
use crate::store::{Store, StoreError};

/// The attribute holding the ETags of the last sync: `{token, repo, commits}`; `token` is the
/// fingerprint they belong to (GitHub ties ETags to the token). Never part of a response.
pub const ETAGS: &str = "github_etags";
/// When the GitHub data a sync stored was asked for (internal; orders concurrent syncs).
pub const FETCHED_AT: &str = "github_fetched_at";
/// How many nightly shards tracked repositories are spread over (sparse gsi2 `TRACKED#<n>`).
pub const TRACKED_SHARDS: u64 = 4;
/// Writes tried when the record keeps changing under the sync (each retry is one read and one
/// write, no GitHub request); then 503, retryable.
const WRITE_ATTEMPTS: usize = 8;
/// The longest commit message kept (the item budget is shared with metadata_).
const MESSAGE_MAX: usize = 10_000;

/// The sparse index entry that lists a repository for the nightly sync.
pub fn tracked_index(full_name: &str, created_at: &str) -> (String, String) {
    let shard = full_name
        .to_ascii_lowercase()
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (
        format!("TRACKED#{}", shard % TRACKED_SHARDS),
        created_at.to_string(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The repository went away while it was being synced.
    #[error("repository {0} no longer exists")]
    Gone(Id),
}

/// What a sync did.
#[derive(Debug, Clone)]
pub struct Synced {
    /// RepositorySyncResult.
    pub result: Value,
    /// The repository as now stored.
    pub record: Record,
    /// GitHub requests made / of them answered 304.
    pub requests: u32,
    pub not_modified: u32,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Syncs `repo` (as read) of project `pid`; `project_token` is the project's sealed token.
pub async fn sync_repository(
    github: &GitHub,
    store: &Store,
    pid: Id,
    repo: &Record,
    project_token: Option<&str>,
    force: bool,
) -> Result<Synced, SyncError> {
    let sealed = |r: &Record| {
        r.get("access_token_enc")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let token = github
        .token_for(pid, sealed(repo).as_deref(), project_token)
        .await?;
    let fetch_started = Timestamp::now().to_rfc3339();
    let fetched = fetch(github, repo, &token, force).await?;
    let mut old = repo.clone();
    for attempt in 0..WRITE_ATTEMPTS {
        let mut new = apply(&old, &fetched, &token);
        new.insert(FETCHED_AT.into(), Value::from(fetch_started.clone()));
        let result = sync_result(&old, &new);
        let event = (EventType::RepositorySynced, event_data(&new, &result));
        match store
            .update_record(&REPOSITORIES, pid, &old, &new, vec![event], vec![])
            .await
        {
            Ok(()) => {
                return Ok(Synced {
                    result,
                    record: new,
                    requests: fetched.requests,
                    not_modified: fetched.not_modified,
                })
            }
            // Changed meanwhile (a PATCH, another sync): apply the same GitHub data to what is
            // stored now.
            Err(StoreError::Condition(0)) if attempt + 1 == WRITE_ATTEMPTS => break,
            Err(StoreError::Condition(0)) => {
                // Jittered, growing pause: concurrent syncs of one repository take turns.
                let pause = rand::random_range(5..25) * (attempt as u64 + 1);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                let id = old.get("id").and_then(Value::as_u64).unwrap_or(0);
                old = match store.get(&REPOSITORIES.key(pid, id)).await? {
                    Some(item) => record_of(item)?,
                    None => return Err(SyncError::Gone(id)),
                };
                // Another sync that asked GitHub after ours already wrote: its data is at least
                // as fresh as ours, so ours is not written over it.
                if old.get(FETCHED_AT).and_then(Value::as_str) >= Some(&fetch_started) {
                    return Ok(Synced {
                        result: sync_result(&old, &old),
                        record: old,
                        requests: fetched.requests,
                        not_modified: fetched.not_modified,
                    });
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Still changing after every attempt: retryable (503 on a request, a retry in a job).
    Err(StoreError::Unavailable("the repository kept changing during its sync".into()).into())
}

/// What GitHub said.
struct Fetched {
    /// The repository document (None: 304).
    repo: Option<Value>,
    repo_etag: Option<String>,
    /// Newest commit of the default branch: Some(None) = the branch has no commits;
    /// None = 304.
    commit: Option<Option<Value>>,
    commits_etag: Option<String>,
    requests: u32,
    not_modified: u32,
}

async fn fetch(
    github: &GitHub,
    repo: &Record,
    token: &Token,
    force: bool,
) -> Result<Fetched, GitHubError> {
    let owner = repo.get("owner").and_then(Value::as_str).unwrap_or("");
    let name = repo.get("name").and_then(Value::as_str).unwrap_or("");
    // ETags count only for the token they were issued to.
    let stored = repo
        .get(ETAGS)
        .filter(|e| !force && text(e, &["token"]) == Some(token.fingerprint().as_str()));
    let etag = |k: &str| stored.and_then(|e| text(e, &[k])).map(str::to_string);
    let (prev_repo_etag, prev_commits_etag) = (etag("repo"), etag("commits"));
    let base = format!("/repos/{}/{}", path_segment(owner), path_segment(name));
    let mut f = Fetched {
        repo: None,
        repo_etag: prev_repo_etag.clone(),
        commit: None,
        commits_etag: prev_commits_etag.clone(),
        requests: 0,
        not_modified: 0,
    };
    let reply = github
        .send(
            Call::get(&base).revalidate(prev_repo_etag.as_deref()),
            token,
        )
        .await?;
    f.requests += 1;
    if reply.not_modified() {
        f.not_modified += 1;
    } else {
        f.repo_etag = reply.etag;
        f.repo = Some(reply.body);
    }
    let branch = f
        .repo
        .as_ref()
        .and_then(|r| text(r, &["default_branch"]))
        .or_else(|| repo.get("default_branch").and_then(Value::as_str))
        .unwrap_or("main")
        .to_string();
    // A changed default branch makes the stored commits ETag meaningless.
    let branch_moved = repo.get("default_branch").and_then(Value::as_str) != Some(branch.as_str());
    let commits_path = format!("{base}/commits?sha={}&per_page=1", path_segment(&branch));
    let reply = github
        .send(
            Call::get(&commits_path).revalidate(if branch_moved {
                None
            } else {
                prev_commits_etag.as_deref()
            }),
            token,
        )
        .await;
    f.requests += 1;
    match reply {
        Ok(r) if r.not_modified() => f.not_modified += 1,
        Ok(r) => {
            f.commits_etag = r.etag;
            f.commit = Some(r.body.as_array().and_then(|a| a.first()).cloned());
        }
        // An empty repository: 409 "Git Repository is empty."
        Err(GitHubError::Conflict(_)) => {
            f.commits_etag = None;
            f.commit = Some(None);
        }
        Err(e) => return Err(e),
    }
    Ok(f)
}

/// The record after the sync: GitHub-derived fields from what changed, last_synced_at always;
/// updated_at moves only when something GitHub-derived did.
fn apply(old: &Record, f: &Fetched, token: &Token) -> Record {
    let mut new = old.clone();
    let now = Timestamp::now().to_rfc3339();
    let mut set = |k: &str, v: Value| {
        if new.get(k) != Some(&v) {
            new.insert(k.to_string(), v);
            true
        } else {
            false
        }
    };
    let mut changed = false;
    if let Some(r) = &f.repo {
        let int = |k: &str| r.get(k).and_then(Value::as_u64).map(Value::from);
        let string = |k: &str| r.get(k).and_then(Value::as_str).map(Value::from);
        changed |= set("github_id", int("id").unwrap_or(Value::Null));
        changed |= set("url", string("html_url").unwrap_or(Value::Null));
        changed |= set("clone_url", string("clone_url").unwrap_or(Value::Null));
        changed |= set(
            "default_branch",
            string("default_branch").unwrap_or_else(|| Value::from("main")),
        );
        changed |= set("stars", int("stargazers_count").unwrap_or(Value::from(0)));
        changed |= set("forks", int("forks_count").unwrap_or(Value::from(0)));
        changed |= set("language", string("language").unwrap_or(Value::Null));
        if let Some(private) = r.get("private").and_then(Value::as_bool) {
            changed |= set("is_private", Value::from(private));
        }
        // The description the user wrote stays unless GitHub has one.
        if let Some(d) = string("description") {
            changed |= set("description", d);
        }
    }
    if let Some(commit) = &f.commit {
        let (sha, message, author, date) = match commit {
            Some(c) => (
                text(c, &["sha"]).map(Value::from),
                text(c, &["commit", "message"])
                    .map(|m| Value::from(m.chars().take(MESSAGE_MAX).collect::<String>())),
                text(c, &["commit", "author", "name"]).map(Value::from),
                text(c, &["commit", "author", "date"])
                    .or_else(|| text(c, &["commit", "committer", "date"]))
                    .and_then(Timestamp::parse)
                    .map(|t| Value::from(t.to_rfc3339())),
            ),
            None => (None, None, None, None),
        };
        changed |= set("last_commit_sha", sha.unwrap_or(Value::Null));
        changed |= set("last_commit_message", message.unwrap_or(Value::Null));
        changed |= set("last_commit_author", author.unwrap_or(Value::Null));
        changed |= set("last_commit_date", date.unwrap_or(Value::Null));
    }
    let mut etags = Map::new();
    etags.insert("token".into(), Value::from(token.fingerprint()));
    if let Some(e) = &f.repo_etag {
        etags.insert("repo".into(), Value::from(e.clone()));
    }
    if let Some(e) = &f.commits_etag {
        etags.insert("commits".into(), Value::from(e.clone()));
    }
    new.insert(ETAGS.into(), Value::Object(etags));
    new.insert("last_synced_at".into(), Value::from(now.clone()));
    if changed {
        new.insert("updated_at".into(), Value::from(now));
    }
    // Listed for the nightly sync (repositories tracked before the index existed get listed by
    // their first sync).
    if !new.contains_key("gsi2pk") {
        let full_name = new
            .get("full_name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let created = new
            .get("created_at")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (pk, sk) = tracked_index(&full_name, &created);
        new.insert("gsi2pk".into(), Value::from(pk));
        new.insert("gsi2sk".into(), Value::from(sk));
    }
    // Found by inbound GitHub deliveries (repositories tracked before the index existed get
    // it at their first sync).
    if !new.contains_key("gsi1pk") {
        let full_name = new.get("full_name").and_then(Value::as_str).unwrap_or("");
        let pid = new.get("project_id").and_then(Value::as_u64);
        let id = new.get("id").and_then(Value::as_u64);
        if let (false, Some(pid), Some(id)) = (full_name.is_empty(), pid, id) {
            let (pk, sk) = crate::store::webhook_events::repo_index(full_name, pid, id);
            new.insert("gsi1pk".into(), Value::from(pk));
            new.insert("gsi1sk".into(), Value::from(sk));
        }
    }
    new.insert("version".into(), json!(version_of(old) + 1));
    new
}

/// RepositorySyncResult (API.md §3).
fn sync_result(old: &Record, new: &Record) -> Value {
    let sha = |r: &Record| {
        r.get("last_commit_sha")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let changes = matches!((sha(old), sha(new)), (Some(a), b) if Some(&a) != b.as_ref());
    json!({
        "repository_id": new.get("id").cloned().unwrap_or(Value::Null),
        "synced": true,
        "last_commit_sha": new.get("last_commit_sha").cloned().unwrap_or(Value::Null),
        "last_commit_message": new.get("last_commit_message").cloned().unwrap_or(Value::Null),
        "last_synced_at": new.get("last_synced_at").cloned().unwrap_or(Value::Null),
        "changes_detected": changes,
    })
}

/// The repository.synced payload: the sync result with the repository's name.
fn event_data(new: &Record, result: &Value) -> Value {
    let mut data = result.clone();
    if let Some(obj) = data.as_object_mut() {
        obj.insert(
            "full_name".into(),
            new.get("full_name").cloned().unwrap_or(Value::Null),
        );
        obj.insert(
            "default_branch".into(),
            new.get("default_branch").cloned().unwrap_or(Value::Null),
        );
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sha: Option<&str>) -> Record {
        let mut r = Record::new();
        r.insert("id".into(), json!(7));
        r.insert("version".into(), json!(3));
        r.insert("default_branch".into(), json!("main"));
        r.insert("stars".into(), json!(0));
        r.insert("forks".into(), json!(0));
        r.insert("created_at".into(), json!("2026-01-01T00:00:00.000Z"));
        r.insert("updated_at".into(), json!("2026-01-01T00:00:00.000Z"));
        if let Some(s) = sha {
            r.insert("last_commit_sha".into(), json!(s));
        }
        r
    }

    fn unchanged() -> Fetched {
        Fetched {
            repo: None,
            repo_etag: Some("\"r\"".into()),
            commit: None,
            commits_etag: Some("\"c\"".into()),
            requests: 2,
            not_modified: 2,
        }
    }

    #[test]
    fn not_modified_touches_only_last_synced_at() {
        let old = record(Some("abc"));
        let new = apply(&old, &unchanged(), &Token::anonymous());
        assert_eq!(new["updated_at"], old["updated_at"]);
        assert_eq!(new["last_commit_sha"], json!("abc"));
        assert!(new.contains_key("last_synced_at"));
        assert_eq!(new[ETAGS]["token"], json!("anon"));
        assert_eq!(new["version"], json!(4));
        assert_eq!(sync_result(&old, &new)["changes_detected"], json!(false));
    }

    #[test]
    fn a_new_commit_is_a_change_only_if_there_was_one_before() {
        let mut f = unchanged();
        f.commit = Some(Some(
            json!({"sha": "def", "commit": {"message": "m", "author": {"name": "a", "date": "2026-11-30T10:00:00+01:00"}}}),
        ));
        let old = record(Some("abc"));
        let new = apply(&old, &f, &Token::anonymous());
        assert_eq!(new["last_commit_date"], json!("2026-11-30T09:00:00.000Z"));
        assert_ne!(new["updated_at"], old["updated_at"]);
        assert_eq!(sync_result(&old, &new)["changes_detected"], json!(true));
        let first = record(None);
        let new = apply(&first, &f, &Token::anonymous());
        assert_eq!(sync_result(&first, &new)["changes_detected"], json!(false));
        assert!(new["gsi2pk"].as_str().unwrap().starts_with("TRACKED#"));
    }
}
