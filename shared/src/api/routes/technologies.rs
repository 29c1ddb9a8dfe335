//! `/api/v1/technologies` (API.md §4): the technology radar of a project.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{page_specs, JsonObject, Page, QueryMap};
use crate::api::scope::{ItemAccess, ItemKind, ProjectScope};
use crate::api::AppState;
use crate::domain::technology::{matches_search, DOMAINS, FIELDS, OUT, STATUSES};
use crate::domain::validate::{Kind, Spec};
use crate::domain::Timestamp;
use crate::events::EventType;
use crate::store::kinds::TECHNOLOGIES;
use crate::store::records::{Record, CREATE_MARKER_INDEX, UPDATE_MARKER_INDEX};
use crate::store::StoreError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_technologies, create_technology))
        .routes(routes!(
            get_technology,
            update_technology,
            delete_technology
        ))
}

pub struct Tech;
impl ItemKind for Tech {
    const PREFIX: &'static str = TECHNOLOGIES.prefix;
    const CODE: &'static str = "technology";
    const LABEL: &'static str = "Technology";
    const PARAM: &'static str = "technology_id";
}

crate::record_schema!(
    /// TechnologyCreate (API.md §4), with the optional body project_id.
    pub TechnologyCreate: Create = &[FIELDS, super::PROJECT_ID]
);
crate::record_schema!(
    /// Any TechnologyCreate field; null clears a nullable one.
    pub TechnologyUpdate: Update = &[FIELDS]
);
crate::record_schema!(pub Technology: Response = OUT);

/// A page of technologies.
#[derive(Serialize, ToSchema)]
pub struct TechnologyPage {
    total: usize,
    #[schema(value_type = Vec<Technology>)]
    items: Vec<Value>,
    /// ⌊skip/limit⌋ + 1
    page: usize,
    /// = limit
    page_size: usize,
}

const PAGE: [Spec; 2] = page_specs(50, 500);
const FILTERS: &[Spec] = &[
    Spec::opt("domain", Kind::Enum(DOMAINS)),
    Spec::opt("status", Kind::Enum(STATUSES)),
    Spec::opt("search", Kind::Str { min: 0, max: 255 }),
];
crate::query_params!(
    /// Pagination and filters (AND; search: case-insensitive substring of title,
    /// description, tags).
    pub TechnologyQuery [&PAGE, FILTERS]
);

/// The response form of a stored technology: documented fields in order, nulls included.
pub fn technology_out(r: &Record) -> Value {
    crate::domain::shape_of(r, OUT)
}

fn exists(title: &str) -> ApiError {
    ApiError::conflict(
        "technology_exists",
        format!("Technology '{title}' already exists"),
    )
}

/// Create a technology.
#[utoipa::path(post, path = "/api/v1/technologies", tag = "technologies", security(("bearer" = [])),
    params(ProjectScope), request_body = TechnologyCreate,
    responses((status = 201, body = Technology, description = "Created; emits technology.created"),
        (status = 409, description = "technology_exists: Technology '<title>' already exists (titles are unique per project, ignoring case)")))]
async fn create_technology(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let mut record = f.record(FIELDS, true);
    let body_pid = super::body_project(&mut f);
    f.finish()?;
    let title = record["title"].as_str().unwrap_or_default().to_string();
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let now = Timestamp::now().to_rfc3339();
    record.insert("created_at".into(), Value::from(now.clone()));
    record.insert("updated_at".into(), Value::from(now));
    let events = |r: &Record| vec![(EventType::TechnologyCreated, technology_out(r))];
    match state
        .store
        .create_record(&TECHNOLOGIES, scope.id(), record, events, &[])
        .await
    {
        Ok(r) => Ok((StatusCode::CREATED, Json(technology_out(&r)))),
        Err(StoreError::Condition(CREATE_MARKER_INDEX)) => Err(exists(&title)),
        Err(e) => Err(e.into()),
    }
}

