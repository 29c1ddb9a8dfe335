//! `/api/v1/projects` (API.md §2): CRUD, stats, members; the analysis routes (`analysis.rs`)
//! are served with them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{page_specs, JsonObject, Page, PathParams, QueryMap};
use crate::api::scope::ProjectPath;
use crate::api::AppState;
use crate::domain::project::{
    Membership, Project, ProjectCounters, ProjectRole, GITHUB_TOKEN_PATTERN,
};
use crate::domain::schema::Mode;
use crate::domain::validate::{EnumValues, Kind, Patch, Spec};
use crate::domain::{new_id, Id, Timestamp};
use crate::store::projects::{
    ProjectChanges, CREATE_NAME_MARKER_INDEX, REMOVE_OWNER_GUARD_INDEX, UPDATE_NAME_MARKER_INDEX,
};
use crate::store::{attr_n, keys, take, StoreError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(project_stats))
        .routes(routes!(list_members, add_member))
        .routes(routes!(remove_member))
        .merge(super::analysis::routes())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectOut {
    id: Id,
    name: String,
    owner: String,
    description: Option<String>,
    /// The caller's role; null for a superuser who is not a member.
    role: Option<ProjectRole>,
    has_github_token: bool,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl ProjectOut {
    fn new(p: &Project, role: Option<ProjectRole>) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            owner: p.owner.clone(),
            description: p.description.clone(),
            role,
            has_github_token: p.github_token_enc.is_some(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectStatsOut {
    #[serde(flatten)]
    project: ProjectOut,
    repository_count: i64,
    technology_count: i64,
    research_task_count: i64,
    knowledge_entry_count: i64,
    total_repositories: i64,
    total_technologies: i64,
    total_research_tasks: i64,
    total_knowledge_entries: i64,
}

impl ProjectStatsOut {
    fn new(project: ProjectOut, c: &ProjectCounters) -> Self {
        Self {
            project,
            repository_count: c.get("repositories"),
            technology_count: c.get("technologies"),
            research_task_count: c.get("research_tasks"),
            knowledge_entry_count: c.get("knowledge_entries"),
            total_repositories: c.get("repositories"),
            total_technologies: c.get("technologies"),
            total_research_tasks: c.get("research_tasks"),
            total_knowledge_entries: c.get("knowledge_entries"),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    user_id: Id,
    email: String,
    full_name: Option<String>,
    role: ProjectRole,
    #[schema(value_type = String, format = DateTime)]
    added_at: Timestamp,
}

impl From<&Membership> for MemberOut {
    fn from(m: &Membership) -> Self {
        Self {
            user_id: m.user_id,
            email: m.email.clone(),
            full_name: m.full_name.clone(),
            role: m.role,
            added_at: m.added_at,
        }
    }
}

/// Write-only; stored KMS-encrypted, never returned (has_github_token); null removes it.
const GITHUB_TOKEN: Spec = Spec::opt(
    "github_token",
    Kind::Pattern {
        min: 1,
        max: 300,
        pattern: GITHUB_TOKEN_PATTERN,
        msg: "Invalid GitHub token format",
    },
);
const NAME: Spec = Spec::req("name", Kind::Str { min: 1, max: 255 });
/// Free text.
const OWNER: Spec = Spec::req("owner", Kind::Str { min: 1, max: 255 });
const DESCRIPTION: Spec = Spec::opt(
    "description",
    Kind::Str {
        min: 0,
        max: 10_000,
    },
);
/// ProjectCreate; on update the same fields, each optional (name and owner not null).
const FIELDS: &[Spec] = &[NAME, OWNER, DESCRIPTION, GITHUB_TOKEN];
crate::record_schema!(pub ProjectCreate: Create = &[FIELDS]);
crate::record_schema!(pub ProjectUpdate: Update = &[FIELDS]);

const PAGE: [Spec; 2] = page_specs(100, 500);
crate::query_params!(pub ProjectQuery [&PAGE]);

const MEMBER_ADD: &[Spec] = &[
    Spec::opt("email", Kind::Str { min: 1, max: 255 }),
    Spec::opt("user_id", Kind::Id),
    Spec::opt("role", Kind::Enum(<ProjectRole as EnumValues>::VALUES)),
];
const MEMBER_BY: &[&str] = &["email", "user_id"];

/// Add a member: exactly one of email, user_id; role = member when absent or null.
pub struct MemberAdd;
impl utoipa::PartialSchema for MemberAdd {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::domain::schema::exactly_one_of(&[MEMBER_ADD], Mode::Create, MEMBER_BY).into()
    }
}
impl ToSchema for MemberAdd {}

fn exists(name: &str, owner: &str) -> ApiError {
    ApiError::conflict(
        "project_exists",
        format!("Project '{name}' already exists for owner '{owner}'"),
    )
}

fn text(r: &mut Map<String, Value>, k: &str) -> Patch<String> {
    match r.remove(k) {
        None => Patch::Absent,
        Some(Value::String(s)) => Patch::Value(s),
        Some(_) => Patch::Null,
    }
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", security(("bearer" = [])), request_body = ProjectCreate,
    responses((status = 201, body = ProjectOut, description = "Created; the caller is its owner"),
        (status = 409, description = "project_exists: Project '<name>' already exists for owner '<owner>' (among the caller's projects)")))]
async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<ProjectOut>)> {
    let mut f = body.fields();
    let mut r = f.record(FIELDS, true);
    f.finish()?;
    let name = text(&mut r, "name").value().unwrap_or_default();
    let owner = text(&mut r, "owner").value().unwrap_or_default();
    let description = text(&mut r, "description").value();
    let token = text(&mut r, "github_token").value();
    let p = caller.load(&state).await?;
    let now = Timestamp::now();
    let mut project = Project {
        id: new_id(),
        name,
        owner,
        description,
        github_token_enc: None,
        created_by: p.id(),
        created_at: now,
        updated_at: now,
    };
    for attempt in 0..3 {
        project.github_token_enc = match &token {
            Some(t) => Some(state.sealer.seal(project.id, t).await?),
            None => None,
        };
        let member = Membership {
            project_id: project.id,
            user_id: p.id(),
            email: p.user.email.clone(),
            full_name: p.user.full_name.clone(),
            role: ProjectRole::Owner,
            added_at: now,
        };
        match state.store.create_project(&project, &member).await {
            Ok(()) => {
                crate::context::set_project(project.id);
                return Ok((
                    StatusCode::CREATED,
                    Json(ProjectOut::new(&project, Some(ProjectRole::Owner))),
                ));
            }
            Err(StoreError::Condition(CREATE_NAME_MARKER_INDEX)) => {
                return Err(exists(&project.name, &project.owner))
            }
            Err(StoreError::Condition(0)) if attempt < 2 => project.id = new_id(),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not allocate a project id"))
}

/// The caller's projects (superusers: all), oldest first.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", security(("bearer" = [])),
    params(ProjectQuery),
    responses((status = 200, body = Vec<ProjectOut>, description = "The caller's (superusers: all), created_at asc")))]
async fn list_projects(
    State(state): State<AppState>,
    query: QueryMap,
    caller: Caller,
) -> ApiResult<Json<Vec<ProjectOut>>> {
    let mut f = query.fields();
    let page = Page::read(&mut f, &PAGE);
    f.finish()?;
    let p = caller.load(&state).await?;
    let out = if p.user.is_superuser {
        let all = state.store.list_all_projects(page.skip, page.limit).await?;
        let memberships = state.store.list_member_projects(p.id(), 0, 10_000).await?;
        all.iter()
            .map(|proj| {
                let role = memberships
                    .iter()
                    .find(|(m, _)| m.id == proj.id)
                    .map(|(_, r)| *r);
                ProjectOut::new(proj, role)
            })
            .collect()
    } else {
        state
            .store
            .list_member_projects(p.id(), page.skip, page.limit)
            .await?
            .iter()
            .map(|(proj, role)| ProjectOut::new(proj, Some(*role)))
            .collect()
    };
    Ok(Json(out))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = i64, Path)),
    responses((status = 200, body = ProjectOut), (status = 404, description = "project_not_found")))]
