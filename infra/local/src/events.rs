//! EventBridge locally (API.md §0.9): the dev server fires each scheduled rule of template.yaml
//! on the template's own timetable (provision.py writes `SCHEDULE_<RULE>=<expression>` into
//! `.dev/env`, e.g. `SCHEDULE_MAINTENANCE='rate(5 minutes)'`), and once on
//! `POST /_local/events/<rule>`, answering `{"rule", "fired_at", "result"}` after the target
//! returned. A rule is named after its function without `worker-` (`maintenance` →
//! `worker-maintenance`); a rule this build has no target for is 404.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use commandcenter::api::ApiError;
use commandcenter::context::{self, RequestContext};
use commandcenter::domain::Timestamp;
use commandcenter::jobs::JobState;
use serde_json::{json, Value};

/// The rules this build has a target for.
pub const RULES: &[&str] = &["maintenance", "nightly-sync", "schedule-dispatcher"];

/// Runs the target of `rule` once, as EventBridge invoking its function would.
pub async fn fire(state: &JobState, rule: &str) -> Option<Result<Value, String>> {
    match rule {
        "maintenance" => Some(
            commandcenter::jobs::maintenance::run(state)
                .await
                .map(|report| json!(report))
                .map_err(|e| e.to_string()),
        ),
        "nightly-sync" => Some(
            commandcenter::jobs::nightly::run(state)
                .await
                .map(|report| json!(report))
                .map_err(|e| e.to_string()),
        ),
        "schedule-dispatcher" => Some(
            Box::pin(commandcenter::jobs::dispatcher::run(state))
                .await
                .map(|report| json!(report))
                .map_err(|e| e.to_string()),
        ),
        _ => None,
    }
}

/// The UTC (hour, minute) of a daily EventBridge `cron(M H * * ? *)` expression.
pub fn daily_cron(expression: &str) -> Option<(u64, u64)> {
    let inner = expression.trim().strip_prefix("cron(")?.strip_suffix(')')?;
    let f: Vec<&str> = inner.split_whitespace().collect();
    if f.len() != 6 || f[2..] != ["*", "*", "?", "*"] {
        return None;
    }
    let (m, h) = (f[0].parse::<u64>().ok()?, f[1].parse::<u64>().ok()?);
    (m < 60 && h < 24).then_some((h, m))
}

/// Seconds from `now` (Unix seconds) to the next `hh:mm` UTC.
pub fn secs_until_daily(now: u64, (h, m): (u64, u64)) -> u64 {
    let at = h * 3600 + m * 60;
    let today = now % 86_400;
    if at > today {
        at - today
    } else {
        86_400 - today + at
    }
}

/// The period of an EventBridge `rate(<n> minute|minutes|hour|hours|day|days)` expression.
/// (`cron(…)` expressions have no local timetable yet; they fire on request only.)
pub fn rate_period(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n * secs))
}

/// The timetables in the environment: `SCHEDULE_<RULE>` → (rule, expression).
pub fn schedules_from(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vars
        .filter_map(|(k, v)| {
            let rule = k
                .strip_prefix("SCHEDULE_")?
                .to_lowercase()
                .replace('_', "-");
            Some((rule, v))
        })
        .collect();
    out.sort();
    out
}

/// Fires every rule with a target on its timetable: first a few seconds after start (so a
/// restarted dev server picks up what a killed one left behind), then every period.
pub fn spawn_timetables(state: JobState, schedules: Vec<(String, String)>) {
    for (rule, expression) in schedules {
        if !RULES.contains(&rule.as_str()) {
            tracing::warn!(
                rule,
                expression,
                "scheduled rule without a local target: fires nowhere"
            );
            continue;
        }
        if let Some(at) = daily_cron(&expression) {
            tracing::info!(
                rule,
                expression,
                "firing daily at {:02}:{:02} UTC",
                at.0,
                at.1
            );
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    tokio::time::sleep(Duration::from_secs(secs_until_daily(now, at))).await;
                    match fire(&state, &rule).await {
                        Some(Ok(result)) => tracing::info!(rule, %result, "scheduled rule fired"),
                        Some(Err(e)) => tracing::warn!(rule, error = %e, "scheduled rule failed"),
                        None => {}
                    }
                }
            });
            continue;
        }
        let Some(period) = rate_period(&expression) else {
            tracing::warn!(
                rule,
                expression,
                "schedule expression not run locally (only rate(...) and daily cron(M H * * ? *))"
            );
            continue;
        };
        tracing::info!(rule, expression, "firing on the template's timetable");
        let state = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match fire(&state, &rule).await {
                    Some(Ok(result)) => tracing::info!(rule, %result, "scheduled rule fired"),
                    Some(Err(e)) => tracing::warn!(rule, error = %e, "scheduled rule failed"),
                    None => {}
                }
            }
        });
    }
}

