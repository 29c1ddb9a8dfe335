//! GitHub (API.md §11, DESIGN.md "Outside services"): one client per process on octocrab's raw
//! request API, under our own policy:
//! - the token is chosen per §11 (the repository's own, the project's, the server's, none) and
//!   the stored KMS ciphertexts are opened only here;
//! - conditional requests: callers hand in the ETag they stored for (resource, token
//!   fingerprint); a 304 is a normal answer ([`Reply::not_modified`]) and costs no rate-limit
//!   points;
//! - rate limits: `x-ratelimit-*` of every response is remembered per token (and resource);
//!   nothing ever sleeps: a token known to be exhausted answers [`GitHubError::RateLimited`]
//!   at once, without a request, until its reset;
//! - errors map to §11 ([`GitHubError`]); no redirects are followed and a `Link` to another
//!   host is not followed either (the token would go with it).

pub mod cache;
pub mod limits;
pub mod repos;
pub mod sync;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::{Id, Timestamp};
use crate::secrets::Sealer;

/// The body of an answer, as octocrab hands it over.
type OctoResponseBody = http_body_util::combinators::BoxBody<Bytes, octocrab::Error>;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// A listing follows at most this many pages (100 items each).
pub const MAX_PAGES: usize = 50;
/// The longest a caller is told to wait for a reset (GitHub's windows are an hour).
pub const MAX_RETRY_AFTER_SECS: u64 = 3600;
/// The back-off for a secondary limit that names no wait.
const SECONDARY_DEFAULT_SECS: u64 = 60;

/// How a GitHub call fails (API.md §11).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GitHubError {
    /// 404 → 404 github_not_found.
    #[error("GitHub resource not found")]
    NotFound,
    /// 401 → 502 github_auth_failed.
    #[error("GitHub rejected the token")]
    AuthFailed,
    /// 403/429 with rate-limit headers (primary or secondary) → 429 github_rate_limited.
    #[error("GitHub rate limit exceeded; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// 422 → 422 github_validation_failed with GitHub's message.
    #[error("{0}")]
    Validation(String),
    /// 409 (an empty repository has no commits) → 502 github_error.
    #[error("GitHub conflict: {0}")]
    Conflict(String),
    /// Anything else (5xx, other 4xx, network, timeouts, bodies that are not JSON) → 502.
    #[error("GitHub request failed: {0}")]
    Upstream(String),
    /// A stored token could not be opened (KMS): ours, not GitHub's → 500.
    #[error("stored GitHub token could not be decrypted: {0}")]
    Token(String),
    /// A download larger than the caller's cap → 413 payload_too_large.
    #[error("GitHub archive exceeds {0} bytes")]
    TooLarge(usize),
}

/// A GitHub credential (or none) and its fingerprint, which keys everything GitHub ties to a
/// token (ETags, rate limits). The secret never leaves this module but in `Authorization`.
#[derive(Clone)]
pub struct Token {
    secret: Option<Arc<str>>,
    hash: Option<String>,
}

impl Token {
    /// The `Authorization` header of this credential (none when anonymous), marked sensitive.
    fn authorization(&self) -> Result<Option<HeaderValue>, GitHubError> {
        let Some(secret) = &self.secret else {
            return Ok(None);
        };
        let mut v = HeaderValue::from_str(&format!("Bearer {secret}"))
            .map_err(|_| GitHubError::AuthFailed)?;
        v.set_sensitive(true);
        Ok(Some(v))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.fingerprint())
    }
}

impl Token {
    pub fn anonymous() -> Self {
        Self {
            secret: None,
            hash: None,
        }
    }

    pub fn new(secret: &str) -> Self {
        Self {
            hash: Some(hex::encode(Sha256::digest(secret.as_bytes()))),
            secret: Some(secret.into()),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.secret.is_none()
    }

    /// SHA-256 hex of the token (API.md §12 token_hash); None when anonymous.
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }

