//! API.md §5: research tasks, status rules, documents in S3, statistics.

use cc_tests::{http_send, multipart, TestApp, TestUser};
use serde_json::{json, Value};

async fn task(app: &TestApp, u: &TestUser, pid: &Value, body: Value) -> Value {
    app.create(u, "/api/v1/research-tasks", Some(pid), body)
        .await
}

fn days_from_now(d: i64) -> String {
    commandcenter::domain::Timestamp::now()
        .plus_secs(d * 86_400)
        .to_rfc3339()
}

#[tokio::test]
async fn create_links_status_and_progress_rules() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Research").await;
    let pid = p["id"].as_u64().unwrap();
    let other = app.project(&u, "Elsewhere").await;
    let t = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .json(json!({"title": "Rust"}))
        .send()
        .await
        .body;
    let foreign = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &other["id"].to_string())
        .json(json!({"title": "Go"}))
        .send()
        .await
        .body;

    let r = app
        .post("/api/v1/research-tasks")
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .json(json!({"title": "Evaluate", "technology_id": foreign["id"]}))
        .send()
        .await;
    assert_eq!(
        r.problem(404, "technology_not_found")["detail"],
        format!("Technology {} not found", foreign["id"])
    );
    let r = app
        .post("/api/v1/research-tasks")
        .bearer(&u.access)
        .header("x-project-id", &pid.to_string())
        .json(json!({"title": "Evaluate", "repository_id": 12345}))
        .send()
        .await;
    r.problem(404, "repository_not_found");

    let created = task(
        &app,
        &u,
        &p["id"],
        json!({"title": "Evaluate", "technology_id": t["id"], "estimated_hours": 5}),
    )
    .await;
    assert_eq!(created["status"], "pending");
    assert_eq!(created["technology_id"], t["id"]);
    assert_eq!(created["uploaded_documents"], json!([]));
    assert_eq!(created["progress_percentage"], 0);
    assert_eq!(created["completed_at"], Value::Null);
    assert_eq!(created.as_object().unwrap().len(), 19);
    let url = format!("/api/v1/research-tasks/{}", created["id"]);

    let r = app
        .patch(&format!("{url}/status?new_status=completed"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "completed");
    let done_at = r.body["completed_at"].as_str().unwrap().to_string();
    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"findings": "fast", "technology_id": 1}))
        .send()
        .await;
    assert_eq!(
        r.body["completed_at"],
        done_at.as_str(),
        "kept while completed"
    );
    assert_eq!(r.body["technology_id"], t["id"], "links are immutable");
    let r = app
        .put(&url)
        .bearer(&u.access)
        .json(json!({"status": "in_progress"}))
        .send()
        .await;
    assert_eq!(r.body["completed_at"], Value::Null);
    let r = app
        .patch(&format!("{url}/progress?progress_percentage=100"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["status"], "completed");
    assert_eq!(r.body["progress_percentage"], 100);
    assert!(r.body["completed_at"].is_string());
    app.patch(&format!("{url}/progress?progress_percentage=101"))
        .bearer(&u.access)
        .send()
        .await
        .problem(422, "validation_error");
    app.patch(&format!("{url}/status?new_status=done"))
        .bearer(&u.access)
        .send()
        .await
        .problem(422, "validation_error");
    app.patch(&format!("{url}/status"))
        .bearer(&u.access)
        .send()
        .await
        .problem(422, "validation_error");

    let kinds: Vec<_> = app
        .state
        .store
        .events(pid)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        kinds,
        [
            "technology.created",
            "research_task.created",
            "research_task.updated",
            "research_task.completed",
            "research_task.updated",
            "research_task.updated",
            "research_task.updated",
            "research_task.completed",
        ]
    );

    // Deleting the technology takes its tasks along, and the counters follow.
    let r = app
        .delete(&format!("/api/v1/technologies/{}", t["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    app.get(&url)
        .bearer(&u.access)
        .send()
        .await
        .problem(404, "research_task_not_found");
    let r = app
        .get(&format!("/api/v1/projects/{pid}/stats"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["research_task_count"], 0);
    assert_eq!(r.body["technology_count"], 0);
}

#[tokio::test]
async fn lists_statistics_upcoming_overdue() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Plans").await;
    let pid = &p["id"];
    task(
        &app,
        &u,
        pid,
        json!({"title": "late", "due_date": days_from_now(-2)}),
    )
    .await;
    task(
        &app,
        &u,
        pid,
        json!({"title": "later-late", "due_date": days_from_now(-1), "status": "blocked"}),
    )
    .await;
    task(
        &app,
        &u,
        pid,
        json!({"title": "soon", "due_date": days_from_now(2), "assigned_to": "ada"}),
    )
    .await;
    task(
        &app,
        &u,
        pid,
        json!({"title": "next month", "due_date": days_from_now(30)}),
    )
    .await;
    task(
        &app,
        &u,
        pid,
        json!({"title": "done", "due_date": days_from_now(-5), "status": "completed"}),
    )
    .await;

    let r = app
        .get("/api/v1/research-tasks/statistics/overview")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 5);
    assert_eq!(r.body["overdue_count"], 2);
    assert_eq!(r.body["upcoming_count"], 1);
    assert_eq!(
        r.body["by_status"],
        json!({"pending": 3, "in_progress": 0, "blocked": 1, "completed": 1, "cancelled": 0})
    );
    assert_eq!(r.body["overdue_tasks"][0]["title"], "late");
    assert_eq!(r.body["upcoming_tasks"][0]["title"], "soon");

    let r = app
        .get("/api/v1/research-tasks/overdue/list")
        .bearer(&u.access)
        .send()
        .await;
    let titles: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(titles, vec!["late", "later-late"]);
    let r = app
        .get("/api/v1/research-tasks/upcoming/list?days=90")
        .bearer(&u.access)
        .send()
        .await;
    let titles: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(titles, vec!["soon", "next month"]);
    app.get("/api/v1/research-tasks/upcoming/list?days=91")
        .bearer(&u.access)
        .send()
        .await
        .problem(422, "validation_error");

    let r = app
        .get("/api/v1/research-tasks?assigned_to=ada")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = app
        .get("/api/v1/research-tasks?status=pending&limit=2")
        .bearer(&u.access)
        .send()
        .await;
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["title"], "next month", "updated_at desc");
}

