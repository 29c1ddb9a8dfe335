//! API.md §11 as typed GitHub operations: what each read asks GitHub for, how GitHub's answer
//! becomes our response shape (the types here serialize the responses and generate their
//! OpenAPI schemas), and the writes (labels, settings).
//!
//! Reads return a [`Snapshot`]: the response body plus, per GitHub page, its URL and ETag, so
//! a cached read is revalidated page by page with conditional requests (see [`Read::fetch`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{Call, GitHub, GitHubError, Reply, Token, MAX_PAGES};
use crate::domain::Timestamp;

/// A repository named by a request path (owner and name already checked against §3's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            name: name.into(),
        }
    }

    /// `owner/name` as given.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// `owner/name` in lower case: GitHub names ignore case, so cache keys and the
    /// tracked-repository marker do too.
    pub fn key(&self) -> String {
        self.full_name().to_lowercase()
    }

    /// `/repos/<owner>/<name><rest>`.
    pub fn path(&self, rest: &str) -> String {
        format!(
            "/repos/{}/{}{rest}",
            segment(&self.owner),
            segment(&self.name)
        )
    }
}

/// Percent-encodes one path segment: everything but RFC 3986's unreserved characters (a label
/// name may hold spaces, `/`, `%`, `?`, emoji...); a segment `.` or `..` is encoded whole, so
/// no URL normalization can read it as a step up the path (a label named `..` must not turn a
/// label PATCH into one of the repository).
pub fn segment(s: &str) -> String {
    let dots = s == "." || s == "..";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if !dots && (b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query_value(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The states a listing filters on (`state=open|closed|all`).
pub const STATES: &[&str] = &["open", "closed", "all"];

/// A cached read of §11.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Info,
    Pulls {
        state: String,
    },
    Issues {
        state: String,
        /// Label names (AND), trimmed, without duplicates, sorted: the same filter however
        /// it was spelled is one cache entry.
        labels: Vec<String>,
    },
    Workflows,
}

impl Read {
    /// The issues read, with `labels` as a client sends it (a comma list).
    pub fn issues(state: &str, labels: Option<&str>) -> Self {
        let mut labels: Vec<String> = labels
            .unwrap_or("")
            .split(',')
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        labels.sort();
        labels.dedup();
        Read::Issues {
            state: state.to_string(),
            labels,
        }
    }

    /// The kind, as cache keys name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Read::Info => "info",
            Read::Pulls { .. } => "pulls",
            Read::Issues { .. } => "issues",
            Read::Workflows => "workflows",
        }
    }

    /// The query in a canonical form: one cache entry per distinct query.
    pub fn query(&self) -> String {
        match self {
            Read::Info | Read::Workflows => String::new(),
            Read::Pulls { state } => format!("state={state}"),
            Read::Issues { state, labels } => {
                format!("state={state}&labels={}", labels.join(","))
            }
        }
    }

    /// How long a read is served from the cache without asking GitHub, in seconds.
    pub fn fresh_secs(&self) -> i64 {
        match self {
            // API.md §11.
            Read::Info => 300,
            Read::Pulls { .. } => 60,
            // Issues move about as fast as pull requests (comments, labels, closing), but an
            // issue list is read for triage, where a view up to two minutes old is fine; and a
            // busy repository's issue list is the longest listing here (many pages, each a
            // request when it has to be read again).
            Read::Issues { .. } => 120,
            // Workflows change only when a workflow file is pushed or a workflow is enabled or
            // disabled: rare events, so ten minutes; a client that needs it now sends
            // use_cache=false (or invalidates the repository's cache).
            Read::Workflows => 600,
        }
    }

    /// The first GitHub request of the read (100 items per page for listings, the most
    /// GitHub allows, so a listing takes the fewest requests).
    fn first_path(&self, repo: &RepoName) -> String {
        match self {
            Read::Info => repo.path(""),
            Read::Pulls { state } => {
                repo.path(&format!("/pulls?state={}&per_page=100", query_value(state)))
            }
            Read::Issues { state, labels } => {
                let mut p = format!("/issues?state={}&per_page=100", query_value(state));
                if !labels.is_empty() {
                    p.push_str(&format!("&labels={}", query_value(&labels.join(","))));
                }
                repo.path(&p)
            }
            Read::Workflows => repo.path("/actions/workflows?per_page=100"),
        }
    }

    fn is_listing(&self) -> bool {
        !matches!(self, Read::Info)
    }

    /// Our items from one GitHub page (a document is a page of one).
    fn shape_page(&self, body: &Value) -> Result<Vec<Value>, GitHubError> {
        let list = |v: Option<&Value>| -> Result<Vec<Value>, GitHubError> {
            v.and_then(Value::as_array).cloned().ok_or_else(|| {
                GitHubError::Upstream(format!(
                    "GitHub answered the {} read with no list",
                    self.kind()
                ))
            })
        };
        let out = |v: Result<Value, serde_json::Error>| {
            v.map_err(|e| GitHubError::Upstream(e.to_string()))
        };
        match self {
            Read::Info => Ok(vec![out(serde_json::to_value(RepoInfo::from_github(
                body,
            )?))?]),
            Read::Pulls { .. } => list(Some(body))?
                .iter()
                .map(|p| out(serde_json::to_value(PullRequest::from_github(p)?)))
                .collect(),
            Read::Issues { .. } => list(Some(body))?
                .iter()
                // GitHub lists pull requests among issues; §11 leaves them out.
                .filter(|i| i.get("pull_request").is_none())
                .map(|i| out(serde_json::to_value(Issue::from_github(i)?)))
                .collect(),
            Read::Workflows => list(body.get("workflows"))?
                .iter()
                .map(|w| out(serde_json::to_value(Workflow::from_github(w)?)))
                .collect(),
        }
    }

    /// Reads from GitHub: every page of a listing (following `Link: rel="next"`, at most
    /// `MAX_PAGES`), our shape assembled.
    ///
    /// With `prior` (a snapshot made with this same token), the pages are asked for again in
    /// order, each with its own ETag: a 304 costs no rate-limit points, and `Ok((None, n))`
    /// says every page is unchanged. The first page that changed is used as it came, and the
    /// pages after it are read afresh (an insertion shifts everything after it); the items of
    /// the unchanged pages before it are kept. So a change anywhere in a listing is seen,
    /// including one on a later page that page 1's ETag alone would miss (an old pull
    /// request closed, an issue deleted), at the price of one conditional request per page
    /// while nothing changed.
    pub async fn fetch(
        &self,
        github: &GitHub,
        token: &Token,
        repo: &RepoName,
        prior: Option<&Snapshot>,
    ) -> Result<(Option<Snapshot>, u32), GitHubError> {
        let mut requests = 0u32;
        let mut items: Vec<Value> = Vec::new();
        let mut pages: Vec<PageTag> = Vec::new();
        let mut first: Option<(String, Reply)> = None;
        // A snapshot whose pages are not all reachable any more (GITHUB_API_URL changed) is
        // read afresh.
        let usable = |p: &&Snapshot| {
            p.revalidatable(self.is_listing()) && p.pages.iter().all(|t| github.reaches(&t.url))
        };
        if let Some(prior) = prior.filter(usable) {
            let mut kept = 0usize;
            for (i, tag) in prior.pages.iter().enumerate() {
                let reply = github
                    .send(Call::get(&tag.url).revalidate(tag.etag.as_deref()), token)
                    .await?;
                requests += 1;
                if reply.not_modified() {
                    kept += tag.count;
                    continue;
                }
                if let Value::Array(old) = &prior.body {
                    items.extend(old.iter().take(kept).cloned());
                }
                pages.extend(prior.pages.iter().take(i).cloned());
                first = Some((tag.url.clone(), reply));
                break;
            }
            if first.is_none() {
                return Ok((None, requests));
            }
        }
        let (mut url, mut reply) = match first {
            Some(f) => f,
            None => {
                let url = self.first_path(repo);
                let reply = github.send(Call::get(&url), token).await?;
                requests += 1;
                (url, reply)
            }
        };
        loop {
            if reply.not_modified() {
                // Only an unconditional request gets here: a 304 to it is not an answer.
                return Err(GitHubError::Upstream(format!(
                    "GitHub answered 304 to an unconditional request for {url}"
                )));
            }
            let shaped = self.shape_page(&reply.body)?;
            pages.push(PageTag {
                url: url.clone(),
                etag: reply.etag.clone(),
                count: shaped.len(),
            });
            items.extend(shaped);
            let Some(next) = reply.next.take().filter(|_| self.is_listing()) else {
                break;
            };
            if pages.len() >= MAX_PAGES {
                tracing::warn!(first = %self.first_path(repo), "GitHub listing cut at {MAX_PAGES} pages");
                break;
            }
            url = next;
            reply = github.send(Call::get(&url), token).await?;
            requests += 1;
        }
        let body = if self.is_listing() {
            Value::Array(items)
        } else {
            items.into_iter().next().unwrap_or(Value::Null)
        };
        Ok((Some(Snapshot { body, pages }), requests))
    }
}

