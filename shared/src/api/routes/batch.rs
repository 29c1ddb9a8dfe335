//! `/api/v1/batch` (API.md §8): batch jobs created and dispatched at once — analyze, export,
//! import — their statistics, and any job by id.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body_project;
use super::jobs::{insert_job, send, JobKind};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::JsonObject;
use crate::api::openapi::Problem;
use crate::api::scope::{ItemAccess, ProjectAccess, ProjectScope};
use crate::api::AppState;
use crate::domain::jobs::{
    seconds_between, statistics, status_of, JobFacts, JobType, EXPORT_FORMATS, MERGE_STRATEGIES,
};
use crate::domain::validate::Patch;
use crate::domain::Id;
use crate::store::kinds::{JOBS, REPOSITORIES};
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

/// BatchJobResponse (API.md §8) for a freshly dispatched job, with `extra` fields.
fn accepted(job: &Record, total_items: usize, extra: Value) -> (StatusCode, Json<Value>) {
    let mut body = json!({
        "job_id": job.get("id"),
        "job_type": job.get("job_type"),
        "total_items": total_items,
        "completed_items": 0,
        "failed_items": 0,
        "status": "pending",
        "progress": 0,
        "started_at": null,
        "completed_at": null,
        "results": null,
        "error": null,
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    (StatusCode::ACCEPTED, Json(body))
}

fn id_list(f: &mut crate::domain::validate::Fields<'_>, name: &str) -> Vec<Id> {
    match f.raw(name) {
        Some(Value::Array(items))
            if (1..=100).contains(&items.len())
                && items.iter().all(|v| v.as_u64().is_some_and(|n| n >= 1)) =>
        {
            items.iter().filter_map(Value::as_u64).collect()
        }
        None | Some(Value::Null) => {
            f.error(name, "missing", "Field required");
            Vec::new()
        }
        Some(_) => {
            f.error(
                name,
                "value_error",
                "Value error, must be a list of 1 to 100 positive integers",
            );
            Vec::new()
        }
    }
}

async fn create_and_dispatch(
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
    responses((status = 202, description = "BatchJobResponse + {repository_ids, celery_task_id}"), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn batch_analyze(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let ids = id_list(&mut f, "repository_ids");
    let priority = f.int_or("priority", 5, Some(1), Some(10));
    let mut parameters = f.object("parameters").value().unwrap_or_default();
    let notify = match f.bool("notify_on_complete") {
        Patch::Value(b) => b,
        _ => true,
    };
    let tags = f.object("tags").value().unwrap_or_default();
    let body_pid = body_project(&mut f);
    f.finish()?;
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
    let task = job.get("celery_task_id").cloned().unwrap_or(Value::Null);
    Ok(accepted(
        &job,
        ids.len(),
        json!({"repository_ids": ids, "celery_task_id": task}),
    ))
}

/// Export analyses in one job.
#[utoipa::path(post, path = "/api/v1/batch/export", tag = "batch", security(("bearer" = [])),
    responses((status = 202, description = "BatchJobResponse + {format, download_urls}"), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn batch_export(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let ids = id_list(&mut f, "analysis_ids");
    let format = f.req_string("format", 1, 50);
    let parameters = f.object("parameters").value().unwrap_or_default();
    let tags = f.object("tags").value().unwrap_or_default();
    let body_pid = body_project(&mut f);
    f.finish()?;
    if !EXPORT_FORMATS.contains(&format.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_format",
            format!(
                "Invalid export format '{format}'. Must be one of: sarif, html, csv, excel, json"
            ),
        ));
    }
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    // Analyses arrive with the analysis issue: until then none exists.
    let keys: Vec<_> = ids
        .iter()
        .map(|id| crate::store::keys::item(scope.id(), "ANALYSIS", *id))
        .collect();
    let found = state.store.batch_get(&keys).await?;
    let missing: Vec<Id> = ids
        .iter()
        .copied()
        .filter(|id| !found.contains_key(&crate::store::keys::item(scope.id(), "ANALYSIS", *id)))
        .collect();
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
    Ok(accepted(
        &job,
        ids.len(),
        json!({"format": format, "download_urls": null}),
    ))
}

/// Import technologies in one job (skip / overwrite / merge on title conflicts).
#[utoipa::path(post, path = "/api/v1/batch/import", tag = "batch", security(("bearer" = [])),
    responses((status = 202, description = "BatchJobResponse + {imported_count, skipped_count, failed_count, conflicts}"), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn batch_import(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let technologies = match f.raw("technologies") {
        Some(v @ Value::Array(items))
            if (1..=1000).contains(&items.len()) && items.iter().all(Value::is_object) =>
        {
            // The items travel inside the job item: DynamoDB's limits apply to them too.
            if let Err(msg) = crate::domain::validate::storable(v) {
                f.error("technologies", "value_error", msg);
            }
            items.clone()
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
        .string("merge_strategy", 0, 50)
        .value()
        .unwrap_or_else(|| "skip".into());
    let tags = f.object("tags").value().unwrap_or_default();
    let body_pid = body_project(&mut f);
    f.finish()?;
    if !MERGE_STRATEGIES.contains(&strategy.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_merge_strategy",
            format!("Invalid merge strategy '{strategy}'. Must be one of: skip, overwrite, merge"),
        ));
    }
    for (i, t) in technologies.iter().enumerate() {
        let missing: Vec<&str> = ["title", "domain"]
            .into_iter()
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
    Ok(accepted(
        &job,
        total,
        json!({"imported_count": 0, "skipped_count": 0, "failed_count": 0, "conflicts": null}),
    ))
}

/// Batch job statistics of the project.
#[utoipa::path(get, path = "/api/v1/batch/statistics", tag = "batch", security(("bearer" = [])),
    params(("project_id" = Option<i64>, Query)),
    responses((status = 200, description = "{total_batches, active_batches, by_type, by_status, average_duration_seconds, success_rate}"), (status = 403, body = Problem)))]
async fn batch_statistics(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "total_batches": s["total"],
        "active_batches": s["active_jobs"],
        "by_type": by_type,
        "by_status": s["by_status"],
        "average_duration_seconds": s["average_duration_seconds"],
        "success_rate": s["success_rate"],
    })))
}

/// Any job by id.
#[utoipa::path(get, path = "/api/v1/batch/jobs/{job_id}", tag = "batch", security(("bearer" = [])),
    params(("job_id" = i64, Path, minimum = 1)),
    responses((status = 200, description = "Job"), (status = 404, body = Problem)))]
async fn batch_job(
    State(state): State<AppState>,
    item: ItemAccess<JobKind>,
) -> ApiResult<Json<Value>> {
    Ok(Json(super::jobs::full_job(&state, &item.record).await?))
}

use crate::domain::validate::EnumValues;
