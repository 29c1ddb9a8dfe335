//! API.md §10.1 inbound GitHub deliveries (`webhook-github`) and their processing
//! (`job-github-event`), and §10.2 `GET /webhooks/events`: signature cases (config secrets,
//! the server key, inactive and foreign configs refused), dedupe (sequential and racing), one
//! event per matching project, untracked repositories ignored, push → repository_sync job →
//! synced against a fake GitHub, duplicate processing messages, the list's filters and bounds.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cc_tests::fake_github::FakeGitHub;
use cc_tests::{Resp, TestApp, TestUser};
use commandcenter::domain::delivery::hub_signature;
use commandcenter::domain::jobs::JobType;
use commandcenter::jobs::github_event;
use serde_json::{json, Value};

const SERVER_KEY: &str = "server-webhook-key-0123456789";

/// An app with the server key (and a fake GitHub).
async fn app_with(server_key: Option<&str>, github: Option<String>) -> TestApp {
    let key = server_key.map(str::to_string);
    TestApp::with(|c| {
        c.github_webhook_secret = key;
        if let Some(g) = github {
            c.github_api_url = g;
        }
    })
    .await
}

fn unique_repo() -> String {
    format!(
        "acme/hook-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn delivery_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn track(app: &TestApp, u: &TestUser, pid: &Value, full: &str) -> u64 {
    let (owner, name) = full.split_once('/').unwrap();
    app.create(
        u,
        "/api/v1/repositories",
        Some(&pid["id"]),
        json!({"owner": owner, "name": name}),
    )
    .await["id"]
        .as_u64()
        .unwrap()
}

/// A webhook config item as the config API stores it (written directly: that API lives
/// elsewhere).
async fn config(
    app: &TestApp,
    pid: u64,
    repository_id: Option<u64>,
    active: bool,
    secret: &str,
) -> u64 {
    let id = commandcenter::domain::new_id();
    let sealed = app.state.sealer.seal(pid, secret).await.unwrap();
    let mut item: HashMap<String, AttributeValue> = HashMap::new();
    item.insert("pk".into(), AttributeValue::S(format!("PROJECT#{pid}")));
    item.insert("sk".into(), AttributeValue::S(format!("WHCFG#{id:016}")));
    item.insert("id".into(), AttributeValue::N(id.to_string()));
    item.insert("project_id".into(), AttributeValue::N(pid.to_string()));
    item.insert(
        "repository_id".into(),
        match repository_id {
            Some(r) => AttributeValue::N(r.to_string()),
            None => AttributeValue::Null(true),
        },
    );
    item.insert("active".into(), AttributeValue::Bool(active));
    item.insert("secret_sealed".into(), AttributeValue::S(sealed));
    item.insert(
        "webhook_url".into(),
        AttributeValue::S("https://hooks.example.com/x".into()),
    );
    app.seed(vec![item]).await;
    id
}

fn push_payload(full: &str) -> Value {
    json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "repository": {"id": 1296269, "full_name": full, "name": full.split('/').nth(1).unwrap()},
        "commits": [{"id": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "message": "Update README"}],
        "head_commit": {"id": "6113728f27ae82c7b1a177c8d03f9e96e0adf246"}
    })
}

/// POSTs a delivery; `sign` = the key to sign with (None: no signature header).
async fn deliver(
    app: &TestApp,
    event: &str,
    delivery: &str,
    body: &[u8],
    sign: Option<&str>,
) -> Resp {
    let mut r = app
        .post("/api/v1/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .raw(body.to_vec());
    if let Some(key) = sign {
        r = r.header("x-hub-signature-256", &hub_signature(key, body));
    }
    r.send().await
}

async fn push(app: &TestApp, full: &str, delivery: &str, key: &str) -> Resp {
    let body = serde_json::to_vec(&push_payload(full)).unwrap();
    deliver(app, "push", delivery, &body, Some(key)).await
}

async fn events(app: &TestApp, u: &TestUser, pid: &Value, query: &str) -> Resp {
    app.get(&format!("/api/v1/webhooks/events{query}"))
        .bearer(&u.access)
        .header("x-project-id", &pid["id"].to_string())
        .send()
        .await
}

async fn events_of(app: &TestApp, u: &TestUser, pid: &Value) -> Vec<Value> {
    let r = events(app, u, pid, "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().clone()
}

fn assert_ack(r: &Resp, status: u16, what: &str, event: &str, delivery: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"status": what, "event_type": event, "delivery_id": delivery})
    );
}

