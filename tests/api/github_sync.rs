//! API.md §3 sync and the nightly sync against a fake GitHub (`cc_tests::fake_github`): ETag
//! round trips, the §11 token order, §11 error mapping, rate-limited jobs retried after the
//! reset, the nightly fan-out.

use std::time::Duration;

use cc_tests::fake_github::{FakeGitHub, LIMIT};
use cc_tests::{TestApp, TestUser};
use commandcenter::domain::jobs::JobType;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REPO_TOKEN: &str = "ghp_repoRepoRepoRepoRepoRepoRepoRepoRepo01";
const PROJECT_TOKEN: &str = "ghp_projProjProjProjProjProjProjProjProj01";
const SERVER_TOKEN: &str = "ghp_servServServServServServServServServ01";

async fn track(app: &TestApp, u: &TestUser, pid: &Value, full: &str, token: Option<&str>) -> u64 {
    let (owner, name) = full.split_once('/').unwrap();
    let mut body = json!({"owner": owner, "name": name});
    if let Some(t) = token {
        body["access_token"] = json!(t);
    }
    app.create(u, "/api/v1/repositories", Some(pid), body).await["id"]
        .as_u64()
        .unwrap()
}

async fn sync(app: &TestApp, u: &TestUser, id: u64, body: Value) -> cc_tests::Resp {
    app.post(&format!("/api/v1/repositories/{id}/sync"))
        .bearer(&u.access)
        .json(body)
        .send()
        .await
}

