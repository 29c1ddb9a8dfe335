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

use super::{body_project, update_retrying};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{page_specs, JsonObject, Page, PathParams, QueryMap};
use crate::api::scope::{ItemAccess, ItemKind, ProjectAccess, ProjectScope};
use crate::api::AppState;
use crate::domain::research::{
    by_due_date, is_overdue, is_upcoming, settle_completion, statistics, ResearchTaskStatistics,
    CREATE_FIELDS, DOCUMENT, OUT, STATUSES, UPDATE_FIELDS,
};
use crate::domain::validate::{DefaultValue, Kind, Spec};
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
    let mut v = crate::domain::shape_of(r, OUT);
    if v["uploaded_documents"].is_null() {
        v["uploaded_documents"] = json!([]);
    }
    if v["progress_percentage"].is_null() {
        v["progress_percentage"] = json!(0);
    }
    v
}

crate::record_schema!(
    /// A research task (create fields, nullable where optional; documents; progress).
    pub ResearchTask: Response = OUT
);
crate::record_schema!(pub Document: Response = &[DOCUMENT]);
crate::record_schema!(
    /// Links (technology_id, repository_id) must name items of the same project (else 404).
    pub ResearchTaskCreate: Create = &[CREATE_FIELDS, super::PROJECT_ID]
);
crate::record_schema!(
    /// Links are immutable; null clears a nullable field.
    pub ResearchTaskUpdate: Update = &[UPDATE_FIELDS]
);

const PAGE: [Spec; 2] = page_specs(100, 500);
const LINKS: &[Spec] = &[
    Spec::opt("technology_id", Kind::Id),
    Spec::opt("repository_id", Kind::Id),
];
const LIST_FILTERS: &[Spec] = &[
    Spec::opt("status", Kind::Enum(STATUSES)),
    Spec::opt("assigned_to", Kind::Str { min: 0, max: 255 }),
];
crate::query_params!(pub TaskQuery [&PAGE, LINKS, LIST_FILTERS]);
crate::query_params!(pub LinkQuery [LINKS]);
const LIMIT: Spec = Spec::or(
    "limit",
    Kind::Int {
        min: Some(1),
        max: Some(500),
    },
    DefaultValue::Int(100),
);
const UPCOMING: &[Spec] = &[
    Spec::or(
        "days",
        Kind::Int {
            min: Some(1),
            max: Some(90),
        },
        DefaultValue::Int(7),
    ),
    LIMIT,
];
crate::query_params!(pub UpcomingQuery [UPCOMING]);
crate::query_params!(pub LimitQuery [&[LIMIT]]);
const NEW_STATUS: &[Spec] = &[Spec::req("new_status", Kind::Enum(STATUSES))];
crate::query_params!(pub StatusQuery [NEW_STATUS]);
const PROGRESS: &[Spec] = &[Spec::req(
    "progress_percentage",
    Kind::Int {
        min: Some(0),
        max: Some(100),
    },
)];
crate::query_params!(
    /// 100 also sets the task completed.
    pub ProgressQuery [PROGRESS]
);
const UPLOAD_URL: &[Spec] = &[
    Spec::req("filename", Kind::Str { min: 1, max: 255 }),
    Spec::req(
        "size",
        Kind::Int {
            min: Some(1),
            max: Some(MAX_PRESIGNED_BYTES),
        },
    ),
    // Signed into the upload URL as the Content-Type header the upload must send.
    Spec::or(
        "content_type",
        Kind::Pattern {
            min: 1,
            max: 255,
            pattern: r"^[\x20-\x7E]+$",
            msg: "Value error, content_type must be printable ASCII (it is a header value)",
        },
        DefaultValue::Str("application/octet-stream"),
    ),
];
crate::record_schema!(pub UploadUrlRequest: Create = &[UPLOAD_URL]);
const COMPLETE: &[Spec] = &[Spec::req("document_id", Kind::Id)];
crate::record_schema!(pub CompleteUpload: Create = &[COMPLETE]);

