//! Research tasks (API.md §5): fields, status rules, due-date windows and statistics.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::validate::{DefaultValue as D, Kind as K, Spec, RECORD_IDS, TIMESTAMPS};
use super::Timestamp;

pub const STATUSES: &[&str] = &[
    "pending",
    "in_progress",
    "blocked",
    "completed",
    "cancelled",
];
const TEXT: K = K::Str {
    min: 0,
    max: 100_000,
};

/// Create fields (links included), in response order.
pub const CREATE_FIELDS: &[Spec] = &[
    Spec::req("title", K::Str { min: 1, max: 255 }),
    Spec::opt("description", TEXT),
    Spec::or("status", K::Enum(STATUSES), D::Str("pending")),
    Spec::opt("technology_id", K::Id),
    Spec::opt("repository_id", K::Id),
    Spec::opt("user_notes", TEXT),
    Spec::opt("findings", TEXT),
    Spec::opt("assigned_to", K::Str { min: 0, max: 255 }),
    Spec::opt("due_date", K::Ts),
    Spec::opt(
        "estimated_hours",
        K::Int {
            min: Some(0),
            max: None,
        },
    ),
];

/// Update fields (links are immutable).
pub const UPDATE_FIELDS: &[Spec] = &[
    Spec::req("title", K::Str { min: 1, max: 255 }),
    Spec::opt("description", TEXT),
    Spec::or("status", K::Enum(STATUSES), D::Str("pending")),
    Spec::opt("user_notes", TEXT),
    Spec::opt("findings", TEXT),
    Spec::opt("assigned_to", K::Str { min: 0, max: 255 }),
    Spec::opt("due_date", K::Ts),
    Spec::or(
        "progress_percentage",
        K::Int {
            min: Some(0),
            max: Some(100),
        },
        D::Int(0),
    ),
    Spec::opt(
        "estimated_hours",
        K::Int {
            min: Some(0),
            max: None,
        },
    ),
    Spec::opt(
        "actual_hours",
        K::Int {
            min: Some(0),
            max: None,
        },
    ),
];

/// A document of a task (API.md §19).
pub const DOCUMENT: &[Spec] = &[
    Spec::req("id", K::Id),
    Spec::req("filename", K::Str { min: 0, max: 255 }),
    // `<uuid><ext>`
    Spec::req(
        "stored_filename",
        K::Str {
            min: 1,
            max: usize::MAX,
        },
    ),
    // S3 key `research-tasks/<task_id>/<stored_filename>`.
    Spec::req(
        "file_path",
        K::Str {
            min: 1,
            max: usize::MAX,
        },
    ),
    Spec::req(
        "content_type",
        K::Str {
            min: 0,
            max: usize::MAX,
        },
    ),
    Spec::req(
        "size",
        K::Int {
            min: Some(0),
            max: None,
        },
    ),
    Spec::req("uploaded_at", K::Ts),
];

/// What a task carries beyond its create fields.
pub const TASK_STATE: &[Spec] = &[
    Spec::req("uploaded_documents", K::List(DOCUMENT)),
    Spec::opt("completed_at", K::Ts),
    Spec::req(
        "progress_percentage",
        K::Int {
            min: Some(0),
            max: Some(100),
        },
    ),
    Spec::opt(
        "actual_hours",
        K::Int {
            min: Some(0),
            max: None,
        },
    ),
    Spec::opt("metadata_", K::Obj),
];

/// A task as responses (and events) carry it.
pub const OUT: &[&[Spec]] = &[RECORD_IDS, CREATE_FIELDS, TASK_STATE, TIMESTAMPS];

/// A task in the short lists of the statistics.
pub const BRIEF: &[Spec] = &[
    Spec::req("id", K::Id),
    Spec::req("title", K::Str { min: 1, max: 255 }),
    Spec::opt("due_date", K::Ts),
    Spec::req("status", K::Enum(STATUSES)),
];
crate::record_schema!(pub TaskBrief: Response = &[BRIEF]);

/// ResearchTaskStatistics (API.md §5).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResearchTaskStatistics {
    /// Every status as a key.
    #[schema(schema_with = status_counts)]
    pub by_status: Map<String, Value>,
    pub total: i64,
    pub overdue_count: usize,
    pub upcoming_count: usize,
    /// At most 5, due_date ascending.
    #[schema(value_type = Vec<TaskBrief>, max_items = 5)]
    pub overdue_tasks: Vec<Value>,
    /// At most 5, due_date ascending.
    #[schema(value_type = Vec<TaskBrief>, max_items = 5)]
    pub upcoming_tasks: Vec<Value>,
}