fn invalid(r: &Resp, detail: &str) {
    let p = r.problem(401, "invalid_signature");
    assert_eq!(p["detail"], detail);
}

/// The processing messages of `events` (project, event) from the github-event queue, as
/// Lambda's event source mapping delivers them (other messages are made visible again).
async fn receive_events(
    app: &TestApp,
    wanted: &[(u64, u64)],
) -> aws_lambda_events::event::sqs::SqsEvent {
    let queue = app.state.config.queue_urls["github_event"].clone();
    let sqs = &app.state.aws.sqs;
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    for _ in 0..30 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or(Value::Null);
            let key = (
                body["project_id"].as_u64().unwrap_or(0),
                body["event_id"].as_u64().unwrap_or(0),
            );
            if wanted.contains(&key) {
                event
                    .records
                    .push(commandcenter::queue::to_lambda_message(m));
            } else if let Some(h) = m.receipt_handle() {
                let _ = sqs
                    .change_message_visibility()
                    .queue_url(&queue)
                    .receipt_handle(h)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
        }
        if event.records.len() >= wanted.len() {
            break;
        }
    }
    assert_eq!(
        event.records.len(),
        wanted.len(),
        "every event's message arrived"
    );
    event
}

async fn sync_jobs(app: &TestApp, u: &TestUser, pid: &Value) -> Vec<Value> {
    let r = app
        .get("/api/v1/jobs?job_type=repository_sync")
        .bearer(&u.access)
        .header("x-project-id", &pid["id"].to_string())
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["jobs"].as_array().unwrap().clone()
}

#[tokio::test]
async fn signatures_are_checked_against_every_candidate_key() {
    let app = app_with(Some(SERVER_KEY), None).await;
    let u = app.user().await;
    let p = app.project(&u, "Inbound signatures").await;
    let pid = p["id"].as_u64().unwrap();
    let (full, other) = (unique_repo(), unique_repo());
    let rid = track(&app, &u, &p, &full).await;
    let other_rid = track(&app, &u, &p, &other).await;
    let active = config(&app, pid, Some(rid), true, "active-config-secret-01").await;
    config(&app, pid, Some(rid), false, "inactive-config-secret-1").await;
    config(&app, pid, Some(other_rid), true, "other-repo-secret-00001").await;
    config(&app, pid, None, true, "unbound-config-secret-01").await;
    let body = serde_json::to_vec(&push_payload(&full)).unwrap();

    invalid(
        &deliver(&app, "push", &delivery_id(), &body, None).await,
        "X-Hub-Signature-256 header is missing",
    );
    for bad in ["sha256=zz", "sha1=0123", "sha256=abcd", ""] {
        let r = app
            .post("/api/v1/webhooks/github")
            .header("x-github-event", "push")
            .header("x-github-delivery", &delivery_id())
            .header("x-hub-signature-256", bad)
            .raw(body.clone())
            .send()
            .await;
        invalid(&r, "Invalid signature format");
    }
    for wrong in [
        "not-the-secret-000000",
        "inactive-config-secret-1",
        "other-repo-secret-00001",
        "unbound-config-secret-01",
    ] {
        invalid(
            &deliver(&app, "push", &delivery_id(), &body, Some(wrong)).await,
            "Invalid webhook signature",
        );
    }
    // A tampered body under a valid signature.
    let r = app
        .post("/api/v1/webhooks/github")
        .header("x-github-event", "push")
        .header("x-github-delivery", &delivery_id())
        .header(
            "x-hub-signature-256",
            &hub_signature("active-config-secret-01", &body),
        )
        .raw([body.clone(), b" ".to_vec()].concat())
        .send()
        .await;
    invalid(&r, "Invalid webhook signature");
    assert!(
        events_of(&app, &u, &p).await.is_empty(),
        "nothing refused was stored"
    );

    let d1 = delivery_id();
    let r = deliver(&app, "push", &d1, &body, Some("active-config-secret-01")).await;
    assert_ack(&r, 202, "accepted", "push", &d1);
    let d2 = delivery_id();
    let r = deliver(&app, "push", &d2, &body, Some(SERVER_KEY)).await;
    assert_ack(&r, 202, "accepted", "push", &d2);
    // gsi1 Query, one config Query, the transaction, SendMessageBatch (the secret was opened
    // by the previous delivery in this process).
    assert_eq!(r.aws_calls(), 4, "{:?}", r.header("server-timing"));
    let stored = events_of(&app, &u, &p).await;
    assert_eq!(stored.len(), 2);
    // Newest first.
    assert_eq!(stored[0]["delivery_id"], d2.as_str());
    assert_eq!(
        stored[0]["config_id"],
        Value::Null,
        "the server key verified it"
    );
    assert_eq!(stored[1]["delivery_id"], d1.as_str());
    assert_eq!(stored[1]["config_id"], active);
    let e = &stored[1];
    assert_eq!(e["project_id"], pid);
    assert_eq!(e["event_type"], "push");
    assert_eq!(e["repository_full_name"], full.as_str());
    assert_eq!(e["payload"], push_payload(&full));
    assert_eq!(e["processed"], false);
    assert_eq!(e["processed_at"], Value::Null);
    assert_eq!(e["error"], Value::Null);
    assert!(e["received_at"].as_str().unwrap().ends_with('Z'));
    assert!(e["id"].as_u64().is_some());
}

