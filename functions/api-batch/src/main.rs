//! Lambda function `api-batch`: serves the `batch` route group of the CommandCenter API.

use commandcenter::api::routes::batch;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-batch", batch::routes).await
}
