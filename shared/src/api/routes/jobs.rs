//! `/api/v1/jobs` (API.md §7): background jobs of a project — create, inspect, update, cancel,
//! delete, progress, active list and statistics. (Dispatch to the job queues arrives with the
//! job runner.)

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{body_project, overlay, update_retrying};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{page_specs, JsonObject, Page, QueryMap};
use crate::api::scope::{ItemAccess, ItemKind, ProjectScope};
use crate::api::AppState;
use crate::domain::jobs::{
    check_targets, linked_items, statistics, transition, validate_parameters, JobFacts,
    JobStatistics, JobStatus, JobType, TransitionError, OUT,
};
use crate::domain::validate::{DefaultValue, EnumValues, FieldError, Kind, Patch, Spec};
use crate::domain::webhook::TargetError;
use crate::domain::{Id, Timestamp};
use crate::live;
use crate::store::kinds::JOBS;
use crate::store::records::{Record, CHECK_BASE};
use crate::store::StoreError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(get_job, update_job, delete_job))
        .routes(routes!(cancel_job))
        .routes(routes!(dispatch_job))
        .routes(routes!(job_progress))
        .routes(routes!(active_jobs))
        .routes(routes!(job_statistics))
}

pub struct JobKind;
impl ItemKind for JobKind {
    const PREFIX: &'static str = JOBS.prefix;
    const CODE: &'static str = "job";
    const LABEL: &'static str = "Job";
    const PARAM: &'static str = "job_id";
}

use crate::domain::jobs::{job_out, seconds_between, status_of, STALE_SECS};

crate::record_schema!(pub Job: Response = &[OUT]);

/// A page of jobs.
#[derive(Serialize, ToSchema)]
pub struct JobList {
    #[schema(value_type = Vec<Job>)]
    jobs: Vec<Value>,
    total: usize,
    skip: usize,
    limit: usize,
}

/// A job's progress (API.md §19).
const PROGRESS_OUT: &[Spec] = &[
    Spec::req("job_id", Kind::Id),
    Spec::req("status", Kind::Enum(<JobStatus as EnumValues>::VALUES)),
    Spec::req(
        "progress",
        Kind::Int {
            min: Some(0),
            max: Some(100),
        },
    ),
    Spec::opt("current_step", Kind::Str { min: 0, max: 255 }),
    Spec::req("created_at", Kind::Ts),
    Spec::opt("started_at", Kind::Ts),
    Spec::opt("completed_at", Kind::Ts),
    Spec::opt("duration_seconds", Kind::Num { min: 0.0 }),
    Spec::req("is_terminal", Kind::Bool),
    Spec::req("is_active", Kind::Bool),
];
crate::record_schema!(pub JobProgress: Response = &[PROGRESS_OUT]);

const TAGS: Spec = Spec::opt("tags", Kind::Obj);

/// JobCreate: job_type, and the parameters that type takes (API.md §7 table); tags; the
/// optional body project_id. One branch per job type.
pub struct JobCreate;
impl utoipa::PartialSchema for JobCreate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use crate::domain::jobs::{parameters_optional, parameters_schema};
        use crate::domain::schema::{field_schema, Mode};
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let mut one_of = OneOfBuilder::new();
        for t in <JobType as EnumValues>::VALUES {
            let Some(job_type) = JobType::parse(t) else {
                continue;
            };
            let mut parameters = parameters_schema(job_type);
            let optional = parameters_optional(job_type);
            if optional {
                if let utoipa::openapi::schema::Schema::Object(o) = &mut parameters {
                    o.schema_type =
                        utoipa::openapi::schema::SchemaType::from_iter([Type::Object, Type::Null]);
                }
            }
            let mut b = ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "job_type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([*t])),
                )
                .required("job_type")
                .property("parameters", parameters)
                .property("tags", field_schema(&TAGS, Mode::Create));
            for spec in super::PROJECT_ID {
                b = b.property(spec.name, field_schema(spec, Mode::Create));
            }
            if !optional {
                b = b.required("parameters");
            }
            one_of = one_of.item(b.build());
        }
        utoipa::openapi::schema::Schema::OneOf(one_of.build()).into()
    }
}
impl ToSchema for JobCreate {}

