//! API.md §11 (GitHub features) and §12 (GitHub rate limits), with wiremock as GitHub.

use cc_tests::{TestApp, TestUser};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A fake GitHub and an app that reaches it (no server token unless `server_token`).
async fn github_app(server_token: Option<&str>) -> (MockServer, TestApp) {
    let server = MockServer::start().await;
    let uri = server.uri();
    let token = server_token.map(str::to_string);
    let app = TestApp::with(|c| {
        c.github_api_url = uri;
        c.github_token = token;
    })
    .await;
    (server, app)
}

fn gh_token() -> String {
    format!(
        "ghp_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A project of `u` (with its own github_token when given); its id.
async fn project(app: &TestApp, u: &TestUser, token: Option<&str>) -> String {
    let mut body = json!({"name": format!("p{}", uuid::Uuid::new_v4().simple()), "owner": "acme"});
    if let Some(t) = token {
        body["github_token"] = json!(t);
    }
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(body)
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].to_string()
}

fn repo_json(description: &str) -> Value {
    json!({
        "id": 1296269, "name": "widget", "full_name": "acme/widget",
        "owner": {"login": "acme", "id": 1},
        "private": false, "html_url": "https://github.com/acme/widget",
        "description": description, "fork": false,
        "clone_url": "https://github.com/acme/widget.git",
        "homepage": null, "language": "Rust", "stargazers_count": 80, "forks_count": 9,
        "open_issues_count": 3, "default_branch": "main", "topics": ["cli", "rust"],
        "has_issues": true, "has_wiki": false, "has_pages": true,
        "created_at": "2011-01-26T19:01:12Z", "updated_at": "2024-05-02T10:00:00Z",
        "pushed_at": "2024-05-02T09:00:00Z", "visibility": "public"
    })
}

fn pull_json(n: i64, merged: bool) -> Value {
    json!({
        "number": n, "title": format!("PR {n}"), "state": if merged { "closed" } else { "open" },
        "user": {"login": format!("dev{n}")},
        "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-03T03:04:05Z",
        "merged_at": if merged { json!("2024-01-04T00:00:00Z") } else { Value::Null },
        "head": {"ref": format!("feature-{n}"), "repo": {"full_name": "acme/widget"}},
        "base": {"ref": "main", "repo": {"full_name": "acme/widget"}},
        "html_url": format!("https://github.com/acme/widget/pull/{n}"),
        "body": "lots of text that is not part of our shape"
    })
}

fn json_response(status: u16, body: Value, etag: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json")
        .insert_header("etag", etag)
        .set_body_json(body)
}

/// The cache entries (sort keys) of a project.
async fn cache_keys(app: &TestApp, pid: &str) -> Vec<String> {
    app.partition(pid.parse().unwrap())
        .await
        .into_iter()
        .filter(|sk| sk.starts_with("GHCACHE#"))
        .collect()
}

/// Makes every cache entry of a project stale (as time would).
async fn make_stale(app: &TestApp, pid: &str) {
    for sk in cache_keys(app, pid).await {
        app.state
            .aws
            .dynamodb
            .update_item()
            .table_name(&app.state.config.table_name)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("PROJECT#{pid}")),
            )
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
            .update_expression("SET fresh_until = :z")
            .expression_attribute_values(
                ":z",
                aws_sdk_dynamodb::types::AttributeValue::N("0".into()),
            )
            .send()
            .await
            .unwrap();
    }
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn authorization(r: &Request) -> Option<String> {
    r.headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn info_is_cached_and_served_without_github() {
    let (server, app) = github_app(None).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(json_response(200, repo_json("Widgets"), "\"v1\""))
        .expect(1)
        .mount(&server)
        .await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    let get = || {
        app.get("/api/v1/github/acme/widget/info")
            .bearer(&u.access)
            .header("x-project-id", &pid)
    };
    let first = get().send().await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.body,
        json!({
            "owner": "acme", "name": "widget", "full_name": "acme/widget",
            "description": "Widgets", "url": "https://github.com/acme/widget",
            "clone_url": "https://github.com/acme/widget.git", "default_branch": "main",
            "is_private": false, "stars": 80, "forks": 9, "language": "Rust",
            "github_id": 1296269, "created_at": "2011-01-26T19:01:12.000Z",
            "updated_at": "2024-05-02T10:00:00.000Z", "topics": ["cli", "rust"],
            "has_issues": true, "has_wiki": false, "has_pages": true, "open_issues_count": 3
        })
    );
    // Uncached: the project read (with marker and cache entry) + the PutItem of the entry.
    assert_eq!(first.aws_calls(), 2, "{:?}", first.header("server-timing"));
    let keys = cache_keys(&app, &pid).await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("GHCACHE#acme/widget#info#"), "{keys:?}");
    assert!(keys[0].len() < 1024);

    let second = get().send().await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body);
    // Fresh: one BatchGetItem, no GitHub request.
    assert_eq!(
        second.aws_calls(),
        1,
        "{:?}",
        second.header("server-timing")
    );
    assert_eq!(requests(&server).await.len(), 1);
    // GitHub names ignore case: the same entry.
    let upper = app
        .get("/api/v1/github/ACME/Widget/info")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(upper.body, first.body);
    assert_eq!(requests(&server).await.len(), 1);
    eprintln!(
        "MEASURED info: uncached {} AWS calls + 1 GitHub call; cached {} AWS calls + 0 GitHub calls",
        first.aws_calls(),
        second.aws_calls()
    );
}