/// A presigned upload (API.md §5).
#[derive(Serialize, ToSchema)]
pub struct UploadUrl {
    document_id: Id,
    upload_url: String,
    #[schema(pattern = "^PUT$")]
    method: &'static str,
    headers: UploadHeaders,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

/// The headers the upload must send.
#[derive(Serialize, ToSchema)]
pub struct UploadHeaders {
    #[serde(rename = "Content-Type")]
    content_type: String,
}

/// A presigned download (15 minutes).
#[derive(Serialize, ToSchema)]
pub struct DownloadUrl {
    url: String,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

/// The documents of a task.
#[derive(Serialize, ToSchema)]
pub struct DocumentList {
    #[schema(value_type = Vec<Document>)]
    documents: Vec<Value>,
}

/// The multipart field that carries an uploaded document.
const FILE_FIELD: &str = "file";

/// The multipart body of a document upload: the document in the field `file`.
pub struct DocumentUpload;
impl utoipa::PartialSchema for DocumentUpload {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                FILE_FIELD,
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::Custom("binary".into())))
                    .description(Some("The document, at most 5 MB")),
            )
            .required(FILE_FIELD)
            // Part names are header text: control characters (but tab) make the body unreadable.
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^[^\x00-\x08\x0A-\x1F\x7F]*$")),
            ))
            .into()
    }
}
impl ToSchema for DocumentUpload {}

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
    params(ProjectScope), request_body = ResearchTaskCreate,
    responses((status = 201, body = ResearchTask, description = "Created; emits research_task.created (and .completed)"),
        (status = 404, description = "technology_not_found, repository_not_found: a link names no item of the project")))]
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
    f.record(LINKS, false)
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
    params(TaskQuery, ProjectScope),
    responses((status = 200, body = Vec<ResearchTask>, description = "Filtered (AND), updated_at desc")))]
async fn list_tasks(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let page = Page::read(&mut f, &PAGE);
    let mut filters = link_filters(&mut f);
    filters.extend(f.record(LIST_FILTERS, false));
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
    params(LinkQuery, ProjectScope),
    responses((status = 200, body = ResearchTaskStatistics)))]
async fn task_statistics(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<ResearchTaskStatistics>> {
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
    params(UpcomingQuery, ProjectScope),
    responses((status = 200, body = Vec<ResearchTask>, description = "due_date in [now, now+days], pending or in_progress, due_date asc")))]
async fn upcoming_tasks(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let q = f.record(UPCOMING, true);
    f.finish()?;
    let days = q["days"].as_i64().unwrap_or(7);
    let limit = q["limit"].as_u64().unwrap_or(100) as usize;
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
    params(LimitQuery, ProjectScope),
    responses((status = 200, body = Vec<ResearchTask>, description = "due_date < now, pending, in_progress or blocked, due_date asc")))]
async fn overdue_tasks(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let q = f.record(&[LIMIT], true);
    f.finish()?;
    let limit = q["limit"].as_u64().unwrap_or(100) as usize;
    let scope = scope.resolve(&state, None, &[]).await?;
    let tasks = project_tasks(&state, &scope).await?;
    let now = Timestamp::now();
    let mut late: Vec<&Record> = tasks.iter().filter(|t| is_overdue(t, &now)).collect();
    by_due_date(&mut late);
    Ok(Json(late.into_iter().take(limit).map(task_out).collect()))
}

/// One research task.
#[utoipa::path(get, path = "/api/v1/research-tasks/{task_id}", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path)),
    responses((status = 200, body = ResearchTask), (status = 404, description = "research_task_not_found")))]
async fn get_task(item: ItemAccess<Task>) -> Json<Value> {
    Json(task_out(&item.record))
}

/// Update a task (links are immutable). PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/research-tasks/{task_id}", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path)), request_body = ResearchTaskUpdate,
    responses((status = 200, body = ResearchTask, description = "Updated; emits research_task.updated (and .completed)"), (status = 404, description = "research_task_not_found")))]
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
    params(("task_id" = i64, Path), StatusQuery),
    responses((status = 200, body = ResearchTask), (status = 404, description = "research_task_not_found")))]
