//! Configuration read once at start-up; a missing variable fails start-up with its name.

use std::env;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
}

/// Where the JWT signing key comes from.
#[derive(Debug, Clone)]
pub enum JwtKeySource {
    /// Secrets Manager secret ARN or name (cloud, and moto locally).
    SecretArn(String),
    /// The key itself (JWT_SECRET; at least 32 bytes).
    Inline(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub bucket_name: String,
    pub kms_key_id: String,
    pub jwt_key: JwtKeySource,
    pub cors_origins: Vec<String>,
    pub rate_limit_per_minute: u32,
    /// Adds `Server-Timing` (AWS call count and time) to responses.
    pub server_timing: bool,
    pub app_env: String,
    pub websocket_url: Option<String>,
    /// Where progress frames are posted (API Gateway Management API of the WebSocket API:
    /// `https://<api>.execute-api.<region>.amazonaws.com/<stage>`); absent: no pushes.
    pub websocket_management_url: Option<String>,
    /// Human-readable logs instead of JSON (local dev).
    pub pretty_logs: bool,
    /// Job queue URL per job type (QUEUE_URL_<JOB_TYPE>).
    pub queue_urls: std::collections::BTreeMap<String, String>,
    /// WEBHOOK_ALLOW_PRIVATE_TARGETS: lifts the §10.3 target rule (local development only).
    pub webhook_allow_private_targets: bool,
    /// DLQ_URL_WEBHOOK_DELIVERY: where exhausted deliveries' messages go.
    pub webhook_dlq_url: Option<String>,
    /// GITHUB_API_URL (API.md §0.9): where GitHub is reached (a fake in tests and local runs).
    pub github_api_url: String,
    /// GITHUB_TOKEN: the server's token, third in the §11 order.
    pub github_token: Option<String>,
    /// GITHUB_WEBHOOK_SECRET: the server's key for inbound GitHub deliveries (API.md §10.1),
    /// tried beside the secrets of the webhook configs bound to the repository.
    pub github_webhook_secret: Option<String>,
    /// REGISTRY_*_URL (API.md §0.9): where package registries are reached.
    pub registries: crate::registries::RegistryUrls,
}

pub const DEFAULT_CORS_ORIGINS: [&str; 2] = ["http://localhost:3000", "http://localhost:5173"];

/// CORS_ORIGINS as a JSON array or a comma-separated list.
pub fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    let raw = raw.trim();
    let list: Vec<String> = if raw.starts_with('[') {
        serde_json::from_str(raw).map_err(|e| e.to_string())?
    } else {
        raw.split(',').map(|s| s.trim().to_string()).collect()
    };
    Ok(list
        .into_iter()
        .map(|o| o.trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect())
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let optional = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| optional(name).ok_or(ConfigError::Missing(name));
        let flag = |name: &str| {
            optional(name).is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            })
        };
        let jwt_key = match (optional("JWT_SECRET_ARN"), optional("JWT_SECRET")) {
            (Some(arn), _) => JwtKeySource::SecretArn(arn),
            (None, Some(secret)) if secret.len() >= 32 => JwtKeySource::Inline(secret),
            (None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "JWT_SECRET",
                    "must be at least 32 characters".into(),
                ))
            }
            (None, None) => return Err(ConfigError::Missing("JWT_SECRET_ARN")),
        };
        let cors_origins = match optional("CORS_ORIGINS") {
            Some(raw) => {
                parse_origins(&raw).map_err(|e| ConfigError::Invalid("CORS_ORIGINS", e))?
            }
            None => DEFAULT_CORS_ORIGINS.iter().map(|s| s.to_string()).collect(),
        };
        let rate_limit_per_minute = match optional("RATE_LIMIT_PER_MINUTE") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid("RATE_LIMIT_PER_MINUTE", v))?,
            None => 600,
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            bucket_name: required("BUCKET_NAME")?,
            kms_key_id: required("KMS_KEY_ID")?,
            jwt_key,
            cors_origins,
            rate_limit_per_minute,
            server_timing: flag("SERVER_TIMING"),
            app_env: optional("APP_ENV").unwrap_or_else(|| "dev".into()),
            websocket_url: optional("WEBSOCKET_URL"),
            websocket_management_url: optional("WEBSOCKET_MANAGEMENT_URL"),
            pretty_logs: optional("LOG_FORMAT").is_some_and(|f| f == "pretty"),
            queue_urls: crate::queue::urls_from(&lookup),
            webhook_allow_private_targets: flag("WEBHOOK_ALLOW_PRIVATE_TARGETS"),
            webhook_dlq_url: optional("DLQ_URL_WEBHOOK_DELIVERY"),
            github_api_url: optional("GITHUB_API_URL")
                .unwrap_or_else(|| crate::github::DEFAULT_API_URL.into()),
            github_token: optional("GITHUB_TOKEN"),
            github_webhook_secret: optional("GITHUB_WEBHOOK_SECRET"),
            registries: crate::registries::RegistryUrls::from_lookup(&lookup),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let err =
            Config::from_lookup(|n| (n == "TABLE_NAME").then(|| "t".to_string())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required environment variable JWT_SECRET_ARN"
        );
        let err = Config::from_lookup(|n| match n {
            "JWT_SECRET" => Some("x".repeat(40)),
            "TABLE_NAME" => Some("t".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required environment variable BUCKET_NAME"
        );
    }

    #[test]
    fn origins_accept_json_or_commas() {
        assert_eq!(
            parse_origins(r#"["http://a.test","http://b.test/"]"#).unwrap(),
            vec!["http://a.test", "http://b.test"]
        );
        assert_eq!(
            parse_origins("http://a.test, http://b.test").unwrap(),
            vec!["http://a.test", "http://b.test"]
        );
        assert!(parse_origins("[oops").is_err());
    }
}
