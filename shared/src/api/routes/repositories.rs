//! `/api/v1/repositories` (API.md §3): tracked GitHub repositories of a project.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body_project;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{page_specs, JsonObject, Page, QueryMap};
use crate::api::scope::{ItemAccess, ItemKind, ProjectScope};
use crate::api::AppState;
use crate::domain::project::GITHUB_TOKEN_PATTERN;
use crate::domain::repository::NAME_PATTERN;
use crate::domain::validate::{DefaultValue, Kind, Spec};
use crate::domain::Timestamp;
use crate::store::kinds::REPOSITORIES;
use crate::store::records::{Record, CREATE_MARKER_INDEX};
use crate::store::StoreError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_repositories, create_repository))
        .routes(routes!(
            get_repository,
            update_repository,
            delete_repository
        ))
        .routes(routes!(sync_repository))
}

pub struct Repo;
impl ItemKind for Repo {
    const PREFIX: &'static str = REPOSITORIES.prefix;
    const CODE: &'static str = "repository";
    const LABEL: &'static str = "Repository";
    const PARAM: &'static str = "repository_id";
}

const OWNER: Spec = Spec::req(
    "owner",
    Kind::Pattern {
        min: 1,
        max: 39,
        pattern: NAME_PATTERN,
        msg: "Value error, Invalid GitHub name format",
    },
);
const NAME: Spec = Spec::req(
    "name",
    Kind::Pattern {
        min: 1,
        max: 100,
        pattern: NAME_PATTERN,
        msg: "Value error, Invalid GitHub name format",
    },
);
const DESCRIPTION: Spec = Spec::opt(
    "description",
    Kind::Str {
        min: 0,
        max: 100_000,
    },
);
const IS_PRIVATE: Spec = Spec::or("is_private", Kind::Bool, DefaultValue::Bool(false));
/// Write-only: stored KMS-encrypted, never returned (has_access_token); null removes it.
const ACCESS_TOKEN: Spec = Spec::opt(
    "access_token",
    Kind::Pattern {
        min: 1,
        max: 300,
        pattern: GITHUB_TOKEN_PATTERN,
        msg: "Value error, Invalid GitHub token format",
    },
);
const METADATA: Spec = Spec::opt("metadata_", Kind::Obj);

/// RepositoryCreate (API.md §3).
const CREATE: &[Spec] = &[OWNER, NAME, DESCRIPTION, IS_PRIVATE, ACCESS_TOKEN];
/// What a PATCH may change.
const UPDATE: &[Spec] = &[DESCRIPTION, IS_PRIVATE, METADATA, ACCESS_TOKEN];
crate::record_schema!(pub RepositoryCreate: Create = &[CREATE, super::PROJECT_ID]);
crate::record_schema!(pub RepositoryUpdate: Update = &[UPDATE]);

const TEXT: Kind = Kind::Str {
    min: 0,
    max: usize::MAX,
};
const COUNT: Kind = Kind::Int {
    min: Some(0),
    max: None,
};
/// A repository as responses carry it (never the token, only whether there is one).
const OUT: &[Spec] = &[
    Spec::req("id", Kind::Id),
    Spec::req("project_id", Kind::Id),
    OWNER,
    NAME,
    Spec::req("full_name", Kind::Str { min: 3, max: 140 }),
    DESCRIPTION,
    Spec::req("has_access_token", Kind::Bool),
    Spec::req("is_private", Kind::Bool),
    Spec::opt("github_id", COUNT),
    Spec::opt("url", TEXT),
    Spec::opt("clone_url", TEXT),
    Spec::req("default_branch", TEXT),
    Spec::opt("last_commit_sha", TEXT),
    Spec::opt("last_commit_message", TEXT),
    Spec::opt("last_commit_author", TEXT),
    Spec::opt("last_commit_date", Kind::Ts),
    Spec::opt("last_synced_at", Kind::Ts),
    Spec::req("stars", COUNT),
    Spec::req("forks", COUNT),
    Spec::opt("language", TEXT),
    METADATA,
    Spec::req("created_at", Kind::Ts),
    Spec::req("updated_at", Kind::Ts),
];
crate::record_schema!(pub Repository: Response = &[OUT]);

const PAGE: [Spec; 2] = page_specs(100, 500);
const FILTERS: &[Spec] = &[
    Spec::opt("owner", Kind::Str { min: 0, max: 100 }),
    Spec::opt("language", Kind::Str { min: 0, max: 100 }),
];
crate::query_params!(
    /// Pagination and exact filters (AND).
    pub RepositoryQuery [&PAGE, FILTERS]
);

