//! API.md §4: technologies, with counters, events and tenancy.

use cc_tests::{TestApp, TestUser};
use serde_json::{json, Value};

async fn tech(app: &TestApp, u: &TestUser, pid: &Value, body: Value) -> Value {
    app.create(u, "/api/v1/technologies", Some(pid), body).await
}

async fn stats(app: &TestApp, pid: u64) -> commandcenter::domain::project::ProjectCounters {
    let item = app
        .state
        .store
        .get(&commandcenter::store::keys::project_stats(pid))
        .await
        .unwrap();
    commandcenter::store::projects::counters_of(item)
}

#[tokio::test]
async fn create_with_defaults_and_read_back() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Radar").await;
    // The caller's only project is used when none is named.
    let r = app
        .post("/api/v1/technologies/")
        .bearer(&u.access)
        .json(json!({"title": "Tokio", "tags": "async,rust", "latency_ms": 1.5, "dependencies": {"12": "uses"},
                     "last_hn_mention": "2026-11-01T10:00:00"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.aws_calls() <= 3, "{} calls", r.aws_calls());
    let t = r.body.clone();
    assert_eq!(t["project_id"], p["id"]);
    assert_eq!(t["domain"], "other");
    assert_eq!(t["status"], "discovery");
    assert_eq!(t["relevance_score"], 50);
    assert_eq!(t["priority"], 3);
    assert_eq!(t["latency_ms"], 1.5);
    assert_eq!(t["dependencies"], json!({"12": "uses"}));
    assert_eq!(t["last_hn_mention"], "2026-11-01T10:00:00.000Z");
    assert_eq!(t["vendor"], Value::Null);
    assert_eq!(t.as_object().unwrap().len(), 31, "every documented field");
    assert!(t.get("version").is_none());

    let id = t["id"].as_u64().unwrap();
    let r = app
        .get(&format!("/api/v1/technologies/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, t);
    assert_eq!(r.aws_calls(), 2);

    let events = app
        .state
        .store
        .events(p["id"].as_u64().unwrap())
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "technology.created");
    assert_eq!(events[0].data["title"], "Tokio");
}

#[tokio::test]
async fn validation_conflicts_and_project_resolution() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p1 = app.project(&u, "One").await;
    let p2 = app.project(&u, "Two").await;
    let r = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .json(json!({"title": "X"}))
        .send()
        .await;
    assert_eq!(
        r.problem(400, "project_required")["detail"],
        "Project required: send X-Project-ID"
    );
    let r = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &p1["id"].to_string())
        .json(json!({"title": "X", "project_id": p2["id"]}))
        .send()
        .await;
    r.problem(400, "project_mismatch");
    let r = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .json(json!({"title": "X", "project_id": p2["id"]}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["project_id"], p2["id"]);

    let stranger = app.user().await;
    let r = app
        .post("/api/v1/technologies")
        .bearer(&stranger.access)
        .header("x-project-id", &p1["id"].to_string())
        .json(json!({"title": "Y"}))
        .send()
        .await;
    assert_eq!(
        r.problem(403, "not_a_member")["detail"],
        format!("Not a member of project {}", p1["id"])
    );

    let r = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &p1["id"].to_string())
        .json(json!({"title": "", "domain": "cooking", "priority": 6, "relevance_score": -1, "latency_ms": -2,
                     "github_stars": "many", "cost_tier": "cheap", "last_hn_mention": "yesterday", "dependencies": []}))
        .send()
        .await;
    let errs = r.problem(422, "validation_error")["errors"]
        .as_array()
        .unwrap()
        .clone();
    let fields: Vec<_> = errs.iter().map(|e| e["loc"][1].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "title",
            "domain",
            "relevance_score",
            "priority",
            "latency_ms",
            "github_stars",
            "cost_tier",
            "dependencies",
            "last_hn_mention"
        ]
    );

    tech(&app, &u, &p1["id"], json!({"title": "Kafka"})).await;
    let r = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &p1["id"].to_string())
        .json(json!({"title": "kafka"}))
        .send()
        .await;
    assert_eq!(
        r.problem(409, "technology_exists")["detail"],
        "Technology 'kafka' already exists"
    );
    // Another project may use the title.
    tech(&app, &u, &p2["id"], json!({"title": "Kafka"})).await;
}

