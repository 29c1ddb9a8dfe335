//! `/api/v1/research-tasks` (API.md §5): research tasks, their status and progress rules,
//! documents in S3 (multipart up to 5 MB, presigned upload/complete for larger files,
//! presigned download), statistics, upcoming and overdue lists.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{body_project, shape, update_retrying};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonObject, Page, PathParams, QueryMap};
use crate::api::openapi::Problem;
use crate::api::scope::{ItemAccess, ItemKind, ProjectAccess, ProjectScope};
use crate::api::AppState;
use crate::domain::research::{
    by_due_date, is_overdue, is_upcoming, settle_completion, statistics, CREATE_FIELDS, OUT,
    STATUSES, UPDATE_FIELDS,
};
use crate::domain::validate::{Kind, Spec};
use crate::domain::{new_id, Id, Timestamp};
use crate::events::EventType;
use crate::store::kinds::{REPOSITORIES, RESEARCH_TASKS, TECHNOLOGIES};
use crate::store::records::{record_of, Record, CHECK_BASE};
use crate::store::{keys, n, s, tx, Key, StoreError};

/// Largest document accepted through the API (larger: presigned upload).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;
/// Largest document accepted through a presigned upload.
pub const MAX_PRESIGNED_BYTES: i64 = 104_857_600;
const PENDING_TTL_SECS: i64 = 24 * 3600;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, update_task, delete_task))
        .routes(routes!(set_status))
        .routes(routes!(set_progress))
        .routes(routes!(upload_document, list_documents))
        .routes(routes!(upload_url))
        .routes(routes!(complete_upload))
        .routes(routes!(download_document))
        .routes(routes!(task_statistics))
        .routes(routes!(upcoming_tasks))
        .routes(routes!(overdue_tasks))
        // Multipart bodies are read up to the API's 6 MB; documents are checked against 5 MB.
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::api::extract::MAX_BODY_BYTES,
        ))
}

pub struct Task;
impl ItemKind for Task {
    const PREFIX: &'static str = RESEARCH_TASKS.prefix;
    const CODE: &'static str = "research_task";
    const LABEL: &'static str = "Research task";
    const PARAM: &'static str = "task_id";
}

/// The response form of a task.
pub fn task_out(r: &Record) -> Value {
    let mut v = shape(r, OUT);
    if v["uploaded_documents"].is_null() {
        v["uploaded_documents"] = json!([]);
    }
    if v["progress_percentage"].is_null() {
        v["progress_percentage"] = json!(0);
    }
    v
}

/// ResearchTask (documentation shape).
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct ResearchTask {
    id: Id,
    project_id: Id,
    title: String,
    description: Option<String>,
    #[schema(example = "pending")]
    status: String,
    technology_id: Option<Id>,
    repository_id: Option<Id>,
    user_notes: Option<String>,
    findings: Option<String>,
    assigned_to: Option<String>,
    #[schema(format = DateTime)]
    due_date: Option<String>,
    estimated_hours: Option<i64>,
    uploaded_documents: Vec<Document>,
    #[schema(format = DateTime)]
    completed_at: Option<String>,
    progress_percentage: i64,
    actual_hours: Option<i64>,
    metadata_: Option<Map<String, Value>>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct Document {
    id: Id,
    filename: String,
    /// `<uuid><ext>`
    stored_filename: String,
    /// S3 key `research-tasks/<task_id>/<stored_filename>`.
    file_path: String,
    content_type: String,
    size: i64,
    #[schema(format = DateTime)]
    uploaded_at: String,
}

#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct UploadUrl {
    document_id: Id,
    upload_url: String,
    #[schema(example = "PUT")]
    method: String,
    headers: Map<String, Value>,
    #[schema(format = DateTime)]
    expires_at: String,
}

#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct DownloadUrl {
    url: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// The events of a change from `old` to `new`.