/// A read as it is cached: our response body, and how to ask GitHub whether it changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub body: Value,
    /// One per GitHub page the body was made of, in order.
    pub pages: Vec<PageTag>,
}

/// One GitHub page of a read: where it was read, its ETag, how many of our items it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageTag {
    pub url: String,
    pub etag: Option<String>,
    pub count: usize,
}

impl Snapshot {
    /// Whether every page can be revalidated (has an ETag) and the body matches the pages.
    fn revalidatable(&self, listing: bool) -> bool {
        let counted: usize = self.pages.iter().map(|p| p.count).sum();
        !self.pages.is_empty()
            && self.pages.iter().all(|p| p.etag.is_some())
            && match &self.body {
                Value::Array(items) => listing && items.len() == counted,
                Value::Object(_) => !listing && self.pages.len() == 1,
                _ => false,
            }
    }

    /// The ETag of the first page.
    pub fn etag(&self) -> Option<&str> {
        self.pages.first().and_then(|p| p.etag.as_deref())
    }
}

// ------------------------------------------------------------------ GitHub JSON → our shapes

fn malformed(what: &str, field: &str) -> GitHubError {
    GitHubError::Upstream(format!("GitHub's {what} has no valid {field}"))
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    get(v, path).and_then(Value::as_str).map(str::to_string)
}

