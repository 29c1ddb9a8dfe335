//! API.md §10.2–§10.3 outbound webhooks: configs, the stream fan-out, signed deliveries to a
//! wiremock receiver (checked with the Standard Webhooks reference implementation), retries
//! with back-off, 410, exhaustion to the dead-letter queue, duplicate messages, statistics.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use cc_tests::{TestApp, TestUser};
use commandcenter::domain::jobs::JobType;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn app() -> TestApp {
    TestApp::webhooks(|c| c.webhook_allow_private_targets = true).await
}

async fn setup(app: &TestApp) -> (TestUser, Value) {
    let u = app.user().await;
    let p = app
        .project(&u, &format!("hooks-{}", uuid::Uuid::new_v4()))
        .await;
    (u, p["id"].clone())
}

async fn config(app: &TestApp, u: &TestUser, pid: &Value, body: Value) -> Value {
    app.create(u, "/api/v1/webhooks/configs", Some(pid), body)
        .await
}

/// A receiver answering every POST with `status`.
async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

/// POST /webhooks/deliveries of `event_type` with an empty payload to `config`; its id.
async fn send_manual(
    app: &TestApp,
    u: &TestUser,
    pid: &Value,
    config: &Value,
    event_type: &str,
) -> u64 {
    app.create(
        u,
        "/api/v1/webhooks/deliveries",
        Some(pid),
        json!({"config_id": config["id"], "event_type": event_type, "payload": {}}),
    )
    .await["id"]
        .as_u64()
        .unwrap()
}

/// Hands the stream's event records of project `pid` to the fan-out, as its event source
/// mapping would.
async fn fan_out(app: &TestApp, pid: &Value) -> commandcenter::webhooks::fanout::Report {
    let client = cc_local::streams::client(&app.state.aws.sdk);
    let records = cc_local::streams::read_events(&client, &app.state.config.table_name)
        .await
        .expect("stream");
    let mut event = aws_lambda_events::event::dynamodb::Event::default();
    event.records = records
        .into_iter()
        .filter(|r| {
            r.change
                .new_image
                .get("project_id")
                .and_then(|v| serde_dynamo::from_attribute_value::<_, u64>(v.clone()).ok())
                == pid.as_u64()
        })
        .collect();
    let (response, report) = commandcenter::webhooks::fanout::handle(&app.job_state(), event).await;
    assert!(response.batch_item_failures.is_empty(), "{report:?}");
    report
}

