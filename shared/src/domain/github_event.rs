//! Inbound GitHub webhooks (API.md §10.1) as pure rules: the delivery headers, the repository a
//! payload names, the candidate keys (deduplicated, each with the projects it admits), and how
//! a payload is cut down to fit a DynamoDB item. No I/O: `api::routes::webhooks_inbound`
//! (receipt) and `jobs::github_event` (processing) use these.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::validate::FieldError;
use super::Id;

/// How long a delivery id is remembered (dedupe marker TTL) and a stored event kept.
pub const RETENTION_SECS: i64 = 7 * 24 * 3600;

/// The most a stored payload takes in one item (compact JSON bytes). DynamoDB's item limit is
/// 400 KB; a delivery to many projects is one transaction (4 MB at most), so the budget per
/// event shrinks with the number of projects (`payload_budget`).
pub const PAYLOAD_MAX: usize = 300_000;
/// The least budget an event gets, whatever the number of projects.
pub const PAYLOAD_MIN: usize = 16_000;
/// Bytes of one transaction given to payloads (of DynamoDB's 4 MB).
pub const TRANSACTION_PAYLOADS: usize = 3_000_000;

/// The payload budget per event when `events` events are written in one transaction.
pub fn payload_budget(events: usize) -> usize {
    (TRANSACTION_PAYLOADS / events.max(1)).clamp(PAYLOAD_MIN, PAYLOAD_MAX)
}

