//! `/api/v1/rate-limits` (API.md §12): the GitHub rate limits of the caller's project's token
//! (its github_token, else the server's), read with GitHub's `GET /rate_limit` (free of
//! points). Collection operations: the project is X-Project-ID, query project_id or the
//! caller's only project.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::github::GitHubFailures;
use crate::api::error::{ApiError, ApiResult};
use crate::api::scope::{ProjectAccess, ProjectScope};
use crate::api::AppState;
use crate::domain::Timestamp;
use crate::github::limits::{rate_limits, RateLimitHealth, RateLimitStatus, RateLimits};
use crate::store::github::RateReading;
use crate::store::StoreError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rate_limit_status))
        .routes(routes!(track_rate_limits))
        .routes(routes!(rate_limit_health))
}

/// The project (membership checked, one BatchGetItem) and its token's limits (one GitHub
/// request; KMS only for a project token this process has not opened yet).
async fn limits(
    state: &AppState,
    scope: &ProjectScope,
) -> ApiResult<(ProjectAccess, crate::github::Token, RateLimits)> {
    let access = scope.resolve(state, None, &[]).await?;
    let token = state
        .github
        .token_for(
            access.id(),
            None,
            access.project.github_token_enc.as_deref(),
        )
        .await?;
    let limits = rate_limits(&state.github, &token).await?;
    Ok((access, token, limits))
}

/// The token's core, search and GraphQL windows.
#[utoipa::path(get, path = "/api/v1/rate-limits/status", tag = "rate-limits", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 200, body = RateLimitStatus, description = "percentage_used = used / limit × 100, two decimals (0 when the limit is 0)"),
        GitHubFailures))]
async fn rate_limit_status(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<RateLimitStatus>> {
    let (_, _, rate_limits) = limits(&state, &scope).await?;
    Ok(Json(RateLimitStatus {
        status: "success".into(),
        rate_limits,
    }))
}

/// What tracking answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tracked {
    /// Always `success`.
    pub status: String,
    /// `Rate limit status tracked successfully`
    pub message: String,
}

/// Store the token's current windows in the project (one reading per resource, kept a week).
#[utoipa::path(post, path = "/api/v1/rate-limits/track", tag = "rate-limits", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 201, body = Tracked, description = "One reading per resource stored: project_id, resource_type, limit, remaining, reset_at, token_hash (SHA-256 hex; null without a token), checked_at"),
        GitHubFailures))]
async fn track_rate_limits(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<(StatusCode, Json<Tracked>)> {
    let (access, token, limits) = limits(&state, &scope).await?;
    let checked_at = Timestamp::now();
    let readings: Vec<RateReading> = limits
        .each()
        .into_iter()
        .map(|(name, l)| RateReading {
            resource_type: name.to_string(),
            limit: l.limit,
            remaining: l.remaining,
            reset_at: l.reset,
            token_hash: token.hash().map(str::to_string),
            checked_at,
        })
        .collect();
    // One transaction, which also carries this request's rate charge. API.md §12: a store
    // failure is a 500 (a full write window stays a 429, a deleted project its 404).
    match state
        .store
        .record_rate_readings(access.id(), &readings)
        .await
    {
        Ok(()) => {}
        Err(e @ (StoreError::RateLimited | StoreError::ProjectGone(_))) => return Err(e.into()),
        Err(e) => return Err(ApiError::internal(e)),
    }
    Ok((
        StatusCode::CREATED,
        Json(Tracked {
            status: "success".into(),
            message: "Rate limit status tracked successfully".into(),
        }),
    ))
}

/// Whether the token has more than 100 core requests left.
#[utoipa::path(get, path = "/api/v1/rate-limits/health", tag = "rate-limits", security(("bearer" = [])),
    params(ProjectScope),
    responses((status = 200, body = RateLimitHealth, description = "healthy = more than 100 core requests remain; percentage_available = remaining / limit × 100, two decimals"),
        GitHubFailures))]
async fn rate_limit_health(
    State(state): State<AppState>,
    scope: ProjectScope,
) -> ApiResult<Json<RateLimitHealth>> {
    let (_, _, limits) = limits(&state, &scope).await?;
    Ok(Json(RateLimitHealth::from(&limits)))
}
