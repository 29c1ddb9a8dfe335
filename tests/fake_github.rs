//! A fake GitHub (wiremock) that behaves as GitHub does for repository syncs: repositories and
//! their default-branch commits with ETags, `If-None-Match` answered 304 without spending a
//! rate-limit point, `x-ratelimit-*` on every answer, primary rate limits (403, remaining 0)
//! on demand, 404 for unknown repositories. It records every request it saw.
//!
//! Also runnable on its own (`cargo run -p cc-tests --bin fake-github -- 127.0.0.1:9100`) with
//! admin routes for local runs against `make dev`: `POST /_fake/repos?n=200&owner=acme` adds
//! repositories `acme/repo-<i>`, `POST /_fake/push?repo=acme/repo-3` adds a commit,
//! `GET /_fake/stats` counts requests by status and shows the rate-limit state.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const LIMIT: i64 = 5000;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub if_none_match: Option<String>,
    pub status: u16,
}

#[derive(Debug, Clone)]
struct Repo {
    owner: String,
    name: String,
    /// Bumped whenever the repository document changes.
    version: u64,
    stars: u64,
    commits: u64,
    sha: String,
}

#[derive(Debug)]
struct State {
    repos: HashMap<String, Repo>,
    remaining: i64,
    reset: i64,
    /// Until this Unix time every request is refused as rate-limited.
    exhausted_until: i64,
    seen: Vec<Seen>,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn sha_of(full: &str, n: u64) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (full, n).hash(&mut h);
    format!(
        "{:016x}{:016x}{:08x}",
        h.finish(),
        h.finish().rotate_left(17),
        n
    )
}

#[derive(Clone)]
pub struct FakeGitHub {
    state: Arc<Mutex<State>>,
}

impl Default for FakeGitHub {
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                repos: HashMap::new(),
                remaining: LIMIT,
                reset: now() + 3600,
                exhausted_until: 0,
                seen: Vec::new(),
            })),
        }
    }
}

