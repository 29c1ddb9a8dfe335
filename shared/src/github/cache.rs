//! The per-project cache of §11's reads (API.md §11, DESIGN.md "Outside services"): one item
//! per (project, repository, kind of read, query) in the project's partition, holding our
//! response body, the GitHub pages it was made of with their ETags, the token fingerprint it
//! was read with and how long it is fresh.
//!
//! - Fresh (and use_cache): served as stored, no GitHub request.
//! - Stale, or use_cache=false: every page is asked for again with its ETag (`Read::fetch`);
//!   all 304 → the stored body is served and its freshness extended (one UpdateItem); a
//!   change → the new body is served and stored (one PutItem). use_cache=false skips only the
//!   TTL: a 304 proves the stored body is GitHub's current answer, so it is as fresh as an
//!   unconditional read, and it costs no rate-limit points.
//! - An entry read with another token is neither served nor revalidated (GitHub ties ETags,
//!   and what a token may see, to the token); the new read replaces it.
//! - A body too large for one item (> `store::ITEM_BUDGET`) is served uncached, and the
//!   entry it would have replaced is removed.
//!
//! Cache writes are best effort: the request has its answer from GitHub, so a failed write is
//! logged, not returned.

use serde_json::Value;

use super::repos::{Read, RepoName};
use super::{GitHub, GitHubError, Token};
use crate::domain::Timestamp;
use crate::store::github::CacheEntry;
use crate::store::{Key, Store};

/// Where a served body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The cache, fresh: no GitHub request.
    Cache,
    /// The cache, after GitHub answered 304 to every page.
    Revalidated,
    /// GitHub (a first read, or a change); stored unless too large.
    GitHub,
}

/// A read's answer.
#[derive(Debug, Clone)]
pub struct Served {
    pub body: Value,
    pub source: Source,
    /// GitHub requests made.
    pub requests: u32,
}

/// Keeps an entry for revalidation this long after it stops being fresh (DynamoDB TTL
/// removes it then; moto never does, which only costs space: freshness is checked here).
const KEEP_STALE_SECS: i64 = 24 * 3600;

/// Serves `read` of `repo` for the project whose cache item is `key`, holding `entry` (as
/// read along with the project).
#[allow(clippy::too_many_arguments)]
pub async fn read(
    github: &GitHub,
    store: &Store,
    key: &Key,
    repo: &RepoName,
    read: &Read,
    token: &Token,
    entry: Option<CacheEntry>,
    use_cache: bool,
) -> Result<Served, GitHubError> {
    let now = Timestamp::now().unix();
    let fingerprint = token.fingerprint();
    let entry = entry.filter(|e| e.token == fingerprint);
    if let Some(e) = entry.as_ref().filter(|e| use_cache && e.fresh_until > now) {
        return Ok(Served {
            body: e.snapshot.body.clone(),
            source: Source::Cache,
            requests: 0,
        });
    }
    let (fetched, requests) = read
        .fetch(github, token, repo, entry.as_ref().map(|e| &e.snapshot))
        .await?;
    let fresh_until = now.saturating_add(read.fresh_secs());
    let expires_at = fresh_until.saturating_add(KEEP_STALE_SECS);
    match (fetched, entry) {
        (None, Some(e)) => {
            if let Err(err) = store
                .refresh_github_cache(key, &e.stamp, fresh_until, expires_at)
                .await
            {
                tracing::warn!(error = %err, "could not extend a GitHub cache entry");
            }
            Ok(Served {
                body: e.snapshot.body,
                source: Source::Revalidated,
                requests,
            })
        }
        (Some(snapshot), _) => {
            let entry = CacheEntry::new(snapshot, fingerprint, fresh_until);
            match store
                .put_github_cache(key, &repo.key(), read.kind(), &entry, expires_at)
                .await
            {
                Ok(true) => {}
                Ok(false) => tracing::info!(
                    repo = %repo.full_name(),
                    kind = read.kind(),
                    "GitHub read too large to cache; served uncached"
                ),
                Err(err) => tracing::warn!(error = %err, "could not store a GitHub cache entry"),
            }
            Ok(Served {
                body: entry.snapshot.body,
                source: Source::GitHub,
                requests,
            })
        }
        // `fetch` answers "unchanged" only to a revalidation, which needs an entry.
        (None, None) => Err(GitHubError::Upstream(
            "GitHub reported no change to a read that was not conditional".into(),
        )),
    }
}
