//! Issue 8 regressions: inputs that used to panic or 500, DynamoDB limits as validation rules,
//! races that lost counts or names, limits applied before side effects, PAT lineage.

use cc_tests::{multipart, TestApp, TestUser};
use commandcenter::domain::project::ProjectCounters;
use serde_json::{json, Value};

async fn counters(app: &TestApp, pid: u64) -> ProjectCounters {
    let item = app
        .state
        .store
        .get(&commandcenter::store::keys::project_stats(pid))
        .await
        .unwrap();
    commandcenter::store::projects::counters_of(item)
}

fn id(v: &Value) -> u64 {
    v["id"].as_u64().expect("id")
}

// ---------------------------------------------------------------- 1, 2, 10: inputs that crashed

#[tokio::test]
async fn malformed_query_strings_and_path_ids_are_4xx_not_crashes() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Decode").await;
    // `%` before a multibyte character sliced inside it and panicked, before authentication.
    let r = app.get("/api/v1/projects?skip=%a€").send().await;
    r.problem(401, "not_authenticated");
    let r = app
        .get("/api/v1/projects?skip=%a€&limit=%FF%")
        .bearer(&u.access)
        .send()
        .await;
    let body = r.problem(422, "validation_error");
    let kinds: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["loc"][1].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("skip", "int_parsing"), ("limit", "int_parsing")]);
    // A skip near 2^31 wrapped an i32 Limit.
    let r = app
        .get("/api/v1/projects?skip=2147483648&limit=100")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!([]));
    // Invalid UTF-8 in a path id: 422 int_parsing as problem+json, everywhere.
    for path in [
        "/api/v1/technologies/%FF".to_string(),
        format!("/api/v1/projects/{}/members/%FF", p["id"]),
        "/api/v1/projects/%FF".to_string(),
        "/api/v1/projects/0".to_string(),
        "/api/v1/projects/9007199254740992".to_string(),
        "/api/v1/auth/tokens/%C0".to_string(),
    ] {
        let method = if path.contains("members") || path.contains("tokens") {
            http::Method::DELETE
        } else {
            http::Method::GET
        };
        let r = app.req(method, &path).bearer(&u.access).send().await;
        let body = r.problem(422, "validation_error");
        assert_eq!(body["errors"][0]["type"], "int_parsing", "{path}");
        assert_eq!(body["errors"][0]["loc"][0], "path", "{path}");
    }
    // Project hints: ids beyond 2^53-1 are int_parsing; the query is decoded like any other.
    let r = app
        .get("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", "9007199254740992")
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["loc"],
        json!(["header", "X-Project-ID"])
    );
    let encoded: String = p["id"]
        .to_string()
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    let r = app
        .get(&format!("/api/v1/technologies?project_id={encoded}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The process is still serving.
    let r = app.get("/api/v1/projects").bearer(&u.access).send().await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn far_timestamps_are_422_not_panics() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Far").await;
    let r = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &p["id"].to_string())
        .json(
            json!({"title": "Y10K", "last_hn_mention": "9999-12-31T23:59:59-01:00",
                     "github_last_commit": "0001-01-01T00:00:00+01:00"}),
        )
        .send()
        .await;
    let body = r.problem(422, "validation_error");
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["loc"][1].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("last_hn_mention", "datetime_parsing"),
            ("github_last_commit", "datetime_parsing")
        ]
    );
    let t = app
        .create(
            &u,
            "/api/v1/technologies",
            Some(&p["id"]),
            json!({"title": "Edge", "last_hn_mention": "9999-12-31T22:59:59-01:00"}),
        )
        .await;
    assert_eq!(t["last_hn_mention"], "9999-12-31T23:59:59.000Z");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_problem_and_the_app_keeps_serving() {
    let app = TestApp::new().await;
    let routes = utoipa_axum::router::OpenApiRouter::new().route(
        "/boom",
        axum::routing::get(|| async {
            let v: Vec<u8> = std::hint::black_box(Vec::new());
            v[1].to_string()
        }),
    );
    let router = commandcenter::api::app(routes, app.state.clone());
    for _ in 0..2 {
        let res = tower::ServiceExt::oneshot(
            router.clone(),
            http::Request::get("/boom")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "panic contained as problem+json"
        );
        assert!(res.headers().contains_key("x-request-id"));
    }
}

// ---------------------------------------------------------------- 3: DynamoDB limits