fn change_events(old: Option<&Record>, new: &Record) -> Vec<(EventType, Value)> {
    let out = task_out(new);
    let status = |r: &Record| {
        r.get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut events = vec![match old {
        None => (EventType::ResearchTaskCreated, out.clone()),
        Some(_) => (EventType::ResearchTaskUpdated, out.clone()),
    }];
    if status(new) == "completed" && old.is_none_or(|o| status(o) != "completed") {
        events.push((EventType::ResearchTaskCompleted, out));
    }
    events
}

/// A stored task with `changes` applied and the completion rule settled.
fn changed(old: &Record, changes: &Map<String, Value>) -> Record {
    let mut new = super::overlay(old, changes);
    settle_completion(&mut new, &Timestamp::now());
    new
}

async fn apply(
    state: &AppState,
    item: ItemAccess<Task>,
    changes: Map<String, Value>,
) -> ApiResult<Json<Value>> {
    let new = update_retrying::<Task>(
        state,
        &RESEARCH_TASKS,
        item,
        |old| changed(old, &changes),
        |old, new| change_events(Some(old), new),
        Vec::new,
    )
    .await??;
    Ok(Json(task_out(&new)))
}

/// Create a research task (links must be in the same project).
#[utoipa::path(post, path = "/api/v1/research-tasks", tag = "research-tasks", security(("bearer" = [])),
    request_body = ResearchTask,
    responses((status = 201, body = ResearchTask), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_task(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let mut record = f.record(CREATE_FIELDS, true);
    let body_pid = body_project(&mut f);
    f.finish()?;
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let pid = scope.id();
    let now = Timestamp::now();
    for (k, v) in [
        ("uploaded_documents", json!([])),
        ("progress_percentage", json!(0)),
        ("actual_hours", Value::Null),
        ("metadata_", Value::Null),
        ("created_at", Value::from(now.to_rfc3339())),
        ("updated_at", Value::from(now.to_rfc3339())),
    ] {
        record.insert(k.into(), v);
    }
    settle_completion(&mut record, &now);
    // Links are checked inside the create transaction: no extra read.
    let links: Vec<(Key, &str, &str, Id)> = [
        ("technology_id", &TECHNOLOGIES, "technology", "Technology"),
        ("repository_id", &REPOSITORIES, "repository", "Repository"),
    ]
    .iter()
    .filter_map(|(field, rt, code, label)| {
        let id = record.get(*field).and_then(Value::as_u64)?;
        Some((rt.key(pid, id), *code, *label, id))
    })
    .collect();
    let checks: Vec<Key> = links.iter().map(|l| l.0.clone()).collect();
    let events = |r: &Record| change_events(None, r);
    match state
        .store
        .create_record(&RESEARCH_TASKS, pid, record, events, &checks)
        .await
    {
        Ok(r) => Ok((StatusCode::CREATED, Json(task_out(&r)))),
        Err(StoreError::Condition(i)) if i >= CHECK_BASE => {
            let (_, code, label, id) = &links[i - CHECK_BASE];
            Err(ApiError::not_found(code, label, id))
        }
        Err(e) => Err(e.into()),
    }
}

fn link_filters(f: &mut crate::domain::validate::Fields<'_>) -> Map<String, Value> {
    f.record(
        &[
            Spec::opt(
                "technology_id",
                Kind::Int {
                    min: Some(1),
                    max: None,
                },
            ),
            Spec::opt(
                "repository_id",
                Kind::Int {
                    min: Some(1),
                    max: None,
                },
            ),
        ],
        false,
    )
}

fn matches(r: &Record, filters: &Map<String, Value>) -> bool {
    filters
        .iter()
        .all(|(k, v)| v.is_null() || r.get(k) == Some(v))
}

async fn project_tasks(state: &AppState, scope: &ProjectAccess) -> ApiResult<Vec<Record>> {
    Ok(state
        .store
        .records(scope.id(), RESEARCH_TASKS.prefix)
        .await?)
}

/// A project's research tasks, most recently updated first.
#[utoipa::path(get, path = "/api/v1/research-tasks", tag = "research-tasks", security(("bearer" = [])),
    params(("skip" = Option<i64>, Query), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500), ("technology_id" = Option<i64>, Query),
           ("repository_id" = Option<i64>, Query), ("status" = Option<String>, Query), ("assigned_to" = Option<String>, Query), ("project_id" = Option<i64>, Query)),
    responses((status = 200, body = Vec<ResearchTask>), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn list_tasks(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let page = Page::read(&mut f, 100, 500);
    let mut filters = link_filters(&mut f);
    filters.extend(f.record(
        &[
            Spec::opt("status", Kind::Enum(STATUSES)),
            Spec::opt("assigned_to", Kind::Str { min: 0, max: 255 }),
        ],
        false,
    ));
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let mut tasks: Vec<Record> = project_tasks(&state, &scope)
        .await?
        .into_iter()
        .filter(|r| matches(r, &filters))
        .collect();
    super::repositories::sort_recent_first(&mut tasks);
    Ok(Json(
        tasks
            .iter()
            .skip(page.skip)
            .take(page.limit)
            .map(task_out)
            .collect(),
    ))
}

/// Counts by status, overdue and upcoming (7 days), exact.
#[utoipa::path(get, path = "/api/v1/research-tasks/statistics/overview", tag = "research-tasks", security(("bearer" = [])),
    params(("technology_id" = Option<i64>, Query), ("repository_id" = Option<i64>, Query), ("project_id" = Option<i64>, Query)),
    responses((status = 200, description = "ResearchTaskStatistics"), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn task_statistics(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let mut f = query.fields();
    let filters = link_filters(&mut f);
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let tasks: Vec<Record> = project_tasks(&state, &scope)
        .await?
        .into_iter()
        .filter(|r| matches(r, &filters))
        .collect();
    Ok(Json(statistics(&tasks, &Timestamp::now())))
}

/// Open tasks due within `days`, soonest first.
#[utoipa::path(get, path = "/api/v1/research-tasks/upcoming/list", tag = "research-tasks", security(("bearer" = [])),
    params(("days" = Option<i64>, Query, minimum = 1, maximum = 90), ("limit" = Option<i64>, Query, minimum = 1, maximum = 500), ("project_id" = Option<i64>, Query)),
    responses((status = 200, body = Vec<ResearchTask>), (status = 422, body = Problem)))]
async fn upcoming_tasks(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let days = f.int_or("days", 7, Some(1), Some(90));
    let limit = f.int_or("limit", 100, Some(1), Some(500)) as usize;
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let tasks = project_tasks(&state, &scope).await?;
    let now = Timestamp::now();
    let mut due: Vec<&Record> = tasks
        .iter()
        .filter(|t| is_upcoming(t, &now, days))
        .collect();
    by_due_date(&mut due);
    Ok(Json(due.into_iter().take(limit).map(task_out).collect()))
}

/// Open tasks past their due date, oldest first.
#[utoipa::path(get, path = "/api/v1/research-tasks/overdue/list", tag = "research-tasks", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 500), ("project_id" = Option<i64>, Query)),
    responses((status = 200, body = Vec<ResearchTask>), (status = 422, body = Problem)))]
