//! API.md §1: register, login, refresh rotation and reuse, logout, me, personal access tokens.

use cc_tests::TestApp;
use commandcenter::domain::auth::{Claims, TokenType};
use serde_json::json;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn register_returns_the_user_and_rejects_duplicates() {
    let app = TestApp::new().await;
    let email = format!("Mixed.{}@Example.com", uuid::Uuid::new_v4().simple());
    let r = app
        .post("/api/v1/auth/register")
        .json(json!({"email": email, "password": "longenough", "full_name": "Ada"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["email"], email.to_lowercase());
    assert_eq!(b["full_name"], "Ada");
    assert_eq!(b["is_active"], true);
    assert_eq!(b["is_superuser"], false);
    assert!(b["id"].as_u64().unwrap() > 0);
    assert!(b.get("password").is_none() && b.get("password_hash").is_none());
    assert!(b["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(b.as_object().unwrap().len(), 7);

    let r = app
        .post("/api/v1/auth/register")
        .json(json!({"email": email.to_uppercase(), "password": "longenough"}))
        .send()
        .await;
    assert_eq!(
        r.problem(409, "email_taken")["detail"],
        "Email already registered"
    );

    // The password is stored as argon2id, never in clear.
    let item = app
        .state
        .store
        .get_user(b["id"].as_u64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(item.password_hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn login_me_and_credential_failures() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let r = app.get("/api/v1/auth/me").bearer(&u.access).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], u.id);
    assert_eq!(r.body["email"], u.email);

    let tokens = app.login(&u.email.to_uppercase(), &u.password).await;
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 1800);

    let r = app
        .post("/api/v1/auth/login")
        .json(json!({"email": u.email, "password": "wrong password"}))
        .send()
        .await;
    let b = r.problem(401, "invalid_credentials");
    assert_eq!(b["detail"], "Incorrect email or password");
    let r = app
        .post("/api/v1/auth/login")
        .json(json!({"email": "nobody@example.com", "password": "whatever1"}))
        .send()
        .await;
    r.problem(401, "invalid_credentials");

    let r = app.get("/api/v1/auth/me").send().await;
    assert_eq!(
        r.problem(401, "not_authenticated")["detail"],
        "Not authenticated"
    );
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = app
        .get("/api/v1/auth/me")
        .header("authorization", "Basic abc")
        .send()
        .await;
    assert_eq!(
        r.problem(401, "invalid_authorization")["detail"],
        "Invalid authentication credentials"
    );
    let r = app
        .get("/api/v1/auth/me")
        .header("authorization", "Bearer ")
        .send()
        .await;
    r.problem(401, "invalid_authorization");
    let r = app.get("/api/v1/auth/me").bearer("not.a.jwt").send().await;
    assert_eq!(
        r.problem(401, "invalid_token")["detail"],
        "Could not validate credentials"
    );
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn token_claims_are_enforced() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let jwt = &app.state.jwt;

    let expired = Claims::new(u.id, &u.email, TokenType::Access, "f", now() - 7200);
    let r = app
        .get("/api/v1/auth/me")
        .bearer(&jwt.sign(&expired))
        .send()
        .await;
    assert_eq!(
        r.problem(401, "token_expired")["detail"],
        "Could not validate credentials"
    );

    let r = app.get("/api/v1/auth/me").bearer(&u.refresh).send().await;
    assert_eq!(
        r.problem(401, "invalid_token_type")["detail"],
        "Invalid token type"
    );

    let mut wrong_iss = Claims::new(u.id, &u.email, TokenType::Access, "f", now());
    wrong_iss.iss = "someone".into();
    app.get("/api/v1/auth/me")
        .bearer(&jwt.sign(&wrong_iss))
        .send()
        .await
        .problem(401, "invalid_token");

    // Unknown user with a valid signature.
    let ghost = Claims::new(u.id + 1, "g@example.com", TokenType::Access, "f", now());
    app.get("/api/v1/auth/me")
        .bearer(&jwt.sign(&ghost))
        .send()
        .await
        .problem(401, "invalid_token");

    // alg none: the signature is not checked by such tokens, so they must be refused.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = Claims::new(u.id, &u.email, TokenType::Access, "f", now());
    let forged = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(serde_json::to_vec(&claims).unwrap())
    );
    app.get("/api/v1/auth/me")
        .bearer(&forged)
        .send()
        .await
        .problem(401, "invalid_token");
}

#[tokio::test]
async fn inactive_users_are_refused() {
    let app = TestApp::new().await;
    let u = app.user().await;
    app.set_user_flag(u.id, "is_active", false).await;
    let r = app.get("/api/v1/auth/me").bearer(&u.access).send().await;
    assert_eq!(r.problem(403, "inactive_user")["detail"], "Inactive user");
    let r = app
        .post("/api/v1/auth/login")
        .json(json!({"email": u.email, "password": u.password}))
        .send()
        .await;
    assert_eq!(
        r.problem(403, "inactive_user")["detail"],
        "Inactive user account"
    );
    let r = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": u.refresh}))
        .send()
        .await;
    assert_eq!(
        r.problem(401, "invalid_user")["detail"],
        "User not found or inactive"
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let r = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": u.refresh}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second_access = r.body["access_token"].as_str().unwrap().to_string();
    let second_refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, u.refresh);
    assert_eq!(
        app.get("/api/v1/auth/me")
            .bearer(&second_access)
            .send()
            .await
            .status,
        200
    );

    // The second refresh token works once more (rotation continues)...
    let r = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": second_refresh}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let third_refresh = r.body["refresh_token"].as_str().unwrap().to_string();

    // ...but presenting the first one again is reuse: the whole family is revoked.
    let r = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": u.refresh}))
        .send()
        .await;
    assert_eq!(
        r.problem(401, "token_reused")["detail"],
        "Refresh token reuse detected"
    );
    let r = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": third_refresh}))
        .send()
        .await;
    assert_eq!(
        r.problem(401, "token_revoked")["detail"],
        "Invalid refresh token"
    );
    app.get("/api/v1/auth/me")
        .bearer(&second_access)
        .send()
        .await
        .problem(401, "token_revoked");

    // Other sessions of the same user are unaffected.
    let other = app.login(&u.email, &u.password).await;
    let r = app
        .get("/api/v1/auth/me")
        .bearer(other["access_token"].as_str().unwrap())
        .send()
        .await;
    assert_eq!(r.status, 200);

    let r = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": other["access_token"]}))
        .send()
        .await;
    r.problem(401, "invalid_token_type");
    let r = app
        .post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": "garbage"}))
        .send()
        .await;
    assert_eq!(
        r.problem(401, "invalid_token")["detail"],
        "Invalid refresh token"
    );
    let expired = Claims::new(u.id, &u.email, TokenType::Refresh, "f", now() - 8 * 86400);
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": app.state.jwt.sign(&expired)}))
        .send()
        .await
        .problem(401, "invalid_token");
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let r = app
        .post("/api/v1/auth/logout")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"message": "Successfully logged out"}));
    app.get("/api/v1/auth/me")
        .bearer(&u.access)
        .send()
        .await
        .problem(401, "token_revoked");
    app.post("/api/v1/auth/refresh")
        .json(json!({"refresh_token": u.refresh}))
        .send()
        .await
        .problem(401, "token_revoked");
}