#[tokio::test]
async fn stale_entries_are_revalidated_with_their_etag() {
    let (server, app) = github_app(None).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", "\"v1\""))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(json_response(200, repo_json("Widgets"), "\"v1\""))
        .mount(&server)
        .await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    let get = |q: &str| {
        app.get(&format!("/api/v1/github/acme/widget/info{q}"))
            .bearer(&u.access)
            .header("x-project-id", &pid)
    };
    let first = get("").send().await;
    assert_eq!(first.status, 200, "{}", first.text);
    make_stale(&app, &pid).await;

    let revalidated = get("").send().await;
    assert_eq!(revalidated.status, 200, "{}", revalidated.text);
    assert_eq!(revalidated.body, first.body);
    // The project read + the UpdateItem that extends the entry's freshness.
    assert_eq!(revalidated.aws_calls(), 2);
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1]
            .headers
            .get("if-none-match")
            .unwrap()
            .to_str()
            .unwrap(),
        "\"v1\""
    );
    // Fresh again: no request.
    let again = get("").send().await;
    assert_eq!(again.body, first.body);
    assert_eq!(requests(&server).await.len(), 2);
    eprintln!(
        "MEASURED info: revalidated (304) {} AWS calls + 1 GitHub call",
        revalidated.aws_calls()
    );

    // use_cache=false skips the TTL but still revalidates: a 304 serves the entry.
    let forced = get("?use_cache=false").send().await;
    assert_eq!(forced.status, 200);
    assert_eq!(forced.body, first.body);
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 3);
    assert!(seen[2].headers.get("if-none-match").is_some());

    // A change replaces the entry.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(json_response(200, repo_json("Better widgets"), "\"v2\""))
        .mount(&server)
        .await;
    let changed = get("?use_cache=false").send().await;
    assert_eq!(changed.body["description"], "Better widgets");
    let cached = get("").send().await;
    assert_eq!(cached.body["description"], "Better widgets");
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn pulls_are_read_across_pages_and_revalidated_page_by_page() {
    let (server, app) = github_app(None).await;
    let base = server.uri();
    let page_url =
        |n: u32| format!("{base}/repos/acme/widget/pulls?state=all&per_page=100&page={n}");
    let link = |n: u32| {
        format!(
            "<{}>; rel=\"next\", <{}>; rel=\"last\"",
            page_url(n),
            page_url(3)
        )
    };
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/pulls"))
        .and(query_param("state", "all"))
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .respond_with(
            json_response(
                200,
                json!([pull_json(6, false), pull_json(5, true)]),
                "\"p1\"",
            )
            .insert_header("link", link(2).as_str()),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/pulls"))
        .and(query_param("page", "2"))
        .respond_with(
            json_response(
                200,
                json!([pull_json(4, false), pull_json(3, false)]),
                "\"p2\"",
            )
            .insert_header("link", link(3).as_str()),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/pulls"))
        .and(query_param("page", "3"))
        .respond_with(json_response(
            200,
            json!([pull_json(2, true), pull_json(1, false)]),
            "\"p3\"",
        ))
        .mount(&server)
        .await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    let get = || {
        app.get("/api/v1/github/acme/widget/pulls?state=all")
            .bearer(&u.access)
            .header("x-project-id", &pid)
    };
    let r = get().send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    let numbers: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [6, 5, 4, 3, 2, 1]);
    assert_eq!(
        r.body[1],
        json!({
            "number": 5, "title": "PR 5", "state": "closed", "user": "dev5",
            "created_at": "2024-01-02T03:04:05.000Z", "updated_at": "2024-01-03T03:04:05.000Z",
            "merged": true, "mergeable": null, "head": "feature-5", "base": "main",
            "html_url": "https://github.com/acme/widget/pull/5"
        })
    );
    assert_eq!(r.body[0]["merged"], false);
    assert_eq!(requests(&server).await.len(), 3);

    // Cached: no request.
    assert_eq!(get().send().await.body, r.body);
    assert_eq!(requests(&server).await.len(), 3);

    // Stale: every page is asked for with its own ETag; page 3 changed, pages 1-2 did not.
    server.reset().await;
    for (n, etag) in [(None, "\"p1\""), (Some("2"), "\"p2\"")] {
        let mut m = Mock::given(method("GET"))
            .and(path("/repos/acme/widget/pulls"))
            .and(header("if-none-match", etag));
        m = match n {
            Some(page) => m.and(query_param("page", page)),
            None => m.and(query_param_is_missing("page")),
        };
        m.respond_with(ResponseTemplate::new(304).insert_header("etag", etag))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/pulls"))
        .and(query_param("page", "3"))
        .and(header("if-none-match", "\"p3\""))
        .respond_with(json_response(200, json!([pull_json(2, true)]), "\"p3b\""))
        .expect(1)
        .mount(&server)
        .await;
    make_stale(&app, &pid).await;
    let r = get().send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    let numbers: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [6, 5, 4, 3, 2],
        "pull request 1 went (closed) on page 3"
    );
    assert_eq!(requests(&server).await.len(), 3);
    // Stored as read: fresh again.
    assert_eq!(get().send().await.body, r.body);
    assert_eq!(requests(&server).await.len(), 3);

    // The default state is open; a bad one is 422.
    let r = app
        .get("/api/v1/github/acme/widget/pulls?state=merged")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"][0]["loc"], json!(["query", "state"]));
    assert_eq!(b["errors"][0]["type"], "enum");
}

#[tokio::test]
async fn a_listing_too_large_to_cache_is_served_uncached() {
    let (server, app) = github_app(None).await;
    let base = server.uri();
    let big = |from: i64| -> Value {
        Value::Array(
            (from..from + 100)
                .map(|n| {
                    let mut p = pull_json(n, false);
                    p["title"] = json!("t".repeat(1500));
                    p
                })
                .collect(),
        )
    };
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/pulls"))
        .and(query_param_is_missing("page"))
        .respond_with(
            json_response(200, big(0), "\"b1\"").insert_header(
                "link",
                format!(
                    "<{base}/repos/acme/widget/pulls?state=open&per_page=100&page=2>; rel=\"next\""
                )
                .as_str(),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/pulls"))
        .and(query_param("page", "2"))
        .respond_with(
            json_response(200, big(100), "\"b2\"").insert_header(
                "link",
                format!(
                    "<{base}/repos/acme/widget/pulls?state=open&per_page=100&page=3>; rel=\"next\""
                )
                .as_str(),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/pulls"))
        .and(query_param("page", "3"))
        .respond_with(json_response(200, big(200), "\"b3\""))
        .mount(&server)
        .await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    for round in 1..=2 {
        let r = app
            .get("/api/v1/github/acme/widget/pulls")
            .bearer(&u.access)
            .header("x-project-id", &pid)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body.as_array().unwrap().len(), 300);
        assert!(r.text.len() > 400_000);
        assert!(cache_keys(&app, &pid).await.is_empty(), "nothing cached");
        assert_eq!(requests(&server).await.len(), 3 * round);
    }
}

#[tokio::test]
async fn issues_leave_out_pull_requests() {
    let (server, app) = github_app(None).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/issues"))
        .and(query_param("state", "closed"))
        .and(query_param("labels", "bug,help wanted"))
        .respond_with(json_response(
            200,
            json!([
                {"number": 10, "title": "Crash", "state": "closed", "user": {"login": "ann"},
                 "labels": [{"name": "bug", "color": "d73a4a"}, {"name": "help wanted", "color": "008672"}],
                 "created_at": "2024-02-01T00:00:00Z", "updated_at": "2024-02-02T00:00:00Z",
                 "closed_at": "2024-02-03T00:00:00Z", "html_url": "https://github.com/acme/widget/issues/10",
                 "comments": 4},
                {"number": 9, "title": "A pull request", "state": "closed", "user": {"login": "bob"},
                 "labels": [], "pull_request": {"url": "https://api.github.com/repos/acme/widget/pulls/9"},
                 "html_url": "https://github.com/acme/widget/pull/9", "comments": 0},
                {"number": 8, "title": "Ghost", "state": "closed", "user": null, "labels": [],
                 "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                 "closed_at": null, "html_url": "https://github.com/acme/widget/issues/8", "comments": 0}
            ]),
            "\"i1\"",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    let r = app
        .get("/api/v1/github/acme/widget/issues?state=closed&labels=help%20wanted,bug")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!([
            {"number": 10, "title": "Crash", "state": "closed", "user": "ann",
             "labels": ["bug", "help wanted"], "created_at": "2024-02-01T00:00:00.000Z",
             "updated_at": "2024-02-02T00:00:00.000Z", "closed_at": "2024-02-03T00:00:00.000Z",
             "html_url": "https://github.com/acme/widget/issues/10", "comments": 4},
            {"number": 8, "title": "Ghost", "state": "closed", "user": null, "labels": [],
             "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z",
             "closed_at": null, "html_url": "https://github.com/acme/widget/issues/8", "comments": 0}
        ])
    );
    // The same filter spelled otherwise is the same cache entry.
    let r2 = app
        .get("/api/v1/github/acme/widget/issues?state=closed&labels=bug,%20help%20wanted,bug")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r2.body, r.body);
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn workflows_are_listed() {
    let (server, app) = github_app(None).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/actions/workflows"))
        .respond_with(json_response(
            200,
            json!({"total_count": 1, "workflows": [{
                "id": 161335, "node_id": "MDg6V29ya2Zsb3cxNjEzMzU=", "name": "CI",
                "path": ".github/workflows/ci.yml", "state": "active",
                "created_at": "2020-01-08T23:48:37.000-08:00", "updated_at": "2020-01-08T23:50:21.000-08:00",
                "url": "https://api.github.com/repos/acme/widget/actions/workflows/161335",
                "html_url": "https://github.com/acme/widget/blob/main/.github/workflows/ci.yml",
                "badge_url": "https://github.com/acme/widget/workflows/CI/badge.svg"}]}),
            "\"w1\"",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let u = app.user().await;
    let _ = project(&app, &u, None).await;
    // The caller's only project is the one.
    for _ in 0..2 {
        let r = app
            .get("/api/v1/github/acme/widget/workflows")
            .bearer(&u.access)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body,
            json!([{"id": 161335, "name": "CI", "path": ".github/workflows/ci.yml", "state": "active",
                "created_at": "2020-01-09T07:48:37.000Z", "updated_at": "2020-01-09T07:50:21.000Z",
                "url": "https://github.com/acme/widget/blob/main/.github/workflows/ci.yml",
                "badge_url": "https://github.com/acme/widget/workflows/CI/badge.svg"}])
        );
    }
}

#[tokio::test]
async fn labels_are_created_updated_and_deleted() {
    let (server, app) = github_app(None).await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/widget/labels"))
        .and(body_json(json!({"name": "bug", "color": "ededed", "description": "Broken"})))
        .respond_with(json_response(
            201,
            json!({"id": 1, "name": "bug", "color": "ededed", "description": "Broken", "default": false}),
            "\"l1\"",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/widget/labels"))
        .and(body_json(json!({"name": "dup", "color": "00ff00"})))
        .respond_with(json_response(
            422,
            json!({"message": "Validation Failed",
                   "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}]}),
            "\"x\"",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/widget/labels/good%20first%20issue"))
        .and(body_json(
            json!({"new_name": "starter", "color": "A1B2C3", "description": ""}),
        ))
        .respond_with(json_response(
            200,
            json!({"id": 2, "name": "starter", "color": "a1b2c3", "description": null}),
            "\"l2\"",
        ))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/repos/acme/widget/labels/starter"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;

    let r = app
        .post("/api/v1/github/acme/widget/labels")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"label_name": "bug", "description": "Broken", "owner": "x", "name": "y"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"action": "created", "label": {"name": "bug", "color": "ededed", "description": "Broken"}})
    );
    assert!(r.header("ratelimit-limit").is_some(), "a write is charged");
    // The project read (with the write window) and the charge, applied before GitHub's write.
    assert_eq!(r.aws_calls(), 2, "{:?}", r.header("server-timing"));

    let r = app
        .post("/api/v1/github/acme/widget/labels")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"label_name": "dup", "color": "00ff00"}))
        .send()
        .await;
    let b = r.problem(422, "github_validation_failed");
    assert_eq!(b["detail"], "Validation Failed: name: already_exists");

    for m in ["patch", "put"] {
        let req = if m == "patch" {
            app.patch("/api/v1/github/acme/widget/labels/good%20first%20issue")
        } else {
            app.put("/api/v1/github/acme/widget/labels/good%20first%20issue")
        };
        let r = req
            .bearer(&u.access)
            .header("x-project-id", &pid)
            .json(json!({"new_name": "starter", "color": "A1B2C3", "description": null, "label_name": "ignored"}))
            .send()
            .await;
        assert_eq!(r.status, 200, "{m}: {}", r.text);
        assert_eq!(
            r.body,
            json!({"action": "updated", "label": {"name": "starter", "color": "a1b2c3", "description": null}})
        );
    }

    let r = app
        .delete("/api/v1/github/acme/widget/labels/starter")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());

    // Bad input never reaches GitHub, and every failing field is named.
    let before = requests(&server).await.len();
    let r = app
        .post("/api/v1/github/acme/widget/labels")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"color": "red", "description": "d".repeat(101)}))
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    let locs: Vec<&Value> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["body", "label_name"]),
            &json!(["body", "color"]),
            &json!(["body", "description"])
        ]
    );
    let r = app
        .patch(&format!(
            "/api/v1/github/acme/widget/labels/{}",
            "x".repeat(51)
        ))
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"color": null}))
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"][0]["loc"], json!(["path", "label_name"]));
    assert_eq!(b["errors"][1]["loc"], json!(["body", "color"]));
    assert_eq!(requests(&server).await.len(), before);
}

