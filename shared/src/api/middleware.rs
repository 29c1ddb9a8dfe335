//! The edge every request passes: request id, path normalization (trailing slash, PUT as
//! PATCH), CORS (preflights answered here), problem+json for routing failures, rate-limit
//! settlement and headers, security headers, `Server-Timing`, and one JSON access log line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, PROBLEM_JSON};
use super::AppState;
use crate::context::{self, ChargeState, RateCharge, RequestContext};
use crate::domain::Timestamp;
use crate::store::StoreError;

pub const REQUEST_ID: &str = "x-request-id";
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "accept",
    "accept-language",
    "content-language",
    "x-project-id",
    "x-request-id",
];
const EXPOSED_HEADERS: &str =
    "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Content-Disposition";
const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";
const CSP_CDN: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' https://cdn.jsdelivr.net; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// `/docs` and the HTML export load scripts and styles from the CDN (API.md §0.8).
fn uses_cdn(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == "/docs" || (path.starts_with("/api/v1/export/") && path.ends_with("/html"))
}

/// The client address: API Gateway's source IP on Lambda, the socket peer locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

fn client_ip(req: &Request) -> String {
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
        req.extensions()
            .get::<lambda_http::request::RequestContext>()
    {
        if let Some(ip) = &ctx.http.source_ip {
            return ip.clone();
        }
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// API Gateway's own request id, so our logs and its access logs share one id.
fn gateway_request_id(req: &Request) -> Option<String> {
    match req
        .extensions()
        .get::<lambda_http::request::RequestContext>()
    {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => {
            ctx.request_id.clone().filter(|id| valid_request_id(id))
        }
        _ => None,
    }
}

fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Strips one trailing slash (not from `/`) so both forms reach the same route.
fn normalize_uri(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match uri.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = pq.parse().ok();
        return Uri::from_parts(parts).ok();
    }
    None
}

/// Records the matched route template on the response (for the access log).
pub async fn record_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut res = next.run(req).await;
    if let Some(r) = route {
        res.extensions_mut().insert(r);
    }
    res
}

pub async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_string)
        .or_else(|| gateway_request_id(&req))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ctx = Arc::new(RequestContext::new(request_id.clone()));
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let origin_allowed = origin
        .as_deref()
        .is_some_and(|o| state.config.cors_origins.iter().any(|a| a == o));
    let ip = client_ip(&req);
    req.extensions_mut().insert(ClientIp(ip));
    if let Some(uri) = normalize_uri(req.uri()) {
        *req.uri_mut() = uri;
    }
    if req.method() == Method::PUT {
        *req.method_mut() = Method::PATCH;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let is_preflight = method == Method::OPTIONS
        && origin.is_some()
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);

    let run_ctx = ctx.clone();
    let config = state.config.clone();
    let mut res = context::scope(run_ctx, async {
        if is_preflight {
            return preflight(&req, origin_allowed, origin.as_deref().unwrap_or_default());
        }
        let res = next.run(req).await;
        let res = problem_for_routing(res);
        settle_rate_limit(&state, res).await
    })
    .await;

    let headers = res.headers_mut();
    set(headers, REQUEST_ID, &request_id);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-xss-protection", "1; mode=block");
    set(
        headers,
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    );
    set(
        headers,
        "content-security-policy",
        if uses_cdn(&path) { CSP_CDN } else { CSP },
    );
    set(
        headers,
        "referrer-policy",
        "strict-origin-when-cross-origin",
    );
    set(
        headers,
        "permissions-policy",
        "geolocation=(), microphone=(), camera=(), payment=(), usb=(), magnetometer=(), gyroscope=(), accelerometer=()",
    );
    if let (true, Some(o)) = (origin_allowed, origin.as_deref()) {
        set(headers, "access-control-allow-origin", o);
        set(headers, "access-control-allow-credentials", "true");
        set(headers, "access-control-expose-headers", EXPOSED_HEADERS);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    let (calls, aws_time) = ctx.aws_calls();
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    if config.server_timing {
        set(
            headers,
            "server-timing",
            &format!(
                "aws;desc=\"{calls} calls\";dur={:.1}, total;dur={total_ms:.1}",
                aws_time.as_secs_f64() * 1000.0
            ),
        );
    }
    let route = res
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let status = res.status().as_u16();
    tracing::info!(
        target: "access",
        request_id = %request_id,
        method = %method,
        route = %route,
        path = %path,
        status,
        duration_ms = (total_ms * 10.0).round() / 10.0,
        aws_calls = calls,
        user_id = ctx.user_id(),
        project_id = ctx.project_id(),
        "request"
    );
    res
}

