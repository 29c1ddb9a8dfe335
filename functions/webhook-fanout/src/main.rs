//! Lambda function `webhook-fanout`: the table's DynamoDB Stream (inserted event items) →
//! one webhook delivery per event × matching config, queued.

use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_fanout().await
}
