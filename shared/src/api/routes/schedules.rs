//! `/api/v1/schedules` (API.md §9): recurring jobs in any time zone. The runs themselves are
//! made by `jobs::dispatcher` (EventBridge, every minute) and by POST /{id}/execute, both
//! through `Store::run_schedule` (the job and the schedule's advance in one transaction); a
//! job's end updates its schedule in the job's own completion transaction (`store::jobs`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonObject, NumberedPage, QueryMap, NUMBERED_PAGE};
use crate::api::scope::{ItemAccess, ItemKind, ProjectScope};
use crate::api::AppState;
use crate::domain::jobs::{linked_items, validate_parameters, JobType};
use crate::domain::schedule::{
    self as rules, success_rate, timing_of, Frequency, TimingError, FIELDS, OUT, TASK_TYPES,
};
use crate::domain::validate::{DefaultValue as D, EnumValues, FieldError, Fields, Kind, Spec};
use crate::domain::{Id, Timestamp};
use crate::store::kinds::SCHEDULES;
use crate::store::records::{id_of, Record, CHECK_BASE};
use crate::store::schedules::{index, Advance, RunError, Trigger};
use crate::store::StoreError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules, create_schedule))
        .routes(routes!(get_schedule, update_schedule, delete_schedule))
        .routes(routes!(execute_schedule))
        .routes(routes!(enable_schedule))
        .routes(routes!(disable_schedule))
        .routes(routes!(statistics))
        .routes(routes!(due_schedules))
}

pub struct ScheduleKind;
impl ItemKind for ScheduleKind {
    const PREFIX: &'static str = SCHEDULES.prefix;
    const CODE: &'static str = "schedule";
    const LABEL: &'static str = "Schedule";
    const PARAM: &'static str = "schedule_id";
}

/// ScheduleCreate (API.md §9), with the optional body project_id: one branch per task type,
/// each with the task parameters that type takes (the §7 rules `validate_parameters` applies).
pub struct ScheduleCreate;
impl utoipa::PartialSchema for ScheduleCreate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use crate::domain::jobs::{parameters_optional, parameters_schema};
        use crate::domain::schema::{object, Mode};
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
        let mut one_of = OneOfBuilder::new();
        for t in TASK_TYPES {
            let Some(job_type) = JobType::parse(t) else {
                continue;
            };
            let mut branch = object(&[FIELDS, super::PROJECT_ID], Mode::Create);
            branch.properties.insert(
                "task_type".into(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([*t]))
                    .build()
                    .into(),
            );
            let mut parameters = parameters_schema(job_type);
            if parameters_optional(job_type) {
                if let Schema::Object(o) = &mut parameters {
                    o.default = Some(json!({}));
                }
            } else {
                branch.required.push("task_parameters".into());
            }
            branch
                .properties
                .insert("task_parameters".into(), parameters.into());
            one_of = one_of.item(branch);
        }
        Schema::OneOf(one_of.build()).into()
    }
}
impl ToSchema for ScheduleCreate {}
crate::record_schema!(
    /// Any ScheduleCreate field but project_id.
    pub ScheduleUpdate: Update = &[FIELDS]
);
crate::record_schema!(pub Schedule: Response = OUT);
const EXECUTE: &[Spec] = &[Spec::or("force", Kind::Bool, D::Bool(false))];
crate::record_schema!(
    /// force: run even if disabled (never outside the start/end window).
    pub ScheduleExecute: Create = &[EXECUTE]
);

const BOOL_FILTER: &[Spec] = &[Spec::opt("enabled", Kind::Bool)];
const LIST_FILTERS: &[Spec] = &[
    Spec::opt("task_type", Kind::Enum(TASK_TYPES)),
    Spec::opt("frequency", Kind::Enum(<Frequency as EnumValues>::VALUES)),
];
crate::query_params!(
    /// Filters (AND) and page (page ≥ 1, page_size 1..100).
    pub ScheduleQuery [BOOL_FILTER, LIST_FILTERS, &NUMBERED_PAGE]
);
const DUE_LIMIT: &[Spec] = &[Spec::or(
    "limit",
    Kind::Int {
        min: Some(1),
        max: Some(500),
    },
    D::Int(100),
)];
crate::query_params!(pub DueQuery [DUE_LIMIT]);

