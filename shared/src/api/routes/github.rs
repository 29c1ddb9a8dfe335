//! `/api/v1/github` (API.md §11): reads of a GitHub repository, cached per project with ETag
//! revalidation (`github::cache`), and writes to it (labels, settings), with the token §11
//! orders: the project's tracked repository's own, else the project's, else the server's,
//! else none.
//!
//! These are collection operations on the caller's project (X-Project-ID, query project_id or
//! the caller's only project). A read costs one BatchGetItem (credential, project, membership,
//! the tracked-repository marker and the cache entry at once) plus, for a tracked repository,
//! one GetItem of its token; then, when the entry is not fresh, the GitHub requests and one
//! PutItem (changed) or UpdateItem (unchanged).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, Response};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonObject, PathParams, QueryMap};
use crate::api::scope::{ProjectAccess, ProjectScope};
use crate::api::AppState;
use crate::domain::repository::NAME_PATTERN;
use crate::domain::schema::{object, Mode};
use crate::domain::validate::{DefaultValue, FieldError, Fields, Kind, Source, Spec};
use crate::domain::Id;
use crate::github::cache;
use crate::github::repos::{
    self, Issue, LabelAction, PullRequest, Read, RepoInfo, RepoName, Workflow, STATES,
};
use crate::github::Token;
use crate::store::github::CacheEntry;
use crate::store::kinds::REPOSITORIES;
use crate::store::{attr_n, keys, Key};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(repository_info))
        .routes(routes!(list_pulls))
        .routes(routes!(list_issues))
        .routes(routes!(create_label))
        .routes(routes!(update_label, delete_label))
        .routes(routes!(list_workflows))
        .routes(routes!(update_settings))
        .routes(routes!(invalidate_cache))
}

// ------------------------------------------------------------------------------- input rules

const NAME_MSG: &str = "Value error, Invalid GitHub name format";
/// §3's owner rule.
const OWNER: Spec = Spec::req(
    "owner",
    Kind::Pattern {
        min: 1,
        max: 39,
        pattern: NAME_PATTERN,
        msg: NAME_MSG,
    },
);
/// §3's name rule.
const REPO: Spec = Spec::req(
    "repo",
    Kind::Pattern {
        min: 1,
        max: 100,
        pattern: NAME_PATTERN,
        msg: NAME_MSG,
    },
);
/// GitHub's label names are 1..50 characters.
const LABEL_TEXT: Kind = Kind::Str { min: 1, max: 50 };
const REPO_PATH: &[Spec] = &[OWNER, REPO];
const LABEL_PATH: &[Spec] = &[OWNER, REPO, Spec::req("label_name", LABEL_TEXT)];
crate::path_params!(
    /// owner and repo follow §3's rules: 1..39 and 1..100 characters of `[A-Za-z0-9_.-]`,
    /// not `.` or `..` (else 422 value_error).
    pub RepoPath [REPO_PATH]
);
crate::path_params!(
    /// owner and repo as for every §11 route; label_name 1..50 characters (any, encoded).
    pub LabelPath [LABEL_PATH]
);

const USE_CACHE: Spec = Spec::or("use_cache", Kind::Bool, DefaultValue::Bool(true));
const STATE: Spec = Spec::or("state", Kind::Enum(STATES), DefaultValue::Str("open"));
const CACHED: &[Spec] = &[USE_CACHE];
const PULLS: &[Spec] = &[STATE, USE_CACHE];
const ISSUES: &[Spec] = &[
    STATE,
    Spec::opt("labels", Kind::Str { min: 0, max: 1000 }),
    USE_CACHE,
];
crate::query_params!(
    /// use_cache=false skips the TTL: GitHub is asked (conditionally, with the cached ETags).
    pub CachedQuery [CACHED]
);
crate::query_params!(
    /// state filters; use_cache=false skips the TTL.
    pub PullsQuery [PULLS]
);
crate::query_params!(
    /// state filters; labels is a comma list of label names (all must be present);
    /// use_cache=false skips the TTL.
    pub IssuesQuery [ISSUES]
);

