//! API.md §3: repositories (sync against a fake GitHub: github_sync.rs).

use cc_tests::{captured_logs, TestApp, TestUser};
use serde_json::{json, Value};

fn token() -> String {
    format!(
        "ghp_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

async fn repo(app: &TestApp, u: &TestUser, pid: &Value, body: Value) -> Value {
    app.create(u, "/api/v1/repositories", Some(pid), body).await
}

#[tokio::test]
async fn create_validates_names_and_seals_the_token() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Repos").await;
    let secret = token();
    let r = app
        .post("/api/v1/repositories")
        .bearer(&u.access)
        .json(json!({"owner": "tokio-rs", "name": "tokio.rs_v2", "description": "runtime", "access_token": secret}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["full_name"], "tokio-rs/tokio.rs_v2");
    assert_eq!(b["project_id"], p["id"]);
    assert_eq!(b["has_access_token"], true);
    assert_eq!(b["is_private"], false);
    assert_eq!(b["default_branch"], "main");
    assert_eq!(b["stars"], 0);
    assert_eq!(b["forks"], 0);
    assert_eq!(b["metadata_"], Value::Null);
    assert_eq!(b.as_object().unwrap().len(), 23);
    assert!(!r.text.contains(&secret));
    let id = b["id"].as_u64().unwrap();

    let stored = app
        .state
        .store
        .get(&commandcenter::store::kinds::REPOSITORIES.key(p["id"].as_u64().unwrap(), id))
        .await
        .unwrap()
        .unwrap();
    let sealed = stored["access_token_enc"].as_s().unwrap();
    assert!(!sealed.contains(&secret));
    assert_eq!(
        app.state
            .sealer
            .open(p["id"].as_u64().unwrap(), sealed)
            .await
            .unwrap(),
        secret
    );

    let r = app
        .post("/api/v1/repositories")
        .bearer(&u.access)
        .json(json!({"owner": "Tokio-RS", "name": "TOKIO.RS_V2"}))
        .send()
        .await;
    assert_eq!(
        r.problem(409, "repository_exists")["detail"],
        "Repository Tokio-RS/TOKIO.RS_V2 already exists"
    );

    let r = app
        .post("/api/v1/repositories")
        .bearer(&u.access)
        .json(json!({"owner": "a/b", "name": "..", "access_token": "ghp_short"}))
        .send()
        .await;
    let errs = r.problem(422, "validation_error")["errors"]
        .as_array()
        .unwrap()
        .clone();
    let got: Vec<_> = errs
        .iter()
        .map(|e| (e["loc"][1].as_str().unwrap(), e["msg"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("owner", "Value error, Invalid GitHub name format"),
            ("name", "Value error, Invalid GitHub name format"),
            ("access_token", "Value error, Invalid GitHub token format"),
        ]
    );
    let r = app
        .post("/api/v1/repositories")
        .bearer(&u.access)
        .json(json!({"owner": "x".repeat(40), "name": "ok"}))
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["type"],
        "string_too_long"
    );

    // Reading, listing and updating never show the token; neither do the logs.
    for r in [
        app.get(&format!("/api/v1/repositories/{id}"))
            .bearer(&u.access)
            .send()
            .await,
        app.get("/api/v1/repositories")
            .bearer(&u.access)
            .send()
            .await,
        app.patch(&format!("/api/v1/repositories/{id}"))
            .bearer(&u.access)
            .json(json!({"description": "d"}))
            .send()
            .await,
    ] {
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(!r.text.contains(&secret));
        assert!(!r.text.contains("access_token_enc"));
    }
    assert!(!captured_logs().contains(&secret));
    assert!(
        captured_logs().contains("\"request\""),
        "access logs are captured"
    );
}

#[tokio::test]
async fn update_list_filters_delete_and_sync() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Repos").await;
    let a = repo(
        &app,
        &u,
        &p["id"],
        json!({"owner": "acme", "name": "api", "access_token": token()}),
    )
    .await;
    let b = repo(&app, &u, &p["id"], json!({"owner": "acme", "name": "web"})).await;
    repo(&app, &u, &p["id"], json!({"owner": "other", "name": "lib"})).await;
    let url = format!("/api/v1/repositories/{}", a["id"]);

    let r = app
        .put(&url)
        .bearer(&u.access)
        .json(json!({"access_token": null, "is_private": true, "metadata_": {"team": "core"}, "owner": "ignored"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["has_access_token"], false);
    assert_eq!(r.body["is_private"], true);
    assert_eq!(r.body["metadata_"], json!({"team": "core"}));
    assert_eq!(r.body["owner"], "acme");
    app.patch(&url)
        .bearer(&u.access)
        .json(json!({"is_private": null}))
        .send()
        .await
        .problem(422, "validation_error");

    let r = app
        .get("/api/v1/repositories?owner=acme")
        .bearer(&u.access)
        .send()
        .await;
    let ids: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![a["id"].clone(), b["id"].clone()],
        "updated_at desc"
    );
    let r = app
        .get("/api/v1/repositories?owner=acme&language=Rust")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body, json!([]));
    let r = app
        .get("/api/v1/repositories?limit=1&skip=1")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);

    let r = app
        .post(&format!("{url}/sync"))
        .bearer(&u.access)
        .json(json!({"force": "yes"}))
        .send()
        .await;
    r.problem(422, "validation_error");
    // GitHub unreachable (the tests' default GitHub URL is a closed port): 502, nothing lost.
    let r = app
        .post(&format!("{url}/sync"))
        .bearer(&u.access)
        .json(json!({"force": true}))
        .send()
        .await;
    r.problem(502, "github_error");

    let stranger = app.user().await;
    app.get(&url)
        .bearer(&stranger.access)
        .send()
        .await
        .problem(404, "repository_not_found");
    app.post(&format!("{url}/sync"))
        .bearer(&stranger.access)
        .send()
        .await
        .problem(404, "repository_not_found");
    app.delete(&url)
        .bearer(&stranger.access)
        .send()
        .await
        .problem(404, "repository_not_found");

    let r = app.delete(&url).bearer(&u.access).send().await;
    assert_eq!(r.status, 204);
    let r = app.get(&url).bearer(&u.access).send().await;
    assert_eq!(
        r.problem(404, "repository_not_found")["detail"],
        format!("Repository {} not found", a["id"])
    );
    // The full name is free again.
    repo(&app, &u, &p["id"], json!({"owner": "acme", "name": "api"})).await;
    let r = app
        .get(&format!("/api/v1/projects/{}/stats", p["id"]))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body["repository_count"], 3);
}