async fn get_project(ProjectPath(scope): ProjectPath) -> Json<ProjectOut> {
    Json(ProjectOut::new(&scope.project, scope.access.shown_role()))
}

/// A project with its item counts.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/stats", tag = "projects", security(("bearer" = [])),
    params(("project_id" = i64, Path)),
    responses((status = 200, body = ProjectStatsOut), (status = 404, description = "project_not_found")))]
async fn project_stats(ProjectPath(scope): ProjectPath) -> Json<ProjectStatsOut> {
    Json(ProjectStatsOut::new(
        ProjectOut::new(&scope.project, scope.access.shown_role()),
        &scope.counters,
    ))
}

/// Update a project (owners). PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = i64, Path)), request_body = ProjectUpdate,
    responses((status = 200, body = ProjectOut), (status = 403, description = "insufficient_role: Owner role required"), (status = 404, description = "project_not_found"),
        (status = 409, description = "project_exists: Project '<name>' already exists for owner '<owner>'")))]
async fn update_project(
    State(state): State<AppState>,
    ProjectPath(scope): ProjectPath,
    body: JsonObject,
) -> ApiResult<Json<ProjectOut>> {
    let mut f = body.fields();
    let mut r = f.record(FIELDS, false);
    f.finish()?;
    let name = text(&mut r, "name").value();
    let owner = text(&mut r, "owner").value();
    let description = text(&mut r, "description").sent();
    let token = text(&mut r, "github_token");
    scope.require_owner()?;
    let pid = scope.id();
    let github_token_enc = match token {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(t) => Some(Some(state.sealer.seal(pid, &t).await?)),
    };
    let changes = ProjectChanges {
        name,
        owner,
        description,
        github_token_enc,
    };
    match state
        .store
        .update_project(&scope.project, &changes, Timestamp::now())
        .await
    {
        Ok(updated) => Ok(Json(ProjectOut::new(&updated, scope.access.shown_role()))),
        Err(StoreError::Condition(UPDATE_NAME_MARKER_INDEX)) => {
            let p = &scope.project;
            Err(exists(
                changes.name.as_deref().unwrap_or(&p.name),
                changes.owner.as_deref().unwrap_or(&p.owner),
            ))
        }
        Err(StoreError::Condition(0)) => Err(ApiError::project_not_found(pid)),
        Err(e) => Err(e.into()),
    }
}