fn req_text(v: &Value, what: &str, path: &[&str]) -> Result<String, GitHubError> {
    text(v, path).ok_or_else(|| malformed(what, &path.join(".")))
}

fn req_int(v: &Value, what: &str, field: &str) -> Result<i64, GitHubError> {
    v.get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed(what, field))
}

fn int_or_zero(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(0)
}

fn flag(v: &Value, field: &str) -> bool {
    v.get(field).and_then(Value::as_bool).unwrap_or(false)
}

/// A GitHub timestamp in our form (RFC 3339 UTC with milliseconds); None when absent or not
/// a timestamp.
fn time(v: &Value, field: &str) -> Option<Timestamp> {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(Timestamp::parse)
}

/// GET `/{owner}/{repo}/info`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepoInfo {
    /// owner.login
    pub owner: String,
    pub name: String,
    pub full_name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// The repository's page (html_url).
    pub url: String,
    pub clone_url: String,
    pub default_branch: String,
    pub is_private: bool,
    /// stargazers_count
    pub stars: i64,
    /// forks_count
    pub forks: i64,
    #[schema(required = true)]
    pub language: Option<String>,
    /// GitHub's repository id.
    pub github_id: i64,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub created_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub updated_at: Option<Timestamp>,
    pub topics: Vec<String>,
    pub has_issues: bool,
    pub has_wiki: bool,
    pub has_pages: bool,
    pub open_issues_count: i64,
}

impl RepoInfo {
    pub fn from_github(r: &Value) -> Result<Self, GitHubError> {
        const W: &str = "repository";
        Ok(Self {
            owner: req_text(r, W, &["owner", "login"])?,
            name: req_text(r, W, &["name"])?,
            full_name: req_text(r, W, &["full_name"])?,
            description: text(r, &["description"]),
            url: req_text(r, W, &["html_url"])?,
            clone_url: req_text(r, W, &["clone_url"])?,
            default_branch: text(r, &["default_branch"]).unwrap_or_else(|| "main".into()),
            is_private: flag(r, "private"),
            stars: int_or_zero(r, "stargazers_count"),
            forks: int_or_zero(r, "forks_count"),
            language: text(r, &["language"]),
            github_id: req_int(r, W, "id")?,
            created_at: time(r, "created_at"),
            updated_at: time(r, "updated_at"),
            topics: r
                .get("topics")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            has_issues: flag(r, "has_issues"),
            has_wiki: flag(r, "has_wiki"),
            has_pages: flag(r, "has_pages"),
            open_issues_count: int_or_zero(r, "open_issues_count"),
        })
    }
}

