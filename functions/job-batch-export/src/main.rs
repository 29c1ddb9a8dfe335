//! Lambda function `job-batch-export`: runs batch_export jobs from its SQS queue.

use commandcenter::domain::jobs::JobType;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_jobs(JobType::BatchExport).await
}