/// Delete a project and all of its data (owners). The project is gone at once (404, in no
/// list, its name free again); its data, documents and counters are swept asynchronously by the
/// maintenance pass. Two AWS calls: one batch read, one transaction.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = i64, Path)),
    responses((status = 204, description = "Deleted with all its data"), (status = 403, description = "insufficient_role: Owner role required"), (status = 404, description = "project_not_found")))]
async fn delete_project(
    State(state): State<AppState>,
    ProjectPath(scope): ProjectPath,
) -> ApiResult<StatusCode> {
    scope.require_owner()?;
    match state.store.delete_project(&scope.project).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::Condition(0)) => Err(ApiError::project_not_found(scope.id())),
        Err(e) => Err(e.into()),
    }
}

/// A project's members, oldest first.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/members", tag = "projects", security(("bearer" = [])),
    params(("project_id" = i64, Path)),
    responses((status = 200, body = Vec<MemberOut>, description = "added_at asc"), (status = 404, description = "project_not_found")))]
async fn list_members(
    State(state): State<AppState>,
    ProjectPath(scope): ProjectPath,
) -> ApiResult<Json<Vec<MemberOut>>> {
    let members = state.store.list_members(scope.id()).await?;
    Ok(Json(members.iter().map(MemberOut::from).collect()))
}

/// Add a member by email or user id (owners).
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/members", tag = "projects", security(("bearer" = [])),
    params(("project_id" = i64, Path)), request_body = MemberAdd,
    responses((status = 201, body = MemberOut), (status = 403, description = "insufficient_role: Owner role required"),
        (status = 404, description = "project_not_found, user_not_found"), (status = 409, description = "already_member: User is already a member")))]
async fn add_member(
    State(state): State<AppState>,
    ProjectPath(scope): ProjectPath,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<MemberOut>)> {
    let mut f = body.fields();
    let mut r = f.record(MEMBER_ADD, false);
    let email = text(&mut r, "email").value();
    let user_id = r.get("user_id").and_then(Value::as_u64);
    let role = text(&mut r, "role")
        .value()
        .and_then(|s| ProjectRole::parse(&s))
        .unwrap_or(ProjectRole::Member);
    if email.is_some() == user_id.is_some() && !f.has_error("email") && !f.has_error("user_id") {
        f.push(crate::domain::validate::FieldError::value_error(
            &["body"],
            "Value error, Exactly one of email or user_id is required",
        ));
    }
    f.finish()?;
    scope.require_owner()?;
    let uid = match (email, user_id) {
        (Some(e), _) => state
            .store
            .get(&keys::email_marker(&crate::domain::user::normalize_email(
                &e,
            )))
            .await?
            .and_then(|m| attr_n(&m, "user_id"))
            .map(|v| v as Id),
        (None, Some(id)) => Some(id as Id),
        (None, None) => None,
    };
    let user = match uid {
        Some(id) => state.store.get_user(id).await?,
        None => None,
    }
    .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "user_not_found", "User not found"))?;
    let member = Membership {
        project_id: scope.id(),
        user_id: user.id,
        email: user.email.clone(),
        full_name: user.full_name.clone(),
        role,
        added_at: Timestamp::now(),
    };
    match state.store.add_member(&member).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(MemberOut::from(&member)))),
        Err(StoreError::Condition(0)) => Err(ApiError::conflict(
            "already_member",
            "User is already a member",
        )),
        Err(StoreError::Condition(_)) => Err(ApiError::project_not_found(scope.id())),
        Err(e) => Err(e.into()),
    }
}

/// Remove a member (owners; members may remove only themselves).
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204, description = "Removed (members may remove only themselves)"), (status = 403, description = "insufficient_role: Owner role required"),
        (status = 404, description = "project_not_found, member_not_found"), (status = 409, description = "last_owner: A project must keep at least one owner")))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    path: PathParams,
) -> ApiResult<StatusCode> {
    let pid = path.id("project_id")?;
    let uid = path.id("user_id")?;
    let target = keys::member(pid, uid);
    let mut scope = caller
        .project_item(&state, pid, std::slice::from_ref(&target))
        .await?;
    if uid != caller.user_id {
        scope.require_owner()?;
    }
    let member: Membership = take(&mut scope.found, &target)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "member_not_found",
            "Member not found",
        )
    })?;
    match state.store.remove_member(&member).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::Condition(REMOVE_OWNER_GUARD_INDEX)) => Err(ApiError::conflict(
            "last_owner",
            "A project must keep at least one owner",
        )),
        Err(StoreError::Condition(_)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "member_not_found",
            "Member not found",
        )),
        Err(e) => Err(e.into()),
    }
}
