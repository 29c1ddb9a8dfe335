//! Outdated dependencies and research gaps (API.md §20, "Research gaps").
//!
//! # Version comparison
//!
//! A version is *numeric dotted* when, after trimming, an optional leading `v`/`V` and an optional
//! `+build` suffix (ignored), it is `N(.N)*` (any number of components, any length, leading zeros
//! allowed), optionally followed by a pre-release/qualifier suffix: a separator (`-`, `.` or `_`,
//! or none before a letter) and then one or more `[0-9A-Za-z.-_]` characters, e.g. `1.2.3-beta.2`,
//! `2.0.0rc1`, `31.1-jre`, `5.3.0.RELEASE`. A `.x` component (`1.x`, `1.2.X.3`) is a wildcard, not a suffix. Anything else (`unknown`, `*`, `1.x`, `>=1.0`, `1.0,
//! <2`, `${project.version}`, ``) is *unparsable*.
//!
//! * Both parsable: numeric components are compared as integers, missing components count as 0
//!   (`1.0` = `1.0.0`). With equal numbers, a version without suffix is greater than one with a
//!   suffix (`1.2.3` > `1.2.3-beta`, as in SemVer), except that the Maven release qualifiers
//!   `final`, `release` and `ga` (any case) count as no suffix; two suffixes are compared
//!   SemVer-style, identifier by identifier (split at `.`, `-`, `_`, and between digits and
//!   letters): numbers numerically, other identifiers by ASCII case-insensitive order, numbers
//!   before words, a shorter list first.
//! * Either unparsable: outdated iff the strings differ (§20). In particular a current version
//!   `unknown` is outdated whenever a latest version is known, and its gap is `medium`.

use std::cmp::Ordering;

use super::model::{Dependency, GapSeverity, ResearchGap};

/// Whether `latest` is greater than `current` (see the module documentation); when either is not
/// numeric dotted, whether the two strings differ.
pub fn is_outdated(current: &str, latest: &str) -> bool {
    match (Version::parse(current), Version::parse(latest)) {
        (Some(current), Some(latest)) => latest.compare(&current) == Ordering::Greater,
        _ => current != latest,
    }
}

/// Sets `latest_version` (from `latest`; None, empty or blank → None) and `is_outdated` (false
/// without a latest version) of every dependency.
pub fn apply_latest(deps: &mut [Dependency], latest: impl Fn(&Dependency) -> Option<String>) {
    for dep in deps.iter_mut() {
        let found = latest(dep)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        dep.is_outdated = found
            .as_deref()
            .is_some_and(|l| is_outdated(&dep.version, l));
        dep.latest_version = found;
    }
}

/// One gap per dependency that has a latest version and is outdated, sorted by severity
/// (critical first), then by dependency name (then input order).
pub fn research_gaps(deps: &[Dependency]) -> Vec<ResearchGap> {
    let mut gaps: Vec<(&str, ResearchGap)> = deps
        .iter()
        .filter(|d| d.is_outdated)
        .filter_map(|d| Some((d.name.as_str(), gap(d, d.latest_version.as_deref()?))))
        .collect();
    gaps.sort_by(|(a_name, a), (b_name, b)| a.severity.cmp(&b.severity).then(a_name.cmp(b_name)));
    gaps.into_iter().map(|(_, gap)| gap).collect()
}

/// The severity of being at `current` when `latest` exists: by major versions behind
/// (≥ 3 critical, 2 high, 1 medium, 0 or less low); medium when either is unparsable.
pub fn severity(current: &str, latest: &str) -> GapSeverity {
    let major = |v: &str| Version::parse(v).and_then(|v| v.major());
    match (major(current), major(latest)) {
        (Some(current), Some(latest)) => match i128::from(latest) - i128::from(current) {
            d if d >= 3 => GapSeverity::Critical,
            2 => GapSeverity::High,
            1 => GapSeverity::Medium,
            _ => GapSeverity::Low,
        },
        _ => GapSeverity::Medium,
    }
}

/// `estimated_effort` per severity (§20).
pub fn estimated_effort(severity: GapSeverity) -> &'static str {
    match severity {
        GapSeverity::Critical => "2-4 weeks",
        GapSeverity::High => "1-2 weeks",
        GapSeverity::Medium => "3-5 days",
        GapSeverity::Low => "1-2 days",
    }
}