/// One pull request of GET `/{owner}/{repo}/pulls`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PullRequest {
    pub number: i64,
    pub title: String,
    /// open or closed
    pub state: String,
    /// The author's login (null: a deleted account).
    #[schema(required = true)]
    pub user: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub created_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub updated_at: Option<Timestamp>,
    /// merged_at is set.
    pub merged: bool,
    /// GitHub computes it only for a single pull request: listings give null.
    #[schema(required = true)]
    pub mergeable: Option<bool>,
    /// head.ref
    pub head: String,
    /// base.ref
    pub base: String,
    pub html_url: String,
}

impl PullRequest {
    pub fn from_github(p: &Value) -> Result<Self, GitHubError> {
        const W: &str = "pull request";
        Ok(Self {
            number: req_int(p, W, "number")?,
            title: req_text(p, W, &["title"])?,
            state: req_text(p, W, &["state"])?,
            user: text(p, &["user", "login"]),
            created_at: time(p, "created_at"),
            updated_at: time(p, "updated_at"),
            merged: p.get("merged_at").is_some_and(|m| !m.is_null()),
            mergeable: p.get("mergeable").and_then(Value::as_bool),
            head: req_text(p, W, &["head", "ref"])?,
            base: req_text(p, W, &["base", "ref"])?,
            html_url: req_text(p, W, &["html_url"])?,
        })
    }
}

/// One issue of GET `/{owner}/{repo}/issues` (pull requests left out).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Issue {
    pub number: i64,
    pub title: String,
    /// open or closed
    pub state: String,
    /// The author's login (null: a deleted account).
    #[schema(required = true)]
    pub user: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub created_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub updated_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub closed_at: Option<Timestamp>,
    pub html_url: String,
    /// Number of comments.
    pub comments: i64,
}

