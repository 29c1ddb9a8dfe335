//! Lambda function `webhook-github`: inbound GitHub deliveries (`POST /api/v1/webhooks/github`,
//! API.md §10.1): verify, dedupe, store, enqueue, 202.

use commandcenter::api::routes::webhooks_inbound;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("webhook-github", webhooks_inbound::routes).await
}