async fn overdue_tasks(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let limit = f.int_or("limit", 100, Some(1), Some(500)) as usize;
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let tasks = project_tasks(&state, &scope).await?;
    let now = Timestamp::now();
    let mut late: Vec<&Record> = tasks.iter().filter(|t| is_overdue(t, &now)).collect();
    by_due_date(&mut late);
    Ok(Json(late.into_iter().take(limit).map(task_out).collect()))
}

/// One research task.
#[utoipa::path(get, path = "/api/v1/research-tasks/{task_id}", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = ResearchTask), (status = 404, body = Problem)))]
async fn get_task(item: ItemAccess<Task>) -> Json<Value> {
    Json(task_out(&item.record))
}

/// Update a task (links are immutable). PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/research-tasks/{task_id}", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1)), request_body = ResearchTask,
    responses((status = 200, body = ResearchTask), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_task(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let changes = f.record(UPDATE_FIELDS, false);
    f.finish()?;
    apply(&state, item, changes).await
}

/// Set the status (query `new_status`).
#[utoipa::path(patch, path = "/api/v1/research-tasks/{task_id}/status", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1), ("new_status" = String, Query)),
    responses((status = 200, body = ResearchTask), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_status(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let mut f = query.fields();
    let status = f.record(&[Spec::req("new_status", Kind::Enum(STATUSES))], true);
    f.finish()?;
    let mut changes = Map::new();
    changes.insert("status".into(), status["new_status"].clone());
    apply(&state, item, changes).await
}

/// Set the progress (query `progress_percentage`; 100 also completes the task).
#[utoipa::path(patch, path = "/api/v1/research-tasks/{task_id}/progress", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1), ("progress_percentage" = i64, Query, minimum = 0, maximum = 100)),
    responses((status = 200, body = ResearchTask), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_progress(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let mut f = query.fields();
    let p = f.record(
        &[Spec::req(
            "progress_percentage",
            Kind::Int {
                min: Some(0),
                max: Some(100),
            },
        )],
        true,
    );
    f.finish()?;
    let mut changes = Map::new();
    changes.insert(
        "progress_percentage".into(),
        p["progress_percentage"].clone(),
    );
    if p["progress_percentage"] == 100 {
        changes.insert("status".into(), Value::from("completed"));
    }
    apply(&state, item, changes).await
}

/// Delete a task and its documents.
#[utoipa::path(delete, path = "/api/v1/research-tasks/{task_id}", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_task(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
) -> ApiResult<StatusCode> {
    super::delete_item(&state, &RESEARCH_TASKS, item, None, |_| vec![]).await
}

fn documents(r: &Record) -> Vec<Value> {
    r.get("uploaded_documents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Deletes the S3 objects of deleted tasks. Their records are gone already; a failure here
/// leaves only unreachable objects, so it is logged rather than failing the request.
pub(crate) async fn remove_documents(state: &AppState, tasks: &[&Record]) {
    let keys: Vec<String> = tasks
        .iter()
        .flat_map(|t| documents(t))
        .filter_map(|d| {
            d.get("file_path")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    if keys.is_empty() {
        return;
    }
    if let Err(e) = state.blobs.delete(&keys).await {
        tracing::warn!(error = %e, objects = keys.len(), "could not delete documents of deleted tasks");
    }
}

fn document_not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found("document", "Document", id)
}

/// `<uuid><ext>` with a short, safe extension taken from the client's file name.
fn stored_filename(filename: &str) -> String {
    let ext = std::path::Path::new(filename)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| !e.is_empty() && e.len() <= 10 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    format!("{}{ext}", uuid::Uuid::new_v4())
}

fn document(
    id: Id,
    task_id: Id,
    filename: &str,
    stored: &str,
    content_type: &str,
    size: i64,
) -> Value {
    json!({
        "id": id,
        "filename": filename,
        "stored_filename": stored,
        "file_path": format!("research-tasks/{task_id}/{stored}"),
        "content_type": content_type,
        "size": size,
        "uploaded_at": Timestamp::now().to_rfc3339(),
    })
}

/// Appends a document to a task (re-applied on concurrent changes: every upload persists).
async fn attach(
    state: &AppState,
    item: ItemAccess<Task>,
    doc: Value,
    extra: impl Fn() -> Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> ApiResult<Json<Value>> {
    let new = update_retrying::<Task>(
        state,
        &RESEARCH_TASKS,
        item,
        |old| {
            let mut new = old.clone();
            let mut docs = documents(old);
            docs.push(doc.clone());
            new.insert("uploaded_documents".into(), Value::Array(docs));
            new
        },
        |old, new| change_events(Some(old), new),
        extra,
    )
    .await??;
    Ok(Json(task_out(&new)))
}

/// Upload a document (multipart field `file`, at most 5 MB).
#[utoipa::path(post, path = "/api/v1/research-tasks/{task_id}/documents", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1)),
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses((status = 200, body = ResearchTask), (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn upload_document(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let file_missing = || ApiError::field(&["body", "file"], "missing", "Field required");
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type: send multipart/form-data with a `file` field",
        )
    })?;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Document exceeds the 5 MB limit; use /documents/upload-url",
        )
    };
    let mut found = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => return Err(file_missing()),
        };
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().unwrap_or("upload").to_string();
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(_) => return Err(file_missing()),
        };
        found = Some((filename, content_type, bytes));
        break;
    }
    let (filename, content_type, bytes) = found.ok_or_else(file_missing)?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(too_large());
    }
    let filename: String = filename.chars().take(255).collect();
    let stored = stored_filename(&filename);
    let doc = document(
        new_id(),
        item.id,
        &filename,
        &stored,
        &content_type,
        bytes.len() as i64,
    );
    let key = doc["file_path"].as_str().unwrap_or_default().to_string();
    // Over the rate limit nothing is uploaded.
    crate::api::ratelimit::charge_now(&state).await?;
    state.blobs.put(&key, bytes.to_vec(), &content_type).await?;
    attach(&state, item, doc, Vec::new).await
}