/// What a PATCH may change.
const UPDATE: &[Spec] = &[
    Spec::or(
        "status",
        Kind::Enum(<JobStatus as EnumValues>::VALUES),
        DefaultValue::Str("pending"),
    ),
    Spec::or(
        "progress",
        Kind::Int {
            min: Some(0),
            max: Some(100),
        },
        DefaultValue::Int(0),
    ),
    Spec::opt("current_step", Kind::Str { min: 0, max: 255 }),
    Spec::opt("result", Kind::Obj),
    Spec::opt(
        "error",
        Kind::Str {
            min: 0,
            max: 100_000,
        },
    ),
    Spec::opt(
        "traceback",
        Kind::Str {
            min: 0,
            max: 100_000,
        },
    ),
];
crate::record_schema!(
    /// Terminal jobs never change status (409 job_terminal).
    pub JobUpdate: Update = &[UPDATE]
);

const PAGE: [Spec; 2] = page_specs(100, 1000);
const FILTERS: &[Spec] = &[
    Spec::opt(
        "status_filter",
        Kind::Enum(<JobStatus as EnumValues>::VALUES),
    ),
    Spec::opt("job_type", Kind::Enum(<JobType as EnumValues>::VALUES)),
];
crate::query_params!(pub JobQuery [FILTERS, &PAGE]);
const DISPATCH: &[Spec] = &[Spec::or(
    "delay_seconds",
    Kind::Int {
        min: Some(0),
        max: Some(3600),
    },
    DefaultValue::Int(0),
)];
crate::query_params!(pub DispatchQuery [DISPATCH]);

/// Create a job (pending, not dispatched); its parameters are checked against its type.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(ProjectScope), request_body = JobCreate,
    responses((status = 201, body = Job, description = "Pending, not dispatched; created_by = caller")))]
async fn create_job(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let job_type = match f.enumeration::<JobType>("job_type") {
        Patch::Value(t) => Some(t),
        _ if f.has_error("job_type") => None,
        _ => {
            f.error("job_type", "missing", "Field required");
            None
        }
    };
    let parameters = f.object("parameters").value().unwrap_or_default();
    let tags = f.record(&[TAGS], false);
    let tags = tags
        .get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let body_pid = body_project(&mut f);
    if let Some(t) = job_type {
        if !f.has_error("parameters") {
            if let Err(errors) = validate_parameters(t, &parameters) {
                errors.into_iter().for_each(|e| f.push(e));
            }
        }
    }
    if let Some(t) = job_type {
        match check_targets(t, &parameters, state.config.webhook_allow_private_targets) {
            Ok(()) => {}
            Err(TargetError::Invalid) => f.push(FieldError::value_error(
                &["body", "parameters", "target_url"],
                "target_url must be an https:// URL",
            )),
            Err(TargetError::NotAllowed) if f.has_error("parameters") => {}
            Err(TargetError::NotAllowed) => {
                f.finish()?;
                return Err(ApiError::bad_request(
                    "target_not_allowed",
                    "Target address not allowed",
                ));
            }
        }
    }
    f.finish()?;
    let job_type = job_type.ok_or_else(|| ApiError::internal("job_type checked above"))?;
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let record = insert_job(
        &state,
        scope.id(),
        scope.principal.id(),
        job_type,
        parameters,
        tags,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(job_out(&record))))
}

/// Stores a new pending job.
pub(crate) async fn insert_job(
    state: &AppState,
    pid: Id,
    created_by: Id,
    job_type: JobType,
    parameters: Map<String, Value>,
    tags: Map<String, Value>,
) -> ApiResult<Record> {
    let record = crate::domain::jobs::new_job(job_type, parameters, tags, Some(created_by));
    // Every item the parameters name must exist in this project, checked in the same
    // transaction: no worker ever follows an id into another project.
    let links = linked_items(
        job_type,
        record["parameters"].as_object().unwrap_or(&Map::new()),
    );
    let must_exist: Vec<_> = links
        .iter()
        .map(|(_, prefix, id)| crate::store::keys::item(pid, prefix, *id))
        .collect();
    match state
        .store
        .create_record(&JOBS, pid, record, |_| vec![], &must_exist)
        .await
    {
        Ok(r) => Ok(r),
        Err(StoreError::Condition(i)) if i >= CHECK_BASE && i - CHECK_BASE < links.len() => {
            let (param, prefix, id) = links[i - CHECK_BASE];
            let kind = if prefix == "ANLY" {
                "Analysis"
            } else {
                "Repository"
            };
            Err(ApiError::validation(vec![FieldError::value_error(
                &["body", "parameters", param],
                format!("{kind} {id} not found in this project"),
            )]))
        }
        Err(e) => Err(e.into()),
    }
}

