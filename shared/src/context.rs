//! The per-request context: request id, who is calling, the AWS calls the request made
//! (for `Server-Timing`), and the pending rate-limit charge that the first write
//! transaction carries (API.md §0.7).
//!
//! It lives in a task-local set by the HTTP middleware, so the SDK interceptor and the store
//! reach it without threading it through every signature.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::Id;

tokio::task_local! {
    static CTX: Arc<RequestContext>;
}

#[derive(Debug, Default)]
pub struct RequestContext {
    pub request_id: String,
    aws_calls: AtomicU32,
    aws_micros: AtomicU64,
    user_id: Mutex<Option<Id>>,
    project_id: Mutex<Option<Id>>,
    rate: Mutex<Option<RateCharge>>,
}

/// One request's increment of a fixed-window counter.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCharge {
    /// Partition key of the window item (bucket, subject and window start).
    pub pk: String,
    pub limit: u32,
    /// `minute` or `hour`, for the 429 detail.
    pub unit: &'static str,
    /// Unix seconds when the window ends.
    pub reset_at: i64,
    /// Count before this request, when the request read it along with something else.
    pub prior: Option<u32>,
    pub state: ChargeState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeState {
    /// Not written yet: the next write transaction carries it, else the middleware applies it.
    Pending,
    /// Written; `count` is the counter after this request when known.
    Applied { count: Option<u32> },
    /// The window was already full.
    Exceeded,
}

impl RequestContext {
    pub fn new(request_id: String) -> Self {
        Self {
            request_id,
            ..Default::default()
        }
    }

    pub fn aws_calls(&self) -> (u32, Duration) {
        (
            self.aws_calls.load(Ordering::Relaxed),
            Duration::from_micros(self.aws_micros.load(Ordering::Relaxed)),
        )
    }

    pub fn user_id(&self) -> Option<Id> {
        *self.user_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn project_id(&self) -> Option<Id> {
        *self.project_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn rate_charge(&self) -> Option<RateCharge> {
        self.rate.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `fut` with `ctx` as the current request context.
pub async fn scope<F: std::future::Future>(ctx: Arc<RequestContext>, fut: F) -> F::Output {
    CTX.scope(ctx, fut).await
}

pub fn current() -> Option<Arc<RequestContext>> {
    CTX.try_with(Arc::clone).ok()
}

pub fn request_id() -> Option<String> {
    CTX.try_with(|c| c.request_id.clone()).ok()
}

/// Called by the SDK interceptor after every AWS operation.
pub fn record_aws_call(elapsed: Duration) {
    let _ = CTX.try_with(|c| {
        c.aws_calls.fetch_add(1, Ordering::Relaxed);
        c.aws_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    });
}

pub fn set_user(id: Id) {
    let _ = CTX.try_with(|c| *c.user_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id));
}

pub fn set_project(id: Id) {
    let _ = CTX.try_with(|c| *c.project_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id));
}

/// Registers the rate charge of this request (replacing none that exists).
pub fn set_rate_charge(charge: RateCharge) {
    let _ = CTX.try_with(|c| {
        let mut slot = c.rate.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(charge);
        }
    });
}

/// The charge a write transaction should carry, if one is still pending.
pub fn pending_rate_charge() -> Option<RateCharge> {
    CTX.try_with(|c| c.rate_charge())
        .ok()
        .flatten()
        .filter(|r| r.state == ChargeState::Pending)
}

/// Records the counter value read before this request's increment.
pub fn set_rate_prior(prior: u32) {
    let _ = CTX.try_with(|c| {
        if let Some(r) = c.rate.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            r.prior = Some(prior);
        }
    });
}

pub fn settle_rate_charge(state: ChargeState) {
    let _ = CTX.try_with(|c| {
        if let Some(r) = c.rate.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            r.state = state;
        }
    });
}
