//! `/api/v1/dashboard` (API.md §6): a project at a glance in two reads — the credential and
//! project check, and one Query that brings the STATS counters and the records the short
//! lists are drawn from.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiResult;
use crate::api::extract::QueryMap;
use crate::api::scope::ProjectScope;
use crate::api::AppState;
use crate::domain::project::breakdown;
use crate::domain::research::{statistics, ResearchTaskStatistics};
use crate::domain::technology::{DOMAINS, STATUSES};
use crate::domain::validate::{DefaultValue, Kind, Spec};
use crate::domain::Timestamp;
use crate::store::kinds::{REPOSITORIES, RESEARCH_TASKS, TECHNOLOGIES};
use crate::store::projects::counters_of;
use crate::store::records::{Record, RecordType};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dashboard_stats))
        .routes(routes!(recent_activity))
}

fn text(r: &Record, k: &str) -> String {
    r.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn num(r: &Record, k: &str) -> i64 {
    r.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn of<'a>(records: &'a [(String, Record)], which: &RecordType) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|(k, _)| k == which.prefix)
        .map(|(_, r)| r)
        .collect()
}

fn pick(r: &Record, fields: &[Spec]) -> Value {
    crate::domain::shape_of(r, &[fields])
}

const ID: Spec = Spec::req("id", Kind::Id);
const FULL_NAME: Spec = Spec::req("full_name", Kind::Str { min: 3, max: 140 });
const TITLE: Spec = Spec::req("title", Kind::Str { min: 1, max: 255 });
const UPDATED_AT: Spec = Spec::req("updated_at", Kind::Ts);
const SYNCED: &[Spec] = &[ID, FULL_NAME, Spec::req("last_synced_at", Kind::Ts)];
const HIGH_PRIORITY: &[Spec] = &[
    ID,
    TITLE,
    Spec::req(
        "priority",
        Kind::Int {
            min: Some(4),
            max: Some(5),
        },
    ),
    Spec::req("status", Kind::Enum(STATUSES)),
];
const RECENT_REPOSITORY: &[Spec] = &[ID, FULL_NAME, UPDATED_AT];
const RECENT_TECHNOLOGY: &[Spec] = &[
    ID,
    TITLE,
    Spec::req("status", Kind::Enum(STATUSES)),
    UPDATED_AT,
];
const RECENT_TASK: &[Spec] = &[
    ID,
    TITLE,
    Spec::req("status", Kind::Enum(crate::domain::research::STATUSES)),
    UPDATED_AT,
];
crate::record_schema!(pub SyncedRepository: Response = &[SYNCED]);
crate::record_schema!(pub HighPriorityTechnology: Response = &[HIGH_PRIORITY]);
crate::record_schema!(pub RecentRepository: Response = &[RECENT_REPOSITORY]);
crate::record_schema!(pub RecentTechnology: Response = &[RECENT_TECHNOLOGY]);
crate::record_schema!(pub RecentTask: Response = &[RECENT_TASK]);

/// A project at a glance (API.md §6).
#[derive(Serialize, ToSchema)]
pub struct DashboardStats {
    repositories: RepositoryCounts,
    technologies: TechnologyCounts,
    research_tasks: ResearchTaskStatistics,
    knowledge_base: KnowledgeBase,
}