#[tokio::test]
async fn personal_access_tokens() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let other = app.user().await;
    let r = app
        .post("/api/v1/auth/tokens")
        .bearer(&u.access)
        .json(json!({"name": "cli", "expires_in_days": 30}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cc_pat_") && token.len() == 47);
    assert_eq!(r.body["token_prefix"], &token[..12]);
    assert_eq!(r.body["name"], "cli");
    assert!(r.body["expires_at"].is_string());
    assert!(r.body["last_used_at"].is_null());
    let first_id = r.body["id"].as_u64().unwrap();
    let r = app
        .post("/api/v1/auth/tokens")
        .bearer(&u.access)
        .json(json!({"name": "mcp"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    assert!(r.body["expires_at"].is_null());
    let second_id = r.body["id"].as_u64().unwrap();

    // Only the hash is stored.
    let stored = app.state.store.list_pats(u.id).await.unwrap();
    assert!(stored
        .iter()
        .all(|p| p.token_hash.len() == 64 && p.token_hash != token));

    // A PAT authenticates like the user; use is recorded.
    let r = app.get("/api/v1/auth/me").bearer(&token).send().await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], u.id);
    let r = app.get("/api/v1/auth/tokens").bearer(&token).send().await;
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], second_id, "newest first");
    assert_eq!(list[1]["id"], first_id);
    assert!(list[1]["last_used_at"].is_string());
    assert!(list.iter().all(|t| t.get("token").is_none()));

    app.post("/api/v1/auth/logout")
        .bearer(&token)
        .send()
        .await
        .problem(400, "not_a_session");

    // Another user cannot see or revoke it.
    let r = app
        .delete(&format!("/api/v1/auth/tokens/{first_id}"))
        .bearer(&other.access)
        .send()
        .await;
    assert_eq!(
        r.problem(404, "token_not_found")["detail"],
        format!("Token {first_id} not found")
    );

    let r = app
        .delete(&format!("/api/v1/auth/tokens/{first_id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    app.get("/api/v1/auth/me")
        .bearer(&token)
        .send()
        .await
        .problem(401, "invalid_token");
    let r = app
        .get("/api/v1/auth/tokens")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);

    let r = app
        .post("/api/v1/auth/tokens")
        .bearer(&u.access)
        .json(json!({"name": "", "expires_in_days": 366}))
        .send()
        .await;
    let errs = r.problem(422, "validation_error")["errors"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(errs.len(), 2);
    app.get("/api/v1/auth/me")
        .bearer(&format!("cc_pat_{}", "A".repeat(40)))
        .send()
        .await
        .problem(401, "invalid_token");
}

#[tokio::test]
async fn expired_pats_are_refused() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let r = app
        .post("/api/v1/auth/tokens")
        .bearer(&u.access)
        .json(json!({"name": "short", "expires_in_days": 1}))
        .send()
        .await;
    let token = r.body["token"].as_str().unwrap().to_string();
    let hash = commandcenter::domain::auth::token_hash(&token);
    app.state
        .aws
        .dynamodb
        .update_item()
        .table_name(&app.state.config.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("PATHASH#{hash}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PAT".into()),
        )
        .update_expression("SET token_expires_at = :t")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::N((now() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    app.get("/api/v1/auth/me")
        .bearer(&token)
        .send()
        .await
        .problem(401, "invalid_token");
}

#[tokio::test]
async fn login_costs_at_most_three_aws_calls() {
    let app = TestApp::new().await;
    let u = app.user().await;
    let r = app
        .post("/api/v1/auth/login")
        .json(json!({"email": u.email, "password": u.password}))
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(r.aws_calls() <= 3, "login made {} AWS calls", r.aws_calls());
    let r = app.get("/api/v1/auth/me").bearer(&u.access).send().await;
    assert_eq!(r.aws_calls(), 1);
}
