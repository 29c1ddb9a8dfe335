//! CommandCenter: the domain, storage and HTTP library every Lambda function runs.
//!
//! Modules follow DESIGN.md: `domain` (pure rules), `store` (DynamoDB single table),
//! `secrets` (KMS / Secrets Manager), `api` (axum routers, extractors, problem+json),
//! `runtime` (config, clients, Lambda glue), `webhooks` (the outbound webhook sender).

pub mod analysis;
pub mod api;
pub mod blob;
pub mod context;
pub mod domain;
pub mod events;
pub mod github;
pub mod jobs;
pub mod live;
pub mod queue;
pub mod registries;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod webhooks;