#[tokio::test]
async fn settings_are_one_github_call_and_drop_the_cache() {
    let (server, app) = github_app(None).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(json_response(200, repo_json("Widgets"), "\"v1\""))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/widget"))
        .and(body_json(
            json!({"description": "New", "has_issues": false, "homepage": ""}),
        ))
        .respond_with(json_response(200, repo_json("New"), "\"v2\""))
        .expect(1)
        .mount(&server)
        .await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    let info = || {
        app.get("/api/v1/github/acme/widget/info")
            .bearer(&u.access)
            .header("x-project-id", &pid)
    };
    assert_eq!(info().send().await.status, 200);
    assert_eq!(cache_keys(&app, &pid).await.len(), 1);

    // has_pages is refused before anything is sent.
    let r = app
        .patch("/api/v1/github/acme/widget/settings")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"description": "New", "has_pages": true}))
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(
        b["errors"],
        json!([{"loc": ["body", "has_pages"], "msg": "has_pages cannot be changed here", "type": "value_error"}])
    );
    let r = app
        .patch("/api/v1/github/acme/widget/settings")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"has_wiki": "yes", "default_branch": ""}))
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"].as_array().unwrap().len(), 2);

    let r = app
        .patch("/api/v1/github/acme/widget/settings")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .json(json!({"description": "New", "has_issues": false, "homepage": null, "stars": 5}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"updated": true, "settings": {"description": "New", "homepage": null, "has_issues": false}})
    );
    let patches: Vec<Request> = requests(&server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "one GitHub call");
    // Project read, charge, the Query of the repository's entries and their BatchWriteItem.
    assert_eq!(r.aws_calls(), 4, "{:?}", r.header("server-timing"));
    assert!(cache_keys(&app, &pid).await.is_empty(), "cache dropped");
    // The next read asks GitHub.
    assert_eq!(info().send().await.body["description"], "Widgets");
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn cache_invalidation_drops_that_repository_only() {
    let (server, app) = github_app(None).await;
    for name in ["widget", "gadget"] {
        let mut body = repo_json("x");
        body["name"] = json!(name);
        body["full_name"] = json!(format!("acme/{name}"));
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/{name}")))
            .respond_with(json_response(200, body, "\"e\""))
            .mount(&server)
            .await;
    }
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    for name in ["widget", "gadget"] {
        let r = app
            .get(&format!("/api/v1/github/acme/{name}/info"))
            .bearer(&u.access)
            .header("x-project-id", &pid)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(cache_keys(&app, &pid).await.len(), 2);
    let r = app
        .post("/api/v1/github/Acme/Widget/cache/invalidate")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"status": "success", "message": "Cache invalidated for Acme/Widget"})
    );
    let left = cache_keys(&app, &pid).await;
    assert_eq!(left.len(), 1);
    assert!(left[0].starts_with("GHCACHE#acme/gadget#"), "{left:?}");
    assert_eq!(requests(&server).await.len(), 2, "no GitHub request");
}