/// A page of schedules, newest first.
#[derive(Serialize, ToSchema)]
pub struct SchedulePage {
    #[schema(value_type = Vec<Schedule>)]
    schedules: Vec<Value>,
    total: usize,
    page: i64,
    page_size: i64,
    /// ⌈total / page_size⌉
    pages: usize,
}

/// A manual run's answer.
#[derive(Serialize, ToSchema)]
pub struct Executed {
    schedule_id: Id,
    schedule_name: String,
    job_id: Id,
    #[schema(value_type = String, format = DateTime)]
    executed_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    next_run_at: Option<String>,
    /// `Schedule executed successfully, job <id> created`
    message: String,
}

/// A project's schedules and their runs.
#[derive(Serialize, ToSchema)]
pub struct Summary {
    total_schedules: i64,
    enabled_schedules: i64,
    disabled_schedules: i64,
    total_runs: i64,
    successful_runs: i64,
    failed_runs: i64,
    /// successful_runs / total_runs × 100, 2 decimals (0.0 without runs)
    success_rate: f64,
    /// Schedules per frequency (frequencies in use)
    by_frequency: std::collections::BTreeMap<String, i64>,
}

fn text<'a>(r: &'a Record, k: &str) -> Option<&'a str> {
    r.get(k).and_then(Value::as_str)
}

fn time(r: &Record, k: &str) -> Option<Timestamp> {
    text(r, k).and_then(Timestamp::parse)
}

fn enabled(r: &Record) -> bool {
    r.get("enabled").and_then(Value::as_bool) == Some(true)
}

fn num(r: &Record, k: &str) -> i64 {
    r.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// Whether the schedule may run now: enabled and now in [start_time, end_time).
pub fn is_active(r: &Record, now: Timestamp) -> bool {
    enabled(r) && rules::in_window(time(r, "start_time"), time(r, "end_time"), now)
}

pub fn schedule_out(r: &Record, now: Timestamp) -> Value {
    let mut full = r.clone();
    full.insert(
        "success_rate".into(),
        json!(success_rate(num(r, "success_count"), num(r, "run_count"))),
    );
    full.insert("is_active".into(), json!(is_active(r, now)));
    crate::domain::shape_of(&full, OUT)
}

fn timing_error(e: TimingError) -> ApiError {
    ApiError::bad_request(e.code(), e.message())
}

/// The checks of a schedule as it would be stored (created, or merged with a PATCH): task
/// parameters against the task type (422 on body.task_parameters), end after start (422), and
/// the timing rules (400, after every 422).
fn check(f: &mut Fields<'_>, r: &Record, parameters_sent: bool) -> Result<(), TimingError> {
    if let (Some(t), Some(p)) = (
        text(r, "task_type").and_then(JobType::parse),
        r.get("task_parameters").and_then(Value::as_object),
    ) {
        if parameters_sent {
            if let Err(errors) = validate_parameters(t, p) {
                for mut e in errors {
                    if let Some(slot) = e.loc.get_mut(1) {
                        *slot = json!("task_parameters");
                    }
                    f.push(e);
                }
            }
        }
    }
    if let (Some(start), Some(end)) = (time(r, "start_time"), time(r, "end_time")) {
        if end <= start {
            f.push(FieldError::value_error(
                &["body", "end_time"],
                "Value error, end_time must be after start_time",
            ));
        }
    }
    match timing_of(r) {
        Some(t) => rules::check(&t),
        None => Ok(()),
    }
}

/// The repositories the task parameters name (checked to exist in the same transaction).
fn links(r: &Record) -> Vec<(&'static str, &'static str, u64)> {
    match (
        text(r, "task_type").and_then(JobType::parse),
        r.get("task_parameters").and_then(Value::as_object),
    ) {
        (Some(t), Some(p)) => linked_items(t, p),
        _ => Vec::new(),
    }
}

fn link_missing(param: &str, id: u64) -> ApiError {
    ApiError::validation(vec![FieldError::value_error(
        &["body", "task_parameters", param],
        format!("Repository {id} not found in this project"),
    )])
}

/// `next_run_at` of `r` from `now` (the record's timing was checked).
fn next_of(r: &Record, now: Timestamp) -> Value {
    timing_of(r)
        .and_then(|t| rules::next_run(&t, now).ok().flatten())
        .map_or(Value::Null, |t| Value::from(t.to_rfc3339()))
}

/// Create a schedule; its first run is computed in its time zone.
#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", security(("bearer" = [])),
    params(ProjectScope), request_body = ScheduleCreate,
    responses((status = 201, body = Schedule, description = "created_by = caller; next_run_at computed"),
        (status = 400, description = "cron_required: Cron expression required for cron frequency; invalid_cron: Invalid cron expression: <x>; interval_required: interval_seconds required for interval frequency; invalid_timezone: Invalid timezone: <tz>")))]
