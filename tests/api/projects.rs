//! API.md §2: projects CRUD, stats, members, cascading delete.

use cc_tests::TestApp;
use serde_json::json;

fn gh_token() -> String {
    format!("ghp_{}", "a1B2".repeat(9))
}

#[tokio::test]
async fn create_get_list_and_stats() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let r = app
        .post("/api/v1/projects/")
        .bearer(&u.access)
        .json(json!({"name": "Radar", "owner": "acme", "description": "Tech radar", "github_token": gh_token()}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = r.body.clone();
    assert_eq!(p["name"], "Radar");
    assert_eq!(p["owner"], "acme");
    assert_eq!(p["description"], "Tech radar");
    assert_eq!(p["role"], "owner");
    assert_eq!(p["has_github_token"], true);
    assert!(p.get("github_token").is_none());
    assert!(!r.text.contains(&gh_token()));
    assert!(r.aws_calls() <= 3, "create made {} calls", r.aws_calls());
    let id = p["id"].as_u64().unwrap();

    // The token is stored encrypted and opens only for its project.
    let stored = app
        .state
        .store
        .get(&commandcenter::store::keys::project(id))
        .await
        .unwrap()
        .unwrap();
    let sealed = stored["github_token_enc"].as_s().unwrap();
    assert!(!sealed.contains("ghp_"));
    assert_eq!(app.state.sealer.open(id, sealed).await.unwrap(), gh_token());

    let r = app
        .get(&format!("/api/v1/projects/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body, p);
    assert_eq!(r.aws_calls(), 1);

    let r = app
        .get(&format!("/api/v1/projects/{id}/stats"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.aws_calls(), 1);
    for k in [
        "repository_count",
        "technology_count",
        "research_task_count",
        "knowledge_entry_count",
        "total_repositories",
        "total_technologies",
        "total_research_tasks",
        "total_knowledge_entries",
    ] {
        assert_eq!(r.body[k], 0, "{k}");
    }
    assert_eq!(r.body["name"], "Radar");

    let second = app.project(&u, "Second").await;
    let third = app.project(&u, "Third").await;
    let r = app.get("/api/v1/projects").bearer(&u.access).send().await;
    let ids: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!(id), second["id"].clone(), third["id"].clone()],
        "created_at asc"
    );
    assert!(r.aws_calls() <= 3, "list made {} calls", r.aws_calls());
    let r = app
        .get("/api/v1/projects?skip=1&limit=1")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["id"], second["id"]);
}

#[tokio::test]
async fn create_validates_and_names_are_unique_per_owner() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.project(&u, "Dup").await;
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "Dup", "owner": "acme"}))
        .send()
        .await;
    assert_eq!(
        r.problem(409, "project_exists")["detail"],
        "Project 'Dup' already exists for owner 'acme'"
    );
    // Same name, another owner: fine. Same name for another user: fine.
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "Dup", "owner": "other"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let v = app.user().await;
    app.project(&v, "Dup").await;

    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "", "github_token": "nope"}))
        .send()
        .await;
    let errs = r.problem(422, "validation_error")["errors"]
        .as_array()
        .unwrap()
        .clone();
    let fields: Vec<_> = errs
        .iter()
        .map(|e| e["loc"][1].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, vec!["name", "owner", "github_token"]);
    assert_eq!(errs[2]["msg"], "Invalid GitHub token format");
}

