//! Lambda function `job-batch-analysis`: runs batch_analysis jobs from its SQS queue.

use commandcenter::domain::jobs::JobType;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_jobs(JobType::BatchAnalysis).await
}