async fn create_schedule(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let mut record = f.record(FIELDS, true);
    let body_pid = super::body_project(&mut f);
    let timing = check(&mut f, &record, true);
    f.finish()?;
    timing.map_err(timing_error)?;
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let pid = scope.id();
    let now = Timestamp::now();
    let now_s = now.to_rfc3339();
    record.insert("created_by".into(), json!(scope.principal.id()));
    record.insert("created_at".into(), json!(now_s));
    record.insert("updated_at".into(), json!(now_s));
    for k in [
        "last_run_at",
        "last_error",
        "last_success_at",
        "last_failure_at",
    ] {
        record.insert(k.into(), Value::Null);
    }
    for k in ["run_count", "success_count", "failure_count"] {
        record.insert(k.into(), json!(0));
    }
    record.insert("revision".into(), json!(1));
    let next = next_of(&record, now);
    record.insert("next_run_at".into(), next);
    crate::store::schedules::job_fits(&record)?;
    let links = links(&record);
    let must_exist: Vec<_> = links
        .iter()
        .map(|(_, prefix, id)| crate::store::keys::item(pid, prefix, *id))
        .collect();
    match state
        .store
        .create_record_with(&SCHEDULES, pid, record, |_| Vec::new(), &must_exist, index)
        .await
    {
        Ok(r) => Ok((StatusCode::CREATED, Json(schedule_out(&r, now)))),
        Err(StoreError::Condition(i)) if i >= CHECK_BASE && i - CHECK_BASE < links.len() => {
            let (param, _, id) = links[i - CHECK_BASE];
            Err(link_missing(param, id))
        }
        Err(e) => Err(e.into()),
    }
}

/// A project's schedules: filtered, newest first, a page.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules", security(("bearer" = [])),
    params(ScheduleQuery, ProjectScope),
    responses((status = 200, body = SchedulePage, description = "created_at desc")))]
