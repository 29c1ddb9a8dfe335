//! Runs a route group on Lambda (HTTP API payload v2): config, clients and state are built once
//! per process, then every invocation goes through the same Router the dev server mounts.

use crate::api::{self, AppState};
use crate::runtime::{telemetry, AwsClients, Config};

/// Builds the state of a function process from the environment.
pub async fn state_from_env() -> Result<AppState, lambda_http::Error> {
    let config = Config::from_env()?;
    telemetry::init(config.pretty_logs);
    let clients = AwsClients::from_env().await;
    Ok(AppState::build(config, clients).await?)
}

/// `main` of an HTTP function: serves the named route group.
pub async fn serve_group(name: &str) -> Result<(), lambda_http::Error> {
    let routes = api::group(name).ok_or_else(|| format!("unknown route group {name}"))?;
    let state = state_from_env().await?;
    lambda_http::run(api::app(routes, state)).await
}
pub use lambda_http::Error;