/// `X-GitHub-Delivery`: GitHub sends a GUID; 1..128 of `[A-Za-z0-9._-]` (it is part of a key).
fn valid_delivery(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `X-GitHub-Event`: GitHub's event names (`push`, `pull_request`, `ping`…), 1..100 of
/// `[A-Za-z0-9._-]`.
fn valid_event(v: &str) -> bool {
    (1..=100).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The delivery's headers, checked before anything else (422 naming each failing header).
pub fn delivery_headers(
    event: Option<&str>,
    delivery: Option<&str>,
) -> Result<(String, String), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut check = |name: &str, v: Option<&str>, ok: fn(&str) -> bool| match v {
        None => {
            errors.push(FieldError::new(
                &["header", name],
                "missing",
                "Field required",
            ));
            None
        }
        Some(v) if !ok(v) => {
            errors.push(FieldError::value_error(
                &["header", name],
                format!("Value error, {name} must be 1..128 characters of letters, digits, '.', '_' or '-'"),
            ));
            None
        }
        Some(v) => Some(v.to_string()),
    };
    let event = check("X-GitHub-Event", event, valid_event);
    let delivery = check("X-GitHub-Delivery", delivery, valid_delivery);
    match (event, delivery) {
        (Some(e), Some(d)) if errors.is_empty() => Ok((e, d)),
        _ => Err(errors),
    }
}

/// The payload of a delivery: the JSON body, or the `payload` field of a form-encoded one
/// (GitHub's `application/x-www-form-urlencoded` content type). None: not a JSON object.
pub fn payload_of(content_type: Option<&str>, body: &[u8]) -> Option<Map<String, Value>> {
    let form = content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let parsed: Value = if form {
        let payload = form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())?;
        serde_json::from_str(&payload).ok()?
    } else {
        serde_json::from_slice(body).ok()?
    };
    match parsed {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// `payload.repository.full_name` when it is a plausible `owner/name` (GitHub's rules: ≤ 39 +
/// 100 characters of `[A-Za-z0-9_.-]`).
pub fn repository_full_name(payload: &Map<String, Value>) -> Option<String> {
    let full = payload.get("repository")?.get("full_name")?.as_str()?;
    let (owner, name) = full.split_once('/')?;
    let ok = |s: &str, max: usize| {
        (1..=max).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    (ok(owner, 39) && ok(name, 100)).then(|| full.to_string())
}

/// Who a candidate key admits: a project, and the config whose secret it is (None: the
/// server's GITHUB_WEBHOOK_SECRET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub project_id: Id,
    pub config_id: Option<Id>,
}

/// One distinct key (secret bytes) and every target it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub key: Vec<u8>,
    pub targets: Vec<Target>,
}

/// The candidate keys of a delivery: each config secret (project, config) and the server key
/// (every tracking project, no config), deduplicated by bytes so a secret shared by two
/// configs (or equal to the server key) admits all of them. `tracking` = every project
/// tracking the repository.
pub fn candidates(
    configs: &[(Id, Id, String)],
    server: Option<&str>,
    tracking: &[Id],
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let mut add = |key: &[u8], t: Target| match out.iter_mut().find(|c| c.key == key) {
        Some(c) => {
            // One target per project: a config's id wins over the server key's none.
            match c.targets.iter_mut().find(|x| x.project_id == t.project_id) {
                Some(x) if x.config_id.is_none() => x.config_id = t.config_id,
                Some(_) => {}
                None => c.targets.push(t),
            }
        }
        None => out.push(Candidate {
            key: key.to_vec(),
            targets: vec![t],
        }),
    };
    for (pid, cid, secret) in configs {
        add(
            secret.as_bytes(),
            Target {
                project_id: *pid,
                config_id: Some(*cid),
            },
        );
    }
    if let Some(server) = server.filter(|s| !s.is_empty()) {
        for pid in tracking {
            add(
                server.as_bytes(),
                Target {
                    project_id: *pid,
                    config_id: None,
                },
            );
        }
        if tracking.is_empty() {
            // An untracked repository (or none): the server key still verifies the sender.
            out.push(Candidate {
                key: server.as_bytes().to_vec(),
                targets: Vec::new(),
            });
        }
    }
    out
}

/// The payload as stored: compact JSON within `budget` bytes. A larger one keeps what
/// processing and listing need: a push's `commits` are cut to the newest that fit (its
/// `head_commit`, ref, before/after and repository stay) and `commits_truncated` says how many
/// were dropped; if even that is too large, only the top-level scalars and a short
/// `repository` object remain, with `payload_truncated: true`.
pub fn stored_payload(payload: &Map<String, Value>, budget: usize) -> String {
    let text = |m: &Map<String, Value>| serde_json::to_string(m).unwrap_or_else(|_| "{}".into());
    let whole = text(payload);
    if whole.len() <= budget {
        return whole;
    }
    if let Some(commits) = payload.get("commits").and_then(Value::as_array) {
        let mut keep = commits.len();
        while keep > 0 {
            keep /= 2;
            let mut cut = payload.clone();
            // GitHub lists a push's commits oldest first: keep the newest.
            cut.insert(
                "commits".into(),
                Value::Array(commits[commits.len() - keep..].to_vec()),
            );
            cut.insert(
                "commits_truncated".into(),
                Value::from(commits.len() - keep),
            );
            let t = text(&cut);
            if t.len() <= budget {
                return t;
            }
        }
    }
    let mut small: Map<String, Value> = payload
        .iter()
        .filter(|(_, v)| !v.is_object() && !v.is_array())
        .filter(|(_, v)| v.as_str().is_none_or(|s| s.len() <= 1000))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(repo) = payload.get("repository") {
        let pick: Map<String, Value> = ["id", "full_name", "name", "default_branch", "html_url"]
            .iter()
            .filter_map(|k| Some((k.to_string(), repo.get(*k)?.clone())))
            .collect();
        small.insert("repository".into(), Value::Object(pick));
    }
    small.insert("payload_truncated".into(), Value::from(true));
    let t = text(&small);
    if t.len() <= budget {
        t
    } else {
        r#"{"payload_truncated":true}"#.into()
    }
}

/// What the inbound endpoint did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// Stored for every matching project and queued for processing (202).
    Accepted,
    /// Verified, but no project tracks the repository (or the payload names none): nothing
    /// stored (202).
    Ignored,
    /// This X-GitHub-Delivery was accepted before (200).
    AlreadyProcessed,
}

/// The answer to a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InboundAck {
    pub status: AckStatus,
    /// X-GitHub-Event.
    pub event_type: String,
    /// X-GitHub-Delivery.
    pub delivery_id: String,
}

