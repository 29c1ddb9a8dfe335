//! Lambda function `api-export`: serves the `export` route group of the CommandCenter API
//! (analyses as SARIF, HTML, CSV, Excel, JSON; batch exports run in `job-batch-export`).

use commandcenter::api::routes::export;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-export", export::routes).await
}