    /// Short, stable, not reversible: `anon` or the first 16 hex digits of the SHA-256.
    pub fn fingerprint(&self) -> String {
        self.hash
            .as_deref()
            .map_or_else(|| "anon".to_string(), |h| h[..16].to_string())
    }
}

/// The latest `x-ratelimit-*` GitHub sent for a token and resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateSnapshot {
    pub resource: String,
    pub limit: i64,
    pub remaining: i64,
    pub used: i64,
    /// Unix seconds.
    pub reset: i64,
}

impl RateSnapshot {
    fn from_headers(h: &HeaderMap) -> Option<Self> {
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let limit = num("x-ratelimit-limit")?;
        let remaining = num("x-ratelimit-remaining")?;
        Some(Self {
            resource: h
                .get("x-ratelimit-resource")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("core")
                .to_string(),
            limit,
            remaining,
            used: num("x-ratelimit-used").unwrap_or(limit.saturating_sub(remaining)),
            reset: num("x-ratelimit-reset").unwrap_or(0),
        })
    }

    /// Seconds until the reset (at least 1, at most `MAX_RETRY_AFTER_SECS`).
    fn wait(&self, now: i64) -> u64 {
        self.reset
            .saturating_sub(now)
            .clamp(1, MAX_RETRY_AFTER_SECS as i64) as u64
    }
}

/// A successful (2xx) or not-modified (304) answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// JSON body (Null for 204 and 304).
    pub body: Value,
    pub etag: Option<String>,
    /// The `rel="next"` link, if any.
    pub next: Option<String>,
}

impl Reply {
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// A request: method, a path below the API base (`/repos/o/n`) or an absolute URL on the
/// same host (a `Link`), the ETag to revalidate, a JSON body.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    pub etag: Option<&'a str>,
    pub body: Option<&'a Value>,
    /// Costs no rate-limit points (`GET /rate_limit`): sent even while the token is known to
    /// be out of points, so a caller can always see its limits.
    pub free: bool,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a str) -> Self {
        Self {
            method: Method::GET,
            path,
            etag: None,
            body: None,
            free: false,
        }
    }

    /// Marks a request that costs no rate-limit points (see `free`).
    pub fn free(mut self) -> Self {
        self.free = true;
        self
    }

    pub fn revalidate(mut self, etag: Option<&'a str>) -> Self {
        self.etag = etag;
        self
    }

    pub fn with(method: Method, path: &'a str, body: Option<&'a Value>) -> Self {
        Self {
            method,
            path,
            etag: None,
            body,
            free: false,
        }
    }
}

/// The GitHub client of a process (cheap to clone).
#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
}