/// A project's technologies: filtered, by priority, relevance, then most recently updated.
#[utoipa::path(get, path = "/api/v1/technologies", tag = "technologies", security(("bearer" = [])),
    params(TechnologyQuery, ProjectScope),
    responses((status = 200, body = TechnologyPage, description = "By priority, relevance_score, updated_at desc")))]
async fn list_technologies(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<TechnologyPage>> {
    let mut f = query.fields();
    let page = Page::read(&mut f, &PAGE);
    let filters = f.record(FILTERS, false);
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let mut all: Vec<Record> = state
        .store
        .records(scope.id(), TECHNOLOGIES.prefix)
        .await?
        .into_iter()
        .filter(|r| {
            ["domain", "status"].iter().all(|k| {
                filters
                    .get(*k)
                    .is_none_or(|v| v.is_null() || r.get(*k) == Some(v))
            }) && filters
                .get("search")
                .and_then(Value::as_str)
                .is_none_or(|s| s.is_empty() || matches_search(r, s))
        })
        .collect();
    let num = |r: &Record, k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(0);
    let text = |r: &Record, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    all.sort_by(|a, b| {
        num(b, "priority")
            .cmp(&num(a, "priority"))
            .then(num(b, "relevance_score").cmp(&num(a, "relevance_score")))
            .then(text(b, "updated_at").cmp(&text(a, "updated_at")))
            .then(num(b, "id").cmp(&num(a, "id")))
    });
    let total = all.len();
    let items: Vec<Value> = all
        .iter()
        .skip(page.skip)
        .take(page.limit)
        .map(technology_out)
        .collect();
    Ok(Json(TechnologyPage {
        total,
        items,
        page: page.skip / page.limit + 1,
        page_size: page.limit,
    }))
}

/// One technology.
#[utoipa::path(get, path = "/api/v1/technologies/{technology_id}", tag = "technologies", security(("bearer" = [])),
    params(("technology_id" = i64, Path)),
    responses((status = 200, body = Technology), (status = 404, description = "technology_not_found")))]
async fn get_technology(item: ItemAccess<Tech>) -> Json<Value> {
    Json(technology_out(&item.record))
}

/// Update a technology (any TechnologyCreate field). PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/technologies/{technology_id}", tag = "technologies", security(("bearer" = [])),
    params(("technology_id" = i64, Path)), request_body = TechnologyUpdate,
    responses((status = 200, body = Technology, description = "Updated; emits technology.updated"), (status = 404, description = "technology_not_found"),
        (status = 409, description = "technology_exists: Technology '<title>' already exists")))]
async fn update_technology(
    State(state): State<AppState>,
    item: ItemAccess<Tech>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let changes = f.record(FIELDS, false);
    f.finish()?;
    let result = super::update_retrying::<Tech>(
        &state,
        &TECHNOLOGIES,
        item,
        |old| super::overlay(old, &changes),
        |_, new| vec![(EventType::TechnologyUpdated, technology_out(new))],
        Vec::new,
    )
    .await?;
    match result {
        Ok(new) => Ok(Json(technology_out(&new))),
        Err(StoreError::Condition(UPDATE_MARKER_INDEX)) => Err(exists(
            changes
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Delete a technology.
#[utoipa::path(delete, path = "/api/v1/technologies/{technology_id}", tag = "technologies", security(("bearer" = [])),
    params(("technology_id" = i64, Path)),
    responses((status = 204, description = "Deleted with its research tasks; emits technology.deleted"), (status = 404, description = "technology_not_found")))]
async fn delete_technology(
    State(state): State<AppState>,
    item: ItemAccess<Tech>,
) -> ApiResult<StatusCode> {
    let id = item.id;
    super::delete_item(&state, &TECHNOLOGIES, item, Some("technology_id"), |r| {
        vec![(
            EventType::TechnologyDeleted,
            serde_json::json!({"id": id, "title": r.get("title")}),
        )]
    })
    .await
}