/// Newest first.
fn newest_first(jobs: &mut [Record]) {
    let key = |r: &Record| (r.get("id").and_then(Value::as_u64).unwrap_or(0),);
    jobs.sort_by_key(|r| std::cmp::Reverse(key(r)));
}

/// A project's jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(JobQuery, ProjectScope),
    responses((status = 200, body = JobList, description = "created_at desc")))]
async fn list_jobs(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<JobList>> {
    let mut f = query.fields();
    let Page { skip, limit } = Page::read(&mut f, &PAGE);
    let filters = f.record(FILTERS, false);
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let mut jobs: Vec<Record> = state
        .store
        .records(scope.id(), JOBS.prefix)
        .await?
        .into_iter()
        .filter(|r| {
            filters
                .get("status_filter")
                .is_none_or(|s| s.is_null() || r.get("status") == Some(s))
                && filters
                    .get("job_type")
                    .is_none_or(|t| t.is_null() || r.get("job_type") == Some(t))
        })
        .collect();
    newest_first(&mut jobs);
    let total = jobs.len();
    let page: Vec<Value> = jobs.iter().skip(skip).take(limit).map(job_out).collect();
    Ok(Json(JobList {
        jobs: page,
        total,
        skip,
        limit,
    }))
}

/// One job.
#[utoipa::path(get, path = "/api/v1/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = i64, Path)),
    responses((status = 200, body = Job), (status = 404, description = "job_not_found")))]
async fn get_job(
    State(state): State<AppState>,
    item: ItemAccess<JobKind>,
) -> ApiResult<Json<Value>> {
    Ok(Json(full_job(&state, &item.record).await?))
}

/// A job as its own route answers it: a result kept in S3 (too large for the job item, which
/// holds its summary; lists and frames show that summary) is read back in full, one GetObject.
pub(crate) async fn full_job(state: &AppState, job: &Record) -> ApiResult<Value> {
    let mut out = job_out(job);
    if let Some(key) = job.get("result_key").and_then(Value::as_str) {
        match state.blobs.get(key).await? {
            Some(bytes) => {
                out["result"] = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
            }
            None => tracing::warn!(
                key,
                "a job's result object is missing; answering its summary"
            ),
        }
    }
    fresh_urls(state, &mut out["result"]).await?;
    Ok(out)
}

/// Export results name their files in S3 (`file_key`, `download_key`): each read presigns them
/// again (1 h, API.md §7), so a stored URL never expires on a client.
async fn fresh_urls(state: &AppState, result: &mut Value) -> ApiResult<()> {
    for (key_field, url_field, name_field) in [
        ("file_key", "file_url", "filename"),
        ("download_key", "download_url", ""),
    ] {
        let Some(key) = result
            .get(key_field)
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            continue;
        };
        let name = result
            .get(name_field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| key.rsplit('/').next().unwrap_or("export").to_string());
        let url = state
            .blobs
            .presign_get_for(&key, &name, crate::jobs::export::URL_TTL)
            .await?;
        result[url_field] = Value::from(url);
        result["expires_at"] = Value::from(crate::jobs::export::expires_at());
    }
    Ok(())
}

fn terminal(id: Id, status: JobStatus) -> ApiError {
    ApiError::conflict(
        "job_terminal",
        format!("Job {id} is already in terminal state: {status}"),
    )
}