#[tokio::test]
async fn update_renames_clears_and_checks_conflicts() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let a = app.project(&u, "Alpha").await;
    app.project(&u, "Beta").await;
    let id = a["id"].as_u64().unwrap();
    let url = format!("/api/v1/projects/{id}");

    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"name": "Beta"}))
        .send()
        .await;
    r.problem(409, "project_exists");

    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"name": "Gamma", "description": "d", "github_token": gh_token()}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Gamma");
    assert_eq!(r.body["has_github_token"], true);
    assert!(r.body["updated_at"].as_str().unwrap() >= a["updated_at"].as_str().unwrap());

    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"description": null, "github_token": null}))
        .send()
        .await;
    assert_eq!(r.body["description"], json!(null));
    assert_eq!(r.body["has_github_token"], false);
    assert_eq!(r.body["name"], "Gamma");
    let r = app.get(&url).bearer(&u.access).send().await;
    assert_eq!(r.body["description"], json!(null));
    assert_eq!(r.body["has_github_token"], false);

    // The old name is free again, the new one is taken.
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "Alpha", "owner": "acme"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "Gamma", "owner": "acme"}))
        .send()
        .await;
    r.problem(409, "project_exists");

    let r = app
        .patch(&url)
        .bearer(&u.access)
        .json(json!({"name": null, "owner": ""}))
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn members_roles_and_owner_rules() {
    let app = TestApp::new().await;
    let owner = app.user().await;
    let member = app.user().await;
    let third = app.user().await;
    let p = app.project(&owner, "Team").await;
    let id = p["id"].as_u64().unwrap();
    let members_url = format!("/api/v1/projects/{id}/members");

    let r = app
        .post(&members_url)
        .bearer(&owner.access)
        .json(json!({"email": member.email.to_uppercase()}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["user_id"], member.id);
    assert_eq!(r.body["role"], "member");
    assert_eq!(r.body["email"], member.email);
    assert_eq!(r.body["full_name"], "Test User");

    let r = app
        .post(&members_url)
        .bearer(&owner.access)
        .json(json!({"user_id": member.id}))
        .send()
        .await;
    assert_eq!(
        r.problem(409, "already_member")["detail"],
        "User is already a member"
    );
    let r = app
        .post(&members_url)
        .bearer(&owner.access)
        .json(json!({"email": "ghost@example.com"}))
        .send()
        .await;
    assert_eq!(r.problem(404, "user_not_found")["detail"], "User not found");
    let r = app
        .post(&members_url)
        .bearer(&owner.access)
        .json(json!({}))
        .send()
        .await;
    r.problem(422, "validation_error");
    let r = app
        .post(&members_url)
        .bearer(&owner.access)
        .json(json!({"user_id": third.id, "role": "admin"}))
        .send()
        .await;
    assert_eq!(
        r.problem(422, "validation_error")["errors"][0]["type"],
        "enum"
    );

    // The member sees the project with its role, and the member list.
    let r = app
        .get("/api/v1/projects")
        .bearer(&member.access)
        .send()
        .await;
    assert_eq!(r.body[0]["id"], id);
    assert_eq!(r.body[0]["role"], "member");
    let r = app.get(&members_url).bearer(&member.access).send().await;
    let ids: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(owner.id), json!(member.id)], "added_at asc");

    // Members cannot administer.
    let url = format!("/api/v1/projects/{id}");
    let r = app
        .patch(&url)
        .bearer(&member.access)
        .json(json!({"name": "Mine"}))
        .send()
        .await;
    assert_eq!(
        r.problem(403, "insufficient_role")["detail"],
        "Owner role required"
    );
    app.delete(&url)
        .bearer(&member.access)
        .send()
        .await
        .problem(403, "insufficient_role");
    app.post(&members_url)
        .bearer(&member.access)
        .json(json!({"user_id": third.id}))
        .send()
        .await
        .problem(403, "insufficient_role");
    app.delete(&format!("{members_url}/{}", owner.id))
        .bearer(&member.access)
        .send()
        .await
        .problem(403, "insufficient_role");

    // The last owner cannot leave; with a second owner they can.
    let r = app
        .delete(&format!("{members_url}/{}", owner.id))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(
        r.problem(409, "last_owner")["detail"],
        "A project must keep at least one owner"
    );
    let r = app
        .post(&members_url)
        .bearer(&owner.access)
        .json(json!({"user_id": third.id, "role": "owner"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .delete(&format!("{members_url}/{}", owner.id))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    app.get(&url)
        .bearer(&owner.access)
        .send()
        .await
        .problem(404, "project_not_found");

    // A member removes only themselves.
    let r = app
        .delete(&format!("{members_url}/{}", member.id))
        .bearer(&member.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .get("/api/v1/projects")
        .bearer(&member.access)
        .send()
        .await;
    assert_eq!(r.body, json!([]));
    let r = app
        .delete(&format!("{members_url}/{}", member.id))
        .bearer(&third.access)
        .send()
        .await;
    assert_eq!(
        r.problem(404, "member_not_found")["detail"],
        "Member not found"
    );
}

#[tokio::test]
async fn delete_cascades_to_everything() {
    let app = TestApp::new().await;
    let owner = app.user().await;
    let member = app.user().await;
    let p = app.project(&owner, "Doomed").await;
    let id = p["id"].as_u64().unwrap();
    app.post(&format!("/api/v1/projects/{id}/members"))
        .bearer(&owner.access)
        .json(json!({"user_id": member.id}))
        .send()
        .await;
    assert!(app.partition(id).await.len() >= 4);

    let r = app
        .delete(&format!("/api/v1/projects/{id}"))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    app.sweep(id).await;
    assert_eq!(app.partition(id).await, Vec::<String>::new(), "no orphans");
    app.get(&format!("/api/v1/projects/{id}"))
        .bearer(&owner.access)
        .send()
        .await
        .problem(404, "project_not_found");
    let r = app
        .get("/api/v1/projects")
        .bearer(&member.access)
        .send()
        .await;
    assert_eq!(r.body, json!([]));
    // The name marker went too: the same name can be used again.
    app.project(&owner, "Doomed").await;
}

/// Issue 5: DELETE marks the project deleted and frees its name in one transaction (two AWS
/// calls), so it is gone from every view at once and the same (owner, name) can be created
/// again right away, long before its data is swept.
#[tokio::test]
async fn a_deleted_project_is_gone_at_once_everywhere_and_its_name_is_free() {
    let app = TestApp::new().await;
    let owner = app.user().await;
    let member = app.user().await;
    let admin = app.user().await;
    app.set_user_flag(admin.id, "is_superuser", true).await;
    let doomed = app.project(&owner, "Doomed twice").await;
    let pid = doomed["id"].as_u64().unwrap();
    let kept = app.project(&owner, "Kept").await;
    app.post(&format!("/api/v1/projects/{pid}/members"))
        .bearer(&owner.access)
        .json(json!({"user_id": member.id}))
        .send()
        .await;
    let tech = app
        .create(
            &owner,
            "/api/v1/technologies",
            Some(&doomed["id"]),
            json!({"title": "Kafka", "domain": "infrastructure"}),
        )
        .await;
    let all = app
        .get("/api/v1/projects")
        .bearer(&admin.access)
        .send()
        .await;
    assert!(all.body.as_array().unwrap().iter().any(|p| p["id"] == pid));

    let r = app
        .delete(&format!("/api/v1/projects/{pid}"))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.aws_calls(), 2, "one batch read, one transaction");

    // Nothing is swept yet, and nothing shows it.
    assert!(app.partition(pid).await.len() >= 5);
    for path in [
        format!("/api/v1/projects/{pid}"),
        format!("/api/v1/projects/{pid}/stats"),
        format!("/api/v1/technologies/{}", tech["id"]),
    ] {
        let r = app.get(&path).bearer(&owner.access).send().await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
    let r = app
        .delete(&format!("/api/v1/projects/{pid}"))
        .bearer(&owner.access)
        .send()
        .await;
    r.problem(404, "project_not_found");
    let mine = app
        .get("/api/v1/projects")
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(
        mine.body
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect::<Vec<_>>(),
        vec![kept["id"].clone()]
    );
    let theirs = app
        .get("/api/v1/projects")
        .bearer(&member.access)
        .send()
        .await;
    assert_eq!(theirs.body, json!([]));
    let all = app
        .get("/api/v1/projects")
        .bearer(&admin.access)
        .send()
        .await;
    assert!(!all.body.as_array().unwrap().iter().any(|p| p["id"] == pid));
    // "The caller's only project" is the one left.
    let r = app
        .get("/api/v1/technologies")
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 0, "Kept's technologies, not Doomed's");
    let r = app
        .get("/api/v1/technologies")
        .bearer(&member.access)
        .send()
        .await;
    r.problem(400, "project_required");
    // Nothing more can be created in it.
    let r = app
        .post("/api/v1/technologies")
        .bearer(&owner.access)
        .header("x-project-id", &pid.to_string())
        .json(json!({"title": "Late", "domain": "other"}))
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Its name is free again at once.
    let again = app.project(&owner, "Doomed twice").await;
    assert_ne!(again["id"], doomed["id"]);

    // A create that read the project before the delete and writes after it is refused (the
    // sweep must not leave it behind).
    let raced = app
        .state
        .store
        .create_record(
            &commandcenter::store::kinds::TECHNOLOGIES,
            pid,
            json!({"title": "Raced", "domain": "other"})
                .as_object()
                .unwrap()
                .clone(),
            |_| vec![],
            &[],
        )
        .await;
    assert!(
        matches!(raced, Err(commandcenter::store::StoreError::ProjectGone(p)) if p == pid),
        "{raced:?}"
    );
}

fn s(v: impl Into<String>) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.into())
}
fn n(v: u64) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(v.to_string())
}

