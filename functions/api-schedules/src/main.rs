//! Lambda function `api-schedules`: serves the `schedules` route group of the CommandCenter API
//! (recurring jobs; the runs are made by `worker-schedule-dispatcher`).

use commandcenter::api::routes::schedules;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-schedules", schedules::routes).await
}
