//! Lambda function `worker-nightly-sync`: a repository_sync job for every tracked repository
//! (EventBridge, 02:00 UTC).

use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_nightly_sync().await
}
