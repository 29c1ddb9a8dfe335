//! `/api/v1/batch` (API.md §8): batch jobs created and dispatched at once — analyze, export,
//! import — their statistics, and any job by id.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body_project;
use super::jobs::{insert_job, send, JobKind};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::JsonObject;
use crate::api::scope::{ItemAccess, ProjectAccess, ProjectScope};
use crate::api::AppState;
use crate::domain::jobs::{
    seconds_between, statistics, status_of, JobFacts, JobStatus, JobType, EXPORT_FORMATS,
    MERGE_STRATEGIES,
};
use crate::domain::validate::{DefaultValue, EnumValues, Kind, Spec};
use crate::domain::Id;
use crate::store::kinds::{ANALYSES, JOBS, REPOSITORIES};
use crate::store::records::Record;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(batch_analyze))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(batch_export))
                .route_layer(axum::Extension(crate::api::ratelimit::UserBucket(
                    crate::store::ratelimit::EXPORT,
                ))),
        )
        .routes(routes!(batch_import))
        .routes(routes!(batch_statistics))
        .routes(routes!(batch_job))
}

const BATCH_TYPES: [JobType; 3] = [
    JobType::BatchAnalysis,
    JobType::BatchExport,
    JobType::BatchImport,
];

/// BatchJobResponse (API.md §8): a freshly created and dispatched batch job.
#[derive(Serialize, ToSchema)]
pub struct BatchJob {
    job_id: Id,
    job_type: JobType,
    total_items: usize,
    /// 0
    completed_items: usize,
    /// 0
    failed_items: usize,
    /// pending
    status: JobStatus,
    /// 0
    progress: u8,
    /// null
    started_at: Option<String>,
    /// null
    completed_at: Option<String>,
    /// null
    results: Option<Vec<Value>>,
    /// null
    error: Option<String>,
}

impl BatchJob {
    fn of(job: &Record, total_items: usize) -> Self {
        Self {
            job_id: job.get("id").and_then(Value::as_u64).unwrap_or_default(),
            job_type: job
                .get("job_type")
                .and_then(Value::as_str)
                .and_then(JobType::parse)
                .unwrap_or(JobType::BatchAnalysis),
            total_items,
            completed_items: 0,
            failed_items: 0,
            status: JobStatus::Pending,
            progress: 0,
            started_at: None,
            completed_at: None,
            results: None,
            error: None,
        }
    }
}

/// BatchJobResponse + the repositories and the queue message id.
#[derive(Serialize, ToSchema)]
pub struct BatchAnalyzeAccepted {
    #[serde(flatten)]
    job: BatchJob,
    repository_ids: Vec<Id>,
    celery_task_id: Option<String>,
}

/// BatchJobResponse + the format.
#[derive(Serialize, ToSchema)]
pub struct BatchExportAccepted {
    #[serde(flatten)]
    job: BatchJob,
    format: String,
    /// null
    download_urls: Option<Vec<String>>,
}

/// BatchJobResponse + counts (0 until the job runs).
#[derive(Serialize, ToSchema)]
pub struct BatchImportAccepted {
    #[serde(flatten)]
    job: BatchJob,
    imported_count: usize,
    skipped_count: usize,
    failed_count: usize,
    /// null
    conflicts: Option<Vec<Value>>,
}

/// Batch job statistics of a project.
#[derive(Serialize, ToSchema)]
pub struct BatchStatistics {
    total_batches: usize,
    active_batches: usize,
    /// Every batch job type as a key.
    #[schema(schema_with = type_counts)]
    by_type: Map<String, Value>,
    /// Every status as a key.
    #[schema(schema_with = status_counts)]
    by_status: Map<String, Value>,
    #[schema(minimum = 0)]
    average_duration_seconds: Option<f64>,
    #[schema(minimum = 0, maximum = 100)]
    success_rate: Option<f64>,
}

fn type_counts() -> utoipa::openapi::schema::Object {
    let names: Vec<&str> = BATCH_TYPES.iter().map(|t| t.as_str()).collect();
    crate::domain::schema::counts(&names)
}

fn status_counts() -> utoipa::openapi::schema::Object {
    crate::domain::schema::counts(<JobStatus as EnumValues>::VALUES)
}

