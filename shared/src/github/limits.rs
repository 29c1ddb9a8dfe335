//! API.md §12: a token's GitHub rate limits (`GET /rate_limit`, which costs no points and is
//! asked even while the token is known to be out of them), in our shapes.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Call, GitHub, GitHubError, Token};
use crate::domain::Timestamp;

/// The resources §12 reports, in order.
pub const RESOURCES: [&str; 3] = ["core", "search", "graphql"];

/// `part / whole × 100`, two decimals (0 when `whole` is 0: an anonymous token has no GraphQL
/// points at all).
pub fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    (part as f64 / whole as f64 * 10_000.0).round() / 100.0
}

/// One resource's window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ResourceLimit {
    pub limit: i64,
    pub remaining: i64,
    /// When the window resets.
    #[schema(value_type = String, format = DateTime)]
    pub reset: Timestamp,
    pub used: i64,
    /// used / limit × 100, two decimals.
    pub percentage_used: f64,
}

impl ResourceLimit {
    fn from_github(name: &str, r: &Value) -> Result<Self, GitHubError> {
        let num = |field: &str| {
            r.get(field).and_then(Value::as_i64).ok_or_else(|| {
                GitHubError::Upstream(format!("GitHub's rate limit for {name} has no {field}"))
            })
        };
        let (limit, remaining, reset) = (num("limit")?, num("remaining")?, num("reset")?);
        let used = r
            .get("used")
            .and_then(Value::as_i64)
            .unwrap_or(limit.saturating_sub(remaining));
        Ok(Self {
            limit,
            remaining,
            reset: Timestamp::from_unix(reset),
            used,
            percentage_used: percent(used, limit),
        })
    }
}

/// The three windows §12 reports.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RateLimits {
    pub core: ResourceLimit,
    pub search: ResourceLimit,
    pub graphql: ResourceLimit,
}

impl RateLimits {
    /// From GitHub's `GET /rate_limit` answer (`resources.<name>`).
    pub fn from_github(body: &Value) -> Result<Self, GitHubError> {
        let resource = |name: &str| {
            body.get("resources")
                .and_then(|r| r.get(name))
                .ok_or_else(|| {
                    GitHubError::Upstream(format!("GitHub's rate limits lack the {name} resource"))
                })
                .and_then(|r| ResourceLimit::from_github(name, r))
        };
        Ok(Self {
            core: resource("core")?,
            search: resource("search")?,
            graphql: resource("graphql")?,
        })
    }

    /// The windows as (resource name, window), in `RESOURCES` order.
    pub fn each(&self) -> [(&'static str, &ResourceLimit); 3] {
        [
            ("core", &self.core),
            ("search", &self.search),
            ("graphql", &self.graphql),
        ]
    }
}

/// GET `/rate_limit` for `token` (one request, free of points).
pub async fn rate_limits(github: &GitHub, token: &Token) -> Result<RateLimits, GitHubError> {
    let reply = github.send(Call::get("/rate_limit").free(), token).await?;
    RateLimits::from_github(&reply.body)
}

/// GET `/rate-limits/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RateLimitStatus {
    /// Always `success`.
    pub status: String,
    pub rate_limits: RateLimits,
}

/// GET `/rate-limits/health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RateLimitHealth {
    /// More than 100 core requests remain.
    pub healthy: bool,
    pub core_remaining: i64,
    pub core_limit: i64,
    /// remaining / limit × 100, two decimals.
    pub percentage_available: f64,
    /// When the core window resets.
    #[schema(value_type = String, format = DateTime)]
    pub reset_at: Timestamp,
}

/// Healthy while more than this many core requests remain (API.md §12).
pub const HEALTHY_ABOVE: i64 = 100;

impl From<&RateLimits> for RateLimitHealth {
    fn from(l: &RateLimits) -> Self {
        Self {
            healthy: l.core.remaining > HEALTHY_ABOVE,
            core_remaining: l.core.remaining,
            core_limit: l.core.limit,
            percentage_available: percent(l.core.remaining, l.core.limit),
            reset_at: l.core.reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percentages_have_two_decimals() {
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(4999, 5000), 99.98);
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(5000, 5000), 100.0);
    }

    #[test]
    fn github_answers_become_windows() {
        let body = json!({"resources": {
            "core": {"limit": 5000, "remaining": 4990, "reset": 1_700_000_000, "used": 10},
            "search": {"limit": 30, "remaining": 30, "reset": 1_700_000_000},
            "graphql": {"limit": 0, "remaining": 0, "reset": 1_700_000_000, "used": 0}}});
        let l = RateLimits::from_github(&body).unwrap();
        assert_eq!(l.core.percentage_used, 0.2);
        assert_eq!(l.search.used, 0);
        assert_eq!(l.graphql.percentage_used, 0.0);
        assert_eq!(l.core.reset.to_rfc3339(), "2023-11-14T22:13:20.000Z");
        let h = RateLimitHealth::from(&l);
        assert!(h.healthy);
        assert_eq!(h.percentage_available, 99.8);
        assert!(RateLimits::from_github(&json!({"resources": {}})).is_err());
        // Whatever numbers GitHub (or a fake) sends, nothing overflows.
        let odd = json!({"resources": {
            "core": {"limit": i64::MAX, "remaining": -1, "reset": i64::MIN},
            "search": {"limit": -5, "remaining": i64::MIN, "reset": i64::MAX},
            "graphql": {"limit": 0, "remaining": 0, "reset": 0}}});
        let l = RateLimits::from_github(&odd).unwrap();
        assert_eq!(l.core.used, i64::MAX);
        assert_eq!(l.search.percentage_used, 0.0);
    }
}
