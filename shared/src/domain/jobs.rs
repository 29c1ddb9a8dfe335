//! Jobs (API.md §7): types, the status state machine, parameter rules per job type, retry
//! back-off and the statistics the jobs and batch endpoints report. Pure: the runner, the
//! queues and the HTTP routes build on these.

use serde_json::{json, Map, Value};

use super::validate::{enum_message, EnumValues, FieldError};
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
        JobType::Export => p
            .get("analysis_id")
            .and_then(Value::as_u64)
            .map(|id| ("analysis_id", "ANLY", id))
            .into_iter()
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

/// What one job parameter must be.
#[derive(Debug, Clone, Copy)]
pub enum Param {
    /// An id 1..2^53−1.
    Id,
    /// A list of 1..100 ids.
    Ids,
    OneOf(&'static [&'static str]),
    /// A string of `min..=max` characters.
    Text {
        min: usize,
        max: usize,
        what: &'static str,
    },
    /// `"owner/name"` (GitHub names, §3).
    Repo,
    Bool,
    Object,
    Uuid,
    /// A list of `min..=max` objects.
    Objects {
        min: usize,
        max: usize,
    },
}

/// One parameter rule: an optional parameter may be absent or null.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub param: Param,
    pub required: bool,
}

const fn req(name: &'static str, param: Param) -> Rule {
    Rule {
        name,
        param,
        required: true,
    }
}

const fn opt(name: &'static str, param: Param) -> Rule {
    Rule {
        name,
        param,
        required: false,
    }
}

/// `"owner/name"`: two GitHub names (see `repository::NAME_PATTERN`).
pub const REPO_PATTERN: &str = r"^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+)/(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+)$";

/// The sources of an analysis: exactly one must be sent (non-null).
pub const ANALYSIS_SOURCES: &[&str] = &["repository_id", "repo", "upload_key"];

/// The parameters of each job type (API.md §7 table).
pub fn parameter_rules(job_type: JobType) -> &'static [Rule] {
    const FORMAT: Param = Param::OneOf(EXPORT_FORMATS);
    const EXPORT_TYPE: Param = Param::OneOf(CSV_EXPORT_TYPES);
    const ANALYSIS: &[Rule] = &[
        opt("repository_id", Param::Id),
        opt("repo", Param::Repo),
        opt(
            "ref",
            Param::Text {
                min: 1,
                max: 255,
                what: "a string of 1 to 255 characters",
            },
        ),
        opt(
            "upload_key",
            Param::Text {
                min: 1,
                max: usize::MAX,
                what: "a string",
            },
        ),
        opt("use_cache", Param::Bool),
    ];
    const EXPORT: &[Rule] = &[
        req("analysis_id", Param::Id),
        req("format", FORMAT),
        opt("export_type", EXPORT_TYPE),
    ];
    const BATCH_ANALYSIS: &[Rule] = &[req("repository_ids", Param::Ids)];
    const SCHEDULED_ANALYSIS: &[Rule] = &[opt("repository_ids", Param::Ids)];
    const BATCH_EXPORT: &[Rule] = &[
        req("analysis_ids", Param::Ids),
        req("format", FORMAT),
        opt("export_type", EXPORT_TYPE),
    ];
    const BATCH_IMPORT: &[Rule] = &[
        req("technologies", Param::Objects { min: 1, max: 1000 }),
        opt("merge_strategy", Param::OneOf(MERGE_STRATEGIES)),
    ];
    const WEBHOOK_DELIVERY: &[Rule] = &[
        req("config_id", Param::Id),
        req(
            "event_type",
            Param::Text {
                min: 1,
                max: 100,
                what: "a string of 1 to 100 characters",
            },
        ),
        req("payload", Param::Object),
        opt(
            "target_url",
            Param::Text {
                min: 1,
                max: 512,
                what: "a URL of at most 512 characters",
            },
        ),
    ];
    const REPOSITORY_SYNC: &[Rule] = &[req("repository_id", Param::Id), opt("force", Param::Bool)];
    const RESEARCH: &[Rule] = &[req("task_id", Param::Uuid)];
    match job_type {
        JobType::Analysis => ANALYSIS,
        JobType::Export => EXPORT,
        JobType::BatchAnalysis => BATCH_ANALYSIS,
        JobType::ScheduledAnalysis => SCHEDULED_ANALYSIS,
        JobType::BatchExport => BATCH_EXPORT,
        JobType::BatchImport => BATCH_IMPORT,
        JobType::WebhookDelivery => WEBHOOK_DELIVERY,
        JobType::RepositorySync => REPOSITORY_SYNC,
        JobType::Research => RESEARCH,
    }
}

