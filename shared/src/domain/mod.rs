//! Entities, value types and pure rules. Nothing here performs I/O.

pub mod auth;
pub mod ids;
pub mod jobs;
pub mod project;
pub mod repository;
pub mod research;
pub mod technology;
pub mod time;
pub mod user;
pub mod validate;

pub use ids::{new_id, Id};
pub use time::Timestamp;
