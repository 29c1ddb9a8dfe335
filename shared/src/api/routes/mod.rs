//! One module per route group.

pub mod auth;
pub mod meta;
pub mod projects;
pub mod technologies;
