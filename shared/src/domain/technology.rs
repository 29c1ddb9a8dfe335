//! The technology radar entry (API.md §4): its fields, bounds, defaults and enumerations.

use super::validate::{DefaultValue as D, Kind as K, Spec, RECORD_IDS, TIMESTAMPS};

pub const DOMAINS: &[&str] = &[
    "audio-dsp",
    "ai-ml",
    "music-theory",
    "performance",
    "ui-ux",
    "infrastructure",
    "other",
];
pub const STATUSES: &[&str] = &[
    "discovery",
    "research",
    "evaluation",
    "implementation",
    "integrated",
    "archived",
];
pub const INTEGRATION_DIFFICULTIES: &[&str] =
    &["trivial", "easy", "moderate", "complex", "very_complex"];
pub const MATURITY_LEVELS: &[&str] = &["alpha", "beta", "stable", "mature", "legacy"];
pub const COST_TIERS: &[&str] = &[
    "free",
    "freemium",
    "affordable",
    "moderate",
    "expensive",
    "enterprise",
];

const TEXT: K = K::Str {
    min: 0,
    max: 100_000,
};
const URL: K = K::Str { min: 0, max: 512 };
const NON_NEG: K = K::Int {
    min: Some(0),
    max: None,
};
const SCORE: K = K::Int {
    min: Some(0),
    max: Some(100),
};

/// TechnologyCreate, in response order.
pub const FIELDS: &[Spec] = &[
    Spec::req("title", K::Str { min: 1, max: 255 }),
    Spec::opt("vendor", K::Str { min: 0, max: 255 }),
    Spec::or("domain", K::Enum(DOMAINS), D::Str("other")),
    Spec::or("status", K::Enum(STATUSES), D::Str("discovery")),
    Spec::or("relevance_score", SCORE, D::Int(50)),
    Spec::or(
        "priority",
        K::Int {
            min: Some(1),
            max: Some(5),
        },
        D::Int(3),
    ),
    Spec::opt("description", TEXT),
    Spec::opt("notes", TEXT),
    Spec::opt("use_cases", TEXT),
    Spec::opt("documentation_url", URL),
    Spec::opt("repository_url", URL),
    Spec::opt("website_url", URL),
    Spec::opt("tags", TEXT),
    Spec::opt("latency_ms", K::Num { min: 0.0 }),
    Spec::opt("cost_monthly_usd", K::Num { min: 0.0 }),
    Spec::opt("throughput_qps", NON_NEG),
    Spec::opt("integration_time_estimate_days", NON_NEG),
    Spec::opt("hn_score_avg", NON_NEG),
    Spec::opt("github_stars", NON_NEG),
    Spec::opt("integration_difficulty", K::Enum(INTEGRATION_DIFFICULTIES)),
    Spec::opt("maturity_level", K::Enum(MATURITY_LEVELS)),
    Spec::opt("cost_tier", K::Enum(COST_TIERS)),
    Spec::opt("stability_score", SCORE),
    Spec::opt("dependencies", K::Obj),
    Spec::opt("alternatives", TEXT),
    Spec::opt("last_hn_mention", K::Ts),
    Spec::opt("github_last_commit", K::Ts),
];

/// A technology as responses (and events) carry it: every field, null when unset.
pub const OUT: &[&[Spec]] = &[RECORD_IDS, FIELDS, TIMESTAMPS];

/// The key of a title's uniqueness marker: titles are unique per project, ignoring case.
pub fn title_key(title: &str) -> String {
    title.trim().to_lowercase()
}

/// Case-insensitive substring match on title, description and tags.
pub fn matches_search(record: &serde_json::Map<String, serde_json::Value>, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    ["title", "description", "tags"].iter().any(|f| {
        record
            .get(*f)
            .and_then(|v| v.as_str())
            .is_some_and(|s| s.to_lowercase().contains(&needle))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn search_is_case_insensitive_over_three_fields() {
        let r = json!({"title": "Tokio", "description": null, "tags": "async,Runtime"});
        let r = r.as_object().unwrap();
        assert!(matches_search(r, "tok"));
        assert!(matches_search(r, "RUNTIME"));
        assert!(!matches_search(r, "python"));
        assert_eq!(title_key(" Tokio "), "tokio");
    }
}
