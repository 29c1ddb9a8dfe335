//! Authentication (API.md §0.2): the `Caller` extractor verifies the bearer credential without
//! I/O where it can (JWT) and defers the database checks (user active, family not revoked,
//! PAT not revoked) to one batch read that also fetches whatever the route needs next
//! (project, membership, rate window) — so an authenticated item read costs one AWS call.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::context;
use crate::domain::auth::{is_pat, token_hash, TokenError, TokenType};
use crate::domain::user::{PersonalAccessToken, TokenFamily, User};
use crate::domain::{Id, Timestamp};
use crate::store::ratelimit::{window_key, Bucket};
use crate::store::{keys, take, Item, Key};

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// An access JWT of a login session (token family).
    Session { family: String },
    /// A personal access token.
    Pat { token_id: Id },
}

/// A verified bearer credential whose database checks are still to be made.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Id,
    pub credential: Credential,
    /// POST/PUT/PATCH/DELETE: counted against the per-user write limit.
    pub counts_as_write: bool,
    /// The route's own per-user bucket (exports), instead of the write limit.
    pub bucket: Option<Bucket>,
}

/// An authenticated, active user.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub credential: Credential,
    /// The personal access token the caller used, if any.
    pub pat: Option<PersonalAccessToken>,
}

impl Principal {
    pub fn id(&self) -> Id {
        self.user.id
    }
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized("invalid_token", "Could not validate credentials")
}

/// The per-user bucket for authenticated writes.
pub fn write_bucket(state: &AppState) -> Bucket {
    Bucket::per_minute("write", state.config.rate_limit_per_minute)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("not_authenticated", "Not authenticated"))?;
        let raw = raw.to_str().map_err(|_| {
            ApiError::unauthorized(
                "invalid_authorization",
                "Invalid authentication credentials",
            )
        })?;
        let (scheme, token) = raw.trim().split_once(' ').unwrap_or((raw.trim(), ""));
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(ApiError::unauthorized(
                "invalid_authorization",
                "Invalid authentication credentials",
            ));
        }
        // Logout and token revocation are never refused for a full write window.
        // Routes with a bucket of their own (exports) count every method.
        let counts_as_write = (matches!(
            parts.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) || parts
            .extensions
            .get::<super::ratelimit::UserBucket>()
            .is_some())
            && parts
                .extensions
                .get::<super::ratelimit::Unmetered>()
                .is_none();
        let mut caller = Caller::from_token(state, token, counts_as_write).await?;
        caller.bucket = parts
            .extensions
            .get::<super::ratelimit::UserBucket>()
            .map(|b| b.0);
        context::set_user(caller.user_id);
        // Registered now, before any validation: a request refused with 4xx counts too
        // (API.md §0.7); the edge middleware applies it if no write carried it.
        if let Some(c) = caller.charge(state) {
            context::set_rate_charge(c);
        }
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl Caller {
    /// Verifies a bearer token (an access JWT, or a personal access token: one lookup read).
    pub async fn from_token(
        state: &AppState,
        token: &str,
        counts_as_write: bool,
    ) -> ApiResult<Caller> {
        Ok(if is_pat(token) {
            let lookup = state
                .store
                .pat_lookup(&token_hash(token))
                .await?
                .ok_or_else(invalid_token)?;
            if lookup
                .expires_at
                .is_some_and(|e| e <= Timestamp::now().unix())
            {
                return Err(invalid_token());
            }
            Caller {
                user_id: lookup.user_id,
                credential: Credential::Pat {
                    token_id: lookup.token_id,
                },
                counts_as_write,
                bucket: None,
            }
        } else {
            let claims = state.jwt.verify(token).map_err(|e| match e {
                TokenError::Expired => {
                    ApiError::unauthorized("token_expired", "Could not validate credentials")
                }
                TokenError::Invalid => invalid_token(),
            })?;
            if claims.token_type != TokenType::Access {
                return Err(ApiError::unauthorized(
                    "invalid_token_type",
                    "Invalid token type",
                ));
            }
            Caller {
                user_id: claims.user_id().ok_or_else(invalid_token)?,
                credential: Credential::Session { family: claims.fam },
                counts_as_write,
                bucket: None,
            }
        })
    }

    /// This request's per-user charge (writes only): the route's bucket or the write limit.
    fn charge(&self, state: &AppState) -> Option<crate::context::RateCharge> {
        self.counts_as_write.then(|| {
            self.bucket
                .unwrap_or_else(|| write_bucket(state))
                .charge(&self.user_id.to_string(), Timestamp::now().unix())
        })
    }

    fn credential_key(&self) -> Key {
        match &self.credential {
            Credential::Session { family } => keys::family(self.user_id, family),
            Credential::Pat { token_id } => keys::pat(self.user_id, *token_id),
        }
    }

    /// Checks the credential against the database, reading `extra` keys in the same call.
    /// Registers the per-user write charge (with its current count) for writes.
    pub async fn load_with(
        &self,
        state: &AppState,
        extra: &[Key],
    ) -> ApiResult<(Principal, HashMap<Key, Item>)> {
        let user_key = keys::user(self.user_id);
        let cred_key = self.credential_key();
        // The charge the extractor registered (same window), else this request's own.
        let charge = context::current()
            .and_then(|c| c.rate_charge())
            .or_else(|| self.charge(state));
        let mut wanted = vec![user_key.clone(), cred_key.clone()];
        if let Some(c) = &charge {
            wanted.push(window_key(c));
        }
        wanted.extend_from_slice(extra);
        let mut found = state.store.batch_get(&wanted).await?;

        let user: User = take(&mut found, &user_key)?.ok_or_else(invalid_token)?;
        let mut used_pat = None;
        match &self.credential {
            Credential::Session { .. } => {
                let fam: TokenFamily = take(&mut found, &cred_key)?.ok_or_else(|| {
                    ApiError::unauthorized("token_revoked", "Could not validate credentials")
                })?;
                if fam.revoked {
                    return Err(ApiError::unauthorized(
                        "token_revoked",
                        "Could not validate credentials",
                    ));
                }
            }
            Credential::Pat { token_id } => {
                let pat: PersonalAccessToken =
                    take(&mut found, &cred_key)?.ok_or_else(invalid_token)?;
                let stale = pat
                    .last_used_at
                    .is_none_or(|t| t.unix() + 60 <= Timestamp::now().unix());
                if stale {
                    // Best effort: a failed bookkeeping write must not fail the request.
                    if let Err(e) = state.store.touch_pat(self.user_id, *token_id).await {
                        tracing::warn!(error = %e, "could not record token use");
                    }
                }
                used_pat = Some(pat);
            }
        }
        if !user.is_active {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "inactive_user",
                "Inactive user",
            ));
        }
        if let Some(c) = charge {
            context::set_rate_charge(c.clone());
            // A full window refuses the request before it does anything (API.md §0.7).
            super::ratelimit::note_prior(found.remove(&window_key(&c)).as_ref())?;
        }
        Ok((
            Principal {
                user,
                credential: self.credential.clone(),
                pat: used_pat,
            },
            found,
        ))
    }

    pub async fn load(&self, state: &AppState) -> ApiResult<Principal> {
        Ok(self.load_with(state, &[]).await?.0)
    }
}

/// An authenticated, active user (one batch read).
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Auth(caller.load(state).await?))
    }
}
