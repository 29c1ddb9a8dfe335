//! API.md §7.1: job progress over WebSocket, through the same gateway the dev server runs (a
//! real socket; frames posted by the runner and the API through the API Gateway Management
//! API client).

use std::time::Duration;

use cc_tests::{TestApp, TestUser};
use commandcenter::api::websocket::{self, Route, WsEvent, WsResponse};
use commandcenter::domain::jobs::JobType;
use commandcenter::store::keys;
use commandcenter::store::live::{Connection, Listen};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn url(app: &TestApp, job_id: &str, token: &str) -> String {
    format!(
        "{}?job_id={job_id}&token={token}",
        app.ws_url.as_deref().expect("the app serves WebSockets")
    )
}

async fn open(app: &TestApp, job_id: u64, token: &str) -> Ws {
    let (ws, response) = tokio_tungstenite::connect_async(url(app, &job_id.to_string(), token))
        .await
        .expect("connection accepted");
    assert_eq!(response.status(), 101);
    ws
}

/// The HTTP status a refused connection answered with.
async fn refused(app: &TestApp, job_id: &str, token: &str) -> u16 {
    match tokio_tungstenite::connect_async(url(app, job_id, token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("connection to job {job_id} was accepted"),
    }
}

/// The next frame, or None once the server closed the connection.
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a frame within 15 s");
        match msg {
            Some(Ok(Message::Text(t))) => {
                return Some(serde_json::from_str(&t).expect("JSON frame"))
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Frames until the server closes.
async fn rest(ws: &mut Ws) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(f) = next(ws).await {
        out.push(f);
    }
    out
}

async fn job_item(app: &TestApp, pid: u64, id: u64) -> Option<Value> {
    let item = app
        .state
        .store
        .get(&keys::item(pid, "JOB", id))
        .await
        .unwrap()?;
    Some(serde_json::Value::Object(
        commandcenter::store::records::record_of(item).unwrap(),
    ))
}

/// Waits until the job lists exactly `n` listeners ($connect / $disconnect have run).
async fn listeners_settle(app: &TestApp, pid: u64, id: u64, n: usize) {
    for _ in 0..100 {
        let job = job_item(app, pid, id).await.unwrap();
        if job["listeners"].as_object().map_or(0, |m| m.len()) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never had {n} listeners");
}

async fn pending_job(app: &TestApp, u: &TestUser) -> u64 {
    app.create(
        u,
        "/api/v1/jobs",
        None,
        json!({"job_type": "research", "parameters": {"task_id": "6f1c2a52-0d5e-4c1b-9a57-3f2b8e4d9c10"}}),
    )
    .await["id"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn a_batch_import_streams_connected_progress_and_completed() {
    let app = TestApp::with_websocket().await;
    let u = app.user().await;
    let p = app.project(&u, "Live").await;
    let pid = p["id"].as_u64().unwrap();
    let techs: Vec<Value> = (0..25)
        .map(|i| json!({"title": format!("live {i}"), "domain": "ai-ml"}))
        .collect();
    let r = app
        .post("/api/v1/batch/import")
        .bearer(&u.access)
        .json(json!({"technologies": techs}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job_id = r.body["job_id"].as_u64().unwrap();

    let mut ws = open(&app, job_id, &u.access).await;
    let hello = next(&mut ws).await.expect("connected frame");
    assert_eq!(
        hello,
        json!({"type": "connected", "job_id": job_id, "status": "pending", "progress": 0, "current_step": null})
    );

    // What job-batch-import does on AWS with the queued message.
    let out = app.run_jobs(JobType::BatchImport, &[job_id]).await;
    assert!(out.batch_item_failures.is_empty());

    let frames = rest(&mut ws).await;
    let (progress, last) = frames.split_at(frames.len() - 1);
    assert!(
        progress.iter().all(|f| f["type"] == "progress"),
        "{frames:#?}"
    );
    let steps: Vec<(i64, &str, bool)> = progress
        .iter()
        .map(|f| {
            (
                f["progress"].as_i64().unwrap(),
                f["current_step"].as_str().unwrap(),
                f["is_terminal"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (0, "Initializing job execution", false),
            (0, "Importing 0/25", false),
            (40, "Importing 10/25", false),
            (80, "Importing 20/25", false),
            (100, "Import finished", false),
            (100, "Job completed successfully", true),
        ]
    );
    assert_eq!(progress[1]["status"], "running");
    assert_eq!(progress[5]["status"], "completed");
    let done = &last[0];
    assert_eq!(done["type"], "completed");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["error"], Value::Null);
    assert_eq!(done["result"]["imported_count"], 25);
    // The server closed the connection; $disconnect forgot it.
    listeners_settle(&app, pid, job_id, 0).await;
}

#[tokio::test]
async fn connections_are_refused_with_400_401_404() {
    let app = TestApp::with_websocket().await;
    let u = app.user().await;
    app.project(&u, "Mine").await;
    let job = pending_job(&app, &u).await;
    let stranger = app.user().await;
    app.project(&stranger, "Theirs").await;

    assert_eq!(refused(&app, "abc", &u.access).await, 400);
    assert_eq!(refused(&app, "0", &u.access).await, 400);
    assert_eq!(refused(&app, &job.to_string(), "not-a-token").await, 401);
    assert_eq!(refused(&app, &job.to_string(), "").await, 401);
    assert_eq!(refused(&app, &job.to_string(), &u.refresh).await, 401);
    assert_eq!(refused(&app, &job.to_string(), &stranger.access).await, 404);
    assert_eq!(refused(&app, "9007199254740991", &u.access).await, 404);

    // A personal access token is accepted as well.
    let r = app
        .post("/api/v1/auth/tokens")
        .bearer(&u.access)
        .json(json!({"name": "ws"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pat = r.body["token"].as_str().unwrap().to_string();
    let mut ws = open(&app, job, &pat).await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "connected");
}

#[tokio::test]
async fn api_changes_are_pushed_and_cancel_closes() {
    let app = TestApp::with_websocket().await;
    let u = app.user().await;
    let p = app.project(&u, "Push").await;
    let pid = p["id"].as_u64().unwrap();
    let id = pending_job(&app, &u).await;
    let mut ws = open(&app, id, &u.access).await;
    let mut second = open(&app, id, &u.access).await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "connected");
    assert_eq!(next(&mut second).await.unwrap()["type"], "connected");
    listeners_settle(&app, pid, id, 2).await;
    // Listeners are bookkeeping: the job's representation does not show them.
    let r = app
        .get(&format!("/api/v1/jobs/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("listeners").is_none(), "{}", r.text);

    // Anything but {"action":"status"} is ignored; status answers a progress frame.
    ws.send(Message::Text("hello".into())).await.unwrap();
    ws.send(Message::Text(r#"{"action":"dance"}"#.into()))
        .await
        .unwrap();
    ws.send(Message::Text(r#"{"action":"status"}"#.into()))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap(),
        json!({"type": "progress", "job_id": id, "status": "pending", "progress": 0, "current_step": null, "is_terminal": false})
    );

    let r = app
        .patch(&format!("/api/v1/jobs/{id}"))
        .bearer(&u.access)
        .json(json!({"progress": 30, "current_step": "Reading"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for socket in [&mut ws, &mut second] {
        let update = next(socket).await.unwrap();
        assert_eq!(
            update,
            json!({"type": "job_update", "job_id": id, "status": "pending", "progress": 30, "current_step": "Reading"})
        );
        let progress = next(socket).await.unwrap();
        assert_eq!(progress["type"], "progress");
        assert_eq!(progress["progress"], 30);
    }

    let r = app
        .post(&format!("/api/v1/jobs/{id}/dispatch?delay_seconds=600"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dispatched = next(&mut ws).await.unwrap();
    assert_eq!(dispatched["type"], "job_dispatched");
    assert_eq!(dispatched["delay_seconds"], 600);
    assert_eq!(dispatched["celery_task_id"], r.body["celery_task_id"]);
    assert!(dispatched["celery_task_id"].is_string());

    let r = app
        .post(&format!("/api/v1/jobs/{id}/cancel"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let frames = rest(&mut ws).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["job_cancelled", "progress", "completed"]);
    assert_eq!(frames[0]["status"], "cancelled");
    assert_eq!(frames[1]["is_terminal"], true);
    assert_eq!(frames[2]["status"], "cancelled");
    let frames = rest(&mut second).await;
    assert_eq!(frames.last().unwrap()["type"], "completed");
    listeners_settle(&app, pid, id, 0).await;

    // A finished job greets and says goodbye at once.
    let mut late = open(&app, id, &u.access).await;
    let frames = rest(&mut late).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["connected", "completed"]);
    assert_eq!(frames[0]["status"], "cancelled");
}

#[tokio::test]
async fn gone_connections_are_forgotten() {
    let app = TestApp::with_websocket().await;
    let u = app.user().await;
    let p = app.project(&u, "Ghosts").await;
    let pid = p["id"].as_u64().unwrap();
    let id = pending_job(&app, &u).await;
    // A listener whose socket is long gone ($disconnect was lost).
    let ghost = Connection::new("ghost-connection", pid, id, u.id);
    assert_eq!(
        app.state.store.add_listener(&ghost).await.unwrap(),
        Listen::Added
    );
    listeners_settle(&app, pid, id, 1).await;
    let r = app
        .patch(&format!("/api/v1/jobs/{id}"))
        .bearer(&u.access)
        .json(json!({"progress": 5}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    listeners_settle(&app, pid, id, 0).await;
    assert!(app
        .state
        .store
        .connection("ghost-connection")
        .await
        .unwrap()
        .is_none());
    // The job's own fields were left alone.
    let job = job_item(&app, pid, id).await.unwrap();
    assert_eq!(job["progress"], 5);
    // Jobs of other projects cannot be followed by registering a connection (the listener
    // map lives on the job item, which only exists in its own project).
    let other = Connection::new("stray", pid + 1, id, u.id);
    assert_eq!(
        app.state.store.add_listener(&other).await.unwrap(),
        Listen::NoJob
    );
}

/// A `$connect` as API Gateway hands it to `ws-connections`.
async fn connect_event(app: &TestApp, job_id: u64, token: &str) -> WsResponse {
    let event = WsEvent {
        route: Route::Connect,
        connection_id: uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
        query: [
            ("job_id".to_string(), job_id.to_string()),
            ("token".to_string(), token.to_string()),
        ]
        .into(),
        body: None,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    websocket::handle(&app.state, event).await.0
}

/// Issue 10: `$connect` was not rate-limited. Now 60 per user per minute, refused ones counted
/// (a reconnect loop against a job it may not see is bounded too); 429 problem+json with
/// Retry-After, as the HTTP limits answer.
#[tokio::test]
async fn websocket_connects_are_limited_to_60_per_user_per_minute() {
    let app = TestApp::with_websocket().await;
    let u = app.user().await;
    let other = app.user().await;
    app.project(&u, "Busy").await;
    app.project(&other, "Calm").await;
    let id = pending_job(&app, &u).await;
    let theirs = pending_job(&app, &other).await;
    cc_tests::fresh_minute_window().await;
    for i in 0..60 {
        // A third of them refused (a job the caller may not see): they count too.
        let (job, want) = if i % 3 == 0 { (theirs, 404) } else { (id, 200) };
        let r = connect_event(&app, job, &u.access).await;
        assert_eq!(r.status, want, "connect {i}: {}", r.body);
    }
    let r = connect_event(&app, id, &u.access).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["code"], "rate_limited");
    assert_eq!(r.body["detail"], "Rate limit exceeded: 60 per 1 minute");
    let wait = r.retry_after.expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    let doc = r.to_gateway();
    assert_eq!(doc["statusCode"], 429);
    assert_eq!(doc["headers"]["retry-after"], wait.to_string());
    // Through the gateway, as a client sees it: refused before the upgrade.
    assert_eq!(refused(&app, &id.to_string(), &u.access).await, 429);
    // Nothing was registered for the refused ones; other users are not affected.
    listeners_settle(&app, app_project(&app, &u).await, id, 40).await;
    assert_eq!(connect_event(&app, theirs, &other.access).await.status, 200);
}

/// Issue 10: a job's listener map was unbounded (it lives on the job item: 400 KB, and every
/// change is posted to each entry). Now 100 live listeners at most: the next connect is 409
/// too_many_listeners; a disconnect, or an entry past its expiry, makes room.
#[tokio::test]
async fn a_job_keeps_at_most_100_listeners() {
    let app = TestApp::with_websocket().await;
    let u = app.user().await;
    let helper = app.user().await;
    let p = app.project(&u, "Crowded").await;
    let pid = p["id"].as_u64().unwrap();
    app.post(&format!("/api/v1/projects/{pid}/members"))
        .bearer(&u.access)
        .json(json!({"user_id": helper.id}))
        .send()
        .await;
    let id = pending_job(&app, &u).await;
    cc_tests::fresh_minute_window().await;
    // Two users, 50 connects each (both within their own 60 per minute).
    for i in 0..100 {
        let token = if i % 2 == 0 {
            &u.access
        } else {
            &helper.access
        };
        let r = connect_event(&app, id, token).await;
        assert_eq!(r.status, 200, "connect {i}: {}", r.body);
    }
    let r = connect_event(&app, id, &u.access).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["code"], "too_many_listeners");
    assert_eq!(
        r.body["detail"],
        format!("Job {id} already has 100 progress listeners")
    );
    let job = job_item(&app, pid, id).await.unwrap();
    let listeners: Vec<String> = job["listeners"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(listeners.len(), 100);

    // A listener leaves: room for one.
    let bye = WsEvent {
        route: Route::Disconnect,
        connection_id: listeners[0].clone(),
        query: Default::default(),
        body: None,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    assert_eq!(websocket::handle(&app.state, bye).await.0.status, 200);
    assert_eq!(connect_event(&app, id, &helper.access).await.status, 200);
    assert_eq!(connect_event(&app, id, &helper.access).await.status, 409);
    // An entry past its expiry (its connection vanished without $disconnect) does not count.
    app.state
        .aws
        .dynamodb
        .update_item()
        .table_name(&app.state.config.table_name)
        .set_key(Some(keys::item(pid, "JOB", id).to_item()))
        .update_expression("SET listeners.#c = :past")
        .expression_attribute_names("#c", &listeners[1])
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(connect_event(&app, id, &helper.access).await.status, 200);
    let job = job_item(&app, pid, id).await.unwrap();
    let now: Vec<&String> = job["listeners"].as_object().unwrap().keys().collect();
    assert_eq!(now.len(), 100);
    assert!(
        !now.contains(&&listeners[1]),
        "the expired entry was pruned"
    );
}

async fn app_project(app: &TestApp, u: &TestUser) -> u64 {
    let r = app.get("/api/v1/projects").bearer(&u.access).send().await;
    r.body[0]["id"].as_u64().unwrap()
}
