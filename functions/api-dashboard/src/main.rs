//! Lambda function `api-dashboard`: serves the `dashboard` route group of the CommandCenter API.

use commandcenter::api::routes::dashboard;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-dashboard", dashboard::routes).await
}