async fn list_schedules(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<SchedulePage>> {
    let mut f = query.fields();
    let filters = f.record(BOOL_FILTER, false);
    let q = f.record(LIST_FILTERS, true);
    let page = NumberedPage::of(&f.record(&NUMBERED_PAGE, true));
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let wanted = |m: &Map<String, Value>, k: &str| m.get(k).filter(|v| !v.is_null()).cloned();
    let (on, task, freq) = (
        wanted(&filters, "enabled"),
        wanted(&q, "task_type"),
        wanted(&q, "frequency"),
    );
    let mut all = state.store.records(scope.id(), SCHEDULES.prefix).await?;
    all.retain(|r| {
        on.as_ref().is_none_or(|e| r.get("enabled") == Some(e))
            && task.as_ref().is_none_or(|t| r.get("task_type") == Some(t))
            && freq.as_ref().is_none_or(|v| r.get("frequency") == Some(v))
    });
    all.sort_by_key(|r| std::cmp::Reverse(id_of(r)));
    let now = Timestamp::now();
    Ok(Json(SchedulePage {
        total: all.len(),
        pages: all.len().div_ceil(page.page_size as usize),
        schedules: page.slice(&all).map(|r| schedule_out(r, now)).collect(),
        page: page.page,
        page_size: page.page_size,
    }))
}

/// One schedule.
#[utoipa::path(get, path = "/api/v1/schedules/{schedule_id}", tag = "schedules", security(("bearer" = [])),
    params(("schedule_id" = i64, Path)),
    responses((status = 200, body = Schedule), (status = 404, description = "schedule_not_found")))]
async fn get_schedule(item: ItemAccess<ScheduleKind>) -> Json<Value> {
    Json(schedule_out(&item.record, Timestamp::now()))
}

/// The timing fields whose change moves next_run_at.
const TIMING_FIELDS: &[&str] = &[
    "frequency",
    "cron_expression",
    "interval_seconds",
    "timezone",
    "start_time",
    "end_time",
];

/// Update a schedule (any create field but project_id); next_run_at is recomputed from now when
/// its timing changes or it is enabled.
#[utoipa::path(patch, path = "/api/v1/schedules/{schedule_id}", tag = "schedules", security(("bearer" = [])),
    params(("schedule_id" = i64, Path)), request_body = ScheduleUpdate,
    responses((status = 200, body = Schedule), (status = 404, description = "schedule_not_found"),
        (status = 400, description = "cron_required, invalid_cron, interval_required, invalid_timezone (of the schedule as it would be)")))]
async fn update_schedule(
    State(state): State<AppState>,
    item: ItemAccess<ScheduleKind>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let changes = f.record(FIELDS, false);
    let merged = super::overlay(&item.record, &changes);
    // A new task type or new parameters are checked together with the other as stored.
    let parameters_sent =
        changes.contains_key("task_parameters") || changes.contains_key("task_type");
    let timing = check(&mut f, &merged, parameters_sent);
    f.finish()?;
    timing.map_err(timing_error)?;
    crate::store::schedules::job_fits(&merged)?;
    let pid = item.scope.id();
    let links = if parameters_sent {
        links(&merged)
    } else {
        Vec::new()
    };
    let retime = TIMING_FIELDS.iter().any(|k| changes.contains_key(*k));
    let table = state.store.table.clone();
    let result = super::update_retrying::<ScheduleKind>(
        &state,
        &SCHEDULES,
        item,
        |old| {
            let mut new = super::overlay(old, &changes);
            let now = Timestamp::now();
            let turned_on = enabled(&new) && !enabled(old);
            if retime || turned_on {
                let next = next_of(&new, now);
                new.insert("next_run_at".into(), next);
            }
            new.insert("revision".into(), json!(num(old, "revision") + 1));
            index(&mut new);
            new
        },
        |_, _| Vec::new(),
        || {
            links
                .iter()
                .map(|(_, prefix, id)| {
                    crate::store::tx::check_exists(
                        &crate::store::keys::item(pid, prefix, *id),
                        &table,
                    )
                })
                .collect()
        },
    )
    .await?;
    match result {
        Ok(new) => Ok(Json(schedule_out(&new, Timestamp::now()))),
        Err(StoreError::Condition(_)) if !links.is_empty() => {
            // Which repository is missing: read them (the rare path only).
            let keys: Vec<_> = links
                .iter()
                .map(|(_, prefix, id)| crate::store::keys::item(pid, prefix, *id))
                .collect();
            let found = state.store.batch_get(&keys).await?;
            let missing = links
                .iter()
                .zip(&keys)
                .find(|(_, k)| !found.contains_key(*k))
                .map(|(l, _)| *l)
                .unwrap_or(links[0]);
            Err(link_missing(missing.0, missing.2))
        }
        Err(e) => Err(e.into()),
    }
}

