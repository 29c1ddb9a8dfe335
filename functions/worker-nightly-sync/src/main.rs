//! Lambda function `worker-nightly-sync`: a repository_sync job for every tracked repository
//! (EventBridge, 02:00 UTC).

use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_nightly_sync().await
}
