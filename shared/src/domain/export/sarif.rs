//! SARIF 2.1.0 (API.md §13), 2-space indent.

use serde::Serialize;

use super::{
    category_str, confidence_percent, fingerprint, is_outdated, ExportError, SeverityIndex,
};
use crate::domain::analysis::model::{ProjectAnalysis, SourceType};

pub(crate) const SCHEMA_URI: &str =
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json";
pub(crate) const INFORMATION_URI: &str = "https://github.com/PerformanceSuite/CommandCenter";
pub(crate) const TOOL_VERSION: &str = "2.0.0";
const SRCROOT: &str = "SRCROOT";

pub(crate) fn render(a: &ProjectAnalysis) -> Result<Vec<u8>, ExportError> {
    let log = build(a);
    let mut out = Vec::with_capacity(1024 + 1024 * (a.dependencies.len() + a.research_gaps.len()));
    serde_json::to_writer_pretty(&mut out, &log).map_err(|e| ExportError::Json(e.to_string()))?;
    Ok(out)
}

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    original_uri_base_ids: OriginalUriBaseIds,
    invocations: [Invocation<'a>; 1],
    results: Vec<SarifResult<'a>>,
    properties: RunProperties<'a>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    semantic_version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    name: &'static str,
    short_description: Text<&'static str>,
    full_description: Text<&'static str>,
    help_uri: String,
    default_configuration: DefaultConfiguration,
}

#[derive(Serialize)]
struct Text<T> {
    text: T,
}

#[derive(Serialize)]
struct DefaultConfiguration {
    level: &'static str,
}

#[derive(Serialize)]
struct OriginalUriBaseIds {
    #[serde(rename = "SRCROOT")]
    srcroot: UriOnly,
}

#[derive(Serialize)]
struct UriOnly {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time_utc: Option<&'a str>,
}

#[derive(Serialize)]
struct RunProperties<'a> {
    #[serde(rename = "commandCenter")]
    command_center: CommandCenterProps<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommandCenterProps<'a> {
    project_path: &'a str,
    analyzed_at: &'a str,
    analysis_version: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    kind: &'static str,
    message: Text<String>,
    locations: [Location; 1],
    fingerprints: Fingerprints,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    uri_base_id: &'static str,
}

#[derive(Serialize)]
struct Fingerprints {
    #[serde(rename = "commandCenter/v1")]
    v1: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ResultProperties<'a> {
    #[serde(rename_all = "camelCase")]
    Technology {
        technology: &'a str,
        version: Option<&'a str>,
        confidence: f64,
        category: &'static str,
    },
    #[serde(rename_all = "camelCase")]
    Dependency {
        dependency: &'a str,
        current_version: &'a str,
        latest_version: &'a str,
        severity: &'static str,
    },
    #[serde(rename_all = "camelCase")]
    Gap {
        severity: &'static str,
        estimated_effort: &'a str,
    },
}

struct RuleDef {
    id: &'static str,
    name: &'static str,
    short: &'static str,
    full: &'static str,
    level: &'static str,
}

/// Index in `rules` = `ruleIndex` of the results.
const RULES: [RuleDef; 4] = [
    RuleDef {
        id: "CC001",
        name: "OutdatedDependency",
        short: "Outdated dependency detected",
        full: "A dependency is significantly outdated and may have security vulnerabilities or missing features.",
        level: "warning",
    },
    RuleDef {
        id: "CC002",
        name: "MissingDependency",
        short: "Missing recommended dependency",
        full: "A recommended dependency is missing that could improve the project.",
        level: "note",
    },
    RuleDef {
        id: "CC003",
        name: "ResearchGap",
        short: "Research gap identified",
        full: "An area requiring research or evaluation has been identified.",
        level: "note",
    },
    RuleDef {
        id: "CC004",
        name: "TechnologyDetection",
        short: "Technology detected",
        full: "A technology or framework has been detected in the project.",
        level: "none",
    },
];
const CC001: usize = 0;
const CC003: usize = 2;
const CC004: usize = 3;

