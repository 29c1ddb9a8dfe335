//! The local dev server's parts: the HTTP API (the Lambda routers mounted together), the
//! WebSocket API gateway, the SQS pollers that stand in for Lambda's event sources, and the
//! EventBridge rules (timetables and `POST /_local/events/<rule>`).

pub mod events;
pub mod gateway;
pub mod pollers;
pub mod streams;

use commandcenter::api::{self, AppState};

/// Every HTTP route of every function, plus the WebSocket endpoint and its management API,
/// and `POST /_local/events/<rule>`.
pub fn app(state: AppState) -> axum::Router {
    let jobs = commandcenter::jobs::JobState::from_app(&state);
    api::app(api::all_routes(), state.clone())
        .merge(gateway::router(state))
        .merge(events::router(jobs))
}