const COLOR: Kind = Kind::Pattern {
    min: 6,
    max: 6,
    pattern: "^[0-9a-fA-F]{6}$",
    msg: "Value error, color must be six hexadecimal digits",
};
const LABEL_DESCRIPTION: Spec = Spec::opt("description", Kind::Str { min: 0, max: 100 });
const LABEL_CREATE: &[Spec] = &[
    Spec::req("label_name", LABEL_TEXT),
    Spec::or("color", COLOR, DefaultValue::Str("ededed")),
    LABEL_DESCRIPTION,
];
const LABEL_UPDATE: &[Spec] = &[
    Spec::opt("new_name", LABEL_TEXT),
    Spec::or("color", COLOR, DefaultValue::Str("ededed")),
    LABEL_DESCRIPTION,
];
crate::record_schema!(
    /// A new label (body owner and name are ignored, for existing clients).
    pub LabelCreate: Create = &[LABEL_CREATE]
);
crate::record_schema!(
    /// new_name renames; description null clears it (body owner, name, label_name ignored).
    pub LabelUpdate: Update = &[LABEL_UPDATE]
);

/// What a settings PATCH may change (sent to GitHub as one PATCH of exactly these).
const SETTINGS: &[Spec] = &[
    Spec::opt("description", Kind::Str { min: 0, max: 350 }),
    Spec::opt("homepage", Kind::Str { min: 0, max: 255 }),
    // Not nullable (required on create only, and settings are always an update).
    Spec::req("has_issues", Kind::Bool),
    Spec::req("has_wiki", Kind::Bool),
    Spec::req("default_branch", Kind::Str { min: 1, max: 255 }),
];
const HAS_PAGES_MSG: &str = "has_pages cannot be changed here";

/// The settings PATCH body: SETTINGS, and has_pages stated as refused.
pub struct RepoSettingsUpdate;
impl utoipa::PartialSchema for RepoSettingsUpdate {
    fn schema() -> RefOr<Schema> {
        let mut o = object(&[SETTINGS], Mode::Update);
        o.properties.insert(
            "has_pages".into(),
            ObjectBuilder::new()
                .schema_type(Type::Null)
                .description(Some(
                    "GitHub Pages cannot be changed here: any value but null is 422 value_error",
                ))
                .into(),
        );
        o.description =
            Some("Only the fields sent are changed (null clears description or homepage)".into());
        RefOr::T(o.into())
    }
}
impl ToSchema for RepoSettingsUpdate {}
crate::record_schema!(
    /// The settings fields the request sent, as sent.
    pub RepoSettings: Update = &[SETTINGS]
);

/// The fields of a path as a map the field tables read.
fn path_fields(path: &PathParams, specs: &[Spec]) -> Map<String, Value> {
    specs
        .iter()
        .map(|s| (s.name.to_string(), Value::from(path.raw(s.name))))
        .collect()
}

