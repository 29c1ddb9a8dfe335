//! Webhook deliveries as pure rules (API.md §10.1, §10.2): Standard Webhooks signing,
//! `X-Hub-Signature-256` (outbound and inbound, constant-time), the retry back-off and how an
//! attempt's answer is classified. No I/O: the sender (jobs) and the inbound function use these.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The longest a retry waits (24 h).
pub const MAX_RETRY_DELAY_SECS: u64 = 86_400;
/// How much of a receiver's answer an error message keeps.
pub const ERROR_BODY_CHARS: usize = 500;

/// The HMAC key of a secret: a `whsec_` secret's base64-decoded rest, else its UTF-8 bytes.
pub fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|rest| B64.decode(rest).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut m = mac(&signing_key(secret));
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("v1,{}", B64.encode(m.finalize().into_bytes()))
}

/// `X-Hub-Signature-256` of an outbound delivery: `sha256=<hex HMAC-SHA256(secret UTF-8, body)>`.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    let mut m = mac(secret.as_bytes());
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Why an inbound signature is refused (401 invalid_signature, API.md §10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    BadFormat,
    Invalid,
}

impl SignatureError {
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => "X-Hub-Signature-256 header is missing",
            Self::BadFormat => "Invalid signature format",
            Self::Invalid => "Invalid webhook signature",
        }
    }
}

/// Checks `sha256=<hex>` against every candidate key, each comparison constant-time; returns
/// the index of the key that signed.
pub fn verify_hub_signature(
    header: Option<&str>,
    keys: &[&[u8]],
    body: &[u8],
) -> Result<usize, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let digest = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|d| d.len() == 32)
        .ok_or(SignatureError::BadFormat)?;
    let mut found = None;
    for (i, key) in keys.iter().enumerate() {
        let mut m = mac(key);
        m.update(body);
        // Every key is tried, so the time taken does not tell which one matched.
        if m.verify_slice(&digest).is_ok() && found.is_none() {
            found = Some(i);
        }
    }
    found.ok_or(SignatureError::Invalid)
}

/// The wait before retry `n` (1-based): `retry_delay_seconds · 2^(n−1) · jitter` (jitter in
/// [0.8, 1.2]), capped at 24 h; a larger Retry-After wins (also capped).
pub fn retry_delay_secs(
    retry_delay_seconds: u64,
    n: u32,
    jitter: f64,
    retry_after: Option<u64>,
) -> u64 {
    let factor = 2f64.powi(n.saturating_sub(1).min(30) as i32);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.8, 1.2)
    } else {
        1.0
    };
    let backoff = (retry_delay_seconds as f64 * factor * jitter).round();
    let backoff = if backoff.is_finite() && backoff >= 0.0 {
        (backoff as u64).min(MAX_RETRY_DELAY_SECS)
    } else {
        MAX_RETRY_DELAY_SECS
    };
    backoff
        .max(retry_after.unwrap_or(0))
        .min(MAX_RETRY_DELAY_SECS)
}

/// What an attempt's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx.
    Delivered,
    /// 410: the endpoint is gone; the configuration is disabled.
    Gone,
    /// Worth retrying: the error message, and the receiver's Retry-After on 429/503.
    Failed {
        error: String,
        retry_after: Option<u64>,
    },
}

/// Classifies an HTTP answer (status, Retry-After header, body).
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        410 => Answer::Gone,
        _ => Answer::Failed {
            error: format!(
                "HTTP {status}: {}",
                body.chars().take(ERROR_BODY_CHARS).collect::<String>()
            ),
            retry_after: if status == 429 || status == 503 {
                retry_after.and_then(|v| v.trim().parse::<u64>().ok())
            } else {
                None
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vector() {
        // From the Standard Webhooks specification's reference implementations.
        let sig = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_without_the_prefix_signs_with_its_bytes() {
        assert_eq!(
            signing_key("plain-secret-0123"),
            b"plain-secret-0123".to_vec()
        );
        assert_eq!(signing_key("whsec_%%%"), b"whsec_%%%".to_vec());
    }

    #[test]
    fn hub_signatures_round_trip_against_any_candidate_key() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let header = hub_signature("second-key-0123456", body);
        let keys: [&[u8]; 2] = [b"first-key-01234567", b"second-key-0123456"];
        assert_eq!(verify_hub_signature(Some(&header), &keys, body), Ok(1));
        assert_eq!(
            verify_hub_signature(Some(&header), &keys[..1], body),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_hub_signature(None, &keys, body),
            Err(SignatureError::Missing)
        );
        for bad in ["sha1=abc", "sha256=zz", "sha256=abcd", ""] {
            assert_eq!(
                verify_hub_signature(Some(bad), &keys, body),
                Err(SignatureError::BadFormat),
                "{bad}"
            );
        }
        let tampered = br#"{"zen":"Keep it logically awesome!"}"#;
        assert_eq!(
            verify_hub_signature(Some(&header), &keys, tampered),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn back_off_doubles_with_jitter_and_caps() {
        assert_eq!(retry_delay_secs(300, 1, 1.0, None), 300);
        assert_eq!(retry_delay_secs(300, 2, 1.0, None), 600);
        assert_eq!(retry_delay_secs(300, 3, 0.8, None), 960);
        assert_eq!(retry_delay_secs(300, 3, 1.2, None), 1440);
        assert_eq!(retry_delay_secs(3600, 10, 1.2, None), MAX_RETRY_DELAY_SECS);
        assert_eq!(retry_delay_secs(1, 1, 9.0, None), 1, "jitter is clamped");
        assert_eq!(retry_delay_secs(1, 1, f64::NAN, None), 1);
        assert_eq!(
            retry_delay_secs(10, 1, 1.0, Some(120)),
            120,
            "a larger Retry-After wins"
        );
        assert_eq!(retry_delay_secs(600, 1, 1.0, Some(120)), 600);
        assert_eq!(
            retry_delay_secs(10, 1, 1.0, Some(u64::MAX)),
            MAX_RETRY_DELAY_SECS
        );
        assert_eq!(
            retry_delay_secs(3600, u32::MAX, 1.2, None),
            MAX_RETRY_DELAY_SECS
        );
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(204, None, ""), Answer::Delivered);
        assert_eq!(classify(410, None, "gone"), Answer::Gone);
        assert_eq!(
            classify(503, Some("90"), "busy"),
            Answer::Failed {
                error: "HTTP 503: busy".into(),
                retry_after: Some(90)
            }
        );
        assert_eq!(
            classify(500, Some("90"), &"é".repeat(600)),
            Answer::Failed {
                error: format!("HTTP 500: {}", "é".repeat(500)),
                retry_after: None
            }
        );
    }
}
