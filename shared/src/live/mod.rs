//! Live job progress (API.md §7.1): the frames WebSocket listeners receive, and `Live`, which
//! delivers them through the API Gateway Management API — on AWS the WebSocket API's
//! `@connections` endpoint, locally the dev server's gateway, which speaks the same protocol.
//!
//! Whoever changes a job pushes: the runner (claim, checkpoints, completion), the jobs API
//! (PATCH, dispatch, cancel), the dead-letter handler. The job's listeners come with the job
//! item they already hold (`store::live`), so a push costs one `PostToConnection` per listener
//! and nothing when nobody listens.

pub mod frames;

use std::time::Duration;

use aws_sdk_apigatewaymanagement::primitives::Blob;
use serde_json::Value;

use crate::domain::Id;
use crate::runtime::clients::CallMeter;
use crate::store::records::Record;
use crate::store::Store;

/// Why a frame was not delivered.
#[derive(Debug, PartialEq)]
pub enum SendError {
    /// The connection is closed (410): forget it.
    Gone,
    /// Anything else (logged; the listener stays).
    Failed(String),
}

/// Pushes frames to WebSocket connections. Disabled (every push a no-op) when no management
/// endpoint is configured.
#[derive(Clone)]
pub struct Live {
    gateway: Option<aws_sdk_apigatewaymanagement::Client>,
    store: Store,
}

impl Live {
    /// `management_url`: `https://<api>.execute-api.<region>.amazonaws.com/<stage>` on AWS.
    pub fn new(store: Store, management_url: Option<&str>, sdk: &aws_types::SdkConfig) -> Self {
        let gateway = management_url.map(|url| {
            aws_sdk_apigatewaymanagement::Client::from_conf(
                aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
                    .endpoint_url(url)
                    .interceptor(CallMeter)
                    .build(),
            )
        });
        Self { gateway, store }
    }

    pub fn enabled(&self) -> bool {
        self.gateway.is_some()
    }

    /// Sends one frame to one connection.
    pub async fn send(&self, connection_id: &str, frame: &Value) -> Result<(), SendError> {
        let Some(gateway) = &self.gateway else {
            return Ok(());
        };
        let data = serde_json::to_vec(frame).map_err(|e| SendError::Failed(e.to_string()))?;
        match gateway
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => {
                Err(SendError::Gone)
            }
            Err(e) => Err(SendError::Failed(
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }

    /// Sends one frame, waiting for a connection that is still being opened (API Gateway
    /// completes the handshake only after `$connect` returned): retried while gone, ≤ ~1.5 s.
    pub async fn send_when_open(
        &self,
        connection_id: &str,
        frame: &Value,
    ) -> Result<(), SendError> {
        let mut wait = Duration::from_millis(50);
        for _ in 0..6 {
            match self.send(connection_id, frame).await {
                Err(SendError::Gone) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                other => return other,
            }
        }
        self.send(connection_id, frame).await
    }

    /// Closes a connection (API Gateway then runs `$disconnect`).
    pub async fn close(&self, connection_id: &str) {
        let Some(gateway) = &self.gateway else {
            return;
        };
        if let Err(e) = gateway
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
        {
            if !e.as_service_error().is_some_and(|s| s.is_gone_exception()) {
                tracing::warn!(connection_id, error = %aws_sdk_apigatewaymanagement::error::DisplayErrorContext(e), "could not close a connection");
            }
        }
    }

    /// Delivers `frames`, in order, to every listener of `job` (concurrently across
    /// listeners), then closes the connections if `close` (the job finished). Connections
    /// found gone are forgotten. Never fails the caller: progress is best effort.
    pub async fn notify(&self, job: &Record, frames: &[Value], close: bool) {
        if self.gateway.is_none() || frames.is_empty() {
            return;
        }
        let listeners = crate::store::live::listeners(job);
        if listeners.is_empty() {
            return;
        }
        let pid = id_field(job, "project_id");
        let job_id = id_field(job, "id");
        futures::future::join_all(listeners.iter().map(|cid| async move {
            for frame in frames {
                match self.send(cid, frame).await {
                    Ok(()) => {}
                    Err(SendError::Gone) => {
                        let forgotten = match self.store.remove_listener(cid).await {
                            Ok(Some(_)) => Ok(()),
                            Ok(None) => self.store.forget_listener(pid, job_id, cid).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = forgotten {
                            tracing::warn!(error = %e, "could not forget a closed connection");
                        }
                        return;
                    }
                    Err(SendError::Failed(e)) => {
                        tracing::warn!(connection_id = %cid, job_id, error = %e, "progress frame not delivered");
                        return;
                    }
                }
            }
            if close {
                self.close(cid).await;
            }
        }))
        .await;
    }
}

impl Live {
    /// Closes every connection following `job` (it was deleted).
    pub async fn close_all(&self, job: &Record) {
        if self.gateway.is_none() {
            return;
        }
        let listeners = crate::store::live::listeners(job);
        futures::future::join_all(listeners.iter().map(|cid| self.close(cid))).await;
    }
}

fn id_field(job: &Record, name: &str) -> Id {
    job.get(name).and_then(Value::as_u64).unwrap_or_default()
}