/// 422 listing the failures of every source at once.
fn check(results: impl IntoIterator<Item = Result<(), Vec<FieldError>>>) -> ApiResult<()> {
    let errors: Vec<FieldError> = results
        .into_iter()
        .filter_map(Result::err)
        .flatten()
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

fn text(m: &Map<String, Value>, k: &str) -> String {
    m.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A request's path and query, checked together; the repository and the query's fields.
fn read_request(
    path: &PathParams,
    query: &QueryMap,
    specs: &[Spec],
) -> ApiResult<(RepoName, Map<String, Value>)> {
    let p = path_fields(path, REPO_PATH);
    let mut pf = Fields::new(&p, Source::Path);
    let names = pf.record(REPO_PATH, true);
    let mut qf = query.fields();
    let q = qf.record(specs, true);
    check([pf.finish(), qf.finish()])?;
    Ok((
        RepoName::new(text(&names, "owner"), text(&names, "repo")),
        q,
    ))
}

fn use_cache(q: &Map<String, Value>) -> bool {
    q.get("use_cache").and_then(Value::as_bool).unwrap_or(true)
}

// ------------------------------------------------------------------------------ the target

/// The project a request acts in, the token §11 chooses for the repository there, and the
/// cache entry of a read (read along with the project).
struct Target {
    scope: ProjectAccess,
    token: Token,
    cached: Option<(Key, Option<CacheEntry>)>,
}

/// One BatchGetItem (credential, project, membership, the marker a tracked `owner/repo` has
/// in the project, and the cache entry of `read`); one GetItem of the tracked repository's
/// token; KMS only for a stored token this process has not opened yet.
async fn target(
    state: &AppState,
    scope: &ProjectScope,
    repo: &RepoName,
    read: Option<&Read>,
) -> ApiResult<Target> {
    let marker = |pid: Id| keys::project_unique(pid, REPOSITORIES.prefix, &repo.key());
    let cache_key =
        |pid: Id| read.map(|r| keys::github_cache(pid, &repo.key(), r.kind(), &r.query()));
    let mut access = scope
        .resolve_with(state, None, |pid| {
            let mut wanted = vec![marker(pid)];
            wanted.extend(cache_key(pid));
            wanted
        })
        .await?;
    let pid = access.id();
    let tracked = access
        .found
        .remove(&marker(pid))
        .and_then(|m| attr_n(&m, "item_id"))
        .and_then(|id| Id::try_from(id).ok());
    let own = match tracked {
        Some(rid) => state.store.repository_token(pid, rid).await?,
        None => None,
    };
    let token = state
        .github
        .token_for(
            pid,
            own.as_deref(),
            access.project.github_token_enc.as_deref(),
        )
        .await?;
    let cached = cache_key(pid).map(|k| {
        let entry = access
            .found
            .remove(&k)
            .and_then(|item| CacheEntry::of_item(&item));
        (k, entry)
    });
    Ok(Target {
        scope: access,
        token,
        cached,
    })
}

/// Serves a cached read.
async fn serve(
    state: &AppState,
    scope: &ProjectScope,
    repo: RepoName,
    read: Read,
    use_cache: bool,
) -> ApiResult<Json<Value>> {
    let t = target(state, scope, &repo, Some(&read)).await?;
    let Some((key, entry)) = t.cached else {
        return Err(ApiError::internal("a read without its cache key"));
    };
    let served = cache::read(
        &state.github,
        &state.store,
        &key,
        &repo,
        &read,
        &t.token,
        entry,
        use_cache,
    )
    .await?;
    Ok(Json(served.body))
}

/// The §11 answers of every GitHub-backed route (API.md §11 "GitHub errors").
pub struct GitHubFailures;

impl utoipa::IntoResponses for GitHubFailures {
    fn responses() -> std::collections::BTreeMap<String, RefOr<Response>> {
        [
            ("404", "github_not_found: GitHub resource not found (no such repository or label, or the token may not see it)"),
            ("422", "github_validation_failed: GitHub refused the change (its message, e.g. a label that already exists)"),
            ("429", "github_rate_limited: the token's GitHub rate limit is exhausted (primary or secondary); carries Retry-After"),
            ("502", "github_auth_failed: GitHub rejected the token; github_error: GitHub request failed (unreachable, 5xx, an unexpected answer)"),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_string(), RefOr::T(Response::new(description))))
        .collect()
    }
}

// ------------------------------------------------------------------------------------ reads

/// A repository's GitHub data (cached 300 s).
#[utoipa::path(get, path = "/api/v1/github/{owner}/{repo}/info", tag = "github", security(("bearer" = [])),
    params(RepoPath, ProjectScope, CachedQuery),
    responses((status = 200, body = RepoInfo, description = "url is the repository's page (html_url); served from the project's cache while fresh (300 s)"),
        GitHubFailures))]
async fn repository_info(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let (repo, q) = read_request(&path, &query, CACHED)?;
    serve(&state, &scope, repo, Read::Info, use_cache(&q)).await
}

/// A repository's pull requests, every page (cached 60 s).
#[utoipa::path(get, path = "/api/v1/github/{owner}/{repo}/pulls", tag = "github", security(("bearer" = [])),
    params(RepoPath, ProjectScope, PullsQuery),
    responses((status = 200, body = Vec<PullRequest>, description = "Every page, in GitHub's order (newest first); cached 60 s"),
        GitHubFailures))]
async fn list_pulls(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let (repo, q) = read_request(&path, &query, PULLS)?;
    let read = Read::Pulls {
        state: text(&q, "state"),
    };
    serve(&state, &scope, repo, read, use_cache(&q)).await
}

/// A repository's issues without pull requests, every page (cached 120 s).
#[utoipa::path(get, path = "/api/v1/github/{owner}/{repo}/issues", tag = "github", security(("bearer" = [])),
    params(RepoPath, ProjectScope, IssuesQuery),
    responses((status = 200, body = Vec<Issue>, description = "Every page, in GitHub's order (newest first), pull requests left out; cached 120 s"),
        GitHubFailures))]
