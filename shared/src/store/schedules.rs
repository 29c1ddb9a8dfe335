//! Schedules in the table (API.md §9): the sparse index of due schedules, a run (the job, the
//! schedule's advance and the counters in ONE transaction), and the schedule update that goes
//! with the end of one of its jobs.
//!
//! Hidden fields of a schedule item: `state` (`enabled`/`disabled`, follows `enabled`, for the
//! STATS breakdown), `revision` (moved by every change of the definition: PATCH, enable,
//! disable — a run conditioned on it never creates a job from a stale copy), and the due-index
//! entry gsi2 `DUE#<id % DUE_SHARDS>` / `<at>#<pid>#<id>`, present only while the schedule is
//! enabled and has somewhere to be: at next_run_at, or — with no run left before its end_time —
//! at end_time, when the dispatcher disables it.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde_json::{json, Value};

use super::kinds::{JOBS, SCHEDULES, SCHEDULE_FAILURES, SCHEDULE_RUNS, SCHEDULE_SUCCESSES};
use super::records::{id_of, record_of, Record, EXTRA_BASE};
use super::{n, s, tx, Store, StoreError};
use crate::domain::jobs::{active_index, new_job, JobStatus, JobType, STALE_SECS};
use crate::domain::project::breakdown;
use crate::domain::validate::EnumValues;
use crate::domain::{Id, Timestamp};

/// Partitions of the due index (a schedule's shard is its id modulo this).
pub const DUE_SHARDS: u64 = 4;

/// Characters of a failed job's error kept as the schedule's last_error.
pub const LAST_ERROR_MAX: usize = 1000;

/// The gsi2 keys of a schedule due at `at` (RFC 3339).
pub fn due_index(pid: Id, sid: Id, at: &str) -> (String, String) {
    (
        format!("DUE#{}", sid % DUE_SHARDS),
        format!("{at}#{pid}#{sid}"),
    )
}

fn text<'a>(r: &'a Record, k: &str) -> Option<&'a str> {
    r.get(k).and_then(Value::as_str)
}

fn enabled(r: &Record) -> bool {
    r.get("enabled").and_then(Value::as_bool) == Some(true)
}

/// When an enabled schedule is next due to the dispatcher: its next run, or with none left,
/// its end_time.
fn due_at(r: &Record) -> Option<String> {
    if !enabled(r) {
        return None;
    }
    text(r, "next_run_at")
        .or_else(|| text(r, "end_time"))
        .map(str::to_string)
}

/// Sets the hidden fields that follow `enabled` and `next_run_at` (a record is always stored
/// whole through this).
pub fn index(r: &mut Record) {
    let state = if enabled(r) { "enabled" } else { "disabled" };
    r.insert("state".into(), json!(state));
    match due_at(r) {
        Some(at) => {
            let (pk, sk) = due_index(
                r.get("project_id").and_then(Value::as_u64).unwrap_or(0),
                id_of(r),
                &at,
            );
            r.insert("gsi2pk".into(), json!(pk));
            r.insert("gsi2sk".into(), json!(sk));
        }
        None => {
            r.remove("gsi2pk");
            r.remove("gsi2sk");
        }
    }
}

/// How a run was asked for.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// The dispatcher found the schedule in the due index under `seen` (its gsi2sk then).
    Due { seen: String },
    /// `POST /schedules/{id}/execute` by a user.
    Manual,
}

/// What a run leaves behind.
#[derive(Debug, Clone)]
pub struct Advance {
    /// The schedule's next run after this one (RFC 3339), or none.
    pub next_run_at: Option<String>,
    /// Whether the schedule stays enabled (false: a `once` schedule after its run).
    pub enabled: bool,
}

/// Why a run did not happen.
#[derive(Debug)]
pub enum RunError {
    /// The schedule changed since it was read (another run, a PATCH, enable/disable, delete).
    Changed,
    /// The project is being deleted.
    ProjectGone,
    Store(StoreError),
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        RunError::Store(e)
    }
}