#[tokio::test]
async fn the_token_follows_section_11_order() {
    let server_token = gh_token();
    let (server, app) = github_app(Some(&server_token)).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(json_response(200, repo_json("x"), "\"e\""))
        .mount(&server)
        .await;
    let u = app.user().await;
    let (repo_token, project_token) = (gh_token(), gh_token());
    let info = |pid: String| {
        let app = &app;
        let u = &u;
        async move {
            let r = app
                .get("/api/v1/github/acme/widget/info?use_cache=false")
                .bearer(&u.access)
                .header("x-project-id", &pid)
                .send()
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    };
    let last_auth = || async { requests(&server).await.last().and_then(authorization) };

    // A project tracking acme/widget with its own token: that token.
    let p1 = project(&app, &u, Some(&project_token)).await;
    app.create(
        &u,
        "/api/v1/repositories",
        Some(&json!(p1.parse::<u64>().unwrap())),
        json!({"owner": "ACME", "name": "widget", "access_token": repo_token}),
    )
    .await;
    info(p1.clone()).await;
    assert_eq!(last_auth().await, Some(format!("Bearer {repo_token}")));
    // Cached, for a tracked repository: the project read (with marker and entry) and the
    // GetItem of the repository's sealed token (opened by KMS once per process).
    let before = requests(&server).await.len();
    let r = app
        .get("/api/v1/github/acme/widget/info")
        .bearer(&u.access)
        .header("x-project-id", &p1)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.aws_calls(), 2, "{:?}", r.header("server-timing"));
    assert_eq!(requests(&server).await.len(), before);
    eprintln!(
        "MEASURED info of a tracked repository: cached {} AWS calls + 0 GitHub calls",
        r.aws_calls()
    );

    // Tracked without a token of its own: the project's.
    let p2 = project(&app, &u, Some(&project_token)).await;
    app.create(
        &u,
        "/api/v1/repositories",
        Some(&json!(p2.parse::<u64>().unwrap())),
        json!({"owner": "acme", "name": "widget"}),
    )
    .await;
    info(p2).await;
    assert_eq!(last_auth().await, Some(format!("Bearer {project_token}")));

    // Not tracked: the project's token.
    let p3 = project(&app, &u, Some(&project_token)).await;
    info(p3).await;
    assert_eq!(last_auth().await, Some(format!("Bearer {project_token}")));

    // No project token: the server's.
    let p4 = project(&app, &u, None).await;
    info(p4).await;
    assert_eq!(last_auth().await, Some(format!("Bearer {server_token}")));

    // No server token either: anonymous.
    let (server2, app2) = github_app(None).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(json_response(200, repo_json("x"), "\"e\""))
        .mount(&server2)
        .await;
    let u2 = app2.user().await;
    let p5 = project(&app2, &u2, None).await;
    let r = app2
        .get("/api/v1/github/acme/widget/info")
        .bearer(&u2.access)
        .header("x-project-id", &p5)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let seen = requests(&server2).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(authorization(&seen[0]), None);
    // No token ever shows in a response or a log line.
    assert!(!cc_tests::captured_logs().contains(&repo_token));
}