fn build(a: &ProjectAnalysis) -> Log<'_> {
    let rules = RULES
        .iter()
        .map(|r| Rule {
            id: r.id,
            name: r.name,
            short_description: Text { text: r.short },
            full_description: Text { text: r.full },
            help_uri: format!("{INFORMATION_URI}/docs/rules/{}", r.id),
            default_configuration: DefaultConfiguration { level: r.level },
        })
        .collect();

    let severities = SeverityIndex::new(&a.research_gaps);
    let mut results =
        Vec::with_capacity(a.technologies.len() + a.dependencies.len() + a.research_gaps.len());

    for t in &a.technologies {
        let version = t.version.as_deref().unwrap_or("");
        let message = match t.version.as_deref() {
            Some(v) => format!(
                "Detected {} {} (confidence: {}%)",
                t.name,
                v,
                confidence_percent(t.confidence)
            ),
            None => format!(
                "Detected {} (confidence: {}%)",
                t.name,
                confidence_percent(t.confidence)
            ),
        };
        results.push(result(
            CC004,
            "pass",
            message,
            relative_uri(&t.file_path),
            format!("tech-{}-{}", t.name, version),
            ResultProperties::Technology {
                technology: &t.name,
                version: t.version.as_deref(),
                confidence: if t.confidence.is_finite() {
                    t.confidence
                } else {
                    0.0
                },
                category: category_str(t.category),
            },
        ));
    }

    for d in a.dependencies.iter().filter(|d| is_outdated(d)) {
        let latest = d.latest_version.as_deref().unwrap_or("");
        results.push(result(
            CC001,
            "review",
            format!(
                "Dependency '{}' is outdated: {} → {} available",
                d.name, d.version, latest
            ),
            relative_uri(&d.source_file),
            format!("dep-{}-{}", d.name, d.version),
            ResultProperties::Dependency {
                dependency: &d.name,
                current_version: &d.version,
                latest_version: latest,
                severity: severities.label(d),
            },
        ));
    }

    for g in &a.research_gaps {
        results.push(result(
            CC003,
            "review",
            format!("Research Gap: {} - {}", g.technology, g.description),
            String::new(),
            format!("gap-{}", g.technology),
            ResultProperties::Gap {
                severity: super::severity_str(g.severity),
                estimated_effort: &g.estimated_effort,
            },
        ));
    }

    Log {
        schema: SCHEMA_URI,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "CommandCenter",
                    semantic_version: TOOL_VERSION,
                    information_uri: INFORMATION_URI,
                    rules,
                },
            },
            original_uri_base_ids: OriginalUriBaseIds {
                srcroot: UriOnly { uri: srcroot(a) },
            },
            invocations: [Invocation {
                execution_successful: true,
                end_time_utc: valid_timestamp(&a.analyzed_at),
            }],
            results,
            properties: RunProperties {
                command_center: CommandCenterProps {
                    project_path: &a.project_path,
                    analyzed_at: &a.analyzed_at,
                    analysis_version: &a.analysis_version,
                },
            },
        }],
    }
}

/// analyzed_at as endTimeUtc when it is an RFC 3339 date-time (always, for stored analyses);
/// otherwise omitted, as the schema requires a date-time.
fn valid_timestamp(ts: &str) -> Option<&str> {
    use ::time::format_description::well_known::Rfc3339;
    ::time::OffsetDateTime::parse(ts, &Rfc3339).ok().map(|_| ts)
}

fn result<'a>(
    rule: usize,
    kind: &'static str,
    message: String,
    uri: String,
    key: String,
    properties: ResultProperties<'a>,
) -> SarifResult<'a> {
    SarifResult {
        rule_id: RULES[rule].id,
        rule_index: rule,
        level: RULES[rule].level,
        kind,
        message: Text { text: message },
        locations: [Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation {
                    uri,
                    uri_base_id: SRCROOT,
                },
            },
        }],
        fingerprints: Fingerprints {
            v1: fingerprint(&key),
        },
        properties,
    }
}

/// originalUriBaseIds.SRCROOT: `https://github.com/<owner>/<name>/tree/<sha>/` for GitHub-backed
/// sources, `file:///upload/<sha256>/` for uploads. The values come from `source`, else from
/// `project_path` (`github:<owner>/<name>@<sha>`, `upload:<sha256>`); without either,
/// `file:///project/<project_path>/`.
pub(crate) fn srcroot(a: &ProjectAnalysis) -> String {
    let s = &a.source;
    let from_path_github =
        a.project_path
            .strip_prefix("github:")
            .map(|rest| match rest.rsplit_once('@') {
                Some((repo, sha)) => (repo, Some(sha)),
                None => (rest, None),
            });
    let from_path_upload = a.project_path.strip_prefix("upload:");

    let github = |repo: &str, sha: &str| {
        format!(
            "https://github.com/{}/tree/{}/",
            encode_path(repo.trim_matches('/')),
            encode_segment(sha)
        )
    };
    let upload = |sha: &str| format!("file:///upload/{}/", encode_segment(sha));

    match s.kind {
        SourceType::Upload => {
            if let Some(sha) = s.archive_sha256.as_deref().or(from_path_upload) {
                return upload(sha);
            }
        }
        SourceType::Github | SourceType::Repository => {
            let repo = s.repo.as_deref().or(from_path_github.map(|(r, _)| r));
            let sha = s
                .commit_sha
                .as_deref()
                .or(from_path_github.and_then(|(_, sha)| sha))
                .or(s.git_ref.as_deref());
            if let (Some(repo), Some(sha)) = (repo, sha) {
                return github(repo, sha);
            }
        }
    }
    if let Some((repo, Some(sha))) = from_path_github {
        return github(repo, sha);
    }
    if let Some(sha) = from_path_upload {
        return upload(sha);
    }
    let path = encode_path(a.project_path.trim_matches('/'));
    if path.is_empty() {
        "file:///project/".to_owned()
    } else {
        format!("file:///project/{path}/")
    }
}

/// A stored relative path as a URI reference relative to SRCROOT: backslashes become `/`,
/// leading `/` and `./` are dropped, everything outside RFC 3986 unreserved characters and `/`
/// is percent-encoded (so `:` or `?` in a name cannot turn it into a scheme or query).
pub(crate) fn relative_uri(path: &str) -> String {
    let mut p = path.replace('\\', "/");
    loop {
        let trimmed = p.trim_start_matches('/');
        let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
        if trimmed.len() == p.len() {
            break;
        }
        p = trimmed.to_owned();
    }
    encode_path(&p)
}

fn encode_path(p: &str) -> String {
    encode(p, true)
}

fn encode_segment(p: &str) -> String {
    encode(p, false)
}

fn encode(p: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(p.len());
    for &b in p.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}
