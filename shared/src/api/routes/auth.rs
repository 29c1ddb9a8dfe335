//! `/api/v1/auth` (API.md §1): register, login, refresh with rotation and reuse detection,
//! logout, me, personal access tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::{Auth, Caller, Credential};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonObject, PathParams};
use crate::api::ratelimit::{ip_limited, note_prior, window_key as ratelimit_window};
use crate::api::AppState;
use crate::context;
use crate::domain::auth::{
    self as creds, generate_pat, token_hash, token_prefix, Claims, TokenType, ACCESS_TTL_SECS,
};
use crate::domain::user::{normalize_email, PersonalAccessToken, TokenFamily, User};
use crate::domain::validate::{Kind, Spec};
use crate::domain::{new_id, Id, Timestamp};
use crate::store::ratelimit;
use crate::store::users::REGISTER_EMAIL_INDEX;
use crate::store::{attr_n, keys, take, StoreError};

pub fn routes() -> OpenApiRouter<AppState> {
    let limited = |r: OpenApiRouter<AppState>, bucket| {
        r.route_layer(axum::middleware::from_fn(ip_limited(bucket)))
    };
    OpenApiRouter::new()
        .merge(limited(
            OpenApiRouter::new().routes(routes!(register)),
            ratelimit::REGISTER,
        ))
        .merge(limited(
            OpenApiRouter::new().routes(routes!(login)),
            ratelimit::LOGIN,
        ))
        .merge(limited(
            OpenApiRouter::new().routes(routes!(refresh)),
            ratelimit::REFRESH,
        ))
        .routes(routes!(me))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(logout))
                .routes(routes!(revoke_token))
                .route_layer(axum::Extension(crate::api::ratelimit::Unmetered)),
        )
        .routes(routes!(create_token, list_tokens))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    id: Id,
    email: String,
    full_name: Option<String>,
    is_active: bool,
    is_superuser: bool,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    access_token: String,
    refresh_token: String,
    #[schema(example = "bearer")]
    token_type: String,
    #[schema(example = 1800)]
    expires_in: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalAccessTokenOut {
    id: Id,
    name: String,
    token_prefix: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<Timestamp>,
}

impl From<&PersonalAccessToken> for PersonalAccessTokenOut {
    fn from(p: &PersonalAccessToken) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            token_prefix: p.token_prefix.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            last_used_at: p.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalAccessTokenCreated {
    #[serde(flatten)]
    token_info: PersonalAccessTokenOut,
    /// Shown only in this response.
    token: String,
}

const REGISTER: &[Spec] = &[
    Spec::req("email", Kind::Email),
    Spec::req("password", Kind::Str { min: 8, max: 256 }),
    Spec::opt("full_name", Kind::Str { min: 0, max: 255 }),
];
crate::record_schema!(
    /// The email is stored lower-case and must not be registered yet.
    pub Register: Create = &[REGISTER]
);
const LOGIN: &[Spec] = &[
    Spec::req("email", Kind::Str { min: 1, max: 255 }),
    Spec::req("password", Kind::Str { min: 1, max: 256 }),
];
crate::record_schema!(pub Login: Create = &[LOGIN]);
const REFRESH: &[Spec] = &[Spec::req("refresh_token", Kind::Str { min: 1, max: 8192 })];
crate::record_schema!(pub Refresh: Create = &[REFRESH]);
const TOKEN_CREATE: &[Spec] = &[
    Spec::req("name", Kind::Str { min: 1, max: 100 }),
    Spec::opt(
        "expires_in_days",
        Kind::Int {
            min: Some(1),
            max: Some(365),
        },
    ),
];
crate::record_schema!(
    /// expires_in_days absent or null: never expires (a token made with a token never
    /// outlives it).
    pub TokenCreate: Create = &[TOKEN_CREATE]
);

fn text(r: &serde_json::Map<String, serde_json::Value>, k: &str) -> Option<String> {
    r.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    #[schema(example = "Successfully logged out")]
    message: &'static str,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// Issues an access/refresh pair of `family`; returns the response and the refresh jti.
fn token_pair(state: &AppState, user: &User, family: &str) -> (TokenOut, String) {
    let now = Timestamp::now().unix();
    let access = Claims::new(user.id, &user.email, TokenType::Access, family, now);
    let refresh = Claims::new(user.id, &user.email, TokenType::Refresh, family, now);
    (
        TokenOut {
            access_token: state.jwt.sign(&access),
            refresh_token: state.jwt.sign(&refresh),
            token_type: "bearer".into(),
            expires_in: ACCESS_TTL_SECS,
        },
        refresh.jti,
    )
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = Register,
    responses((status = 201, body = UserOut, description = "Registered: active, not a superuser"),
        (status = 409, description = "email_taken: Email already registered"),
        (status = 429, description = "rate_limited: 5 per hour per client address; carries Retry-After")))]
async fn register(
    State(state): State<AppState>,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    let mut f = body.fields();
    let r = f.record(REGISTER, true);
    f.finish()?;
    let email = text(&r, "email").unwrap_or_default();
    let password = text(&r, "password").unwrap_or_default();
    let full_name = text(&r, "full_name");

    let window = match ratelimit_window() {
        Some(k) => state.store.get(&k).await?,
        None => None,
    };
    note_prior(window.as_ref())?;

    let hash = blocking(move || creds::hash_password(&password))
        .await?
        .map_err(ApiError::internal)?;
    let now = Timestamp::now();
    let mut user = User {
        id: new_id(),
        email: normalize_email(&email),
        full_name,
        password_hash: hash,
        is_active: true,
        is_superuser: false,
        last_login: None,
        created_at: now,
        updated_at: now,
    };
    for attempt in 0..3 {
        match state.store.create_user(&user).await {
            Ok(()) => return Ok((StatusCode::CREATED, Json(UserOut::from(&user)))),
            Err(StoreError::Condition(REGISTER_EMAIL_INDEX)) => {
                return Err(ApiError::conflict(
                    "email_taken",
                    "Email already registered",
                ))
            }
            Err(StoreError::Condition(0)) if attempt < 2 => user.id = new_id(),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not allocate a user id"))
}

/// Log in with email and password: a new token family.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = TokenOut, description = "A new token family; sets last_login"),
        (status = 401, description = "invalid_credentials: Incorrect email or password; carries WWW-Authenticate: Bearer"),
        (status = 403, description = "inactive_user: Inactive user account"),
        (status = 429, description = "rate_limited: 10 per minute per client address; carries Retry-After")))]
