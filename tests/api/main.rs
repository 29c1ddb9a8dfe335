//! Black-box tests of the HTTP API through the real Routers against moto.

mod auth;
mod conventions;
mod projects;
mod ratelimit;
mod template;
mod tenancy;