const SYNC: &[Spec] = &[Spec::or("force", Kind::Bool, DefaultValue::Bool(false))];
crate::record_schema!(
    /// Optional; force = unconditional requests (no ETags).
    pub SyncRequest: Create = &[SYNC]
);
const SYNC_RESULT: &[Spec] = &[
    Spec::req("repository_id", Kind::Id),
    Spec::req("synced", Kind::Bool),
    Spec::opt("last_commit_sha", TEXT),
    Spec::opt("last_commit_message", TEXT),
    Spec::opt("last_synced_at", Kind::Ts),
    Spec::req("changes_detected", Kind::Bool),
];
crate::record_schema!(pub RepositorySyncResult: Response = &[SYNC_RESULT]);

/// The response form: never the token, only whether there is one.
pub fn repository_out(r: &Record) -> Value {
    let mut r = r.clone();
    let has = r.get("access_token_enc").is_some_and(|v| !v.is_null());
    r.insert("has_access_token".into(), Value::from(has));
    crate::domain::shape_of(&r, &[OUT])
}

/// Track a repository.
#[utoipa::path(post, path = "/api/v1/repositories", tag = "repositories", security(("bearer" = [])),
    params(ProjectScope), request_body = RepositoryCreate,
    responses((status = 201, body = Repository, description = "Tracked; full_name = owner/name"),
        (status = 409, description = "repository_exists: Repository <owner>/<name> already exists (ignoring case)")))]
async fn create_repository(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let mut record = f.record(CREATE, true);
    let body_pid = body_project(&mut f);
    f.finish()?;
    let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_string));
    let token = text(record.remove("access_token"));
    let owner = text(record.remove("owner")).unwrap_or_default();
    let name = text(record.remove("name")).unwrap_or_default();
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let pid = scope.id();
    let now = Timestamp::now().to_rfc3339();
    let full_name = format!("{owner}/{name}");
    for (k, v) in [
        ("owner", Value::from(owner)),
        ("name", Value::from(name)),
        ("full_name", Value::from(full_name.clone())),
        ("default_branch", Value::from("main")),
        ("stars", Value::from(0)),
        ("forks", Value::from(0)),
        ("created_at", Value::from(now.clone())),
        ("updated_at", Value::from(now.clone())),
    ] {
        record.insert(k.into(), v);
    }
    // Listed for the nightly sync (sparse gsi2).
    let (g2pk, g2sk) = crate::github::sync::tracked_index(&full_name, &now);
    record.insert("gsi2pk".into(), Value::from(g2pk));
    record.insert("gsi2sk".into(), Value::from(g2sk));
    // Found by inbound GitHub deliveries (sparse gsi1 `GHREPO#<full_name>`), once the id is known.
    let index_full_name = full_name.clone();
    if let Some(t) = token {
        record.insert(
            "access_token_enc".into(),
            Value::from(state.sealer.seal(pid, &t).await?),
        );
    }
    match state
        .store
        .create_record_with(
            &REPOSITORIES,
            pid,
            record,
            |_| vec![],
            &[],
            |r| {
                let id = r.get("id").and_then(Value::as_u64).unwrap_or(0);
                let (g1pk, g1sk) =
                    crate::store::webhook_events::repo_index(&index_full_name, pid, id);
                r.insert("gsi1pk".into(), Value::from(g1pk));
                r.insert("gsi1sk".into(), Value::from(g1sk));
            },
        )
        .await
    {
        Ok(r) => Ok((StatusCode::CREATED, Json(repository_out(&r)))),
        Err(StoreError::Condition(CREATE_MARKER_INDEX)) => Err(ApiError::conflict(
            "repository_exists",
            format!("Repository {full_name} already exists"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A project's repositories, most recently updated first.
#[utoipa::path(get, path = "/api/v1/repositories", tag = "repositories", security(("bearer" = [])),
    params(RepositoryQuery, ProjectScope),
    responses((status = 200, body = Vec<Repository>, description = "updated_at desc")))]
async fn list_repositories(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let page = Page::read(&mut f, &PAGE);
    let filters = f.record(FILTERS, false);
    f.finish()?;
    let filter = |k: &str| filters.get(k).and_then(Value::as_str).map(str::to_string);
    let (owner, language) = (filter("owner"), filter("language"));
    let scope = scope.resolve(&state, None, &[]).await?;
    let mut all: Vec<Record> = state
        .store
        .records(scope.id(), REPOSITORIES.prefix)
        .await?
        .into_iter()
        .filter(|r| {
            owner
                .as_deref()
                .is_none_or(|o| r.get("owner").and_then(Value::as_str) == Some(o))
                && language
                    .as_deref()
                    .is_none_or(|l| r.get("language").and_then(Value::as_str) == Some(l))
        })
        .collect();
    sort_recent_first(&mut all);
    Ok(Json(
        all.iter()
            .skip(page.skip)
            .take(page.limit)
            .map(repository_out)
            .collect(),
    ))
}

/// updated_at desc, newest id first among equals.
pub(crate) fn sort_recent_first(records: &mut [Record]) {
    let key = |r: &Record| {
        (
            r.get("updated_at")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            r.get("id").and_then(Value::as_u64).unwrap_or(0),
        )
    };
    records.sort_by_key(|r| std::cmp::Reverse(key(r)));
}

/// One repository.
#[utoipa::path(get, path = "/api/v1/repositories/{repository_id}", tag = "repositories", security(("bearer" = [])),
    params(("repository_id" = i64, Path)),
    responses((status = 200, body = Repository), (status = 404, description = "repository_not_found")))]
