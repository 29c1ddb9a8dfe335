//! Lambda function `worker-schedule-dispatcher`: runs the schedules due now, one job per due
//! time (EventBridge, every minute).

use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_schedule_dispatcher().await
}