fn status_counts() -> utoipa::openapi::schema::Object {
    super::schema::counts(STATUSES)
}

fn text<'a>(r: &'a Map<String, Value>, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

/// After any change: completed without completed_at gets `now`; other statuses clear it.
pub fn settle_completion(r: &mut Map<String, Value>, now: &Timestamp) {
    if text(r, "status") == "completed" {
        if r.get("completed_at").is_none_or(Value::is_null) {
            r.insert("completed_at".into(), Value::from(now.to_rfc3339()));
        }
    } else {
        r.insert("completed_at".into(), Value::Null);
    }
}

fn due(r: &Map<String, Value>) -> Option<Timestamp> {
    r.get("due_date")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse)
}

/// due_date < now, pending|in_progress|blocked.
pub fn is_overdue(r: &Map<String, Value>, now: &Timestamp) -> bool {
    matches!(text(r, "status"), "pending" | "in_progress" | "blocked")
        && due(r).is_some_and(|d| d < *now)
}

/// due_date in [now, now + days], pending|in_progress.
pub fn is_upcoming(r: &Map<String, Value>, now: &Timestamp, days: i64) -> bool {
    matches!(text(r, "status"), "pending" | "in_progress")
        && due(r).is_some_and(|d| d >= *now && d <= now.plus_secs(days * 86_400))
}

/// Sorts by due_date ascending (ties: id).
pub fn by_due_date(tasks: &mut [&Map<String, Value>]) {
    tasks.sort_by_key(|r| (due(r), r.get("id").and_then(Value::as_u64)));
}

/// ResearchTaskStatistics over `tasks` (already filtered).
pub fn statistics(tasks: &[Map<String, Value>], now: &Timestamp) -> ResearchTaskStatistics {
    let mut by_status = Map::new();
    for s in STATUSES {
        let n = tasks.iter().filter(|t| text(t, "status") == *s).count();
        by_status.insert((*s).into(), Value::from(n));
    }
    let brief = |t: &&Map<String, Value>| super::shape_of(t, &[BRIEF]);
    let mut overdue: Vec<_> = tasks.iter().filter(|t| is_overdue(t, now)).collect();
    let mut upcoming: Vec<_> = tasks.iter().filter(|t| is_upcoming(t, now, 7)).collect();
    by_due_date(&mut overdue);
    by_due_date(&mut upcoming);
    ResearchTaskStatistics {
        by_status,
        total: tasks.len() as i64,
        overdue_count: overdue.len(),
        upcoming_count: upcoming.len(),
        overdue_tasks: overdue.iter().take(5).map(brief).collect(),
        upcoming_tasks: upcoming.iter().take(5).map(brief).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(status: &str, due: Option<&str>) -> Map<String, Value> {
        json!({"id": 1, "title": "t", "status": status, "due_date": due})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn completion_rules() {
        let now = Timestamp::parse("2026-11-26T10:00:00Z").unwrap();
        let mut t = task("completed", None);
        settle_completion(&mut t, &now);
        assert_eq!(t["completed_at"], "2026-11-26T10:00:00.000Z");
        let later = now.plus_secs(60);
        settle_completion(&mut t, &later);
        assert_eq!(
            t["completed_at"], "2026-11-26T10:00:00.000Z",
            "kept once set"
        );
        t.insert("status".into(), "in_progress".into());
        settle_completion(&mut t, &later);
        assert!(t["completed_at"].is_null());
    }

    #[test]
    fn windows_and_statistics() {
        let now = Timestamp::parse("2026-11-26T10:00:00Z").unwrap();
        let tasks = vec![
            task("pending", Some("2026-11-25T10:00:00.000Z")),
            task("blocked", Some("2026-11-20T10:00:00.000Z")),
            task("completed", Some("2026-11-20T10:00:00.000Z")),
            task("in_progress", Some("2026-11-30T10:00:00.000Z")),
            task("blocked", Some("2026-11-30T10:00:00.000Z")),
            task("pending", Some("2026-12-30T10:00:00.000Z")),
            task("pending", None),
        ];
        let s = serde_json::to_value(statistics(&tasks, &now)).unwrap();
        assert_eq!(s["total"], 7);
        assert_eq!(s["overdue_count"], 2);
        assert_eq!(s["upcoming_count"], 1);
        assert_eq!(s["by_status"]["pending"], 3);
        assert_eq!(s["by_status"]["cancelled"], 0);
        assert_eq!(
            s["overdue_tasks"][0]["due_date"],
            "2026-11-20T10:00:00.000Z"
        );
        assert!(is_upcoming(&tasks[5], &now, 90));
    }
}
