//! Lambda function `webhook-github`: inbound GitHub deliveries (`POST /api/v1/webhooks/github`,
//! API.md §10.1): verify, dedupe, store, enqueue, 202.

use commandcenter::api::routes::webhooks_inbound;
use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("webhook-github", webhooks_inbound::routes).await
}
