//! HTTP: one axum Router per route group (each served by its own Lambda function, all of
//! them by the local dev server), the extractors that make the conventions of API.md §0 the
//! default, and the OpenAPI document generated from the routes themselves.

pub mod auth;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod scope;
pub mod websocket;

use std::sync::Arc;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::domain::auth::JwtKeys;
use crate::runtime::config::JwtKeySource;
use crate::runtime::{AwsClients, Config};
use crate::secrets::Sealer;
use crate::store::Store;
pub use error::{ApiError, ApiResult};

/// What every handler can reach; built once per process.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub jwt: Arc<JwtKeys>,
    pub sealer: Sealer,
    pub blobs: crate::blob::Blobs,
    pub queues: crate::queue::Queues,
    pub live: crate::live::Live,
    pub aws: AwsClients,
    pub github: crate::github::GitHub,
}

impl AppState {
    /// Builds the state, fetching the JWT key from Secrets Manager once.
    pub async fn build(config: Config, aws: AwsClients) -> anyhow::Result<Self> {
        let secret = match &config.jwt_key {
            JwtKeySource::Inline(s) => s.clone(),
            JwtKeySource::SecretArn(arn) => {
                crate::secrets::load_secret_string(&aws.secrets, arn).await?
            }
        };
        let store = Store::new(aws.dynamodb.clone(), config.table_name.clone());
        let sealer = Sealer::new(aws.kms.clone(), config.kms_key_id.clone());
        Ok(Self {
            github: crate::github::GitHub::new(
                &config.github_api_url,
                config.github_token.clone(),
                sealer.clone(),
            )?,
            live: crate::live::Live::new(
                store.clone(),
                config.websocket_management_url.as_deref(),
                &aws.sdk,
            ),
            store,
            sealer,
            blobs: crate::blob::Blobs::new(aws.s3.clone(), config.bucket_name.clone()),
            queues: crate::queue::Queues::new(aws.sqs.clone(), config.queue_urls.clone()),
            jwt: Arc::new(JwtKeys::new(secret.as_bytes())),
            config: Arc::new(config),
            aws,
        })
    }
}

/// The route groups: binary name → its routes. Adding a group = a module in `routes`, a line
/// here, a crate in `functions/`, its events in `template.yaml`.
/// Builds the routes of one group.
pub type GroupRoutes = fn() -> OpenApiRouter<AppState>;

pub const GROUPS: &[(&str, GroupRoutes)] = &[
    ("api-meta", routes::meta::routes),
    ("api-auth", routes::auth::routes),
    ("api-projects", routes::projects::routes),
    ("api-repositories", routes::repositories::routes),
    ("api-technologies", routes::technologies::routes),
    ("api-research-tasks", routes::research_tasks::routes),
    ("api-dashboard", routes::dashboard::routes),
    ("api-jobs", routes::jobs::routes),
    ("api-batch", routes::batch::routes),
    ("api-github", routes::github::routes),
    ("api-rate-limits", routes::rate_limits::routes),
    ("api-webhooks", routes::webhooks::routes),
    ("api-schedules", routes::schedules::routes),
    ("api-export", routes::export::routes),
    ("webhook-github", routes::webhooks_inbound::routes),
];

/// Every route of every group (dev server, OpenAPI document, tests).
pub fn all_routes() -> OpenApiRouter<AppState> {
    GROUPS
        .iter()
        .fold(OpenApiRouter::new(), |acc, (_, f)| acc.merge(f()))
}

/// Wraps routes with the conventions every response follows; a path they do not serve is 404
/// (a known path with another method: axum's 405, made a problem by the edge).
pub fn app(routes: OpenApiRouter<AppState>, state: AppState) -> Router {
    wrap(
        routes
            .split_for_parts()
            .0
            .fallback(|| async { ApiError::route_not_found() }),
        state,
    )
}

/// As `app`, but requests the routes do not serve are judged against the whole API's route
/// table: 405 + Allow for a path served (elsewhere) with other methods, else 404.
pub fn app_with_route_table(routes: OpenApiRouter<AppState>, state: AppState) -> Router {
    wrap(
        routes.split_for_parts().0.fallback(openapi::unrouted),
        state,
    )
}

fn panic_response(cause: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let msg = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    ApiError::internal(format!("handler panicked: {msg}")).into_response()
}

fn wrap(router: Router<AppState>, state: AppState) -> Router {
    let inner = router
        .route_layer(axum::middleware::from_fn(middleware::record_route))
        // Belt and braces: no input should reach a panic, but one that does is a 500
        // problem+json (logged with its request id) and the process keeps serving.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .with_state(state.clone());
    // The edge runs before routing (it rewrites the path), so it wraps an outer router whose
    // only service is the real one.
    Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::from_fn_with_state(
            state,
            middleware::edge,
        ))
}
