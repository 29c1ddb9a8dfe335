//! Lambda function `api-auth`: serves its route group of the CommandCenter API.

#[tokio::main]
async fn main() -> Result<(), commandcenter::runtime::lambda::Error> {
    commandcenter::runtime::lambda::serve_group("api-auth").await
}