async fn get_repository(item: ItemAccess<Repo>) -> Json<Value> {
    Json(repository_out(&item.record))
}

/// Update description, token, visibility or metadata. PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/repositories/{repository_id}", tag = "repositories", security(("bearer" = [])),
    params(("repository_id" = i64, Path)), request_body = RepositoryUpdate,
    responses((status = 200, body = Repository), (status = 404, description = "repository_not_found")))]
async fn update_repository(
    State(state): State<AppState>,
    item: ItemAccess<Repo>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let mut changes = f.record(UPDATE, false);
    f.finish()?;
    let pid = item.scope.id();
    match changes.remove("access_token") {
        Some(Value::String(t)) => {
            changes.insert(
                "access_token_enc".into(),
                Value::from(state.sealer.seal(pid, &t).await?),
            );
        }
        Some(_) => {
            changes.insert("access_token_enc".into(), Value::Null);
        }
        None => {}
    }
    super::update_retrying::<Repo>(
        &state,
        &REPOSITORIES,
        item,
        |old| super::overlay(old, &changes),
        |_, _| vec![],
        Vec::new,
    )
    .await?
    .map(|new| Json(repository_out(&new)))
    .map_err(ApiError::from)
}

/// Stop tracking a repository: its research tasks (and their documents) and its webhook
/// configs (with their deliveries) go too.
#[utoipa::path(delete, path = "/api/v1/repositories/{repository_id}", tag = "repositories", security(("bearer" = [])),
    params(("repository_id" = i64, Path)),
    responses((status = 204, description = "Untracked; its research tasks (with documents) and webhook configs go too"), (status = 404, description = "repository_not_found")))]
async fn delete_repository(
    State(state): State<AppState>,
    item: ItemAccess<Repo>,
) -> ApiResult<StatusCode> {
    let (pid, id) = (item.scope.id(), item.id);
    crate::webhooks::delete_repository_configs(&state.store, pid, id).await?;
    let done = super::delete_item(
        &state,
        &REPOSITORIES,
        item,
        Some("repository_id"),
        |_| vec![],
    )
    .await?;
    // A config created for it while it was being deleted.
    crate::webhooks::delete_repository_configs(&state.store, pid, id).await?;
    Ok(done)
}

/// Sync with GitHub now (API.md §3): repository data and the newest default-branch commit,
/// with ETag conditional requests unless `force`; the same operation as a repository_sync job.
#[utoipa::path(post, path = "/api/v1/repositories/{repository_id}/sync", tag = "repositories", security(("bearer" = [])),
    params(("repository_id" = i64, Path)), request_body = SyncRequest,
    responses((status = 200, body = RepositorySyncResult, description = "Synced; changes_detected = a previous commit SHA existed and differs"),
        (status = 404, description = "repository_not_found, or github_not_found (GitHub has no such repository)"),
        (status = 429, description = "github_rate_limited (Retry-After), or rate_limited"),
        (status = 502, description = "github_auth_failed, github_error")))]
async fn sync_repository(
    State(state): State<AppState>,
    item: ItemAccess<Repo>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let q = f.record(SYNC, true);
    f.finish()?;
    let force = q.get("force").and_then(Value::as_bool).unwrap_or(false);
    let pid = item.scope.id();
    let synced = crate::github::sync::sync_repository(
        &state.github,
        &state.store,
        pid,
        &item.record,
        item.scope.project.github_token_enc.as_deref(),
        force,
    )
    .await
    .map_err(|e| match e {
        crate::github::sync::SyncError::GitHub(e) => ApiError::from(e),
        crate::github::sync::SyncError::Store(e) => ApiError::from(e),
        crate::github::sync::SyncError::Gone(id) => ItemAccess::<Repo>::not_found(id),
    })?;
    Ok(Json(synced.result))
}