fn gap(dep: &Dependency, latest: &str) -> ResearchGap {
    let severity = severity(&dep.version, latest);
    let (name, current) = (&dep.name, &dep.version);
    // The per-severity templates of the original implementation (research_gap_analyzer.py).
    let (description, suggested_task) = match severity {
        GapSeverity::Critical => (
            format!(
                "{name} is severely outdated (v{current} → v{latest}). Multiple major versions \
                 behind with potential security vulnerabilities and missing critical features."
            ),
            format!(
                "URGENT: Research migration path for {name} v{current} → v{latest}. Review \
                 breaking changes, update dependencies, and plan gradual rollout."
            ),
        ),
        GapSeverity::High => (
            format!(
                "{name} is significantly outdated (v{current} → v{latest}). Missing important \
                 features and bug fixes. Upgrade recommended."
            ),
            format!(
                "Research {name} upgrade to v{latest}. Review changelog, assess breaking \
                 changes, and create upgrade plan."
            ),
        ),
        GapSeverity::Medium => (
            format!(
                "{name} is one major version behind (v{current} → v{latest}). Consider \
                 upgrading for new features and improvements."
            ),
            format!(
                "Evaluate {name} upgrade to v{latest}. Test compatibility and plan upgrade \
                 timeline."
            ),
        ),
        GapSeverity::Low => (
            format!(
                "{name} has minor updates available (v{current} → v{latest}). Upgrade when \
                 convenient for bug fixes and patches."
            ),
            format!(
                "Schedule minor update for {name} to v{latest}. Quick compatibility check and \
                 update."
            ),
        ),
    };
    ResearchGap {
        technology: format!("{} ({})", dep.name, dep.language),
        current_version: dep.version.clone(),
        latest_version: latest.to_string(),
        severity,
        description,
        suggested_task,
        estimated_effort: estimated_effort(severity).to_string(),
    }
}

/// A numeric dotted version: its numeric components (digit strings) and its suffix, if any.
#[derive(Debug)]
struct Version<'a> {
    numbers: Vec<&'a str>,
    suffix: Option<&'a str>,
}

