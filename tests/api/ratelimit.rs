//! API.md §0.7: fixed windows in DynamoDB, 429 with Retry-After and RateLimit headers.

use cc_tests::{fresh_minute_window, random_ip, TestApp};
use serde_json::json;

#[tokio::test]
async fn login_is_limited_per_client_ip_and_failures_count() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let ip = random_ip();
    fresh_minute_window().await;
    for i in 0..10 {
        let password = if i % 2 == 0 {
            "wrong password"
        } else {
            u.password.as_str()
        };
        let r = app
            .post("/api/v1/auth/login")
            .ip(&ip)
            .json(json!({"email": u.email, "password": password}))
            .send()
            .await;
        assert!(r.status == 200 || r.status == 401, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit"), Some("10"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some((9 - i).to_string().as_str()),
            "attempt {i}"
        );
        assert!(r.header("ratelimit-reset").unwrap().parse::<i64>().unwrap() <= 60);
    }
    let r = app
        .post("/api/v1/auth/login")
        .ip(&ip)
        .json(json!({"email": u.email, "password": u.password}))
        .send()
        .await;
    let b = r.problem(429, "rate_limited");
    assert_eq!(b["detail"], "Rate limit exceeded: 10 per 1 minute");
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    // Malformed requests count too, and another address is unaffected.
    app.post("/api/v1/auth/login")
        .ip(&ip)
        .json(json!({}))
        .send()
        .await
        .problem(429, "rate_limited");
    let r = app
        .post("/api/v1/auth/login")
        .ip(&random_ip())
        .json(json!({"email": u.email, "password": u.password}))
        .send()
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn register_is_limited_to_five_per_hour() {
    let app = TestApp::new().await;
    let ip = random_ip();
    for i in 0..5 {
        let r = app
            .post("/api/v1/auth/register")
            .ip(&ip)
            .json(json!({"email": format!("r{i}-{}@example.com", uuid::Uuid::new_v4().simple()), "password": "longenough"}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = app
        .post("/api/v1/auth/register")
        .ip(&ip)
        .json(json!({"email": format!("late-{}@example.com", uuid::Uuid::new_v4().simple()), "password": "longenough"}))
        .send()
        .await;
    assert_eq!(
        r.problem(429, "rate_limited")["detail"],
        "Rate limit exceeded: 5 per 1 hour"
    );
}

#[tokio::test]
async fn writes_are_limited_per_user_inside_their_transaction() {
    let app = TestApp::with(|c| c.rate_limit_per_minute = 4).await;
    let u = app.user().await;
    fresh_minute_window().await;
    for i in 0..4 {
        let r = app
            .post("/api/v1/projects")
            .bearer(&u.access)
            .json(json!({"name": format!("p{i}"), "owner": "acme"}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some((3 - i).to_string().as_str())
        );
        // The counter rides in the create transaction: no extra round trip.
        assert_eq!(r.aws_calls(), 2);
    }
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "one too many", "owner": "acme"}))
        .send()
        .await;
    assert_eq!(
        r.problem(429, "rate_limited")["detail"],
        "Rate limit exceeded: 4 per 1 minute"
    );
    assert!(r.header("retry-after").is_some());
    // Nothing was written by the refused request.
    let r = app.get("/api/v1/projects").bearer(&u.access).send().await;
    assert_eq!(r.status, 200, "GETs are not counted");
    assert_eq!(r.body.as_array().unwrap().len(), 4);
    assert!(r.header("ratelimit-limit").is_none());
    // Other users have their own window.
    let v = app.user().await;
    assert_eq!(app.project(&v, "fine").await["name"], "fine");
}

#[tokio::test]
async fn batch_exports_have_their_own_bucket_of_5_per_minute() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.project(&u, "Exports").await;
    fresh_minute_window().await;
    for i in 0..5 {
        // No analyses exist yet: each request is refused (400) but counts.
        let r = app
            .post("/api/v1/batch/export")
            .bearer(&u.access)
            .json(json!({"analysis_ids": [1], "format": "json"}))
            .send()
            .await;
        r.problem(400, "analyses_not_found");
        assert_eq!(r.header("ratelimit-limit"), Some("5"), "attempt {i}");
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
    }
    let r = app
        .post("/api/v1/batch/export")
        .bearer(&u.access)
        .json(json!({"analysis_ids": [1], "format": "json"}))
        .send()
        .await;
    let b = r.problem(429, "rate_limited");
    assert_eq!(b["detail"], "Rate limit exceeded: 5 per 1 minute");
    // Other writes still go through the general write limit.
    let r = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .json(json!({"title": "Unaffected"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("ratelimit-limit"), Some("600"));
}
