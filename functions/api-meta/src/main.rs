//! Lambda function `api-meta`: `/`, health, OpenAPI, docs, CORS preflights, and the problem+json
//! answer to every request no other route matched.

#[tokio::main]
async fn main() -> Result<(), commandcenter::runtime::lambda::Error> {
    commandcenter::runtime::lambda::serve_meta().await
}
