//! The WebSocket API locally: what API Gateway does on AWS, around the very handlers
//! `ws-connections` runs.
//!
//! - `GET /ws?job_id=&token=` builds a `$connect` event and runs it; a refused connect answers
//!   its status and problem document instead of upgrading. An accepted one is upgraded and
//!   greeted (on AWS the function asks for the greeting by invoking itself).
//! - Client messages go to `$default`; a close (either side) runs `$disconnect`.
//! - The API Gateway Management API is served under `/_ws/@connections/{id}` (POST sends a
//!   frame, DELETE closes, GET describes), so the runner and the API push through the real SDK
//!   client exactly as on AWS (`WEBSOCKET_MANAGEMENT_URL=http://127.0.0.1:8000/_ws`).
//! - As on API Gateway, a connection idle for 10 minutes, or open for 2 hours, is closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use commandcenter::api::websocket::{self, Route, WsEvent, WsResponse};
use commandcenter::api::AppState;
use commandcenter::domain::Timestamp;
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const MAX_DURATION: Duration = Duration::from_secs(2 * 3600);

enum Outgoing {
    Frame(String),
    Close,
}

struct Conn {
    tx: mpsc::UnboundedSender<Outgoing>,
    connected_at: String,
    last_active: Arc<Mutex<Instant>>,
    source_ip: String,
}

#[derive(Clone)]
struct Gateway {
    state: AppState,
    conns: Arc<Mutex<HashMap<String, Conn>>>,
}

impl Gateway {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<String, Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The WebSocket endpoint (`/ws`) and the management API (`/_ws/@connections/{id}`).
pub fn router(state: AppState) -> Router {
    let gw = Gateway {
        state,
        conns: Arc::default(),
    };
    Router::new()
        .route("/ws", get(open))
        .route(
            "/_ws/@connections/{id}",
            get(describe).post(post_frame).delete(close),
        )
        .route(
            "/_ws/%40connections/{id}",
            get(describe).post(post_frame).delete(close),
        )
        .with_state(gw)
}

fn event(
    route: Route,
    connection_id: &str,
    query: HashMap<String, String>,
    body: Option<String>,
) -> WsEvent {
    WsEvent {
        route,
        connection_id: connection_id.to_string(),
        query,
        body,
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

fn refused(r: WsResponse) -> Response {
    let mut res = (
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
        r.body.to_string(),
    )
        .into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(secs) = r.retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

async fn open(
    State(gw): State<Gateway>,
    Query(query): Query<HashMap<String, String>>,
    connect_info: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    // Connection ids look like API Gateway's: opaque and URL-safe.
    let connection_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let (response, accepted) = websocket::handle(
        &gw.state,
        event(Route::Connect, &connection_id, query, None),
    )
    .await;
    let Some(connection) = accepted else {
        return refused(response);
    };
    let source_ip = connect_info
        .map(|c| c.0 .0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    upgrade.on_upgrade(move |socket| async move {
        run(gw, socket, connection, source_ip).await;
    })
}

async fn run(
    gw: Gateway,
    mut socket: WebSocket,
    connection: commandcenter::store::live::Connection,
    source_ip: String,
) {
    let id = connection.connection_id.clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let last_active = Arc::new(Mutex::new(Instant::now()));
    gw.conns().insert(
        id.clone(),
        Conn {
            tx,
            connected_at: Timestamp::now().to_rfc3339(),
            last_active: last_active.clone(),
            source_ip,
        },
    );
    let touch = || *last_active.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    {
        let state = gw.state.clone();
        tokio::spawn(async move { websocket::greet(&state, &connection).await });
    }
    let opened = Instant::now();
    loop {
        let idle_left = IDLE_TIMEOUT.saturating_sub(
            last_active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed(),
        );
        let left = idle_left.min(MAX_DURATION.saturating_sub(opened.elapsed()));
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    touch();
                    let _ = websocket::handle(
                        &gw.state,
                        event(Route::Message, &id, HashMap::new(), Some(text.to_string())),
                    )
                    .await;
                }
                Some(Ok(Message::Binary(_))) | Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => touch(),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            outgoing = rx.recv() => match outgoing {
                Some(Outgoing::Frame(text)) => {
                    touch();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close) | None => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            },
            _ = tokio::time::sleep(left) => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
    gw.conns().remove(&id);
    let _ = websocket::handle(
        &gw.state,
        event(Route::Disconnect, &id, HashMap::new(), None),
    )
    .await;
}

fn gone() -> Response {
    let mut res = (
        StatusCode::GONE,
        json!({"message": "Gone", "__type": "GoneException"}).to_string(),
    )
        .into_response();
    res.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("GoneException"),
    );
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// PostToConnection.
async fn post_frame(State(gw): State<Gateway>, Path(id): Path<String>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    match gw.conns().get(&id) {
        Some(c) if c.tx.send(Outgoing::Frame(text)).is_ok() => StatusCode::OK.into_response(),
        _ => gone(),
    }
}

/// DeleteConnection.
async fn close(State(gw): State<Gateway>, Path(id): Path<String>) -> Response {
    match gw.conns().get(&id) {
        Some(c) if c.tx.send(Outgoing::Close).is_ok() => StatusCode::NO_CONTENT.into_response(),
        _ => gone(),
    }
}

/// GetConnection.
async fn describe(State(gw): State<Gateway>, Path(id): Path<String>) -> Response {
    let conns = gw.conns();
    let Some(c) = conns.get(&id) else {
        return gone();
    };
    let idle = c
        .last_active
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .elapsed();
    let last = Timestamp::now()
        .plus_secs(-(idle.as_secs() as i64))
        .to_rfc3339();
    let body: Value = json!({
        "connectedAt": c.connected_at,
        "lastActiveAt": last,
        "identity": {"sourceIp": c.source_ip, "userAgent": ""},
    });
    axum::Json(body).into_response()
}