fn is_id(v: &Value) -> bool {
    v.as_u64()
        .is_some_and(|n| (1..=super::ids::MAX_ID).contains(&n))
}

impl Param {
    fn accepts(&self, v: &Value) -> bool {
        match *self {
            Param::Id => is_id(v),
            Param::Ids => v
                .as_array()
                .is_some_and(|ids| (1..=100).contains(&ids.len()) && ids.iter().all(is_id)),
            Param::OneOf(values) => v.as_str().is_some_and(|s| values.contains(&s)),
            Param::Text { min, max, .. } => v
                .as_str()
                .is_some_and(|s| (min..=max).contains(&s.chars().count())),
            Param::Repo => v
                .as_str()
                .is_some_and(|s| super::validate::pattern_matches(REPO_PATTERN, s)),
            Param::Bool => v.is_boolean(),
            Param::Object => v.is_object(),
            Param::Uuid => v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
            Param::Objects { min, max } => v
                .as_array()
                .is_some_and(|a| (min..=max).contains(&a.len()) && a.iter().all(Value::is_object)),
        }
    }

    fn expected(&self, name: &str) -> String {
        match *self {
            Param::Id => format!("{name} must be a positive integer"),
            Param::Ids => format!("{name} must be a list of 1 to 100 positive integers"),
            Param::OneOf(values) => format!("{name}: {}", enum_message(values)),
            Param::Text { what, .. } => format!("{name} must be {what}"),
            Param::Repo => format!("{name} must be \"owner/name\""),
            Param::Bool => format!("{name} must be a boolean"),
            Param::Object => format!("{name} must be an object"),
            Param::Uuid => format!("{name} must be a UUID"),
            Param::Objects { min, max } => {
                format!("{name} must be a list of {min} to {max} objects")
            }
        }
    }
}

impl Param {
    /// The schema of this parameter (null allowed when `nullable`).
    pub fn schema(&self, nullable: bool) -> utoipa::openapi::schema::Schema {
        use super::schema::{id_schema, kind_schema};
        use super::validate::Kind;
        use utoipa::openapi::schema::{
            ArrayBuilder, ObjectBuilder, SchemaFormat, SchemaType, Type,
        };
        let ty = |t: Type| {
            if nullable {
                SchemaType::from_iter([t, Type::Null])
            } else {
                SchemaType::Type(t)
            }
        };
        match *self {
            Param::Id => id_schema(nullable),
            Param::Ids => ArrayBuilder::new()
                .schema_type(ty(Type::Array))
                .items(utoipa::openapi::RefOr::T(id_schema(false)))
                .min_items(Some(1))
                .max_items(Some(100))
                .build()
                .into(),
            Param::OneOf(values) => kind_schema(&Kind::Enum(values), nullable),
            Param::Text { min, max, .. } => kind_schema(&Kind::Str { min, max }, nullable),
            Param::Repo => ObjectBuilder::new()
                .schema_type(ty(Type::String))
                .pattern(Some(REPO_PATTERN))
                .build()
                .into(),
            Param::Bool => kind_schema(&Kind::Bool, nullable),
            Param::Object => kind_schema(&Kind::Obj, nullable),
            Param::Uuid => ObjectBuilder::new()
                .schema_type(ty(Type::String))
                .format(Some(SchemaFormat::Custom("uuid".into())))
                .build()
                .into(),
            Param::Objects { min, max } => ArrayBuilder::new()
                .schema_type(ty(Type::Array))
                .items(utoipa::openapi::RefOr::T(kind_schema(&Kind::Obj, false)))
                .min_items(Some(min))
                .max_items(Some(max))
                .build()
                .into(),
        }
    }
}

/// The `parameters` object a job type takes, as `validate_parameters` checks it.
pub fn parameters_schema(job_type: JobType) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
    // Other keys are kept as sent, as free-form JSON is (`validate::storable`).
    let mut b = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1)),
        ))
        .additional_properties(Some(utoipa::openapi::Ref::from_schema_name(
            super::schema::JSON_VALUE,
        )));
    for rule in parameter_rules(job_type) {
        b = b.property(rule.name, rule.param.schema(!rule.required));
        if rule.required {
            b = b.required(rule.name);
        }
    }
    if job_type != JobType::Analysis {
        return b.build().into();
    }
    let sources: Vec<(&str, utoipa::openapi::schema::Schema)> = ANALYSIS_SOURCES
        .iter()
        .filter_map(|name| {
            parameter_rules(job_type)
                .iter()
                .find(|r| r.name == *name)
                .map(|r| (*name, r.param.schema(false)))
        })
        .collect();
    AllOfBuilder::new()
        .item(b.build())
        .item(super::schema::one_non_null(&sources))
        .description(Some(
            "Exactly one of repository_id, repo or upload_key (non-null)",
        ))
        .build()
        .into()
}