const PARAMETERS: Spec = Spec::opt("parameters", Kind::Obj);
const TAGS: Spec = Spec::opt("tags", Kind::Obj);
const ANALYZE: &[Spec] = &[
    Spec::req("repository_ids", Kind::Ids { max: 100 }),
    // Stored only.
    Spec::or(
        "priority",
        Kind::Int {
            min: Some(1),
            max: Some(10),
        },
        DefaultValue::Int(5),
    ),
    PARAMETERS,
    // null = true; false: no job.* event.
    Spec::opt("notify_on_complete", Kind::Bool),
    TAGS,
];
crate::record_schema!(
    /// Repositories of the project, analyzed in one job.
    pub BatchAnalyze: Create = &[ANALYZE, super::PROJECT_ID]
);
/// The export format is read as text; a string that is no format is 400 invalid_format,
/// so the document lists the formats.
const FORMAT: &str = "format";
const EXPORT: &[Spec] = &[
    Spec::req("analysis_ids", Kind::Ids { max: 100 }),
    // parameters: export_type
    PARAMETERS,
    TAGS,
];
const EXPORT_FORMAT: &[Spec] = &[Spec::req(FORMAT, Kind::Enum(EXPORT_FORMATS))];
crate::record_schema!(
    /// Analyses of the project, exported in one job.
    pub BatchExport: Create = &[EXPORT, EXPORT_FORMAT, super::PROJECT_ID]
);
/// skip, overwrite or merge; absent or null = skip. Read as text: another string is 400
/// invalid_merge_strategy, so the document lists the strategies.
const MERGE_STRATEGY: &str = "merge_strategy";
/// The fields every imported technology must have (non-null, not empty): else 400
/// missing_fields; the rest is checked when the job runs.
const IMPORT_REQUIRED: &[&str] = &["title", "domain"];
const MAX_IMPORT: usize = 1000;

/// Technologies imported in one job.
pub struct BatchImport;
impl utoipa::PartialSchema for BatchImport {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use crate::domain::schema::JSON_VALUE;
        use crate::domain::schema::{field_schema, Mode};
        use utoipa::openapi::schema::AllOfBuilder;
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
        use utoipa::openapi::Ref;
        // Objects DynamoDB can store (as free-form fields are: non-empty keys, JsonValues).
        let mut item = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1)),
            ))
            .additional_properties(Some(Ref::from_schema_name(JSON_VALUE)));
        for name in IMPORT_REQUIRED {
            // Any stored value but null and "" (minLength binds strings only).
            let present = AllOfBuilder::new()
                .item(Ref::from_schema_name(JSON_VALUE))
                .item(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::from_iter([
                            Type::String,
                            Type::Number,
                            Type::Integer,
                            Type::Boolean,
                            Type::Object,
                            Type::Array,
                        ]))
                        .min_length(Some(1)),
                );
            item = item.property(*name, present).required(*name);
        }
        let mut b = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "technologies",
                ArrayBuilder::new()
                    .items(item)
                    .min_items(Some(1))
                    .max_items(Some(MAX_IMPORT)),
            )
            .required("technologies");
        let strategy = Spec::opt(MERGE_STRATEGY, Kind::Enum(MERGE_STRATEGIES));
        for spec in [strategy, TAGS].iter().chain(super::PROJECT_ID) {
            b = b.property(spec.name, field_schema(spec, Mode::Create));
        }
        utoipa::openapi::RefOr::T(b.build().into())
    }
}
impl ToSchema for BatchImport {}

pub(crate) async fn create_and_dispatch(
    state: &AppState,
    scope: ProjectAccess,
    job_type: JobType,
    parameters: Map<String, Value>,
    tags: Map<String, Value>,
) -> ApiResult<Record> {
    let record = insert_job(
        state,
        scope.id(),
        scope.principal.id(),
        job_type,
        parameters,
        tags,
    )
    .await?;
    let id = record.get("id").and_then(Value::as_u64).unwrap_or_default();
    send(state, ItemAccess::<JobKind>::created(scope, id, record), 0).await
}

/// Analyze repositories in one job.
#[utoipa::path(post, path = "/api/v1/batch/analyze", tag = "batch", security(("bearer" = [])),
    params(ProjectScope), request_body = BatchAnalyze,
    responses((status = 202, body = BatchAnalyzeAccepted, description = "Created and dispatched"),
        (status = 400, description = "repositories_not_found: Repositories not found: [<ids>]")))]