#[tokio::test]
async fn github_errors_map_per_section_11() {
    let (server, app) = github_app(None).await;
    let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 120;
    let cases: Vec<(&str, ResponseTemplate)> = vec![
        (
            "missing",
            ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
        ),
        (
            "badtoken",
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        ),
        (
            "secondary",
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit"})),
        ),
        ("broken", ResponseTemplate::new(500).set_body_string("oops")),
        (
            "notjson",
            ResponseTemplate::new(200).set_body_string("<html>"),
        ),
        (
            "limited",
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-limit", "60")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .insert_header("x-ratelimit-resource", "core")
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        ),
    ];
    for (name, response) in &cases {
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/{name}")))
            .respond_with(response.clone())
            .mount(&server)
            .await;
    }
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    let get = |name: &str| {
        app.get(&format!("/api/v1/github/acme/{name}/info"))
            .bearer(&u.access)
            .header("x-project-id", &pid)
            .send()
    };
    let r = get("missing").await;
    assert_eq!(
        r.problem(404, "github_not_found")["detail"],
        "GitHub resource not found"
    );
    let r = get("badtoken").await;
    assert_eq!(
        r.problem(502, "github_auth_failed")["detail"],
        "GitHub rejected the token"
    );
    let r = get("secondary").await;
    r.problem(429, "github_rate_limited");
    assert_eq!(r.header("retry-after"), Some("30"));
    let r = get("broken").await;
    assert_eq!(
        r.problem(502, "github_error")["detail"],
        "GitHub request failed"
    );
    get("notjson").await.problem(502, "github_error");
    let r = get("limited").await;
    r.problem(429, "github_rate_limited");
    let wait: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((100..=120).contains(&wait), "{wait}");
    // The token is now known to be out of points: refused at once, without a request...
    let before = requests(&server).await.len();
    get("missing").await.problem(429, "github_rate_limited");
    assert_eq!(requests(&server).await.len(), before);
    // ...but its limits can still be read (GET /rate_limit costs none).
    Mock::given(method("GET"))
        .and(path("/rate_limit"))
        .respond_with(json_response(200, rate_limit_json(60, 0, reset), "\"r\""))
        .mount(&server)
        .await;
    let r = app
        .get("/api/v1/rate-limits/health")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["healthy"], false);

    // The same mapping for writes and for §12.
    let (server2, app2) = github_app(Some(&gh_token())).await;
    Mock::given(method("DELETE"))
        .and(path("/repos/acme/widget/labels/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&server2)
        .await;
    Mock::given(method("GET"))
        .and(path("/rate_limit"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials"})),
        )
        .mount(&server2)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/widget/labels"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "45")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit"})),
        )
        .mount(&server2)
        .await;
    let u2 = app2.user().await;
    let p2 = project(&app2, &u2, None).await;
    // GitHub's 429 on a (charged) write stays GitHub's: not turned into our own rate_limited.
    let r = app2
        .post("/api/v1/github/acme/widget/labels")
        .bearer(&u2.access)
        .header("x-project-id", &p2)
        .json(json!({"label_name": "bug"}))
        .send()
        .await;
    r.problem(429, "github_rate_limited");
    assert_eq!(r.header("retry-after"), Some("45"));
    let r = app2
        .delete("/api/v1/github/acme/widget/labels/gone")
        .bearer(&u2.access)
        .header("x-project-id", &p2)
        .send()
        .await;
    r.problem(404, "github_not_found");
    let r = app2
        .get("/api/v1/rate-limits/status")
        .bearer(&u2.access)
        .header("x-project-id", &p2)
        .send()
        .await;
    r.problem(502, "github_auth_failed");
}