#[tokio::test]
async fn inputs_within_the_contract_that_exceed_dynamodb_limits_are_validation_errors() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Limits").await;
    let pid = p["id"].to_string();
    let post = |body: Value| {
        app.post("/api/v1/technologies")
            .bearer(&u.access)
            .header("x-project-id", &pid)
            .json(body)
    };
    // 255 four-byte characters: the uniqueness marker is hashed, so the key stays small.
    let emoji: String = "🦀".repeat(255);
    let r = post(json!({"title": emoji})).send().await;
    assert_eq!(r.status, 201, "{}", r.text);
    post(json!({"title": emoji}))
        .send()
        .await
        .problem(409, "technology_exists");

    // Two 100 000-character € texts: 600 KB, beyond an item; 422 naming the largest field.
    let big = "€".repeat(100_000);
    let r = post(json!({"title": "Huge", "description": &big[30..], "notes": big}))
        .send()
        .await;
    let body = r.problem(422, "validation_error");
    assert_eq!(body["errors"][0]["loc"], json!(["body", "notes"]), "{body}");
    assert_eq!(body["errors"][0]["type"], "value_error");
    // One of them fits (300 KB + its event copy in another item).
    let r = post(json!({"title": "Big", "description": big}))
        .send()
        .await;
    assert_eq!(r.status, 201);

    // Numbers outside DynamoDB's range: 422, not a retryable 503.
    let r = post(json!({"title": "Fast", "latency_ms": 1e200}))
        .send()
        .await;
    let body = r.problem(422, "validation_error");
    assert_eq!(body["errors"][0]["loc"], json!(["body", "latency_ms"]));
    assert_eq!(body["errors"][0]["type"], "less_than_equal");
    let r = post(json!({"title": "Tiny", "cost_monthly_usd": 1e-200}))
        .send()
        .await;
    r.problem(422, "validation_error");
    let r = post(json!({"title": "Wide", "github_stars": 1e300}))
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["type"],
        "int_type"
    );

    // Nesting deeper than DynamoDB allows, numbers out of range and empty keys inside objects.
    let mut deep = json!("leaf");
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    for bad in [deep, json!({"n": 1e200}), json!({"": 1})] {
        let r = post(json!({"title": "Nested", "dependencies": bad}))
            .send()
            .await;
        let body = r.problem(422, "validation_error");
        assert_eq!(body["errors"][0]["loc"], json!(["body", "dependencies"]));
    }
    let mut ok = json!(1);
    for _ in 0..15 {
        ok = json!({ "d": ok });
    }
    let r = post(json!({"title": "Nested ok", "dependencies": ok}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The same rules for jobs' free-form parameters and tags.
    let r = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(json!({"job_type": "batch_import",
                     "parameters": {"technologies": [{"title": "x"}], "extra": 1e200},
                     "tags": {"": "empty key"}}))
        .send()
        .await;
    let body = r.problem(422, "validation_error");
    let locs: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"][1].clone())
        .collect();
    assert_eq!(locs, [json!("parameters"), json!("tags")]);

    // A batch import travels inside its job item: too large or unstorable is a 422 too.
    let long = "d".repeat(1000);
    let many: Vec<Value> = (0..400)
        .map(|i| json!({"title": format!("t{i}"), "domain": "other", "description": long}))
        .collect();
    for technologies in [
        many,
        vec![json!({"title": "x", "domain": "other", "latency_ms": 1e200})],
    ] {
        let r = app
            .post("/api/v1/batch/import")
            .bearer(&u.access)
            .json(json!({"technologies": technologies}))
            .send()
            .await;
        let body = r.problem(422, "validation_error");
        assert_eq!(
            body["errors"][0]["loc"],
            json!(["body", "technologies"]),
            "{body}"
        );
    }

    let c = counters(&app, p["id"].as_u64().unwrap()).await;
    assert_eq!(c.get("technologies"), 3, "only the accepted ones counted");
}

// ---------------------------------------------------------------- 4: exact counters

#[tokio::test]
async fn deleting_a_technology_and_its_task_at_once_keeps_counters_exact() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Race").await;
    let pid = p["id"].as_u64().unwrap();
    for round in 0..4 {
        let t = app
            .create(
                &u,
                "/api/v1/technologies",
                Some(&p["id"]),
                json!({"title": format!("t{round}")}),
            )
            .await;
        let task = app
            .create(
                &u,
                "/api/v1/research-tasks",
                Some(&p["id"]),
                json!({"title": "linked", "technology_id": t["id"]}),
            )
            .await;
        let (a, b) = tokio::join!(
            app.delete(&format!("/api/v1/technologies/{}", id(&t)))
                .bearer(&u.access)
                .send(),
            app.delete(&format!("/api/v1/research-tasks/{}", id(&task)))
                .bearer(&u.access)
                .send(),
        );
        assert_eq!(a.status, 204, "{}", a.text);
        assert!([204, 404].contains(&b.status.as_u16()), "{}", b.text);
    }
    let c = counters(&app, pid).await;
    assert_eq!(c.get("technologies"), 0);
    assert_eq!(c.get("research_tasks"), 0);
    assert_eq!(c.get("research_tasks.status.pending"), 0);
    let r = app
        .get("/api/v1/dashboard/stats")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["research_tasks"]["by_status"]["pending"], 0,
        "{}",
        r.body
    );
    assert_eq!(r.body["research_tasks"]["total"], 0, "{}", r.body);
}

