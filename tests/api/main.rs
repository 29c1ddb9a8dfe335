//! Black-box tests of the HTTP API through the real Routers against moto.

mod analysis;
mod auth;
mod batch;
mod conventions;
mod dashboard;
mod github;
mod github_sync;
mod hardening;
mod jobs;
mod live;
mod local;
mod openapi;
mod projects;
mod ratelimit;
mod repositories;
mod research_tasks;
mod runner;
mod schedules;
mod store;
mod technologies;
mod template;
mod tenancy;
mod webhooks;
mod webhooks_inbound;