/// Waits (up to `within`) for the queued message of delivery `id` and hands it to the
/// job-webhook-delivery handler; returns the event it handled.
async fn deliver(app: &TestApp, id: u64, within: Duration) -> SqsEvent {
    let queue = &app.state.config.queue_urls["webhook_delivery"];
    let end = Instant::now() + within;
    loop {
        let event =
            cc_tests::receive_where(&app.state.aws.sqs, queue, 1, 3, |b| b["delivery_id"] == id)
                .await;
        if !event.records.is_empty() {
            let r = commandcenter::jobs::runner::handle_batch(
                &app.job_state(),
                JobType::WebhookDelivery,
                &commandcenter::jobs::work::work_for(JobType::WebhookDelivery),
                event.clone(),
            )
            .await;
            assert!(r.batch_item_failures.is_empty());
            return event;
        }
        assert!(Instant::now() < end, "no message for delivery {id}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn delivery(app: &TestApp, u: &TestUser, id: u64) -> Value {
    let r = app
        .get(&format!("/api/v1/webhooks/deliveries/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn deliveries(app: &TestApp, u: &TestUser, pid: &Value, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/webhooks/deliveries?{query}"))
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Checks one received request with the Standard Webhooks reference implementation (the
/// `standardwebhooks` package on PyPI) and our own X-Hub-Signature-256.
fn verify_with_reference(req: &wiremock::Request, secret: &str) {
    let header = |n: &str| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let python = std::env::var("CC_PROVISION")
        .ok()
        .and_then(|c| c.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python").into());
    let script = "import sys, json\n\
        from standardwebhooks.webhooks import Webhook\n\
        a = json.loads(sys.stdin.read())\n\
        Webhook(a['secret']).verify(a['body'], a['headers'])\n\
        print('verified')";
    let input = json!({
        "secret": secret,
        "body": String::from_utf8(req.body.clone()).unwrap(),
        "headers": {
            "webhook-id": header("webhook-id"),
            "webhook-timestamp": header("webhook-timestamp"),
            "webhook-signature": header("webhook-signature"),
        },
    });
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python of the venv");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks refused the signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        header("x-hub-signature-256"),
        commandcenter::domain::delivery::hub_signature(secret, &req.body)
    );
}

#[tokio::test]
async fn configs_show_their_secret_once_and_are_unique_per_url() {
    let app = TestApp::webhooks(|c| c.webhook_allow_private_targets = false).await;
    let (u, pid) = setup(&app).await;
    let c = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": "https://hooks.example.com/a", "events": ["technology.*"]}),
    )
    .await;
    let secret = c["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(c["active"], true);
    assert_eq!(c["retry_count"], 3);
    assert_eq!(c["retry_delay_seconds"], 300);
    assert_eq!(c["webhook_id"], Value::Null);
    let id = c["id"].as_u64().unwrap();
    let got = app
        .get(&format!("/api/v1/webhooks/configs/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("secret").is_none(), "{}", got.body);
    assert!(!got.text.contains(secret));
    let list = app
        .get("/api/v1/webhooks/configs")
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .send()
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert!(!list.text.contains(secret));

    let post = |body: Value| {
        app.post("/api/v1/webhooks/configs")
            .bearer(&u.access)
            .header("x-project-id", &pid.to_string())
            .json(body)
            .send()
    };
    let dup = post(json!({"webhook_url": "https://hooks.example.com/a"})).await;
    dup.problem(409, "webhook_config_exists");
    assert_eq!(
        dup.body["detail"],
        "Webhook configuration already exists for this URL"
    );
    post(json!({"webhook_url": "https://127.0.0.1/x"}))
        .await
        .problem(400, "target_not_allowed");
    post(json!({"webhook_url": "http://hooks.example.com/x"}))
        .await
        .problem(400, "target_not_allowed");
    let bad =
        post(json!({"webhook_url": "https://hooks.example.com/b", "events": ["job.done"]})).await;
    bad.problem(422, "validation_error");
    assert_eq!(bad.body["errors"][0]["loc"], json!(["body", "events"]));
    assert!(
        bad.text.contains("Unknown event type: job.done"),
        "{}",
        bad.text
    );
    for body in [
        json!({"webhook_url": "https://hooks.example.com/b", "retry_count": 11}),
        json!({"webhook_url": "https://hooks.example.com/b", "retry_delay_seconds": 0}),
        json!({"webhook_url": "https://hooks.example.com/b", "secret": "short"}),
        json!({"webhook_url": "x".repeat(513)}),
    ] {
        post(body).await.problem(422, "validation_error");
    }
    post(json!({"webhook_url": "https://hooks.example.com/b", "repository_id": 99}))
        .await
        .problem(404, "repository_not_found");
    // Same URL for a repository: another config; then a rename onto a taken URL is refused.
    let repo = app.repo(&u, Some(&pid)).await;
    let other = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": "https://hooks.example.com/a", "repository_id": repo, "secret": "0123456789abcdef"}),
    )
    .await;
    assert_eq!(other["secret"], "0123456789abcdef");
    let b = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": "https://hooks.example.com/b"}),
    )
    .await;
    let r = app
        .patch(&format!("/api/v1/webhooks/configs/{}", b["id"]))
        .bearer(&u.access)
        .json(json!({"webhook_url": "https://hooks.example.com/a"}))
        .send()
        .await;
    r.problem(409, "webhook_config_exists");
    let r = app
        .patch(&format!("/api/v1/webhooks/configs/{}", b["id"]))
        .bearer(&u.access)
        .json(json!({"retry_count": 5, "events": ["job.*", "*"], "active": false}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["retry_count"], 5);
    assert_eq!(r.body["active"], false);
    // Deleting the repository removes its config; deleting a config is 204 then 404.
    let r = app
        .delete(&format!("/api/v1/repositories/{repo}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .get(&format!("/api/v1/webhooks/configs/{}", other["id"]))
        .bearer(&u.access)
        .send()
        .await;
    r.problem(404, "webhook_config_not_found");
    let r = app
        .delete(&format!("/api/v1/webhooks/configs/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .get(&format!("/api/v1/webhooks/configs/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    r.problem(404, "webhook_config_not_found");
    assert_eq!(
        r.body["detail"],
        format!("Webhook configuration {id} not found")
    );
}

#[tokio::test]
async fn a_technology_event_reaches_a_subscribed_config_exactly_once_signed() {
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("thanks"))
        .mount(&receiver)
        .await;
    let c = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": format!("{}/hook", receiver.uri()), "events": ["technology.*"], "secret": SECRET}),
    )
    .await;
    // Not subscribed: gets nothing.
    config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": format!("{}/jobs", receiver.uri()), "events": ["job.*"]}),
    )
    .await;
    let tech = app
        .create(
            &u,
            "/api/v1/technologies",
            Some(&pid),
            json!({"title": "Tokio"}),
        )
        .await;
    let report = fan_out(&app, &pid).await;
    assert_eq!(
        (report.events, report.created, report.queued),
        (1, 1, 1),
        "{report:?}"
    );
    // The stream hands the batch over again (a retry, a redeployed consumer): nothing new.
    let again = fan_out(&app, &pid).await;
    assert_eq!(again.created, 0, "{again:?}");
    let list = deliveries(&app, &u, &pid, "").await;
    assert_eq!(list["total"], 1, "{list}");
    let d = &list["deliveries"][0];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["config_id"], c["id"]);
    assert_eq!(d["event_type"], "technology.created");
    assert_eq!(d["payload"]["id"], tech["id"]);
    let id = d["id"].as_u64().unwrap();
    // The replayed batch queued the never-attempted delivery again: both messages are
    // handled, one request is made.
    deliver(&app, id, Duration::from_secs(10)).await;
    let _ = cc_tests::receive_where(
        &app.state.aws.sqs,
        &app.state.config.queue_urls["webhook_delivery"],
        1,
        3,
        |b| b["delivery_id"] == id,
    )
    .await;
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.url.path(), "/hook");
    let h = |n: &str| req.headers.get(n).unwrap().to_str().unwrap().to_string();
    assert_eq!(h("webhook-id"), id.to_string());
    assert_eq!(h("x-webhook-delivery-id"), id.to_string());
    assert_eq!(h("x-webhook-event"), "technology.created");
    assert_eq!(h("user-agent"), "CommandCenter-Webhook/1.0");
    assert_eq!(h("content-type"), "application/json");
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["type"], "technology.created");
    assert_eq!(body["project_id"], pid);
    assert_eq!(body["data"]["title"], "Tokio");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    verify_with_reference(req, SECRET);

    let d = delivery(&app, &u, id).await;
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["http_status_code"], 200);
    assert_eq!(d["response_body"], "thanks");
    assert_eq!(d["attempt_number"], 1);
    assert!(d["completed_at"].is_string() && d["attempted_at"].is_string());
    let cfg = app
        .get(&format!("/api/v1/webhooks/configs/{}", c["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert!(cfg.body["last_delivery_at"].is_string(), "{}", cfg.body);
    let stats = app
        .get("/api/v1/webhooks/statistics")
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .send()
        .await;
    assert_eq!(
        stats.body,
        json!({"total_configs": 2, "total_deliveries": 1, "successful_deliveries": 1, "failed_deliveries": 0, "success_rate": 100.0})
    );
    let per = app
        .get(&format!(
            "/api/v1/webhooks/statistics?config_id={}",
            c["id"]
        ))
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .send()
        .await;
    assert_eq!(per.body["total_deliveries"], 1);
    assert_eq!(per.body["total_configs"], 1);
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_one_success_after_four_attempts() {
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("down"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let c = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": receiver.uri(), "retry_count": 3, "retry_delay_seconds": 1, "secret": SECRET}),
    )
    .await;
    let d = app
        .create(
            &u,
            "/api/v1/webhooks/deliveries",
            Some(&pid),
            json!({"config_id": c["id"], "event_type": "custom.ping", "payload": {"n": 1}}),
        )
        .await;
    assert_eq!(
        (d["status"].as_str(), d["attempt_number"].as_i64()),
        (Some("pending"), Some(1))
    );
    let id = d["id"].as_u64().unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    for attempt in 1..=4 {
        deliver(&app, id, Duration::from_secs(20)).await;
        let now = delivery(&app, &u, id).await;
        seen.push((
            now["status"].clone(),
            now["attempt_number"].clone(),
            now["error_message"].clone(),
        ));
        if attempt < 4 {
            assert_eq!(now["status"], "retrying", "{now}");
            assert_eq!(now["attempt_number"], attempt + 1);
            assert_eq!(now["error_message"], "HTTP 500: down");
            assert_eq!(now["http_status_code"], 500);
        }
    }
    let end = delivery(&app, &u, id).await;
    assert_eq!(end["status"], "delivered", "{seen:?}");
    assert_eq!(end["attempt_number"], 4);
    assert_eq!(end["error_message"], Value::Null);
    // Back-off 1·2^(n−1)·[0.8, 1.2] s: at least 0.8 + 1.6 + 3.2 s in all.
    assert!(
        started.elapsed() >= Duration::from_millis(5_600),
        "{:?}",
        started.elapsed()
    );
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    let ids: Vec<_> = requests
        .iter()
        .map(|r| {
            r.headers
                .get("webhook-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(ids.iter().all(|i| *i == id.to_string()), "{ids:?}");
    for r in &requests {
        verify_with_reference(r, SECRET);
    }
    let stats = app
        .get(&format!(
            "/api/v1/webhooks/statistics?config_id={}",
            c["id"]
        ))
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .send()
        .await;
    assert_eq!(stats.body["successful_deliveries"], 1);
    assert_eq!(stats.body["total_deliveries"], 1);
}

#[tokio::test]
async fn gone_disables_the_config_and_exhausted_goes_to_the_dead_letter_queue() {
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let gone = receiver(410).await;
    let c = config(&app, &u, &pid, json!({"webhook_url": gone.uri()})).await;
    let send = |config: &Value| {
        app.post("/api/v1/webhooks/deliveries")
            .bearer(&u.access)
            .header("x-project-id", &pid.to_string())
            .json(json!({"config_id": config["id"], "event_type": "technology.created", "payload": {}}))
            .send()
    };
    let d = send(&c).await;
    assert_eq!(d.status, 201, "{}", d.text);
    let id = d.body["id"].as_u64().unwrap();
    deliver(&app, id, Duration::from_secs(10)).await;
    let after = delivery(&app, &u, id).await;
    assert_eq!(after["status"], "failed");
    assert_eq!(
        after["error_message"],
        "Endpoint gone (410); configuration disabled"
    );
    assert_eq!(after["http_status_code"], 410);
    let cfg = app
        .get(&format!("/api/v1/webhooks/configs/{}", c["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(cfg.body["active"], false);
    let r = send(&c).await;
    r.problem(400, "config_inactive");
    assert_eq!(
        r.body["detail"],
        format!("Webhook configuration {} is inactive", c["id"])
    );
    let r = app
        .post(&format!("/api/v1/webhooks/deliveries/{id}/retry"))
        .bearer(&u.access)
        .send()
        .await;
    r.problem(400, "config_inactive");

    // No retries left: exhausted, and the message goes to the dead-letter queue.
    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .mount(&failing)
        .await;
    let c = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": failing.uri(), "retry_count": 0, "events": ["technology.*"]}),
    )
    .await;
    let r = app
        .post("/api/v1/webhooks/deliveries")
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .json(json!({"config_id": c["id"], "event_type": "job.completed", "payload": {}}))
        .send()
        .await;
    r.problem(400, "event_not_subscribed");
    let d = send(&c).await;
    let id = d.body["id"].as_u64().unwrap();
    deliver(&app, id, Duration::from_secs(10)).await;
    let after = delivery(&app, &u, id).await;
    assert_eq!(after["status"], "exhausted", "{after}");
    assert_eq!(after["error_message"], "HTTP 503: ");
    let dlq = app
        .state
        .config
        .webhook_dlq_url
        .clone()
        .expect("DLQ_URL_WEBHOOK_DELIVERY");
    let dead =
        cc_tests::receive_where(&app.state.aws.sqs, &dlq, 1, 20, |b| b["delivery_id"] == id).await;
    assert_eq!(
        dead.records.len(),
        1,
        "the exhausted delivery's message is in the DLQ"
    );
    // The dead-letter handler finds it ended and leaves it so.
    let r = commandcenter::jobs::runner::handle_dead_letters(&app.job_state(), dead).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(delivery(&app, &u, id).await["status"], "exhausted");
    // A manual retry: pending now, next attempt number, a fresh budget; delivered.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(1)
        .mount(&failing)
        .await;
    // Two retries at once: one is scheduled, the other finds it pending (400).
    let retry = || {
        app.post(&format!("/api/v1/webhooks/deliveries/{id}/retry"))
            .bearer(&u.access)
            .send()
    };
    let (a, b) = tokio::join!(retry(), retry());
    let (won, lost) = if a.status == 202 { (a, b) } else { (b, a) };
    assert_eq!(won.status, 202, "{}", won.text);
    assert_eq!(
        won.body,
        json!({"status": "scheduled", "delivery_id": id, "message": "Delivery scheduled for retry"})
    );
    lost.problem(400, "delivery_not_retryable");
    assert_eq!(
        lost.body["detail"],
        "Cannot retry delivery with status 'pending'"
    );
    let now = delivery(&app, &u, id).await;
    assert_eq!(
        (now["status"].as_str(), now["attempt_number"].as_i64()),
        (Some("pending"), Some(2))
    );
    assert_eq!(now["error_message"], Value::Null);
    deliver(&app, id, Duration::from_secs(10)).await;
    assert_eq!(delivery(&app, &u, id).await["status"], "delivered");
    let r = app
        .post(&format!("/api/v1/webhooks/deliveries/{id}/retry"))
        .bearer(&u.access)
        .send()
        .await;
    r.problem(400, "delivery_not_retryable");
    assert_eq!(
        r.body["detail"],
        "Cannot retry delivery with status 'delivered'"
    );
    let page = deliveries(&app, &u, &pid, "status_filter=failed&page_size=1").await;
    assert_eq!(
        (page["total"].as_u64(), page["page_size"].as_u64()),
        (Some(1), Some(1))
    );
    let stats = app
        .get("/api/v1/webhooks/statistics")
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .send()
        .await;
    assert_eq!(stats.body["total_deliveries"], 2);
    assert_eq!(stats.body["failed_deliveries"], 1);
    assert_eq!(stats.body["success_rate"], 50.0);
    for q in [
        "page=0",
        "page_size=101",
        "page_size=0",
        "status_filter=lost",
    ] {
        let r = app
            .get(&format!("/api/v1/webhooks/deliveries?{q}"))
            .bearer(&u.access)
            .header("x-project-id", &pid.to_string())
            .send()
            .await;
        r.problem(422, "validation_error");
    }
}

#[tokio::test]
async fn a_duplicate_message_sends_nothing_twice() {
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(300)))
        .mount(&receiver)
        .await;
    let c = config(&app, &u, &pid, json!({"webhook_url": receiver.uri()})).await;
    let id = send_manual(&app, &u, &pid, &c, "x").await;
    let queue = &app.state.config.queue_urls["webhook_delivery"];
    let event =
        cc_tests::receive_where(&app.state.aws.sqs, queue, 1, 20, |b| b["delivery_id"] == id).await;
    assert_eq!(event.records.len(), 1);
    let state = app.job_state();
    let work = commandcenter::jobs::work::work_for(JobType::WebhookDelivery);
    let run = || {
        commandcenter::jobs::runner::handle_batch(
            &state,
            JobType::WebhookDelivery,
            &work,
            event.clone(),
        )
    };
    // SQS delivered the message twice at once, then once more later.
    let (a, b) = tokio::join!(run(), run());
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
    run().await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
    assert_eq!(delivery(&app, &u, id).await["status"], "delivered");
}

#[tokio::test]
async fn every_attempt_checks_the_target_again() {
    // Saved while private targets were allowed; sent by a worker that enforces §10.3.
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let receiver = receiver(200).await;
    let c = config(&app, &u, &pid, json!({"webhook_url": receiver.uri()})).await;
    let id = send_manual(&app, &u, &pid, &c, "x").await;
    let strict = TestApp::webhooks(|c| c.webhook_allow_private_targets = false).await;
    deliver(&strict, id, Duration::from_secs(10)).await;
    let after = delivery(&app, &u, id).await;
    assert_eq!(after["status"], "failed", "{after}");
    assert_eq!(after["error_message"], "Target address not allowed");
    assert!(receiver.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn repository_configs_get_only_that_repositorys_events() {
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let receiver = receiver(200).await;
    let (a, b) = (
        app.repo(&u, Some(&pid)).await,
        app.repo(&u, Some(&pid)).await,
    );
    config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": receiver.uri(), "repository_id": a}),
    )
    .await;
    let inactive = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": format!("{}/off", receiver.uri()), "active": false}),
    )
    .await;
    assert_eq!(inactive["active"], false);
    for repo in [a, b] {
        app.create(
            &u,
            "/api/v1/research-tasks",
            Some(&pid),
            json!({"title": format!("task {repo}"), "repository_id": repo}),
        )
        .await;
    }
    app.create(
        &u,
        "/api/v1/technologies",
        Some(&pid),
        json!({"title": "Axum"}),
    )
    .await;
    let report = fan_out(&app, &pid).await;
    assert_eq!(report.events, 3, "{report:?}");
    assert_eq!(report.created, 1, "only repository {a}'s task: {report:?}");
    let list = deliveries(&app, &u, &pid, "event_type=research_task.created").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["deliveries"][0]["payload"]["repository_id"], a);
}

#[tokio::test]
async fn an_event_too_large_for_a_delivery_is_recorded_failed_and_does_not_hold_up_the_stream() {
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let receiver = receiver(200).await;
    config(&app, &u, &pid, json!({"webhook_url": receiver.uri()})).await;
    // An event whose data fits its own item (within the 350 000-byte budget) but not a
    // delivery's, which adds its own fields.
    let mut items = Vec::new();
    commandcenter::events::emit(
        &mut items,
        &app.state.config.table_name,
        pid.as_u64().unwrap(),
        commandcenter::events::EventType::TechnologyUpdated,
        json!({"id": 1, "notes": "é".repeat(174_850)}),
    )
    .expect("the event itself fits");
    app.state.store.transact(items).await.unwrap();
    app.create(
        &u,
        "/api/v1/technologies",
        Some(&pid),
        json!({"title": "After it"}),
    )
    .await;
    let report = fan_out(&app, &pid).await;
    assert_eq!(
        (
            report.events,
            report.created,
            report.too_large,
            report.queued
        ),
        (2, 2, 1, 1),
        "{report:?}"
    );
    let failed = deliveries(&app, &u, &pid, "status_filter=failed").await;
    assert_eq!(failed["total"], 1, "{failed}");
    let d = &failed["deliveries"][0];
    assert_eq!(d["payload"], json!({}));
    assert!(
        d["error_message"]
            .as_str()
            .unwrap()
            .starts_with("Event data too large to deliver ("),
        "{d}"
    );
    // The event after it is delivered.
    let next = deliveries(&app, &u, &pid, "status_filter=pending").await;
    let id = next["deliveries"][0]["id"].as_u64().unwrap();
    deliver(&app, id, Duration::from_secs(10)).await;
    assert_eq!(delivery(&app, &u, id).await["status"], "delivered");
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
    // Replayed: nothing new, the failed one stays failed and is not sent.
    let again = fan_out(&app, &pid).await;
    assert_eq!((again.created, again.too_large), (0, 1), "{again:?}");
}

#[tokio::test]
async fn a_webhook_delivery_job_makes_attempt_one_once() {
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let receiver = receiver(202).await;
    let c = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": receiver.uri(), "secret": SECRET}),
    )
    .await;
    let job = app
        .create(
            &u,
            "/api/v1/jobs",
            Some(&pid),
            json!({"job_type": "webhook_delivery", "parameters": {"config_id": c["id"], "event_type": "custom.ping", "payload": {"k": "v"}}}),
        )
        .await;
    let jid = job["id"].as_u64().unwrap();
    let r = app
        .post(&format!("/api/v1/jobs/{jid}/dispatch"))
        .bearer(&u.access)
        .send()
        .await;
    assert!(r.status.as_u16() < 300, "{}", r.text);
    app.run_jobs(JobType::WebhookDelivery, &[jid]).await;
    let j = app
        .get(&format!("/api/v1/jobs/{jid}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(j.body["status"], "completed", "{}", j.body);
    let result = &j.body["result"];
    assert_eq!(result["status"], "delivered");
    assert_eq!(result["http_status_code"], 202);
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    verify_with_reference(&requests[0], SECRET);
    assert_eq!(
        requests[0]
            .headers
            .get("webhook-id")
            .unwrap()
            .to_str()
            .unwrap(),
        result["delivery_id"].to_string()
    );
}

/// Measurement (run by hand: `cargo test -p cc-tests -- --ignored webhooks::measure`): event →
/// first attempt latency through the dev server's stream reader and SQS poller, and deliveries
/// per second one handler process sustains against a local receiver.
#[tokio::test]
#[ignore]
async fn measure_latency_and_throughput() {
    let app = app().await;
    let (u, pid) = setup(&app).await;
    let receiver = receiver(200).await;
    config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": receiver.uri(), "events": ["technology.*"]}),
    )
    .await;
    let jobs = app.job_state();
    cc_local::pollers::spawn(jobs.clone(), Default::default());
    cc_local::streams::spawn(jobs, cc_local::streams::client(&app.state.aws.sdk));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut latencies = Vec::new();
    for i in 0..10 {
        let before = receiver.received_requests().await.unwrap().len();
        let t = Instant::now();
        app.create(
            &u,
            "/api/v1/technologies",
            Some(&pid),
            json!({"title": format!("t{i}")}),
        )
        .await;
        while receiver.received_requests().await.unwrap().len() == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(t.elapsed().as_millis());
    }
    latencies.sort();
    println!("event -> first attempt (ms, sorted): {latencies:?}");
    // Throughput: 200 deliveries queued at once, taken by the one poller (SQS batches of 10,
    // as the event source mapping hands them over).
    let c = config(
        &app,
        &u,
        &pid,
        json!({"webhook_url": format!("{}/bulk", receiver.uri())}),
    )
    .await;
    let record = commandcenter::store::records::record_of(
        app.state
            .store
            .get(
                &commandcenter::store::kinds::WEBHOOK_CONFIGS
                    .key(pid.as_u64().unwrap(), c["id"].as_u64().unwrap()),
            )
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let mut made = Vec::new();
    for i in 0..200 {
        let d = commandcenter::webhooks::create(
            &app.state.store,
            pid.as_u64().unwrap(),
            commandcenter::webhooks::NewDelivery {
                config: &record,
                event_type: "bulk",
                data: json!({"i": i}),
                emitted_at: "2026-12-02T08:00:00.000Z".into(),
                target_url: format!("{}/bulk", receiver.uri()),
                origin: format!("bulk:{i}:{}", uuid::Uuid::new_v4()),
            },
        )
        .await
        .unwrap();
        made.push(d.record().clone());
    }
    let before = receiver.received_requests().await.unwrap().len();
    let t = Instant::now();
    commandcenter::webhooks::queue_all(&app.state.queues, &made)
        .await
        .unwrap();
    while receiver.received_requests().await.unwrap().len() < before + 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "200 deliveries in {secs:.2} s = {:.1} per second",
        200.0 / secs
    );
}
