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
