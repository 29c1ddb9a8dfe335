//! Lambda function `api-auth`: serves the `auth` route group of the CommandCenter API.

use commandcenter::api::routes::auth;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-auth", auth::routes).await
}
