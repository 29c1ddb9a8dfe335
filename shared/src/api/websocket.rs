//! The WebSocket API of job progress (API.md §7.1). `$connect` carries `job_id` and `token`
//! in the query: 400 for a bad job id, 401 for a bad token, 404 for a job that does not exist
//! or whose project the caller is not a member of, 429 rate_limited past 60 connects per user
//! per minute (`WS_CONNECT`, refused ones counted), 409 too_many_listeners when the job has
//! 100 listeners already; an accepted connection is registered on the job (`store::live`). `$disconnect` forgets it. `$default` answers
//! `{"action":"status"}` with a progress frame and ignores anything else. Right after a
//! connection opened it is greeted with `connected` (and, for a job already finished,
//! `completed`, then closed).
//!
//! Served by `ws-connections` on AWS (API Gateway WebSocket proxy events) and by the dev
//! server's gateway locally, which builds the same events.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult, PROBLEM_JSON};
use super::routes::jobs::JobKind;
use super::scope::ItemAccess;
use super::AppState;
use crate::context::ChargeState;
use crate::context::{self, RequestContext};
use crate::domain::jobs::status_of;
use crate::domain::Id;
use crate::live::frames;
use crate::store::live::{job_key, Connection, Listen, MAX_LISTENERS};
use crate::store::ratelimit::WS_CONNECT;
use crate::store::records::record_of;

/// Which route of the WebSocket API an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Connect,
    Disconnect,
    Message,
}

/// One WebSocket API event.
#[derive(Debug, Clone)]
pub struct WsEvent {
    pub route: Route,
    pub connection_id: String,
    pub query: HashMap<String, String>,
    pub body: Option<String>,
    pub request_id: String,
}

impl WsEvent {
    /// Reads API Gateway's WebSocket proxy event (`requestContext.eventType` CONNECT,
    /// DISCONNECT or MESSAGE).
    pub fn from_gateway(event: &Value) -> Option<Self> {
        let ctx = event.get("requestContext")?;
        let route = match ctx.get("eventType")?.as_str()? {
            "CONNECT" => Route::Connect,
            "DISCONNECT" => Route::Disconnect,
            "MESSAGE" => Route::Message,
            _ => return None,
        };
        let query = event
            .get("queryStringParameters")
            .and_then(Value::as_object)
            .map(|q| {
                q.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            route,
            connection_id: ctx.get("connectionId")?.as_str()?.to_string(),
            query,
            body: event
                .get("body")
                .and_then(Value::as_str)
                .map(str::to_string),
            request_id: ctx
                .get("requestId")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        })
    }
}

/// The answer to an event: API Gateway's proxy response (a `$connect` other than 2xx refuses
/// the connection with that status).
#[derive(Debug, Clone, PartialEq)]
pub struct WsResponse {
    pub status: u16,
    pub body: Value,
    /// Seconds to wait before connecting again (a refused 429), sent as Retry-After.
    pub retry_after: Option<i64>,
}

impl WsResponse {
    fn ok() -> Self {
        Self {
            status: 200,
            body: json!({"status": "ok"}),
            retry_after: None,
        }
    }

    /// The Lambda proxy response document.
    pub fn to_gateway(&self) -> Value {
        let content_type = if self.status >= 400 {
            PROBLEM_JSON
        } else {
            "application/json"
        };
        let mut headers = json!({"content-type": content_type});
        if let Some(secs) = self.retry_after {
            headers["retry-after"] = json!(secs.to_string());
        }
        json!({
            "statusCode": self.status,
            "headers": headers,
            "body": self.body.to_string(),
        })
    }
}

impl From<ApiError> for WsResponse {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status.as_u16(),
            body: e.body(),
            retry_after: None,
        }
    }
}