async fn get_repo(app: &TestApp, u: &TestUser, id: u64) -> Value {
    let r = app
        .get(&format!("/api/v1/repositories/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200);
    r.body
}

async fn job(app: &TestApp, u: &TestUser, id: u64) -> Value {
    let r = app
        .get(&format!("/api/v1/jobs/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

#[tokio::test]
async fn a_second_sync_revalidates_with_etags_and_changes_only_last_synced_at() {
    let gh = FakeGitHub::default();
    let server = gh.start().await;
    let app = TestApp::with(|c| c.github_api_url = server.uri()).await;
    let u = app.user().await;
    let p = app.project(&u, "Sync").await;
    gh.add_repo("acme/engine");
    let id = track(&app, &u, &p["id"], "acme/engine", None).await;

    // First sync: unconditional (nothing stored), GitHub-derived fields filled in.
    let r = sync(&app, &u, id, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let first_sha = r.body["last_commit_sha"].as_str().unwrap().to_string();
    assert_eq!(r.body["repository_id"], id);
    assert_eq!(r.body["synced"], true);
    assert_eq!(r.body["changes_detected"], false, "no previous SHA");
    assert_eq!(r.body["last_commit_message"], "commit 1");
    // AWS calls: pointer + batch read, one transaction (record + event + charge).
    let first_calls = r.aws_calls();
    assert_eq!(first_calls, 3, "pointer, one batch read, one transaction");
    let before = get_repo(&app, &u, id).await;
    assert_eq!(before["stars"], 3);
    assert_eq!(before["language"], "Rust");
    assert_eq!(before["url"], "https://github.com/acme/engine");
    assert_eq!(before["last_commit_author"], "Dev");
    assert_eq!(before["last_commit_date"], "2026-11-30T10:00:00.000Z");
    assert!(before.get("github_etags").is_none(), "ETags are internal");
    let seen = gh.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|s| s.if_none_match.is_none() && s.status == 200));
    assert_eq!(seen[1].path, "/repos/acme/engine/commits");
    assert_eq!(seen[1].query, "sha=main&per_page=1");
    let remaining = gh.remaining();

    // Second sync: both conditional, both 304, no rate-limit point spent, only last_synced_at.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = sync(&app, &u, id, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["changes_detected"], false);
    assert_eq!(r.body["last_commit_sha"], first_sha.as_str());
    let seen = gh.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2].if_none_match.as_deref(), Some("\"r-1\""));
    assert_eq!(
        seen[3].if_none_match.as_deref(),
        Some(format!("\"c-{first_sha}\"").as_str())
    );
    assert!(seen[2..].iter().all(|s| s.status == 304));
    assert_eq!(gh.remaining(), remaining, "304s are free");
    assert_eq!(r.aws_calls(), first_calls);
    let after = get_repo(&app, &u, id).await;
    assert_eq!(after["updated_at"], before["updated_at"]);
    assert_ne!(after["last_synced_at"], before["last_synced_at"]);
    let mut a = after.as_object().unwrap().clone();
    let mut b = before.as_object().unwrap().clone();
    a.remove("last_synced_at");
    b.remove("last_synced_at");
    assert_eq!(a, b, "nothing else changed");

    // A new commit: the commits ETag no longer matches; changes_detected.
    let new_sha = gh.push("acme/engine");
    let r = sync(&app, &u, id, json!({})).await;
    assert_eq!(r.body["changes_detected"], true);
    assert_eq!(r.body["last_commit_sha"], new_sha.as_str());
    assert_eq!(r.body["last_commit_message"], "commit 2");
    let seen = gh.seen();
    assert_eq!((seen[4].status, seen[5].status), (304, 200));
    assert_ne!(
        get_repo(&app, &u, id).await["updated_at"],
        before["updated_at"]
    );

    // force: unconditional requests.
    let r = sync(&app, &u, id, json!({"force": true})).await;
    assert_eq!(r.body["changes_detected"], false);
    let seen = gh.seen();
    assert!(seen[6..]
        .iter()
        .all(|s| s.if_none_match.is_none() && s.status == 200));

    // The event went out with the write.
    let events = app.partition(p["id"].as_u64().unwrap()).await;
    assert_eq!(
        events.iter().filter(|k| k.starts_with("EVENT#")).count(),
        4,
        "{events:?}"
    );
}

#[tokio::test]
async fn the_token_is_the_repositorys_then_the_projects_then_the_servers_then_none() {
    let gh = FakeGitHub::default();
    let server = gh.start().await;
    for full in ["acme/own", "acme/proj", "acme/server"] {
        gh.add_repo(full);
    }
    let app = TestApp::with(|c| {
        c.github_api_url = server.uri();
        c.github_token = Some(SERVER_TOKEN.into());
    })
    .await;
    let anonymous = TestApp::with(|c| c.github_api_url = server.uri()).await;
    let u = app.user().await;
    let with_token = app
        .create(
            &u,
            "/api/v1/projects",
            None,
            json!({"name": "Tok", "owner": "acme", "github_token": PROJECT_TOKEN}),
        )
        .await;
    let without = app.project(&u, "NoTok").await;
    let own = track(&app, &u, &with_token["id"], "acme/own", Some(REPO_TOKEN)).await;
    let proj = track(&app, &u, &with_token["id"], "acme/proj", None).await;
    let srv = track(&app, &u, &without["id"], "acme/server", None).await;
    for id in [own, proj, srv] {
        assert_eq!(sync(&app, &u, id, json!({})).await.status, 200);
    }
    assert_eq!(
        sync(&anonymous, &u, srv, json!({"force": true}))
            .await
            .status,
        200
    );
    let auth_for = |repo: &str| -> Vec<Option<String>> {
        gh.seen()
            .iter()
            .filter(|s| s.path.starts_with(&format!("/repos/acme/{repo}")))
            .map(|s| s.authorization.clone())
            .collect()
    };
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    assert_eq!(auth_for("own"), vec![bearer(REPO_TOKEN); 2]);
    assert_eq!(auth_for("proj"), vec![bearer(PROJECT_TOKEN); 2]);
    assert_eq!(
        auth_for("server"),
        vec![bearer(SERVER_TOKEN), bearer(SERVER_TOKEN), None, None]
    );
    // ETags belong to the token: the anonymous sync could not have revalidated the server
    // token's ETags (it was forced anyway); a later sync with the server token sends none
    // either, since the stored ones are now the anonymous caller's.
    assert_eq!(sync(&app, &u, srv, json!({})).await.status, 200);
    let last = gh.seen();
    assert!(last[last.len() - 2..]
        .iter()
        .all(|s| s.if_none_match.is_none()));
}

async fn failing(status: u16, headers: &[(&str, &str)], body: Value) -> (MockServer, TestApp) {
    let server = MockServer::start().await;
    let mut t = ResponseTemplate::new(status).set_body_json(body);
    for (k, v) in headers {
        t = t.insert_header(*k, *v);
    }
    Mock::given(method("GET"))
        .and(path("/repos/acme/broken"))
        .respond_with(t)
        .mount(&server)
        .await;
    let uri = server.uri();
    let app = TestApp::with(move |c| c.github_api_url = uri).await;
    (server, app)
}

#[tokio::test]
async fn github_errors_map_per_section_11() {
    let reset = (time::OffsetDateTime::now_utc().unix_timestamp() + 120).to_string();
    // (GitHub's status, its headers, our status, our code)
    type Case<'a> = (u16, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (404, vec![], 404, "github_not_found"),
        (401, vec![], 502, "github_auth_failed"),
        (
            403,
            vec![
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", reset.as_str()),
            ],
            429,
            "github_rate_limited",
        ),
        (403, vec![("retry-after", "30")], 429, "github_rate_limited"),
        (429, vec![("retry-after", "7")], 429, "github_rate_limited"),
        (403, vec![], 502, "github_error"),
        (500, vec![], 502, "github_error"),
    ];
    for (status, headers, want, code) in cases {
        let (server, app) = failing(status, &headers, json!({"message": "nope"})).await;
        let u = app.user().await;
        let p = app.project(&u, "Err").await;
        let id = track(&app, &u, &p["id"], "acme/broken", None).await;
        let r = sync(&app, &u, id, json!({})).await;
        let problem = r.problem(want, code);
        if want == 429 {
            let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
            let expected = match headers.iter().find(|(k, _)| *k == "retry-after") {
                Some((_, v)) => v.parse().unwrap(),
                None => 120,
            };
            assert!(
                retry <= expected && retry + 5 >= expected,
                "{retry} vs {expected}"
            );
        }
        assert!(!problem["detail"].as_str().unwrap().contains("ghp_"));
        // Nothing was written: the repository is as created.
        let repo = get_repo(&app, &u, id).await;
        assert!(repo["last_synced_at"].is_null(), "{status}: {repo}");
        // A primary limit is remembered: the next call is refused without asking GitHub.
        if status == 403 && headers.iter().any(|(k, _)| *k == "x-ratelimit-remaining") {
            let before = server.received_requests().await.unwrap().len();
            sync(&app, &u, id, json!({}))
                .await
                .problem(429, "github_rate_limited");
            assert_eq!(server.received_requests().await.unwrap().len(), before);
        }
    }
}

#[tokio::test]
async fn a_rate_limited_job_waits_for_the_reset_and_then_completes() {
    let gh = FakeGitHub::default();
    let server = gh.start().await;
    gh.add_repo("acme/limited");
    let app = TestApp::with(|c| c.github_api_url = server.uri()).await;
    let u = app.user().await;
    let p = app.project(&u, "Limited").await;
    let repo = track(&app, &u, &p["id"], "acme/limited", None).await;
    let created = app
        .create(
            &u,
            "/api/v1/jobs",
            Some(&p["id"]),
            json!({"job_type": "repository_sync", "parameters": {"repository_id": repo}}),
        )
        .await;
    let jid = created["id"].as_u64().unwrap();
    let r = app
        .post(&format!("/api/v1/jobs/{jid}/dispatch"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    gh.exhaust_for(4);
    let out = app.run_jobs(JobType::RepositorySync, &[jid]).await;
    // Acknowledged (not a failure, so no delivery attempt is spent) and sent again with the
    // wait as its delay.
    assert!(out.batch_item_failures.is_empty());
    let j = job(&app, &u, jid).await;
    assert_eq!(j["status"], "pending", "{j}");
    assert!(
        j["current_step"].as_str().unwrap().contains("rate limit"),
        "{j}"
    );
    assert!(j["error"].is_null());
    // The re-sent message is not visible before the reset.
    let queue = app.state.config.queue_urls["repository_sync"].clone();
    let early = app
        .state
        .aws
        .sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert!(early
        .messages()
        .iter()
        .all(|m| !m.body().unwrap_or("").contains(&jid.to_string())));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let out = app.run_jobs(JobType::RepositorySync, &[jid]).await;
    assert!(out.batch_item_failures.is_empty());
    let j = job(&app, &u, jid).await;
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(j["result"]["repository_id"], repo);
    assert_eq!(j["result"]["synced"], true);
    assert!(get_repo(&app, &u, repo).await["last_commit_sha"].is_string());
}

#[tokio::test]
async fn the_nightly_sync_queues_one_job_per_tracked_repository_and_costs_nothing_when_unchanged() {
    let gh = FakeGitHub::default();
    let server = gh.start().await;
    let app = TestApp::isolated(|c| c.github_api_url = server.uri()).await;
    let u = app.user().await;
    let p1 = app.project(&u, "Night1").await;
    let p2 = app.project(&u, "Night2").await;
    let mut repos = Vec::new();
    for i in 0..12 {
        let full = format!("acme/night-{i}");
        gh.add_repo(&full);
        let pid = if i % 3 == 0 { &p2["id"] } else { &p1["id"] };
        repos.push((full.clone(), track(&app, &u, pid, &full, None).await));
    }
    // An untracked repository is not synced.
    let gone = track(&app, &u, &p1["id"], "acme/untracked", None).await;
    let r = app
        .delete(&format!("/api/v1/repositories/{gone}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);

    let run_all = |report: Value| {
        let app = &app;
        async move {
            assert_eq!(report["repositories"], 12, "{report}");
            assert_eq!(report["jobs_created"], 12, "{report}");
            assert_eq!(report["messages_sent"], 12, "{report}");
            let queue = app.state.config.queue_urls["repository_sync"].clone();
            let mut ids = Vec::new();
            let event = cc_tests::receive_all(&app.state.aws.sqs, &queue, 12).await;
            for m in &event.records {
                let body: Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
                ids.push(body["job_id"].as_u64().unwrap());
            }
            assert_eq!(ids.len(), 12);
            // AWS calls per job, as the job function would make them.
            let ctx = std::sync::Arc::new(commandcenter::context::RequestContext::new("n".into()));
            let out = commandcenter::context::scope(
                ctx.clone(),
                commandcenter::jobs::runner::handle_batch(
                    &app.job_state(),
                    JobType::RepositorySync,
                    &commandcenter::jobs::work::work_for(JobType::RepositorySync),
                    event,
                ),
            )
            .await;
            assert!(out.batch_item_failures.is_empty());
            let per_job = ctx.aws_calls().0 as f64 / ids.len() as f64;
            println!("AWS calls per repository_sync job: {per_job}");
            assert!(per_job <= 7.0, "{per_job}");
            ids
        }
    };
    let fired = app.dev_post("/_local/events/nightly-sync").send().await;
    // One Query per shard, then per repository one create transaction, plus one
    // SendMessageBatch per ten.
    println!(
        "AWS calls for a 12-repository fan-out: {}",
        fired.aws_calls()
    );
    assert!(fired.aws_calls() <= 4 + 12 + 2, "{}", fired.aws_calls());
    let first = fired.body["result"].clone();
    let ids = run_all(first).await;
    let seen = gh.seen();
    assert_eq!(seen.len(), 24, "2 requests per repository");
    assert!(seen.iter().all(|s| s.status == 200));
    for (full, _) in &repos {
        assert_eq!(
            seen.iter()
                .filter(|s| s.path == format!("/repos/{full}"))
                .count(),
            1,
            "{full} synced once"
        );
    }
    for id in &ids {
        let j = job(&app, &u, *id).await;
        assert_eq!(j["status"], "completed", "{j}");
        assert_eq!(j["tags"]["trigger"], "nightly-sync");
    }

    // Nothing changed: the next night costs only 304s and no rate-limit points.
    let remaining = gh.remaining();
    let second = app.fire("nightly-sync").await;
    run_all(second).await;
    let seen = gh.seen();
    assert_eq!(seen.len(), 48);
    assert!(seen[24..].iter().all(|s| s.status == 304));
    assert_eq!(gh.remaining(), remaining);
    assert!(remaining < LIMIT);

    // Three repositories get commits: the next night reports exactly those as changed.
    let changed: Vec<u64> = [1, 5, 9]
        .iter()
        .map(|&i| {
            gh.push(&repos[i].0);
            repos[i].1
        })
        .collect();
    let third = app.fire("nightly-sync").await;
    let ids = run_all(third).await;
    let mut detected = Vec::new();
    for id in &ids {
        let j = job(&app, &u, *id).await;
        if j["result"]["changes_detected"] == true {
            detected.push(j["result"]["repository_id"].as_u64().unwrap());
        }
    }
    detected.sort_unstable();
    let mut want = changed.clone();
    want.sort_unstable();
    assert_eq!(detected, want);

    // A duplicate delivery of a finished job does nothing.
    let before = gh.seen().len();
    let done = job(&app, &u, ids[0]).await;
    let queue = app.state.config.queue_urls["repository_sync"].clone();
    app.state
        .queues
        .send_job(
            commandcenter::queue::JobMessage {
                job_id: ids[0],
                project_id: done["project_id"].as_u64().unwrap(),
                job_type: JobType::RepositorySync,
                not_before: None,
            },
            0,
        )
        .await
        .unwrap();
    let event = cc_tests::receive_all(&app.state.aws.sqs, &queue, 1).await;
    commandcenter::jobs::runner::handle_batch(
        &app.job_state(),
        JobType::RepositorySync,
        &commandcenter::jobs::work::work_for(JobType::RepositorySync),
        event,
    )
    .await;
    assert_eq!(gh.seen().len(), before);
}

#[tokio::test]
async fn concurrent_syncs_of_one_repository_report_a_new_commit_once() {
    let gh = FakeGitHub::default();
    let server = gh.start().await;
    gh.add_repo("acme/race");
    let app = TestApp::with(|c| c.github_api_url = server.uri()).await;
    let u = app.user().await;
    let p = app.project(&u, "Race").await;
    let id = track(&app, &u, &p["id"], "acme/race", None).await;
    assert_eq!(sync(&app, &u, id, json!({})).await.status, 200);
    let sha = gh.push("acme/race");
    let results = futures::future::join_all((0..6).map(|_| sync(&app, &u, id, json!({})))).await;
    for r in &results {
        if r.status != 200 {
            let rid = r.body["request_id"].as_str().unwrap_or("-").to_string();
            let logs = cc_tests::captured_logs();
            let line: Vec<&str> = logs.lines().filter(|l| l.contains(&rid)).collect();
            panic!("{} {}\n{line:?}", r.status, r.text);
        }
        assert_eq!(r.body["last_commit_sha"], sha.as_str());
    }
    let changed = results
        .iter()
        .filter(|r| r.body["changes_detected"] == true)
        .count();
    assert_eq!(changed, 1, "the new commit is reported once");
    let repo = get_repo(&app, &u, id).await;
    assert_eq!(repo["last_commit_sha"], sha.as_str());
    // A sync that lost the race to a later-started one does not write its (no fresher) data
    // over it: one repository.synced per sync that wrote, at least the first two.
    let events = app.partition(p["id"].as_u64().unwrap()).await;
    let written = events.iter().filter(|k| k.starts_with("EVENT#")).count();
    assert!((2..=7).contains(&written), "{written}");
}
