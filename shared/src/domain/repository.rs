//! Tracked GitHub repositories (API.md §3): GitHub's naming rules.

/// An owner or repository name GitHub accepts: letters, digits, `_`, `.`, `-`; not `.`/`..`
/// (spelled without look-ahead, so Rust's regex and ECMA-262 read it alike).
pub const NAME_PATTERN: &str =
    r"^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+)$";

/// Whether GitHub accepts `s` as an owner or repository name.
pub fn is_valid_name(s: &str) -> bool {
    super::validate::pattern_matches(NAME_PATTERN, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_names() {
        assert!(is_valid_name("tokio-rs"));
        assert!(is_valid_name("serde_json.rs"));
        assert!(!is_valid_name(".."));
        assert!(!is_valid_name("a/b"));
        assert!(!is_valid_name("has space"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("."));
        assert!(is_valid_name("..."));
        assert!(is_valid_name(".github"));
        assert!(is_valid_name("a."));
        assert!(!is_valid_name("a\n"));
    }
}
