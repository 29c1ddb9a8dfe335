//! Tracked GitHub repositories (API.md §3): GitHub's naming rules.

use std::sync::LazyLock;

static NAME: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[A-Za-z0-9_.-]+$").expect("valid regex"));

/// An owner or repository name GitHub accepts: letters, digits, `_`, `.`, `-`; not `.`/`..`.
pub fn is_valid_name(s: &str) -> bool {
    NAME.is_match(s) && s != "." && s != ".."
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
    }
}