/// Issue 5: a large project's delete used to run inside the request (and time out in the 15 s
/// function, after which a retried DELETE got 404 and nothing resumed it). Now the sweep runs
/// in bounded steps of the maintenance pass, survives a crash mid-step, and removes the
/// partition, the id pointers, the S3 objects its items name, STATS and META.
#[tokio::test]
async fn a_5000_item_project_is_swept_in_bounded_resumable_steps() {
    use std::time::{Duration, Instant};
    let _alone = cc_tests::maintenance_lock().await;
    let app = TestApp::new().await;
    let owner = app.user().await;
    let p = app.project(&owner, "Huge").await;
    let pid = p["id"].as_u64().unwrap();
    let pk = format!("PROJECT#{pid}");
    let s3 = &app.state.aws.s3;
    let bucket = &app.state.config.bucket_name;

    // 5000 items: technologies, tasks and jobs (with id pointers), events; three tasks with
    // S3 documents, two jobs with results in S3.
    let base = commandcenter::domain::new_id();
    let mut items = Vec::new();
    let mut pointers = Vec::new();
    let mut objects = Vec::new();
    let mut docs = 0;
    for i in 0..5000u64 {
        let id = base + i;
        let kind = match i % 10 {
            0..=6 => "TECH",
            7 | 8 => "TASK",
            9 if i < 20 => "JOB",
            _ => "EVENT",
        };
        let mut item = std::collections::HashMap::from([
            ("pk".to_string(), s(&pk)),
            ("sk".to_string(), s(format!("{kind}#{id:016}"))),
            ("id".to_string(), n(id)),
            ("project_id".to_string(), n(pid)),
            ("title".to_string(), s(format!("Item {i}"))),
        ]);
        if kind == "TASK" && docs < 3 {
            docs += 1;
            let key = format!("research-tasks/{id}/doc-{i}.md");
            item.insert(
                "uploaded_documents".into(),
                aws_sdk_dynamodb::types::AttributeValue::L(vec![
                    aws_sdk_dynamodb::types::AttributeValue::M(
                        [("file_path".to_string(), s(&key))].into(),
                    ),
                ]),
            );
            objects.push(key);
        }
        if kind == "JOB" {
            let key = format!("jobs/{pid}/{id}/result.json");
            item.insert("result_key".into(), s(&key));
            objects.push(key);
        }
        if kind != "EVENT" {
            let pointer = std::collections::HashMap::from([
                ("pk".to_string(), s(format!("ID#{id}"))),
                ("sk".to_string(), s("ID")),
                ("project_id".to_string(), n(pid)),
                ("kind".to_string(), s(kind)),
            ]);
            pointers.push(pointer);
        }
        items.push(item);
    }
    for key in &objects {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(b"content".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let seeding = Instant::now();
    let pointer_keys: Vec<_> = pointers
        .iter()
        .map(|p| commandcenter::store::Key::of_item(p).unwrap())
        .collect();
    app.seed(items).await;
    app.seed(pointers).await;
    println!(
        "seeded 5000 items and {} pointers in {:.1} s",
        pointer_keys.len(),
        seeding.elapsed().as_secs_f64()
    );
    let stored = app.partition_count(pid).await;
    assert!(stored >= 5002, "{stored}");

    let r = app
        .delete(&format!("/api/v1/projects/{pid}"))
        .bearer(&owner.access)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.aws_calls(), 2, "bounded, whatever the project's size");
    let listed = app.state.store.projects_to_sweep(1000).await.unwrap();
    assert!(listed.contains(&pid), "indexed for the sweep");

    let state = app.job_state();
    let mut sweeping = Duration::ZERO;
    // A worker dies in the middle of a step.
    let started = Instant::now();
    let crashed = tokio::spawn({
        let state = state.clone();
        async move {
            let far = Instant::now() + Duration::from_secs(600);
            commandcenter::jobs::maintenance::sweep_project(&state, pid, far).await
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    crashed.abort();
    assert!(crashed.await.unwrap_err().is_cancelled());
    sweeping += started.elapsed();
    // One bounded step: one page of items, and the project is still being swept.
    let step = Instant::now();
    let one = commandcenter::jobs::maintenance::sweep_project(&state, pid, Instant::now())
        .await
        .unwrap();
    sweeping += step.elapsed();
    // (META and STATS, which go last, may be among the page's items.)
    let page = commandcenter::jobs::maintenance::SWEEP_PAGE as usize;
    assert!((page - 2..=page).contains(&one.items), "{one:?}");
    assert!(!one.finished);
    let left = app.partition_count(pid).await;
    assert!(left > 2 && left < stored, "{left} of {stored} left");
    let meta = app
        .state
        .store
        .get(&commandcenter::store::keys::project(pid))
        .await
        .unwrap()
        .expect("META stays until the end");
    assert_eq!(meta["deleting"].as_bool().unwrap(), &true);

    // The maintenance pass, fired as the dev server fires it, resumes and finishes.
    let rest = Instant::now();
    let mut passes = 0;
    while app
        .state
        .store
        .get(&commandcenter::store::keys::project(pid))
        .await
        .unwrap()
        .is_some()
    {
        app.fire("maintenance").await;
        passes += 1;
        assert!(passes < 20, "finished within 20 passes");
    }
    sweeping += rest.elapsed();
    println!(
        "5000-item project swept in {:.1} s ({} pass(es) after a crash and one bounded step)",
        sweeping.as_secs_f64(),
        passes
    );

    assert_eq!(
        app.partition(pid).await,
        Vec::<String>::new(),
        "partition empty"
    );
    assert!(app
        .state
        .store
        .get(&commandcenter::store::keys::project_stats(pid))
        .await
        .unwrap()
        .is_none());
    let found = app.state.store.batch_get(&pointer_keys).await.unwrap();
    assert!(found.is_empty(), "{} pointers left", found.len());
    for key in &objects {
        assert!(
            s3.head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .is_err(),
            "{key} left in S3"
        );
    }
    let listed = app.state.store.projects_to_sweep(1000).await.unwrap();
    assert!(!listed.contains(&pid), "out of the sweep index");
}