/// `POST /_local/events/{rule}`.
pub fn router(state: JobState) -> Router {
    Router::new()
        .route("/_local/events/{rule}", post(fire_once))
        .with_state(state)
}

async fn fire_once(State(state): State<JobState>, Path(rule): Path<String>) -> Response {
    // Its own request id, as API responses carry (in the problem document and X-Request-ID).
    let request_id = uuid::Uuid::new_v4().to_string();
    let ctx = std::sync::Arc::new(RequestContext::new(request_id.clone()));
    let started = std::time::Instant::now();
    let mut res = context::scope(ctx.clone(), fire_and_answer(state, rule)).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    // The AWS calls the target made, as API responses report them.
    let (calls, aws) = ctx.aws_calls();
    let timing = format!(
        "aws;desc=\"{calls} calls\";dur={:.1}, total;dur={:.1}",
        aws.as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Ok(v) = HeaderValue::from_str(&timing) {
        res.headers_mut().insert("server-timing", v);
    }
    res
}

async fn fire_and_answer(state: JobState, rule: String) -> Response {
    let fired_at = Timestamp::now().to_rfc3339();
    match fire(&state, &rule).await {
        Some(Ok(result)) => (
            StatusCode::OK,
            Json(json!({"rule": rule, "fired_at": fired_at, "result": result})),
        )
            .into_response(),
        Some(Err(e)) => ApiError::internal(format!("rule {rule}: {e}")).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "rule_not_found",
            format!(
                "No EventBridge rule '{rule}' to fire (this dev server fires: {})",
                RULES.join(", ")
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_cron_expressions() {
        assert_eq!(daily_cron("cron(0 2 * * ? *)"), Some((2, 0)));
        assert_eq!(daily_cron("cron(0 2 * * MON *)"), None);
        assert_eq!(daily_cron("cron(61 2 * * ? *)"), None);
        // 01:00 UTC -> 1 h to 02:00; 03:00 -> 23 h.
        assert_eq!(secs_until_daily(3600, (2, 0)), 3600);
        assert_eq!(secs_until_daily(3 * 3600, (2, 0)), 23 * 3600);
        assert_eq!(secs_until_daily(2 * 3600, (2, 0)), 86_400);
    }

    #[test]
    fn rate_expressions() {
        assert_eq!(
            rate_period("rate(5 minutes)"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(rate_period("rate(1 hour)"), Some(Duration::from_secs(3600)));
        assert_eq!(
            rate_period("rate(2 days)"),
            Some(Duration::from_secs(172_800))
        );
        assert_eq!(rate_period("rate(0 minutes)"), None);
        assert_eq!(rate_period("cron(0 2 * * ? *)"), None);
        assert_eq!(rate_period("rate(5 fortnights)"), None);
    }

    #[test]
    fn schedules_are_read_from_the_environment() {
        let vars = [
            ("SCHEDULE_MAINTENANCE", "rate(5 minutes)"),
            ("SCHEDULE_NIGHTLY_SYNC", "cron(0 2 * * ? *)"),
            ("TABLE_NAME", "t"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            schedules_from(vars.into_iter()),
            vec![
                ("maintenance".to_string(), "rate(5 minutes)".to_string()),
                ("nightly-sync".to_string(), "cron(0 2 * * ? *)".to_string()),
            ]
        );
    }
}
