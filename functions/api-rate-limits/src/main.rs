//! Lambda function `api-rate-limits`: serves the `rate-limits` route group of the CommandCenter API.

use commandcenter::api::routes::rate_limits;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-rate-limits", rate_limits::routes).await
}
