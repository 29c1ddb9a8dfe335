//! The local dev server: the same Routers the Lambda functions run, mounted together on
//! 127.0.0.1:8000 (PORT), against the AWS endpoint in AWS_ENDPOINT_URL (moto). `make dev`
//! provisions the resources from template.yaml and sets the environment.

use std::net::SocketAddr;

use cc_local::{events, pollers, streams};
use commandcenter::api;
use commandcenter::runtime::{telemetry, AwsClients, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::var_os("LOG_FORMAT").is_none() {
        std::env::set_var("LOG_FORMAT", "pretty");
    }
    let mut config = Config::from_env()?;
    telemetry::init(config.pretty_logs);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "port {port} is already in use: stop what uses it or run PORT={} make dev",
                port + 1
            );
            std::process::exit(1);
        }
        Err(e) => return Err(e.into()),
    };
    // The WebSocket API is served here too (see gateway.rs).
    config
        .websocket_url
        .get_or_insert_with(|| format!("ws://{addr}/ws"));
    config
        .websocket_management_url
        .get_or_insert_with(|| format!("http://{addr}/_ws"));
    let aws = AwsClients::from_env().await;
    let dlq_urls = commandcenter::queue::dlq_urls_from(|k| std::env::var(k).ok());
    // LOCAL_JOB_POLLERS=off serves the HTTP API alone (the contract test does: 18 queues polled
    // every 500 ms and maintenance passes would keep moto, which serves one request at a time,
    // busy).
    let state = api::AppState::build(config, aws).await?;
    if std::env::var("LOCAL_JOB_POLLERS").map_or(true, |v| v != "off") {
        let jobs = commandcenter::jobs::JobState::from_app(&state);
        pollers::spawn(jobs.clone(), dlq_urls);
        // DynamoDB Streams → webhook-fanout, as its event source mapping does on AWS.
        streams::spawn(jobs.clone(), streams::client(&state.aws.sdk));
        // EventBridge: each scheduled rule on the template's timetable (SCHEDULE_<RULE>).
        events::spawn_timetables(jobs, events::schedules_from(std::env::vars()));
    }
    let app = cc_local::app(state);
    tracing::info!(
        "CommandCenter dev server on http://{addr} (docs: http://{addr}/docs, job progress: ws://{addr}/ws?job_id=<id>&token=<token>)"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await?;
    Ok(())
}