/// The task's documents.
#[utoipa::path(get, path = "/api/v1/research-tasks/{task_id}/documents", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1)),
    responses((status = 200, description = "{documents: Document[]}"), (status = 404, body = Problem)))]
async fn list_documents(item: ItemAccess<Task>) -> Json<Value> {
    Json(json!({"documents": documents(&item.record)}))
}

fn pending_key(pid: Id, document_id: Id) -> Key {
    Key::new(
        keys::project_pk(pid),
        format!("UPLOAD#{}", crate::domain::ids::sk_id(document_id)),
    )
}

/// Start a direct upload of a larger document (presigned PUT, 15 minutes).
#[utoipa::path(post, path = "/api/v1/research-tasks/{task_id}/documents/upload-url", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1)),
    responses((status = 201, body = UploadUrl), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn upload_url(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let req = f.record(
        &[
            Spec::req("filename", Kind::Str { min: 1, max: 255 }),
            Spec::req(
                "size",
                Kind::Int {
                    min: Some(1),
                    max: Some(MAX_PRESIGNED_BYTES),
                },
            ),
            Spec::or(
                "content_type",
                Kind::Str { min: 1, max: 255 },
                crate::domain::validate::DefaultValue::Str("application/octet-stream"),
            ),
        ],
        true,
    );
    f.finish()?;
    let filename = req["filename"].as_str().unwrap_or_default();
    let content_type = req["content_type"].as_str().unwrap_or_default();
    let size = req["size"].as_i64().unwrap_or_default();
    let document_id = new_id();
    let stored = stored_filename(filename);
    let pending = format!("uploads/pending/{}/{stored}", item.id);
    let doc = document(document_id, item.id, filename, &stored, content_type, size);
    let now = Timestamp::now();
    let mut record = pending_key(item.scope.id(), document_id).to_item();
    record.insert("task_id".into(), n(item.id));
    record.insert("pending_key".into(), s(&pending));
    record.insert(
        "document".into(),
        serde_dynamo::to_attribute_value(&doc).map_err(ApiError::internal)?,
    );
    record.insert("expires_at".into(), n(now.unix() + PENDING_TTL_SECS));
    match state
        .store
        .transact(vec![
            tx::put(record, Some("attribute_not_exists(pk)")).build(&state.store.table),
            // Nothing is added to a project being deleted (its sweep would miss it).
            crate::store::records::project_live_check(item.scope.id(), &state.store.table),
        ])
        .await
    {
        Ok(()) => {}
        Err(crate::store::StoreError::Condition(1)) => {
            return Err(ApiError::project_not_found(item.scope.id()))
        }
        Err(e) => return Err(e.into()),
    }
    let url = state
        .blobs
        .presign_put(&pending, content_type, size)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "document_id": document_id,
            "upload_url": url,
            "method": "PUT",
            "headers": {"Content-Type": content_type},
            "expires_at": now.plus_secs(crate::blob::PRESIGN_TTL.as_secs() as i64).to_rfc3339(),
        })),
    ))
}