struct Inner {
    octo: octocrab::Octocrab,
    base: Uri,
    server_token: Option<String>,
    sealer: Sealer,
    /// Opened tokens by SHA-256 of their ciphertext: a warm function decrypts each once.
    opened: Mutex<HashMap<String, Token>>,
    /// Latest rate-limit snapshot per (token fingerprint, resource).
    limits: Mutex<HashMap<(String, String), RateSnapshot>>,
    /// GitHub calls made by this process (Server-Timing style accounting in tests/benches).
    calls: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl GitHub {
    /// Builds the client for `base_url` (GITHUB_API_URL) with the server token (GITHUB_TOKEN).
    pub fn new(
        base_url: &str,
        server_token: Option<String>,
        sealer: Sealer,
    ) -> Result<Self, GitHubError> {
        let base: Uri = base_url
            .trim_end_matches('/')
            .parse()
            .map_err(|e| GitHubError::Upstream(format!("GITHUB_API_URL: {e}")))?;
        let octo = octocrab::Octocrab::builder()
            .base_uri(base.clone())
            .map_err(|e| GitHubError::Upstream(format!("GITHUB_API_URL: {e}")))?
            .set_connect_timeout(Some(Duration::from_secs(5)))
            .set_read_timeout(Some(Duration::from_secs(10)))
            .set_write_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| GitHubError::Upstream(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                octo,
                base,
                server_token: server_token.filter(|t| !t.trim().is_empty()),
                sealer,
                opened: Mutex::new(HashMap::new()),
                limits: Mutex::new(HashMap::new()),
                calls: Default::default(),
            }),
        })
    }

    /// GitHub calls this process made so far.
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The server's token (GITHUB_TOKEN), else anonymous.
    pub fn server_token(&self) -> Token {
        self.inner
            .server_token
            .as_deref()
            .map_or_else(Token::anonymous, Token::new)
    }

    /// Opens a stored token (KMS, bound to its project); a warm process asks KMS once per
    /// ciphertext.
    pub async fn open(&self, pid: Id, sealed: &str) -> Result<Token, GitHubError> {
        let key = hex::encode(Sha256::digest(format!("{pid}:{sealed}").as_bytes()));
        if let Some(t) = lock(&self.inner.opened).get(&key) {
            return Ok(t.clone());
        }
        let plain = self
            .inner
            .sealer
            .open(pid, sealed)
            .await
            .map_err(|e| GitHubError::Token(e.to_string()))?;
        let token = Token::new(&plain);
        let mut opened = lock(&self.inner.opened);
        if opened.len() > 1000 {
            opened.clear();
        }
        opened.insert(key, token.clone());
        Ok(token)
    }

    /// §11 order: the repository's own token, else the project's, else the server's, else
    /// anonymous.
    pub async fn token_for(
        &self,
        pid: Id,
        repository_sealed: Option<&str>,
        project_sealed: Option<&str>,
    ) -> Result<Token, GitHubError> {
        match repository_sealed.or(project_sealed) {
            Some(sealed) => self.open(pid, sealed).await,
            None => Ok(self.server_token()),
        }
    }

    /// The latest rate-limit snapshot GitHub sent for `token` and `resource` (core, search…).
    pub fn latest_limit(&self, token: &Token, resource: &str) -> Option<RateSnapshot> {
        lock(&self.inner.limits)
            .get(&(token.fingerprint(), resource.to_string()))
            .cloned()
    }

    fn remember(&self, token: &Token, snap: RateSnapshot) {
        lock(&self.inner.limits).insert((token.fingerprint(), snap.resource.clone()), snap);
    }

    /// A token known to be out of `core` points until a future reset.
    fn known_exhausted(&self, token: &Token, now: i64) -> Option<u64> {
        let snap = self.latest_limit(token, "core")?;
        (snap.remaining <= 0 && snap.reset > now).then(|| snap.wait(now))
    }

    fn uri(&self, path: &str) -> Result<Uri, GitHubError> {
        let uri: Uri = path
            .parse()
            .map_err(|_| GitHubError::Upstream(format!("bad GitHub path {path}")))?;
        if let Some(authority) = uri.authority() {
            if Some(authority) != self.inner.base.authority() {
                return Err(GitHubError::Upstream(format!(
                    "GitHub pointed to another host ({authority}); not followed"
                )));
            }
        }
        Ok(uri)
    }

    /// Whether `path` (a path, or an absolute URL such as a stored `Link`) would be sent: an
    /// absolute URL must be on the configured host (GITHUB_API_URL may have changed since).
    pub fn reaches(&self, path: &str) -> bool {
        self.uri(path).is_ok()
    }

    /// Sends one built request (counted), remembering the rate-limit headers of its answer for
    /// `token`: the answer's head, its body (unread) and that snapshot.
    async fn exchange<B: Serialize + ?Sized>(
        &self,
        builder: http::request::Builder,
        body: Option<&B>,
        token: &Token,
    ) -> Result<
        (
            http::response::Parts,
            OctoResponseBody,
            Option<RateSnapshot>,
        ),
        GitHubError,
    > {
        let request = self
            .inner
            .octo
            .build_request(builder, body)
            .map_err(|e| GitHubError::Upstream(e.to_string()))?;
        self.inner
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = self
            .inner
            .octo
            .execute(request)
            .await
            .map_err(|e| GitHubError::Upstream(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let snap = RateSnapshot::from_headers(&parts.headers);
        if let Some(s) = &snap {
            self.remember(token, s.clone());
        }
        Ok((parts, body, snap))
    }

    /// One request under the policy: a 2xx or a 304 is `Ok`, anything else is the mapped error.
    pub async fn send(&self, call: Call<'_>, token: &Token) -> Result<Reply, GitHubError> {
        let now = Timestamp::now().unix();
        // Spend nothing (and do not get the token flagged) while it is known to be out.
        if let Some(wait) = self.known_exhausted(token, now).filter(|_| !call.free) {
            return Err(GitHubError::RateLimited { retry_after: wait });
        }
        let mut builder = http::Request::builder()
            .method(call.method.clone())
            .uri(self.uri(call.path)?)
            .header(http::header::ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
        if let Some(v) = token.authorization()? {
            builder = builder.header(http::header::AUTHORIZATION, v);
        }
        if let Some(etag) = call.etag {
            if let Ok(v) = HeaderValue::from_str(etag) {
                builder = builder.header(http::header::IF_NONE_MATCH, v);
            }
        }
        let (parts, body, snap) = self.exchange(builder, call.body, token).await?;
        let bytes: Bytes = body
            .collect()
            .await
            .map_err(|e| GitHubError::Upstream(e.to_string()))?
            .to_bytes();
        let status = parts.status;
        if status == StatusCode::NOT_MODIFIED || status.is_success() {
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).map_err(|e| {
                    GitHubError::Upstream(format!(
                        "GitHub answered {status} with a non-JSON body: {e}"
                    ))
                })?
            };
            return Ok(Reply {
                status: status.as_u16(),
                body,
                etag: header(&parts.headers, http::header::ETAG.as_str()),
                next: header(&parts.headers, "link").and_then(|l| next_link(&l)),
            });
        }
        Err(map_error(
            status,
            &parts.headers,
            &bytes,
            snap.as_ref(),
            now,
        ))
    }

    /// A binary download (an archive) of at most `max` bytes. GitHub answers archive requests
    /// with a redirect to its download host; exactly one redirect is followed, without the
    /// token (the target URL carries its own short-lived one), to the API host or, for the
    /// public API, to `codeload.github.com` only.
    pub async fn download(
        &self,
        path: &str,
        token: &Token,
        max: usize,
    ) -> Result<Vec<u8>, GitHubError> {
        let now = Timestamp::now().unix();
        if let Some(wait) = self.known_exhausted(token, now) {
            return Err(GitHubError::RateLimited { retry_after: wait });
        }
        let mut uri = self.uri(path)?;
        let mut authorized = true;
        for _ in 0..2 {
            let mut builder = http::Request::builder()
                .method(Method::GET)
                .uri(uri.clone())
                .header("x-github-api-version", "2022-11-28");
            if let Some(v) = token.authorization()?.filter(|_| authorized) {
                builder = builder.header(http::header::AUTHORIZATION, v);
            }
            let (parts, mut body, snap) = self.exchange::<Value>(builder, None, token).await?;
            let status = parts.status;
            if status.is_redirection() {
                let target = header(&parts.headers, "location")
                    .ok_or_else(|| GitHubError::Upstream("redirect without Location".into()))?;
                uri = self.download_target(&target)?;
                authorized = false;
                continue;
            }
            let mut bytes = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| GitHubError::Upstream(e.to_string()))?;
                if let Some(chunk) = frame.data_ref() {
                    if bytes.len() + chunk.len() > max {
                        return Err(GitHubError::TooLarge(max));
                    }
                    bytes.extend_from_slice(chunk);
                }
            }
            if status.is_success() {
                return Ok(bytes);
            }
            return Err(map_error(
                status,
                &parts.headers,
                &bytes,
                snap.as_ref(),
                now,
            ));
        }
        Err(GitHubError::Upstream("too many redirects".into()))
    }

    fn download_target(&self, target: &str) -> Result<Uri, GitHubError> {
        let uri: Uri = target
            .parse()
            .map_err(|_| GitHubError::Upstream(format!("bad redirect target {target}")))?;
        let base_host = self.inner.base.host();
        let allowed = match uri.host() {
            None => return self.uri(target),
            Some(h) => {
                Some(h) == base_host
                    || (base_host == Some("api.github.com") && h == "codeload.github.com")
            }
        };
        if !allowed || uri.scheme_str() != self.inner.base.scheme_str() {
            return Err(GitHubError::Upstream(format!(
                "GitHub redirected to another host ({target}); not followed"
            )));
        }
        Ok(uri)
    }

    /// GET of one JSON document (no revalidation).
    pub async fn get(&self, path: &str, token: &Token) -> Result<Value, GitHubError> {
        Ok(self.send(Call::get(path), token).await?.body)
    }

    /// Every page of a listing, following `Link: rel="next"` (at most `MAX_PAGES`).
    pub async fn get_all(&self, first: &str, token: &Token) -> Result<Vec<Value>, GitHubError> {
        let mut items = Vec::new();
        let mut next = Some(first.to_string());
        let mut pages = 0;
        while let Some(path) = next.take() {
            if pages == MAX_PAGES {
                tracing::warn!(first, "GitHub listing cut at {MAX_PAGES} pages");
                break;
            }
            pages += 1;
            let reply = self.send(Call::get(&path), token).await?;
            match reply.body {
                Value::Array(page) => items.extend(page),
                other => {
                    return Err(GitHubError::Upstream(format!(
                        "expected a list from {path}, got {}",
                        kind_of(&other)
                    )))
                }
            }
            next = reply.next;
        }
        Ok(items)
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        (is_next && target.starts_with('<') && target.ends_with('>'))
            .then(|| target[1..target.len() - 1].to_string())
    })
}

