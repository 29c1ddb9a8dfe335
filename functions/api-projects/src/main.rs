//! Lambda function `api-projects`: serves the `projects` route group of the CommandCenter API.

use commandcenter::api::routes::projects;
use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-projects", projects::routes).await
}
