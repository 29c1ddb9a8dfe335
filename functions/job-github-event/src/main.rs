//! Lambda function `job-github-event`: processes stored inbound GitHub deliveries from the
//! `github-event` queue (push → repository_sync jobs) and marks its dead letters.

use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_github_events().await
}
