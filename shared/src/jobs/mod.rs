//! Job workers: one generic runner (claim with a lease, checkpoints with cancellation,
//! complete/fail, retryable vs. non-retryable errors, SQS partial batch failures with back-off
//! visibility, lease takeover after a crash, re-delay of messages not yet due), the dead-letter
//! handler, and one work function per job type.

pub mod maintenance;
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
    /// How long a claim holds a job without a checkpoint (longer than the function timeout).
    pub lease_secs: i64,
}

/// Job functions time out after 300 s; a lease outlives that, so only a dead worker loses it.
pub const DEFAULT_LEASE_SECS: i64 = 360;

impl JobState {
    pub fn new(config: Config, aws: &AwsClients) -> Self {
        let store = Store::new(aws.dynamodb.clone(), config.table_name.clone());
        Self {
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
        }
    }
}
