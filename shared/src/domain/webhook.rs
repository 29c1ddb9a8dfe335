//! Outbound webhooks (API.md §10.2, §10.3, §19): the config and delivery fields, which
//! events a config is subscribed to, and the target rule on what a URL literally says
//! (scheme and host). The sender applies the same rule to every DNS answer and connects to
//! the checked address; this part runs wherever a target is saved (configs, deliveries,
//! webhook_delivery jobs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::validate::{DefaultValue as D, Kind as K, Spec, RECORD_IDS};
use crate::string_enum;

/// What a subscription list may name: a catalogue event, `<prefix>.*`, or `*`.
pub const SUBSCRIPTIONS: &[&str] = &[
    "*",
    "repository.*",
    "repository.synced",
    "technology.*",
    "technology.created",
    "technology.updated",
    "technology.deleted",
    "research_task.*",
    "research_task.created",
    "research_task.updated",
    "research_task.completed",
    "job.*",
    "job.completed",
    "job.failed",
    "analysis.*",
    "analysis.complete",
    "export.*",
    "export.complete",
];

/// WebhookConfig fields a client sends (POST; PATCH: all but project_id), in response order.
pub const CONFIG_FIELDS: &[Spec] = &[
    Spec::opt("repository_id", K::Id),
    Spec::req("webhook_url", K::Str { min: 1, max: 512 }),
    Spec::or(
        "events",
        K::Strs {
            items: 50,
            max: 100,
            values: SUBSCRIPTIONS,
        },
        D::EmptyList,
    ),
    Spec::or("active", K::Bool, D::Bool(true)),
    Spec::or(
        "retry_count",
        K::Int {
            min: Some(0),
            max: Some(10),
        },
        D::Int(3),
    ),
    Spec::or(
        "retry_delay_seconds",
        K::Int {
            min: Some(1),
            max: Some(3600),
        },
        D::Int(300),
    ),
];

/// `secret` on create only: 16..256 characters (absent: a generated `whsec_` secret).
pub const SECRET: &[Spec] = &[Spec::opt("secret", K::Str { min: 16, max: 256 })];

/// A WebhookConfig as responses carry it (§19); the secret never.
pub const CONFIG_OUT: &[&[Spec]] = &[
    RECORD_IDS,
    &[
        Spec::opt("repository_id", K::Id),
        Spec::opt("webhook_id", K::Id),
    ],
    &[
        Spec::req("webhook_url", K::Str { min: 1, max: 512 }),
        Spec::req(
            "events",
            K::Strs {
                items: 50,
                max: 100,
                values: SUBSCRIPTIONS,
            },
        ),
        Spec::req("active", K::Bool),
        Spec::req(
            "retry_count",
            K::Int {
                min: Some(0),
                max: Some(10),
            },
        ),
        Spec::req(
            "retry_delay_seconds",
            K::Int {
                min: Some(1),
                max: Some(3600),
            },
        ),
        Spec::opt("last_delivery_at", K::Ts),
        Spec::req("created_at", K::Ts),
        Spec::req("updated_at", K::Ts),
    ],
];

string_enum!(
    /// Where a delivery stands (§10.2 Flow).
    DeliveryStatus {
        Pending = "pending",
        Delivering = "delivering",
        Delivered = "delivered",
        Retrying = "retrying",
        Failed = "failed",
        Exhausted = "exhausted",
    }
);

impl DeliveryStatus {
    /// Delivered, failed and exhausted never change by themselves (a manual retry revives the
    /// last two).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed | Self::Exhausted)
    }
}

const STATUSES: &[&str] = &[
    "pending",
    "delivering",
    "delivered",
    "retrying",
    "failed",
    "exhausted",
];

/// A WebhookDelivery as responses carry it (§19).
pub const DELIVERY_OUT: &[&[Spec]] = &[
    RECORD_IDS,
    &[
        Spec::req("config_id", K::Id),
        Spec::req("event_type", K::Str { min: 1, max: 100 }),
        Spec::req("payload", K::Obj),
        Spec::req("target_url", K::Str { min: 1, max: 512 }),
        Spec::req(
            "attempt_number",
            K::Int {
                min: Some(1),
                max: None,
            },
        ),
        Spec::req("status", K::Enum(STATUSES)),
        Spec::opt(
            "http_status_code",
            K::Int {
                min: Some(100),
                max: Some(599),
            },
        ),
        Spec::opt(
            "response_body",
            K::Str {
                min: 0,
                max: 10_000,
            },
        ),
        Spec::opt("error_message", K::Str { min: 0, max: 2_000 }),
        Spec::req("scheduled_for", K::Ts),
        Spec::opt("attempted_at", K::Ts),
        Spec::opt("completed_at", K::Ts),
        Spec::opt(
            "duration_ms",
            K::Int {
                min: Some(0),
                max: None,
            },
        ),
        Spec::req("created_at", K::Ts),
    ],
];