async fn login(State(state): State<AppState>, body: JsonObject) -> ApiResult<Json<TokenOut>> {
    let mut f = body.fields();
    let r = f.record(LOGIN, true);
    f.finish()?;
    let email = normalize_email(&text(&r, "email").unwrap_or_default());
    let password = text(&r, "password").unwrap_or_default();

    let marker = keys::email_marker(&email);
    let window = ratelimit_window();
    let mut wanted = vec![marker.clone()];
    wanted.extend(window.clone());
    let mut found = state.store.batch_get(&wanted).await?;
    note_prior(window.and_then(|w| found.get(&w)))?;

    let user = match found.remove(&marker).and_then(|m| attr_n(&m, "user_id")) {
        Some(uid) => state.store.get_user(uid as Id).await?,
        None => None,
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = blocking(move || creds::verify_password(&password, hash.as_deref())).await?;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            return Err(ApiError::unauthorized(
                "invalid_credentials",
                "Incorrect email or password",
            ))
        }
    };
    if !user.is_active {
        return Err(ApiError::forbidden(
            "inactive_user",
            "Inactive user account",
        ));
    }
    let family = uuid::Uuid::new_v4().to_string();
    let (tokens, jti) = token_pair(&state, &user, &family);
    state
        .store
        .start_session(
            user.id,
            &TokenFamily {
                family,
                user_id: user.id,
                current_jti: jti,
                revoked: false,
                created_at: Timestamp::now(),
            },
        )
        .await?;
    context::set_user(user.id);
    Ok(Json(tokens))
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthorized("invalid_token", "Invalid refresh token")
}

fn token_reused() -> ApiError {
    ApiError::unauthorized("token_reused", "Refresh token reuse detected")
}

/// Exchange a refresh token for a new pair; the presented token is used up. Presenting a used
/// token again revokes the whole family.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = Refresh,
    responses((status = 200, body = TokenOut, description = "A new pair of the same family; the presented token is used up"),
        (status = 401, description = "invalid_token (bad, expired), invalid_token_type, token_reused (family revoked), token_revoked, invalid_user; carries WWW-Authenticate: Bearer"),
        (status = 429, description = "rate_limited: 20 per minute per client address; carries Retry-After")))]
async fn refresh(State(state): State<AppState>, body: JsonObject) -> ApiResult<Json<TokenOut>> {
    let mut f = body.fields();
    let r = f.record(REFRESH, true);
    f.finish()?;
    let token = text(&r, "refresh_token").unwrap_or_default();

    let window = ratelimit_window();
    // An unverifiable token is refused without I/O; the edge still counts the attempt.
    let claims = state.jwt.verify(&token).map_err(|_| invalid_refresh())?;
    let Some(uid) = claims.user_id() else {
        return Err(invalid_refresh());
    };
    let user_key = keys::user(uid);
    let fam_key = keys::family(uid, &claims.fam);
    let mut wanted = vec![user_key.clone(), fam_key.clone()];
    wanted.extend(window.clone());
    let mut found = state.store.batch_get(&wanted).await?;
    note_prior(window.and_then(|w| found.get(&w)))?;
    if claims.token_type != TokenType::Refresh {
        return Err(ApiError::unauthorized(
            "invalid_token_type",
            "Invalid token type",
        ));
    }
    context::set_user(uid);
    let family: TokenFamily = take(&mut found, &fam_key)?
        .ok_or_else(|| ApiError::unauthorized("token_revoked", "Invalid refresh token"))?;
    if family.revoked {
        return Err(ApiError::unauthorized(
            "token_revoked",
            "Invalid refresh token",
        ));
    }
    if family.current_jti != claims.jti {
        state.store.revoke_family(uid, &claims.fam).await?;
        return Err(token_reused());
    }
    let user: User = take(&mut found, &user_key)?
        .filter(|u: &User| u.is_active)
        .ok_or_else(|| ApiError::unauthorized("invalid_user", "User not found or inactive"))?;
    let (tokens, new_jti) = token_pair(&state, &user, &claims.fam);
    match state
        .store
        .rotate_family(uid, &claims.fam, &claims.jti, &new_jti)
        .await
    {
        Ok(()) => Ok(Json(tokens)),
        // Another request used this token first: that is reuse too.
        Err(StoreError::Condition(0)) => {
            state.store.revoke_family(uid, &claims.fam).await?;
            Err(token_reused())
        }
        Err(e) => Err(e.into()),
    }
}

