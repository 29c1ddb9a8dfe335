//! Project analysis (API.md §2, §2.1): `POST /projects/analyze` (a tracked repository, a GitHub
//! repository or an uploaded archive; cached per commit or archive hash), `GET
//! /projects/analysis/{id}`, `GET /projects/analysis/statistics`. Mounted with the projects
//! group (api-projects). The work runs in the `analysis` job (`crate::analysis`).

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::batch::create_and_dispatch;
use super::{body_project, PROJECT_ID};
use crate::analysis::{self, commit_sha, GitHubTarget, MAX_UPLOAD_BYTES};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::JsonObject;
use crate::api::scope::{ItemAccess, ItemKind, ProjectAccess, ProjectScope};
use crate::api::AppState;
use crate::domain::analysis::model::ProjectAnalysis;
use crate::domain::jobs::{job_out, JobType, REPO_PATTERN};
use crate::domain::validate::{Kind, Spec};
use crate::domain::Id;
use crate::github::repos::RepoName;
use crate::store::analyses::cache_key;
use crate::store::kinds::{ANALYSES, ANALYSIS_PROJECTS};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(analyze))
        .routes(routes!(statistics))
        .routes(routes!(get_analysis))
}

pub struct AnalysisKind;
impl ItemKind for AnalysisKind {
    const PREFIX: &'static str = ANALYSES.prefix;
    const CODE: &'static str = "analysis";
    const LABEL: &'static str = "Analysis";
    const PARAM: &'static str = "analysis_id";
}

const EXACTLY_ONE: &str = "Value error, Exactly one of repository_id, repo or file is required";
const REPO_MSG: &str = "Value error, repo must be 'owner/name'";
const REF: Kind = Kind::Str { min: 1, max: 255 };

/// The JSON sources (§2.1).
const ANALYZE: &[Spec] = &[
    Spec::opt("repository_id", Kind::Id),
    Spec::opt(
        "repo",
        Kind::Pattern {
            min: 3,
            max: 201,
            pattern: REPO_PATTERN,
            msg: REPO_MSG,
        },
    ),
    Spec::opt("ref", REF),
    Spec::opt("use_cache", Kind::Bool),
];
/// A tracked repository (`repository_id`) or a GitHub repository (`repo`), at `ref` (the
/// default branch if absent); exactly one source.
pub struct AnalyzeRequest;
impl utoipa::PartialSchema for AnalyzeRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use crate::domain::schema::{kind_schema, object, one_non_null, Mode};
        let sources: Vec<_> = ANALYZE[..2]
            .iter()
            .map(|s| (s.name, kind_schema(&s.kind, false)))
            .collect();
        let all: utoipa::openapi::schema::Schema = utoipa::openapi::schema::AllOfBuilder::new()
            .item(object(&[ANALYZE, PROJECT_ID], Mode::Create))
            .item(one_non_null(&sources))
            .description(Some("Exactly one of repository_id, repo (non-null)"))
            .build()
            .into();
        utoipa::openapi::RefOr::T(all)
    }
}
impl ToSchema for AnalyzeRequest {}

/// The multipart form of an upload (§2.1): these fields only.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AnalyzeUpload {
    /// .zip, .tar.gz or .tgz, at most 5 MB
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// true (default) or false
    use_cache: Option<bool>,
    /// 0 = absent
    #[schema(value_type = Option<i64>, minimum = 0.0, maximum = 9007199254740991.0)]
    project_id: Option<Id>,
}

/// What the request asked for, once read.
enum Asked {
    Upload(Vec<u8>),
    Repository(Id),
    GitHub(RepoName),
}

struct Request_ {
    asked: Asked,
    git_ref: Option<String>,
    use_cache: bool,
    project: Option<Id>,
}

fn invalid_archive() -> ApiError {
    ApiError::bad_request("invalid_archive", "Archive could not be read")
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Archive exceeds the 5 MB limit",
    )
}

fn exactly_one() -> ApiError {
    ApiError::field(&["body"], "value_error", EXACTLY_ONE)
}

