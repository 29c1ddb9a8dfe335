//! Inbound GitHub webhooks (API.md §10.1, function `webhook-github`) and the list of what was
//! received (`GET /api/v1/webhooks/events`, §10.2; mounted with the `api-webhooks` group).
//!
//! `POST /api/v1/webhooks/github` is unauthenticated (the HMAC is the credential) and not rate
//! limited (§0.7). In order:
//! 1. X-GitHub-Event and X-GitHub-Delivery are checked (422 naming the header), the body read
//!    (≤ 6 MB, 413);
//! 2. the projects tracking `payload.repository.full_name` (any case) come from one gsi1
//!    Query, their webhook configs from one Query per project (concurrently); the candidate
//!    keys are the secrets of the active configs bound to the tracked repository (opened with
//!    KMS once per process) plus GITHUB_WEBHOOK_SECRET; a delivery naming no repository (an
//!    organization's `ping`, `installation`…) or one that is not JSON can only be verified
//!    with the server key;
//! 3. `X-Hub-Signature-256` is checked against every key in constant time
//!    (`domain::delivery::verify_hub_signature`): 401 invalid_signature otherwise; a verified
//!    body that is not a JSON object is then 422 json_invalid;
//! 4. a config's key admits that config's project; the server key every tracking project; none
//!    → 202 `ignored`, nothing stored;
//! 5. one TransactWriteItems: the delivery marker (known → 200 `already_processed`) and one
//!    WebhookEvent per project; then one SendMessageBatch queues `{project_id, event_id}` per
//!    event on the `github-event` queue (job-github-event) → 202 `accepted`.
//!
//! Cost: 3 + P AWS calls for P tracking projects (P Queries run at once), plus one KMS
//! Decrypt per config secret a process has not opened yet.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use futures::future::try_join_all;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{read_body, QueryMap};
use crate::api::scope::ProjectScope;
use crate::api::AppState;
use crate::domain::delivery::verify_hub_signature;
use crate::domain::github_event::{
    candidates, delivery_headers, payload_budget, payload_of, repository_full_name, stored_payload,
    AckStatus, InboundAck, WebhookEvent,
};
use crate::domain::validate::{DefaultValue, FieldError, Kind, Spec};
use crate::domain::Id;
use crate::jobs::github_event::EventMessage;
use crate::queue::GITHUB_EVENT_QUEUE;
use crate::store::webhook_events::{
    ConfigKey, EventFilter, NewEvent, Recorded, Tracking, EVENTS_PER_TRANSACTION,
};

/// `webhook-github`: the inbound endpoint.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive_github))
}

/// `GET /api/v1/webhooks/events` (to be mounted with the `api-webhooks` group).
pub fn event_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// The delivery headers, as documented parameters.
pub struct GitHubHeaders;

impl utoipa::IntoParams for GitHubHeaders {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::Required;
        let header = |name: &str, required: bool, pattern: &str, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(if required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(description))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(pattern)),
                ))
                .build()
        };
        vec![
            header(
                "X-GitHub-Event",
                true,
                "^[A-Za-z0-9._-]{1,100}$",
                "GitHub's event name (push, ping, pull_request…); missing or malformed: 422",
            ),
            header(
                "X-GitHub-Delivery",
                true,
                "^[A-Za-z0-9._-]{1,128}$",
                "The delivery's GUID (the same on a redelivery); missing or malformed: 422",
            ),
            header(
                "X-Hub-Signature-256",
                false,
                "^sha256=[0-9a-fA-F]{64}$",
                "`sha256=<hex HMAC-SHA256(key, raw body)>` for the secret of an active webhook \
                 configuration bound to the repository, or GITHUB_WEBHOOK_SECRET; else 401",
            ),
        ]
    }
}

/// Opened config secrets, per process, by project and ciphertext.
fn opened() -> &'static Mutex<HashMap<String, String>> {
    static OPENED: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    OPENED.get_or_init(|| Mutex::new(HashMap::new()))
}