/// Delete a schedule (its jobs remain).
#[utoipa::path(delete, path = "/api/v1/schedules/{schedule_id}", tag = "schedules", security(("bearer" = [])),
    params(("schedule_id" = i64, Path)),
    responses((status = 204, description = "Deleted; its jobs remain"), (status = 404, description = "schedule_not_found")))]
async fn delete_schedule(
    State(state): State<AppState>,
    item: ItemAccess<ScheduleKind>,
) -> ApiResult<StatusCode> {
    super::delete_item(&state, &SCHEDULES, item, None, |_| Vec::new()).await
}

/// Run a schedule now: its job is created and queued; next_run_at stays (a `once` schedule
/// completes).
#[utoipa::path(post, path = "/api/v1/schedules/{schedule_id}/execute", tag = "schedules", security(("bearer" = [])),
    params(("schedule_id" = i64, Path)), request_body = ScheduleExecute,
    responses((status = 202, body = Executed, description = "Job created and queued; last_run_at now, run_count + 1"),
        (status = 400, description = "schedule_inactive: Schedule <id> is not active (disabled without force, or outside its window)"),
        (status = 404, description = "schedule_not_found")))]
async fn execute_schedule(
    State(state): State<AppState>,
    item: ItemAccess<ScheduleKind>,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Executed>)> {
    let mut f = body.fields();
    let force = f
        .record(EXECUTE, true)
        .get("force")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    f.finish()?;
    let (pid, sid) = (item.scope.id(), item.id);
    let mut schedule = item.record;
    let now = Timestamp::now();
    let inactive =
        || ApiError::bad_request("schedule_inactive", format!("Schedule {sid} is not active"));
    for _ in 0..5 {
        if (!enabled(&schedule) && !force)
            || !rules::in_window(
                time(&schedule, "start_time"),
                time(&schedule, "end_time"),
                now,
            )
        {
            return Err(inactive());
        }
        let once = text(&schedule, "frequency") == Some(Frequency::Once.as_str());
        let advance = once.then_some(Advance {
            next_run_at: None,
            enabled: false,
        });
        match state
            .store
            .run_schedule(&schedule, &Trigger::Manual, advance.as_ref(), now)
            .await
        {
            Ok(job) => {
                let next_run_at = if once {
                    None
                } else {
                    text(&schedule, "next_run_at").map(str::to_string)
                };
                crate::jobs::dispatcher::send_runs(
                    &state.store,
                    &state.queues,
                    std::slice::from_ref(&job),
                )
                .await;
                let job_id = id_of(&job);
                return Ok((
                    StatusCode::ACCEPTED,
                    Json(Executed {
                        schedule_id: sid,
                        schedule_name: text(&schedule, "name").unwrap_or_default().to_string(),
                        job_id,
                        executed_at: now.to_rfc3339(),
                        next_run_at,
                        message: format!("Schedule executed successfully, job {job_id} created"),
                    }),
                ));
            }
            Err(RunError::Changed) => match state.store.get(&SCHEDULES.key(pid, sid)).await? {
                Some(fresh) => schedule = crate::store::records::record_of(fresh)?,
                None => return Err(ItemAccess::<ScheduleKind>::not_found(sid)),
            },
            Err(RunError::ProjectGone) => return Err(ItemAccess::<ScheduleKind>::not_found(sid)),
            Err(RunError::Store(e)) => return Err(e.into()),
        }
    }
    Err(ApiError::unavailable(
        "The schedule is being changed by others; retry shortly",
    ))
}

