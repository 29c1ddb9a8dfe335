//! A small WebSocket client for job progress (API.md §7.1): prints every frame of a job until
//! the server closes the connection after `completed`.
//!
//! `cargo run -p cc-local --bin cc-watch -- <job_id> <access token or PAT> [ws://127.0.0.1:8000/ws]`

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Error, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(job_id), Some(token)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: cc-watch <job_id> <token> [ws://127.0.0.1:8000/ws]");
    };
    let base = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:8000/ws".into());
    let url = format!("{base}?job_id={job_id}&token={token}");
    let (mut ws, _) = match tokio_tungstenite::connect_async(&url).await {
        Ok(ok) => ok,
        Err(Error::Http(r)) => {
            let body = r
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            anyhow::bail!("refused: {} {body}", r.status());
        }
        Err(e) => return Err(e.into()),
    };
    let started = std::time::Instant::now();
    ws.send(Message::Text(r#"{"action":"status"}"#.into()))
        .await?;
    while let Some(msg) = ws.next().await {
        match msg? {
            Message::Text(t) => println!("{:>8.3}s {t}", started.elapsed().as_secs_f64()),
            Message::Close(_) => break,
            _ => {}
        }
    }
    println!(
        "{:>8.3}s closed by the server",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