async fn open_secret(state: &AppState, pid: Id, sealed: &str) -> ApiResult<String> {
    let key = format!("{pid}:{sealed}");
    if let Some(s) = opened().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(s.clone());
    }
    let secret = state.sealer.open(pid, sealed).await?;
    let mut cache = opened().lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() > 1000 {
        cache.clear();
    }
    cache.insert(key, secret.clone());
    Ok(secret)
}

/// The active configs bound to each project's tracked repository, with their secrets.
async fn config_secrets(
    state: &AppState,
    tracking: &[Tracking],
) -> ApiResult<Vec<(Id, Id, String)>> {
    let by_project: BTreeMap<Id, Vec<Id>> = tracking.iter().fold(BTreeMap::new(), |mut m, t| {
        m.entry(t.project_id).or_default().push(t.repository_id);
        m
    });
    let configs: Vec<Vec<ConfigKey>> = try_join_all(
        by_project
            .keys()
            .map(|pid| state.store.webhook_config_keys(*pid)),
    )
    .await?;
    let bound: Vec<ConfigKey> = configs
        .into_iter()
        .flatten()
        .filter(|c| {
            c.active
                && c.repository_id.is_some_and(|r| {
                    by_project
                        .get(&c.project_id)
                        .is_some_and(|rids| rids.contains(&r))
                })
        })
        .collect();
    let secrets = try_join_all(bound.iter().map(|c| async move {
        match &c.secret_sealed {
            Some(sealed) => Ok::<_, ApiError>(Some((
                c.project_id,
                c.id,
                open_secret(state, c.project_id, sealed).await?,
            ))),
            None => Ok(None),
        }
    }))
    .await?;
    Ok(secrets.into_iter().flatten().collect())
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// Receive a GitHub delivery (API.md §10.1): verify, dedupe, store per matching project, queue
/// its processing.
#[utoipa::path(post, path = "/api/v1/webhooks/github", tag = "webhooks",
    params(GitHubHeaders),
    request_body(content = Object, content_type = "application/json",
        description = "GitHub's payload as sent (the signature covers these bytes); `application/x-www-form-urlencoded` with a `payload` field is read too"),
    responses(
        (status = 202, body = InboundAck, description = "status accepted: stored for every project tracking payload.repository.full_name that the verifying key admits, processing queued; status ignored: verified, but no project tracks the repository (or the payload names none): nothing stored"),
        (status = 200, body = InboundAck, description = "status already_processed: this X-GitHub-Delivery was accepted before"),
        (status = 401, description = "invalid_signature: `X-Hub-Signature-256 header is missing`, `Invalid signature format` or `Invalid webhook signature`"),
        (status = 422, description = "validation_error: X-GitHub-Event or X-GitHub-Delivery missing or malformed (loc header), or a verified body that is not a JSON object (json_invalid)"),
        (status = 503, description = "service_unavailable: the database is busy; GitHub's redelivery is accepted later")))]
