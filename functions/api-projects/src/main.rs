//! Lambda function `api-projects`: serves the `projects` route group of the CommandCenter API.

use commandcenter::api::routes::projects;
use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve("api-projects", projects::routes).await
}
