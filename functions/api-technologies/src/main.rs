//! Lambda function `api-technologies`: serves the `technologies` route group of the CommandCenter API.

use commandcenter::api::routes::technologies;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-technologies", technologies::routes).await
}
