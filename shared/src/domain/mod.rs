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
pub mod webhook;

pub use ids::{new_id, Id};
pub use time::Timestamp;

/// A stored record in response form: exactly `fields`, in order, null when unset.
pub fn shape(r: &serde_json::Map<String, serde_json::Value>, fields: &[&str]) -> serde_json::Value {
    serde_json::Value::Object(
        fields
            .iter()
            .map(|f| {
                (
                    f.to_string(),
                    r.get(*f).cloned().unwrap_or(serde_json::Value::Null),
                )
            })
            .collect(),
    )
}