#[tokio::test]
async fn documents_upload_presign_complete_download_delete() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Docs").await;
    let t = task(&app, &u, &p["id"], json!({"title": "Read papers"})).await;
    let url = format!("/api/v1/research-tasks/{}", t["id"]);

    // Two consecutive uploads both persist.
    for (name, data) in [
        ("notes.md", b"# Notes".to_vec()),
        ("paper.PDF", vec![7u8; 2048]),
    ] {
        let (ct, body) = multipart(name, "application/pdf", &data);
        let r = app
            .post(&format!("{url}/documents/"))
            .bearer(&u.access)
            .header("content-type", &ct)
            .raw(body)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app
        .get(&format!("{url}/documents"))
        .bearer(&u.access)
        .send()
        .await;
    let docs = r.body["documents"].as_array().unwrap().clone();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["filename"], "notes.md");
    assert_eq!(docs[1]["size"], 2048);
    let stored = docs[1]["stored_filename"].as_str().unwrap();
    assert!(stored.ends_with(".pdf"));
    assert_eq!(
        docs[1]["file_path"],
        format!("research-tasks/{}/{stored}", t["id"])
    );
    let s3 = &app.state.aws.s3;
    let bucket = &app.state.config.bucket_name;
    let obj = s3
        .get_object()
        .bucket(bucket)
        .key(docs[1]["file_path"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(obj.body.collect().await.unwrap().into_bytes().len(), 2048);

    let (ct, body) = multipart(
        "big.bin",
        "application/octet-stream",
        &vec![0u8; 5 * 1024 * 1024 + 1],
    );
    let r = app
        .post(&format!("{url}/documents"))
        .bearer(&u.access)
        .header("content-type", &ct)
        .raw(body)
        .send()
        .await;
    r.problem(413, "payload_too_large");
    let r = app
        .post(&format!("{url}/documents"))
        .bearer(&u.access)
        .json(json!({}))
        .send()
        .await;
    r.problem(415, "unsupported_media_type");

    // Presigned flow.
    let payload = vec![42u8; 10_000];
    let r = app
        .post(&format!("{url}/documents/upload-url"))
        .bearer(&u.access)
        .json(json!({"filename": "dataset.csv", "size": payload.len(), "content_type": "text/csv"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["method"], "PUT");
    assert_eq!(r.body["headers"], json!({"Content-Type": "text/csv"}));
    let doc_id = r.body["document_id"].clone();
    let upload_url = r.body["upload_url"].as_str().unwrap().to_string();
    // Completing before the upload: nothing there yet.
    let r = app
        .post(&format!("{url}/documents/complete"))
        .bearer(&u.access)
        .json(json!({"document_id": doc_id}))
        .send()
        .await;
    r.problem(409, "upload_incomplete");
    assert_eq!(
        http_send("PUT", &upload_url, "text/csv", &payload).await,
        200
    );
    let r = app
        .post(&format!("{url}/documents/complete"))
        .bearer(&u.access)
        .json(json!({"document_id": doc_id}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let docs = r.body["uploaded_documents"].as_array().unwrap().clone();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[2]["id"], doc_id);
    assert_eq!(docs[2]["size"], 10_000);
    let r = app
        .post(&format!("{url}/documents/complete"))
        .bearer(&u.access)
        .json(json!({"document_id": doc_id}))
        .send()
        .await;
    r.problem(404, "document_not_found");
    app.post(&format!("{url}/documents/upload-url"))
        .bearer(&u.access)
        .json(json!({"filename": "x", "size": 104_857_601}))
        .send()
        .await
        .problem(422, "validation_error");

    let r = app
        .get(&format!("{url}/documents/{}/download", doc_id))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["url"]
        .as_str()
        .unwrap()
        .contains(docs[2]["file_path"].as_str().unwrap()));
    app.get(&format!("{url}/documents/1/download"))
        .bearer(&u.access)
        .send()
        .await
        .problem(404, "document_not_found");

    let stranger = app.user().await;
    app.get(&format!("{url}/documents"))
        .bearer(&stranger.access)
        .send()
        .await
        .problem(404, "research_task_not_found");

    // A second task's document goes with the project.
    let t2 = task(&app, &u, &p["id"], json!({"title": "Keep notes"})).await;
    let (ct, body) = multipart("keep.txt", "text/plain", b"kept");
    let r = app
        .post(&format!("/api/v1/research-tasks/{}/documents", t2["id"]))
        .bearer(&u.access)
        .header("content-type", &ct)
        .raw(body)
        .send()
        .await;
    let kept = r.body["uploaded_documents"][0]["file_path"]
        .as_str()
        .unwrap()
        .to_string();

    let r = app.delete(&url).bearer(&u.access).send().await;
    assert_eq!(r.status, 204);
    assert!(s3
        .head_object()
        .bucket(bucket)
        .key(&kept)
        .send()
        .await
        .is_ok());
    let r = app
        .delete(&format!("/api/v1/projects/{}", p["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    app.sweep(p["id"].as_u64().unwrap()).await;
    assert!(
        s3.head_object()
            .bucket(bucket)
            .key(&kept)
            .send()
            .await
            .is_err(),
        "project delete removes documents"
    );
    for d in &docs {
        let gone = s3
            .head_object()
            .bucket(bucket)
            .key(d["file_path"].as_str().unwrap())
            .send()
            .await;
        assert!(gone.is_err(), "{} still in S3", d["file_path"]);
    }
}