impl Issue {
    pub fn from_github(i: &Value) -> Result<Self, GitHubError> {
        const W: &str = "issue";
        Ok(Self {
            number: req_int(i, W, "number")?,
            title: req_text(i, W, &["title"])?,
            state: req_text(i, W, &["state"])?,
            user: text(i, &["user", "login"]),
            // Labels are objects ({name, color, ...}); a bare name is taken as it is.
            labels: i
                .get("labels")
                .and_then(Value::as_array)
                .map(|ls| {
                    ls.iter()
                        .filter_map(|l| {
                            l.as_str()
                                .or_else(|| l.get("name").and_then(Value::as_str))
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            created_at: time(i, "created_at"),
            updated_at: time(i, "updated_at"),
            closed_at: time(i, "closed_at"),
            html_url: req_text(i, W, &["html_url"])?,
            comments: int_or_zero(i, "comments"),
        })
    }
}

/// One GitHub Actions workflow of GET `/{owner}/{repo}/workflows`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Workflow {
    pub id: i64,
    pub name: String,
    /// The workflow file (`.github/workflows/ci.yml`).
    pub path: String,
    /// active, disabled_manually, disabled_inactivity, ...
    pub state: String,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub created_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub updated_at: Option<Timestamp>,
    /// The workflow's page (html_url).
    pub url: String,
    pub badge_url: String,
}

impl Workflow {
    pub fn from_github(w: &Value) -> Result<Self, GitHubError> {
        const W: &str = "workflow";
        Ok(Self {
            id: req_int(w, W, "id")?,
            name: req_text(w, W, &["name"])?,
            path: req_text(w, W, &["path"])?,
            state: req_text(w, W, &["state"])?,
            created_at: time(w, "created_at"),
            updated_at: time(w, "updated_at"),
            url: req_text(w, W, &["html_url"])?,
            badge_url: req_text(w, W, &["badge_url"])?,
        })
    }
}

// ------------------------------------------------------------------------------------ writes

/// A label as GitHub stores it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Label {
    pub name: String,
    /// Six hex digits, no `#`.
    pub color: String,
    #[schema(required = true)]
    pub description: Option<String>,
}

impl Label {
    pub fn from_github(l: &Value) -> Result<Self, GitHubError> {
        const W: &str = "label";
        Ok(Self {
            name: req_text(l, W, &["name"])?,
            color: req_text(l, W, &["color"])?,
            description: text(l, &["description"]),
        })
    }
}

/// What a label write answers: `{"action": "created"|"updated", "label": {...}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabelAction {
    /// created or updated
    pub action: String,
    pub label: Label,
}

/// POST `/repos/{o}/{r}/labels`.
pub async fn create_label(
    github: &GitHub,
    token: &Token,
    repo: &RepoName,
    fields: &Map<String, Value>,
) -> Result<Label, GitHubError> {
    let body = Value::Object(fields.clone());
    let path = repo.path("/labels");
    let reply = github
        .send(Call::with(http::Method::POST, &path, Some(&body)), token)
        .await?;
    Label::from_github(&reply.body)
}

/// PATCH `/repos/{o}/{r}/labels/{name}` (`new_name` renames).
pub async fn update_label(
    github: &GitHub,
    token: &Token,
    repo: &RepoName,
    name: &str,
    fields: &Map<String, Value>,
) -> Result<Label, GitHubError> {
    let body = Value::Object(fields.clone());
    let path = repo.path(&format!("/labels/{}", segment(name)));
    let reply = github
        .send(Call::with(http::Method::PATCH, &path, Some(&body)), token)
        .await?;
    Label::from_github(&reply.body)
}

/// DELETE `/repos/{o}/{r}/labels/{name}`.
pub async fn delete_label(
    github: &GitHub,
    token: &Token,
    repo: &RepoName,
    name: &str,
) -> Result<(), GitHubError> {
    let path = repo.path(&format!("/labels/{}", segment(name)));
    github
        .send(Call::with(http::Method::DELETE, &path, None), token)
        .await?;
    Ok(())
}

/// PATCH `/repos/{o}/{r}` with exactly `fields` (one request).
pub async fn update_settings(
    github: &GitHub,
    token: &Token,
    repo: &RepoName,
    fields: &Map<String, Value>,
) -> Result<(), GitHubError> {
    let body = Value::Object(fields.clone());
    let path = repo.path("");
    github
        .send(Call::with(http::Method::PATCH, &path, Some(&body)), token)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("good first issue"), "good%20first%20issue");
        assert_eq!(segment("a/b?c#d%"), "a%2Fb%3Fc%23d%25");
        assert_eq!(segment("ok-._~"), "ok-._~");
        assert_eq!(segment("é"), "%C3%A9");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("."), "%2E");
        assert_eq!(segment("v1..2"), "v1..2");
    }

    #[test]
    fn issue_filters_are_canonical() {
        let a = Read::issues("open", Some(" bug,, help wanted ,bug"));
        let b = Read::issues("open", Some("help wanted,bug"));
        assert_eq!(a, b);
        assert_eq!(a.query(), "state=open&labels=bug,help wanted");
        assert_eq!(
            a.first_path(&RepoName::new("o", "r")),
            "/repos/o/r/issues?state=open&per_page=100&labels=bug%2Chelp+wanted"
        );
        assert_ne!(Read::issues("open", None).query(), a.query());
    }

    #[test]
    fn shapes_follow_section_11() {
        let pr = json!({"number": 7, "title": "t", "state": "closed", "user": null,
            "created_at": "2024-01-02T03:04:05Z", "merged_at": "2024-01-03T00:00:00Z",
            "head": {"ref": "feature"}, "base": {"ref": "main"}, "html_url": "https://x/7"});
        let p = serde_json::to_value(PullRequest::from_github(&pr).unwrap()).unwrap();
        assert_eq!(p["merged"], true);
        assert_eq!(p["mergeable"], Value::Null);
        assert_eq!(p["user"], Value::Null);
        assert_eq!(p["head"], "feature");
        assert_eq!(p["created_at"], "2024-01-02T03:04:05.000Z");
        assert_eq!(p["updated_at"], Value::Null);
        let issues = Read::issues("all", None)
            .shape_page(&json!([
                {"number": 1, "title": "a", "state": "open", "html_url": "u", "labels": [{"name": "bug"}, "raw"]},
                {"number": 2, "title": "pr", "state": "open", "html_url": "u", "pull_request": {}}
            ]))
            .unwrap();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0]["labels"], json!(["bug", "raw"]));
        assert!(PullRequest::from_github(&json!({"number": "x"})).is_err());
        assert!(Read::Workflows.shape_page(&json!([])).is_err());
    }
}