/// What STATS should say, counted from the records themselves.
async fn recount(app: &TestApp, pid: u64) -> std::collections::BTreeMap<String, i64> {
    use commandcenter::store::kinds::{JOBS, REPOSITORIES, RESEARCH_TASKS, TECHNOLOGIES};
    let mut want = std::collections::BTreeMap::new();
    for rt in [&TECHNOLOGIES, &REPOSITORIES, &RESEARCH_TASKS, &JOBS] {
        for r in app.state.store.records(pid, rt.prefix).await.unwrap() {
            *want.entry(rt.counter.to_string()).or_insert(0) += 1;
            for field in rt.breakdowns {
                let v = r.get(*field).and_then(Value::as_str).unwrap_or("");
                let key = commandcenter::domain::project::breakdown(rt.counter, field, v);
                *want.entry(key).or_insert(0) += 1;
            }
        }
    }
    want
}

#[tokio::test]
async fn fifty_concurrent_writes_across_linked_items_leave_stats_equal_to_a_recount() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Storm").await;
    let pid = p["id"].as_u64().unwrap();
    let mut techs = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let t = app
            .create(
                &u,
                "/api/v1/technologies",
                Some(&p["id"]),
                json!({"title": format!("tech {i}")}),
            )
            .await;
        for j in 0..2 {
            tasks.push(
                app.create(
                    &u,
                    "/api/v1/research-tasks",
                    Some(&p["id"]),
                    json!({"title": format!("task {i}.{j}"), "technology_id": t["id"]}),
                )
                .await,
            );
        }
        techs.push(t);
    }
    let repo = app.repo(&u, Some(&p["id"])).await;
    let pid_s = p["id"].to_string();
    // 50 requests at once: deletes of technologies (cascading to their tasks) racing deletes,
    // status changes and updates of those very tasks, new tasks linked to them, and more.
    let statuses = ["in_progress", "completed", "blocked", "pending"];
    let ops = (0..50).map(|i| {
        let app = &app;
        let u = &u;
        let pid_s = &pid_s;
        let t = &techs[i % techs.len()];
        let task = &tasks[i % tasks.len()];
        async move {
            let r = match i % 5 {
                0 => {
                    app.delete(&format!("/api/v1/technologies/{}", id(t)))
                        .bearer(&u.access)
                        .send()
                        .await
                }
                1 => {
                    app.delete(&format!("/api/v1/research-tasks/{}", id(task)))
                        .bearer(&u.access)
                        .send()
                        .await
                }
                2 => {
                    app.patch(&format!(
                        "/api/v1/research-tasks/{}/status?new_status={}",
                        id(task),
                        statuses[i % 4]
                    ))
                    .bearer(&u.access)
                    .send()
                    .await
                }
                3 => {
                    app.post("/api/v1/research-tasks")
                        .bearer(&u.access)
                        .header("x-project-id", pid_s)
                        .json(json!({"title": format!("new {i}"), "repository_id": repo,
                                     "status": statuses[i % 4]}))
                        .send()
                        .await
                }
                _ => {
                    app.patch(&format!("/api/v1/technologies/{}", id(t)))
                        .bearer(&u.access)
                        .json(
                            json!({"status": if i % 2 == 0 { "evaluation" } else { "integrated" }}),
                        )
                        .send()
                        .await
                }
            };
            assert!(
                [200, 201, 204, 404].contains(&r.status.as_u16()),
                "op {i}: {} {}",
                r.status,
                r.text
            );
        }
    });
    futures::future::join_all(ops).await;

    let want = recount(&app, pid).await;
    let c = counters(&app, pid).await;
    for (key, n) in &want {
        assert_eq!(c.get(key), *n, "STATS {key} vs recount");
    }
    for (key, n) in &c.0 {
        let tracked = ["technologies", "repositories", "research_tasks", "jobs"]
            .iter()
            .any(|k| key == k || key.starts_with(&format!("{k}.")));
        if tracked {
            assert_eq!(*n, want.get(key).copied().unwrap_or(0), "STATS {key}");
            assert!(*n >= 0, "{key} negative");
        }
    }
    assert_eq!(c.get("technologies"), 0, "every technology was deleted");
}

