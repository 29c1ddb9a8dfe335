//! Black-box tests of the HTTP API through the real Routers against moto.

mod auth;
mod conventions;
mod projects;
mod ratelimit;
mod store;
mod technologies;
mod template;
mod tenancy;
