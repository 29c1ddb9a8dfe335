//! Entities, value types and pure rules. Nothing here performs I/O.

pub mod analysis;
pub mod auth;
pub mod delivery;
pub mod export;
pub mod github_event;
pub mod ids;
pub mod jobs;
pub mod project;
pub mod repository;
pub mod research;
pub mod schedule;
pub mod schema;
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

/// A stored record in the response form of field tables: their fields, in order, null when
/// unset (the same tables generate the response schema, `domain::schema`).
pub fn shape_of(
    r: &serde_json::Map<String, serde_json::Value>,
    tables: &[&[validate::Spec]],
) -> serde_json::Value {
    serde_json::Value::Object(
        tables
            .iter()
            .flat_map(|t| t.iter())
            .map(|s| {
                (
                    s.name.to_string(),
                    r.get(s.name).cloned().unwrap_or(serde_json::Value::Null),
                )
            })
            .collect(),
    )
}