/// A received GitHub delivery as stored for one project (API.md §19 WebhookEvent).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WebhookEvent {
    pub id: Id,
    pub project_id: Id,
    /// The webhook configuration whose secret verified the delivery; null: the server key.
    pub config_id: Option<Id>,
    /// X-GitHub-Event (`push`, `ping`, `pull_request`…).
    pub event_type: String,
    /// X-GitHub-Delivery.
    pub delivery_id: String,
    /// GitHub's payload. Over the item budget, a push keeps its newest commits
    /// (`commits_truncated` = how many were dropped); anything else keeps its top-level
    /// scalars and a short `repository` (`payload_truncated: true`).
    #[schema(value_type = Object)]
    pub payload: Map<String, Value>,
    pub repository_full_name: Option<String>,
    pub processed: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub processed_at: Option<super::Timestamp>,
    pub error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: super::Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headers_are_named_when_missing_or_malformed() {
        assert_eq!(
            delivery_headers(Some("push"), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")),
            Ok(("push".into(), "72d3162e-cc78-11e3-81ab-4c9367dc0958".into()))
        );
        let e = delivery_headers(None, Some("x")).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].loc, vec![json!("header"), json!("X-GitHub-Event")]);
        assert_eq!(e[0].kind, "missing");
        let e = delivery_headers(Some("push"), Some("a#b")).unwrap_err();
        assert_eq!(e[0].loc, vec![json!("header"), json!("X-GitHub-Delivery")]);
        assert_eq!(e[0].kind, "value_error");
        assert_eq!(delivery_headers(None, None).unwrap_err().len(), 2);
    }

    #[test]
    fn payloads_come_from_json_or_form_bodies() {
        let m = payload_of(None, br#"{"repository":{"full_name":"Acme/App"}}"#).unwrap();
        assert_eq!(repository_full_name(&m).as_deref(), Some("Acme/App"));
        let form = b"payload=%7B%22zen%22%3A%22x%22%7D";
        assert_eq!(
            payload_of(Some("application/x-www-form-urlencoded"), form).unwrap()["zen"],
            "x"
        );
        assert!(payload_of(None, b"[1]").is_none());
        assert!(payload_of(None, b"\xff").is_none());
        for bad in [
            json!({}),
            json!({"repository": {"full_name": "no-slash"}}),
            json!({"repository": {"full_name": "a/b c"}}),
        ] {
            assert_eq!(repository_full_name(bad.as_object().unwrap()), None);
        }
    }

    #[test]
    fn candidates_are_deduplicated_and_name_their_targets() {
        let configs = vec![
            (1, 11, "s1-secret-0000000".to_string()),
            (2, 22, "shared-secret-000".to_string()),
            (3, 33, "shared-secret-000".to_string()),
        ];
        let c = candidates(&configs, Some("shared-secret-000"), &[1, 2, 3]);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0].targets,
            vec![Target {
                project_id: 1,
                config_id: Some(11)
            }]
        );
        assert_eq!(
            c[1].targets,
            vec![
                Target {
                    project_id: 2,
                    config_id: Some(22)
                },
                Target {
                    project_id: 3,
                    config_id: Some(33)
                },
                Target {
                    project_id: 1,
                    config_id: None
                },
            ]
        );
        let untracked = candidates(&[], Some("server"), &[]);
        assert_eq!(untracked.len(), 1);
        assert!(untracked[0].targets.is_empty());
        assert!(candidates(&[], Some(""), &[1]).is_empty());
    }

    #[test]
    fn large_pushes_keep_their_newest_commits() {
        let commits: Vec<Value> = (0..200)
            .map(|i| json!({"id": format!("c{i}"), "message": "x".repeat(1000)}))
            .collect();
        let p = json!({"ref": "refs/heads/main", "commits": commits, "head_commit": {"id": "c199"},
            "repository": {"full_name": "a/b", "id": 1}});
        let p = p.as_object().unwrap();
        let stored = stored_payload(p, 50_000);
        assert!(stored.len() <= 50_000);
        let back: Value = serde_json::from_str(&stored).unwrap();
        let kept = back["commits"].as_array().unwrap();
        assert!(!kept.is_empty());
        assert_eq!(kept.last().unwrap()["id"], "c199");
        assert_eq!(back["commits_truncated"], 200 - kept.len());
        assert_eq!(back["head_commit"]["id"], "c199");
        // Not even the push without its commits fits: its top-level scalars and a short
        // repository remain.
        let tiny: Value = serde_json::from_str(&stored_payload(p, 100)).unwrap();
        assert_eq!(tiny["payload_truncated"], true);
        assert_eq!(tiny["repository"]["full_name"], "a/b");
        assert_eq!(tiny["ref"], "refs/heads/main");
        assert_eq!(payload_budget(1), PAYLOAD_MAX);
        assert_eq!(payload_budget(1000), PAYLOAD_MIN);
    }
}
