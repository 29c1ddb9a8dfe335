//! Rate-limit glue for routes (API.md §0.7). The per-user write charge is registered by the
//! `Caller` extractor; client-IP buckets (register, login, refresh) by `ip_limited`, a route
//! layer that runs before any validation, so malformed requests count too. Handlers read the
//! window along with their first read (`window_key`) and refuse a full window before doing
//! any work (`note_prior`); the write transaction or the edge middleware settles the charge.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use super::error::{ApiError, ApiResult};
use super::middleware::ClientIp;
use crate::context::{self, ChargeState};
use crate::domain::Timestamp;
use crate::store::ratelimit::{count_of, Bucket};
use crate::store::{Item, Key};

/// Route layer: charges the client address against `bucket`.
pub fn ip_limited(
    bucket: Bucket,
) -> impl Fn(Request, Next) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>
       + Clone
       + Send
       + Sync
       + 'static {
    move |req: Request, next: Next| {
        Box::pin(async move {
            let ip = req
                .extensions()
                .get::<ClientIp>()
                .map(|c| c.0.clone())
                .unwrap_or_else(|| "unknown".into());
            context::set_rate_charge(bucket.charge(&ip, Timestamp::now().unix()));
            next.run(req).await
        })
    }
}

/// Which per-user bucket a route's authenticated requests are charged to, instead of the
/// general write bucket: `route_layer(Extension(UserBucket(EXPORT)))`.
#[derive(Debug, Clone, Copy)]
pub struct UserBucket(pub Bucket);

/// Marks a route whose authenticated requests are not counted against the write limit
/// (logout, token revocation: a user can always end a session or revoke a credential).
#[derive(Debug, Clone, Copy)]
pub struct Unmetered;

/// Applies this request's pending charge now, before a side effect outside DynamoDB (an S3
/// upload, an SQS send) that a later 429 could not undo: one UpdateItem. The write that
/// follows then carries no charge.
pub async fn charge_now(state: &super::AppState) -> ApiResult<()> {
    let Some(charge) = context::pending_rate_charge() else {
        return Ok(());
    };
    match state.store.apply_rate_charge(&charge).await {
        Ok(count) => {
            context::settle_rate_charge(ChargeState::Applied { count: Some(count) });
            Ok(())
        }
        Err(crate::store::StoreError::RateLimited) => {
            context::settle_rate_charge(ChargeState::Exceeded);
            Err(ApiError::rate_limited())
        }
        Err(e) => Err(e.into()),
    }
}

/// The window item of this request's charge, to read along with the handler's first read.
pub fn window_key() -> Option<Key> {
    context::current()
        .and_then(|c| c.rate_charge())
        .map(|c| crate::store::ratelimit::window_key(&c))
}

/// Records the window's count read before this request; a full window is refused at once.
pub fn note_prior(window: Option<&Item>) -> ApiResult<()> {
    let Some(ctx) = context::current() else {
        return Ok(());
    };
    let Some(charge) = ctx.rate_charge() else {
        return Ok(());
    };
    let prior = window.map(count_of).unwrap_or(0);
    context::set_rate_prior(prior);
    if prior >= charge.limit {
        context::settle_rate_charge(ChargeState::Exceeded);
        return Err(ApiError::rate_limited());
    }
    Ok(())
}
