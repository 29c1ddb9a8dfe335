//! The dev server's local-only routes (API.md §0.9): `POST /_local/events/<rule>` fires an
//! EventBridge rule once, as EventBridge would, and answers after its target returned.

use cc_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn firing_maintenance_runs_a_pass_and_unknown_rules_are_404() {
    let _alone = cc_tests::maintenance_lock().await;
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Events").await;
    let pid = p["id"].as_u64().unwrap();
    // A dispatched job whose message was lost, due for a look an hour ago.
    let repo = app.repo(&u, None).await;
    let job = app
        .create(
            &u,
            "/api/v1/jobs",
            None,
            json!({"job_type": "analysis", "parameters": {"repository_id": repo}}),
        )
        .await;
    let id = job["id"].as_u64().unwrap();
    let r = app
        .post(&format!("/api/v1/jobs/{id}/dispatch"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let q = app.state.config.queue_urls["analysis"].clone();
    let sqs = &app.state.aws.sqs;
    for m in cc_tests::receive_jobs(sqs, &q, &[id]).await.records {
        sqs.delete_message()
            .queue_url(&q)
            .receipt_handle(m.receipt_handle.unwrap())
            .send()
            .await
            .unwrap();
    }
    let hour_ago = commandcenter::domain::Timestamp::now()
        .plus_secs(-3600)
        .to_rfc3339();
    let (_, g2sk) = commandcenter::domain::jobs::active_index(pid, id, &hour_ago);
    app.state
        .aws
        .dynamodb
        .update_item()
        .table_name(&app.state.config.table_name)
        .set_key(Some(
            commandcenter::store::kinds::JOBS.key(pid, id).to_item(),
        ))
        .update_expression("SET gsi2sk = :g")
        .expression_attribute_values(":g", aws_sdk_dynamodb::types::AttributeValue::S(g2sk))
        .send()
        .await
        .unwrap();

    let r = app.dev_post("/_local/events/maintenance").send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rule"], "maintenance");
    assert!(
        commandcenter::domain::Timestamp::parse(r.body["fired_at"].as_str().unwrap()).is_some()
    );
    assert!(
        r.body["result"]["examined"].as_u64().unwrap() >= 1,
        "{}",
        r.text
    );
    let back = cc_tests::receive_jobs(sqs, &q, &[id]).await;
    assert_eq!(back.records.len(), 1, "the pass re-sent the lost job");

    let r = app.dev_post("/_local/events/nightly-backup").send().await;
    r.problem(404, "rule_not_found");
    assert_eq!(
        r.body["detail"],
        "No EventBridge rule 'nightly-backup' to fire (this dev server fires: maintenance, nightly-sync, schedule-dispatcher)"
    );
    // The API's own routers do not serve it (local only).
    let r = app.post("/_local/events/maintenance").send().await;
    assert_eq!(r.status, 404);
}
