//! Lambda function `job-scheduled-analysis`: runs scheduled_analysis jobs from its SQS queue.

use commandcenter::domain::jobs::JobType;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_jobs(JobType::ScheduledAnalysis).await
}