/// Applies a status change's bookkeeping: running sets started_at once; terminal statuses set
/// completed_at.
fn settle_times(r: &mut Record, now: &str) {
    let status = status_of(r);
    // Finished jobs leave the index of active ones. An indexed job that is not held under a
    // lease (a running one stays due when its lease ends) is due for maintenance if it has
    // not moved on `STALE_SECS` from now.
    let leased = status == JobStatus::Running && r.get("lease_until").is_some_and(Value::is_i64);
    if status.is_terminal() {
        r.remove("gsi2pk");
        r.remove("gsi2sk");
    } else if r.contains_key("gsi2pk") && !leased {
        let pid = r.get("project_id").and_then(Value::as_u64).unwrap_or(0);
        let id = r.get("id").and_then(Value::as_u64).unwrap_or(0);
        let due = Timestamp::parse(now)
            .unwrap_or_else(Timestamp::now)
            .plus_secs(STALE_SECS)
            .to_rfc3339();
        r.insert(
            "gsi2sk".into(),
            json!(crate::domain::jobs::active_index(pid, id, &due).1),
        );
    }
    if status == JobStatus::Running && r.get("started_at").is_none_or(Value::is_null) {
        r.insert("started_at".into(), json!(now));
    }
    if status.is_terminal() && r.get("completed_at").is_none_or(Value::is_null) {
        r.insert("completed_at".into(), json!(now));
    }
}

/// Applies `change` to the job (re-applied on a concurrent write), with the status-time
/// bookkeeping, unless `refuse` names the status that forbids it (checked first on the job as
/// read, then on every re-read). A job a schedule created that ends here (completed or failed)
/// updates its schedule in the same transaction (API.md §9 Outcome). Returns the job before
/// and after the write.
async fn change_job(
    state: &AppState,
    item: ItemAccess<JobKind>,
    refuse: impl Fn(&Record) -> Option<JobStatus>,
    change: impl Fn(&Record) -> Record,
) -> ApiResult<Result<(Record, Record), JobStatus>> {
    use crate::store::records::{record_of, version_of, EXTRA_BASE};
    let (pid, id, mut old) = (item.scope.id(), item.id, item.record);
    let mut with_schedule = true;
    for _ in 0..6 {
        if let Some(s) = refuse(&old) {
            return Ok(Err(s));
        }
        let now = Timestamp::now().to_rfc3339();
        let mut new = change(&old);
        settle_times(&mut new, &now);
        new.insert("updated_at".into(), json!(now));
        new.insert("version".into(), json!(version_of(&old) + 1));
        let (from, to) = (status_of(&old), status_of(&new));
        let outcome = (with_schedule && !from.is_terminal() && to != from)
            .then(|| {
                crate::store::schedules::outcome(
                    pid,
                    &old,
                    to,
                    new.get("error").and_then(Value::as_str),
                    &now,
                    &state.store.table,
                )
            })
            .flatten();
        let (extra, deltas) = match outcome {
            Some((item, deltas)) => (vec![item], deltas),
            None => (Vec::new(), Vec::new()),
        };
        match state
            .store
            .update_record_with(&JOBS, pid, &old, &new, vec![], extra, &deltas)
            .await
        {
            Ok(()) => return Ok(Ok((old, new))),
            Err(StoreError::Condition(0)) => match state.store.get(&JOBS.key(pid, id)).await? {
                Some(item) => old = record_of(item)?,
                None => return Err(ItemAccess::<JobKind>::not_found(id)),
            },
            // The schedule was deleted meanwhile: the job changes without it.
            Err(StoreError::Condition(EXTRA_BASE)) => with_schedule = false,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::unavailable(
        "The item is being changed by others; retry shortly",
    ))
}

/// Update a job's status, progress, step, result or error. PUT is accepted as PATCH.
#[utoipa::path(patch, path = "/api/v1/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = i64, Path)), request_body = JobUpdate,
    responses((status = 200, body = Job, description = "Updated; pushes job_update"), (status = 404, description = "job_not_found"),
        (status = 409, description = "job_terminal: Job <id> is already in terminal state: <status> (a status change of a finished job)")))]
async fn update_job(
    State(state): State<AppState>,
    item: ItemAccess<JobKind>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let changes = f.record(UPDATE, false);
    f.finish()?;
    let id = item.id;
    let requested = changes
        .get("status")
        .and_then(Value::as_str)
        .and_then(JobStatus::parse);
    let (before, result) = change_job(
        &state,
        item,
        |old| match requested.map(|to| transition(status_of(old), to)) {
            Some(Err(TransitionError::Terminal(s))) => Some(s),
            _ => None,
        },
        |old| {
            let mut new = overlay(old, &changes);
            // A result given here replaces one kept in S3.
            if changes.contains_key("result") {
                new.insert("result_key".into(), Value::Null);
            }
            new
        },
    )
    .await?
    .map_err(|s| terminal(id, s))?;
    if changes.contains_key("result") {
        if let Some(key) = before.get("result_key").and_then(Value::as_str) {
            if let Err(e) = state.blobs.delete(&[key.to_string()]).await {
                tracing::warn!(error = %e, key, "could not delete a replaced job result");
            }
        }
    }
    let mut frames = vec![live::frames::job_update(&result)];
    frames.extend(live::frames::changes(&before, &result));
    let done = status_of(&result).is_terminal();
    state.live.notify(&result, &frames, done).await;
    Ok(Json(job_out(&result)))
}