/// GitHub's `message` (else the body's start, else the reason phrase).
fn message_of(status: StatusCode, bytes: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let details: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .map(|errs| {
            errs.iter()
                .filter_map(|e| {
                    e.get("message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or_else(|| {
                            let field = e.get("field").and_then(Value::as_str)?;
                            let code = e.get("code").and_then(Value::as_str).unwrap_or("invalid");
                            Some(format!("{field}: {code}"))
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    let base = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            text.chars().take(300).collect()
        }
    });
    if details.is_empty() {
        base
    } else {
        format!("{base}: {}", details.join("; "))
    }
}

/// §11: a response that is neither 2xx nor 304.
fn map_error(
    status: StatusCode,
    headers: &HeaderMap,
    bytes: &[u8],
    snap: Option<&RateSnapshot>,
    now: i64,
) -> GitHubError {
    let retry_after = header(headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
        // Secondary limits name their wait; primary ones say remaining 0 and when they reset.
        if let Some(secs) = retry_after {
            return GitHubError::RateLimited {
                retry_after: secs.clamp(1, MAX_RETRY_AFTER_SECS),
            };
        }
        if let Some(s) = snap.filter(|s| s.remaining <= 0) {
            return GitHubError::RateLimited {
                retry_after: s.wait(now),
            };
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return GitHubError::RateLimited {
                retry_after: SECONDARY_DEFAULT_SECS,
            };
        }
        let message = message_of(status, bytes);
        if message.to_ascii_lowercase().contains("rate limit") {
            return GitHubError::RateLimited {
                retry_after: SECONDARY_DEFAULT_SECS,
            };
        }
        return GitHubError::Upstream(format!("{status}: {message}"));
    }
    match status {
        StatusCode::NOT_FOUND => GitHubError::NotFound,
        StatusCode::UNAUTHORIZED => GitHubError::AuthFailed,
        StatusCode::UNPROCESSABLE_ENTITY => GitHubError::Validation(message_of(status, bytes)),
        StatusCode::CONFLICT => GitHubError::Conflict(message_of(status, bytes)),
        _ => GitHubError::Upstream(format!("{status}: {}", message_of(status, bytes))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_are_found_among_others() {
        let l = r#"<https://api.github.com/repositories/1/pulls?page=2>; rel="next", <https://api.github.com/repositories/1/pulls?page=5>; rel="last""#;
        assert_eq!(
            next_link(l).as_deref(),
            Some("https://api.github.com/repositories/1/pulls?page=2")
        );
        let last = r#"<https://x/a?page=1>; rel="prev", <https://x/a?page=1>; rel="first""#;
        assert_eq!(next_link(last), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage; rel=\"next\""), None);
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn errors_map_per_section_11() {
        let now = 1_000_000;
        let none = HeaderMap::new();
        assert_eq!(
            map_error(StatusCode::NOT_FOUND, &none, b"{}", None, now),
            GitHubError::NotFound
        );
        assert_eq!(
            map_error(StatusCode::UNAUTHORIZED, &none, b"{}", None, now),
            GitHubError::AuthFailed
        );
        assert_eq!(
            map_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &none,
                br#"{"message":"Validation Failed","errors":[{"resource":"Label","code":"already_exists","field":"name"}]}"#,
                None,
                now
            ),
            GitHubError::Validation("Validation Failed: name: already_exists".into())
        );
        let primary = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1000120"),
        ]);
        let snap = RateSnapshot::from_headers(&primary);
        assert_eq!(
            map_error(StatusCode::FORBIDDEN, &primary, b"{}", snap.as_ref(), now),
            GitHubError::RateLimited { retry_after: 120 }
        );
        let secondary = headers(&[("retry-after", "30")]);
        assert_eq!(
            map_error(StatusCode::FORBIDDEN, &secondary, b"{}", None, now),
            GitHubError::RateLimited { retry_after: 30 }
        );
        assert_eq!(
            map_error(StatusCode::TOO_MANY_REQUESTS, &none, b"", None, now),
            GitHubError::RateLimited { retry_after: 60 }
        );
        // A 403 that is not a limit (no access) is an upstream error.
        let with_points = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4000"),
        ]);
        assert!(matches!(
            map_error(
                StatusCode::FORBIDDEN,
                &with_points,
                br#"{"message":"Resource not accessible by integration"}"#,
                RateSnapshot::from_headers(&with_points).as_ref(),
                now
            ),
            GitHubError::Upstream(_)
        ));
        assert!(matches!(
            map_error(StatusCode::BAD_GATEWAY, &none, b"<html>", None, now),
            GitHubError::Upstream(_)
        ));
        // A reset far away is capped.
        let far = headers(&[
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "99999999999"),
        ]);
        assert_eq!(
            map_error(
                StatusCode::TOO_MANY_REQUESTS,
                &far,
                b"",
                RateSnapshot::from_headers(&far).as_ref(),
                now
            ),
            GitHubError::RateLimited {
                retry_after: MAX_RETRY_AFTER_SECS
            }
        );
    }

    #[test]
    fn extreme_rate_limit_headers_do_not_overflow() {
        let h = headers(&[
            ("x-ratelimit-limit", &i64::MAX.to_string()),
            ("x-ratelimit-remaining", "-1"),
            ("x-ratelimit-reset", &i64::MIN.to_string()),
        ]);
        let snap = RateSnapshot::from_headers(&h).unwrap();
        assert_eq!(snap.used, i64::MAX);
        assert_eq!(snap.wait(i64::MAX), 1);
    }

    #[test]
    fn tokens_are_fingerprinted_not_shown() {
        let t = Token::new("ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(t.fingerprint().len(), 16);
        assert_eq!(t.hash().map(str::len), Some(64));
        assert!(!format!("{t:?}").contains("ghp_"));
        assert_eq!(Token::anonymous().fingerprint(), "anon");
    }
}