/// A multipart form: `file`, `use_cache`, `ref`, `project_id` (and, wrongly, a second source).
async fn read_form(mut form: Multipart) -> ApiResult<Request_> {
    let mut file = None;
    let mut texts: Map<String, Value> = Map::new();
    let mut other_source = false;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => {
                return Err(ApiError::field(
                    &["body"],
                    "value_error",
                    "Value error, the multipart body could not be read",
                ))
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => {
                return Err(ApiError::field(
                    &["body", &name],
                    "value_error",
                    "Value error, the field could not be read",
                ))
            }
        };
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(exactly_one());
                }
                file = Some(bytes.to_vec());
            }
            "repository_id" | "repo" => other_source = true,
            "use_cache" | "ref" | "project_id" => {
                let text = String::from_utf8_lossy(&bytes).trim().to_string();
                texts.insert(name, Value::String(text));
            }
            _ => {}
        }
    }
    let mut errors = Vec::new();
    // A form sends null as the text `null` (or an empty field): absent.
    let absent = |v: &&str| !v.is_empty() && *v != "null";
    let use_cache = match texts
        .get("use_cache")
        .and_then(Value::as_str)
        .filter(absent)
    {
        None => true,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => {
                errors.push(crate::domain::validate::FieldError::new(
                    &["body", "use_cache"],
                    "bool_parsing",
                    "Input should be a valid boolean, unable to interpret input",
                ));
                true
            }
        },
    };
    let git_ref = texts.get("ref").and_then(Value::as_str).map(str::to_string);
    if git_ref
        .as_ref()
        .is_some_and(|r| r.is_empty() || r.chars().count() > 255)
    {
        errors.push(crate::domain::validate::FieldError::new(
            &["body", "ref"],
            "string_too_long",
            "String should have 1 to 255 characters",
        ));
    }
    let project = match texts
        .get("project_id")
        .and_then(Value::as_str)
        .filter(absent)
    {
        None | Some("0") => None,
        Some(v) => match v.parse::<Id>() {
            Ok(id) if id <= crate::domain::ids::MAX_ID => Some(id),
            _ => {
                errors.push(crate::domain::validate::FieldError::new(
                    &["body", "project_id"],
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    match file {
        Some(bytes) if !other_source => Ok(Request_ {
            asked: Asked::Upload(bytes),
            git_ref,
            use_cache,
            project,
        }),
        _ => Err(exactly_one()),
    }
}

fn read_json(body: &JsonObject) -> ApiResult<Request_> {
    let mut f = body.fields();
    let r = f.record(ANALYZE, true);
    let project = body_project(&mut f);
    f.finish()?;
    let rid = r.get("repository_id").and_then(Value::as_u64);
    let repo = r.get("repo").and_then(Value::as_str);
    let asked = match (rid, repo) {
        (Some(id), None) => Asked::Repository(id),
        (None, Some(full)) => match full.split_once('/') {
            Some((owner, name)) => Asked::GitHub(RepoName::new(owner, name)),
            None => return Err(exactly_one()),
        },
        _ => return Err(exactly_one()),
    };
    Ok(Request_ {
        asked,
        git_ref: r.get("ref").and_then(Value::as_str).map(str::to_string),
        use_cache: r.get("use_cache").and_then(Value::as_bool).unwrap_or(true),
        project,
    })
}

/// Whether `bytes` start like an archive we read (zip, gzip) and their index opens.
fn looks_like_archive(bytes: &[u8]) -> bool {
    crate::domain::analysis::archive::probe(bytes).is_ok()
}

/// Analyze a repository or an uploaded archive: the stored result (200) if this commit or archive
/// was analyzed before and use_cache, else a dispatched analysis job (202).
#[utoipa::path(post, path = "/api/v1/projects/analyze", tag = "projects", security(("bearer" = [])),
    params(ProjectScope),
    request_body(description = "JSON (a repository) or multipart/form-data (an archive)",
        content((AnalyzeRequest = "application/json"), (AnalyzeUpload = "multipart/form-data"))),
    responses(
        (status = 200, body = ProjectAnalysis, description = "Stored analysis of this commit or archive"),
        (status = 202, body = super::jobs::Job, description = "Analysis job, dispatched"),
        (status = 400, description = "invalid_archive: Archive could not be read"),
        (status = 404, description = "repository_not_found; github_not_found"),
        (status = 413, description = "payload_too_large: archive over 5 MB (or a GitHub archive over 64 MB)"),
        (status = 415, description = "unsupported_media_type: neither JSON nor multipart/form-data"),
        (status = 429, description = "rate_limited; github_rate_limited"),
        (status = 502, description = "github_auth_failed; github_error")))]
async fn analyze(
    State(state): State<AppState>,
    scope: ProjectScope,
    req: Request,
) -> ApiResult<Response> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let asked = if multipart {
        let form = Multipart::from_request(req, &state)
            .await
            .map_err(|_| invalid_form())?;
        read_form(form).await?
    } else {
        let body = JsonObject::from_request(req, &state).await?;
        read_json(&body)?
    };
    match asked.asked {
        Asked::Upload(bytes) => upload(&state, scope, bytes, asked.use_cache, asked.project).await,
        Asked::Repository(rid) => {
            let access = scope.resolve(&state, asked.project, &[]).await?;
            let pid = access.id();
            let target = repository(&state, &access, rid, asked.git_ref).await?;
            github(&state, access, target, asked.use_cache, pid).await
        }
        Asked::GitHub(repo) => {
            let access = scope.resolve(&state, asked.project, &[]).await?;
            let pid = access.id();
            let token = state
                .github
                .token_for(pid, None, access.project.github_token_enc.as_deref())
                .await?;
            let target = GitHubTarget {
                repo,
                token,
                repository_id: None,
                git_ref: asked.git_ref,
            };
            github(&state, access, target, asked.use_cache, pid).await
        }
    }
}

fn invalid_form() -> ApiError {
    ApiError::field(
        &["body"],
        "value_error",
        "Value error, the multipart body could not be read",
    )
}

/// The tracked repository `rid` of the project (its own token, else the project's, §11).
async fn repository(
    state: &AppState,
    access: &ProjectAccess,
    rid: Id,
    git_ref: Option<String>,
) -> ApiResult<GitHubTarget> {
    analysis::repository_target(
        &state.store,
        &state.github,
        access.id(),
        rid,
        git_ref,
        access.project.github_token_enc.as_deref(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("repository", "Repository", rid))
}

/// A GitHub source: the ref resolved to its commit (one GitHub call), the cache read (one
/// GetItem), then the stored analysis or a job.
async fn github(
    state: &AppState,
    access: ProjectAccess,
    target: GitHubTarget,
    use_cache: bool,
    pid: Id,
) -> ApiResult<Response> {
    let sha = commit_sha(&state.github, &target).await?;
    if use_cache {
        if let Some(id) = state.store.cached_analysis(pid, &sha).await? {
            if let Some(a) = analysis::load(&state.store, &state.blobs, pid, id).await? {
                return Ok(Json(a).into_response());
            }
        }
    }
    let mut p = Map::new();
    match target.repository_id {
        Some(rid) => p.insert("repository_id".into(), json!(rid)),
        None => p.insert("repo".into(), json!(target.repo.full_name())),
    };
    if let Some(r) = &target.git_ref {
        p.insert("ref".into(), json!(r));
    }
    p.insert("commit_sha".into(), json!(sha));
    p.insert("use_cache".into(), json!(use_cache));
    let job = create_and_dispatch(state, access, JobType::Analysis, p, Map::new()).await?;
    Ok((StatusCode::ACCEPTED, Json(job_out(&job))).into_response())
}

/// An uploaded archive: its SHA-256 is the cache key (read with the scope, no extra call);
/// on a miss it is kept in S3 for the job.
async fn upload(
    state: &AppState,
    scope: ProjectScope,
    bytes: Vec<u8>,
    use_cache: bool,
    project: Option<Id>,
) -> ApiResult<Response> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(too_large());
    }
    if !looks_like_archive(&bytes) {
        return Err(invalid_archive());
    }
    let sha = hex::encode(Sha256::digest(&bytes));
    let access = scope
        .resolve_with(state, project, |pid| vec![cache_key(pid, &sha)])
        .await?;
    let pid = access.id();
    if use_cache {
        let cached = access
            .found
            .get(&cache_key(pid, &sha))
            .and_then(|m| crate::store::attr_n(m, "analysis_id"));
        if let Some(id) = cached {
            if let Some(a) = analysis::load(&state.store, &state.blobs, pid, id as Id).await? {
                return Ok(Json(a).into_response());
            }
        }
    }
    let key = analysis::upload_key(pid, &sha);
    // Over the rate limit nothing is uploaded.
    crate::api::ratelimit::charge_now(state).await?;
    state
        .blobs
        .put(&key, bytes, "application/octet-stream")
        .await?;
    let mut p = Map::new();
    p.insert("upload_key".into(), json!(key));
    p.insert("use_cache".into(), json!(use_cache));
    let job = create_and_dispatch(state, access, JobType::Analysis, p, Map::new()).await?;
    Ok((StatusCode::ACCEPTED, Json(job_out(&job))).into_response())
}