async fn batch_analyze(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<BatchAnalyzeAccepted>)> {
    let mut f = body.fields();
    let mut r = f.record(ANALYZE, true);
    let body_pid = body_project(&mut f);
    f.finish()?;
    let ids = ids_of(&r, "repository_ids");
    let priority = r["priority"].as_i64().unwrap_or(5);
    let mut parameters = object_of(&mut r, "parameters");
    let notify = r["notify_on_complete"].as_bool().unwrap_or(true);
    let tags = object_of(&mut r, "tags");
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let repo_keys: Vec<_> = ids
        .iter()
        .map(|id| REPOSITORIES.key(scope.id(), *id))
        .collect();
    let found = state.store.batch_get(&repo_keys).await?;
    let missing: Vec<Id> = ids
        .iter()
        .copied()
        .filter(|id| !found.contains_key(&REPOSITORIES.key(scope.id(), *id)))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(
            "repositories_not_found",
            format!("Repositories not found: {missing:?}"),
        ));
    }
    parameters.insert("repository_ids".into(), json!(ids));
    parameters.insert("priority".into(), json!(priority));
    parameters.insert("notify_on_complete".into(), json!(notify));
    let job = create_and_dispatch(&state, scope, JobType::BatchAnalysis, parameters, tags).await?;
    let task = job
        .get("celery_task_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchAnalyzeAccepted {
            job: BatchJob::of(&job, ids.len()),
            repository_ids: ids,
            celery_task_id: task,
        }),
    ))
}

/// Export analyses in one job.
#[utoipa::path(post, path = "/api/v1/batch/export", tag = "batch", security(("bearer" = [])),
    params(ProjectScope), request_body = BatchExport,
    responses((status = 202, body = BatchExportAccepted, description = "Created and dispatched"),
        (status = 400, description = "invalid_format: Invalid export format '<f>'. Must be one of: sarif, html, csv, excel, json; analyses_not_found: Analyses not found: [<ids>]"),
        (status = 429, description = "rate_limited: 5 per minute per user, shared with POST /export/batch")))]
async fn batch_export(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<BatchExportAccepted>)> {
    let mut f = body.fields();
    let mut r = f.record(EXPORT, true);
    // The format is read as text: a string that is no format is 400 invalid_format.
    let format = f.req_string(FORMAT, 1, 50);
    let body_pid = body_project(&mut f);
    f.finish()?;
    let ids = ids_of(&r, "analysis_ids");
    let parameters = object_of(&mut r, "parameters");
    let tags = object_of(&mut r, "tags");
    if !EXPORT_FORMATS.contains(&format.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_format",
            format!(
                "Invalid export format '{format}'. Must be one of: sarif, html, csv, excel, json"
            ),
        ));
    }
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let missing = state
        .store
        .missing_keys(&ids, |id| ANALYSES.key(scope.id(), id))
        .await?;
    if !missing.is_empty() {
        return Err(ApiError::bad_request(
            "analyses_not_found",
            format!("Analyses not found: {missing:?}"),
        ));
    }
    let mut p = parameters;
    p.insert("analysis_ids".into(), json!(ids));
    p.insert("format".into(), json!(format));
    let job = create_and_dispatch(&state, scope, JobType::BatchExport, p, tags).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchExportAccepted {
            job: BatchJob::of(&job, ids.len()),
            format,
            download_urls: None,
        }),
    ))
}

/// Import technologies in one job (skip / overwrite / merge on title conflicts).
#[utoipa::path(post, path = "/api/v1/batch/import", tag = "batch", security(("bearer" = [])),
    params(ProjectScope), request_body = BatchImport,
    responses((status = 202, body = BatchImportAccepted, description = "Created and dispatched"),
        (status = 400, description = "invalid_merge_strategy: Invalid merge strategy '<s>'. Must be one of: skip, overwrite, merge; missing_fields: Technology at index <i> missing required fields: <names>")))]