/// Whether `events` (a config's subscription list) names `event_type`: empty = all; an entry
/// is a catalogue name, `<prefix>.*` or `*`.
pub fn subscribes(events: &[Value], event_type: &str) -> bool {
    events.is_empty()
        || events.iter().filter_map(Value::as_str).any(|e| {
            e == "*"
                || e == event_type
                || e.strip_suffix(".*").is_some_and(|prefix| {
                    event_type
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('.'))
                })
        })
}

/// The first entry of a subscription list that names no event of the catalogue.
pub fn unknown_event(events: &[Value]) -> Option<String> {
    events.iter().find_map(|e| {
        let e = e.as_str().unwrap_or_default();
        (!SUBSCRIPTIONS.contains(&e)).then(|| e.to_string())
    })
}

/// The repository an event concerns, for configs filtered to one repository: only
/// repository.synced, research_task.* and analysis.complete carry one (§10.2 Subscriptions).
pub fn event_repository(event_type: &str, data: &Value) -> Option<u64> {
    match event_type {
        "repository.synced" => data.pointer("/repository/id").and_then(Value::as_u64),
        "analysis.complete" => data.get("repository_id").and_then(Value::as_u64),
        t if t.starts_with("research_task.") => data.get("repository_id").and_then(Value::as_u64),
        _ => None,
    }
}

/// Whether a config (its `events`, `repository_id`, `active`) gets an event.
pub fn config_matches(
    config: &serde_json::Map<String, Value>,
    event_type: &str,
    data: &Value,
) -> bool {
    let active = config
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let events = config
        .get("events")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let repo_ok = match config.get("repository_id").and_then(Value::as_u64) {
        None => true,
        Some(r) => event_repository(event_type, data) == Some(r),
    };
    active && repo_ok && subscribes(events, event_type)
}