/// The current user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserOut)))]
async fn me(Auth(p): Auth) -> Json<UserOut> {
    Json(UserOut::from(&p.user))
}

/// End the session: revokes the token family of the access token used.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Message, description = "The family of the access token used is revoked"),
        (status = 400, description = "not_a_session: Logout requires a session token (a personal access token was used)")))]
async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Message>> {
    let Credential::Session { family } = &caller.credential else {
        return Err(ApiError::bad_request(
            "not_a_session",
            "Logout requires a session token",
        ));
    };
    let p = caller.load(&state).await?;
    state.store.revoke_family(p.id(), family).await?;
    Ok(Json(Message {
        message: "Successfully logged out",
    }))
}

/// Create a personal access token (shown once).
#[utoipa::path(post, path = "/api/v1/auth/tokens", tag = "auth", security(("bearer" = [])), request_body = TokenCreate,
    responses((status = 201, body = PersonalAccessTokenCreated, description = "The only response that shows the token")))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<PersonalAccessTokenCreated>)> {
    let mut f = body.fields();
    let r = f.record(TOKEN_CREATE, true);
    f.finish()?;
    let name = text(&r, "name").unwrap_or_default();
    let days = r.get("expires_in_days").and_then(|v| v.as_i64());
    let p = caller.load(&state).await?;
    let token = generate_pat();
    let now = Timestamp::now();
    let mut pat = PersonalAccessToken {
        id: new_id(),
        user_id: p.id(),
        name,
        token_prefix: token_prefix(&token),
        token_hash: token_hash(&token),
        created_at: now,
        expires_at: days.map(|d| now.plus_secs(d * 86_400)),
        last_used_at: None,
        parent_id: None,
    };
    // A token made with a token never outlives it, and dies with it (revoke_pat).
    if let Some(parent) = &p.pat {
        pat.parent_id = Some(parent.id);
        pat.expires_at = match (pat.expires_at, parent.expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    for attempt in 0..3 {
        match state.store.create_pat(&pat).await {
            Ok(()) => {
                return Ok((
                    StatusCode::CREATED,
                    Json(PersonalAccessTokenCreated {
                        token_info: PersonalAccessTokenOut::from(&pat),
                        token,
                    }),
                ))
            }
            Err(StoreError::Condition(0)) if attempt < 2 => pat.id = new_id(),
            // The token used for this request was revoked meanwhile.
            Err(StoreError::Condition(2)) => {
                return Err(ApiError::unauthorized(
                    "token_revoked",
                    "Could not validate credentials",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not allocate a token id"))
}

/// The caller's unrevoked tokens, newest first.
#[utoipa::path(get, path = "/api/v1/auth/tokens", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<PersonalAccessTokenOut>, description = "Unrevoked, created_at desc")))]
async fn list_tokens(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<PersonalAccessTokenOut>>> {
    let mut pats = state.store.list_pats(p.id()).await?;
    pats.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(Json(
        pats.iter().map(PersonalAccessTokenOut::from).collect(),
    ))
}

/// Revoke a token at once.
#[utoipa::path(delete, path = "/api/v1/auth/tokens/{token_id}", tag = "auth", security(("bearer" = [])),
    params(("token_id" = i64, Path)),
    responses((status = 204, description = "Revoked at once, with the tokens made with it"), (status = 404, description = "token_not_found")))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    path: PathParams,
) -> ApiResult<StatusCode> {
    let id = path.id("token_id")?;
    let p = caller
        .load_with(&state, &[keys::pat(caller.user_id, id)])
        .await?;
    let (principal, mut found) = p;
    let pat: PersonalAccessToken = take(&mut found, &keys::pat(principal.id(), id))?
        .ok_or_else(|| ApiError::not_found("token", "Token", id))?;
    state.store.revoke_pat(&pat).await?;
    Ok(StatusCode::NO_CONTENT)
}