async fn set_status(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let mut f = query.fields();
    let status = f.record(NEW_STATUS, true);
    f.finish()?;
    let mut changes = Map::new();
    changes.insert("status".into(), status["new_status"].clone());
    apply(&state, item, changes).await
}

/// Set the progress (query `progress_percentage`; 100 also completes the task).
#[utoipa::path(patch, path = "/api/v1/research-tasks/{task_id}/progress", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path), ProgressQuery),
    responses((status = 200, body = ResearchTask), (status = 404, description = "research_task_not_found")))]
async fn set_progress(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let mut f = query.fields();
    let p = f.record(PROGRESS, true);
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
    params(("task_id" = i64, Path)),
    responses((status = 204, description = "Deleted with its documents"), (status = 404, description = "research_task_not_found")))]
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
    params(("task_id" = i64, Path)),
    request_body(content_type = "multipart/form-data", content = DocumentUpload),
    responses((status = 200, body = ResearchTask, description = "The task with the document appended"), (status = 404, description = "research_task_not_found"),
        (status = 413, description = "payload_too_large: the document exceeds 5 MB (use /documents/upload-url)"),
        (status = 415, description = "unsupported_media_type: not multipart/form-data"),
        (status = 422, description = "validation_error: no `file` field")))]
async fn upload_document(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let file_missing = || ApiError::field(&["body", FILE_FIELD], "missing", "Field required");
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
        if field.name() != Some(FILE_FIELD) {
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
    params(("task_id" = i64, Path)),
    responses((status = 200, body = DocumentList), (status = 404, description = "research_task_not_found")))]
async fn list_documents(item: ItemAccess<Task>) -> Json<DocumentList> {
    Json(DocumentList {
        documents: documents(&item.record),
    })
}

fn pending_key(pid: Id, document_id: Id) -> Key {
    Key::new(
        keys::project_pk(pid),
        format!("UPLOAD#{}", crate::domain::ids::sk_id(document_id)),
    )
}

/// Start a direct upload of a larger document (presigned PUT, 15 minutes).
#[utoipa::path(post, path = "/api/v1/research-tasks/{task_id}/documents/upload-url", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path)), request_body = UploadUrlRequest,
    responses((status = 201, body = UploadUrl, description = "Presigned PUT, 15 minutes; the upload expires after 24 h unless completed"), (status = 404, description = "research_task_not_found")))]
async fn upload_url(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<UploadUrl>)> {
    let mut f = body.fields();
    let req = f.record(UPLOAD_URL, true);
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
    state
        .store
        .transact(vec![
            tx::put(record, Some("attribute_not_exists(pk)")).build(&state.store.table)
        ])
        .await?;
    let url = state
        .blobs
        .presign_put(&pending, content_type, size)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadUrl {
            document_id,
            upload_url: url,
            method: "PUT",
            headers: UploadHeaders {
                content_type: content_type.to_string(),
            },
            expires_at: now.plus_secs(crate::blob::PRESIGN_TTL.as_secs() as i64),
        }),
    ))
}

/// Finish a direct upload: the object must exist with the announced size.
#[utoipa::path(post, path = "/api/v1/research-tasks/{task_id}/documents/complete", tag = "research-tasks", security(("bearer" = [])),
    params(("task_id" = i64, Path)), request_body = CompleteUpload,
    responses((status = 200, body = ResearchTask), (status = 404, description = "research_task_not_found, document_not_found"),
        (status = 409, description = "upload_incomplete: Uploaded object not found or size mismatch")))]
async fn complete_upload(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let req = f.record(COMPLETE, true);
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
    params(("task_id" = i64, Path), ("document_id" = i64, Path)),
    responses((status = 200, body = DownloadUrl), (status = 404, description = "research_task_not_found, document_not_found")))]
async fn download_document(
    State(state): State<AppState>,
    item: ItemAccess<Task>,
    path: PathParams,
) -> ApiResult<Json<DownloadUrl>> {
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
    Ok(Json(DownloadUrl {
        url,
        expires_at: Timestamp::now().plus_secs(crate::blob::PRESIGN_TTL.as_secs() as i64),
    }))
}
