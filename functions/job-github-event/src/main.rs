//! Lambda function `job-github-event`: processes stored inbound GitHub deliveries from the
//! `github-event` queue (push → repository_sync jobs) and marks its dead letters.

use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_github_events().await
}