#[tokio::test]
async fn owner_and_repo_follow_section_3() {
    let (server, app) = github_app(None).await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    let r = app
        .get(&format!(
            "/api/v1/github/{}/bad!name/info?use_cache=maybe",
            "o".repeat(40)
        ))
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(
        b["errors"],
        json!([
            {"loc": ["path", "owner"], "msg": "String should have at most 39 characters", "type": "string_too_long"},
            {"loc": ["path", "repo"], "msg": "Value error, Invalid GitHub name format", "type": "value_error"},
            {"loc": ["query", "use_cache"], "msg": "Input should be a valid boolean", "type": "bool_parsing"}
        ])
    );
    for (owner, repo) in [
        ("..", "widget"),
        ("acme", "."),
        ("a%20b", "widget"),
        ("acme", "%2E%2E"),
    ] {
        let r = app
            .get(&format!("/api/v1/github/{owner}/{repo}/pulls"))
            .bearer(&u.access)
            .header("x-project-id", &pid)
            .send()
            .await;
        let b = r.problem(422, "validation_error");
        assert_eq!(b["errors"][0]["type"], "value_error", "{owner}/{repo}");
    }
    let r = app
        .post("/api/v1/github/acme/wid%2Fget/cache/invalidate")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["loc"],
        json!(["path", "repo"])
    );
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn one_projects_cache_is_never_served_to_another() {
    let (server, app) = github_app(None).await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(json_response(200, repo_json("first"), "\"a\""))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget"))
        .respond_with(json_response(200, repo_json("second"), "\"b\""))
        .mount(&server)
        .await;
    let (alice, bob) = (app.user().await, app.user().await);
    let pa = project(&app, &alice, None).await;
    let pb = project(&app, &bob, None).await;
    let info = |u: &TestUser, pid: &str| {
        app.get("/api/v1/github/acme/widget/info")
            .bearer(&u.access)
            .header("x-project-id", pid)
            .send()
    };
    assert_eq!(info(&alice, &pa).await.body["description"], "first");
    // Bob's project reads GitHub for itself, although Alice's entry is fresh.
    assert_eq!(info(&bob, &pb).await.body["description"], "second");
    assert_eq!(requests(&server).await.len(), 2);
    assert_eq!(info(&alice, &pa).await.body["description"], "first");
    assert_eq!(requests(&server).await.len(), 2);
    // Naming Alice's project gets Bob nothing, not even through the cache.
    info(&bob, &pa).await.problem(403, "not_a_member");
    let r = app
        .post("/api/v1/github/acme/widget/cache/invalidate")
        .bearer(&bob.access)
        .header("x-project-id", &pa)
        .send()
        .await;
    r.problem(403, "not_a_member");
    assert_eq!(cache_keys(&app, &pa).await.len(), 1);
    // The same user's two projects do not share either.
    let pa2 = project(&app, &alice, None).await;
    assert_eq!(info(&alice, &pa2).await.body["description"], "second");
    assert_eq!(requests(&server).await.len(), 3);
}