async fn receive_github(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<(StatusCode, Json<InboundAck>)> {
    let headers = req.headers().clone();
    let (event_type, delivery_id) = delivery_headers(
        header_text(&headers, "x-github-event"),
        header_text(&headers, "x-github-delivery"),
    )
    .map_err(ApiError::validation)?;
    let body = read_body(req).await?;
    let payload = payload_of(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        &body,
    );
    let full_name = payload.as_ref().and_then(repository_full_name);
    let tracking = match &full_name {
        Some(name) => state.store.repositories_named(name).await?,
        None => Vec::new(),
    };
    let configs = config_secrets(&state, &tracking).await?;
    let mut projects: Vec<Id> = tracking.iter().map(|t| t.project_id).collect();
    projects.dedup();
    let keys = candidates(
        &configs,
        state.config.github_webhook_secret.as_deref(),
        &projects,
    );
    let key_refs: Vec<&[u8]> = keys.iter().map(|c| c.key.as_slice()).collect();
    let index = verify_hub_signature(
        header_text(&headers, "x-hub-signature-256"),
        &key_refs,
        &body,
    )
    .map_err(|e| ApiError::unauthorized("invalid_signature", e.detail()))?;
    let Some(payload) = payload else {
        return Err(ApiError::validation(vec![FieldError::new(
            &["body"],
            "json_invalid",
            "JSON decode error: the payload is not a JSON object",
        )]));
    };
    let ack = |status: AckStatus| InboundAck {
        status,
        event_type: event_type.clone(),
        delivery_id: delivery_id.clone(),
    };
    let targets = keys
        .get(index)
        .map(|c| c.targets.clone())
        .unwrap_or_default();
    if targets.is_empty() {
        return Ok((StatusCode::ACCEPTED, Json(ack(AckStatus::Ignored))));
    }
    let stored = stored_payload(
        &payload,
        payload_budget(targets.len().min(EVENTS_PER_TRANSACTION)),
    );
    let events = targets
        .iter()
        .map(|t| NewEvent {
            project_id: t.project_id,
            config_id: t.config_id,
            payload: stored.clone(),
        })
        .collect();
    let written = state
        .store
        .record_delivery(&delivery_id, &event_type, full_name.as_deref(), events)
        .await?;
    let ids = match written {
        Recorded::Duplicate => return Ok((StatusCode::OK, Json(ack(AckStatus::AlreadyProcessed)))),
        Recorded::NoProject => return Ok((StatusCode::ACCEPTED, Json(ack(AckStatus::Ignored)))),
        Recorded::Stored(ids) => ids,
    };
    let bodies: Vec<String> = ids
        .iter()
        .filter_map(|(pid, eid)| {
            serde_json::to_string(&EventMessage {
                project_id: *pid,
                event_id: *eid,
            })
            .ok()
        })
        .collect();
    match state.queues.send_bodies(GITHUB_EVENT_QUEUE, &bodies).await {
        Ok(sent) if sent.iter().all(|s| *s) => {}
        Ok(_) | Err(_) => tracing::error!(
            delivery_id = %delivery_id,
            "github event processing messages not all sent; the events stay unprocessed"
        ),
    }
    Ok((StatusCode::ACCEPTED, Json(ack(AckStatus::Accepted))))
}

const EVENT_QUERY: &[Spec] = &[
    Spec::opt("event_type", Kind::Str { min: 1, max: 100 }),
    Spec::opt("repository_full_name", Kind::Str { min: 1, max: 140 }),
    Spec::opt("processed", Kind::Bool),
    Spec::or(
        "limit",
        Kind::Int {
            min: Some(1),
            max: Some(500),
        },
        DefaultValue::Int(100),
    ),
];
crate::query_params!(
    /// Filters (AND): event_type exact, repository_full_name ignoring case, processed.
    pub EventQuery [EVENT_QUERY]
);

/// The GitHub deliveries the project received (kept 7 days), newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/events", tag = "webhooks", security(("bearer" = [])),
    params(EventQuery, ProjectScope),
    responses((status = 200, body = Vec<WebhookEvent>, description = "received_at desc, at most limit")))]
async fn list_events(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<WebhookEvent>>> {
    let mut f = query.fields();
    let q = f.record(EVENT_QUERY, true);
    f.finish()?;
    let text = |k: &str| q.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let filter = EventFilter {
        event_type: text("event_type"),
        repository_full_name: text("repository_full_name"),
        processed: q.get("processed").and_then(|v| v.as_bool()),
    };
    let limit = q.get("limit").and_then(|v| v.as_u64()).unwrap_or(100) as usize;
    let scope = scope.resolve(&state, None, &[]).await?;
    Ok(Json(
        state
            .store
            .webhook_events(scope.id(), &filter, limit)
            .await?,
    ))
}
