//! Lambda function `job-webhook-delivery`: runs webhook_delivery jobs from its SQS queue.

use commandcenter::domain::jobs::JobType;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_jobs(JobType::WebhookDelivery).await
}
