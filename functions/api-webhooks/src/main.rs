//! Lambda function `api-webhooks`: serves the `webhooks` route group of the CommandCenter API
//! (outbound configs, deliveries, statistics; inbound events are listed here too).

use commandcenter::api::routes::webhooks;
use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-webhooks", webhooks::routes).await
}