#[tokio::test]
async fn the_delivery_headers_are_required() {
    let app = app_with(Some(SERVER_KEY), None).await;
    let body = serde_json::to_vec(&push_payload(&unique_repo())).unwrap();
    let sig = hub_signature(SERVER_KEY, &body);
    let r = app
        .post("/api/v1/webhooks/github")
        .header("x-github-event", "push")
        .header("x-hub-signature-256", &sig)
        .raw(body.clone())
        .send()
        .await;
    let p = r.problem(422, "validation_error");
    assert_eq!(
        p["errors"][0]["loc"],
        json!(["header", "X-GitHub-Delivery"])
    );
    assert_eq!(p["errors"][0]["type"], "missing");
    let r = app
        .post("/api/v1/webhooks/github")
        .header("x-github-delivery", &delivery_id())
        .header("x-hub-signature-256", &sig)
        .raw(body.clone())
        .send()
        .await;
    let p = r.problem(422, "validation_error");
    assert_eq!(p["errors"][0]["loc"], json!(["header", "X-GitHub-Event"]));
    let r = deliver(&app, "push", "not a guid!", &body, Some(SERVER_KEY)).await;
    let p = r.problem(422, "validation_error");
    assert_eq!(
        p["errors"][0]["loc"],
        json!(["header", "X-GitHub-Delivery"])
    );
    assert_eq!(p["errors"][0]["type"], "value_error");
    // A trailing slash answers the same; no Authorization is needed and no rate charge applies.
    let d = delivery_id();
    let r = app
        .post("/api/v1/webhooks/github/")
        .header("x-github-event", "push")
        .header("x-github-delivery", &d)
        .header("x-hub-signature-256", &sig)
        .raw(body)
        .send()
        .await;
    assert_ack(&r, 202, "ignored", "push", &d);
    assert!(r.header("ratelimit-limit").is_none());
}