#[tokio::test]
async fn update_rename_clear_and_delete() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "P").await;
    let pid = p["id"].as_u64().unwrap();
    let a = tech(
        &app,
        &u,
        &p["id"],
        json!({"title": "A", "vendor": "V", "domain": "ai-ml"}),
    )
    .await;
    tech(&app, &u, &p["id"], json!({"title": "B"})).await;
    let url = format!("/api/v1/technologies/{}", a["id"]);

    app.patch(&url)
        .bearer(&u.access)
        .json(json!({"title": "b"}))
        .send()
        .await
        .problem(409, "technology_exists");
    let r = app
        .put(&url)
        .bearer(&u.access)
        .json(json!({"title": "C", "vendor": null, "status": "evaluation", "domain": "infrastructure"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], "C");
    assert_eq!(r.body["vendor"], Value::Null);
    assert_eq!(r.body["status"], "evaluation");
    assert!(r.body["updated_at"].as_str().unwrap() >= a["updated_at"].as_str().unwrap());
    assert_eq!(r.body["created_at"], a["created_at"]);
    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"priority": null}))
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["loc"],
        json!(["body", "priority"])
    );
    // The old title is free again.
    tech(&app, &u, &p["id"], json!({"title": "A"})).await;

    let c = stats(&app, pid).await;
    assert_eq!(c.get("technologies"), 3);
    assert_eq!(c.get("technologies.status.evaluation"), 1);
    assert_eq!(c.get("technologies.status.discovery"), 2);
    assert_eq!(c.get("technologies.domain.ai-ml"), 0);
    assert_eq!(c.get("technologies.domain.infrastructure"), 1);

    let r = app.delete(&url).bearer(&u.access).send().await;
    assert_eq!(r.status, 204);
    app.get(&url)
        .bearer(&u.access)
        .send()
        .await
        .problem(404, "technology_not_found");
    let r = app.delete(&url).bearer(&u.access).send().await;
    assert_eq!(
        r.problem(404, "technology_not_found")["detail"],
        format!("Technology {} not found", a["id"])
    );
    assert_eq!(stats(&app, pid).await.get("technologies"), 2);
    let r = app
        .get(&format!("/api/v1/projects/{pid}/stats"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["technology_count"], 2);

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
            "technology.created",
            "technology.updated",
            "technology.created",
            "technology.deleted"
        ]
    );
}

#[tokio::test]
async fn list_filters_orders_and_counts_exactly() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "P").await;
    tech(&app, &u, &p["id"], json!({"title": "Low", "priority": 1})).await;
    tech(
        &app,
        &u,
        &p["id"],
        json!({"title": "High", "priority": 5, "relevance_score": 10, "domain": "ai-ml"}),
    )
    .await;
    tech(&app, &u, &p["id"], json!({"title": "Higher", "priority": 5, "relevance_score": 90, "description": "Vector DB"})).await;
    tech(
        &app,
        &u,
        &p["id"],
        json!({"title": "Mid", "priority": 3, "tags": "vector,search", "status": "research"}),
    )
    .await;
    let list = |q: &str| {
        let q = q.to_string();
        let app = &app;
        let u = &u;
        async move {
            app.get(&format!("/api/v1/technologies{q}"))
                .bearer(&u.access)
                .send()
                .await
        }
    };
    let r = app
        .get("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &p["id"].to_string())
        .send()
        .await;
    assert_eq!(r.aws_calls(), 2, "auth + one Query");
    let r = list("").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.aws_calls(), 3, "+ finding the caller's only project");
    let titles: Vec<_> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(titles, vec!["Higher", "High", "Mid", "Low"]);
    assert_eq!(r.body["total"], 4);
    assert_eq!(r.body["page"], 1);
    assert_eq!(r.body["page_size"], 50);

    let r = list("?skip=2&limit=2").await;
    assert_eq!(r.body["total"], 4);
    assert_eq!(r.body["page"], 2);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let r = list("?search=VECTOR").await;
    assert_eq!(r.body["total"], 2);
    let r = list("?domain=ai-ml").await;
    assert_eq!(r.body["items"][0]["title"], "High");
    let r = list("?status=research&search=vec").await;
    assert_eq!(r.body["total"], 1);
    list("?status=nope").await.problem(422, "validation_error");
    list("?limit=501").await.problem(422, "validation_error");
}