/// Finish a direct upload: the object must exist with the announced size.
#[utoipa::path(post, path = "/api/v1/research-tasks/{task_id}/documents/complete", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = ResearchTask), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn complete_upload(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let req = f.record(
        &[Spec::req(
            "document_id",
            Kind::Int {
                min: Some(1),
                max: None,
            },
        )],
        true,
    );
    f.finish()?;
    let document_id = req["document_id"].as_u64().unwrap_or_default();
    let key = pending_key(item.scope.id(), document_id);
    let pending = state
        .store
        .get(&key)
        .await?
        .ok_or_else(|| document_not_found(document_id))?;
    let pending = record_of(pending)?;
    let fresh = pending
        .get("expires_at")
        .and_then(Value::as_i64)
        .is_some_and(|e| e > Timestamp::now().unix());
    if pending.get("task_id").and_then(Value::as_u64) != Some(item.id) || !fresh {
        return Err(document_not_found(document_id));
    }
    let doc = pending.get("document").cloned().unwrap_or(Value::Null);
    let size = doc["size"].as_i64().unwrap_or(-1);
    let from = pending
        .get("pending_key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let to = doc["file_path"].as_str().unwrap_or_default();
    // A retried completion finds the object already moved.
    let uploaded = match state.blobs.size(from).await? {
        Some(n) => (n == size).then_some(true),
        None => state
            .blobs
            .size(to)
            .await?
            .filter(|n| *n == size)
            .map(|_| false),
    };
    let Some(needs_move) = uploaded else {
        return Err(ApiError::conflict(
            "upload_incomplete",
            "Uploaded object not found or size mismatch",
        ));
    };
    if needs_move {
        state.blobs.rename(from, to).await?;
    }
    let mut doc = doc;
    doc["uploaded_at"] = Value::from(Timestamp::now().to_rfc3339());
    let table = state.store.table.clone();
    attach(&state, item, doc, move || {
        vec![tx::delete(&key, Some("attribute_exists(pk)"), &table)]
    })
    .await
}

/// A presigned download URL (15 minutes).
#[utoipa::path(get, path = "/api/v1/research-tasks/{task_id}/documents/{document_id}/download", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path, minimum = 1), ("document_id" = i64, Path, minimum = 1)),
    responses((status = 200, body = DownloadUrl), (status = 404, body = Problem)))]
async fn download_document(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    path: PathParams,
) -> ApiResult<Json<Value>> {
    let document_id = path.id("document_id")?;
    let doc = documents(&item.record)
        .into_iter()
        .find(|d| d["id"].as_u64() == Some(document_id))
        .ok_or_else(|| document_not_found(document_id))?;
    let url = state
        .blobs
        .presign_get(
            doc["file_path"].as_str().unwrap_or_default(),
            doc["filename"].as_str().unwrap_or("document"),
        )
        .await?;
    Ok(Json(json!({
        "url": url,
        "expires_at": Timestamp::now().plus_secs(crate::blob::PRESIGN_TTL.as_secs() as i64).to_rfc3339(),
    })))
}