#[derive(Serialize, ToSchema)]
pub struct RepositoryCounts {
    total: i64,
    /// At most 5, newest sync first.
    #[schema(value_type = Vec<SyncedRepository>, max_items = 5)]
    recently_synced: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct TechnologyCounts {
    total: i64,
    /// Every status as a key.
    #[schema(schema_with = status_counts)]
    by_status: Map<String, Value>,
    /// Every domain as a key.
    #[schema(schema_with = domain_counts)]
    by_domain: Map<String, Value>,
    /// At most 5 with priority ≥ 4, by priority then relevance.
    #[schema(value_type = Vec<HighPriorityTechnology>, max_items = 5)]
    high_priority: Vec<Value>,
}

fn status_counts() -> utoipa::openapi::schema::Object {
    crate::domain::schema::counts(STATUSES)
}

fn domain_counts() -> utoipa::openapi::schema::Object {
    crate::domain::schema::counts(DOMAINS)
}

#[derive(Serialize, ToSchema)]
pub struct KnowledgeBase {
    total_documents: i64,
    total_chunks: i64,
    #[schema(pattern = "^available$")]
    status: &'static str,
}

/// The most recently updated items, each list at most `limit` long.
#[derive(Serialize, ToSchema)]
pub struct RecentActivity {
    #[schema(value_type = Vec<RecentRepository>)]
    recent_repositories: Vec<Value>,
    #[schema(value_type = Vec<RecentTechnology>)]
    recent_technologies: Vec<Value>,
    #[schema(value_type = Vec<RecentTask>)]
    recent_tasks: Vec<Value>,
}

const LIMIT: &[Spec] = &[Spec::or(
    "limit",
    Kind::Int {
        min: Some(1),
        max: Some(100),
    },
    DefaultValue::Int(10),
)];
crate::query_params!(pub RecentQuery [LIMIT]);

/// Most recently updated first.
fn recent(
    records: &[(String, Record)],
    which: &RecordType,
    limit: usize,
    fields: &[Spec],
) -> Vec<Value> {
    let mut of_kind = of(records, which);
    of_kind.sort_by_key(|r| std::cmp::Reverse((text(r, "updated_at"), num(r, "id"))));
    of_kind
        .into_iter()
        .take(limit)
        .map(|r| pick(r, fields))
        .collect()
}

/// Counts, breakdowns and short lists for the project.
#[utoipa::path(get, path = "/api/v1/dashboard/stats", tag = "dashboard", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 200, body = DashboardStats)))]
async fn dashboard_stats(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<DashboardStats>> {
    let scope = scope.resolve(&state, None, &[]).await?;
    let (records, stats) = state.store.dashboard_records(scope.id()).await?;
    let c = counters_of(stats);
    let by = |field: &str, values: &[&str]| {
        values
            .iter()
            .map(|v| {
                (
                    (*v).to_string(),
                    Value::from(c.get(&breakdown("technologies", field, v))),
                )
            })
            .collect::<Map<String, Value>>()
    };
    let mut synced: Vec<&Record> = of(&records, &REPOSITORIES)
        .into_iter()
        .filter(|r| !text(r, "last_synced_at").is_empty())
        .collect();
    synced.sort_by_key(|r| std::cmp::Reverse(text(r, "last_synced_at")));
    let mut high: Vec<&Record> = of(&records, &TECHNOLOGIES)
        .into_iter()
        .filter(|r| num(r, "priority") >= 4)
        .collect();
    high.sort_by_key(|r| std::cmp::Reverse((num(r, "priority"), num(r, "relevance_score"))));
    let tasks: Vec<Record> = of(&records, &RESEARCH_TASKS).into_iter().cloned().collect();
    let mut research = statistics(&tasks, &Timestamp::now());
    // Totals come from the counters kept with every write.
    research.total = c.get("research_tasks");
    for s in crate::domain::research::STATUSES {
        research.by_status.insert(
            (*s).into(),
            Value::from(c.get(&breakdown("research_tasks", "status", s))),
        );
    }
    Ok(Json(DashboardStats {
        repositories: RepositoryCounts {
            total: c.get("repositories"),
            recently_synced: synced.iter().take(5).map(|r| pick(r, SYNCED)).collect(),
        },
        technologies: TechnologyCounts {
            total: c.get("technologies"),
            by_status: by("status", STATUSES),
            by_domain: by("domain", DOMAINS),
            high_priority: high
                .iter()
                .take(5)
                .map(|r| pick(r, HIGH_PRIORITY))
                .collect(),
        },
        research_tasks: research,
        knowledge_base: KnowledgeBase {
            total_documents: c.get("knowledge_entries"),
            total_chunks: c.get("knowledge_chunks"),
            status: "available",
        },
    }))
}

/// The most recently updated repositories, technologies and tasks.
#[utoipa::path(get, path = "/api/v1/dashboard/recent-activity", tag = "dashboard", security(("bearer" = [])),
    params(RecentQuery, ProjectScope),
    responses((status = 200, body = RecentActivity, description = "Each list updated_at desc")))]
async fn recent_activity(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<RecentActivity>> {
    let mut f = query.fields();
    let q = f.record(LIMIT, true);
    f.finish()?;
    let limit = q["limit"].as_u64().unwrap_or(10) as usize;
    let scope = scope.resolve(&state, None, &[]).await?;
    let (records, _) = state.store.dashboard_records(scope.id()).await?;
    Ok(Json(RecentActivity {
        recent_repositories: recent(&records, &REPOSITORIES, limit, RECENT_REPOSITORY),
        recent_technologies: recent(&records, &TECHNOLOGIES, limit, RECENT_TECHNOLOGY),
        recent_tasks: recent(&records, &RESEARCH_TASKS, limit, RECENT_TASK),
    }))
}
