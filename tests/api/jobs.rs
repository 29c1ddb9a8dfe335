//! API.md §7 (without dispatch, which arrives with the job runner).

use cc_tests::{TestApp, TestUser};
use serde_json::{json, Value};

async fn job(app: &TestApp, u: &TestUser, body: Value) -> Value {
    app.create(u, "/api/v1/jobs", None, body).await
}

#[tokio::test]
async fn create_validates_type_and_parameters() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Jobs").await;
    let repo = app.repo(&u, None).await;
    let j = job(&app, &u, json!({"job_type": "repository_sync", "parameters": {"repository_id": repo}, "tags": {"k": "v"}})).await;
    assert_eq!(j["status"], "pending");
    assert_eq!(j["progress"], 0);
    assert_eq!(j["project_id"], p["id"]);
    assert_eq!(j["created_by"], u.id);
    assert_eq!(j["parameters"], json!({"repository_id": repo}));
    assert_eq!(j["tags"], json!({"k": "v"}));
    assert_eq!(j["celery_task_id"], Value::Null);
    assert_eq!(j["duration_seconds"], Value::Null);
    assert_eq!(j.as_object().unwrap().len(), 16);

    let r = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(json!({"job_type": "mining"}))
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["type"],
        "enum"
    );
    let r = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(json!({"parameters": {}}))
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["type"],
        "missing"
    );
    let r = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(json!({"job_type": "export", "parameters": {"format": "pdf"}}))
        .send()
        .await;
    let errs = r.problem(422, "validation_error")["errors"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0]["loc"], json!(["body", "parameters", "analysis_id"]));
    assert!(errs.iter().all(|e| e["type"] == "value_error"));
}

#[tokio::test]
async fn lifecycle_update_cancel_delete_progress() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.project(&u, "Jobs").await;
    let (r1, r2) = (app.repo(&u, None).await, app.repo(&u, None).await);
    let j = job(
        &app,
        &u,
        json!({"job_type": "batch_analysis", "parameters": {"repository_ids": [r1, r2]}}),
    )
    .await;
    let url = format!("/api/v1/jobs/{}", j["id"]);

    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"status": "running", "progress": 40, "current_step": "Cloning"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let started = r.body["started_at"].as_str().unwrap().to_string();
    let r = app
        .put(&url)
        .bearer(&u.access)
        .json(json!({"status": "running", "progress": 60}))
        .send()
        .await;
    assert_eq!(r.body["started_at"], started.as_str(), "set once");
    app.delete(&url)
        .bearer(&u.access)
        .send()
        .await
        .problem(400, "job_running");

    let r = app
        .get(&format!("{url}/progress"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["job_id"], j["id"]);
    assert_eq!(r.body["progress"], 60);
    assert_eq!(r.body["current_step"], "Cloning");
    assert_eq!(r.body["is_active"], true);
    assert_eq!(r.body["is_terminal"], false);

    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"status": "completed", "progress": 100, "result": {"ok": 2}}))
        .send()
        .await;
    assert_eq!(r.body["status"], "completed");
    assert!(r.body["completed_at"].is_string());
    assert!(r.body["duration_seconds"].as_f64().unwrap() >= 0.0);
    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"status": "failed"}))
        .send()
        .await;
    assert_eq!(
        r.problem(409, "job_terminal")["detail"],
        format!("Job {} is already in terminal state: completed", j["id"])
    );
    let r = app
        .post(&format!("{url}/cancel"))
        .bearer(&u.access)
        .send()
        .await;
    r.problem(400, "job_terminal");

    let k = job(&app, &u, json!({"job_type": "research", "parameters": {"task_id": uuid::Uuid::new_v4().to_string()}})).await;
    let r = app
        .post(&format!("/api/v1/jobs/{}/cancel", k["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body["completed_at"].is_string());

    let r = app.delete(&url).bearer(&u.access).send().await;
    assert_eq!(r.status, 204);
    app.get(&url)
        .bearer(&u.access)
        .send()
        .await
        .problem(404, "job_not_found");
    let stranger = app.user().await;
    let r = app
        .get(&format!("/api/v1/jobs/{}", k["id"]))
        .bearer(&stranger.access)
        .send()
        .await;
    assert_eq!(
        r.problem(404, "job_not_found")["detail"],
        format!("Job {} not found", k["id"])
    );
}

#[tokio::test]
async fn lists_active_and_statistics_are_exact() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.project(&u, "Jobs").await;
    let repo = app.repo(&u, None).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let j = job(&app, &u, json!({"job_type": if i % 2 == 0 { "batch_import" } else { "repository_sync" },
            "parameters": if i % 2 == 0 { json!({"technologies": [{"title": "t", "domain": "other"}]}) } else { json!({"repository_id": repo}) }})).await;
        ids.push(j["id"].clone());
    }
    let set = |i: usize, status: &'static str| {
        let app = &app;
        let u = &u;
        let id = ids[i].clone();
        async move {
            let r = app
                .patch(&format!("/api/v1/jobs/{id}"))
                .bearer(&u.access)
                .json(json!({"status": status}))
                .send()
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    };
    set(0, "running").await;
    set(0, "completed").await;
    set(1, "running").await;
    set(1, "failed").await;
    set(2, "running").await;

    let r = app
        .get("/api/v1/jobs?limit=2")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["total"], 5);
    assert_eq!(r.body["limit"], 2);
    assert_eq!(r.body["jobs"][0]["id"], ids[4], "created_at desc");
    let r = app
        .get("/api/v1/jobs?job_type=batch_import&status_filter=pending")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["total"], 1);
    app.get("/api/v1/jobs?limit=1001")
        .bearer(&u.access)
        .send()
        .await
        .problem(422, "validation_error");

    let r = app
        .get("/api/v1/jobs/active/list")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["total"], 3);
    assert_eq!(r.body["skip"], 0);
    assert_eq!(r.body["limit"], 3);

    let r = app
        .get("/api/v1/jobs/statistics/summary")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["total"], 5);
    assert_eq!(
        r.body["by_status"],
        json!({"pending": 2, "running": 1, "completed": 1, "failed": 1, "cancelled": 0})
    );
    assert_eq!(r.body["success_rate"], 50.0);
    assert_eq!(r.body["active_jobs"], 3);
    assert!(r.body["average_duration_seconds"].is_number());
}

