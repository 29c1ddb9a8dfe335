//! `/`, health, the OpenAPI document and the docs page (API.md §17). CORS preflights for every
//! path are answered by the edge middleware before routing (the template sends
//! `OPTIONS /{proxy+}` to this function).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Auth;
use crate::api::openapi::{spec, Problem, DOCS_HTML};
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

/// Times one dependency check: healthy, degraded (slower than 2 s) or unhealthy.
async fn component<F, E>(name: &str, check: F) -> (String, Value)
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(COMPONENT_TIMEOUT, check).await;
    let ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let now = Timestamp::now().to_rfc3339();
    let value = match outcome {
        Ok(Ok(())) => json!({"status": "healthy", "response_time_ms": ms, "timestamp": now}),
        Ok(Err(e)) => {
            tracing::warn!(component = name, error = %e, "health check failed");
            json!({"status": "unhealthy", "error": format!("{name} unavailable"), "timestamp": now})
        }
        Err(_) => json!({"status": "degraded", "response_time_ms": ms, "timestamp": now}),
    };
    (name.to_string(), value)
}

/// Readiness of DynamoDB, SQS and S3.
#[utoipa::path(get, path = "/health/detailed", tag = "meta", security(("bearer" = [])),
    responses((status = 200, description = "healthy or degraded"), (status = 503, description = "a component is unhealthy"), (status = 401, body = Problem)))]
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
    let statuses: Vec<String> = [&db, &queue, &storage]
        .iter()
        .map(|(_, v)| v["status"].as_str().unwrap_or("unhealthy").to_string())
        .collect();
    let overall = if statuses.iter().any(|s| s == "unhealthy") {
        "unhealthy"
    } else if statuses.iter().all(|s| s == "healthy") {
        "healthy"
    } else {
        "degraded"
    };
    let body = json!({
        "status": overall,
        "timestamp": Timestamp::now().to_rfc3339(),
        "response_time_ms": (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        "components": {db.0: db.1, queue.0: queue.1, storage.0: storage.1},
    });
    let status = if overall == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 document")))]
async fn openapi_json() -> Response {
    match spec().to_json() {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => crate::api::ApiError::internal(e).into_response(),
    }
}

/// Swagger UI for `/openapi.json`.
#[utoipa::path(get, path = "/docs", tag = "meta", responses((status = 200, description = "HTML page")))]
async fn docs() -> Html<&'static str> {
    Html(DOCS_HTML)
}
