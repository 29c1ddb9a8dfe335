//! Lambda function `api-schedules`: serves the `schedules` route group of the CommandCenter API
//! (recurring jobs; the runs are made by `worker-schedule-dispatcher`).

use commandcenter::api::routes::schedules;
use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-schedules", schedules::routes).await
}
