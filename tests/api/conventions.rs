//! API.md §0: routing, bodies, errors, headers, CORS, OpenAPI.

use cc_tests::TestApp;
use serde_json::json;

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("x-xss-protection", "1; mode=block"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("referrer-policy", "strict-origin-when-cross-origin"),
];

fn assert_security_headers(r: &cc_tests::Resp) {
    for (k, v) in SECURITY_HEADERS {
        assert_eq!(r.header(k), Some(v), "{k}");
    }
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(r
        .header("permissions-policy")
        .unwrap()
        .starts_with("geolocation=()"));
    assert!(r.header("x-request-id").is_some());
}

#[tokio::test]
async fn root_and_health() {
    let app = TestApp::new().await;
    let r = app.get("/").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["app"], "Command Center API");
    assert_eq!(r.body["version"], "1.0.0");
    assert_eq!(r.body["docs"], "/docs");
    assert_eq!(r.body["health"], "/health");
    assert!(r.body.get("websocket_url").is_some());
    let r = app.get("/health").send().await;
    assert_eq!(
        r.body,
        json!({"status": "healthy", "app": "Command Center API", "version": "1.0.0"})
    );
    assert_eq!(r.aws_calls(), 0);
    assert_security_headers(&r);
}

#[tokio::test]
async fn detailed_health_checks_every_component() {
    let app = TestApp::new().await;
    app.get("/health/detailed")
        .send()
        .await
        .problem(401, "not_authenticated");
    let u = app.user().await;
    let r = app.get("/health/detailed").bearer(&u.access).send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "healthy");
    for c in ["database", "queue", "storage"] {
        assert_eq!(
            r.body["components"][c]["status"], "healthy",
            "{c}: {}",
            r.body
        );
        assert!(r.body["components"][c]["response_time_ms"].is_number());
    }
    assert!(r.body["timestamp"].as_str().unwrap().ends_with('Z'));

    // A missing bucket makes storage (and the whole) unhealthy: 503.
    let broken = TestApp::with(|c| c.bucket_name = "no-such-bucket-cc".into()).await;
    let u = broken.user().await;
    let r = broken
        .get("/health/detailed")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["status"], "unhealthy");
    assert_eq!(
        r.body["components"]["storage"]["error"],
        "storage unavailable"
    );
    assert_eq!(r.body["components"]["database"]["status"], "healthy");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let app = TestApp::new().await;
    let r = app.get("/api/v1/nothing-here").send().await;
    r.problem(404, "not_found");
    assert_eq!(r.body["detail"], "Not Found");
    assert_eq!(r.body["title"], "Not Found");
    assert_security_headers(&r);

    let r = app.delete("/api/v1/projects").send().await;
    r.problem(405, "method_not_allowed");
    assert_eq!(r.body["detail"], "Method Not Allowed");
    let allow = r.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    // PATCH routes also accept PUT, and Allow says so.
    let r = app.post("/api/v1/projects/1").send().await;
    let allow = r.header("allow").unwrap().to_string();
    r.problem(405, "method_not_allowed");
    assert!(allow.contains("PATCH") && allow.contains("PUT"), "{allow}");

    // A function mounting only its own group (as on Lambda, where API Gateway's $default route
    // brings every unmatched request to api-meta) still knows the whole route table.
    let meta_only = commandcenter::api::app_with_route_table(
        commandcenter::api::routes::meta::routes(),
        app.state.clone(),
    );
    let call = |method: &str, path: &str| {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    use tower::ServiceExt;
    let r = meta_only
        .clone()
        .oneshot(call("DELETE", "/api/v1/projects/"))
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let allow = r.headers()["allow"].to_str().unwrap().to_string();
    assert!(
        allow.contains("GET") && allow.contains("POST") && !allow.contains("DELETE"),
        "{allow}"
    );
    let r = meta_only
        .clone()
        .oneshot(call("POST", "/api/v1/projects/7/stats"))
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = meta_only
        .clone()
        .oneshot(call("GET", "/api/v1/projects/7/nothing"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn bodies_unsupported_malformed_too_large() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .header("content-type", "text/plain")
        .raw("name=x")
        .send()
        .await;
    r.problem(415, "unsupported_media_type");

    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .header("content-type", "application/json")
        .raw("{\"name\": ")
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"][0]["type"], "json_invalid");
    assert_eq!(b["errors"][0]["loc"][0], "body");
    assert_eq!(b["detail"], "Request validation failed");

    let big = vec![b' '; 6 * 1024 * 1024 + 10];
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .header("content-type", "application/json")
        .raw(big)
        .send()
        .await;
    r.problem(413, "payload_too_large");
}

#[tokio::test]
async fn every_failing_field_is_listed() {
    let app = TestApp::new().await;
    let r = app
        .post("/api/v1/auth/register")
        .json(json!({"email": "nope", "password": "short", "full_name": 7, "ignored": true}))
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    let errs = b["errors"].as_array().unwrap();
    let got: Vec<(String, String)> = errs
        .iter()
        .map(|e| {
            (
                e["loc"][1].as_str().unwrap().to_string(),
                e["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("email".into(), "value_error".into()),
            ("password".into(), "string_too_short".into()),
            ("full_name".into(), "string_type".into()),
        ]
    );
    assert!(errs
        .iter()
        .all(|e| e["loc"][0] == "body" && e["msg"].is_string()));

    let r = app.post("/api/v1/auth/login").send().await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"].as_array().unwrap().len(), 2);
    assert_eq!(b["errors"][0]["type"], "missing");
    assert_eq!(b["errors"][0]["msg"], "Field required");
}

#[tokio::test]
async fn path_and_query_parameters_are_validated() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let r = app
        .get("/api/v1/projects/abc")
        .bearer(&u.access)
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"][0]["loc"], json!(["path", "project_id"]));
    assert_eq!(b["errors"][0]["type"], "int_parsing");
    let r = app.get("/api/v1/projects/0").bearer(&u.access).send().await;
    r.problem(422, "validation_error");

    let r = app
        .get("/api/v1/projects?limit=0&skip=-1")
        .bearer(&u.access)
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    let locs: Vec<_> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"][1].clone())
        .collect();
    assert_eq!(locs, vec![json!("skip"), json!("limit")]);
    let r = app
        .get("/api/v1/projects?limit=501")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["type"],
        "less_than_equal"
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_minted() {
    let app = TestApp::new().await;
    let r = app
        .get("/health")
        .header("x-request-id", "abc.DEF_123-x")
        .send()
        .await;
    assert_eq!(r.header("x-request-id"), Some("abc.DEF_123-x"));
    let r = app
        .get("/nope")
        .header("x-request-id", "bad id!")
        .send()
        .await;
    let id = r.header("x-request-id").unwrap();
    assert_ne!(id, "bad id!");
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(r.body["request_id"], id);
}

#[tokio::test]
async fn trailing_slash_and_put_as_patch() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Slashes").await;
    let id = p["id"].as_u64().unwrap();
    let r = app.get("/api/v1/projects/").bearer(&u.access).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = app
        .get(&format!("/api/v1/projects/{id}/"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], id);
    let r = app
        .put(&format!("/api/v1/projects/{id}/"))
        .bearer(&u.access)
        .json(json!({"description": "via PUT"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["description"], "via PUT");
    assert_eq!(r.body["name"], "Slashes");
}

#[tokio::test]
async fn cors_preflight_and_responses() {
    let app = TestApp::new().await;
    let r = app
        .req(http::Method::OPTIONS, "/api/v1/projects")
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "Authorization, Content-Type, X-Project-ID",
        )
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r
        .header("access-control-allow-headers")
        .unwrap()
        .contains("X-Project-ID"));
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("PATCH"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_security_headers(&r);

    let r = app
        .req(http::Method::OPTIONS, "/api/v1/projects")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await;
    r.problem(400, "cors_rejected");
    assert!(r.header("access-control-allow-origin").is_none());

    let r = app
        .req(http::Method::OPTIONS, "/api/v1/projects")
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "x-secret-sauce")
        .send()
        .await;
    r.problem(400, "cors_rejected");

    let r = app
        .get("/nope")
        .header("origin", "http://localhost:5173")
        .send()
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("X-Request-ID"));
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("RateLimit-Remaining"));

    let custom = TestApp::with(|c| c.cors_origins = vec!["https://app.example".into()]).await;
    let r = custom
        .get("/health")
        .header("origin", "http://localhost:3000")
        .send()
        .await;
    assert!(r.header("access-control-allow-origin").is_none());
    let r = custom
        .get("/health")
        .header("origin", "https://app.example")
        .send()
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}

#[tokio::test]
async fn openapi_documents_every_route_and_docs_render_it() {
    let app = TestApp::new().await;
    let r = app.get("/openapi.json").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    let paths = r.body["paths"].as_object().unwrap();
    for (group, routes) in commandcenter::api::GROUPS {
        let (_, api) = routes().split_for_parts();
        for (path, item) in api.paths.paths {
            let doc = paths
                .get(&path)
                .unwrap_or_else(|| panic!("{group}: {path} undocumented"));
            let item = serde_json::to_value(item).unwrap();
            for method in item.as_object().unwrap().keys() {
                assert!(doc.get(method).is_some(), "{method} {path}");
            }
        }
    }
    for path in [
        "/api/v1/auth/login",
        "/api/v1/projects/{project_id}/members/{user_id}",
        "/health/detailed",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    let schemas = r.body["components"]["schemas"].as_object().unwrap();
    for s in [
        "UserOut",
        "TokenOut",
        "ProjectOut",
        "ProjectStatsOut",
        "MemberOut",
        "Problem",
        "PersonalAccessTokenCreated",
    ] {
        assert!(schemas.contains_key(s), "schema {s}");
    }
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());

    let r = app.get("/docs").send().await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text.contains("SwaggerUIBundle") && r.text.contains("openapi.json"));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("https://cdn.jsdelivr.net"));
}
