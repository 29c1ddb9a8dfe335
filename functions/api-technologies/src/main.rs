//! Lambda function `api-technologies`: serves the `technologies` route group of the CommandCenter API.

use commandcenter::api::routes::technologies;
use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-technologies", technologies::routes).await
}
