//! Lambda function `api-meta`: `/`, health, OpenAPI, docs, CORS preflights, and the problem+json
//! answer to every request no other route matched.

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), commandcenter::runtime::lambda::Error> {
    commandcenter::runtime::lambda::serve_meta().await
}