/// Handles one event. For an accepted `$connect` the registered connection is returned too:
/// the caller arranges its greeting once the connection is open.
pub async fn handle(state: &AppState, event: WsEvent) -> (WsResponse, Option<Connection>) {
    let ctx = Arc::new(RequestContext::new(event.request_id.clone()));
    context::scope(ctx.clone(), async {
        let started = std::time::Instant::now();
        let (response, accepted) = match event.route {
            Route::Connect => match connect(state, &event).await {
                Ok(c) => (WsResponse::ok(), Some(c)),
                Err(e) => (settle_connect_charge(state, e.into()).await, None),
            },
            Route::Disconnect => (disconnect(state, &event.connection_id).await, None),
            Route::Message => (message(state, &event).await, None),
        };
        let (calls, _) = ctx.aws_calls();
        tracing::info!(
            request_id = %event.request_id,
            route = ?event.route,
            connection_id = %event.connection_id,
            user_id = ctx.user_id(),
            project_id = ctx.project_id(),
            status = response.status,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            aws_calls = calls,
            "websocket event"
        );
        (response, accepted)
    })
    .await
}

fn job_id_of(query: &HashMap<String, String>) -> ApiResult<Id> {
    query
        .get("job_id")
        .and_then(|v| v.trim().parse::<Id>().ok())
        .filter(|id| (1..=crate::domain::ids::MAX_ID).contains(id))
        .ok_or_else(|| ApiError::bad_request("invalid_job_id", "job_id must be a positive integer"))
}

/// `$connect`: three reads at most (PAT lookup, the job's pointer, one batch of credential +
/// project + membership + job + the caller's `WS_CONNECT` window) and one transaction, which
/// also counts the connect. A full window refuses before the job is read (429); a job with
/// `MAX_LISTENERS` listeners refuses the next one with 409 too_many_listeners.
async fn connect(state: &AppState, event: &WsEvent) -> ApiResult<Connection> {
    let job_id = job_id_of(&event.query)?;
    let token = event
        .query
        .get("token")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("not_authenticated", "Not authenticated"))?;
    let mut caller = Caller::from_token(state, token, true).await?;
    caller.bucket = Some(WS_CONNECT);
    context::set_user(caller.user_id);
    let job = ItemAccess::<JobKind>::reach(state, &caller, job_id, &[]).await?;
    let c = Connection::new(&event.connection_id, job.scope.id(), job_id, caller.user_id);
    match state.store.add_listener(&c).await? {
        Listen::Added => Ok(c),
        Listen::NoJob => Err(ItemAccess::<JobKind>::not_found(job_id)),
        Listen::Full => Err(ApiError::conflict(
            "too_many_listeners",
            format!("Job {job_id} already has {MAX_LISTENERS} progress listeners"),
        )),
    }
}

/// Counts a `$connect` that wrote nothing (refused with 4xx after authentication) against the
/// caller's window, as the HTTP edge does; an exceeded window answers 429 whatever else failed.
async fn settle_connect_charge(state: &AppState, response: WsResponse) -> WsResponse {
    let Some(charge) = context::current().and_then(|c| c.rate_charge()) else {
        return response;
    };
    let exceeded = match charge.state {
        ChargeState::Exceeded => true,
        ChargeState::Applied { .. } => false,
        ChargeState::Pending => match state.store.apply_rate_charge(&charge).await {
            Ok(_) => false,
            Err(crate::store::StoreError::RateLimited) => true,
            Err(e) => {
                // Fail open, as the HTTP edge does.
                tracing::warn!(error = %e, "rate limit counter unavailable");
                false
            }
        },
    };
    if !exceeded && response.status != 429 {
        return response;
    }
    let retry_after = (charge.reset_at - crate::domain::Timestamp::now().unix()).max(1);
    let mut refused: WsResponse = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "Rate limit exceeded: {} per 1 {}",
            charge.limit, charge.unit
        ),
    )
    .into();
    refused.retry_after = Some(retry_after);
    refused
}

async fn disconnect(state: &AppState, connection_id: &str) -> WsResponse {
    match state.store.remove_listener(connection_id).await {
        Ok(_) => WsResponse::ok(),
        Err(e) => ApiError::from(e).into(),
    }
}

