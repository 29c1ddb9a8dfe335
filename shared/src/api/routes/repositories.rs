//! `/api/v1/repositories` (API.md §3): tracked GitHub repositories of a project.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{body_project, shape};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonObject, Page, QueryMap};
use crate::api::openapi::Problem;
use crate::api::scope::{ItemAccess, ItemKind, ProjectScope};
use crate::api::AppState;
use crate::domain::project::is_valid_github_token;
use crate::domain::repository::is_valid_name;
use crate::domain::validate::{Fields, Kind, Patch, Spec};
use crate::domain::{Id, Timestamp};
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

const OUT: &[&str] = &[
    "id",
    "project_id",
    "owner",
    "name",
    "full_name",
    "description",
    "has_access_token",
    "is_private",
    "github_id",
    "url",
    "clone_url",
    "default_branch",
    "last_commit_sha",
    "last_commit_message",
    "last_commit_author",
    "last_commit_date",
    "last_synced_at",
    "stars",
    "forks",
    "language",
    "metadata_",
    "created_at",
    "updated_at",
];

/// The response form: never the token, only whether there is one.
pub fn repository_out(r: &Record) -> Value {
    let mut r = r.clone();
    let has = r.get("access_token_enc").is_some_and(|v| !v.is_null());
    r.insert("has_access_token".into(), Value::from(has));
    shape(&r, OUT)
}

/// A repository (documentation shape).
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct Repository {
    id: Id,
    project_id: Id,
    owner: String,
    name: String,
    full_name: String,
    description: Option<String>,
    has_access_token: bool,
    is_private: bool,
    github_id: Option<i64>,
    url: Option<String>,
    clone_url: Option<String>,
    default_branch: String,
    last_commit_sha: Option<String>,
    last_commit_message: Option<String>,
    last_commit_author: Option<String>,
    #[schema(format = DateTime)]
    last_commit_date: Option<String>,
    #[schema(format = DateTime)]
    last_synced_at: Option<String>,
    stars: i64,
    forks: i64,
    language: Option<String>,
    metadata_: Option<Map<String, Value>>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

#[allow(dead_code)]
#[derive(serde::Deserialize, ToSchema)]
pub struct RepositoryCreate {
    #[schema(min_length = 1, max_length = 39, pattern = "^[A-Za-z0-9_.-]+$")]
    owner: String,
    #[schema(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9_.-]+$")]
    name: String,
    description: Option<String>,
    /// Write-only GitHub token (ghp_…, github_pat_…), stored KMS-encrypted.
    access_token: Option<String>,
    is_private: Option<bool>,
    project_id: Option<Id>,
}

#[allow(dead_code)]
#[derive(serde::Deserialize, ToSchema)]
pub struct RepositoryUpdate {
    description: Option<String>,
    /// null removes the token.
    access_token: Option<String>,
    is_private: Option<bool>,
    metadata_: Option<Map<String, Value>>,
}

fn github_name(f: &mut Fields<'_>, field: &str, max: usize) -> String {
    let v = f.req_string(field, 1, max);
    if !f.has_error(field) && !is_valid_name(&v) {
        f.error(
            field,
            "value_error",
            "Value error, Invalid GitHub name format",
        );
    }
    v
}

fn access_token(f: &mut Fields<'_>) -> Patch<String> {
    let t = f.string("access_token", 1, 300);
    if let Patch::Value(v) = &t {
        if !is_valid_github_token(v) {
            f.error(
                "access_token",
                "value_error",
                "Value error, Invalid GitHub token format",
            );
            return Patch::Absent;
        }
    }
    t
}

/// Fields a repository takes on create and update.
const DESCRIPTION: Spec = Spec::opt(
    "description",
    Kind::Str {
        min: 0,
        max: 100_000,
    },
);
const IS_PRIVATE: Spec = Spec::or(
    "is_private",
    Kind::Bool,
    crate::domain::validate::DefaultValue::Bool(false),
);

/// Track a repository.
#[utoipa::path(post, path = "/api/v1/repositories", tag = "repositories", security(("bearer" = [])),
    request_body = RepositoryCreate,
    responses((status = 201, body = Repository), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_repository(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let owner = github_name(&mut f, "owner", 39);
    let name = github_name(&mut f, "name", 100);
    let mut record = f.record(&[DESCRIPTION, IS_PRIVATE], true);
    let token = access_token(&mut f).value();
    let body_pid = body_project(&mut f);
    f.finish()?;
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
        ("updated_at", Value::from(now)),
    ] {
        record.insert(k.into(), v);
    }
    if let Some(t) = token {
        record.insert(
            "access_token_enc".into(),
            Value::from(state.sealer.seal(pid, &t).await?),
        );
    }
    match state
        .store
        .create_record(&REPOSITORIES, pid, record, |_| vec![], &[])
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
    params(("skip" = Option<i64>, Query, minimum = 0), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500),
           ("owner" = Option<String>, Query), ("language" = Option<String>, Query), ("project_id" = Option<i64>, Query)),
    responses((status = 200, body = Vec<Repository>), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_repositories(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let page = Page::read(&mut f, 100, 500);
    let owner = f.string("owner", 0, 100).value();
    let language = f.string("language", 0, 100).value();
    f.finish()?;
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
    params(("repository_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = Repository), (status = 404, body = Problem)))]
async fn get_repository(item: ItemAccess<Repo>) -> Json<Value> {
    Json(repository_out(&item.record))
}

/// Update description, token, visibility or metadata. PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/repositories/{repository_id}", tag = "repositories", security(("bearer" = [])),
    params(("repository_id" = i64, Path, minimum = 1)), request_body = RepositoryUpdate,
    responses((status = 200, body = Repository), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_repository(
    State(state): State<AppState>,
    item: ItemAccess<Repo>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let mut changes = f.record(
        &[DESCRIPTION, IS_PRIVATE, Spec::opt("metadata_", Kind::Obj)],
        false,
    );
    let token = access_token(&mut f);
    f.finish()?;
    let pid = item.scope.id();
    match token {
        Patch::Value(t) => {
            changes.insert(
                "access_token_enc".into(),
                Value::from(state.sealer.seal(pid, &t).await?),
            );
        }
        Patch::Null => {
            changes.insert("access_token_enc".into(), Value::Null);
        }
        Patch::Absent => {}
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

/// Stop tracking a repository: its research tasks (and their documents) go too.
#[utoipa::path(delete, path = "/api/v1/repositories/{repository_id}", tag = "repositories", security(("bearer" = [])),
    params(("repository_id" = i64, Path, minimum = 1)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_repository(
    State(state): State<AppState>,
    item: ItemAccess<Repo>,
) -> ApiResult<StatusCode> {
    super::delete_item(
        &state,
        &REPOSITORIES,
        item,
        Some("repository_id"),
        |_| vec![],
    )
    .await
}

/// Sync with GitHub: arrives with the GitHub integration.
#[utoipa::path(post, path = "/api/v1/repositories/{repository_id}/sync", tag = "repositories", security(("bearer" = [])),
    params(("repository_id" = i64, Path, minimum = 1)),
    responses((status = 503, body = Problem), (status = 404, body = Problem)))]
async fn sync_repository(_item: ItemAccess<Repo>) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "github_unavailable",
        "Repository sync is not available yet: the GitHub integration is not deployed",
    )
}
