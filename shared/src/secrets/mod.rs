//! KMS envelope for stored credentials (GitHub tokens) and the JWT signing key from
//! Secrets Manager.

use aws_sdk_kms::primitives::Blob;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::domain::Id;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("KMS error: {0}")]
    Kms(String),
    #[error("secret {0} is missing or empty")]
    MissingSecret(String),
    #[error("Secrets Manager error: {0}")]
    SecretsManager(String),
}

/// Encrypts and decrypts small secrets with the stack's KMS key, bound to the project they
/// belong to (encryption context), so a ciphertext copied to another project cannot be used.
#[derive(Clone)]
pub struct Sealer {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl Sealer {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }

    pub async fn seal(&self, project_id: Id, plaintext: &str) -> Result<String, SecretsError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext.as_bytes()))
            .encryption_context("project_id", project_id.to_string())
            .send()
            .await
            .map_err(|e| {
                SecretsError::Kms(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
            })?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| SecretsError::Kms("no ciphertext".into()))?;
        Ok(B64.encode(blob.into_inner()))
    }

    pub async fn open(&self, project_id: Id, sealed: &str) -> Result<String, SecretsError> {
        let bytes = B64
            .decode(sealed)
            .map_err(|e| SecretsError::Kms(format!("bad ciphertext: {e}")))?;
        let out = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(bytes))
            .encryption_context("project_id", project_id.to_string())
            .send()
            .await
            .map_err(|e| {
                SecretsError::Kms(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
            })?;
        let plain = out
            .plaintext
            .ok_or_else(|| SecretsError::Kms("no plaintext".into()))?;
        String::from_utf8(plain.into_inner()).map_err(|e| SecretsError::Kms(e.to_string()))
    }
}

/// Reads a secret's string value (the JWT signing key).
pub async fn load_secret_string(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<String, SecretsError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            SecretsError::SecretsManager(
                aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            )
        })?;
    out.secret_string
        .filter(|s| s.len() >= 32)
        .ok_or_else(|| SecretsError::MissingSecret(arn.to_string()))
}
