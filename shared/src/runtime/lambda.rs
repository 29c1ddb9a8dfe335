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

/// `main` of an HTTP function: serves one route group. Naming the group's function (not a
/// lookup by name) lets the linker leave the other groups' handlers out of the binary.
pub async fn serve(name: &str, routes: api::GroupRoutes) -> Result<(), lambda_http::Error> {
    serve_router(name, |state| api::app(routes(), state)).await
}

/// `main` of api-meta: its own routes, plus the answer to every request no route matched
/// (API Gateway's `$default`), decided from the whole API's route table.
pub async fn serve_meta() -> Result<(), lambda_http::Error> {
    serve_router("api-meta", |state| {
        api::app_with_route_table(api::routes::meta::routes(), state)
    })
    .await
}

async fn serve_router(
    name: &str,
    build: impl FnOnce(AppState) -> axum::Router,
) -> Result<(), lambda_http::Error> {
    let started = std::time::Instant::now();
    let state = state_from_env().await?;
    let app = build(state);
    tracing::info!(
        function = name,
        init_ms = started.elapsed().as_secs_f64() * 1000.0,
        "initialized"
    );
    lambda_http::run(app).await
}
pub use lambda_http::Error;

/// `main` of a job function: runs the job type's `work` (from `jobs::work::each`) for each SQS
/// batch, reporting partial batch failures.
pub async fn serve_jobs(
    job_type: crate::domain::jobs::JobType,
    work: crate::jobs::runner::Work,
) -> Result<(), lambda_runtime::Error> {
    let state = job_state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
            let state = state.clone();
            let work = work.clone();
            async move {
                // Boxed: the batch future (jobs and webhook deliveries) is too deep a type for
                // the compiler to lay out inline in every job binary's main.
                let batch: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
                    Box::pin(crate::jobs::runner::handle_batch(
                        &state,
                        job_type,
                        &work,
                        event.payload,
                    ));
                Ok::<_, lambda_runtime::Error>(batch.await)
            }
        },
    ))
    .await
}

/// `main` of job-github-event: processes stored inbound GitHub deliveries from the
/// `github-event` queue, and marks the dead letters of its dead-letter queue (DLQ_URL_GITHUB_EVENT).
pub async fn serve_github_events() -> Result<(), lambda_runtime::Error> {
    let state = job_state_from_env().await?;
    let dlq = std::env::var("DLQ_URL_GITHUB_EVENT").ok();
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
            let (state, dlq) = (state.clone(), dlq.clone());
            // Boxed behind dyn: the handler's future type is otherwise too deeply nested
            // for the compiler's layout queries.
            let handled: std::pin::Pin<
                Box<
                    dyn std::future::Future<
                            Output = aws_lambda_events::event::sqs::SqsBatchResponse,
                        > + Send,
                >,
            > = Box::pin(async move {
                crate::jobs::github_event::handle_any(&state, dlq.as_deref(), event.payload).await
            });
            async move { Ok::<_, lambda_runtime::Error>(handled.await) }
        },
    ))
    .await
}

/// `main` of dlq-handler: fails dead-lettered jobs.
pub async fn serve_dead_letters() -> Result<(), lambda_runtime::Error> {
    let state = job_state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
            let state = state.clone();
            async move {
                Ok::<_, lambda_runtime::Error>(
                    crate::jobs::runner::handle_dead_letters(&state, event.payload).await,
                )
            }
        },
    ))
    .await
}

async fn job_state_from_env() -> Result<crate::jobs::JobState, lambda_runtime::Error> {
    let config = Config::from_env()?;
    telemetry::init(config.pretty_logs);
    let clients = AwsClients::from_env().await;
    Ok(crate::jobs::JobState::new(config, &clients)?)
}

/// `main` of worker-maintenance (EventBridge schedule).
pub async fn serve_maintenance() -> Result<(), lambda_runtime::Error> {
    let state = job_state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let report = crate::jobs::maintenance::run(&state).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::json!({"report": report}))
            }
        },
    ))
    .await
}

/// `main` of worker-nightly-sync (EventBridge, 02:00 UTC).
pub async fn serve_nightly_sync() -> Result<(), lambda_runtime::Error> {
    let state = job_state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let report = crate::jobs::nightly::run(&state).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::json!({"report": report}))
            }
        },
    ))
    .await
}

/// `main` of worker-schedule-dispatcher (EventBridge, every minute).
pub async fn serve_schedule_dispatcher() -> Result<(), lambda_runtime::Error> {
    let state = job_state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let report = Box::pin(crate::jobs::dispatcher::run(&state)).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::json!({"report": report}))
            }
        },
    ))
    .await
}

/// `main` of ws-connections: the WebSocket API's `$connect`, `$disconnect` and `$default`
/// events, and the greeting requests it sends itself (asynchronous self-invocation) after an
/// accepted `$connect` — API Gateway opens the connection only once `$connect` returned.
pub async fn serve_websocket() -> Result<(), lambda_runtime::Error> {
    use crate::api::websocket::{self, WsEvent};
    let state = state_from_env().await?;
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&state.aws.sdk)
            .interceptor(crate::runtime::clients::CallMeter)
            .build(),
    );
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let (state, lambda, function) = (state.clone(), lambda.clone(), function.clone());
            async move {
                if let Some(c) = websocket::greeting_of(&event.payload) {
                    websocket::greet(&state, &c).await;
                    return Ok::<_, lambda_runtime::Error>(serde_json::json!({"greeted": c.connection_id}));
                }
                let Some(ws) = WsEvent::from_gateway(&event.payload) else {
                    tracing::warn!("not a WebSocket event");
                    return Ok(serde_json::json!({"statusCode": 400}));
                };
                let (response, accepted) = websocket::handle(&state, ws).await;
                if let (Some(c), Some(function)) = (accepted, function.as_deref()) {
                    let payload = serde_json::to_vec(&websocket::greeting_event(&c))?;
                    if let Err(e) = lambda
                        .invoke()
                        .function_name(function)
                        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
                        .send()
                        .await
                    {
                        tracing::warn!(error = %aws_sdk_lambda::error::DisplayErrorContext(e), "could not request the greeting");
                    }
                }
                Ok(response.to_gateway())
            }
        },
    ))
    .await
}

/// `main` of webhook-fanout: the table's stream records (filtered to inserted event items)
/// become webhook deliveries; a failed record is reported so the batch resumes there.
pub async fn serve_fanout() -> Result<(), lambda_runtime::Error> {
    let state = job_state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::dynamodb::Event>| {
            let state = state.clone();
            async move {
                // Boxed, as in serve_jobs: too deep a type to lay out inline in main.
                let batch: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
                    Box::pin(crate::webhooks::fanout::handle(&state, event.payload));
                let (response, report) = batch.await;
                tracing::info!(?report, "fan-out batch");
                Ok::<_, lambda_runtime::Error>(response)
            }
        },
    ))
    .await
}
