//! API.md §0.3: a project is sealed from non-members.

use cc_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn non_members_get_404_on_every_item_route_and_see_nothing() {
    let app = TestApp::new().await;
    let owner = app.user().await;
    let stranger = app.user().await;
    let p = app.project(&owner, "Sealed").await;
    let id = p["id"].as_u64().unwrap();
    let mine = app.project(&stranger, "Mine").await;

    let routes: Vec<(http::Method, String, Option<serde_json::Value>)> = vec![
        (http::Method::GET, format!("/api/v1/projects/{id}"), None),
        (
            http::Method::GET,
            format!("/api/v1/projects/{id}/stats"),
            None,
        ),
        (
            http::Method::PATCH,
            format!("/api/v1/projects/{id}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            http::Method::PUT,
            format!("/api/v1/projects/{id}"),
            Some(json!({"name": "pwned"})),
        ),
        (http::Method::DELETE, format!("/api/v1/projects/{id}"), None),
        (
            http::Method::GET,
            format!("/api/v1/projects/{id}/members"),
            None,
        ),
        (
            http::Method::POST,
            format!("/api/v1/projects/{id}/members"),
            Some(json!({"user_id": stranger.id})),
        ),
        (
            http::Method::DELETE,
            format!("/api/v1/projects/{id}/members/{}", owner.id),
            None,
        ),
        (
            http::Method::DELETE,
            format!("/api/v1/projects/{id}/members/{}", stranger.id),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let mut req = app.req(method.clone(), &path).bearer(&stranger.access);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        assert_eq!(r.body["code"], "project_not_found", "{method} {path}");
        assert_eq!(r.body["detail"], format!("Project with id {id} not found"));
    }
    let r = app
        .get("/api/v1/projects")
        .bearer(&stranger.access)
        .send()
        .await;
    let ids: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, vec![mine["id"].clone()]);

    // Nothing changed for the owner.
    let r = app
        .get(&format!("/api/v1/projects/{id}"))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(r.body["name"], "Sealed");
    let r = app
        .get(&format!("/api/v1/projects/{id}/members"))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);

    // A member naming another project in X-Project-ID or project_id gets the item's 404.
    let r = app
        .get(&format!("/api/v1/projects/{id}"))
        .bearer(&owner.access)
        .header("x-project-id", &mine["id"].to_string())
        .send()
        .await;
    r.problem(404, "project_not_found");
    let r = app
        .get(&format!("/api/v1/projects/{id}?project_id={}", mine["id"]))
        .bearer(&owner.access)
        .send()
        .await;
    r.problem(404, "project_not_found");
    let r = app
        .get(&format!("/api/v1/projects/{id}?project_id=0"))
        .bearer(&owner.access)
        .header("x-project-id", &id.to_string())
        .send()
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn superusers_act_as_owners_everywhere() {
    let app = TestApp::new().await;
    let owner = app.user().await;
    let admin = app.user().await;
    let p = app.project(&owner, "Watched").await;
    let id = p["id"].as_u64().unwrap();
    app.set_user_flag(admin.id, "is_superuser", true).await;

    let r = app
        .get(&format!("/api/v1/projects/{id}"))
        .bearer(&admin.access)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["role"], json!(null));
    let r = app
        .get("/api/v1/projects?limit=500")
        .bearer(&admin.access)
        .send()
        .await;
    assert!(r.body.as_array().unwrap().iter().any(|p| p["id"] == id));
    let r = app
        .patch(&format!("/api/v1/projects/{id}"))
        .bearer(&admin.access)
        .json(json!({"description": "audited"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["description"], "audited");
}

#[tokio::test]
async fn every_item_route_of_every_kind_is_sealed() {
    let app = TestApp::new().await;
    let owner = app.user().await;
    let stranger = app.user().await;
    let p = app.project(&owner, "Vault").await;
    app.project(&stranger, "Own").await;
    let post = |path: &'static str, body: serde_json::Value| {
        let (app, owner, p) = (&app, &owner, &p);
        async move {
            app.create(owner, path, Some(&p["id"]), body).await["id"]
                .as_u64()
                .unwrap()
        }
    };
    let tech = post("/api/v1/technologies", json!({"title": "T"})).await;
    let repo = post("/api/v1/repositories", json!({"owner": "o", "name": "r"})).await;
    let task = post(
        "/api/v1/research-tasks",
        json!({"title": "K", "technology_id": tech}),
    )
    .await;

    let t = format!("/api/v1/research-tasks/{task}");
    let routes: Vec<(http::Method, String, &str)> = vec![
        (
            http::Method::GET,
            format!("/api/v1/technologies/{tech}"),
            "technology_not_found",
        ),
        (
            http::Method::PATCH,
            format!("/api/v1/technologies/{tech}"),
            "technology_not_found",
        ),
        (
            http::Method::DELETE,
            format!("/api/v1/technologies/{tech}"),
            "technology_not_found",
        ),
        (
            http::Method::GET,
            format!("/api/v1/repositories/{repo}"),
            "repository_not_found",
        ),
        (
            http::Method::PATCH,
            format!("/api/v1/repositories/{repo}"),
            "repository_not_found",
        ),
        (
            http::Method::DELETE,
            format!("/api/v1/repositories/{repo}"),
            "repository_not_found",
        ),
        (
            http::Method::POST,
            format!("/api/v1/repositories/{repo}/sync"),
            "repository_not_found",
        ),
        (http::Method::GET, t.clone(), "research_task_not_found"),
        (http::Method::PATCH, t.clone(), "research_task_not_found"),
        (http::Method::DELETE, t.clone(), "research_task_not_found"),
        (
            http::Method::PATCH,
            format!("{t}/status?new_status=blocked"),
            "research_task_not_found",
        ),
        (
            http::Method::PATCH,
            format!("{t}/progress?progress_percentage=5"),
            "research_task_not_found",
        ),
        (
            http::Method::GET,
            format!("{t}/documents"),
            "research_task_not_found",
        ),
        (
            http::Method::POST,
            format!("{t}/documents/upload-url"),
            "research_task_not_found",
        ),
        (
            http::Method::POST,
            format!("{t}/documents/complete"),
            "research_task_not_found",
        ),
        (
            http::Method::GET,
            format!("{t}/documents/1/download"),
            "research_task_not_found",
        ),
    ];
    for (method, path, code) in routes {
        let r = app
            .req(method.clone(), &path)
            .bearer(&stranger.access)
            .json(json!({"title": "x", "filename": "f", "size": 1, "document_id": 1}))
            .send()
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        assert_eq!(r.body["code"], code, "{method} {path}");
    }
    for list in [
        "/api/v1/technologies",
        "/api/v1/research-tasks",
        "/api/v1/repositories",
        "/api/v1/dashboard/stats",
    ] {
        let r = app.get(list).bearer(&stranger.access).send().await;
        assert_eq!(r.status, 200, "{list}");
        assert!(
            !r.text.contains("\"T\"") && !r.text.contains("o/r") && !r.text.contains("\"K\""),
            "{list}: {}",
            r.text
        );
    }
    // Untouched for the owner.
    let r = app.get(&t).bearer(&owner.access).send().await;
    assert_eq!(r.body["status"], "pending");
    let r = app
        .get(&format!("/api/v1/projects/{}/stats", p["id"]))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(
        (
            r.body["technology_count"].clone(),
            r.body["repository_count"].clone(),
            r.body["research_task_count"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
}

#[tokio::test]
async fn jobs_are_sealed_from_non_members() {
    let app = TestApp::new().await;
    let owner = app.user().await;
    let stranger = app.user().await;
    app.project(&owner, "Jobs").await;
    app.project(&stranger, "Mine").await;
    let repo = app.repo(&owner, None).await;
    let r = app
        .post("/api/v1/jobs")
        .bearer(&owner.access)
        .json(json!({"job_type": "repository_sync", "parameters": {"repository_id": repo}}))
        .send()
        .await;
    let id = r.body["id"].as_u64().unwrap();
    for (method, path) in [
        (http::Method::GET, format!("/api/v1/jobs/{id}")),
        (http::Method::PATCH, format!("/api/v1/jobs/{id}")),
        (http::Method::DELETE, format!("/api/v1/jobs/{id}")),
        (http::Method::POST, format!("/api/v1/jobs/{id}/dispatch")),
        (http::Method::POST, format!("/api/v1/jobs/{id}/cancel")),
        (http::Method::GET, format!("/api/v1/jobs/{id}/progress")),
        (http::Method::GET, format!("/api/v1/batch/jobs/{id}")),
    ] {
        let r = app
            .req(method.clone(), &path)
            .bearer(&stranger.access)
            .json(json!({"progress": 5}))
            .send()
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        assert_eq!(r.body["code"], "job_not_found");
    }
    for list in ["/api/v1/jobs", "/api/v1/jobs/active/list"] {
        let r = app.get(list).bearer(&stranger.access).send().await;
        assert_eq!(r.body["total"], 0, "{list}");
    }
    let r = app
        .get("/api/v1/jobs/statistics/summary")
        .bearer(&stranger.access)
        .send()
        .await;
    assert_eq!(r.body["total"], 0);
    let r = app
        .get(&format!("/api/v1/jobs/{id}"))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(
        (r.body["status"].clone(), r.body["progress"].clone()),
        (json!("pending"), json!(0))
    );
}