impl<'a> Version<'a> {
    fn parse(text: &'a str) -> Option<Version<'a>> {
        let text = text.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let text = text.split('+').next().unwrap_or("");
        let core_end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (mut core, mut rest) = text.split_at(core_end);
        // A trailing `.` belongs to the suffix (`1.0.Final`).
        if let Some(stripped) = core.strip_suffix('.') {
            core = stripped;
            rest = &text[core.len()..];
        }
        let numbers: Vec<&str> = core.split('.').collect();
        if numbers.iter().any(|n| n.is_empty()) {
            return None;
        }
        let suffix = if rest.is_empty() {
            None
        } else {
            let (separated, suffix) = match rest.strip_prefix(['-', '.', '_']) {
                Some(after) => (true, after),
                None => (false, rest),
            };
            let valid = (separated || suffix.starts_with(|c: char| c.is_ascii_alphabetic()))
                && suffix.starts_with(|c: char| c.is_ascii_alphanumeric())
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            // `1.x`, `1.2.X`: wildcards, not versions.
            let wildcard = rest.starts_with('.')
                && suffix
                    .split(['.', '-', '_'])
                    .next()
                    .is_some_and(|first| first.eq_ignore_ascii_case("x"));
            if !valid || wildcard {
                return None;
            }
            let release = ["final", "release", "ga"]
                .iter()
                .any(|q| suffix.eq_ignore_ascii_case(q));
            (!release).then_some(suffix)
        };
        Some(Version { numbers, suffix })
    }

    fn major(&self) -> Option<u64> {
        self.numbers.first()?.parse().ok()
    }
}

impl Version<'_> {
    fn compare(&self, other: &Version<'_>) -> Ordering {
        let len = self.numbers.len().max(other.numbers.len());
        for i in 0..len {
            let a = self.numbers.get(i).copied().unwrap_or("0");
            let b = other.numbers.get(i).copied().unwrap_or("0");
            match cmp_digits(a, b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match (self.suffix, other.suffix) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => cmp_suffix(a, b),
        }
    }
}

/// Compares two non-empty ASCII digit strings as (unbounded) integers.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// SemVer-like comparison of pre-release suffixes.
fn cmp_suffix(a: &str, b: &str) -> Ordering {
    let (a, b) = (identifiers(a), identifiers(b));
    for (x, y) in a.iter().zip(b.iter()) {
        let x_num = x.starts_with(|c: char| c.is_ascii_digit());
        let y_num = y.starts_with(|c: char| c.is_ascii_digit());
        let order = match (x_num, y_num) {
            (true, true) => cmp_digits(x, y),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// Splits at `.`, `-`, `_` and at every change between digits and non-digits.
fn identifiers(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for part in s.split(['.', '-', '_']).filter(|p| !p.is_empty()) {
        let mut start = 0;
        let mut prev_digit = None;
        for (i, c) in part.char_indices() {
            let digit = c.is_ascii_digit();
            if prev_digit.is_some_and(|p| p != digit) {
                out.push(&part[start..i]);
                start = i;
            }
            prev_digit = Some(digit);
        }
        out.push(&part[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::DependencyType;
    use super::*;

    fn dep(name: &str, version: &str, latest: Option<&str>, outdated: bool) -> Dependency {
        Dependency {
            name: name.to_string(),
            version: version.to_string(),
            dep_type: DependencyType::Runtime,
            language: "javascript".to_string(),
            latest_version: latest.map(str::to_string),
            is_outdated: outdated,
            has_vulnerabilities: false,
            confidence: 1.0,
            source_file: "package.json".to_string(),
            package_manager: "npm".to_string(),
        }
    }

    #[test]
    fn numeric_dotted_comparison() {
        for (current, latest, expected) in [
            ("1.0.0", "1.0.1", true),
            ("1.0.0", "1.0.0", false),
            ("1.0.1", "1.0.0", false),
            ("1.9.0", "1.10.0", true),
            ("1.10.0", "1.9.0", false),
            ("1.0", "1.0.0", false),
            ("1.0.0", "1.0", false),
            ("1", "1.0.1", true),
            ("1.2.3.4", "1.2.3.5", true),
            ("01.02", "1.2", false),
            ("0.9", "0.10", true),
            ("v1.2.3", "1.2.4", true),
            ("1.2.3", "V1.2.3", false),
            (" 1.2.3 ", "1.2.3", false),
            ("1.2.3+build.5", "1.2.3+build.6", false),
            ("2.0.0+incompatible", "2.0.1", true),
            (
                "99999999999999999999999.0",
                "99999999999999999999999.1",
                true,
            ),
            ("99999999999999999999999", "100000000000000000000000", true),
        ] {
            assert_eq!(
                is_outdated(current, latest),
                expected,
                "{current} → {latest}"
            );
        }
    }

    #[test]
    fn pre_release_suffixes() {
        for (current, latest, expected) in [
            ("1.2.3-beta", "1.2.3", true),
            ("1.2.3", "1.2.3-beta", false),
            ("1.2.3", "1.2.4-beta", true),
            ("1.2.4-beta", "1.2.3", false),
            ("1.2.3-alpha", "1.2.3-beta", true),
            ("1.2.3-beta.2", "1.2.3-beta.10", true),
            ("1.2.3-beta.10", "1.2.3-beta.2", false),
            ("2.0.0rc1", "2.0.0rc2", true),
            ("2.0.0rc1", "2.0.0", true),
            ("2.0.0-rc1", "2.0.0-beta", false),
            ("1.0.0-alpha", "1.0.0-alpha.1", true),
            ("1.0.0-1", "1.0.0-alpha", true),
            ("1.0.0-RC1", "1.0.0-rc1", false),
            ("31.1-jre", "33.0.0-jre", true),
            ("32.1.3-jre", "32.1.3-jre", false),
            ("5.3.0.RELEASE", "5.3.0", false),
            ("5.3.0.Final", "5.3.1.Final", true),
            ("2.7.18.RELEASE", "3.2.0", true),
            ("1.0-SNAPSHOT", "1.0", true),
            (
                "0.0.0-20231010120000-abcdef123456",
                "0.0.0-20240101000000-0123456789ab",
                true,
            ),
        ] {
            assert_eq!(
                is_outdated(current, latest),
                expected,
                "{current} → {latest}"
            );
        }
    }

    #[test]
    fn unparsable_versions_compare_as_strings() {
        for (current, latest, expected) in [
            ("unknown", "1.2.3", true),
            ("unknown", "unknown", false),
            ("latest", "1.0.0", true),
            ("*", "1.0.0", true),
            ("1.x", "1.5.0", true),
            ("1.2.X", "1.2.X", false),
            ("workspace:*", "2.0.0", true),
            ("1.2, <2", "1.2", true),
            ("${spring.version}", "6.1.0", true),
            ("1..2", "1..2", false),
            ("1.0.", "1.0.1", true),
            ("", "1.0", true),
            ("1.0.0", "", true),
            ("dev-main", "dev-main", false),
            ("1.0.0 <2", "0.1", true),
            ("1.0-beta!", "1.0-beta!", false),
        ] {
            assert_eq!(
                is_outdated(current, latest),
                expected,
                "{current} → {latest}"
            );
        }
    }

    #[test]
    fn severity_by_major_versions_behind() {
        for (current, latest, expected) in [
            ("1.0.0", "4.0.0", GapSeverity::Critical),
            ("1.0.0", "10.0.0", GapSeverity::Critical),
            ("1.0.0", "3.0.0", GapSeverity::High),
            ("1.9.9", "3.0.0", GapSeverity::High),
            ("1.0.0", "2.0.0", GapSeverity::Medium),
            ("1.0.0", "1.5.0", GapSeverity::Low),
            ("1.4.0", "1.4.1", GapSeverity::Low),
            ("0.9", "0.10", GapSeverity::Low),
            ("2.0.0-beta", "2.0.0", GapSeverity::Low),
            ("v16.0.0", "18.2.0", GapSeverity::High),
            ("unknown", "1.0.0", GapSeverity::Medium),
            ("1.0.0", "latest", GapSeverity::Medium),
            (
                "99999999999999999999999",
                "100000000000000000000000",
                GapSeverity::Medium,
            ),
        ] {
            assert_eq!(severity(current, latest), expected, "{current} → {latest}");
        }
    }

    #[test]
    fn apply_latest_sets_latest_and_outdated() {
        let mut deps = vec![
            dep("react", "16.0.0", None, false),
            dep("jest", "29.0.0", None, false),
            dep("private", "1.0.0", Some("stale"), true),
            dep("blank", "1.0.0", None, false),
            dep("mystery", "unknown", None, false),
        ];
        apply_latest(&mut deps, |d| match d.name.as_str() {
            "react" => Some("18.2.0".to_string()),
            "jest" => Some("29.0.0".to_string()),
            "blank" => Some("  ".to_string()),
            "mystery" => Some(" 2.0.0\n".to_string()),
            _ => None,
        });
        assert_eq!(
            deps,
            vec![
                dep("react", "16.0.0", Some("18.2.0"), true),
                dep("jest", "29.0.0", Some("29.0.0"), false),
                dep("private", "1.0.0", None, false),
                dep("blank", "1.0.0", None, false),
                dep("mystery", "unknown", Some("2.0.0"), true),
            ]
        );
    }

    #[test]
    fn gaps_exact_values_and_order() {
        let deps = vec![
            dep("low-b", "1.0.0", Some("1.1.0"), true),
            dep("up-to-date", "29.0.0", Some("29.0.0"), false),
            dep("medium", "1.0.0", Some("2.0.0"), true),
            dep("low-a", "1.4.0", Some("1.4.1"), true),
            dep("no-latest", "1.0.0", None, true),
            dep("critical", "1.0.0", Some("5.0.0"), true),
            dep("high", "16.0.0", Some("18.2.0"), true),
            dep("unknown-version", "unknown", Some("3.0.0"), true),
        ];
        let gaps = research_gaps(&deps);
        let order: Vec<(&str, GapSeverity, &str)> = gaps
            .iter()
            .map(|g| {
                (
                    g.technology.as_str(),
                    g.severity,
                    g.estimated_effort.as_str(),
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                ("critical (javascript)", GapSeverity::Critical, "2-4 weeks"),
                ("high (javascript)", GapSeverity::High, "1-2 weeks"),
                ("medium (javascript)", GapSeverity::Medium, "3-5 days"),
                (
                    "unknown-version (javascript)",
                    GapSeverity::Medium,
                    "3-5 days"
                ),
                ("low-a (javascript)", GapSeverity::Low, "1-2 days"),
                ("low-b (javascript)", GapSeverity::Low, "1-2 days"),
            ]
        );
        assert_eq!(
            gaps[0],
            ResearchGap {
                technology: "critical (javascript)".to_string(),
                current_version: "1.0.0".to_string(),
                latest_version: "5.0.0".to_string(),
                severity: GapSeverity::Critical,
                description: "critical is severely outdated (v1.0.0 → v5.0.0). Multiple major \
                              versions behind with potential security vulnerabilities and \
                              missing critical features."
                    .to_string(),
                suggested_task: "URGENT: Research migration path for critical v1.0.0 → v5.0.0. \
                                 Review breaking changes, update dependencies, and plan gradual \
                                 rollout."
                    .to_string(),
                estimated_effort: "2-4 weeks".to_string(),
            }
        );
        let texts: Vec<(&str, &str)> = gaps
            .iter()
            .map(|g| (g.description.as_str(), g.suggested_task.as_str()))
            .collect();
        assert_eq!(
            texts[1..],
            [
                (
                    "high is significantly outdated (v16.0.0 → v18.2.0). Missing important \
                     features and bug fixes. Upgrade recommended.",
                    "Research high upgrade to v18.2.0. Review changelog, assess breaking \
                     changes, and create upgrade plan."
                ),
                (
                    "medium is one major version behind (v1.0.0 → v2.0.0). Consider upgrading \
                     for new features and improvements.",
                    "Evaluate medium upgrade to v2.0.0. Test compatibility and plan upgrade \
                     timeline."
                ),
                (
                    "unknown-version is one major version behind (vunknown → v3.0.0). \
                     Consider upgrading for new features and improvements.",
                    "Evaluate unknown-version upgrade to v3.0.0. Test compatibility and plan \
                     upgrade timeline."
                ),
                (
                    "low-a has minor updates available (v1.4.0 → v1.4.1). Upgrade when \
                     convenient for bug fixes and patches.",
                    "Schedule minor update for low-a to v1.4.1. Quick compatibility check and \
                     update."
                ),
                (
                    "low-b has minor updates available (v1.0.0 → v1.1.0). Upgrade when \
                     convenient for bug fixes and patches.",
                    "Schedule minor update for low-b to v1.1.0. Quick compatibility check and \
                     update."
                ),
            ]
        );
        assert!(research_gaps(&[]).is_empty());
    }

    #[test]
    fn gaps_after_apply_latest() {
        let mut deps = vec![
            dep("b", "1.0.0", None, false),
            dep("a", "1.0.0", None, false),
            dep("c", "2.0.0", None, false),
        ];
        apply_latest(&mut deps, |d| (d.name != "c").then(|| "1.0.1".to_string()));
        let gaps = research_gaps(&deps);
        let names: Vec<&str> = gaps.iter().map(|g| g.technology.as_str()).collect();
        assert_eq!(names, ["a (javascript)", "b (javascript)"]);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_and_is_irreflexive(a in any::<String>(), b in any::<String>()) {
                prop_assert!(!is_outdated(&a, &a));
                let _ = is_outdated(&a, &b);
                let _ = severity(&a, &b);
            }

            #[test]
            fn numeric_order_is_antisymmetric(
                a in "v?[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-[a-z0-9]{1,4}(\\.[a-z0-9]{1,3})?)?",
                b in "v?[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-[a-z0-9]{1,4}(\\.[a-z0-9]{1,3})?)?",
            ) {
                prop_assert!(!(is_outdated(&a, &b) && is_outdated(&b, &a)));
            }

            #[test]
            fn gaps_for_any_dependencies(
                versions in proptest::collection::vec((".{0,12}", proptest::option::of(".{0,12}")), 0..8)
            ) {
                let mut deps: Vec<Dependency> = versions
                    .iter()
                    .enumerate()
                    .map(|(i, (v, _))| dep(&format!("d{i}"), v, None, false))
                    .collect();
                apply_latest(&mut deps, |d| {
                    let i: usize = d.name[1..].parse().unwrap_or(0);
                    versions.get(i).and_then(|(_, l)| l.clone())
                });
                let gaps = research_gaps(&deps);
                prop_assert_eq!(gaps.len(), deps.iter().filter(|d| d.is_outdated).count());
                prop_assert!(gaps.windows(2).all(|w| w[0].severity <= w[1].severity));
            }
        }
    }
}
