//! Lambda function `api-research-tasks`: serves the `research_tasks` route group of the CommandCenter API.

use commandcenter::api::routes::research_tasks;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-research-tasks", research_tasks::routes).await
}