#[tokio::test]
async fn untracked_repositories_and_payloads_without_one_are_ignored() {
    let app = app_with(Some(SERVER_KEY), None).await;
    let d = delivery_id();
    let r = push(&app, &unique_repo(), &d, SERVER_KEY).await;
    assert_ack(&r, 202, "ignored", "push", &d);
    assert_eq!(r.aws_calls(), 1, "only the gsi1 Query");
    // An organization's ping names no repository: only the server key verifies it.
    let ping = br#"{"zen":"Design for failure.","hook_id":1,"organization":{"login":"acme"}}"#;
    let d = delivery_id();
    let r = deliver(&app, "ping", &d, ping, Some(SERVER_KEY)).await;
    assert_ack(&r, 202, "ignored", "ping", &d);
    assert_eq!(r.aws_calls(), 0);
    invalid(
        &deliver(
            &app,
            "ping",
            &delivery_id(),
            ping,
            Some("some-other-key-000"),
        )
        .await,
        "Invalid webhook signature",
    );
    // A body that is not JSON: 401 unless signed, then 422.
    invalid(
        &deliver(
            &app,
            "push",
            &delivery_id(),
            b"not json",
            Some("wrong-key-0000000"),
        )
        .await,
        "Invalid webhook signature",
    );
    let r = deliver(&app, "push", &delivery_id(), b"not json", Some(SERVER_KEY)).await;
    let p = r.problem(422, "validation_error");
    assert_eq!(p["errors"][0]["type"], "json_invalid");
    // Without a server key, nothing verifies an untracked repository's delivery.
    let bare = app_with(None, None).await;
    invalid(
        &push(&bare, &unique_repo(), &delivery_id(), SERVER_KEY).await,
        "Invalid webhook signature",
    );
}

#[tokio::test]
async fn a_known_delivery_is_already_processed() {
    let app = app_with(Some(SERVER_KEY), None).await;
    let u = app.user().await;
    let p = app.project(&u, "Inbound dedupe").await;
    let full = unique_repo();
    track(&app, &u, &p, &full).await;
    let d = delivery_id();
    assert_ack(
        &push(&app, &full, &d, SERVER_KEY).await,
        202,
        "accepted",
        "push",
        &d,
    );
    let again = push(&app, &full, &d, SERVER_KEY).await;
    assert_ack(&again, 200, "already_processed", "push", &d);
    // Signature first: a known delivery id with a bad signature is still 401.
    invalid(
        &push(&app, &full, &d, "wrong-key-0000000").await,
        "Invalid webhook signature",
    );
    assert_eq!(events_of(&app, &u, &p).await.len(), 1);

    // Two identical deliveries at once: exactly one is accepted.
    let d = delivery_id();
    let (a, b) = tokio::join!(
        push(&app, &full, &d, SERVER_KEY),
        push(&app, &full, &d, SERVER_KEY)
    );
    let mut statuses = vec![a.body["status"].clone(), b.body["status"].clone()];
    statuses.sort_by_key(|s| s.to_string());
    assert_eq!(
        statuses,
        vec![json!("accepted"), json!("already_processed")],
        "{} / {}",
        a.text,
        b.text
    );
    let stored = events_of(&app, &u, &p).await;
    assert_eq!(
        stored
            .iter()
            .filter(|e| e["delivery_id"] == d.as_str())
            .count(),
        1
    );
}

#[tokio::test]
async fn the_server_key_stores_one_event_per_tracking_project() {
    let app = app_with(Some(SERVER_KEY), None).await;
    let (u1, u2) = (app.user().await, app.user().await);
    let p1 = app.project(&u1, "Tracker one").await;
    let p2 = app.project(&u2, "Tracker two").await;
    let full = unique_repo();
    let rid1 = track(&app, &u1, &p1, &full).await;
    // Another case: GitHub names ignore case.
    track(&app, &u2, &p2, &full.to_uppercase()).await;
    let d = delivery_id();
    let r = push(&app, &full, &d, SERVER_KEY).await;
    assert_ack(&r, 202, "accepted", "push", &d);
    // gsi1 Query + two config Queries + transaction + SendMessageBatch.
    assert_eq!(r.aws_calls(), 5);
    let e1 = events_of(&app, &u1, &p1).await;
    let e2 = events_of(&app, &u2, &p2).await;
    assert_eq!((e1.len(), e2.len()), (1, 1));
    assert_eq!(e1[0]["project_id"], p1["id"]);
    assert_eq!(e2[0]["project_id"], p2["id"]);
    assert_ne!(e1[0]["id"], e2[0]["id"]);
    // A config's key admits only its own project.
    let pid1 = p1["id"].as_u64().unwrap();
    let cid = config(&app, pid1, Some(rid1), true, "project-one-secret-001").await;
    let d = delivery_id();
    assert_ack(
        &push(&app, &full, &d, "project-one-secret-001").await,
        202,
        "accepted",
        "push",
        &d,
    );
    let e1 = events_of(&app, &u1, &p1).await;
    assert_eq!(e1.len(), 2);
    assert_eq!(e1[0]["config_id"], cid);
    assert_eq!(events_of(&app, &u2, &p2).await.len(), 1);
}