/// The payload envelope (§21): compact UTF-8 JSON, exactly the bytes that are signed.
pub fn envelope(event_type: &str, timestamp: &str, project_id: u64, data: &Value) -> Vec<u8> {
    let v = serde_json::json!({
        "type": event_type,
        "timestamp": timestamp,
        "project_id": project_id,
        "data": data,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Why a target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetError {
    /// Not a URL with a host.
    Invalid,
    /// A scheme, host or address the rule forbids (400 target_not_allowed).
    NotAllowed,
}

/// Checks `url` against §10.3: `https://` only and no localhost, loopback, private, CGNAT,
/// link-local, unspecified, multicast, broadcast or IPv4-mapped literal; `allow_private`
/// (WEBHOOK_ALLOW_PRIVATE_TARGETS, local development) lifts the address rule and allows
/// `http://`.
pub fn check_target(url: &str, allow_private: bool) -> Result<(), TargetError> {
    let parsed = url::Url::parse(url).map_err(|_| TargetError::Invalid)?;
    let host = parsed.host().ok_or(TargetError::Invalid)?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(TargetError::NotAllowed),
        _ => return Err(TargetError::Invalid),
    }
    if allow_private {
        return Ok(());
    }
    let blocked = match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
    };
    if blocked {
        Err(TargetError::NotAllowed)
    } else {
        Ok(())
    }
}

/// Whether an address may receive webhooks (the address half of §10.3).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms are refused outright.
            if v6.to_ipv4_mapped().is_some() || v6.segments()[..6] == [0; 6] {
                return false;
            }
            let seg = v6.segments();
            let first = seg[0];
            let unique_local = (first & 0xfe00) == 0xfc00; // fc00::/7
            let link_local = (first & 0xffc0) == 0xfe80; // fe80::/10
                                                         // Forms that carry an IPv4 address a gateway may translate into a private one:
                                                         // NAT64 64:ff9b::/96 (and the local-use 64:ff9b:1::/48), 6to4 2002::/16, Teredo
                                                         // 2001::/32.
            let wraps_v4 = (seg[0] == 0x64 && seg[1] == 0xff9b)
                || first == 0x2002
                || (first == 0x2001 && seg[1] == 0);
            !(v6 == Ipv6Addr::LOCALHOST
                || wraps_v4
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || (a == 100 && (64..=127).contains(&b)) // CGNAT 100.64/10
        || a >= 240 // reserved 240/4
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments 192.0.0/24
        || a == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_match_names_prefixes_and_everything() {
        let list = |v: &[&str]| v.iter().map(|s| Value::from(*s)).collect::<Vec<_>>();
        assert!(subscribes(&[], "job.completed"));
        assert!(subscribes(&list(&["*"]), "job.completed"));
        assert!(subscribes(&list(&["job.*"]), "job.failed"));
        assert!(!subscribes(&list(&["job.*"]), "jobs.failed"));
        assert!(!subscribes(
            &list(&["technology.created"]),
            "technology.updated"
        ));
        assert_eq!(
            unknown_event(&list(&["job.*", "technology.created", "*"])),
            None
        );
        assert_eq!(unknown_event(&list(&["job.done"])), Some("job.done".into()));
        assert_eq!(unknown_event(&list(&["nope.*"])), Some("nope.*".into()));
    }

    #[test]
    fn repository_filters_pass_only_that_repositorys_events() {
        let cfg = |repo: Option<u64>| {
            serde_json::json!({"active": true, "events": [], "repository_id": repo})
                .as_object()
                .cloned()
                .unwrap()
        };
        let synced = serde_json::json!({"repository": {"id": 7}, "changes_detected": true});
        assert!(config_matches(&cfg(Some(7)), "repository.synced", &synced));
        assert!(!config_matches(&cfg(Some(8)), "repository.synced", &synced));
        assert!(!config_matches(
            &cfg(Some(7)),
            "technology.created",
            &serde_json::json!({"id": 1})
        ));
        assert!(config_matches(
            &cfg(None),
            "technology.created",
            &serde_json::json!({"id": 1})
        ));
        let task = serde_json::json!({"id": 3, "repository_id": 7});
        assert!(config_matches(
            &cfg(Some(7)),
            "research_task.updated",
            &task
        ));
        let mut off = cfg(None);
        off.insert("active".into(), Value::Bool(false));
        assert!(!config_matches(
            &off,
            "technology.created",
            &serde_json::json!({})
        ));
    }

    #[test]
    fn the_envelope_is_compact_and_ordered() {
        let body = envelope(
            "job.completed",
            "2026-11-26T10:37:02.225Z",
            7,
            &serde_json::json!({"id": 1}),
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"type":"job.completed","timestamp":"2026-11-26T10:37:02.225Z","project_id":7,"data":{"id":1}}"#
        );
    }

    #[test]
    fn public_https_targets_pass() {
        assert_eq!(check_target("https://hooks.example.com/x", false), Ok(()));
        assert_eq!(check_target("https://93.184.216.34/x", false), Ok(()));
        assert_eq!(check_target("https://[2606:4700::1111]/", false), Ok(()));
    }

    #[test]
    fn the_rule_refuses_private_and_plain_targets() {
        for url in [
            "http://hooks.example.com/x",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://0.0.0.0/",
            "https://255.255.255.255/",
            "https://224.0.0.1/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fc00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:8.8.8.8]/",
            "https://2130706433/",            // 127.0.0.1 as one number
            "https://[64:ff9b::a00:1]/",      // NAT64 of 10.0.0.1
            "https://[2002:a00:1::]/",        // 6to4 of 10.0.0.1
            "https://[2001:0:4136:e378::1]/", // Teredo
            "https://240.0.0.1/",
            "https://198.18.0.1/",
            "https://192.0.0.8/",
        ] {
            assert_eq!(
                check_target(url, false),
                Err(TargetError::NotAllowed),
                "{url}"
            );
        }
        assert_eq!(
            check_target("ftp://example.com/", false),
            Err(TargetError::Invalid)
        );
        assert_eq!(check_target("not a url", false), Err(TargetError::Invalid));
    }

    #[test]
    fn local_development_lifts_the_rule() {
        assert_eq!(check_target("http://127.0.0.1:9000/hook", true), Ok(()));
        assert_eq!(
            check_target("ftp://127.0.0.1/", true),
            Err(TargetError::Invalid)
        );
    }
}
