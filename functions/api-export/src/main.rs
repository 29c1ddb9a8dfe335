//! Lambda function `api-export`: serves the `export` route group of the CommandCenter API
//! (analyses as SARIF, HTML, CSV, Excel, JSON; batch exports run in `job-batch-export`).

use commandcenter::api::routes::export;
use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-export", export::routes).await
}
