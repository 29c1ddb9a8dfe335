//! Lambda function `job-batch-import`: runs batch_import jobs from its SQS queue.

use commandcenter::domain::jobs::JobType;
use commandcenter::jobs::work::each;
use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_jobs(JobType::BatchImport, each::batch_import()).await
}
