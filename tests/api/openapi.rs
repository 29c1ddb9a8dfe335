//! The OpenAPI document states what the API does (API.md §17): the conventions every route
//! shares are in it, and requests its schemas allow are accepted — at the edges schemathesis
//! found (`make schemathesis` runs the whole document against the dev server).

use cc_tests::TestApp;
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
const MAX_ID: u64 = (1 << 53) - 1;

async fn document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json").send().await;
    assert_eq!(r.status, 200);
    r.body
}

/// Every operation: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m.to_string(), op.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_operation_documents_the_shared_statuses_as_problems() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 70, "{} operations", ops.len());
    for (path, method, op) in &ops {
        let at = format!("{} {path}", method.to_uppercase());
        let responses = op["responses"].as_object().unwrap();
        let has = |s: &str| responses.contains_key(s);
        for (status, r) in responses {
            if status.as_str() >= "400" && !(path == "/health/detailed" && status == "503") {
                let content = r["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{at} {status}"
                );
                let schema = if status == "422" {
                    "#/components/schemas/ValidationProblem"
                } else {
                    "#/components/schemas/Problem"
                };
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"], schema,
                    "{at}"
                );
                assert!(!r["description"].as_str().unwrap().is_empty(), "{at}");
            }
        }
        let secured = op.get("security").is_some();
        if secured {
            assert!(has("401") && has("403"), "{at}: 401, 403");
            assert!(responses["401"]["headers"]["WWW-Authenticate"].is_object());
        }
        if op.get("requestBody").is_some() {
            for s in ["413", "415", "422"] {
                assert!(has(s), "{at}: {s}");
            }
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for p in params.iter().filter(|p| p["in"] == "path") {
            assert_eq!(p["required"], true, "{at}");
            if p["name"].as_str().unwrap().ends_with("_id") {
                assert_eq!(p["schema"]["type"], "integer", "{at}");
                assert_eq!(p["schema"]["minimum"], 1, "{at}");
                assert_eq!(p["schema"]["maximum"], MAX_ID, "{at}");
                assert!(has("404") && has("422"), "{at}: 404, 422");
            } else {
                // GitHub owner, repository and label names (API.md §11): bounded strings.
                assert_eq!(p["schema"]["type"], "string", "{at}");
                assert!(p["schema"]["minLength"].as_u64() >= Some(1), "{at}");
                assert!(p["schema"]["maxLength"].as_u64() <= Some(100), "{at}");
                assert!(has("422"), "{at}: 422");
            }
        }
        if params.iter().any(|p| p["name"] == "X-Project-ID") {
            assert!(
                has("400") && has("403"),
                "{at}: project_required, not_a_member"
            );
        }
        let write = method != "get";
        let unmetered = ["logout", "revoke_token"].contains(&op["operationId"].as_str().unwrap());
        if secured && write && !unmetered {
            assert!(has("429"), "{at}: 429");
            assert!(responses["429"]["headers"]["Retry-After"].is_object());
        }
        if method == "patch" {
            let put = &doc["paths"][path]["put"];
            assert_eq!(put["requestBody"], op["requestBody"], "{at}: PUT = PATCH");
        }
    }
    for (path, method) in [
        ("/api/v1/auth/register", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["429"].is_object(),
            "{path}: address-limited"
        );
    }
    // Logout and revocation are never refused for a full write window (API.md §0.7).
    assert!(doc["paths"]["/api/v1/auth/logout"]["post"]["responses"]["429"].is_null());
}

#[tokio::test]
async fn request_schemas_state_the_validation_rules() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["TechnologyCreate"];
    assert_eq!(create["required"], json!(["title"]));
    let p = &create["properties"];
    assert_eq!(
        p["title"],
        json!({"type": "string", "minLength": 1, "maxLength": 255})
    );
    assert_eq!(p["priority"]["minimum"], 1);
    assert_eq!(p["priority"]["maximum"], 5);
    assert_eq!(p["priority"]["default"], 3);
    assert_eq!(p["domain"]["enum"][0], "audio-dsp");
    assert_eq!(p["maturity_level"]["type"], json!(["string", "null"]));
    assert_eq!(
        p["maturity_level"]["enum"].as_array().unwrap().last(),
        Some(&Value::Null)
    );
    assert_eq!(p["last_hn_mention"]["format"], "date-time");
    assert_eq!(p["dependencies"]["propertyNames"]["minLength"], 1);
    assert_eq!(
        p["dependencies"]["additionalProperties"]["$ref"],
        "#/components/schemas/JsonValue"
    );
    // Null is refused where a default applies; required fields are not required on update.
    assert_eq!(p["domain"]["type"], "string");
    assert!(schemas["TechnologyUpdate"].get("required").is_none());
    assert_eq!(
        schemas["Technology"]["required"].as_array().unwrap().len(),
        31,
        "every field of a response is present"
    );
    let repo = &schemas["RepositoryCreate"]["properties"];
    assert_eq!(repo["owner"]["maxLength"], 39);
    assert!(repo["owner"]["pattern"].as_str().unwrap().starts_with('^'));
    assert_eq!(
        schemas["ResearchTaskCreate"]["properties"]["technology_id"]["maximum"],
        MAX_ID
    );
    // Each job type's parameters, as they are checked on creation.
    let branches = schemas["JobCreate"]["oneOf"].as_array().unwrap();
    assert_eq!(branches.len(), 9);
    let export = branches
        .iter()
        .find(|b| b["properties"]["job_type"]["enum"] == json!(["export"]))
        .unwrap();
    assert_eq!(
        export["properties"]["parameters"]["required"],
        json!(["analysis_id", "format"])
    );
    // Links lead a client (and schemathesis) from what a POST returns to the item's routes.
    let links = &doc["paths"]["/api/v1/technologies"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        links["get_technology"]["parameters"]["technology_id"],
        "$response.body#/id"
    );
}