fn rate_limit_json(core_limit: i64, core_remaining: i64, reset: i64) -> Value {
    json!({
        "resources": {
            "core": {"limit": core_limit, "used": core_limit - core_remaining, "remaining": core_remaining, "reset": reset, "resource": "core"},
            "search": {"limit": 30, "used": 12, "remaining": 18, "reset": reset, "resource": "search"},
            "graphql": {"limit": 5000, "used": 1, "remaining": 4999, "reset": reset, "resource": "graphql"},
            "integration_manifest": {"limit": 5000, "used": 0, "remaining": 5000, "reset": reset}
        },
        "rate": {"limit": core_limit, "used": core_limit - core_remaining, "remaining": core_remaining, "reset": reset}
    })
}

#[tokio::test]
async fn rate_limits_status_track_and_health() {
    let (server, app) = github_app(Some(&gh_token())).await;
    let reset = 1_800_000_000;
    let project_token = gh_token();
    Mock::given(method("GET"))
        .and(path("/rate_limit"))
        .and(header(
            "authorization",
            format!("Bearer {project_token}").as_str(),
        ))
        .respond_with(json_response(
            200,
            rate_limit_json(5000, 4321, reset),
            "\"r\"",
        ))
        .mount(&server)
        .await;
    let u = app.user().await;
    let pid = project(&app, &u, Some(&project_token)).await;

    let r = app
        .get("/api/v1/rate-limits/status")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"status": "success", "rate_limits": {
            "core": {"limit": 5000, "remaining": 4321, "reset": "2027-01-15T08:00:00.000Z", "used": 679, "percentage_used": 13.58},
            "search": {"limit": 30, "remaining": 18, "reset": "2027-01-15T08:00:00.000Z", "used": 12, "percentage_used": 40.0},
            "graphql": {"limit": 5000, "remaining": 4999, "reset": "2027-01-15T08:00:00.000Z", "used": 1, "percentage_used": 0.02}
        }})
    );

    let r = app
        .get("/api/v1/rate-limits/health")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"healthy": true, "core_remaining": 4321, "core_limit": 5000,
               "percentage_available": 86.42, "reset_at": "2027-01-15T08:00:00.000Z"})
    );

    let r = app
        .post("/api/v1/rate-limits/track")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"status": "success", "message": "Rate limit status tracked successfully"})
    );
    // One BatchGetItem and one TransactWriteItems (which carries the rate charge).
    assert_eq!(r.aws_calls(), 2);
    let stored = app
        .state
        .store
        .query_prefix(&format!("PROJECT#{pid}"), "GHRATE#", None, true)
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    let hash = commandcenter::github::Token::new(&project_token)
        .hash()
        .unwrap()
        .to_string();
    let mut resources = Vec::new();
    for item in &stored {
        let s = |k: &str| item[k].as_s().unwrap().clone();
        resources.push(s("resource_type"));
        assert_eq!(item["project_id"].as_n().unwrap(), &pid);
        assert_eq!(s("token_hash"), hash);
        assert_eq!(s("reset_at"), "2027-01-15T08:00:00.000Z");
        assert!(item["expires_at"].as_n().is_ok());
        assert!(item.contains_key("checked_at"));
        assert!(item["limit"].as_n().is_ok() && item["remaining"].as_n().is_ok());
    }
    resources.sort();
    assert_eq!(resources, ["core", "graphql", "search"]);
    let core = stored
        .iter()
        .find(|i| i["resource_type"].as_s().unwrap() == "core")
        .unwrap();
    assert_eq!(core["remaining"].as_n().unwrap(), "4321");

    // 100 left or fewer: not healthy.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/rate_limit"))
        .respond_with(json_response(
            200,
            rate_limit_json(5000, 100, reset),
            "\"r\"",
        ))
        .mount(&server)
        .await;
    let r = app
        .get("/api/v1/rate-limits/health")
        .bearer(&u.access)
        .header("x-project-id", &pid)
        .send()
        .await;
    assert_eq!(r.body["healthy"], false);
    assert_eq!(r.body["percentage_available"], 2.0);
}

