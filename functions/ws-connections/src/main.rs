//! Lambda function `ws-connections`: the WebSocket API of job progress ($connect with job_id
//! and token, $disconnect, $default) and the greeting of newly opened connections.

use commandcenter::runtime::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::serve_websocket().await
}
