//! The local dev server's parts: the HTTP API (the Lambda routers mounted together), the
//! WebSocket API gateway, and the SQS pollers that stand in for Lambda's event sources.

pub mod gateway;
pub mod pollers;

use commandcenter::api::{self, AppState};

/// Every HTTP route of every function, plus the WebSocket endpoint and its management API.
pub fn app(state: AppState) -> axum::Router {
    api::app(api::all_routes(), state.clone()).merge(gateway::router(state))
}
