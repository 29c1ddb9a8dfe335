//! Lambda function `worker-maintenance`: re-sends stuck jobs, fails jobs whose lease keeps
//! expiring (EventBridge, every 5 minutes).

use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_maintenance().await
}
