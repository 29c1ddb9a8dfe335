//! Lambda function `worker-schedule-dispatcher`: runs the schedules due now, one job per due
//! time (EventBridge, every minute).

use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_schedule_dispatcher().await
}