async fn list_issues(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let (repo, q) = read_request(&path, &query, ISSUES)?;
    let labels = q.get("labels").and_then(Value::as_str);
    let read = Read::issues(&text(&q, "state"), labels);
    serve(&state, &scope, repo, read, use_cache(&q)).await
}

/// A repository's GitHub Actions workflows (cached 600 s).
#[utoipa::path(get, path = "/api/v1/github/{owner}/{repo}/workflows", tag = "github", security(("bearer" = [])),
    params(RepoPath, ProjectScope, CachedQuery),
    responses((status = 200, body = Vec<Workflow>, description = "Every workflow; url is its page (html_url); cached 600 s"),
        GitHubFailures))]
async fn list_workflows(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let (repo, q) = read_request(&path, &query, CACHED)?;
    serve(&state, &scope, repo, Read::Workflows, use_cache(&q)).await
}

// ----------------------------------------------------------------------------------- writes

/// The repository of a write and its checked body; the path and body fail together.
/// `refused` are body fields that may not be sent (non-null), with their message.
fn write_request(
    path: &PathParams,
    path_specs: &[Spec],
    body: &JsonObject,
    specs: &[Spec],
    create: bool,
    refused: &[(&str, &str)],
) -> ApiResult<(Map<String, Value>, Map<String, Value>)> {
    let p = path_fields(path, path_specs);
    let mut pf = Fields::new(&p, Source::Path);
    let names = pf.record(path_specs, true);
    let mut bf = body.fields();
    let fields = bf.record(specs, create);
    for (name, msg) in refused {
        if body.0.get(*name).is_some_and(|v| !v.is_null()) {
            bf.push(FieldError::value_error(&["body", name], *msg));
        }
    }
    check([pf.finish(), bf.finish()])?;
    Ok((names, fields))
}

fn repo_of(names: &Map<String, Value>) -> RepoName {
    RepoName::new(text(names, "owner"), text(names, "repo"))
}

/// Create a label.
#[utoipa::path(post, path = "/api/v1/github/{owner}/{repo}/labels", tag = "github", security(("bearer" = [])),
    params(RepoPath, ProjectScope), request_body = LabelCreate,
    responses((status = 201, body = LabelAction, description = "Created on GitHub: action = created"),
        GitHubFailures))]
async fn create_label(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<LabelAction>)> {
    let (names, fields) = write_request(&path, REPO_PATH, &body, LABEL_CREATE, true, &[])?;
    let repo = repo_of(&names);
    let mut send = Map::new();
    send.insert("name".into(), Value::from(text(&fields, "label_name")));
    send.insert("color".into(), Value::from(text(&fields, "color")));
    if let Some(d) = fields.get("description").filter(|d| !d.is_null()) {
        send.insert("description".into(), d.clone());
    }
    let t = target(&state, &scope, &repo, None).await?;
    // A GitHub write cannot be undone by a later 429: the charge is applied first.
    crate::api::ratelimit::charge_now(&state).await?;
    let label = repos::create_label(&state.github, &t.token, &repo, &send).await?;
    Ok((
        StatusCode::CREATED,
        Json(LabelAction {
            action: "created".into(),
            label,
        }),
    ))
}

/// Update (or rename) a label. PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/github/{owner}/{repo}/labels/{label_name}", tag = "github", security(("bearer" = [])),
    params(LabelPath, ProjectScope), request_body = LabelUpdate,
    responses((status = 200, body = LabelAction, description = "Updated on GitHub: action = updated; the label as GitHub now has it"),
        GitHubFailures))]
