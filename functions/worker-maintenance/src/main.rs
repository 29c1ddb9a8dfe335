//! Lambda function `worker-maintenance`: re-sends stuck jobs, fails jobs whose lease keeps
//! expiring (EventBridge, every 5 minutes).

use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_maintenance().await
}
