//! Lambda function `dlq-handler`: marks dead-lettered jobs failed and emits a metric.

use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_dead_letters().await
}
