//! `/`, health, the OpenAPI document and the docs page (API.md §17). CORS preflights for every
//! path are answered by the edge middleware before routing (the template sends
//! `OPTIONS /{proxy+}` to this function).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Auth;
use crate::api::openapi::DOCS_HTML;
use crate::api::AppState;
use crate::domain::Timestamp;

pub const APP_NAME: &str = "Command Center API";
pub const APP_VERSION: &str = "1.0.0";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(health))
        .routes(routes!(health_detailed))
        .routes(routes!(openapi_json))
        .routes(routes!(docs))
}

#[derive(Serialize, ToSchema)]
pub struct RootInfo {
    app: String,
    version: String,
    docs: String,
    health: String,
    websocket_url: Option<String>,
}

/// Service information.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = RootInfo)))]
async fn root(State(state): State<AppState>) -> Json<RootInfo> {
    Json(RootInfo {
        app: APP_NAME.into(),
        version: APP_VERSION.into(),
        docs: "/docs".into(),
        health: "/health".into(),
        websocket_url: state.config.websocket_url.clone(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: String,
    app: String,
    version: String,
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "healthy".into(),
        app: APP_NAME.into(),
        version: APP_VERSION.into(),
    })
}

const COMPONENT_TIMEOUT: Duration = Duration::from_secs(2);

crate::string_enum!(
    /// A component's or the whole service's health.
    HealthStatus { Healthy = "healthy", Degraded = "degraded", Unhealthy = "unhealthy" }
);

/// One dependency's check: `{status, response_time_ms, timestamp}`, or when unhealthy
/// `{status, error, timestamp}`.
#[derive(Serialize, ToSchema)]
pub struct ComponentHealth {
    status: HealthStatus,
    /// Absent when unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    response_time_ms: Option<f64>,
    /// `<component> unavailable`; only when unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    timestamp: Timestamp,
}

#[derive(Serialize, ToSchema)]
pub struct Components {
    database: ComponentHealth,
    queue: ComponentHealth,
    storage: ComponentHealth,
}

/// Readiness (API.md §17): unhealthy (503) if a component is, healthy if all are, else
/// degraded.
#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    status: HealthStatus,
    #[schema(value_type = String, format = DateTime)]
    timestamp: Timestamp,
    response_time_ms: f64,
    components: Components,
}

/// Times one dependency check: healthy, degraded (slower than 2 s) or unhealthy.
async fn component<F, E>(name: &str, check: F) -> ComponentHealth
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(COMPONENT_TIMEOUT, check).await;
    let ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let (status, response_time_ms, error) = match outcome {
        Ok(Ok(())) => (HealthStatus::Healthy, Some(ms), None),
        Ok(Err(e)) => {
            tracing::warn!(component = name, error = %e, "health check failed");
            (
                HealthStatus::Unhealthy,
                None,
                Some(format!("{name} unavailable")),
            )
        }
        Err(_) => (HealthStatus::Degraded, Some(ms), None),
    };
    ComponentHealth {
        status,
        response_time_ms,
        error,
        timestamp: Timestamp::now(),
    }
}

/// Readiness of DynamoDB, SQS and S3.
#[utoipa::path(get, path = "/health/detailed", tag = "meta", security(("bearer" = [])),
    responses((status = 200, body = HealthReport, description = "healthy or degraded"), (status = 503, body = HealthReport, description = "a component is unhealthy")))]
async fn health_detailed(State(state): State<AppState>, _auth: Auth) -> Response {
    let started = Instant::now();
    let aws = &state.aws;
    let table = state.config.table_name.clone();
    let bucket = state.config.bucket_name.clone();
    let (db, queue, storage) = tokio::join!(
        component("database", async {
            aws.dynamodb
                .describe_table()
                .table_name(&table)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        }),
        component("queue", async {
            // A job queue of the stack when configured, else the service itself.
            match state.config.queue_urls.values().next() {
                Some(url) => aws
                    .sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(
                        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                    )
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string()),
                None => aws
                    .sqs
                    .list_queues()
                    .max_results(1)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string()),
            }
        }),
        component("storage", async {
            aws.s3
                .head_bucket()
                .bucket(&bucket)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())
        }),
    );
    let statuses = [db.status, queue.status, storage.status];
    let overall = if statuses.contains(&HealthStatus::Unhealthy) {
        HealthStatus::Unhealthy
    } else if statuses.iter().all(|s| *s == HealthStatus::Healthy) {
        HealthStatus::Healthy
    } else {
        HealthStatus::Degraded
    };
    let body = HealthReport {
        status: overall,
        timestamp: Timestamp::now(),
        response_time_ms: (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        components: Components {
            database: db,
            queue,
            storage,
        },
    };
    let status = if overall == HealthStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, body = Object, content_type = "application/json", description = "OpenAPI 3.1 document")))]
async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::api::openapi::DOCUMENT,
    )
        .into_response()
}

/// Swagger UI for `/openapi.json`.
#[utoipa::path(get, path = "/docs", tag = "meta", responses((status = 200, body = String, content_type = "text/html", description = "HTML page")))]
async fn docs() -> Html<&'static str> {
    Html(DOCS_HTML)
}