#[tokio::test]
async fn a_push_syncs_the_repository_once_and_other_events_are_only_recorded() {
    let gh = FakeGitHub::default();
    let server = gh.start().await;
    let full = unique_repo();
    gh.add_repo(&full);
    let app = app_with(Some(SERVER_KEY), Some(server.uri())).await;
    let u = app.user().await;
    let p = app.project(&u, "Inbound push").await;
    let pid = p["id"].as_u64().unwrap();
    let rid = track(&app, &u, &p, &full).await;
    let sha = gh.push(&full);
    let d = delivery_id();
    assert_ack(
        &push(&app, &full, &d, SERVER_KEY).await,
        202,
        "accepted",
        "push",
        &d,
    );
    let stored = events_of(&app, &u, &p).await;
    let eid = stored[0]["id"].as_u64().unwrap();

    // job-github-event: the queued message → one repository_sync job.
    let event = receive_events(&app, &[(pid, eid)]).await;
    let state = app.job_state();
    let out = github_event::handle_batch(&state, event.clone()).await;
    assert!(out.batch_item_failures.is_empty());
    let jobs = sync_jobs(&app, &u, &p).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["parameters"], json!({"repository_id": rid}));
    assert_eq!(jobs[0]["tags"]["trigger"], "github-push");
    assert_eq!(jobs[0]["tags"]["webhook_event_id"], eid);
    let e = &events_of(&app, &u, &p).await[0];
    assert_eq!(e["processed"], true, "{e}");
    assert!(e["processed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(e["error"], Value::Null);

    // The same message delivered again (SQS is at least once): no second job.
    let again = github_event::process(
        &state,
        &github_event::EventMessage {
            project_id: pid,
            event_id: eid,
        },
    )
    .await;
    assert_eq!(again, github_event::Processed::Skipped("already processed"));
    let out = github_event::handle_batch(&state, event).await;
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(sync_jobs(&app, &u, &p).await.len(), 1);

    // The sync job runs against the fake GitHub.
    let jid = jobs[0]["id"].as_u64().unwrap();
    let out = app.run_jobs(JobType::RepositorySync, &[jid]).await;
    assert!(out.batch_item_failures.is_empty());
    let r = app
        .get(&format!("/api/v1/jobs/{jid}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["status"], "completed", "{}", r.text);
    let repo = app
        .get(&format!("/api/v1/repositories/{rid}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(repo.body["last_commit_sha"], sha.as_str());
    assert!(repo.body["last_synced_at"].is_string());

    // A ping for the repository is recorded and processed without a job.
    let ping = serde_json::to_vec(&json!({"zen": "Keep it logically awesome.", "hook_id": 7,
        "repository": {"full_name": full}}))
    .unwrap();
    let d = delivery_id();
    assert_ack(
        &deliver(&app, "ping", &d, &ping, Some(SERVER_KEY)).await,
        202,
        "accepted",
        "ping",
        &d,
    );
    let ping_event = events_of(&app, &u, &p).await[0].clone();
    assert_eq!(ping_event["event_type"], "ping");
    let eid = ping_event["id"].as_u64().unwrap();
    let event = receive_events(&app, &[(pid, eid)]).await;
    assert!(github_event::handle_batch(&state, event)
        .await
        .batch_item_failures
        .is_empty());
    let e = events(&app, &u, &p, "?event_type=ping").await.body[0].clone();
    assert_eq!(e["processed"], true);
    assert_eq!(sync_jobs(&app, &u, &p).await.len(), 1, "no job for a ping");
}

#[tokio::test]
async fn a_push_for_a_repository_untracked_meanwhile_is_processed_without_a_job() {
    let app = app_with(Some(SERVER_KEY), None).await;
    let u = app.user().await;
    let p = app.project(&u, "Inbound untracked").await;
    let pid = p["id"].as_u64().unwrap();
    let full = unique_repo();
    let rid = track(&app, &u, &p, &full).await;
    let d = delivery_id();
    assert_ack(
        &push(&app, &full, &d, SERVER_KEY).await,
        202,
        "accepted",
        "push",
        &d,
    );
    let eid = events_of(&app, &u, &p).await[0]["id"].as_u64().unwrap();
    let r = app
        .delete(&format!("/api/v1/repositories/{rid}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    let event = receive_events(&app, &[(pid, eid)]).await;
    let _ = event;
    let done = github_event::process(
        &app.job_state(),
        &github_event::EventMessage {
            project_id: pid,
            event_id: eid,
        },
    )
    .await;
    assert_eq!(done, github_event::Processed::Recorded);
    assert_eq!(events_of(&app, &u, &p).await[0]["processed"], true);
    assert!(sync_jobs(&app, &u, &p).await.is_empty());
    // A message naming an unknown event is acknowledged without effect.
    let gone = github_event::process(
        &app.job_state(),
        &github_event::EventMessage {
            project_id: pid,
            event_id: 1,
        },
    )
    .await;
    assert_eq!(gone, github_event::Processed::Skipped("event not found"));
}

#[tokio::test]
async fn events_are_listed_newest_first_with_filters_and_bounds() {
    let app = app_with(Some(SERVER_KEY), None).await;
    let u = app.user().await;
    let p = app.project(&u, "Inbound list").await;
    let (a, b) = (unique_repo(), unique_repo());
    track(&app, &u, &p, &a).await;
    track(&app, &u, &p, &b).await;
    let ping = |full: &str| {
        serde_json::to_vec(&json!({"zen": "z", "repository": {"full_name": full}})).unwrap()
    };
    for (event, body) in [
        ("push", serde_json::to_vec(&push_payload(&a)).unwrap()),
        ("ping", ping(&a)),
        ("push", serde_json::to_vec(&push_payload(&b)).unwrap()),
    ] {
        let r = deliver(&app, event, &delivery_id(), &body, Some(SERVER_KEY)).await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let all = events_of(&app, &u, &p).await;
    assert_eq!(all.len(), 3);
    let received: Vec<&str> = all
        .iter()
        .map(|e| e["received_at"].as_str().unwrap())
        .collect();
    let mut sorted = received.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(received, sorted, "received_at desc");
    assert_eq!(all[0]["repository_full_name"], b.as_str());
    let count = |r: Resp| {
        assert_eq!(r.status, 200, "{}", r.text);
        r.body.as_array().unwrap().len()
    };
    assert_eq!(count(events(&app, &u, &p, "?event_type=push").await), 2);
    assert_eq!(count(events(&app, &u, &p, "?event_type=ping").await), 1);
    assert_eq!(
        count(
            events(
                &app,
                &u,
                &p,
                &format!("?repository_full_name={}", a.to_uppercase())
            )
            .await
        ),
        2
    );
    assert_eq!(
        count(
            events(
                &app,
                &u,
                &p,
                &format!("?repository_full_name={a}&event_type=push")
            )
            .await
        ),
        1
    );
    assert_eq!(count(events(&app, &u, &p, "?processed=false").await), 3);
    assert_eq!(count(events(&app, &u, &p, "?processed=true").await), 0);
    assert_eq!(count(events(&app, &u, &p, "?limit=2").await), 2);
    assert_eq!(count(events(&app, &u, &p, "?limit=500").await), 3);
    for bad in ["?limit=0", "?limit=501", "?limit=x", "?processed=maybe"] {
        let r = events(&app, &u, &p, bad).await;
        let body = r.problem(422, "validation_error");
        assert_eq!(body["errors"][0]["loc"][0], "query", "{bad}");
    }
    // Project-scoped: another user's project is not reachable.
    let other = app.user().await;
    let r = events(&app, &other, &p, "").await;
    r.problem(403, "not_a_member");
    let r = app.get("/api/v1/webhooks/events").send().await;
    r.problem(401, "not_authenticated");
}