/// Delete a job (not while it runs).
#[utoipa::path(delete, path = "/api/v1/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = i64, Path)),
    responses((status = 204), (status = 400, description = "job_running: Cannot delete running job <id>. Cancel it first."), (status = 404, description = "job_not_found")))]
async fn delete_job(
    State(state): State<AppState>,
    item: ItemAccess<JobKind>,
) -> ApiResult<StatusCode> {
    use crate::store::records::Cascade;
    let id = item.id;
    let running = |r: &Record| status_of(r) == JobStatus::Running;
    // Deleted only at the version whose status was checked: a claim in between bumps it.
    match state
        .store
        .delete_cascade(
            &JOBS,
            item.scope.id(),
            item.record,
            None,
            |r| !running(r),
            |_| vec![],
        )
        .await?
    {
        Cascade::Deleted(removed) => {
            if let Some(job) = removed.first() {
                state.live.close_all(job).await;
                if let Some(key) = job.get("result_key").and_then(Value::as_str) {
                    // The record is gone; a leftover object is only unreachable.
                    if let Err(e) = state.blobs.delete(&[key.to_string()]).await {
                        tracing::warn!(error = %e, key, "could not delete a deleted job's result");
                    }
                }
            }
            Ok(StatusCode::NO_CONTENT)
        }
        Cascade::Refused(_) => Err(ApiError::bad_request(
            "job_running",
            format!("Cannot delete running job {id}. Cancel it first."),
        )),
        Cascade::Gone => Err(ItemAccess::<JobKind>::not_found(id)),
    }
}

/// Cancel a job: workers stop at their next checkpoint.
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/cancel", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = i64, Path)),
    responses((status = 200, body = Job, description = "Cancelled (completed_at now); pushes job_cancelled"), (status = 400, description = "job_terminal: Job <id> is already in terminal state: <status>"),
        (status = 404, description = "job_not_found")))]
async fn cancel_job(
    State(state): State<AppState>,
    item: ItemAccess<JobKind>,
) -> ApiResult<Json<Value>> {
    let id = item.id;
    let (before, new) = change_job(
        &state,
        item,
        |old| Some(status_of(old)).filter(|s| s.is_terminal()),
        |old| {
            let mut new = old.clone();
            new.insert("status".into(), json!("cancelled"));
            new
        },
    )
    .await?
    .map_err(|s| {
        ApiError::bad_request(
            "job_terminal",
            format!("Job {id} is already in terminal state: {s}"),
        )
    })?;
    let mut frames = vec![live::frames::job_cancelled(&new)];
    frames.extend(live::frames::changes(&before, &new));
    state.live.notify(&new, &frames, true).await;
    Ok(Json(job_out(&new)))
}

/// Send a pending job to its type's queue (optionally delayed).
#[utoipa::path(post, path = "/api/v1/jobs/{job_id}/dispatch", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = i64, Path), DispatchQuery),
    responses((status = 200, body = Job, description = "Queued (still pending, celery_task_id set); pushes job_dispatched"),
        (status = 400, description = "job_not_pending: Job <id> cannot be dispatched (status: <status>)"), (status = 404, description = "job_not_found")))]
async fn dispatch_job(
    State(state): State<AppState>,
    item: ItemAccess<JobKind>,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let mut f = query.fields();
    let q = f.record(DISPATCH, true);
    f.finish()?;
    let delay = q["delay_seconds"].as_i64().unwrap_or(0);
    let id = item.id;
    let not_pending = |s: JobStatus| {
        ApiError::bad_request(
            "job_not_pending",
            format!("Job {id} cannot be dispatched (status: {s})"),
        )
    };
    let status = status_of(&item.record);
    if status != JobStatus::Pending {
        return Err(not_pending(status));
    }
    Ok(Json(job_out(&send(&state, item, delay).await?)))
}

