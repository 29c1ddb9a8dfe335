//! Lambda function `api-github`: serves the `github` route group of the CommandCenter API.

use commandcenter::api::routes::github;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-github", github::routes).await
}
