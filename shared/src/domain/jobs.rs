//! Jobs (API.md §7): types, the status state machine, parameter rules per job type, retry
//! back-off and the statistics the jobs and batch endpoints report. Pure: the runner, the
//! queues and the HTTP routes build on these.

use serde_json::{json, Map, Value};

use super::validate::{enum_message, FieldError};
use crate::string_enum;

string_enum!(
    /// A job's status: pending and running are active; the other three are terminal.
    JobStatus {
        Pending = "pending",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

string_enum!(
    /// What a job does; each type has its own queue, dead-letter queue and function.
    JobType {
        Analysis = "analysis",
        Export = "export",
        BatchAnalysis = "batch_analysis",
        BatchExport = "batch_export",
        BatchImport = "batch_import",
        WebhookDelivery = "webhook_delivery",
        ScheduledAnalysis = "scheduled_analysis",
        RepositorySync = "repository_sync",
        Research = "research",
    }
);

pub const EXPORT_FORMATS: &[&str] = &["sarif", "html", "csv", "excel", "json"];
pub const CSV_EXPORT_TYPES: &[&str] = &[
    "combined",
    "technologies",
    "dependencies",
    "metrics",
    "gaps",
];
pub const MERGE_STRATEGIES: &[&str] = &["skip", "overwrite", "merge"];

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

/// Why a status change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Terminal statuses never change (409 job_terminal).
    #[error("job is already in terminal state: {0}")]
    Terminal(JobStatus),
    /// A worker can only start a job that is waiting (pending).
    #[error("job cannot start from {0}")]
    NotStartable(JobStatus),
}

/// A requested status change. Terminal jobs never change; a job starts only from pending;
/// anything else among active statuses, or into a terminal one, is allowed.
pub fn transition(from: JobStatus, to: JobStatus) -> Result<(), TransitionError> {
    if from.is_terminal() {
        return Err(TransitionError::Terminal(from));
    }
    if to == JobStatus::Running && from != JobStatus::Pending && from != JobStatus::Running {
        return Err(TransitionError::NotStartable(from));
    }
    Ok(())
}

/// The visibility timeout before delivery `attempt` (1-based) of a retryable failure is
/// tried again: 30 s doubling per attempt, at most 15 minutes.
pub fn retry_delay_secs(attempt: u32) -> i64 {
    (30i64 << attempt.saturating_sub(1).min(5)).min(900)
}

fn is_id(n: u64) -> bool {
    (1..=super::ids::MAX_ID).contains(&n)
}

/// The items of the job's own project that its parameters name, as (parameter, kind prefix,
/// id): the job is created only if every one exists in that project (checked in the create
/// transaction), so no worker ever follows an id into another project. Every parameter that
/// names a stored item must be listed here as its kind comes to exist.
pub fn linked_items(
    job_type: JobType,
    p: &Map<String, Value>,
) -> Vec<(&'static str, &'static str, u64)> {
    let one = |name: &'static str| {
        p.get(name)
            .and_then(Value::as_u64)
            .map(|id| (name, "REPO", id))
    };
    match job_type {
        JobType::Analysis | JobType::RepositorySync => one("repository_id").into_iter().collect(),
        JobType::BatchAnalysis | JobType::ScheduledAnalysis => p
            .get("repository_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .map(|id| ("repository_ids", "REPO", id))
            .collect(),
        _ => Vec::new(),
    }
}

/// The §10.3 target rule on the URLs a job's parameters name (webhook_delivery.target_url).
pub fn check_targets(
    job_type: JobType,
    p: &Map<String, Value>,
    allow_private: bool,
) -> Result<(), super::webhook::TargetError> {
    match (job_type, p.get("target_url").and_then(Value::as_str)) {
        (JobType::WebhookDelivery, Some(url)) => super::webhook::check_target(url, allow_private),
        _ => Ok(()),
    }
}

/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY_SECS: i64 = 43_200;

/// The visibility timeout for a message given back after delivery `attempt`: the back-off,
/// but never less than the `lease_left` seconds a lease this delivery could not cut short
/// still holds (plus one), so the redelivery never meets the live lease of a dead attempt
/// and is not acknowledged as a duplicate.
pub fn give_back_secs(attempt: u32, lease_left: Option<i64>) -> i64 {
    let floor = lease_left.map_or(0, |l| l.saturating_add(1));
    retry_delay_secs(attempt)
        .max(floor)
        .clamp(0, MAX_VISIBILITY_SECS)
}

fn field(name: &str, msg: impl Into<String>) -> FieldError {
    FieldError::value_error(
        &["body", "parameters", name],
        format!("Value error, {}", msg.into()),
    )
}

fn positive_int(p: &Map<String, Value>, name: &str, required: bool, errors: &mut Vec<FieldError>) {
    match p.get(name) {
        None | Some(Value::Null) if !required => {}
        None | Some(Value::Null) => errors.push(field(name, format!("{name} is required"))),
        Some(v) if v.as_u64().is_some_and(is_id) => {}
        Some(_) => errors.push(field(
            name,
            format!("{name} must be an integer id (1 to 2^53-1)"),
        )),
    }
}

fn id_list(p: &Map<String, Value>, name: &str, required: bool, errors: &mut Vec<FieldError>) {
    match p.get(name) {
        None | Some(Value::Null) if !required => {}
        None | Some(Value::Null) => errors.push(field(name, format!("{name} is required"))),
        Some(Value::Array(ids))
            if (1..=100).contains(&ids.len())
                && ids.iter().all(|v| v.as_u64().is_some_and(is_id)) => {}
        Some(_) => errors.push(field(
            name,
            format!("{name} must be a list of 1 to 100 integer ids (1 to 2^53-1)"),
        )),
    }
}

fn one_of(
    p: &Map<String, Value>,
    name: &str,
    values: &[&str],
    required: bool,
    errors: &mut Vec<FieldError>,
) {
    match p.get(name) {
        None | Some(Value::Null) if !required => {}
        None | Some(Value::Null) => errors.push(field(name, format!("{name} is required"))),
        Some(Value::String(s)) if values.contains(&s.as_str()) => {}
        Some(_) => errors.push(field(name, format!("{name}: {}", enum_message(values)))),
    }
}

fn kind_is(
    p: &Map<String, Value>,
    name: &str,
    ok: fn(&Value) -> bool,
    what: &str,
    required: bool,
    errors: &mut Vec<FieldError>,
) {
    match p.get(name) {
        None | Some(Value::Null) if !required => {}
        None | Some(Value::Null) => errors.push(field(name, format!("{name} is required"))),
        Some(v) if ok(v) => {}
        Some(_) => errors.push(field(name, format!("{name} must be {what}"))),
    }
}

/// Checks a job's parameters against its type (API.md §7 table); every failing rule is listed.
pub fn validate_parameters(
    job_type: JobType,
    p: &Map<String, Value>,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let e = &mut errors;
    match job_type {
        JobType::Analysis => {
            let sources = ["repository_id", "repo", "upload_key"]
                .iter()
                .filter(|k| p.get(**k).is_some_and(|v| !v.is_null()))
                .count();
            if sources != 1 {
                e.push(field(
                    "repository_id",
                    "Exactly one of repository_id, repo or upload_key is required",
                ));
            }
            positive_int(p, "repository_id", false, e);
            kind_is(
                p,
                "repo",
                |v| {
                    v.as_str().is_some_and(|s| {
                        s.split('/').count() == 2
                            && s.split('/').all(super::repository::is_valid_name)
                    })
                },
                "\"owner/name\"",
                false,
                e,
            );
            kind_is(
                p,
                "ref",
                |v| v.as_str().is_some_and(|s| (1..=255).contains(&s.len())),
                "a string of 1 to 255 characters",
                false,
                e,
            );
            kind_is(
                p,
                "upload_key",
                |v| v.as_str().is_some_and(|s| !s.is_empty()),
                "a string",
                false,
                e,
            );
            kind_is(p, "use_cache", Value::is_boolean, "a boolean", false, e);
        }
        JobType::Export => {
            positive_int(p, "analysis_id", true, e);
            one_of(p, "format", EXPORT_FORMATS, true, e);
            one_of(p, "export_type", CSV_EXPORT_TYPES, false, e);
        }
        JobType::BatchAnalysis => id_list(p, "repository_ids", true, e),
        JobType::ScheduledAnalysis => id_list(p, "repository_ids", false, e),
        JobType::BatchExport => {
            id_list(p, "analysis_ids", true, e);
            one_of(p, "format", EXPORT_FORMATS, true, e);
            one_of(p, "export_type", CSV_EXPORT_TYPES, false, e);
        }
        JobType::BatchImport => {
            kind_is(
                p,
                "technologies",
                |v| {
                    v.as_array().is_some_and(|a| {
                        (1..=1000).contains(&a.len()) && a.iter().all(Value::is_object)
                    })
                },
                "a list of 1 to 1000 objects",
                true,
                e,
            );
            one_of(p, "merge_strategy", MERGE_STRATEGIES, false, e);
        }
        JobType::WebhookDelivery => {
            positive_int(p, "config_id", true, e);
            kind_is(
                p,
                "event_type",
                |v| v.as_str().is_some_and(|s| (1..=100).contains(&s.len())),
                "a string of 1 to 100 characters",
                true,
                e,
            );
            kind_is(p, "payload", Value::is_object, "an object", true, e);
            kind_is(
                p,
                "target_url",
                |v| {
                    v.as_str()
                        .is_some_and(|s| (1..=512).contains(&s.chars().count()))
                },
                "a URL of at most 512 characters",
                false,
                e,
            );
        }
        JobType::RepositorySync => {
            positive_int(p, "repository_id", true, e);
            kind_is(p, "force", Value::is_boolean, "a boolean", false, e);
        }
        JobType::Research => {
            kind_is(
                p,
                "task_id",
                |v| v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
                "a UUID",
                true,
                e,
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// One job as the statistics see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobFacts {
    pub status: JobStatus,
    /// completed − started, when both are set.
    pub duration_seconds: Option<f64>,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `{total, by_status, success_rate, average_duration_seconds, active_jobs}` (API.md §7):
/// success_rate = completed / (completed + failed) × 100 (null when both are 0); the average
/// is over completed jobs (null when none).
pub fn statistics(jobs: &[JobFacts]) -> Value {
    let count = |s: JobStatus| jobs.iter().filter(|j| j.status == s).count();
    let mut by_status = Map::new();
    for s in <JobStatus as super::validate::EnumValues>::VALUES {
        let status =
            <JobStatus as super::validate::EnumValues>::parse(s).unwrap_or(JobStatus::Pending);
        by_status.insert((*s).into(), json!(count(status)));
    }
    let (completed, failed) = (count(JobStatus::Completed), count(JobStatus::Failed));
    let success_rate = (completed + failed > 0)
        .then(|| round2(completed as f64 / (completed + failed) as f64 * 100.0));
    let durations: Vec<f64> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Completed)
        .filter_map(|j| j.duration_seconds)
        .collect();
    let average = (!durations.is_empty())
        .then(|| round2(durations.iter().sum::<f64>() / durations.len() as f64));
    json!({
        "total": jobs.len(),
        "by_status": by_status,
        "success_rate": success_rate,
        "average_duration_seconds": average,
        "active_jobs": count(JobStatus::Pending) + count(JobStatus::Running),
    })
}

/// Dispatched and running jobs are listed in gsi2 (sparse) under one of these shards, sorted
/// by the instant the maintenance pass should look at them (`due`): for a running job the end
/// of its lease, for a dispatched one the time it should have started by. A pass queries
/// `due < now` and finds exactly the jobs whose worker died or whose message was lost.
pub const ACTIVE_SHARDS: u64 = 8;

/// How long after it was due a dispatched (or given back) job that has not started counts as
/// stuck: its message was lost or dead-lettered without a handler.
pub const STALE_SECS: i64 = 600;

/// The gsi2 keys of an active job due for a maintenance look at `due` (RFC 3339).
pub fn active_index(project_id: u64, job_id: u64, due: &str) -> (String, String) {
    (
        format!("ACTIVEJOB#{}", job_id % ACTIVE_SHARDS),
        format!("{due}#{project_id}#{job_id}"),
    )
}

/// A job result larger than this (bytes of JSON) is kept in S3; the job item holds its
/// summary (`result_summary`) and the object's key. Well below DynamoDB's 400 KB item limit
/// (the item also holds the parameters, and its event a copy of both), and below what one
/// WebSocket frame carries (128 KB).
pub const RESULT_INLINE_MAX: usize = 32 * 1024;

/// What the job item keeps of a result kept in S3: its top-level fields that are small
/// (counts, ids, statuses, URLs), without the long lists (`items`, `conflicts`, `results`).
pub fn result_summary(result: &Value) -> Value {
    match result {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| match v {
                    Value::Array(_) | Value::Object(_) => false,
                    Value::String(s) => s.len() <= 2048,
                    _ => true,
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => json!({}),
    }
}

const OUT: &[&str] = &[
    "id",
    "project_id",
    "job_type",
    "status",
    "progress",
    "current_step",
    "parameters",
    "tags",
    "result",
    "error",
    "created_by",
    "celery_task_id",
    "created_at",
    "started_at",
    "completed_at",
    "duration_seconds",
];

/// Seconds between two stored timestamps, when both are set.
pub fn seconds_between(r: &Map<String, Value>, from: &str, to: &str) -> Option<f64> {
    let t = |k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .and_then(super::Timestamp::parse)
    };
    let (a, b) = (t(from)?, t(to)?);
    Some(((b.0 - a.0).as_seconds_f64() * 1000.0).round() / 1000.0)
}

pub fn status_of(r: &Map<String, Value>) -> JobStatus {
    r.get("status")
        .and_then(Value::as_str)
        .and_then(<JobStatus as super::validate::EnumValues>::parse)
        .unwrap_or(JobStatus::Pending)
}

/// The response (and event) form of a job.
pub fn job_out(r: &Map<String, Value>) -> Value {
    let mut v = super::shape(r, OUT);
    v["duration_seconds"] = json!(seconds_between(r, "started_at", "completed_at"));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn given_back_messages_outwait_a_lease_they_could_not_cut() {
        assert_eq!(give_back_secs(1, None), 30);
        assert_eq!(give_back_secs(1, Some(300)), 301);
        assert_eq!(give_back_secs(3, Some(10)), 120);
        assert_eq!(
            give_back_secs(1, Some(-50)),
            30,
            "an expired lease adds nothing"
        );
        assert_eq!(give_back_secs(1, Some(i64::MAX)), MAX_VISIBILITY_SECS);
    }

    #[test]
    fn result_summaries_keep_the_small_fields() {
        let r = json!({"total_items": 2, "imported_count": 1, "items": [1, 2],
                       "conflicts": [], "download_url": "https://x", "nested": {"a": 1}});
        assert_eq!(
            result_summary(&r),
            json!({"total_items": 2, "imported_count": 1, "download_url": "https://x"})
        );
        assert_eq!(result_summary(&json!([1, 2])), json!({}));
    }

    #[test]
    fn terminal_statuses_never_change() {
        for from in [
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ] {
            for to in [
                JobStatus::Pending,
                JobStatus::Running,
                JobStatus::Completed,
                JobStatus::Cancelled,
            ] {
                assert_eq!(transition(from, to), Err(TransitionError::Terminal(from)));
            }
        }
        assert!(transition(JobStatus::Pending, JobStatus::Running).is_ok());
        assert!(transition(JobStatus::Pending, JobStatus::Cancelled).is_ok());
        assert!(transition(JobStatus::Running, JobStatus::Completed).is_ok());
        assert!(transition(JobStatus::Running, JobStatus::Failed).is_ok());
        assert!(JobStatus::Running.is_active() && JobStatus::Cancelled.is_terminal());
    }

    #[test]
    fn backoff_doubles_up_to_fifteen_minutes() {
        assert_eq!(retry_delay_secs(1), 30);
        assert_eq!(retry_delay_secs(2), 60);
        assert_eq!(retry_delay_secs(5), 480);
        assert_eq!(retry_delay_secs(6), 900);
        assert_eq!(retry_delay_secs(40), 900);
    }

    #[test]
    fn parameters_per_type() {
        assert!(
            validate_parameters(JobType::Analysis, &params(json!({"repository_id": 3}))).is_ok()
        );
        assert!(validate_parameters(
            JobType::Analysis,
            &params(json!({"repo": "tokio-rs/tokio", "ref": "main"}))
        )
        .is_ok());
        let e = validate_parameters(
            JobType::Analysis,
            &params(json!({"repository_id": 3, "upload_key": "k"})),
        )
        .unwrap_err();
        assert_eq!(
            e[0].msg,
            "Value error, Exactly one of repository_id, repo or upload_key is required"
        );
        let e =
            validate_parameters(JobType::Export, &params(json!({"format": "pdf"}))).unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(
            e[0].loc,
            vec![json!("body"), json!("parameters"), json!("analysis_id")]
        );
        assert!(validate_parameters(JobType::ScheduledAnalysis, &params(json!({}))).is_ok());
        assert!(validate_parameters(
            JobType::BatchAnalysis,
            &params(json!({"repository_ids": []}))
        )
        .is_err());
        assert!(validate_parameters(
            JobType::BatchImport,
            &params(json!({"technologies": [{"title": "x", "domain": "other"}], "merge_strategy": "merge"}))
        )
        .is_ok());
        assert!(
            validate_parameters(JobType::BatchImport, &params(json!({"technologies": [1]})))
                .is_err()
        );
        assert!(
            validate_parameters(JobType::Research, &params(json!({"task_id": "not-a-uuid"})))
                .is_err()
        );
        assert!(validate_parameters(
            JobType::WebhookDelivery,
            &params(json!({"config_id": 1, "event_type": "job.completed", "payload": {}}))
        )
        .is_ok());
    }

    #[test]
    fn statistics_are_exact() {
        let f = |status, d| JobFacts {
            status,
            duration_seconds: d,
        };
        let s = statistics(&[
            f(JobStatus::Completed, Some(10.0)),
            f(JobStatus::Completed, Some(5.0)),
            f(JobStatus::Failed, Some(1.0)),
            f(JobStatus::Running, None),
            f(JobStatus::Pending, None),
            f(JobStatus::Cancelled, None),
        ]);
        assert_eq!(s["total"], 6);
        assert_eq!(s["success_rate"], 66.67);
        assert_eq!(s["average_duration_seconds"], 7.5);
        assert_eq!(s["active_jobs"], 2);
        assert_eq!(s["by_status"]["cancelled"], 1);
        let empty = statistics(&[]);
        assert!(empty["success_rate"].is_null() && empty["average_duration_seconds"].is_null());
        assert_eq!(empty["by_status"].as_object().unwrap().len(), 5);
    }
}