async fn batch_import(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<BatchImportAccepted>)> {
    let mut f = body.fields();
    let technologies = match f.raw("technologies") {
        Some(v @ Value::Array(items))
            if (1..=MAX_IMPORT).contains(&items.len()) && items.iter().all(Value::is_object) =>
        {
            // Stored in the job's parameters: what DynamoDB cannot store is refused here.
            match crate::domain::validate::storable(v) {
                Ok(()) => items.clone(),
                Err(msg) => {
                    f.error("technologies", "value_error", msg);
                    Vec::new()
                }
            }
        }
        None | Some(Value::Null) => {
            f.error("technologies", "missing", "Field required");
            Vec::new()
        }
        Some(_) => {
            f.error(
                "technologies",
                "value_error",
                "Value error, must be a list of 1 to 1000 objects",
            );
            Vec::new()
        }
    };
    let strategy = f
        .string(MERGE_STRATEGY, 0, 50)
        .value()
        .unwrap_or_else(|| "skip".into());
    let mut r = f.record(&[TAGS], false);
    let tags = object_of(&mut r, "tags");
    let body_pid = body_project(&mut f);
    f.finish()?;
    if !MERGE_STRATEGIES.contains(&strategy.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_merge_strategy",
            format!("Invalid merge strategy '{strategy}'. Must be one of: skip, overwrite, merge"),
        ));
    }
    for (i, t) in technologies.iter().enumerate() {
        let missing: Vec<&str> = IMPORT_REQUIRED
            .iter()
            .copied()
            .filter(|k| {
                t.get(*k)
                    .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
            })
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(
                "missing_fields",
                format!(
                    "Technology at index {i} missing required fields: {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let total = technologies.len();
    let parameters = json!({"technologies": technologies, "merge_strategy": strategy});
    let job = create_and_dispatch(
        &state,
        scope,
        JobType::BatchImport,
        parameters.as_object().cloned().unwrap_or_default(),
        tags,
    )
    .await
    .map_err(|mut e| {
        // The job item holds the import: its size is the list's.
        for err in &mut e.errors {
            if err.loc == [json!("body"), json!("parameters")] {
                err.loc = vec![json!("body"), json!("technologies")];
            }
        }
        e
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchImportAccepted {
            job: BatchJob::of(&job, total),
            imported_count: 0,
            skipped_count: 0,
            failed_count: 0,
            conflicts: None,
        }),
    ))
}

/// Batch job statistics of the project.
#[utoipa::path(get, path = "/api/v1/batch/statistics", tag = "batch", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 200, body = BatchStatistics)))]
async fn batch_statistics(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<BatchStatistics>> {
    let scope = scope.resolve(&state, None, &[]).await?;
    let batches: Vec<Record> = state
        .store
        .records(scope.id(), JOBS.prefix)
        .await?
        .into_iter()
        .filter(|r| {
            BATCH_TYPES
                .iter()
                .any(|t| r.get("job_type").and_then(Value::as_str) == Some(t.as_str()))
        })
        .collect();
    let facts: Vec<JobFacts> = batches
        .iter()
        .map(|r| JobFacts {
            status: status_of(r),
            duration_seconds: seconds_between(r, "started_at", "completed_at"),
        })
        .collect();
    let s = statistics(&facts);
    let by_type: Map<String, Value> = BATCH_TYPES
        .iter()
        .map(|t| {
            let n = batches
                .iter()
                .filter(|r| r.get("job_type").and_then(Value::as_str) == Some(t.as_str()))
                .count();
            (t.as_str().to_string(), json!(n))
        })
        .collect();
    Ok(Json(BatchStatistics {
        total_batches: s.total,
        active_batches: s.active_jobs,
        by_type,
        by_status: s.by_status,
        average_duration_seconds: s.average_duration_seconds,
        success_rate: s.success_rate,
    }))
}

/// Any job by id.
#[utoipa::path(get, path = "/api/v1/batch/jobs/{job_id}", tag = "batch", security(("bearer" = [])),
    params(("job_id" = i64, Path)),
    responses((status = 200, body = super::jobs::Job, description = "A job of any type"), (status = 404, description = "job_not_found")))]
async fn batch_job(
    State(state): State<AppState>,
    item: ItemAccess<JobKind>,
) -> ApiResult<Json<Value>> {
    Ok(Json(super::jobs::full_job(&state, &item.record).await?))
}

fn ids_of(r: &Map<String, Value>, name: &str) -> Vec<Id> {
    r.get(name)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn object_of(r: &mut Map<String, Value>, name: &str) -> Map<String, Value> {
    match r.remove(name) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}
