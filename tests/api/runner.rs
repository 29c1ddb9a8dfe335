//! The job runner against real SQS queues and DynamoDB (moto): claims, duplicates, partial
//! batch failures, cancellation, lease takeover, dead letters, batch import.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use cc_tests::{TestApp, TestUser};
use commandcenter::domain::jobs::{JobStatus, JobType};
use commandcenter::jobs::runner::{
    handle_batch, handle_dead_letters, handle_record, JobError, Outcome, Work,
};
use commandcenter::jobs::work::work_for;
use commandcenter::jobs::JobState;
use serde_json::{json, Value};

fn job_state(app: &TestApp) -> JobState {
    app.job_state()
}

/// Creates and dispatches a job; returns its id.
async fn dispatched(app: &TestApp, u: &TestUser, job_type: &str, parameters: Value) -> u64 {
    let created = app
        .create(
            u,
            "/api/v1/jobs",
            None,
            json!({"job_type": job_type, "parameters": parameters}),
        )
        .await;
    let id = created["id"].as_u64().unwrap();
    let r = app
        .post(&format!("/api/v1/jobs/{id}/dispatch"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

/// Receives the queue's messages for `ids` as an SQS event, as Lambda would deliver them.
async fn receive(app: &TestApp, queue: &str, ids: &[u64]) -> SqsEvent {
    cc_tests::receive_jobs(&app.state.aws.sqs, queue, ids).await
}

fn queue(app: &TestApp, t: &str) -> String {
    app.state.config.queue_urls[t].clone()
}

async fn job(app: &TestApp, u: &TestUser, id: u64) -> Value {
    app.get(&format!("/api/v1/jobs/{id}"))
        .bearer(&u.access)
        .send()
        .await
        .body
}

#[tokio::test]
async fn batch_import_runs_once_despite_duplicate_delivery() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Import").await;
    app.post("/api/v1/technologies")
        .bearer(&u.access)
        .json(json!({"title": "Existing", "vendor": "old", "priority": 2}))
        .send()
        .await;
    let id = dispatched(
        &app,
        &u,
        "batch_import",
        json!({"merge_strategy": "merge", "technologies": [
            {"title": "Alpha", "domain": "ai-ml"},
            {"title": "existing", "domain": "other", "vendor": "new"},
            {"title": "", "domain": "other"},
            {"title": "Beta", "domain": "ui-ux", "priority": 9}
        ]}),
    )
    .await;
    let state = job_state(&app);
    let event = receive(&app, &queue(&app, "batch_import"), &[id]).await;
    assert_eq!(event.records.len(), 1);
    let work = work_for(JobType::BatchImport);
    let first = handle_record(&state, JobType::BatchImport, &work, &event.records[0]).await;
    assert_eq!(first, Outcome::Completed);
    // The same message again: acknowledged without effect.
    let again = handle_record(&state, JobType::BatchImport, &work, &event.records[0]).await;
    assert_eq!(again, Outcome::Skipped("job already finished"));

    let j = job(&app, &u, id).await;
    assert_eq!(j["status"], "completed");
    assert_eq!(j["progress"], 100);
    assert_eq!(j["current_step"], "Job completed successfully");
    assert!(j["started_at"].is_string() && j["completed_at"].is_string());
    let res = &j["result"];
    assert_eq!(res["total_items"], 4);
    assert_eq!(res["imported_count"], 1);
    assert_eq!(res["updated_count"], 1);
    assert_eq!(res["failed_count"], 2);
    assert_eq!(res["conflicts"][0]["action"], "merge");
    assert_eq!(res["items"][2]["status"], "failed");

    let r = app
        .get("/api/v1/technologies")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["total"], 2, "{}", r.text);
    let existing = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == "existing")
        .unwrap()
        .clone();
    assert_eq!(
        existing["vendor"], "new",
        "merge sets present fields (the title too)"
    );
    assert_eq!(existing["priority"], 2, "merge keeps absent ones");
    let r = app
        .get(&format!("/api/v1/projects/{}/stats", p["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["technology_count"], 2);
    let r = app
        .get("/api/v1/jobs/statistics/summary")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["by_status"]["completed"], 1);
    let kinds: Vec<_> = app
        .state
        .store
        .events(p["id"].as_u64().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "job.completed").count(), 1);
    assert_eq!(
        kinds.iter().filter(|k| *k == "technology.created").count(),
        2
    );
}

#[tokio::test]
async fn unavailable_types_fail_clearly_and_one_bad_record_is_retried_alone() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.project(&u, "Batch").await;
    let state = job_state(&app);
    let id = dispatched(
        &app,
        &u,
        "research",
        json!({"task_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    let event = receive(&app, &queue(&app, "research"), &[id]).await;
    let out = handle_batch(
        &state,
        JobType::Research,
        &work_for(JobType::Research),
        event,
    )
    .await;
    assert!(out.batch_item_failures.is_empty());
    let j = job(&app, &u, id).await;
    assert_eq!(j["status"], "failed");
    assert_eq!(j["error"], "research jobs are not available yet");
    assert_eq!(
        j["current_step"],
        "Job failed: research jobs are not available yet"
    );

    // Ten records, one of which hits a retryable error: only it comes back.
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(
            dispatched(
                &app,
                &u,
                "research",
                json!({"task_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await,
        );
    }
    let unlucky = ids[4];
    let work: Work = Arc::new(move |run| {
        Box::pin(async move {
            if run.job_id == unlucky {
                Err(JobError::Retryable("upstream timeout".into()))
            } else {
                Ok(json!({"ok": true}))
            }
        })
    });
    let event = receive(&app, &queue(&app, "research"), &ids).await;
    assert_eq!(event.records.len(), 10);
    let unlucky_message = event
        .records
        .iter()
        .find(|m| m.body.as_deref().unwrap().contains(&unlucky.to_string()))
        .and_then(|m| m.message_id.clone())
        .unwrap();
    let out = handle_batch(&state, JobType::Research, &work, event).await;
    let failed: Vec<_> = out
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![unlucky_message]);
    for id in &ids {
        let j = job(&app, &u, *id).await;
        if *id == unlucky {
            assert_eq!(j["status"], "pending", "given back for the next delivery");
            assert_eq!(j["current_step"], "Retrying after error: upstream timeout");
        } else {
            assert_eq!(j["status"], "completed");
        }
    }
}

#[tokio::test]
async fn cancel_stops_at_the_next_checkpoint_and_dead_workers_are_taken_over() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Cancel").await;
    let pid = p["id"].as_u64().unwrap();
    let state = job_state(&app);
    let id = dispatched(
        &app,
        &u,
        "research",
        json!({"task_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    let event = receive(&app, &queue(&app, "research"), &[id]).await;
    let router = app.router.clone();
    let token = u.access.clone();
    let work: Work = Arc::new(move |run| {
        let router = router.clone();
        let token = token.clone();
        Box::pin(async move {
            run.checkpoint(10, "Step one").await?;
            // The user cancels through the API while the job runs.
            use tower::ServiceExt;
            let req = http::Request::builder()
                .method("POST")
                .uri(format!("/api/v1/jobs/{}/cancel", run.job_id))
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            assert_eq!(res.status(), 200);
            run.checkpoint(50, "Step two").await?;
            Ok(json!({"should": "not complete"}))
        })
    });
    assert_eq!(
        handle_record(&state, JobType::Research, &work, &event.records[0]).await,
        Outcome::Stopped
    );
    let j = job(&app, &u, id).await;
    assert_eq!(j["status"], "cancelled");
    assert_eq!(j["progress"], 10);
    assert_eq!(j["result"], Value::Null);

    // A worker claimed a job and died: once its lease has expired another delivery finishes it.
    let id = dispatched(
        &app,
        &u,
        "research",
        json!({"task_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    let event = receive(&app, &queue(&app, "research"), &[id]).await;
    let claimed = app
        .state
        .store
        .claim_job(pid, id, "dead-worker", -1)
        .await
        .unwrap();
    assert!(matches!(
        claimed,
        commandcenter::store::jobs::Claim::Claimed(_)
    ));
    let ok: Work = Arc::new(|_| Box::pin(async { Ok(json!({"done": 1})) }));
    assert_eq!(
        handle_record(&state, JobType::Research, &ok, &event.records[0]).await,
        Outcome::Completed
    );
    let j = job(&app, &u, id).await;
    assert_eq!(j["status"], "completed");
    assert_eq!(j["result"], json!({"done": 1}));
    // While a live lease holds it, a duplicate does nothing.
    let id = dispatched(
        &app,
        &u,
        "research",
        json!({"task_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    let event = receive(&app, &queue(&app, "research"), &[id]).await;
    app.state
        .store
        .claim_job(pid, id, "busy-worker", 300)
        .await
        .unwrap();
    assert_eq!(
        handle_record(&state, JobType::Research, &ok, &event.records[0]).await,
        Outcome::Skipped("job is running under a live lease")
    );
    assert!(commandcenter::jobs::runner::is_active(
        app.state.store.job_status(pid, id).await.unwrap()
    ));
    assert_eq!(
        app.state.store.job_status(pid, id).await.unwrap(),
        Some(JobStatus::Running)
    );
}

#[tokio::test]
async fn a_job_that_always_fails_ends_in_the_dlq_and_reads_failed() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.project(&u, "Poison").await;
    let state = job_state(&app);
    let id = dispatched(
        &app,
        &u,
        // batch_export: its parameters name no item that must exist (an export job's
        // analysis_id must).
        "batch_export",
        json!({"analysis_ids": [1], "format": "json"}),
    )
    .await;
    let q = queue(&app, "batch_export");
    let poison: Work =
        Arc::new(|_| Box::pin(async { Err(JobError::Retryable("always broken".into())) }));
    let sqs = &app.state.aws.sqs;
    for attempt in 1..=5 {
        let event = receive(&app, &q, &[id]).await;
        assert_eq!(event.records.len(), 1, "delivery {attempt}");
        let handle = event.records[0].receipt_handle.clone().unwrap();
        let out = handle_batch(&state, JobType::BatchExport, &poison, event).await;
        assert_eq!(out.batch_item_failures.len(), 1);
        // The runner set a back-off; make it visible now instead of waiting.
        sqs.change_message_visibility()
            .queue_url(&q)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    // The sixth receive moves it to the dead-letter queue.
    let event = receive(&app, &q, &[id]).await;
    assert!(event.records.is_empty(), "redriven after maxReceiveCount");
    let dlq = q.replace("JobBatchExportQueue", "JobBatchExportDlq");
    let dead = receive(&app, &dlq, &[id]).await;
    assert_eq!(dead.records.len(), 1);
    let out = handle_dead_letters(&state, dead).await;
    assert!(out.batch_item_failures.is_empty());
    let j = job(&app, &u, id).await;
    assert_eq!(j["status"], "failed");
    assert!(
        j["error"].as_str().unwrap().starts_with("gave up after "),
        "{}",
        j["error"]
    );
}

#[tokio::test]
async fn messages_not_yet_due_are_delayed_again() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.project(&u, "Later").await;
    let state = job_state(&app);
    let r = app.post("/api/v1/jobs").bearer(&u.access).json(json!({"job_type": "research", "parameters": {"task_id": uuid::Uuid::new_v4().to_string()}})).send().await;
    let id = r.body["id"].as_u64().unwrap();
    let mut msg = SqsMessage::default();
    msg.message_id = Some("m-1".into());
    msg.body = Some(json!({"job_id": id, "project_id": r.body["project_id"], "job_type": "research", "not_before": time::OffsetDateTime::now_utc().unix_timestamp() + 1200}).to_string());
    let ok: Work = Arc::new(|_| Box::pin(async { Ok(json!({})) }));
    assert_eq!(
        handle_record(&state, JobType::Research, &ok, &msg).await,
        Outcome::Redelayed
    );
    assert_eq!(job(&app, &u, id).await["status"], "pending");
}

/// Makes a job look untouched for an hour (as if its message or worker had been lost).
async fn age(app: &TestApp, pid: u64, id: u64) {
    let old = commandcenter::domain::Timestamp::now()
        .plus_secs(-3600)
        .to_rfc3339();
    let (_, g2sk) = commandcenter::domain::jobs::active_index(pid, id, &old);
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
}

#[tokio::test]
async fn maintenance_resends_lost_jobs_and_fails_exhausted_leases() {
    let _alone = cc_tests::maintenance_lock().await;
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Stuck").await;
    let pid = p["id"].as_u64().unwrap();
    let state = job_state(&app);
    let q = queue(&app, "analysis");

    // A dispatched job whose message was lost.
    let repo = app.repo(&u, None).await;
    let lost = dispatched(&app, &u, "analysis", json!({"repository_id": repo})).await;
    let event = receive(&app, &q, &[lost]).await;
    for m in &event.records {
        app.state
            .aws
            .sqs
            .delete_message()
            .queue_url(&q)
            .receipt_handle(m.receipt_handle.clone().unwrap())
            .send()
            .await
            .unwrap();
    }
    age(&app, pid, lost).await;

    // A job whose workers keep dying.
    let doomed = dispatched(&app, &u, "analysis", json!({"repository_id": repo})).await;
    let _ = receive(&app, &q, &[doomed]).await;
    for _ in 0..5 {
        app.state
            .store
            .claim_job(pid, doomed, "dies", -1)
            .await
            .unwrap();
    }
    age(&app, pid, doomed).await;

    // (Other tests' passes may run at the same time: the assertions are about these jobs.)
    let report = commandcenter::jobs::maintenance::run(&state).await.unwrap();
    assert!(report.examined >= 1, "{report:?}");
    let back = receive(&app, &q, &[lost]).await;
    assert_eq!(back.records.len(), 1, "the lost job is queued again");
    let j = job(&app, &u, doomed).await;
    assert_eq!(j["status"], "failed");
    assert_eq!(j["error"], "lease expired after 5 attempts");
    // A second pass right away has nothing to do for them: the re-sent job is due again only
    // in STALE_SECS, and the failed one left the index of active jobs.
    commandcenter::jobs::maintenance::run(&state).await.unwrap();
    let back = receive(&app, &q, &[lost]).await;
    assert!(back.records.is_empty(), "not sent twice");
    let failed = app
        .state
        .store
        .events(pid)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "job.failed")
        .count();
    assert_eq!(failed, 1, "failed once");
}

#[tokio::test]
async fn a_stale_api_write_cannot_undo_a_workers_progress() {
    use commandcenter::store::jobs::Claim;
    use commandcenter::store::kinds::JOBS;
    use commandcenter::store::records::{record_of, version_of};
    use commandcenter::store::StoreError;
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Race").await;
    let pid = p["id"].as_u64().unwrap();
    let id = dispatched(
        &app,
        &u,
        "research",
        json!({"task_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    let store = &app.state.store;
    let Claim::Claimed(_) = store.claim_job(pid, id, "worker", 300).await.unwrap() else {
        panic!("claimed");
    };
    // An API request read the job (running, 0 %) ...
    let stale = record_of(store.get(&JOBS.key(pid, id)).await.unwrap().unwrap()).unwrap();
    // ... the worker moves on ...
    store
        .job_checkpoint(pid, id, "worker", 50, "Halfway", 300)
        .await
        .unwrap()
        .expect("still held");
    // ... and the request's versioned write from that read is refused (it re-reads and
    // re-applies its change instead of putting back 0 %).
    let mut write = stale.clone();
    write.insert("tags".into(), json!({"late": true}));
    write.insert("version".into(), json!(version_of(&stale) + 1));
    let r = store
        .update_record(&JOBS, pid, &stale, &write, vec![], vec![])
        .await;
    assert!(matches!(r, Err(StoreError::Condition(0))), "{r:?}");
    // Same after the worker finished: a stale write cannot reopen a completed job.
    let now = record_of(store.get(&JOBS.key(pid, id)).await.unwrap().unwrap()).unwrap();
    assert_eq!(now["progress"], 50);
    store
        .finish_job(pid, &now, "worker", Ok(json!({"ok": true})))
        .await
        .unwrap()
        .expect("finished");
    let mut reopen = now.clone();
    reopen.insert("version".into(), json!(version_of(&now) + 1));
    let r = store
        .update_record(&JOBS, pid, &now, &reopen, vec![], vec![])
        .await;
    assert!(matches!(r, Err(StoreError::Condition(0))), "{r:?}");
    assert_eq!(job(&app, &u, id).await["status"], "completed");
}

/// Makes every transaction that moves the project's STATS counter `counter` fail, as a
/// DynamoDB refusing the write would (an ADD to a string attribute); returns what was there.
async fn poison_counter(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    pid: u64,
    counter: &str,
) -> Option<aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
    let out = db
        .update_item()
        .table_name(table)
        .set_key(Some(
            commandcenter::store::keys::project_stats(pid).to_item(),
        ))
        .update_expression("SET #c = :poison")
        .expression_attribute_names("#c", counter)
        .expression_attribute_values(":poison", AttributeValue::S("poison".into()))
        .return_values(ReturnValue::UpdatedOld)
        .send()
        .await
        .unwrap();
    out.attributes.and_then(|mut a| a.remove(counter))
}

async fn cure_counter(
    app: &TestApp,
    pid: u64,
    counter: &str,
    old: Option<aws_sdk_dynamodb::types::AttributeValue>,
) {
    use aws_sdk_dynamodb::types::AttributeValue;
    app.state
        .aws
        .dynamodb
        .update_item()
        .table_name(&app.state.config.table_name)
        .set_key(Some(
            commandcenter::store::keys::project_stats(pid).to_item(),
        ))
        .update_expression("SET #c = :v")
        .expression_attribute_names("#c", counter)
        .expression_attribute_values(":v", old.unwrap_or(AttributeValue::N("0".into())))
        .send()
        .await
        .unwrap();
}

/// Issue 9: a worker whose finish fails gives the record back for a retry; before, its lease
/// (360 s) outlived the back-off (30 s), so the redelivery met the dead attempt's live lease,
/// was acknowledged as a duplicate and deleted, and the job stayed `running`.
#[tokio::test]
async fn a_failed_finish_leaves_the_redelivery_a_job_to_take_over() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Flaky").await;
    let pid = p["id"].as_u64().unwrap();
    let state = job_state(&app);
    let id = dispatched(
        &app,
        &u,
        "research",
        json!({"task_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    let q = queue(&app, "research");
    let event = receive(&app, &q, &[id]).await;
    let record = event.records[0].clone();
    let ok: Work = Arc::new(|_| Box::pin(async { Ok(json!({"done": 1})) }));

    // While the job runs, DynamoDB starts refusing every write that ends it (complete, fail,
    // release: each moves the running counter).
    let (db, table) = (
        app.state.aws.dynamodb.clone(),
        app.state.config.table_name.clone(),
    );
    let seen = Arc::new(std::sync::Mutex::new(None));
    let keep = seen.clone();
    let poisoning: Work = Arc::new(move |_| {
        let (db, table, keep) = (db.clone(), table.clone(), keep.clone());
        Box::pin(async move {
            let old = poison_counter(&db, &table, pid, "jobs.status.running").await;
            *keep.lock().unwrap() = Some(old);
            Ok(json!({"done": 1}))
        })
    });
    let out = handle_batch(&state, JobType::Research, &poisoning, event).await;
    assert_eq!(
        out.batch_item_failures.len(),
        1,
        "nothing could be recorded: the record is given back"
    );
    let j = job(&app, &u, id).await;
    assert_eq!(j["status"], "running", "{j}");
    let old = seen.lock().unwrap().take().expect("the work ran");
    cure_counter(&app, pid, "jobs.status.running", old).await;

    // SQS delivers the message again after the back-off: the job is taken over and finished.
    let again = handle_record(&state, JobType::Research, &ok, &record).await;
    assert_eq!(again, Outcome::Completed);
    let j = job(&app, &u, id).await;
    assert_eq!(j["status"], "completed");
    assert_eq!(j["result"], json!({"done": 1}));
    let r = app
        .get("/api/v1/jobs/statistics/summary")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["by_status"]["completed"], 1, "{}", r.text);
    assert_eq!(r.body["active_jobs"], 0, "{}", r.text);
}

/// Issue 9: a result over DynamoDB's 400 KB item limit (a 1000-item import with long titles)
/// could never be written: the job ran five times and was failed "gave up after 5 attempts".
/// Now the result goes to S3, the item keeps its summary, and the job's own routes answer the
/// whole result.
#[tokio::test]
async fn a_result_too_large_for_its_item_is_kept_in_s3_and_answered_in_full() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Big result").await;
    let pid = p["id"].as_u64().unwrap();
    let state = job_state(&app);
    let id = dispatched(
        &app,
        &u,
        "research",
        json!({"task_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    let event = receive(&app, &queue(&app, "research"), &[id]).await;
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"index": i, "title": format!("{i:04} {}", "t".repeat(480)), "status": "imported", "technology_id": i + 1, "error": null}))
        .collect();
    let big =
        json!({"total_items": 1000, "imported_count": 1000, "failed_count": 0, "items": items});
    assert!(big.to_string().len() > 450_000);
    let result = big.clone();
    let work: Work = Arc::new(move |_| {
        let result = result.clone();
        Box::pin(async move { Ok(result) })
    });
    let out = handle_batch(&state, JobType::Research, &work, event).await;
    assert!(
        out.batch_item_failures.is_empty(),
        "completed at the first delivery"
    );

    let j = job(&app, &u, id).await;
    assert_eq!(j["status"], "completed");
    assert_eq!(
        j["result"], big,
        "GET /jobs/{{id}} answers the whole result"
    );
    let r = app
        .get(&format!("/api/v1/batch/jobs/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["result"], big);
    // Lists carry the summary the item keeps.
    let r = app.get("/api/v1/jobs").bearer(&u.access).send().await;
    assert_eq!(
        r.body["jobs"][0]["result"],
        json!({"total_items": 1000, "imported_count": 1000, "failed_count": 0})
    );
    let item = app
        .state
        .store
        .get(&commandcenter::store::kinds::JOBS.key(pid, id))
        .await
        .unwrap()
        .unwrap();
    let size = commandcenter::store::check_item_size(&item).unwrap();
    assert!(size < 4_000, "the job item stays small: {size} bytes");
    let key = item["result_key"].as_s().unwrap().clone();
    assert_eq!(key, format!("jobs/{pid}/{id}/result.json"));
    let s3 = &app.state.aws.s3;
    let bucket = &app.state.config.bucket_name;
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), big);
    let events: Vec<_> = app
        .state
        .store
        .events(pid)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "job.completed")
        .collect();
    assert_eq!(events.len(), 1);

    // Deleting the job deletes its result object.
    let r = app
        .delete(&format!("/api/v1/jobs/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(s3
        .head_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .is_err());
}

/// Issue 11: a worker killed mid-job (SIGKILL, as a Lambda dies) left its job `running` until
/// SQS showed its message again 30 minutes later (the dev server never ran maintenance), and
/// the attempt that finished it reported what the first had written as `skipped`. Now the
/// maintenance pass, fired as the dev server fires it, finds the job as soon as its lease has
/// ended and sends it again; the takeover counts the killed attempt's items as imported.
#[tokio::test]
async fn a_killed_worker_is_taken_over_within_its_lease_plus_one_maintenance_period() {
    use std::time::{Duration, Instant};
    // A short lease and a fast timetable stand in for 360 s and 5 minutes.
    const LEASE_SECS: i64 = 4;
    const PERIOD: Duration = Duration::from_secs(2);
    let _alone = cc_tests::maintenance_lock().await;
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Crash").await;
    let pid = p["id"].as_u64().unwrap();
    let mut state = job_state(&app);
    state.lease_secs = LEASE_SECS;
    // 500 items (the import had 1000; moto runs ~15 requests/s on a loaded machine).
    const ITEMS: usize = 500;
    let technologies: Vec<Value> = (0..ITEMS)
        .map(|i| json!({"title": format!("Technology {i:04} with a longer title"), "domain": "other"}))
        .collect();
    let r = app
        .post("/api/v1/batch/import")
        .bearer(&u.access)
        .json(json!({"technologies": technologies}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["job_id"].as_u64().unwrap();
    let q = queue(&app, "batch_import");
    let event = receive(&app, &q, &[id]).await;
    assert_eq!(event.records.len(), 1);

    // The first worker is killed at 20 % (as the dev server was, at 200/1000).
    let first = tokio::spawn({
        let state = state.clone();
        async move {
            handle_batch(
                &state,
                JobType::BatchImport,
                &work_for(JobType::BatchImport),
                event,
            )
            .await
        }
    });
    let started = Instant::now();
    while job_number(&app, pid, id, "progress").await < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the import progresses"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.abort();
    let _ = first.await;
    let crashed = Instant::now();
    // The lease the killed worker left (extended at each checkpoint, every 10 items).
    let lease_left = job_number(&app, pid, id, "lease_until").await
        - time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((0..=LEASE_SECS).contains(&lease_left), "{lease_left}");
    let j = job(&app, &u, id).await;
    assert_eq!(
        j["status"], "running",
        "the killed worker left its lease behind"
    );
    let written = stats_count(&app, &u, pid).await;
    assert!(
        written as usize >= ITEMS / 5,
        "the first attempt wrote {written} items"
    );

    // The dev server: maintenance on its timetable, a poller handing what the queue delivers
    // to the job function.
    let poller = tokio::spawn({
        let (state, sqs, q) = (state.clone(), app.state.aws.sqs.clone(), q.clone());
        async move {
            loop {
                // One receive per turn, as the dev server's poller does.
                let out = sqs
                    .receive_message()
                    .queue_url(&q)
                    .max_number_of_messages(10)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::All,
                    )
                    .send()
                    .await
                    .unwrap();
                let mut event = SqsEvent::default();
                event.records = out
                    .messages()
                    .iter()
                    .map(commandcenter::queue::to_lambda_message)
                    .collect();
                if !event.records.is_empty() {
                    let state = state.clone();
                    tokio::spawn(async move {
                        handle_batch(
                            &state,
                            JobType::BatchImport,
                            &work_for(JobType::BatchImport),
                            event,
                        )
                        .await
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    // The longest maintenance pass (it queries every shard of the index of active jobs, which
    // moto answers by scanning the whole table).
    // (longest finished pass, start of the one in flight)
    let longest = Arc::new(std::sync::Mutex::new((Duration::ZERO, None::<Instant>)));
    let timetable = tokio::spawn({
        let (dev, longest) = (app.dev.clone(), longest.clone());
        async move {
            loop {
                use tower::ServiceExt;
                let req = http::Request::builder()
                    .method("POST")
                    .uri("/_local/events/maintenance")
                    .body(axum::body::Body::empty())
                    .unwrap();
                let pass = Instant::now();
                longest.lock().unwrap().1 = Some(pass);
                let res = dev.clone().oneshot(req).await.unwrap();
                assert_eq!(res.status(), 200);
                let took = pass.elapsed();
                {
                    let mut l = longest.lock().unwrap();
                    *l = (l.0.max(took), None);
                }
                tokio::time::sleep(PERIOD.saturating_sub(took)).await;
            }
        }
    });
    let taken_over = loop {
        if job_number(&app, pid, id, "attempts").await == 2 {
            break crashed.elapsed();
        }
        assert!(
            crashed.elapsed() < Duration::from_secs(60),
            "taken over within a minute"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // moto answers the index queries of a pass by scanning the table, one request at a time:
    // the timetable stops here so the rest of the import is not starved.
    timetable.abort();
    let longest = {
        let (done, in_flight) = *longest.lock().unwrap();
        done.max(in_flight.map_or(Duration::ZERO, |t| t.elapsed()))
    };
    println!(
        "crash-to-takeover: {:.2} s (lease left at the crash {lease_left} s of {LEASE_SECS} s, \
         maintenance every {} s, longest pass {:.2} s)",
        taken_over.as_secs_f64(),
        PERIOD.as_secs(),
        longest.as_secs_f64()
    );
    // Within the lease plus one period: the first pass after the lease ended re-sent the job
    // (plus that pass's own duration; the slack is the send, the poll and the claim).
    let slack = Duration::from_secs(2);
    assert!(
        taken_over <= Duration::from_secs(lease_left as u64 + 1) + PERIOD + longest + slack,
        "taken over after {taken_over:?}"
    );
    while job_number(&app, pid, id, "progress").await < 100 {
        assert!(
            crashed.elapsed() < Duration::from_secs(240),
            "the import finishes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let j = loop {
        let j = job(&app, &u, id).await;
        if j["status"] != "running" {
            break j;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(j["status"], "completed", "{}", j["current_step"]);
    poller.abort();

    // Exact recovery: every item imported once, the first attempt's included.
    let res = &j["result"];
    assert_eq!(res["total_items"], ITEMS);
    assert_eq!(res["imported_count"], ITEMS, "{}", res["skipped_count"]);
    assert_eq!(res["skipped_count"], 0);
    assert_eq!(res["updated_count"], 0);
    assert_eq!(res["failed_count"], 0);
    assert_eq!(res["conflicts"], json!([]));
    let items = res["items"].as_array().unwrap();
    assert_eq!(items.len(), ITEMS);
    assert!(items.iter().all(|i| i["status"] == "imported"));
    let ids: std::collections::BTreeSet<_> = items
        .iter()
        .map(|i| i["technology_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), ITEMS, "one technology per item");
    assert_eq!(stats_count(&app, &u, pid).await as usize, ITEMS);
    let r = app
        .get("/api/v1/technologies?limit=100")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["total"], ITEMS, "no duplicates");
    let created = app
        .state
        .store
        .events(pid)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "technology.created")
        .count();
    assert_eq!(created, ITEMS);
    // Its result (over 32 KB) was kept in S3.
    let item = app
        .state
        .store
        .get(&commandcenter::store::kinds::JOBS.key(pid, id))
        .await
        .unwrap()
        .unwrap();
    let key = item["result_key"]
        .as_s()
        .expect("result kept in S3")
        .clone();
    // A result PATCHed in replaces the one kept in S3 (and its object goes).
    let r = app
        .patch(&format!("/api/v1/jobs/{id}"))
        .bearer(&u.access)
        .json(json!({"result": {"replaced": true}}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(job(&app, &u, id).await["result"], json!({"replaced": true}));
    let s3 = &app.state.aws.s3;
    let bucket = &app.state.config.bucket_name;
    assert!(s3
        .head_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .is_err());
}

/// One numeric attribute of a stored job, read on its own (polling the whole job would parse
/// its parameters every time).
async fn job_number(app: &TestApp, pid: u64, id: u64, attribute: &str) -> i64 {
    let out = app
        .state
        .aws
        .dynamodb
        .get_item()
        .table_name(&app.state.config.table_name)
        .set_key(Some(
            commandcenter::store::kinds::JOBS.key(pid, id).to_item(),
        ))
        .projection_expression("#a")
        .expression_attribute_names("#a", attribute)
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item
        .and_then(|i| i.get(attribute).and_then(|v| v.as_n().ok()).cloned())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn stats_count(app: &TestApp, u: &TestUser, pid: u64) -> i64 {
    let r = app
        .get(&format!("/api/v1/projects/{pid}/stats"))
        .bearer(&u.access)
        .send()
        .await;
    r.body["technology_count"].as_i64().unwrap()
}
