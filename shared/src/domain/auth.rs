//! Credentials: argon2id passwords, HS256 JWTs (access / refresh with token families) and
//! personal access tokens (`cc_pat_` + 40 alphanumerics, stored as SHA-256).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

use super::Id;

pub const ISSUER: &str = "commandcenter";
pub const AUDIENCE: &str = "commandcenter-api";
pub const ACCESS_TTL_SECS: i64 = 30 * 60;
pub const REFRESH_TTL_SECS: i64 = 7 * 24 * 3600;
pub const PAT_PREFIX: &str = "cc_pat_";
const PAT_RANDOM_LEN: usize = 40;

/// argon2id PHC string for a password.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// A hash of a random password, verified against when the email is unknown so that
/// "no such user" and "wrong password" take the same time.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not-a-real-password-0f3c").unwrap_or_default());

/// Constant-effort password check; `None` hash = unknown user (always false).
pub fn verify_password(password: &str, phc: Option<&str>) -> bool {
    let target = phc.unwrap_or(DUMMY_HASH.as_str());
    let ok = PasswordHash::new(target)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    ok && phc.is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    pub fam: String,
}

impl Claims {
    pub fn new(user_id: Id, email: &str, token_type: TokenType, family: &str, now: i64) -> Self {
        let ttl = match token_type {
            TokenType::Access => ACCESS_TTL_SECS,
            TokenType::Refresh => REFRESH_TTL_SECS,
        };
        Self {
            sub: user_id.to_string(),
            email: email.to_string(),
            token_type,
            exp: now + ttl,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            fam: family.to_string(),
        }
    }

    pub fn user_id(&self) -> Option<Id> {
        self.sub.parse().ok().filter(|&id| id > 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// The HS256 key, loaded once per process.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Verifies signature, algorithm (HS256 only), iss, aud, exp and the claim shapes.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(TokenError::Expired)
            }
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

/// A new personal access token (shown once).
pub fn generate_pat() -> String {
    format!(
        "{PAT_PREFIX}{}",
        Alphanumeric.sample_string(&mut rand::rng(), PAT_RANDOM_LEN)
    )
}

pub fn is_pat(token: &str) -> bool {
    token.len() == PAT_PREFIX.len() + PAT_RANDOM_LEN
        && token.starts_with(PAT_PREFIX)
        && token[PAT_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// SHA-256 hex of a token: what is stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// First 12 characters, shown in listings.
pub fn token_prefix(token: &str) -> String {
    token.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("wrong horse", Some(&h)));
        assert!(!verify_password("correct horse", None));
    }

    #[test]
    fn jwt_round_trip_and_rejections() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let c = Claims::new(42, "a@b.c", TokenType::Access, "fam1", now);
        let t = keys.sign(&c);
        assert_eq!(keys.verify(&t).unwrap(), c);

        let other = JwtKeys::new(b"another key another key another k");
        assert_eq!(other.verify(&t), Err(TokenError::Invalid));

        let old = Claims::new(42, "a@b.c", TokenType::Access, "f", now - 3600);
        assert_eq!(keys.verify(&keys.sign(&old)), Err(TokenError::Expired));

        let mut wrong_aud = c.clone();
        wrong_aud.aud = "someone-else".into();
        assert_eq!(
            keys.verify(&keys.sign(&wrong_aud)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        use base64::Engine;
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let c = Claims::new(1, "a@b.c", TokenType::Access, "f", now);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(serde_json::to_vec(&c).unwrap());
        assert_eq!(
            keys.verify(&format!("{header}.{body}.")),
            Err(TokenError::Invalid)
        );
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &c,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(keys.verify(&hs512), Err(TokenError::Invalid));
    }

    #[test]
    fn pats_have_the_documented_shape() {
        let p = generate_pat();
        assert!(is_pat(&p), "{p}");
        assert_eq!(p.len(), 47);
        assert_eq!(token_prefix(&p).len(), 12);
        assert_eq!(token_hash(&p).len(), 64);
        assert!(!is_pat("cc_pat_short"));
        assert!(!is_pat(&format!("cc_pat_{}", "!".repeat(40))));
    }
}