/// The job a run of `schedule` creates: job_type = task_type, parameters = task_parameters,
/// tags = the schedule's tags with `schedule_id`, created_by = the schedule's creator; the
/// hidden `schedule_id` (not the tag, which any job may carry) is what its outcome follows.
pub fn job_of(schedule: &Record) -> Option<(JobType, Record)> {
    let job_type = text(schedule, "task_type").and_then(JobType::parse)?;
    let params = schedule
        .get("task_parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut tags = schedule
        .get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let sid = id_of(schedule);
    tags.insert("schedule_id".into(), json!(sid));
    let created_by = schedule.get("created_by").and_then(Value::as_u64);
    let mut job = new_job(job_type, params, tags, created_by);
    job.insert("schedule_id".into(), json!(sid));
    Some((job_type, job))
}

/// Whether the job a run of `schedule` creates fits an item (checked when the schedule is
/// saved, so no run can fail on it): `TooLarge` names the schedule's field (task_parameters or
/// tags) that makes it too large.
pub fn job_fits(schedule: &Record) -> Result<(), StoreError> {
    let Some((_, mut job)) = job_of(schedule) else {
        return Ok(());
    };
    let pid = schedule
        .get("project_id")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let id = crate::domain::ids::MAX_ID;
    job.insert("id".into(), json!(id));
    job.insert("project_id".into(), json!(pid));
    job.insert("version".into(), json!(1));
    let (pk, sk) = active_index(pid, id, &Timestamp::now().to_rfc3339());
    job.insert("gsi2pk".into(), json!(pk));
    job.insert("gsi2sk".into(), json!(sk));
    match super::to_item(&Value::Object(job), &JOBS.key(pid, id)) {
        Ok(_) => Ok(()),
        Err(StoreError::TooLarge { field, size }) => Err(StoreError::TooLarge {
            field: if field == "parameters" {
                "task_parameters".into()
            } else {
                field
            },
            size,
        }),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Every schedule due by `now` (RFC 3339) in every project: one Query per shard of the due
    /// index (no Scan), all shards at once. Eventually consistent, as a GSI is: each run is
    /// conditioned on what was read.
    pub async fn due_schedules(&self, now: &str) -> Result<Vec<Record>, StoreError> {
        let bound = format!("{now}#~");
        let queries = (0..DUE_SHARDS).map(|shard| {
            let q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :pk AND gsi2sk < :bound")
                .expression_attribute_values(":pk", s(format!("DUE#{shard}")))
                .expression_attribute_values(":bound", s(&bound));
            self.paginate(q, None)
        });
        let pages = futures::future::try_join_all(queries).await?;
        pages.into_iter().flatten().map(record_of).collect()
    }

    /// One run of `schedule` (as read): its pending job — tagged, listed as active so a lost
    /// message is sent again — and the schedule's advance (last_run_at, run_count + 1, and with
    /// `advance` its next run and enabled flag; without, those stay as they are) in ONE
    /// transaction with every counter it moves. A due run holds only while the schedule is
    /// still enabled, due where it was seen and of the same definition; a manual one while its
    /// definition and enabled flag are as read. Returns the job.
    pub async fn run_schedule(
        &self,
        schedule: &Record,
        trigger: &Trigger,
        advance: Option<&Advance>,
        now: Timestamp,
    ) -> Result<Record, RunError> {
        let pid = schedule
            .get("project_id")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let sid = id_of(schedule);
        let (_, job) = job_of(schedule)
            .ok_or_else(|| StoreError::Corrupt(format!("schedule {sid} without a task type")))?;
        let now_s = now.to_rfc3339();
        let was_enabled = enabled(schedule);
        let mut expr = String::from(
            "SET last_run_at = :now, updated_at = :now, run_count = run_count + :one, version = version + :one",
        );
        let mut up_values: Vec<(&str, AttributeValue)> = vec![(":now", s(&now_s)), (":one", n(1))];
        let mut names = Vec::new();
        if let Some(advance) = advance {
            let mut after = schedule.clone();
            after.insert(
                "next_run_at".into(),
                advance.next_run_at.clone().map_or(Value::Null, Value::from),
            );
            after.insert("enabled".into(), json!(advance.enabled));
            index(&mut after);
            expr.push_str(", next_run_at = :next, enabled = :en, #state = :state");
            names.push(("#state", "state"));
            up_values.push((
                ":next",
                advance
                    .next_run_at
                    .as_deref()
                    .map(s)
                    .unwrap_or(AttributeValue::Null(true)),
            ));
            up_values.push((":en", AttributeValue::Bool(advance.enabled)));
            up_values.push((
                ":state",
                s(if advance.enabled {
                    "enabled"
                } else {
                    "disabled"
                }),
            ));
            match after.get("gsi2sk").and_then(Value::as_str) {
                Some(sk) => {
                    expr.push_str(", gsi2pk = :g2pk, gsi2sk = :g2sk");
                    up_values.push((":g2pk", s(due_index(pid, sid, "").0)));
                    up_values.push((":g2sk", s(sk)));
                }
                None => expr.push_str(" REMOVE gsi2pk, gsi2sk"),
            }
        }
        let mut up = tx::update(&SCHEDULES.key(pid, sid), expr).value(
            ":rev",
            n(schedule
                .get("revision")
                .and_then(Value::as_i64)
                .unwrap_or(0)),
        );
        for (k, v) in names {
            up = up.name(k, v);
        }
        for (k, v) in up_values {
            up = up.value(k, v);
        }
        up = match trigger {
            Trigger::Due { seen } => up
                .condition("gsi2sk = :seen AND revision = :rev AND enabled = :true")
                .value(":seen", s(seen))
                .value(":true", AttributeValue::Bool(true)),
            Trigger::Manual => up
                .condition("revision = :rev AND enabled = :was")
                .value(":was", AttributeValue::Bool(was_enabled)),
        };
        let schedule_update = up.build(&self.table);
        let now_enabled = advance.map_or(was_enabled, |a| a.enabled);
        let mut deltas = vec![(SCHEDULE_RUNS.to_string(), 1)];
        if was_enabled != now_enabled {
            let (from, to) = if was_enabled {
                ("enabled", "disabled")
            } else {
                ("disabled", "enabled")
            };
            deltas.push((breakdown("schedules", "state", from), -1));
            deltas.push((breakdown("schedules", "state", to), 1));
        }
        let due = now.plus_secs(STALE_SECS).to_rfc3339();
        let created = self
            .create_records_batch_with(
                &JOBS,
                pid,
                vec![(job, Vec::new())],
                |r| {
                    // Listed as active: a job whose message was lost is sent again.
                    let (pk, sk) = active_index(pid, id_of(r), &due);
                    r.insert("gsi2pk".into(), json!(pk));
                    r.insert("gsi2sk".into(), json!(sk));
                },
                |_| vec![schedule_update.clone()],
                &deltas,
            )
            .await;
        match created {
            Ok(mut jobs) => jobs
                .pop()
                .ok_or_else(|| RunError::Store(StoreError::Other("no job created".into()))),
            Err(StoreError::Condition(EXTRA_BASE)) => Err(RunError::Changed),
            Err(StoreError::ProjectGone(_)) => Err(RunError::ProjectGone),
            Err(e) => Err(RunError::Store(e)),
        }
    }

    /// Disables a schedule the dispatcher found due past its end_time (no run), unless it
    /// changed since it was seen. `Ok(false)`: it had.
    pub async fn end_schedule(&self, schedule: &Record, seen: &str) -> Result<bool, StoreError> {
        let pid = schedule
            .get("project_id")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let sid = id_of(schedule);
        let now = Timestamp::now().to_rfc3339();
        let up = tx::update(
            &SCHEDULES.key(pid, sid),
            "SET enabled = :false, #state = :disabled, next_run_at = :null, updated_at = :now, \
             version = version + :one REMOVE gsi2pk, gsi2sk",
        )
        .condition("gsi2sk = :seen AND enabled = :true")
        .name("#state", "state")
        .value(":false", AttributeValue::Bool(false))
        .value(":true", AttributeValue::Bool(true))
        .value(":disabled", s("disabled"))
        .value(":null", AttributeValue::Null(true))
        .value(":now", s(now))
        .value(":one", n(1))
        .value(":seen", s(seen))
        .build(&self.table);
        let mut items = vec![up];
        items.extend(super::records::counters(
            pid,
            &[
                (breakdown("schedules", "state", "enabled"), -1),
                (breakdown("schedules", "state", "disabled"), 1),
            ],
            &self.table,
        ));
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(StoreError::Condition(0)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Makes a pending job due for a re-send now (its message could not be sent): the next
    /// dispatcher tick sends it. `Ok(false)`: it moved on meanwhile.
    pub async fn job_due_now(&self, job: &Record) -> Result<bool, StoreError> {
        let pid = job.get("project_id").and_then(Value::as_u64).unwrap_or(0);
        let id = id_of(job);
        let Some(seen) = text(job, "gsi2sk") else {
            return Ok(false);
        };
        let (_, sk) = active_index(pid, id, &Timestamp::now().to_rfc3339());
        let up = tx::update(&JOBS.key(pid, id), "SET gsi2sk = :sk")
            .condition("#s = :pending AND gsi2sk = :seen")
            .name("#s", "status")
            .value(":pending", s(JobStatus::Pending.as_str()))
            .value(":seen", s(seen))
            .value(":sk", s(sk))
            .build(&self.table);
        match self.transact(vec![up]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Condition(0)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The schedule update that goes with the end of `job` (§9 Outcome), for a job a schedule
/// created: completed → success_count + 1, last_success_at, last_error null; failed →
/// failure_count + 1, last_failure_at, last_error (its first 1000 characters). Holds only while
/// the schedule exists (a deleted schedule's jobs end without it). Returns the item and the
/// STATS deltas to merge into the job's own.
pub fn outcome(
    pid: Id,
    job: &Record,
    to: JobStatus,
    error: Option<&str>,
    now: &str,
    table: &str,
) -> Option<(TransactWriteItem, Vec<(String, i64)>)> {
    let sid = job.get("schedule_id").and_then(Value::as_u64)?;
    let key = SCHEDULES.key(pid, sid);
    let zero_plus = |field: &str| format!("{field} = if_not_exists({field}, :zero) + :one");
    let (expr, counter, err) = match to {
        JobStatus::Completed => (
            format!(
                "SET {}, last_success_at = :now, last_error = :err, updated_at = :now, version = version + :one",
                zero_plus("success_count")
            ),
            SCHEDULE_SUCCESSES,
            AttributeValue::Null(true),
        ),
        JobStatus::Failed => (
            format!(
                "SET {}, last_failure_at = :now, last_error = :err, updated_at = :now, version = version + :one",
                zero_plus("failure_count")
            ),
            SCHEDULE_FAILURES,
            s(error
                .unwrap_or("Job failed")
                .chars()
                .take(LAST_ERROR_MAX)
                .collect::<String>()),
        ),
        _ => return None,
    };
    let item = tx::update(&key, expr)
        .condition("attribute_exists(pk)")
        .value(":zero", n(0))
        .value(":one", n(1))
        .value(":now", s(now))
        .value(":err", err)
        .build(table);
    Some((item, vec![(counter.to_string(), 1)]))
}
