//! Fixed-window rate limits counted in DynamoDB (API.md §0.7). A window is one item
//! `RATE#<bucket>#<subject>#<window start>` with a counter and a TTL; the increment is
//! conditional on the counter being below the limit, so the limit holds under concurrency.

use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem};

use super::{attr_n, classify, keys, n, tx, Key, Store, StoreError};
use crate::context::{ChargeState, RateCharge};

/// A limit: `limit` requests per `window_secs` for one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub name: &'static str,
    pub limit: u32,
    pub window_secs: i64,
}

impl Bucket {
    pub const fn per_minute(name: &'static str, limit: u32) -> Self {
        Self {
            name,
            limit,
            window_secs: 60,
        }
    }
    pub const fn per_hour(name: &'static str, limit: u32) -> Self {
        Self {
            name,
            limit,
            window_secs: 3600,
        }
    }

    /// The charge of one request by `subject` at `now` (Unix seconds).
    pub fn charge(&self, subject: &str, now: i64) -> RateCharge {
        let start = now - now.rem_euclid(self.window_secs);
        RateCharge {
            pk: keys::rate_window(self.name, subject, start),
            limit: self.limit,
            unit: if self.window_secs >= 3600 {
                "hour"
            } else {
                "minute"
            },
            reset_at: start + self.window_secs,
            prior: None,
            state: ChargeState::Pending,
        }
    }
}

pub const REGISTER: Bucket = Bucket::per_hour("register", 5);
pub const LOGIN: Bucket = Bucket::per_minute("login", 10);
pub const REFRESH: Bucket = Bucket::per_minute("refresh", 20);
/// `POST /export/batch` and `POST /batch/export` share one per-user bucket (API.md §0.7).
pub const EXPORT: Bucket = Bucket::per_minute("export", 5);
/// `GET /export/{id}/<format>`: one bucket for the five formats, per user.
pub const EXPORT_DOWNLOAD: Bucket = Bucket::per_minute("export-download", 10);
/// WebSocket `$connect` (job progress): per user, refused ones counted too. A client that
/// follows a few jobs, or reconnects after drops, stays far below; a reconnect loop does not.
pub const WS_CONNECT: Bucket = Bucket::per_minute("ws-connect", 60);

pub fn window_key(charge: &RateCharge) -> Key {
    Key::new(charge.pk.clone(), "RATE")
}

/// The counter stored in a window item.
pub fn count_of(item: &super::Item) -> u32 {
    attr_n(item, "count").unwrap_or(0).max(0) as u32
}

fn expression() -> &'static str {
    "ADD #c :one SET expires_at = :exp"
}
fn condition() -> &'static str {
    "attribute_not_exists(#c) OR #c < :limit"
}

/// The increment as an item of a write transaction.
pub fn charge_item(table: &str, charge: &RateCharge) -> TransactWriteItem {
    tx::update(&window_key(charge), expression())
        .condition(condition())
        .name("#c", "count")
        .value(":one", n(1))
        .value(":limit", n(charge.limit))
        .value(":exp", n(charge.reset_at + 60))
        .build(table)
}

impl Store {
    /// Applies a charge on its own (requests that wrote nothing). Returns the new count, or
    /// `RateLimited` when the window is full.
    pub async fn apply_rate_charge(&self, charge: &RateCharge) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(window_key(charge).to_item()))
            .update_expression(expression())
            .condition_expression(condition())
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(charge.limit))
            .expression_attribute_values(":exp", n(charge.reset_at + 60))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .attributes
                .as_ref()
                .map(super::ratelimit::count_of)
                .unwrap_or(1)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::RateLimited)
            }
            Err(e) => Err(classify(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_aligned() {
        let c = LOGIN.charge("1.2.3.4", 1_000_000_030);
        assert_eq!(c.reset_at, 1_000_000_020 + 60);
        assert!(c.pk.ends_with("#1000000020"));
        assert_eq!(c.unit, "minute");
        let h = REGISTER.charge("1.2.3.4", 7205);
        assert_eq!(h.reset_at, 10800);
        assert_eq!(h.unit, "hour");
    }
}
