//! The kinds of project records and how each is kept (see `records::RecordType`).

use super::records::RecordType;

pub const TECHNOLOGIES: RecordType = RecordType {
    prefix: "TECH",
    unique_field: Some("title"),
    counter: "technologies",
    breakdowns: &["status", "domain"],
};

/// Repositories: unique full_name (ignoring case), one counter.
pub const REPOSITORIES: RecordType = RecordType {
    prefix: "REPO",
    unique_field: Some("full_name"),
    counter: "repositories",
    breakdowns: &[],
};

/// Research tasks: counters by status.
pub const RESEARCH_TASKS: RecordType = RecordType {
    prefix: "TASK",
    unique_field: None,
    counter: "research_tasks",
    breakdowns: &["status"],
};

/// Jobs: counters by status (every transition moves one).
pub const JOBS: RecordType = RecordType {
    prefix: "JOB",
    unique_field: None,
    counter: "jobs",
    breakdowns: &["status"],
};
