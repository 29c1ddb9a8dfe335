//! Lambda function `api-webhooks`: serves the `webhooks` route group of the CommandCenter API
//! (outbound configs, deliveries, statistics; inbound events are listed here too).

use commandcenter::api::routes::webhooks;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-webhooks", webhooks::routes).await
}
