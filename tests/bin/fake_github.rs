//! The fake GitHub of the tests as a server of its own, for local runs against `make dev`:
//! `cargo run -p cc-tests --bin fake-github -- 127.0.0.1:9100`, then
//! `GITHUB_API_URL=http://127.0.0.1:9100 make dev`. Admin routes: see `cc_tests::fake_github`.

use cc_tests::fake_github::FakeGitHub;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".into());
    let listener = std::net::TcpListener::bind(&addr)?;
    let server = wiremock::MockServer::builder()
        .listener(listener)
        .start()
        .await;
    FakeGitHub::default().mount(&server).await;
    println!("fake GitHub on {} (admin: POST /_fake/repos?n=200, POST /_fake/push?repo=acme/repo-3, GET /_fake/stats)", server.uri());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
