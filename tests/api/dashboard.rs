//! API.md §6: the dashboard is exact, O(1) in AWS calls, and per project.

use cc_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn dashboard_counts_exactly_and_stays_in_its_project() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Dash").await;
    let other = app.project(&u, "Other").await;
    let h = p["id"].to_string();
    for i in 0..20 {
        let domain = ["ai-ml", "ui-ux", "other", "performance"][i % 4];
        let priority = if i < 6 { 5 } else { 2 };
        let r = app
            .post("/api/v1/technologies")
            .bearer(&u.access)
            .header("x-project-id", &h)
            .json(json!({"title": format!("tech {i}"), "domain": domain, "priority": priority, "relevance_score": i}))
            .send()
            .await;
        assert_eq!(r.status, 201);
    }
    for i in 0..5 {
        let r = app
            .post("/api/v1/repositories")
            .bearer(&u.access)
            .header("x-project-id", &h)
            .json(json!({"owner": "acme", "name": format!("repo{i}")}))
            .send()
            .await;
        assert_eq!(r.status, 201);
    }
    for i in 0..10 {
        let status = if i < 3 { "completed" } else { "pending" };
        let r = app
            .post("/api/v1/research-tasks")
            .bearer(&u.access)
            .header("x-project-id", &h)
            .json(json!({"title": format!("task {i}"), "status": status}))
            .send()
            .await;
        assert_eq!(r.status, 201);
    }
    // Noise in the other project.
    for i in 0..3 {
        app.post("/api/v1/technologies")
            .bearer(&u.access)
            .header("x-project-id", &other["id"].to_string())
            .json(json!({"title": format!("elsewhere {i}"), "priority": 5}))
            .send()
            .await;
    }

    let r = app
        .get("/api/v1/dashboard/stats")
        .bearer(&u.access)
        .header("x-project-id", &h)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.aws_calls() <= 2, "dashboard made {} calls", r.aws_calls());
    let b = &r.body;
    assert_eq!(b["repositories"]["total"], 5);
    assert_eq!(b["repositories"]["recently_synced"], json!([]));
    assert_eq!(b["technologies"]["total"], 20);
    assert_eq!(
        b["technologies"]["by_domain"],
        json!({"audio-dsp": 0, "ai-ml": 5, "music-theory": 0, "performance": 5, "ui-ux": 5, "infrastructure": 0, "other": 5})
    );
    assert_eq!(b["technologies"]["by_status"]["discovery"], 20);
    assert_eq!(b["technologies"]["by_status"]["archived"], 0);
    let high = b["technologies"]["high_priority"].as_array().unwrap();
    assert_eq!(high.len(), 5);
    assert_eq!(high[0]["title"], "tech 5", "priority, then relevance desc");
    assert!(high
        .iter()
        .all(|t| !t["title"].as_str().unwrap().starts_with("elsewhere")));
    assert_eq!(b["research_tasks"]["total"], 10);
    assert_eq!(b["research_tasks"]["by_status"]["completed"], 3);
    assert_eq!(b["research_tasks"]["by_status"]["pending"], 7);
    assert_eq!(
        b["knowledge_base"],
        json!({"total_documents": 0, "total_chunks": 0, "status": "available"})
    );

    let r = app
        .get("/api/v1/dashboard/recent-activity?limit=3")
        .bearer(&u.access)
        .header("x-project-id", &h)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(r.aws_calls() <= 2);
    assert_eq!(r.body["recent_technologies"].as_array().unwrap().len(), 3);
    assert_eq!(r.body["recent_technologies"][0]["title"], "tech 19");
    assert_eq!(r.body["recent_repositories"][0]["full_name"], "acme/repo4");
    assert_eq!(r.body["recent_tasks"][0].as_object().unwrap().len(), 4);
    app.get("/api/v1/dashboard/recent-activity?limit=101")
        .bearer(&u.access)
        .header("x-project-id", &h)
        .send()
        .await
        .problem(422, "validation_error");

    // A stranger sees nothing of it.
    let stranger = app.user().await;
    app.get("/api/v1/dashboard/stats")
        .bearer(&stranger.access)
        .header("x-project-id", &h)
        .send()
        .await
        .problem(403, "not_a_member");
    let own = app.project(&stranger, "Mine").await;
    let r = app
        .get("/api/v1/dashboard/stats")
        .bearer(&stranger.access)
        .send()
        .await;
    assert_eq!(r.body["technologies"]["total"], 0, "{own}");
}