/// A cached listing whose later pages were read from another GitHub URL (GITHUB_API_URL changed
/// since) is read afresh instead of failing on the old host.
#[tokio::test]
async fn a_listing_cached_from_another_github_url_is_read_afresh() {
    async fn two_pages(server: &MockServer, first: i64) {
        let next = format!(
            "<{}/repos/acme/widget/pulls?state=open&per_page=100&page=2>; rel=\"next\"",
            server.uri()
        );
        Mock::given(method("GET"))
            .and(path("/repos/acme/widget/pulls"))
            .and(query_param_is_missing("page"))
            .respond_with(
                json_response(200, json!([pull_json(first, false)]), "\"a\"")
                    .insert_header("link", next.as_str()),
            )
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/widget/pulls"))
            .and(query_param("page", "2"))
            .respond_with(json_response(
                200,
                json!([pull_json(first - 1, false)]),
                "\"b\"",
            ))
            .mount(server)
            .await;
    }
    let (old, app) = github_app(None).await;
    two_pages(&old, 2).await;
    let u = app.user().await;
    let pid = project(&app, &u, None).await;
    async fn get(app: &TestApp, u: &TestUser, pid: &str) -> cc_tests::Resp {
        app.get("/api/v1/github/acme/widget/pulls")
            .bearer(&u.access)
            .header("x-project-id", pid)
            .send()
            .await
    }
    let r = get(&app, &u, &pid).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    make_stale(&app, &pid).await;

    let (new, moved) = github_app(None).await;
    two_pages(&new, 20).await;
    // Page 1 would revalidate (same ETag), leading to the stored page 2 on the old host.
    Mock::given(method("GET"))
        .and(path("/repos/acme/widget/pulls"))
        .and(header("if-none-match", "\"a\""))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", "\"a\""))
        .with_priority(1)
        .mount(&new)
        .await;
    let r = get(&moved, &u, &pid).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body[0]["number"], 20);
    assert_eq!(requests(&old).await.len(), 2);
    let seen = requests(&new).await;
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|r| r.headers.get("if-none-match").is_none()));
}