#[tokio::test]
async fn dispatch_sends_to_the_type_queue_with_delay() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Queued").await;
    let repo = app.repo(&u, None).await;
    let j = job(
        &app,
        &u,
        json!({"job_type": "repository_sync", "parameters": {"repository_id": repo}}),
    )
    .await;
    let url = format!("/api/v1/jobs/{}/dispatch", j["id"]);
    let r = app.post(&url).bearer(&u.access).send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "pending");
    let message_id = r.body["celery_task_id"].as_str().unwrap().to_string();
    assert!(!message_id.is_empty());

    let sqs = &app.state.aws.sqs;
    let queue = app.state.config.queue_urls["repository_sync"].clone();
    let mut found = None;
    for _ in 0..5 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        found = out
            .messages()
            .iter()
            .find(|m| m.message_id() == Some(message_id.as_str()))
            .cloned();
        if found.is_some() {
            break;
        }
    }
    let body: Value =
        serde_json::from_str(found.expect("message in the queue").body().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"job_id": j["id"], "project_id": p["id"], "job_type": "repository_sync"})
    );

    // Beyond SQS's 15 minutes the message carries the due time.
    let k = job(&app, &u, json!({"job_type": "batch_import", "parameters": {"technologies": [{"title": "t", "domain": "other"}]}})).await;
    let r = app
        .post(&format!(
            "/api/v1/jobs/{}/dispatch?delay_seconds=1200",
            k["id"]
        ))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&app.state.config.queue_urls["batch_import"])
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed: i64 = attrs.attributes().unwrap()
        [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed]
        .parse()
        .unwrap();
    assert!(delayed >= 1, "delayed messages: {delayed}");

    app.post(&format!(
        "/api/v1/jobs/{}/dispatch?delay_seconds=3601",
        k["id"]
    ))
    .bearer(&u.access)
    .send()
    .await
    .problem(422, "validation_error");
    app.post(&format!("/api/v1/jobs/{}/cancel", k["id"]))
        .bearer(&u.access)
        .send()
        .await;
    let r = app
        .post(&format!("/api/v1/jobs/{}/dispatch", k["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(
        r.problem(400, "job_not_pending")["detail"],
        format!("Job {} cannot be dispatched (status: cancelled)", k["id"])
    );
}
