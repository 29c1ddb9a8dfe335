//! Lambda function `ws-connections`: the WebSocket API of job progress ($connect with job_id
//! and token, $disconnect, $default) and the greeting of newly opened connections.

use commandcenter::runtime::lambda;

// One invocation at a time per execution environment: a current-thread runtime (bench/README.md:
// ~30 % less CPU per warm invocation than the multi-thread one).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_websocket().await
}
