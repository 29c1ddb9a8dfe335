//! `ApiError` → `application/problem+json` (API.md §0.5).

use std::borrow::Cow;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::context;
use crate::domain::validate::FieldError;
use crate::secrets::SecretsError;
use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error response, `application/problem+json` (API.md §0.5).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:commandcenter:problem:<code>`
    #[schema(pattern = "^urn:commandcenter:problem:[a-z_]+$")]
    pub r#type: String,
    /// The HTTP reason phrase.
    pub title: String,
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// Human-readable, always present.
    pub detail: String,
    /// Machine code (`validation_error`, `<kind>_not_found`, ...).
    #[schema(pattern = "^[a-z_]+$")]
    pub code: String,
    /// The response's X-Request-ID.
    pub request_id: String,
    /// 422 only: every failing field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub headers: Vec<(HeaderName, String)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Marks a response that is this API's own per-user 429 (`rate_limited`).
#[derive(Debug, Clone, Copy)]
pub struct OwnRateLimit;

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 422 listing every failing field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "Request validation failed",
        );
        e.errors = errors;
        e
    }

    /// 422 for one field.
    pub fn field(loc: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(loc, kind, msg)])
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(code: &'static str, detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
            .with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    /// `<kind>_not_found` / `<Label> <id> not found`.
    pub fn not_found(kind: &str, label: &str, id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("{kind}_not_found"),
            format!("{label} {id} not found"),
        )
    }

    pub fn project_not_found(id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "project_not_found",
            format!("Project with id {id} not found"),
        )
    }

    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not Found")
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            detail,
        )
        .with_header(header::RETRY_AFTER, "1")
    }

    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Rate limit exceeded",
        )
    }

    /// 500: the cause is logged with the request id, the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(
            request_id = context::request_id().unwrap_or_default(),
            error = %cause,
            "unexpected error"
        );
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An unexpected error occurred",
        )
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        Problem {
            r#type: format!("urn:commandcenter:problem:{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            request_id: context::request_id().unwrap_or_default(),
            errors: (self.status == StatusCode::UNPROCESSABLE_ENTITY).then(|| self.errors.clone()),
        }
    }

    /// The problem document as JSON.
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(self.problem()).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        if self.code == "rate_limited" {
            // Our own write limit (the edge answers it with the window's headers), as opposed
            // to an upstream's 429 (github_rate_limited) passed on.
            res.extensions_mut().insert(OwnRateLimit);
        }
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(name, v);
            }
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RateLimited => ApiError::rate_limited(),
            StoreError::ProjectGone(pid) => ApiError::project_not_found(pid),
            // DynamoDB's item limit is a validation rule: 422 naming the largest field.
            StoreError::TooLarge { field, size } => ApiError::field(
                &["body", &field],
                "value_error",
                format!(
                    "The record would take {size} bytes; at most {} are stored. This is its largest field: shorten it",
                    crate::store::ITEM_BUDGET
                ),
            ),
            StoreError::Unavailable(cause) => {
                tracing::warn!(
                    request_id = context::request_id().unwrap_or_default(),
                    error = %cause,
                    "DynamoDB unavailable"
                );
                ApiError::unavailable("The database is busy; retry shortly")
            }
            other => ApiError::internal(other),
        }
    }
}

/// API.md §11: GitHub's answers as problems.
impl From<crate::github::GitHubError> for ApiError {
    fn from(e: crate::github::GitHubError) -> Self {
        use crate::github::GitHubError as G;
        match e {
            G::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "github_not_found",
                "GitHub resource not found",
            ),
            G::TooLarge(max) => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("Repository archive exceeds {} MB", max >> 20),
            ),
            G::AuthFailed => Self::new(
                StatusCode::BAD_GATEWAY,
                "github_auth_failed",
                "GitHub rejected the token",
            ),
            G::RateLimited { retry_after } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "github_rate_limited",
                format!("GitHub rate limit exceeded; retry in {retry_after} s"),
            )
            .with_header(header::RETRY_AFTER, retry_after.to_string()),
            G::Validation(message) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "github_validation_failed",
                message,
            ),
            G::Conflict(cause) | G::Upstream(cause) => {
                tracing::warn!(
                    request_id = context::request_id().unwrap_or_default(),
                    error = %cause,
                    "GitHub request failed"
                );
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "github_error",
                    "GitHub request failed",
                )
            }
            G::Token(cause) => Self::internal(cause),
        }
    }
}

impl From<SecretsError> for ApiError {
    fn from(e: SecretsError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::blob::BlobError> for ApiError {
    fn from(e: crate::blob::BlobError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::queue::QueueError> for ApiError {
    fn from(e: crate::queue::QueueError) -> Self {
        ApiError::internal(e)
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::validation(errors)
    }
}