async fn update_label(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
    body: JsonObject,
) -> ApiResult<Json<LabelAction>> {
    let (names, fields) = write_request(&path, LABEL_PATH, &body, LABEL_UPDATE, false, &[])?;
    let repo = repo_of(&names);
    let mut send = Map::new();
    if let Some(n) = fields.get("new_name").filter(|n| !n.is_null()) {
        send.insert("new_name".into(), n.clone());
    }
    if let Some(c) = fields.get("color") {
        send.insert("color".into(), c.clone());
    }
    match fields.get("description") {
        Some(Value::Null) => {
            send.insert("description".into(), Value::from(""));
        }
        Some(d) => {
            send.insert("description".into(), d.clone());
        }
        None => {}
    }
    let t = target(&state, &scope, &repo, None).await?;
    crate::api::ratelimit::charge_now(&state).await?;
    let label = repos::update_label(
        &state.github,
        &t.token,
        &repo,
        &text(&names, "label_name"),
        &send,
    )
    .await?;
    Ok(Json(LabelAction {
        action: "updated".into(),
        label,
    }))
}

/// Delete a label.
#[utoipa::path(delete, path = "/api/v1/github/{owner}/{repo}/labels/{label_name}", tag = "github", security(("bearer" = [])),
    params(LabelPath, ProjectScope),
    responses((status = 204, description = "Deleted on GitHub"), GitHubFailures))]
async fn delete_label(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
) -> ApiResult<StatusCode> {
    let p = path_fields(&path, LABEL_PATH);
    let mut pf = Fields::new(&p, Source::Path);
    let names = pf.record(LABEL_PATH, true);
    check([pf.finish()])?;
    let repo = repo_of(&names);
    let t = target(&state, &scope, &repo, None).await?;
    crate::api::ratelimit::charge_now(&state).await?;
    repos::delete_label(&state.github, &t.token, &repo, &text(&names, "label_name")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a settings PATCH answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsUpdated {
    /// Always true.
    pub updated: bool,
    #[schema(value_type = RepoSettings)]
    pub settings: Map<String, Value>,
}

/// Change repository settings (one GitHub request), then drop the repository's cache in this
/// project. PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/github/{owner}/{repo}/settings", tag = "github", security(("bearer" = [])),
    params(RepoPath, ProjectScope), request_body = RepoSettingsUpdate,
    responses((status = 200, body = SettingsUpdated, description = "Changed on GitHub with one PATCH of exactly the fields sent; the repository's cached reads in this project are dropped"),
        GitHubFailures))]
async fn update_settings(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
    body: JsonObject,
) -> ApiResult<Json<SettingsUpdated>> {
    let (names, settings) = write_request(
        &path,
        REPO_PATH,
        &body,
        SETTINGS,
        false,
        &[("has_pages", HAS_PAGES_MSG)],
    )?;
    let repo = repo_of(&names);
    // GitHub takes strings: an empty one clears a description or homepage.
    let send: Map<String, Value> = settings
        .iter()
        .map(|(k, v)| {
            let v = if v.is_null() {
                Value::from("")
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let t = target(&state, &scope, &repo, None).await?;
    crate::api::ratelimit::charge_now(&state).await?;
    repos::update_settings(&state.github, &t.token, &repo, &send).await?;
    state
        .store
        .invalidate_github_cache(t.scope.id(), &repo.key())
        .await?;
    Ok(Json(SettingsUpdated {
        updated: true,
        settings,
    }))
}

/// What a cache invalidation answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CacheInvalidated {
    /// Always `success`.
    pub status: String,
    /// `Cache invalidated for <owner>/<repo>`
    pub message: String,
}

/// Drop the project's cached GitHub reads of a repository (no GitHub request).
#[utoipa::path(post, path = "/api/v1/github/{owner}/{repo}/cache/invalidate", tag = "github", security(("bearer" = [])),
    params(RepoPath, ProjectScope),
    responses((status = 200, body = CacheInvalidated, description = "The next read of each kind asks GitHub")))]
async fn invalidate_cache(
    State(state): State<AppState>,
    scope: ProjectScope,
    path: PathParams,
) -> ApiResult<Json<CacheInvalidated>> {
    let p = path_fields(&path, REPO_PATH);
    let mut pf = Fields::new(&p, Source::Path);
    let names = pf.record(REPO_PATH, true);
    check([pf.finish()])?;
    let repo = repo_of(&names);
    let scope = scope.resolve(&state, None, &[]).await?;
    crate::api::ratelimit::charge_now(&state).await?;
    state
        .store
        .invalidate_github_cache(scope.id(), &repo.key())
        .await?;
    Ok(Json(CacheInvalidated {
        status: "success".into(),
        message: format!("Cache invalidated for {}", repo.full_name()),
    }))
}