/// Whether `{}` is valid parameters for the type (then `parameters` may be omitted or null).
pub fn parameters_optional(job_type: JobType) -> bool {
    job_type != JobType::Analysis && parameter_rules(job_type).iter().all(|r| !r.required)
}

/// Checks a job's parameters against its type (API.md §7 table); every failing rule is listed.
pub fn validate_parameters(
    job_type: JobType,
    p: &Map<String, Value>,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if job_type == JobType::Analysis {
        let sources = ANALYSIS_SOURCES
            .iter()
            .filter(|k| p.get(**k).is_some_and(|v| !v.is_null()))
            .count();
        if sources != 1 {
            errors.push(field(
                "repository_id",
                "Exactly one of repository_id, repo or upload_key is required",
            ));
        }
    }
    for rule in parameter_rules(job_type) {
        match p.get(rule.name) {
            None | Some(Value::Null) if !rule.required => {}
            None | Some(Value::Null) => {
                errors.push(field(rule.name, format!("{} is required", rule.name)))
            }
            Some(v) if rule.param.accepts(v) => {}
            Some(_) => errors.push(field(rule.name, rule.param.expected(rule.name))),
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

/// `{total, by_status, success_rate, average_duration_seconds, active_jobs}` (API.md §7).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobStatistics {
    pub total: usize,
    /// Every status as a key.
    #[schema(schema_with = status_counts)]
    pub by_status: Map<String, Value>,
    /// completed / (completed + failed) × 100, 2 decimals; null when both are 0.
    #[schema(minimum = 0, maximum = 100)]
    pub success_rate: Option<f64>,
    /// Over completed jobs; null when none.
    #[schema(minimum = 0)]
    pub average_duration_seconds: Option<f64>,
    /// pending + running
    pub active_jobs: usize,
}

fn status_counts() -> utoipa::openapi::schema::Object {
    super::schema::counts(<JobStatus as EnumValues>::VALUES)
}

/// The statistics of `jobs`: success_rate = completed / (completed + failed) × 100 (null when
/// both are 0); the average is over completed jobs (null when none).
pub fn statistics(jobs: &[JobFacts]) -> JobStatistics {
    let count = |s: JobStatus| jobs.iter().filter(|j| j.status == s).count();
    let mut by_status = Map::new();
    for s in <JobStatus as EnumValues>::VALUES {
        let status = <JobStatus as EnumValues>::parse(s).unwrap_or(JobStatus::Pending);
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
    JobStatistics {
        total: jobs.len(),
        by_status,
        success_rate,
        average_duration_seconds: average,
        active_jobs: count(JobStatus::Pending) + count(JobStatus::Running),
    }
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
/// A new pending job as stored (its id, project and version are added by the store).
pub fn new_job(
    job_type: JobType,
    parameters: serde_json::Map<String, serde_json::Value>,
    tags: serde_json::Map<String, serde_json::Value>,
    created_by: Option<u64>,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{json, Value};
    let now = crate::domain::Timestamp::now().to_rfc3339();
    let mut record = serde_json::Map::new();
    for (k, v) in [
        ("job_type", json!(job_type.as_str())),
        ("status", json!("pending")),
        ("progress", json!(0)),
        ("current_step", Value::Null),
        ("parameters", Value::Object(parameters)),
        ("tags", Value::Object(tags)),
        ("result", Value::Null),
        ("error", Value::Null),
        ("created_by", json!(created_by)),
        ("celery_task_id", Value::Null),
        ("created_at", json!(now)),
        ("updated_at", json!(now)),
        // started_at and completed_at are absent until set (the runner's claim sets
        // started_at with if_not_exists, which a stored null would defeat).
        ("attempts", json!(0)),
        // WebSocket connections following the job (store::live).
        ("listeners", json!({})),
    ] {
        record.insert(k.into(), v);
    }
    record
}

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

/// A job as responses (and events) carry it.
pub const OUT: &[super::validate::Spec] = {
    use super::validate::{Kind as K, Spec};
    const TEXT: K = K::Str {
        min: 0,
        max: 100_000,
    };
    &[
        Spec::req("id", K::Id),
        Spec::req("project_id", K::Id),
        Spec::req("job_type", K::Enum(<JobType as EnumValues>::VALUES)),
        Spec::req("status", K::Enum(<JobStatus as EnumValues>::VALUES)),
        Spec::req(
            "progress",
            K::Int {
                min: Some(0),
                max: Some(100),
            },
        ),
        Spec::opt("current_step", K::Str { min: 0, max: 255 }),
        Spec::req("parameters", K::Obj),
        Spec::req("tags", K::Obj),
        Spec::opt("result", K::Obj),
        Spec::opt("error", TEXT),
        Spec::opt("created_by", K::Id),
        // The queue message id of the last dispatch (name kept for existing clients).
        Spec::opt(
            "celery_task_id",
            K::Str {
                min: 0,
                max: usize::MAX,
            },
        ),
        Spec::req("created_at", K::Ts),
        Spec::opt("started_at", K::Ts),
        Spec::opt("completed_at", K::Ts),
        // completed − started
        Spec::opt("duration_seconds", K::Num { min: 0.0 }),
    ]
};

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
    let mut v = super::shape_of(r, &[OUT]);
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

    /// A value each kind of parameter accepts.
    fn sample(param: Param) -> Value {
        match param {
            Param::Id => json!(super::super::ids::MAX_ID),
            Param::Ids => json!([1, 2]),
            Param::OneOf(values) => json!(values[0]),
            Param::Text { min, .. } => json!("é".repeat(min.max(1))),
            Param::Repo => json!(".github/.."),
            Param::Bool => json!(true),
            Param::Object => json!({"k": [1, null]}),
            Param::Uuid => json!(uuid::Uuid::new_v4().to_string()),
            Param::Objects { min, .. } => json!(vec![json!({}); min]),
        }
    }

    #[test]
    fn the_parameters_schema_states_the_rules_that_validate() {
        for name in <JobType as EnumValues>::VALUES {
            let t = JobType::parse(name).unwrap();
            let rules = parameter_rules(t);
            let schema = serde_json::to_value(parameters_schema(t)).unwrap();
            let object = if t == JobType::Analysis {
                &schema["allOf"][0]
            } else {
                &schema
            };
            let required: Vec<&str> = rules
                .iter()
                .filter(|r| r.required)
                .map(|r| r.name)
                .collect();
            let documented: Vec<&str> = object["required"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
                .unwrap_or_default();
            assert_eq!(documented, required, "{name}");
            for rule in rules {
                assert!(
                    object["properties"][rule.name].is_object(),
                    "{name}.{}",
                    rule.name
                );
            }
            assert_eq!(
                validate_parameters(t, &Map::new()).is_ok(),
                parameters_optional(t),
                "{name}: {{}}"
            );
            // Every parameter at once (an analysis names one source).
            let mut all = Map::new();
            for rule in rules {
                if t == JobType::Analysis && ANALYSIS_SOURCES[1..].contains(&rule.name) {
                    continue;
                }
                all.insert(rule.name.into(), sample(rule.param));
            }
            assert!(validate_parameters(t, &all).is_ok(), "{name}: {all:?}");
            // Optional ones may be null; required ones may not.
            for rule in rules.iter().filter(|r| !ANALYSIS_SOURCES.contains(&r.name)) {
                let mut with_null = all.clone();
                with_null.insert(rule.name.into(), Value::Null);
                assert_eq!(
                    validate_parameters(t, &with_null).is_ok(),
                    !rule.required,
                    "{name}.{} = null",
                    rule.name
                );
            }
        }
    }

    #[test]
    fn statistics_are_exact() {
        let f = |status, d| JobFacts {
            status,
            duration_seconds: d,
        };
        let s = serde_json::to_value(statistics(&[
            f(JobStatus::Completed, Some(10.0)),
            f(JobStatus::Completed, Some(5.0)),
            f(JobStatus::Failed, Some(1.0)),
            f(JobStatus::Running, None),
            f(JobStatus::Pending, None),
            f(JobStatus::Cancelled, None),
        ]))
        .unwrap();
        assert_eq!(s["total"], 6);
        assert_eq!(s["success_rate"], 66.67);
        assert_eq!(s["average_duration_seconds"], 7.5);
        assert_eq!(s["active_jobs"], 2);
        assert_eq!(s["by_status"]["cancelled"], 1);
        let empty = serde_json::to_value(statistics(&[])).unwrap();
        assert!(empty["success_rate"].is_null() && empty["average_duration_seconds"].is_null());
        assert_eq!(empty["by_status"].as_object().unwrap().len(), 5);
    }
}