/// `$default`: `{"action":"status"}` → a progress frame; other messages are ignored.
async fn message(state: &AppState, event: &WsEvent) -> WsResponse {
    let action = event
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_string));
    if action.as_deref() != Some("status") {
        return WsResponse::ok();
    }
    let sent = async {
        let Some(c) = state.store.connection(&event.connection_id).await? else {
            return Ok::<_, ApiError>(());
        };
        if let Some(job) = state.store.get(&job_key(&c)).await? {
            let job = record_of(job)?;
            let _ = state
                .live
                .send(&c.connection_id, &frames::progress(&job))
                .await;
        }
        Ok(())
    }
    .await;
    match sent {
        Ok(()) => WsResponse::ok(),
        Err(e) => e.into(),
    }
}

/// Greets an opened connection: `connected` with where the job stands; a job already finished
/// also gets `completed`, then the connection is closed. One read and one or two posts.
pub async fn greet(state: &AppState, c: &Connection) {
    let job = match state.store.get(&job_key(c)).await {
        Ok(Some(item)) => match record_of(item) {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable job");
                return;
            }
        },
        Ok(None) => {
            state.live.close(&c.connection_id).await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, connection_id = %c.connection_id, "could not greet");
            return;
        }
    };
    if let Err(e) = state
        .live
        .send_when_open(&c.connection_id, &frames::connected(&job))
        .await
    {
        tracing::warn!(connection_id = %c.connection_id, error = ?e, "could not greet");
        return;
    }
    if status_of(&job).is_terminal() {
        let _ = state
            .live
            .send(&c.connection_id, &frames::completed(&job))
            .await;
        state.live.close(&c.connection_id).await;
    }
}

/// The greeting request `ws-connections` sends itself (asynchronous invocation) after an
/// accepted `$connect`, since API Gateway opens the connection only once `$connect` returned.
pub fn greeting_event(c: &Connection) -> Value {
    json!({"greet": c})
}

/// Reads a greeting request.
pub fn greeting_of(event: &Value) -> Option<Connection> {
    serde_json::from_value(event.get("greet")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_events_are_read() {
        let connect = json!({
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "abc=",
                               "requestId": "r-1", "stage": "dev"},
            "queryStringParameters": {"job_id": "42", "token": "t"},
            "isBase64Encoded": false
        });
        let e = WsEvent::from_gateway(&connect).unwrap();
        assert_eq!(e.route, Route::Connect);
        assert_eq!(e.connection_id, "abc=");
        assert_eq!(e.request_id, "r-1");
        assert_eq!(job_id_of(&e.query).unwrap(), 42);
        let message = json!({
            "requestContext": {"routeKey": "$default", "eventType": "MESSAGE", "connectionId": "abc="},
            "body": "{\"action\":\"status\"}"
        });
        let e = WsEvent::from_gateway(&message).unwrap();
        assert_eq!(e.route, Route::Message);
        assert_eq!(e.body.as_deref(), Some("{\"action\":\"status\"}"));
        assert!(e.query.is_empty());
        assert!(WsEvent::from_gateway(&json!({"Records": []})).is_none());
    }

    #[test]
    fn job_ids_are_positive_53_bit_integers() {
        let q = |v: &str| HashMap::from([("job_id".to_string(), v.to_string())]);
        assert_eq!(job_id_of(&q(" 7 ")).unwrap(), 7);
        for bad in ["", "abc", "0", "-1", "1.5", "9007199254740992"] {
            let e = job_id_of(&q(bad)).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{bad}");
            assert_eq!(e.code, "invalid_job_id");
        }
        assert!(job_id_of(&HashMap::new()).is_err());
    }

    #[test]
    fn greetings_round_trip_and_responses_are_proxy_documents() {
        let c = Connection::new("abc=", 1, 2, 3);
        assert_eq!(greeting_of(&greeting_event(&c)), Some(c));
        assert!(greeting_of(&json!({"requestContext": {}})).is_none());
        let refused: WsResponse = ApiError::bad_request("invalid_job_id", "no").into();
        let doc = refused.to_gateway();
        assert_eq!(doc["statusCode"], 400);
        assert_eq!(doc["headers"]["content-type"], PROBLEM_JSON);
        let body: Value = serde_json::from_str(doc["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["code"], "invalid_job_id");
    }
}