fn set(headers: &mut axum::http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Answers a CORS preflight: 204 with the CORS grant, or 400 cors_rejected.
fn preflight(req: &Request, origin_allowed: bool, origin: &str) -> Response {
    let method_ok = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| {
            ALLOWED_METHODS
                .split(", ")
                .any(|a| a.eq_ignore_ascii_case(m.trim()))
        });
    let requested: Vec<String> = req
        .headers()
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let rejected_header = requested
        .iter()
        .find(|h| !ALLOWED_HEADERS.contains(&h.as_str()));
    if !origin_allowed {
        return ApiError::bad_request("cors_rejected", format!("Origin '{origin}' is not allowed"))
            .into_response();
    }
    if !method_ok {
        return ApiError::bad_request("cors_rejected", "Requested method is not allowed")
            .into_response();
    }
    if let Some(h) = rejected_header {
        return ApiError::bad_request(
            "cors_rejected",
            format!("Request header '{h}' is not allowed"),
        )
        .into_response();
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    set(h, "access-control-allow-methods", ALLOWED_METHODS);
    set(
        h,
        "access-control-allow-headers",
        "Authorization, Content-Type, Accept, Accept-Language, Content-Language, X-Project-ID, X-Request-ID",
    );
    set(h, "access-control-max-age", "600");
    res
}

/// Routing failures produced by axum itself (unknown path, wrong method) become problems.
fn problem_for_routing(res: Response) -> Response {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return res;
    }
    match res.status() {
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut allow: Vec<String> = res
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            if allow.iter().any(|m| m == "PATCH") && !allow.iter().any(|m| m == "PUT") {
                allow.push("PUT".into());
            }
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method Not Allowed",
            )
            .with_header(header::ALLOW, allow.join(", "))
            .into_response()
        }
        StatusCode::NOT_FOUND => ApiError::route_not_found().into_response(),
        _ => res,
    }
}

/// Applies a charge the request's writes did not carry, turns an exceeded window into 429,
/// and adds the RateLimit headers.
async fn settle_rate_limit(state: &AppState, mut res: Response) -> Response {
    let Some(charge) = context::current().and_then(|c| c.rate_charge()) else {
        return res;
    };
    let count = match charge.state {
        ChargeState::Applied { count } => count,
        ChargeState::Exceeded => return too_many(&charge),
        ChargeState::Pending => match state.store.apply_rate_charge(&charge).await {
            Ok(count) => Some(count),
            Err(StoreError::RateLimited) => return too_many(&charge),
            Err(e) => {
                // Fail open: a broken counter must not take the API down.
                tracing::warn!(error = %e, "rate limit counter unavailable");
                None
            }
        },
    };
    if res
        .extensions()
        .get::<super::error::OwnRateLimit>()
        .is_some()
    {
        return too_many(&charge);
    }
    let remaining = count.map(|c| charge.limit.saturating_sub(c));
    rate_headers(res.headers_mut(), &charge, remaining);
    res
}

fn rate_headers(h: &mut axum::http::HeaderMap, charge: &RateCharge, remaining: Option<u32>) {
    let reset = (charge.reset_at - Timestamp::now().unix()).max(0);
    set(h, "ratelimit-limit", &charge.limit.to_string());
    if let Some(r) = remaining {
        set(h, "ratelimit-remaining", &r.to_string());
    }
    set(h, "ratelimit-reset", &reset.to_string());
}

fn too_many(charge: &RateCharge) -> Response {
    let reset = (charge.reset_at - Timestamp::now().unix()).max(1);
    let mut res = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "Rate limit exceeded: {} per 1 {}",
            charge.limit, charge.unit
        ),
    )
    .with_header(header::RETRY_AFTER, reset.to_string())
    .into_response();
    rate_headers(res.headers_mut(), charge, Some(0));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_is_trimmed_keeping_the_query() {
        let u: Uri = "/api/v1/projects/?skip=1".parse().unwrap();
        assert_eq!(normalize_uri(&u).unwrap(), "/api/v1/projects?skip=1");
        assert!(normalize_uri(&"/".parse().unwrap()).is_none());
        assert!(normalize_uri(&"/health".parse().unwrap()).is_none());
    }

    #[test]
    fn request_ids() {
        assert!(valid_request_id("abc-123_x.y"));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id(&"a".repeat(129)));
    }
}
