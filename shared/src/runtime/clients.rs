//! AWS clients, built once per process with explicit timeouts, standard retries and the call
//! meter that feeds `Server-Timing`.

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::context;

/// Counts every AWS operation (all its retries included) and its wall time into the current
/// request context.
#[derive(Debug, Clone, Copy)]
pub struct CallMeter;

#[derive(Debug, Clone)]
struct CallStarted(Instant);

impl Storable for CallStarted {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallMeter {
    fn name(&self) -> &'static str {
        "CallMeter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(CallStarted(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(started) = cfg.load::<CallStarted>() {
            context::record_aws_call(started.0.elapsed());
        }
        Ok(())
    }
}

/// The root certificates AWS endpoints chain to: Amazon Trust Services' Root CA 1–4 and the
/// Starfield Services G2 root that cross-signs them (valid until 2037–2040), compiled in.
const AWS_ROOTS: &[u8] = include_bytes!("aws-roots.pem");

/// The SDK's HTTPS client (rustls on aws-lc-rs, as the default one) trusting only `AWS_ROOTS`.
/// The default trusts the system's store, which it reads and parses in every cold start: ~150
/// PEM files, 10–12 % of a cold start's CPU in the profile (bench/README.md). Commercial AWS
/// regions serve every endpoint this service calls (DynamoDB, S3, SQS, KMS, Secrets Manager,
/// API Gateway, Lambda, STS; their VPC and FIPS endpoints too) with Amazon Trust Services
/// certificates. GitHub and webhook receivers have their own clients and trust stores.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS);
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    match tls::TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Cannot happen with the certificates above (a unit test parses them); the system
        // store is the safe fallback.
        Err(_) => builder.build_https(),
    }
}

#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub kms: aws_sdk_kms::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The shared configuration, for clients only some functions build (API Gateway
    /// Management, Lambda).
    pub sdk: aws_types::SdkConfig,
}

impl AwsClients {
    /// Loads region, credentials and `AWS_ENDPOINT_URL` (moto locally) from the environment.
    pub async fn from_env() -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(12))
            .build();
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .load()
            .await;
        Self::from_shared(&shared)
    }

    /// Clients for an emulator endpoint (moto) with dummy credentials, without touching the
    /// process environment (tests).
    pub async fn for_endpoint(endpoint: &str) -> Self {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .load()
            .await;
        Self::from_shared(&shared)
    }

    pub fn from_shared(shared: &aws_types::SdkConfig) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(shared)
            // An emulator (moto) serves buckets path-style.
            .force_path_style(shared.endpoint_url().is_some())
            .interceptor(CallMeter)
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(shared)
                    .interceptor(CallMeter)
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(shared)
                    .interceptor(CallMeter)
                    .build(),
            ),
            kms: aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(shared)
                    .interceptor(CallMeter)
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(shared)
                    .interceptor(CallMeter)
                    .build(),
            ),
            sdk: shared.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The compiled-in roots are five parsable certificates (the HTTPS client would fall back to
    /// the system store otherwise).
    #[test]
    fn aws_roots_parse() {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let certs = CertificateDer::pem_slice_iter(super::AWS_ROOTS)
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM");
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).expect("a usable trust anchor");
        }
        assert_eq!(roots.len(), 5);
    }
}
