//! Lambda function `webhook-fanout`: the table's DynamoDB Stream (inserted event items) →
//! one webhook delivery per event × matching config, queued.

use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_fanout().await
}