#[tokio::test]
async fn technologies_are_sealed_from_non_members() {
    let app = TestApp::new().await;
    let owner = app.user().await;
    let stranger = app.user().await;
    let p = app.project(&owner, "Sealed").await;
    app.project(&stranger, "Other").await;
    let t = tech(&app, &owner, &p["id"], json!({"title": "Secret"})).await;
    let url = format!("/api/v1/technologies/{}", t["id"]);
    for (m, body) in [
        (http::Method::GET, None),
        (http::Method::PATCH, Some(json!({"title": "x"}))),
        (http::Method::PUT, Some(json!({"title": "x"}))),
        (http::Method::DELETE, None),
    ] {
        let mut req = app.req(m.clone(), &url).bearer(&stranger.access);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await;
        assert_eq!(r.status, 404, "{m}: {}", r.text);
        assert_eq!(r.body["code"], "technology_not_found");
    }
    let r = app
        .get("/api/v1/technologies")
        .bearer(&stranger.access)
        .send()
        .await;
    assert_eq!(r.body["total"], 0);
    let r = app
        .get("/api/v1/technologies")
        .bearer(&stranger.access)
        .header("x-project-id", &p["id"].to_string())
        .send()
        .await;
    r.problem(403, "not_a_member");
    // The owner naming another project in the header gets the item's 404.
    let r = app
        .get(&url)
        .bearer(&owner.access)
        .header("x-project-id", "123")
        .send()
        .await;
    r.problem(404, "technology_not_found");
    assert_eq!(
        app.get(&url).bearer(&owner.access).send().await.body["title"],
        "Secret"
    );
}

#[tokio::test]
async fn counters_stay_exact_under_concurrency_and_project_delete_sweeps_all() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Busy").await;
    let pid = p["id"].as_u64().unwrap();
    let created: Vec<Value> = futures::future::join_all((0..20).map(|i| {
        let app = &app;
        let u = &u;
        let p = &p;
        async move {
            let domain = if i % 2 == 0 { "ai-ml" } else { "ui-ux" };
            tech(
                app,
                u,
                &p["id"],
                json!({"title": format!("t{i}"), "domain": domain}),
            )
            .await
        }
    }))
    .await;
    let c = stats(&app, pid).await;
    assert_eq!(c.get("technologies"), 20);
    assert_eq!(c.get("technologies.domain.ai-ml"), 10);
    futures::future::join_all(created.iter().take(7).map(|t| {
        let app = &app;
        let u = &u;
        async move {
            let r = app
                .delete(&format!("/api/v1/technologies/{}", t["id"]))
                .bearer(&u.access)
                .send()
                .await;
            assert_eq!(r.status, 204);
        }
    }))
    .await;
    let c = stats(&app, pid).await;
    assert_eq!(c.get("technologies"), 13);
    assert_eq!(c.get("technologies.status.discovery"), 13);
    let r = app
        .get("/api/v1/technologies")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["total"], 13);

    let survivor = created[10]["id"].as_u64().unwrap();
    assert!(app.state.store.locate(survivor).await.unwrap().is_some());
    let r = app
        .delete(&format!("/api/v1/projects/{pid}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    app.sweep(pid).await;
    assert!(app.partition(pid).await.is_empty());
    assert!(
        app.state.store.locate(survivor).await.unwrap().is_none(),
        "pointer swept too"
    );
}