// ---------------------------------------------------------------- 6: rename race

#[tokio::test]
async fn concurrent_renames_leave_no_orphan_name() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Original").await;
    let url = format!("/api/v1/projects/{}", p["id"]);
    let (a, b) = tokio::join!(
        app.patch(&url)
            .bearer(&u.access)
            .json(json!({"name": "First"}))
            .send(),
        app.patch(&url)
            .bearer(&u.access)
            .json(json!({"name": "Second"}))
            .send(),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(b.status, 200, "{}", b.text);
    let now = app.get(&url).bearer(&u.access).send().await.body["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(now == "First" || now == "Second");
    // Every name but the current one is free again; the current one is taken.
    for name in ["Original", "First", "Second"] {
        let r = app
            .post("/api/v1/projects")
            .bearer(&u.access)
            .json(json!({"name": name, "owner": "acme"}))
            .send()
            .await;
        if name == now {
            r.problem(409, "project_exists");
        } else {
            assert_eq!(r.status, 201, "{name}: {}", r.text);
        }
    }
}

// ---------------------------------------------------------------- 7: limits before effects

async fn exhaust(app: &TestApp, u: &TestUser) {
    // Refused validation counts too (API.md §0.7): fill the window with 422s.
    loop {
        let r = app
            .post("/api/v1/projects")
            .bearer(&u.access)
            .json(json!({"name": ""}))
            .send()
            .await;
        if r.status == 429 {
            return;
        }
        assert_eq!(r.status, 422, "{}", r.text);
    }
}

#[tokio::test]
async fn over_the_write_limit_nothing_is_sent_or_uploaded_and_failures_count() {
    cc_tests::fresh_minute_window().await;
    let app = TestApp::with(|c| c.rate_limit_per_minute = 6).await;
    let u = app.user().await;
    let p = app.project(&u, "Limited").await; // 1
    let repo = app.repo(&u, Some(&p["id"])).await; // 2
    let job = app
        .create(
            &u,
            "/api/v1/jobs",
            None,
            json!({"job_type": "repository_sync", "parameters": {"repository_id": repo}}),
        )
        .await; // 3
    let task = app
        .create(&u, "/api/v1/research-tasks", None, json!({"title": "docs"}))
        .await; // 4
                // Two refused requests fill the window (5, 6).
    exhaust(&app, &u).await;

    let r = app
        .post(&format!("/api/v1/jobs/{}/dispatch", id(&job)))
        .bearer(&u.access)
        .send()
        .await;
    r.problem(429, "rate_limited");
    let stored = app
        .get(&format!("/api/v1/jobs/{}", id(&job)))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(
        stored.body["celery_task_id"],
        Value::Null,
        "nothing was sent"
    );
    let queue = &app.state.config.queue_urls["repository_sync"];
    let out = app
        .state
        .aws
        .sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert!(
        !out.messages().iter().any(|m| m
            .body()
            .is_some_and(|b| b.contains(&format!("\"job_id\":{}", id(&job))))),
        "no message for the refused dispatch"
    );

    let (ct, body) = multipart("paper.pdf", "application/pdf", b"%PDF-1.7");
    let r = app
        .post(&format!("/api/v1/research-tasks/{}/documents", id(&task)))
        .bearer(&u.access)
        .header("content-type", &ct)
        .raw(body)
        .send()
        .await;
    r.problem(429, "rate_limited");
    let listed = app
        .state
        .aws
        .s3
        .list_objects_v2()
        .bucket(&app.state.config.bucket_name)
        .prefix(format!("research-tasks/{}/", id(&task)))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing was uploaded");

    // Logging out and revoking a token are never refused by the write limit.
    let r = app
        .post("/api/v1/auth/logout")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn token_revocation_works_with_a_full_window() {
    cc_tests::fresh_minute_window().await;
    let app = TestApp::with(|c| c.rate_limit_per_minute = 3).await;
    let u = app.user().await;
    let pat = app
        .post("/api/v1/auth/tokens")
        .bearer(&u.access)
        .json(json!({"name": "ci"}))
        .send()
        .await;
    assert_eq!(pat.status, 201);
    exhaust(&app, &u).await;
    let r = app
        .delete(&format!("/api/v1/auth/tokens/{}", pat.body["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let token = pat.body["token"].as_str().unwrap();
    app.get("/api/v1/auth/me")
        .bearer(token)
        .send()
        .await
        .problem(401, "invalid_token");
}

// ---------------------------------------------------------------- 8: PAT lineage

#[tokio::test]
async fn a_token_made_with_a_token_never_outlives_it() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let parent = app
        .post("/api/v1/auth/tokens")
        .bearer(&u.access)
        .json(json!({"name": "parent", "expires_in_days": 1}))
        .send()
        .await;
    assert_eq!(parent.status, 201, "{}", parent.text);
    let parent_token = parent.body["token"].as_str().unwrap().to_string();
    let child = app
        .post("/api/v1/auth/tokens")
        .bearer(&parent_token)
        .json(json!({"name": "child"}))
        .send()
        .await;
    assert_eq!(child.status, 201, "{}", child.text);
    assert_eq!(
        child.body["expires_at"], parent.body["expires_at"],
        "bounded by the parent's expiry"
    );
    let child_token = child.body["token"].as_str().unwrap().to_string();
    let grandchild = app
        .post("/api/v1/auth/tokens")
        .bearer(&child_token)
        .json(json!({"name": "grandchild", "expires_in_days": 365}))
        .send()
        .await;
    assert_eq!(grandchild.status, 201);
    assert_eq!(grandchild.body["expires_at"], parent.body["expires_at"]);
    let grandchild_token = grandchild.body["token"].as_str().unwrap().to_string();
    for t in [&child_token, &grandchild_token] {
        let r = app.get("/api/v1/auth/me").bearer(t).send().await;
        assert_eq!(r.status, 200);
    }
    // Revoking the parent revokes its whole lineage.
    let r = app
        .delete(&format!("/api/v1/auth/tokens/{}", parent.body["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    for t in [&parent_token, &child_token, &grandchild_token] {
        app.get("/api/v1/auth/me")
            .bearer(t)
            .send()
            .await
            .problem(401, "invalid_token");
    }
    let r = app
        .get("/api/v1/auth/tokens")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body, json!([]));
}

// ---------------------------------------------------------------- 10: smaller findings

#[tokio::test]
async fn login_costs_the_same_for_unknown_emails() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let known = app
        .post("/api/v1/auth/login")
        .json(json!({"email": u.email, "password": "wrong password!"}))
        .send()
        .await;
    let unknown = app
        .post("/api/v1/auth/login")
        .json(json!({"email": "nobody-here@example.com", "password": "wrong password!"}))
        .send()
        .await;
    known.problem(401, "invalid_credentials");
    unknown.problem(401, "invalid_credentials");
    assert_eq!(known.aws_calls(), unknown.aws_calls());
}

#[tokio::test]
async fn job_parameters_cannot_name_another_projects_items_or_private_targets() {
    let app = TestApp::with(|c| c.webhook_allow_private_targets = false).await;
    let u = app.user().await;
    let other = app.user().await;
    let mine = app.project(&u, "Mine").await;
    app.project(&other, "Theirs").await;
    let theirs = app.repo(&other, None).await;
    let own = app.repo(&u, Some(&mine["id"])).await;
    for params in [
        json!({"job_type": "repository_sync", "parameters": {"repository_id": theirs}}),
        json!({"job_type": "batch_analysis", "parameters": {"repository_ids": [own, theirs]}}),
        json!({"job_type": "analysis", "parameters": {"repository_id": theirs}}),
    ] {
        let r = app
            .post("/api/v1/jobs")
            .bearer(&u.access)
            .json(params.clone())
            .send()
            .await;
        let body = r.problem(422, "validation_error");
        assert_eq!(body["errors"][0]["loc"][1], "parameters", "{params}");
        assert!(
            body["errors"][0]["msg"]
                .as_str()
                .unwrap()
                .contains(&theirs.to_string()),
            "{}",
            body
        );
    }
    let ok = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(json!({"job_type": "repository_sync", "parameters": {"repository_id": own}}))
        .send()
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);

    let delivery = |url: &str| {
        json!({"job_type": "webhook_delivery", "parameters": {"config_id": 1, "event_type": "job.completed",
               "payload": {}, "target_url": url}})
    };
    for blocked in [
        "http://hooks.example.com/x",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost:8080/",
        "https://[::ffff:10.0.0.1]/",
    ] {
        let r = app
            .post("/api/v1/jobs")
            .bearer(&u.access)
            .json(delivery(blocked))
            .send()
            .await;
        r.problem(400, "target_not_allowed");
    }
    let r = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(delivery("gopher://x"))
        .send()
        .await;
    r.problem(422, "validation_error");
    let r = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(delivery("https://hooks.example.com/x"))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

// ---------------------------------------------------------------- 9: arbitrary bytes

/// Arbitrary bytes in the query string and in item path segments, through the real router:
/// always an answer below 500, problems always as problem+json.
#[tokio::test]
async fn arbitrary_query_and_path_bytes_always_answer_2xx_or_4xx() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Fuzz").await;
    let t = app
        .create(
            &u,
            "/api/v1/technologies",
            Some(&p["id"]),
            json!({"title": "x"}),
        )
        .await;
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let bytes = proptest::collection::vec(proptest::num::u8::ANY, 0..40);
    // Every byte percent-encoded except those a URI may carry as they are (so `%`, `+`, `&`,
    // `=` and multibyte sequences arrive raw and half-formed too).
    let encode = |b: &[u8], raw: bool| -> String {
        b.iter()
            .map(|c| match *c {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (*c as char).to_string()
                }
                b'%' | b'+' | b'&' | b'=' if raw => (*c as char).to_string(),
                c => format!("%{c:02X}"),
            })
            .collect()
    };
    let paths = [
        "/api/v1/projects",
        "/api/v1/technologies",
        "/api/v1/research-tasks",
        "/api/v1/jobs",
        "/api/v1/research-tasks/upcoming",
    ];
    for i in 0..250 {
        let q = bytes.new_tree(&mut runner).unwrap().current();
        let seg = bytes.new_tree(&mut runner).unwrap().current();
        let query = encode(&q, i % 2 == 0);
        let path = if i % 3 == 0 {
            format!("/api/v1/technologies/{}", encode(&seg, false))
        } else {
            format!("{}?{query}", paths[i % paths.len()])
        };
        let r = app
            .get(&path)
            .bearer(&u.access)
            .header("x-project-id", &p["id"].to_string())
            .send()
            .await;
        assert!(
            r.status.as_u16() < 500,
            "GET {path}: {} {}",
            r.status,
            r.text
        );
        if r.status.as_u16() >= 400 {
            assert_eq!(
                r.header("content-type"),
                Some("application/problem+json"),
                "GET {path}: {}",
                r.text
            );
        }
    }
    let r = app
        .get(&format!("/api/v1/technologies/{}", t["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200);
}

/// A child minted while its parent is being revoked never survives the parent.
#[tokio::test]
async fn a_child_token_minted_during_its_parents_revocation_dies_with_it() {
    let app = TestApp::new().await;
    let u = app.user().await;
    for round in 0..5 {
        let parent = app
            .post("/api/v1/auth/tokens")
            .bearer(&u.access)
            .json(json!({"name": format!("parent {round}")}))
            .send()
            .await;
        assert_eq!(parent.status, 201);
        let parent_token = parent.body["token"].as_str().unwrap().to_string();
        let (child, revoked) = tokio::join!(
            app.post("/api/v1/auth/tokens")
                .bearer(&parent_token)
                .json(json!({"name": "child"}))
                .send(),
            app.delete(&format!("/api/v1/auth/tokens/{}", parent.body["id"]))
                .bearer(&u.access)
                .send(),
        );
        assert_eq!(revoked.status, 204, "{}", revoked.text);
        match child.status.as_u16() {
            201 => {
                let t = child.body["token"].as_str().unwrap();
                app.get("/api/v1/auth/me")
                    .bearer(t)
                    .send()
                    .await
                    .problem(401, "invalid_token");
            }
            401 => {}
            other => panic!("child: {other} {}", child.text),
        }
    }
    let r = app
        .get("/api/v1/auth/tokens")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body, json!([]), "no token survived");
}
