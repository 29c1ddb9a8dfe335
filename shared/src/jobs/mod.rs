//! Job workers: one generic runner (claim with a lease, checkpoints with cancellation,
//! complete/fail, retryable vs. non-retryable errors, SQS partial batch failures with back-off
//! visibility, lease takeover after a crash, re-delay of messages not yet due), the dead-letter
//! handler, and one work function per job type.

pub mod analysis;
pub mod dispatcher;
pub mod export;
pub mod github_event;
pub mod maintenance;
pub mod nightly;
pub mod runner;
pub mod work;

use std::sync::Arc;

use crate::blob::Blobs;
use crate::queue::Queues;
use crate::runtime::{AwsClients, Config};
use crate::store::Store;

/// What job functions reach (no JWT key: workers never authenticate callers).
#[derive(Clone)]
pub struct JobState {
    pub config: Arc<Config>,
    pub store: Store,
    pub blobs: Blobs,
    pub queues: Queues,
    pub sqs: aws_sdk_sqs::Client,
    pub live: crate::live::Live,
    pub github: crate::github::GitHub,
    /// Outbound webhook deliveries: the SSRF-guarded client and the secret opener.
    pub webhooks: crate::webhooks::Webhooks,
    /// Package registries (latest versions for analyses).
    pub registries: crate::registries::Registries,
    /// How long a claim holds a job without a checkpoint (longer than the function timeout).
    pub lease_secs: i64,
}

/// Job functions time out after 300 s; a lease outlives that, so only a dead worker loses it.
pub const DEFAULT_LEASE_SECS: i64 = 360;

impl JobState {
    /// The job state of a process that also serves HTTP (dev server, tests): same clients.
    pub fn from_app(app: &crate::api::AppState) -> Self {
        Self {
            config: app.config.clone(),
            store: app.store.clone(),
            blobs: app.blobs.clone(),
            queues: app.queues.clone(),
            sqs: app.aws.sqs.clone(),
            live: app.live.clone(),
            github: app.github.clone(),
            webhooks: crate::webhooks::Webhooks::new(
                crate::webhooks::send::Sender::new(app.config.webhook_allow_private_targets),
                app.sealer.clone(),
            ),
            registries: crate::registries::Registries::new(app.config.registries.clone())
                .expect("the registry client builds"),
            lease_secs: DEFAULT_LEASE_SECS,
        }
    }

    pub fn new(config: Config, aws: &AwsClients) -> Result<Self, crate::github::GitHubError> {
        let store = Store::new(aws.dynamodb.clone(), config.table_name.clone());
        let sealer = crate::secrets::Sealer::new(aws.kms.clone(), config.kms_key_id.clone());
        Ok(Self {
            github: crate::github::GitHub::new(
                &config.github_api_url,
                config.github_token.clone(),
                sealer.clone(),
            )?,
            webhooks: crate::webhooks::Webhooks::new(
                crate::webhooks::send::Sender::new(config.webhook_allow_private_targets),
                sealer,
            ),
            registries: crate::registries::Registries::new(config.registries.clone())
                .map_err(crate::github::GitHubError::Upstream)?,
            live: crate::live::Live::new(
                store.clone(),
                config.websocket_management_url.as_deref(),
                &aws.sdk,
            ),
            store,
            blobs: Blobs::new(aws.s3.clone(), config.bucket_name.clone()),
            queues: Queues::new(aws.sqs.clone(), config.queue_urls.clone()),
            sqs: aws.sqs.clone(),
            config: Arc::new(config),
            lease_secs: DEFAULT_LEASE_SECS,
        })
    }
}
