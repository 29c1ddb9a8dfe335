//! `/api/v1/dashboard` (API.md §6): a project at a glance in two reads — the credential and
//! project check, and one Query that brings the STATS counters and the records the short
//! lists are drawn from.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiResult;
use crate::api::extract::QueryMap;
use crate::api::openapi::Problem;
use crate::api::scope::ProjectScope;
use crate::api::AppState;
use crate::domain::project::breakdown;
use crate::domain::research::statistics;
use crate::domain::technology::{DOMAINS, STATUSES};
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

fn pick(r: &Record, fields: &[&str]) -> Value {
    super::shape(r, fields)
}

/// Most recently updated first.
fn recent(
    records: &[(String, Record)],
    which: &RecordType,
    limit: usize,
    fields: &[&str],
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
    params(("project_id" = Option<i64>, Query)),
    responses((status = 200, description = "repositories, technologies, research_tasks, knowledge_base"), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn dashboard_stats(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<Value>> {
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
    research["total"] = Value::from(c.get("research_tasks"));
    for s in crate::domain::research::STATUSES {
        research["by_status"][*s] = Value::from(c.get(&breakdown("research_tasks", "status", s)));
    }
    Ok(Json(json!({
        "repositories": {
            "total": c.get("repositories"),
            "recently_synced": synced.iter().take(5).map(|r| pick(r, &["id", "full_name", "last_synced_at"])).collect::<Vec<_>>(),
        },
        "technologies": {
            "total": c.get("technologies"),
            "by_status": by("status", STATUSES),
            "by_domain": by("domain", DOMAINS),
            "high_priority": high.iter().take(5).map(|r| pick(r, &["id", "title", "priority", "status"])).collect::<Vec<_>>(),
        },
        "research_tasks": research,
        "knowledge_base": {
            "total_documents": c.get("knowledge_entries"),
            "total_chunks": c.get("knowledge_chunks"),
            "status": "available",
        },
    })))
}

/// The most recently updated repositories, technologies and tasks.
#[utoipa::path(get, path = "/api/v1/dashboard/recent-activity", tag = "dashboard", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, minimum = 1, maximum = 100), ("project_id" = Option<i64>, Query)),
    responses((status = 200, description = "recent_repositories, recent_technologies, recent_tasks"), (status = 422, body = Problem)))]
async fn recent_activity(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Value>> {
    let mut f = query.fields();
    let limit = f.int_or("limit", 10, Some(1), Some(100)) as usize;
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let (records, _) = state.store.dashboard_records(scope.id()).await?;
    Ok(Json(json!({
        "recent_repositories": recent(&records, &REPOSITORIES, limit, &["id", "full_name", "updated_at"]),
        "recent_technologies": recent(&records, &TECHNOLOGIES, limit, &["id", "title", "status", "updated_at"]),
        "recent_tasks": recent(&records, &RESEARCH_TASKS, limit, &["id", "title", "status", "updated_at"]),
    })))
}