#[tokio::test]
async fn values_at_the_documented_edges_are_accepted() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Edges").await;
    let pid = p["id"].to_string();
    // Numbers at DynamoDB's bounds (exactly 1e-130 used to parse below it and be refused).
    let t = app
        .create(
            &u,
            "/api/v1/technologies",
            Some(&p["id"]),
            json!({"title": "Edges", "latency_ms": 1e-130, "cost_monthly_usd": 1e125}),
        )
        .await;
    assert_eq!(t["latency_ms"], 1e-130);
    // JSON Schema reads 3.0 as an integer; so does the API.
    let r = app
        .post("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"title": "Floats", "priority": 4.0, "github_stars": 12.0}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["priority"], 4);
    let repo = app
        .create(
            &u,
            "/api/v1/repositories",
            Some(&p["id"]),
            json!({"owner": "tokio-rs", "name": "tokio"}),
        )
        .await;
    let rid = repo["id"].as_u64().unwrap() as f64;
    let r = app
        .post("/api/v1/batch/analyze")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"repository_ids": [rid]}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["repository_ids"], json!([repo["id"]]));
}

#[tokio::test]
async fn values_beyond_the_documented_edges_are_422() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Beyond").await;
    let pid = p["id"].to_string();
    // Ids are 1..2^53−1 in headers and bodies too (API.md §0.4), as in paths.
    let r = app
        .get("/api/v1/technologies")
        .bearer(&u.access)
        .header("x-project-id", &(MAX_ID + 1).to_string())
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"][0]["loc"], json!(["header", "X-Project-ID"]));
    let r = app
        .post("/api/v1/research-tasks")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"title": "Far", "technology_id": MAX_ID + 1}))
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"][0]["loc"], json!(["body", "technology_id"]));
    assert_eq!(b["errors"][0]["type"], "less_than_equal");
}

/// Found by schemathesis: a content type that cannot be a header made the presigned upload
/// fail with 500; it is a validation error.
#[tokio::test]
async fn an_upload_content_type_must_be_a_header_value() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Uploads").await;
    let t = app
        .create(
            &u,
            "/api/v1/research-tasks",
            Some(&p["id"]),
            json!({"title": "Docs"}),
        )
        .await;
    let url = format!("/api/v1/research-tasks/{}/documents/upload-url", t["id"]);
    let r = app
        .post(&url)
        .bearer(&u.access)
        .json(json!({"filename": "a.pdf", "size": 10, "content_type": "f\u{1d}è\tÉ"}))
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"][0]["loc"], json!(["body", "content_type"]));
    let r = app
        .post(&url)
        .bearer(&u.access)
        .json(json!({"filename": "a.pdf", "size": 10, "content_type": "application/pdf"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Found by schemathesis: imported technologies went into the job's parameters unchecked, so
/// values DynamoDB cannot store (an empty key, 1e-200) were accepted — and moto then answered
/// every read of the project's jobs with a body the SDK could not parse (500).
#[tokio::test]
async fn imported_technologies_must_be_storable() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let p = app.project(&u, "Import").await;
    let pid = p["id"].to_string();
    for bad in [
        json!({"title": "A", "domain": "other", "": 1}),
        json!({"title": "A", "domain": "other", "score": 1e-200}),
    ] {
        let r = app
            .post("/api/v1/batch/import")
            .bearer(&u.access)
            .header("x-project-id", &pid)
            .json(json!({"technologies": [bad]}))
            .send()
            .await;
        let b = r.problem(422, "validation_error");
        assert_eq!(b["errors"][0]["loc"], json!(["body", "technologies"]));
    }
    let r = app
        .get("/api/v1/jobs")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 0);
}