/// Sets `enabled` (enabling recomputes next_run_at from now).
async fn set_enabled(
    state: &AppState,
    item: ItemAccess<ScheduleKind>,
    on: bool,
) -> ApiResult<Json<Value>> {
    let new = super::update_retrying::<ScheduleKind>(
        state,
        &SCHEDULES,
        item,
        |old| {
            let mut new = old.clone();
            new.insert("enabled".into(), json!(on));
            if on {
                let next = next_of(&new, Timestamp::now());
                new.insert("next_run_at".into(), next);
            }
            new.insert("revision".into(), json!(num(old, "revision") + 1));
            index(&mut new);
            new
        },
        |_, _| Vec::new(),
        Vec::new,
    )
    .await??;
    Ok(Json(schedule_out(&new, Timestamp::now())))
}

/// Enable a schedule: next_run_at is computed from now.
#[utoipa::path(post, path = "/api/v1/schedules/{schedule_id}/enable", tag = "schedules", security(("bearer" = [])),
    params(("schedule_id" = i64, Path)),
    responses((status = 200, body = Schedule), (status = 404, description = "schedule_not_found")))]
async fn enable_schedule(
    State(state): State<AppState>,
    item: ItemAccess<ScheduleKind>,
) -> ApiResult<Json<Value>> {
    set_enabled(&state, item, true).await
}

/// Disable a schedule (it leaves the dispatcher's index).
#[utoipa::path(post, path = "/api/v1/schedules/{schedule_id}/disable", tag = "schedules", security(("bearer" = [])),
    params(("schedule_id" = i64, Path)),
    responses((status = 200, body = Schedule), (status = 404, description = "schedule_not_found")))]
async fn disable_schedule(
    State(state): State<AppState>,
    item: ItemAccess<ScheduleKind>,
) -> ApiResult<Json<Value>> {
    set_enabled(&state, item, false).await
}

/// Counts of a project's schedules and their runs (one read).
#[utoipa::path(get, path = "/api/v1/schedules/statistics/summary", tag = "schedules", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 200, body = Summary)))]
async fn statistics(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<Summary>> {
    let scope = scope.resolve(&state, None, &[]).await?;
    let c = &scope.counters;
    let runs = c.get(crate::store::kinds::SCHEDULE_RUNS);
    let successes = c.get(crate::store::kinds::SCHEDULE_SUCCESSES);
    let by_frequency = <Frequency as EnumValues>::VALUES
        .iter()
        .map(|f| (f.to_string(), c.get(&format!("schedules.frequency.{f}"))))
        .filter(|(_, n)| *n > 0)
        .collect();
    Ok(Json(Summary {
        total_schedules: c.get("schedules"),
        enabled_schedules: c.get("schedules.state.enabled"),
        disabled_schedules: c.get("schedules.state.disabled"),
        total_runs: runs,
        successful_runs: successes,
        failed_runs: c.get(crate::store::kinds::SCHEDULE_FAILURES),
        success_rate: success_rate(successes, runs).unwrap_or(0.0),
        by_frequency,
    }))
}

/// The project's schedules due now: enabled, next_run_at ≤ now, inside their window; soonest
/// first.
#[utoipa::path(get, path = "/api/v1/schedules/due/list", tag = "schedules", security(("bearer" = [])),
    params(DueQuery, ProjectScope),
    responses((status = 200, body = Vec<Schedule>, description = "next_run_at asc")))]
async fn due_schedules(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let q = f.record(DUE_LIMIT, true);
    f.finish()?;
    let limit = q.get("limit").and_then(Value::as_u64).unwrap_or(100) as usize;
    let scope = scope.resolve(&state, None, &[]).await?;
    let now = Timestamp::now();
    let mut due: Vec<(Timestamp, Record)> = state
        .store
        .records(scope.id(), SCHEDULES.prefix)
        .await?
        .into_iter()
        .filter(|r| is_active(r, now))
        .filter_map(|r| Some((time(&r, "next_run_at").filter(|t| *t <= now)?, r)))
        .collect();
    due.sort_by_key(|(t, r)| (*t, id_of(r)));
    Ok(Json(
        due.iter()
            .take(limit)
            .map(|(_, r)| schedule_out(r, now))
            .collect(),
    ))
}