impl FakeGitHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a server answering as this fake.
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        self.mount(&server).await;
        server
    }

    pub async fn mount(&self, server: &MockServer) {
        Mock::given(wiremock::matchers::any())
            .respond_with(self.clone())
            .mount(server)
            .await;
    }

    /// Adds `owner/name` with one commit.
    pub fn add_repo(&self, full_name: &str) {
        let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
        self.lock().repos.insert(
            full_name.to_ascii_lowercase(),
            Repo {
                owner: owner.into(),
                name: name.into(),
                version: 1,
                stars: 3,
                commits: 1,
                sha: sha_of(full_name, 1),
            },
        );
    }

    /// A new commit on the default branch; returns its SHA.
    pub fn push(&self, full_name: &str) -> String {
        let mut st = self.lock();
        let r = st
            .repos
            .get_mut(&full_name.to_ascii_lowercase())
            .expect("known repository");
        r.commits += 1;
        r.sha = sha_of(full_name, r.commits);
        r.sha.clone()
    }

    /// A new star: the repository document (and its ETag) changes.
    pub fn star(&self, full_name: &str) {
        let mut st = self.lock();
        let r = st
            .repos
            .get_mut(&full_name.to_ascii_lowercase())
            .expect("known repository");
        r.stars += 1;
        r.version += 1;
    }

    /// Every request is refused as rate-limited (403, remaining 0) for `secs` seconds.
    pub fn exhaust_for(&self, secs: i64) {
        let mut st = self.lock();
        st.exhausted_until = now() + secs;
        st.reset = now() + secs;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    pub fn remaining(&self) -> i64 {
        self.lock().remaining
    }

    pub fn stats(&self) -> Value {
        let st = self.lock();
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        for s in &st.seen {
            *by_status.entry(s.status.to_string()).or_default() += 1;
        }
        json!({
            "requests": st.seen.len(),
            "by_status": by_status,
            "rate_limit": {"limit": LIMIT, "remaining": st.remaining, "used": LIMIT - st.remaining, "reset": st.reset},
            "repositories": st.repos.len(),
        })
    }

    fn admin(&self, req: &Request) -> ResponseTemplate {
        let q: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
        match req.url.path() {
            "/_fake/repos" => {
                let n: usize = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(1);
                let owner = q.get("owner").cloned().unwrap_or_else(|| "acme".into());
                for i in 0..n {
                    self.add_repo(&format!("{owner}/repo-{i}"));
                }
                ResponseTemplate::new(200).set_body_json(json!({"added": n}))
            }
            "/_fake/push" => match q.get("repo") {
                Some(r) if self.lock().repos.contains_key(&r.to_ascii_lowercase()) => {
                    ResponseTemplate::new(200).set_body_json(json!({"sha": self.push(r)}))
                }
                _ => ResponseTemplate::new(404),
            },
            "/_fake/reset-stats" => {
                self.lock().seen.clear();
                ResponseTemplate::new(200).set_body_json(self.stats())
            }
            "/_fake/stats" => ResponseTemplate::new(200).set_body_json(self.stats()),
            _ => ResponseTemplate::new(404),
        }
    }

    fn answer(&self, req: &Request) -> (u16, ResponseTemplate) {
        let header = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut st = self.lock();
        let rate = |t: ResponseTemplate, remaining: i64, reset: i64| {
            t.insert_header("x-ratelimit-limit", LIMIT.to_string().as_str())
                .insert_header("x-ratelimit-remaining", remaining.to_string().as_str())
                .insert_header("x-ratelimit-used", (LIMIT - remaining).to_string().as_str())
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .insert_header("x-ratelimit-resource", "core")
        };
        if st.exhausted_until > now() {
            let reset = st.exhausted_until;
            return (
                403,
                rate(
                    ResponseTemplate::new(403)
                        .set_body_json(json!({"message": "API rate limit exceeded"})),
                    0,
                    reset,
                ),
            );
        }
        let segments: Vec<&str> = req.url.path().trim_matches('/').split('/').collect();
        let (key, what) = match segments.as_slice() {
            ["repos", o, n] => (format!("{o}/{n}").to_ascii_lowercase(), "repo"),
            ["repos", o, n, "commits"] => (format!("{o}/{n}").to_ascii_lowercase(), "commits"),
            _ => (String::new(), "other"),
        };
        let Some(repo) = st.repos.get(&key).cloned() else {
            st.remaining -= 1;
            let (remaining, reset) = (st.remaining, st.reset);
            return (
                404,
                rate(
                    ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
                    remaining,
                    reset,
                ),
            );
        };
        let etag = match what {
            "repo" => format!("\"r-{}\"", repo.version),
            _ => format!("\"c-{}\"", repo.sha),
        };
        if header("if-none-match").as_deref() == Some(etag.as_str()) {
            // GitHub: a 304 to a conditional request does not count against the limit.
            let (remaining, reset) = (st.remaining, st.reset);
            return (
                304,
                rate(ResponseTemplate::new(304), remaining, reset)
                    .insert_header("etag", etag.as_str()),
            );
        }
        st.remaining -= 1;
        let (remaining, reset) = (st.remaining, st.reset);
        let full = format!("{}/{}", repo.owner, repo.name);
        let body = match what {
            "repo" => json!({
                "id": 1000 + repo.name.len() as u64,
                "name": repo.name, "full_name": full, "private": false,
                "html_url": format!("https://github.com/{full}"),
                "clone_url": format!("https://github.com/{full}.git"),
                "default_branch": "main", "stargazers_count": repo.stars, "forks_count": 1,
                "language": "Rust", "description": "fake repository",
            }),
            _ => json!([{
                "sha": repo.sha,
                "commit": {"message": format!("commit {}", repo.commits),
                           "author": {"name": "Dev", "date": "2026-11-30T10:00:00Z"}},
            }]),
        };
        (
            200,
            rate(
                ResponseTemplate::new(200).set_body_json(body),
                remaining,
                reset,
            )
            .insert_header("etag", etag.as_str()),
        )
    }
}

impl Respond for FakeGitHub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if req.url.path().starts_with("/_fake/") {
            return self.admin(req);
        }
        let (status, t) = self.answer(req);
        let header = |n: &str| {
            req.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        self.lock().seen.push(Seen {
            method: req.method.to_string(),
            path: req.url.path().to_string(),
            query: req.url.query().unwrap_or("").to_string(),
            authorization: header("authorization"),
            if_none_match: header("if-none-match"),
            status,
        });
        t
    }
}
