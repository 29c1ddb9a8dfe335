//! The kinds of project records and how each is kept (see `records::RecordType`).

use super::records::RecordType;

pub const TECHNOLOGIES: RecordType = RecordType {
    prefix: "TECH",
    unique_field: Some("title"),
    counter: "technologies",
    breakdowns: &["status", "domain"],
    sums: &[],
};

/// Repositories: unique full_name (ignoring case), one counter.
pub const REPOSITORIES: RecordType = RecordType {
    prefix: "REPO",
    unique_field: Some("full_name"),
    counter: "repositories",
    breakdowns: &[],
    sums: &[],
};

/// Research tasks: counters by status.
pub const RESEARCH_TASKS: RecordType = RecordType {
    prefix: "TASK",
    unique_field: None,
    counter: "research_tasks",
    breakdowns: &["status"],
    sums: &[],
};

/// Jobs: counters by status (every transition moves one).
pub const JOBS: RecordType = RecordType {
    prefix: "JOB",
    unique_field: None,
    counter: "jobs",
    breakdowns: &["status"],
    sums: &[],
};

/// Webhook configs: unique per project by (repository_id, webhook_url) — the hidden field
/// `target_key` holds both — and counted.
pub const WEBHOOK_CONFIGS: RecordType = RecordType {
    prefix: "WHCFG",
    unique_field: Some("target_key"),
    counter: "webhook_configs",
    breakdowns: &[],
    sums: &[],
};

/// Webhook deliveries: unique by origin (an event × config, a job, or a manual request — the
/// fan-out's idempotency), counted by status and by config × status (`config_status`), so
/// GET /webhooks/statistics is one read.
pub const WEBHOOK_DELIVERIES: RecordType = RecordType {
    prefix: "WHDEL",
    unique_field: Some("origin"),
    counter: "webhook_deliveries",
    breakdowns: &["status", "config_status"],
    sums: &[],
};

/// Schedules: counted, by state (`enabled`/`disabled`, a hidden field kept with `enabled`) and
/// by frequency; their run, success and failure counts are summed into STATS too, so
/// GET /schedules/statistics/summary is one read.
pub const SCHEDULES: RecordType = RecordType {
    prefix: "SCHED",
    unique_field: None,
    counter: "schedules",
    breakdowns: &["state", "frequency"],
    sums: &[
        ("run_count", SCHEDULE_RUNS),
        ("success_count", SCHEDULE_SUCCESSES),
        ("failure_count", SCHEDULE_FAILURES),
    ],
};
pub const SCHEDULE_RUNS: &str = "schedules.runs";
pub const SCHEDULE_SUCCESSES: &str = "schedules.successes";
pub const SCHEDULE_FAILURES: &str = "schedules.failures";

/// Analyses (API.md §20): counted, with their dependency, technology, gap and outdated counts
/// summed into STATS (hidden integer fields kept on the record), so
/// GET /projects/analysis/statistics is one read. Distinct projects are counted through
/// `ANLYPROJ#` markers (`store::analyses`).
pub const ANALYSES: RecordType = RecordType {
    prefix: "ANLY",
    unique_field: None,
    counter: "analyses",
    breakdowns: &[],
    sums: &[
        ("dependency_count", "analyses.dependencies"),
        ("technology_count", "analyses.technologies"),
        ("gap_count", "analyses.gaps"),
        ("critical_gap_count", "analyses.gaps.critical"),
        ("high_gap_count", "analyses.gaps.high"),
        ("outdated_count", "analyses.outdated"),
    ],
};
/// Distinct analyzed projects (`owner/name` or archive hash).
pub const ANALYSIS_PROJECTS: &str = "analyses.projects";