/// Sends a pending job to its type's queue and records the message id.
pub(crate) async fn send(
    state: &AppState,
    item: ItemAccess<JobKind>,
    delay: i64,
) -> ApiResult<Record> {
    let job_type = item
        .record
        .get("job_type")
        .and_then(Value::as_str)
        .and_then(JobType::parse)
        .ok_or_else(|| ApiError::internal("stored job without a type"))?;
    let message = crate::queue::JobMessage {
        job_id: item.id,
        project_id: item.scope.id(),
        job_type,
        not_before: None,
    };
    // Over the rate limit nothing is sent (a 429 after the send could not take it back).
    crate::api::ratelimit::charge_now(state).await?;
    // Sent first: a worker that finds the job no longer pending acknowledges without effect.
    let message_id = state.queues.send_job(message, delay).await?;
    let now = Timestamp::now().to_rfc3339();
    let sent = update_retrying::<JobKind>(
        state,
        &JOBS,
        item,
        |old| {
            let mut new = old.clone();
            new.insert("celery_task_id".into(), json!(message_id));
            new.insert("dispatched_at".into(), json!(now));
            let pid = old.get("project_id").and_then(Value::as_u64).unwrap_or(0);
            let id = old.get("id").and_then(Value::as_u64).unwrap_or(0);
            // Due for a maintenance look if it has not started STALE_SECS after its delay.
            let due = Timestamp::now()
                .plus_secs(delay.saturating_add(STALE_SECS))
                .to_rfc3339();
            let (g2pk, g2sk) = crate::domain::jobs::active_index(pid, id, &due);
            new.insert("gsi2pk".into(), json!(g2pk));
            new.insert("gsi2sk".into(), json!(g2sk));
            new
        },
        |_, _| vec![],
        Vec::new,
    )
    .await??;
    state
        .live
        .notify(&sent, &[live::frames::job_dispatched(&sent, delay)], false)
        .await;
    Ok(sent)
}

/// A job's progress.
#[utoipa::path(get, path = "/api/v1/jobs/{job_id}/progress", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = i64, Path)),
    responses((status = 200, body = JobProgress), (status = 404, description = "job_not_found")))]
async fn job_progress(item: ItemAccess<JobKind>) -> Json<Value> {
    let mut r = item.record;
    let status = status_of(&r);
    let duration = seconds_between(&r, "started_at", "completed_at");
    r.insert("job_id".into(), json!(item.id));
    r.insert("duration_seconds".into(), json!(duration));
    r.insert("is_terminal".into(), json!(status.is_terminal()));
    r.insert("is_active".into(), json!(status.is_active()));
    Json(crate::domain::shape_of(&r, &[PROGRESS_OUT]))
}

/// Pending and running jobs.
#[utoipa::path(get, path = "/api/v1/jobs/active/list", tag = "jobs", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 200, body = JobList, description = "Pending and running jobs, newest first; skip 0, limit = total")))]
async fn active_jobs(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<JobList>> {
    let scope = scope.resolve(&state, None, &[]).await?;
    let mut jobs: Vec<Record> = state
        .store
        .records(scope.id(), JOBS.prefix)
        .await?
        .into_iter()
        .filter(|r| status_of(r).is_active())
        .collect();
    newest_first(&mut jobs);
    let total = jobs.len();
    Ok(Json(JobList {
        jobs: jobs.iter().map(job_out).collect(),
        total,
        skip: 0,
        limit: total,
    }))
}

/// Counts by status, success rate, average duration, active jobs.
#[utoipa::path(get, path = "/api/v1/jobs/statistics/summary", tag = "jobs", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 200, body = JobStatistics)))]
async fn job_statistics(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<JobStatistics>> {
    let scope = scope.resolve(&state, None, &[]).await?;
    let facts: Vec<JobFacts> = state
        .store
        .records(scope.id(), JOBS.prefix)
        .await?
        .iter()
        .map(|r| JobFacts {
            status: status_of(r),
            duration_seconds: seconds_between(r, "started_at", "completed_at"),
        })
        .collect();
    Ok(Json(statistics(&facts)))
}