/// An analysis of the project.
#[utoipa::path(get, path = "/api/v1/projects/analysis/{analysis_id}", tag = "projects", security(("bearer" = [])),
    params(("analysis_id" = i64, Path)),
    responses((status = 200, body = ProjectAnalysis), (status = 404, description = "analysis_not_found")))]
async fn get_analysis(
    State(state): State<AppState>,
    item: ItemAccess<AnalysisKind>,
) -> ApiResult<Json<ProjectAnalysis>> {
    Ok(Json(analysis::of_record(&state.blobs, item.record).await?))
}

/// Totals over the project's analyses (one read: STATS).
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalysisStatistics {
    total_analyses: i64,
    /// Distinct `owner/name` or archive hashes.
    unique_projects: i64,
    total_dependencies: i64,
    total_technologies: i64,
    total_gaps: i64,
    critical_gaps: i64,
    high_gaps: i64,
    outdated_dependencies: i64,
}

/// Totals over the project's analyses.
#[utoipa::path(get, path = "/api/v1/projects/analysis/statistics", tag = "projects", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 200, body = AnalysisStatistics)))]
async fn statistics(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<AnalysisStatistics>> {
    let access = scope.resolve(&state, None, &[]).await?;
    let c = &access.counters;
    Ok(Json(AnalysisStatistics {
        total_analyses: c.get(ANALYSES.counter),
        unique_projects: c.get(ANALYSIS_PROJECTS),
        total_dependencies: c.get("analyses.dependencies"),
        total_technologies: c.get("analyses.technologies"),
        total_gaps: c.get("analyses.gaps"),
        critical_gaps: c.get("analyses.gaps.critical"),
        high_gaps: c.get("analyses.gaps.high"),
        outdated_dependencies: c.get("analyses.outdated"),
    }))
}
