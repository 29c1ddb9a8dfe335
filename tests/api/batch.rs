//! API.md §8: batch jobs; the import runs for real through the job runner.

use cc_tests::TestApp;
use commandcenter::domain::jobs::JobType;
use serde_json::{json, Value};

#[tokio::test]
async fn import_of_100_technologies_runs_and_shows_on_the_dashboard() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Import").await;
    let techs: Vec<Value> = (0..100)
        .map(|i| {
            let domain = ["ai-ml", "ui-ux"][i % 2];
            json!({"title": format!("tech {i}"), "domain": domain})
        })
        .collect();
    let r = app
        .post("/api/v1/batch/import")
        .bearer(&u.access)
        .json(json!({"technologies": techs, "merge_strategy": "skip"}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["job_type"], "batch_import");
    assert_eq!(r.body["total_items"], 100);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["imported_count"], 0);
    assert_eq!(r.body["conflicts"], Value::Null);
    let job_id = r.body["job_id"].as_u64().unwrap();
    let j = app
        .get(&format!("/api/v1/batch/jobs/{job_id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert!(
        j.body["celery_task_id"].is_string(),
        "dispatched: {}",
        j.text
    );

    // What the job-batch-import function does on AWS: receive the message, run the batch.
    let out = app.run_jobs(JobType::BatchImport, &[job_id]).await;
    assert!(out.batch_item_failures.is_empty());
    let j = app
        .get(&format!("/api/v1/batch/jobs/{job_id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(j.body["status"], "completed", "{}", j.text);
    assert_eq!(j.body["result"]["imported_count"], 100);
    let r = app
        .get("/api/v1/dashboard/stats")
        .bearer(&u.access)
        .header("x-project-id", &p["id"].to_string())
        .send()
        .await;
    assert_eq!(r.body["technologies"]["total"], 100);
    assert_eq!(r.body["technologies"]["by_domain"]["ai-ml"], 50);
    let r = app
        .get("/api/v1/batch/statistics")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["total_batches"], 1);
    assert_eq!(r.body["by_type"]["batch_import"], 1);
    assert_eq!(r.body["by_status"]["completed"], 1);
    assert_eq!(r.body["success_rate"], 100.0);
}

#[tokio::test]
async fn batch_requests_are_checked() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.project(&u, "Checks").await;
    let r = app
        .post("/api/v1/batch/import")
        .bearer(&u.access)
        .json(json!({"technologies": [{"title": "x", "domain": "other"}], "merge_strategy": "replace"}))
        .send()
        .await;
    assert_eq!(
        r.problem(400, "invalid_merge_strategy")["detail"],
        "Invalid merge strategy 'replace'. Must be one of: skip, overwrite, merge"
    );
    let r = app
        .post("/api/v1/batch/import")
        .bearer(&u.access)
        .json(json!({"technologies": [{"title": "x", "domain": "other"}, {"title": "y"}]}))
        .send()
        .await;
    assert_eq!(
        r.problem(400, "missing_fields")["detail"],
        "Technology at index 1 missing required fields: domain"
    );
    app.post("/api/v1/batch/import")
        .bearer(&u.access)
        .json(json!({"technologies": []}))
        .send()
        .await
        .problem(422, "validation_error");

    let r = app
        .post("/api/v1/batch/analyze")
        .bearer(&u.access)
        .json(json!({"repository_ids": [5, 6]}))
        .send()
        .await;
    assert_eq!(
        r.problem(400, "repositories_not_found")["detail"],
        "Repositories not found: [5, 6]"
    );
    let repo = app
        .post("/api/v1/repositories")
        .bearer(&u.access)
        .json(json!({"owner": "o", "name": "r"}))
        .send()
        .await
        .body;
    let r = app
        .post("/api/v1/batch/analyze")
        .bearer(&u.access)
        .json(json!({"repository_ids": [repo["id"]], "priority": 9}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["repository_ids"], json!([repo["id"]]));
    assert!(r.body["celery_task_id"].is_string());

    let r = app
        .post("/api/v1/batch/export")
        .bearer(&u.access)
        .json(json!({"analysis_ids": [1], "format": "pdf"}))
        .send()
        .await;
    assert_eq!(
        r.problem(400, "invalid_format")["detail"],
        "Invalid export format 'pdf'. Must be one of: sarif, html, csv, excel, json"
    );
    let r = app
        .post("/api/v1/batch/export")
        .bearer(&u.access)
        .json(json!({"analysis_ids": [1, 2], "format": "csv"}))
        .send()
        .await;
    assert_eq!(
        r.problem(400, "analyses_not_found")["detail"],
        "Analyses not found: [1, 2]"
    );
    app.get("/api/v1/batch/jobs/1")
        .bearer(&u.access)
        .send()
        .await
        .problem(404, "job_not_found");
}
