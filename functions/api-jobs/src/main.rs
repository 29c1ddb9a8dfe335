//! Lambda function `api-jobs`: serves the `jobs` route group of the CommandCenter API.

use commandcenter::api::routes::jobs;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-jobs", jobs::routes).await
}
