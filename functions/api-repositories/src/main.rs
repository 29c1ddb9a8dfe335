//! Lambda function `api-repositories`: serves the `repositories` route group of the CommandCenter API.

use commandcenter::api::routes::repositories;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-repositories", repositories::routes).await
}
