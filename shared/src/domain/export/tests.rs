use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::time::Instant;

use serde_json::Value;

use super::*;
use crate::domain::analysis::model::{
    AnalysisSource, CodeMetrics, DependencyType, DetectedTechnology, SourceType,
};

const SARIF_SCHEMA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests-data/sarif/sarif-schema-2.1.0.json"
));

fn dep(name: &str, version: &str, latest: Option<&str>, outdated: bool, lang: &str) -> Dependency {
    Dependency {
        name: name.into(),
        version: version.into(),
        dep_type: DependencyType::Runtime,
        language: lang.into(),
        latest_version: latest.map(Into::into),
        is_outdated: outdated,
        has_vulnerabilities: false,
        confidence: 1.0,
        source_file: if lang == "python" {
            "requirements.txt".into()
        } else {
            "package.json".into()
        },
        package_manager: if lang == "python" { "pip" } else { "npm" }.into(),
    }
}

fn tech(
    name: &str,
    category: TechnologyCategory,
    version: Option<&str>,
    conf: f64,
    path: &str,
) -> DetectedTechnology {
    DetectedTechnology {
        name: name.into(),
        category,
        version: version.map(Into::into),
        confidence: conf,
        file_path: path.into(),
    }
}

fn gap(
    technology: &str,
    cur: &str,
    latest: &str,
    severity: GapSeverity,
    effort: &str,
) -> ResearchGap {
    ResearchGap {
        technology: technology.into(),
        current_version: cur.into(),
        latest_version: latest.into(),
        severity,
        description: format!("{technology} is behind: {cur} → {latest}"),
        suggested_task: format!("Research upgrade of {technology}, \"carefully\""),
        estimated_effort: effort.into(),
    }
}

fn fixture() -> ProjectAnalysis {
    ProjectAnalysis {
        id: 42,
        project_id: 7,
        project_path: "github:acme/widgets@0123abcd".into(),
        source: AnalysisSource {
            kind: SourceType::Github,
            repository_id: None,
            repo: Some("acme/widgets".into()),
            git_ref: Some("main".into()),
            commit_sha: Some("0123abcd".into()),
            archive_sha256: None,
        },
        analysis_version: "1.0.0".into(),
        analyzed_at: "2026-11-26T10:37:02.225Z".into(),
        analysis_duration_ms: 1234,
        dependencies: vec![
            dep("react", "18.2.0", Some("19.0.0"), true, "javascript"),
            dep("lodash", "4.17.21", Some("4.17.21"), false, "javascript"),
            dep("=SUM(1,2)", "1.0", None, false, "python"),
            dep("flask", "1.0", Some("3.0.0"), true, "python"),
            // is_outdated without latest_version: not outdated (§13).
            dep("left-pad", "1.0.0", None, true, "javascript"),
        ],
        technologies: vec![
            tech(
                "react",
                TechnologyCategory::Framework,
                Some("18.2.0"),
                0.95,
                "package.json",
            ),
            tech(
                "docker",
                TechnologyCategory::Infrastructure,
                None,
                0.5,
                "Dockerfile",
            ),
            tech(
                "vite",
                TechnologyCategory::BuildTool,
                Some("5.0.0"),
                0.494,
                "web/package.json",
            ),
        ],
        code_metrics: CodeMetrics {
            total_files: 12,
            lines_of_code: 3456,
            languages: BTreeMap::from([("javascript".into(), 3000), ("python".into(), 456)]),
            complexity_score: 12.5,
            architecture_pattern: Some(ArchitecturePattern::Mvc),
            cyclomatic_complexity: Some(3.25),
            total_functions: Some(10),
            total_classes: Some(2),
        },
        research_gaps: vec![
            gap(
                "flask (python)",
                "1.0",
                "3.0.0",
                GapSeverity::High,
                "1-2 weeks",
            ),
            gap(
                "react (javascript)",
                "18.2.0",
                "19.0.0",
                GapSeverity::Medium,
                "3-5 days",
            ),
        ],
        created_at: "2026-11-26T10:37:02.300Z".into(),
        updated_at: "2026-11-26T10:37:02.300Z".into(),
    }
}

fn upload_fixture() -> ProjectAnalysis {
    let mut a = fixture();
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    a.project_path = format!("upload:{sha}");
    a.source = AnalysisSource {
        kind: SourceType::Upload,
        repository_id: None,
        repo: None,
        git_ref: None,
        commit_sha: None,
        archive_sha256: Some(sha.into()),
    };
    a
}

fn opts() -> ExportOptions {
    ExportOptions::new(2026)
}

fn body(a: &ProjectAnalysis, f: ExportFormat, o: &ExportOptions) -> Vec<u8> {
    render(a, f, o).expect("render").body
}

fn text(a: &ProjectAnalysis, f: ExportFormat) -> String {
    String::from_utf8(body(a, f, &opts())).expect("utf-8")
}

fn csv_text(a: &ProjectAnalysis, t: CsvExportType) -> String {
    let o = ExportOptions {
        csv_type: t,
        ..opts()
    };
    String::from_utf8(body(a, ExportFormat::Csv, &o)).expect("utf-8")
}

// ------------------------------------------------------------------------------------------
// API surface
// ------------------------------------------------------------------------------------------

#[test]
fn enums_round_trip() {
    for f in ExportFormat::ALL {
        assert_eq!(f.as_str().parse::<ExportFormat>(), Ok(f));
    }
    for t in CsvExportType::ALL {
        assert_eq!(t.as_str().parse::<CsvExportType>(), Ok(t));
    }
    let names: Vec<_> = ExportFormat::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(names, ["sarif", "html", "csv", "excel", "json"]);
    let names: Vec<_> = CsvExportType::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "combined",
            "technologies",
            "dependencies",
            "metrics",
            "gaps"
        ]
    );
    assert!("xlsx".parse::<ExportFormat>().is_err());
    assert!("SARIF".parse::<ExportFormat>().is_err());
    assert!("all".parse::<CsvExportType>().is_err());
    assert_eq!(CsvExportType::default(), CsvExportType::Combined);
}

#[test]
fn file_names_content_types_and_dispositions() {
    let a = fixture();
    let cases = [
        (
            ExportFormat::Sarif,
            "application/sarif+json",
            "attachment; filename=\"analysis_42.sarif\"",
        ),
        (
            ExportFormat::Html,
            "text/html; charset=utf-8",
            "inline; filename=\"analysis_42.html\"",
        ),
        (
            ExportFormat::Csv,
            "text/csv; charset=utf-8",
            "attachment; filename=\"analysis_42_combined.csv\"",
        ),
        (
            ExportFormat::Excel,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "attachment; filename=\"analysis_42.xlsx\"",
        ),
        (
            ExportFormat::Json,
            "application/json",
            "attachment; filename=\"analysis_42.json\"",
        ),
    ];
    for (f, ct, disp) in cases {
        let r = render(&a, f, &opts()).unwrap();
        assert_eq!(r.content_type, ct);
        assert_eq!(r.disposition, disp);
        assert!(disp.contains(&format!("\"{}\"", r.filename)));
        assert!(!r.body.is_empty());
    }
    assert_eq!(
        file_name(5, ExportFormat::Csv, CsvExportType::Gaps),
        "analysis_5_gaps.csv"
    );
    assert_eq!(
        file_name(5, ExportFormat::Excel, CsvExportType::Gaps),
        "analysis_5.xlsx"
    );
    let o = ExportOptions {
        csv_type: CsvExportType::Metrics,
        ..opts()
    };
    let r = render(&a, ExportFormat::Csv, &o).unwrap();
    assert_eq!(r.filename, "analysis_42_metrics.csv");
    assert_eq!(
        r.disposition,
        "attachment; filename=\"analysis_42_metrics.csv\""
    );
}

#[test]
fn severity_matches_same_name_gap() {
    let a = fixture();
    let idx = SeverityIndex::new(&a.research_gaps);
    assert_eq!(idx.label(&a.dependencies[0]), "medium"); // react (javascript)
    assert_eq!(idx.label(&a.dependencies[1]), ""); // lodash: no gap
    assert_eq!(idx.label(&a.dependencies[3]), "high"); // flask (python)
                                                       // Same name, other language: name-only fallback.
    let other = dep("flask", "1.0", None, false, "javascript");
    assert_eq!(idx.label(&other), "high");
    assert_eq!(gap_name("@scope/pkg (javascript)"), "@scope/pkg");
    assert_eq!(gap_name("no-language"), "no-language");
}

// ------------------------------------------------------------------------------------------
// SARIF
// ------------------------------------------------------------------------------------------

fn sarif_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SARIF_SCHEMA).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .expect("official SARIF schema compiles")
}

fn assert_valid_sarif(v: &Value) {
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF schema errors: {errors:#?}");
}

#[test]
fn vendored_schema_is_the_official_one() {
    let schema: Value = serde_json::from_str(SARIF_SCHEMA).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    assert_eq!(
        schema["id"],
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    );
    assert!(schema["definitions"]["result"]["properties"]["fingerprints"].is_object());
    // The schema rejects what it should.
    let validator = sarif_validator();
    assert!(!validator.is_valid(&serde_json::json!({"version": "2.0.0", "runs": []})));
    let bad_level = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
        "results": [{"message": {"text": "m"}, "level": "fatal"}]}]});
    assert!(!validator.is_valid(&bad_level));
}

#[test]
fn sarif_is_valid_and_complete() {
    let a = fixture();
    let raw = text(&a, ExportFormat::Sarif);
    assert!(raw.starts_with("{\n  \"$schema\": \"https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json\",\n  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\n"));
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_valid_sarif(&v);

    let run = &v["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "CommandCenter");
    assert_eq!(driver["semanticVersion"], "2.0.0");
    assert_eq!(
        driver["informationUri"],
        "https://github.com/PerformanceSuite/CommandCenter"
    );
    let rules = driver["rules"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = rules
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
                r["defaultConfiguration"]["level"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("CC001", "OutdatedDependency", "warning"),
            ("CC002", "MissingDependency", "note"),
            ("CC003", "ResearchGap", "note"),
            ("CC004", "TechnologyDetection", "none"),
        ]
    );
    for r in rules {
        assert_eq!(
            r["helpUri"],
            format!(
                "https://github.com/PerformanceSuite/CommandCenter/docs/rules/{}",
                r["id"].as_str().unwrap()
            )
        );
        assert!(r["shortDescription"]["text"].as_str().unwrap().len() > 5);
        assert!(r["fullDescription"]["text"].as_str().unwrap().len() > 5);
    }

    assert_eq!(
        run["originalUriBaseIds"]["SRCROOT"]["uri"],
        "https://github.com/acme/widgets/tree/0123abcd/"
    );
    assert_eq!(
        run["invocations"],
        serde_json::json!([{"executionSuccessful": true, "endTimeUtc": "2026-11-26T10:37:02.225Z"}])
    );
    assert_eq!(
        run["properties"],
        serde_json::json!({"commandCenter": {"projectPath": "github:acme/widgets@0123abcd",
            "analyzedAt": "2026-11-26T10:37:02.225Z", "analysisVersion": "1.0.0"}})
    );

    let results = run["results"].as_array().unwrap();
    // 3 technologies, 2 outdated dependencies (left-pad has no latest_version), 2 gaps.
    assert_eq!(results.len(), 7);
    let summary: Vec<(&str, &str, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap(),
                r["level"].as_str().unwrap(),
                r["kind"].as_str().unwrap(),
                r["message"]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "CC004",
                "none",
                "pass",
                "Detected react 18.2.0 (confidence: 95%)"
            ),
            ("CC004", "none", "pass", "Detected docker (confidence: 50%)"),
            (
                "CC004",
                "none",
                "pass",
                "Detected vite 5.0.0 (confidence: 49%)"
            ),
            (
                "CC001",
                "warning",
                "review",
                "Dependency 'react' is outdated: 18.2.0 → 19.0.0 available"
            ),
            (
                "CC001",
                "warning",
                "review",
                "Dependency 'flask' is outdated: 1.0 → 3.0.0 available"
            ),
            (
                "CC003",
                "note",
                "review",
                "Research Gap: flask (python) - flask (python) is behind: 1.0 → 3.0.0"
            ),
            (
                "CC003",
                "note",
                "review",
                "Research Gap: react (javascript) - react (javascript) is behind: 18.2.0 → 19.0.0"
            ),
        ]
    );
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"],
            "SRCROOT"
        );
    }

    // Fingerprints: first 16 hex chars of SHA-256 of the key (computed by hand with sha256sum).
    let fp = |i: usize| {
        results[i]["fingerprints"]["commandCenter/v1"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(fp(3), "caae1ca4eb860fc6"); // dep-react-18.2.0
    assert_eq!(fp(1), "8e959d0cae4574f0"); // tech-docker- (null version → empty)
    assert_eq!(fp(6), "fe7318a01b3e9d83"); // gap-react (javascript)
    assert_eq!(fp(0), fingerprint("tech-react-18.2.0"));
    for r in results {
        let f = r["fingerprints"]["commandCenter/v1"].as_str().unwrap();
        assert_eq!(f.len(), 16);
        assert!(f
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    // Locations and properties.
    let uri = |i: usize| {
        results[i]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(uri(0), "package.json");
    assert_eq!(uri(1), "Dockerfile");
    assert_eq!(uri(2), "web/package.json");
    assert_eq!(uri(4), "requirements.txt");
    assert_eq!(uri(5), ""); // gaps: the root itself
    assert_eq!(
        results[0]["properties"],
        serde_json::json!({"technology": "react", "version": "18.2.0", "confidence": 0.95, "category": "framework"})
    );
    assert_eq!(results[1]["properties"]["version"], Value::Null);
    assert_eq!(
        results[3]["properties"],
        serde_json::json!({"dependency": "react", "currentVersion": "18.2.0", "latestVersion": "19.0.0", "severity": "medium"})
    );
    assert_eq!(
        results[5]["properties"],
        serde_json::json!({"severity": "high", "estimatedEffort": "1-2 weeks"})
    );
}

#[test]
fn sarif_upload_srcroot_and_fallbacks() {
    let a = upload_fixture();
    let v: Value = serde_json::from_slice(&body(&a, ExportFormat::Sarif, &opts())).unwrap();
    assert_valid_sarif(&v);
    assert_eq!(
        v["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"],
        "file:///upload/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/"
    );

    // Source without the values: taken from project_path.
    let mut b = fixture();
    b.source.kind = SourceType::Repository;
    b.source.repo = None;
    b.source.commit_sha = None;
    b.source.git_ref = None;
    assert_eq!(
        sarif::srcroot(&b),
        "https://github.com/acme/widgets/tree/0123abcd/"
    );
    let mut c = upload_fixture();
    c.source.archive_sha256 = None;
    assert!(sarif::srcroot(&c).starts_with("file:///upload/9f86d08"));
    let mut d = fixture();
    d.project_path = "odd path?".into();
    d.source.repo = None;
    d.source.commit_sha = None;
    d.source.git_ref = None;
    assert_eq!(sarif::srcroot(&d), "file:///project/odd%20path%3F/");

    assert_eq!(sarif::relative_uri("/src\\a b/#x.py"), "src/a%20b/%23x.py");
    assert_eq!(sarif::relative_uri("./Cargo.toml"), "Cargo.toml");
    assert_eq!(sarif::relative_uri("c:/x"), "c%3A/x");
}

// ------------------------------------------------------------------------------------------
// HTML
// ------------------------------------------------------------------------------------------

#[test]
fn html_structure() {
    let a = fixture();
    let h = text(&a, ExportFormat::Html);
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert!(
        h.contains("<title>CommandCenter Analysis Report - github:acme/widgets@0123abcd</title>")
    );
    assert!(h.contains(">2026-11-26 10:37:02 UTC</time>"));
    assert!(h.contains(
        "<script src=\"https://cdn.jsdelivr.net/npm/chart.js@4.4.0/dist/chart.umd.js\"></script>"
    ));
    assert!(h.contains("localStorage.getItem(\"theme\")"));
    assert!(h.contains("localStorage.setItem(\"theme\", next)"));
    assert!(h.contains("id=\"theme-toggle\""));
    assert!(h.contains("<footer>\n<p>Generated by CommandCenter v2.0.0 | © 2026</p>\n</footer>"));
    for section in [
        "Summary",
        "Technologies",
        "Dependencies",
        "Code Metrics",
        "Research Gaps",
    ] {
        assert!(h.contains(&format!("<h2>{section}</h2>")), "{section}");
    }
    // Summary cards.
    for (value, label) in [
        ("3", "Technologies"),
        ("5", "Dependencies"),
        ("2", "Outdated"),
        ("2", "Research Gaps"),
    ] {
        assert!(h.contains(&format!(
            "<div class=\"metric-value\">{value}</div><div class=\"metric-label\">{label}</div>"
        )));
    }
    // Confidence badges: 95 % high, 50 % medium, 49.4 % → 49 % low.
    assert!(h.contains("<span class=\"badge confidence-high\">95%</span>"));
    assert!(h.contains("<span class=\"badge confidence-medium\">50%</span>"));
    assert!(h.contains("<span class=\"badge confidence-low\">49%</span>"));
    // Dependencies table.
    assert!(h.contains("<tr class=\"outdated\"><td><strong>react</strong></td><td>18.2.0</td><td>19.0.0</td><td><span class=\"badge status-outdated\">Outdated</span></td></tr>"));
    assert!(h.contains("<tr><td><strong>left-pad</strong></td><td>1.0.0</td><td>N/A</td><td><span class=\"badge status-current\">Current</span></td></tr>"));
    // Metrics.
    assert!(h.contains(
        "<div class=\"metric-value\">3,456</div><div class=\"metric-label\">Lines of Code</div>"
    ));
    assert!(h.contains(
        "<div class=\"metric-value\">12.5</div><div class=\"metric-label\">Complexity Score</div>"
    ));
    // Charts: bar by category, doughnut current/outdated.
    assert!(h.contains("type: \"bar\""));
    assert!(h.contains("type: \"doughnut\""));
    assert!(h.contains(r#"{"technologies":{"labels":["build_tool","framework","infrastructure"],"data":[1,1,1]},"dependencies":{"labels":["Current","Outdated"],"data":[3,2]}}"#));
    // Gap cards (values escaped: the suggested task holds quotes).
    assert!(h.contains("<div class=\"gap-card severity-high\">\n<h3>flask (python)</h3>"));
    assert!(h.contains("Research upgrade of flask (python), &quot;carefully&quot;"));
}

#[test]
fn html_is_csp_compatible() {
    let h = text(&fixture(), ExportFormat::Html);
    // External scripts only from cdn.jsdelivr.net.
    for (i, _) in h.match_indices("<script") {
        let tag_end = i + h[i..].find('>').unwrap();
        let tag = &h[i..tag_end];
        if let Some(p) = tag.find("src=\"") {
            assert!(
                tag[p + 5..].starts_with("https://cdn.jsdelivr.net/"),
                "{tag}"
            );
        }
    }
    // No inline event handlers, no javascript: URLs, no external stylesheets, images or frames.
    let lower = h.to_ascii_lowercase();
    for bad in [
        " onclick=",
        " onload=",
        " onerror=",
        "javascript:",
        "<link",
        "<img",
        "<iframe",
        "@import",
    ] {
        assert!(!lower.contains(bad), "{bad}");
    }
}

#[test]
fn html_escapes_every_value() {
    let mut a = fixture();
    let evil = "<script>alert(1)</script>";
    a.project_path = format!("github:{evil}@x");
    a.dependencies[0].name = evil.into();
    a.dependencies[1].version = "\"><img src=x onerror=alert(2)>".into();
    a.technologies[0].name = evil.into();
    a.code_metrics.languages.insert(evil.into(), 1);
    a.research_gaps[0].technology = evil.into();
    a.research_gaps[0].estimated_effort = "'&'".into();
    a.analyzed_at = evil.into(); // unparsable: shown as stored, escaped
    let h = text(&a, ExportFormat::Html);
    assert!(!h.contains("alert(1)</script>"));
    assert!(!h.contains("<script>alert"));
    assert!(!h.contains("<img"));
    assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(h.contains("<td><strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong></td>"));
    assert!(h.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(h.contains("Effort: &#x27;&amp;&#x27;"));
    // Exactly our own four script elements.
    assert_eq!(h.matches("<script").count(), 4);
    assert_eq!(h.matches("</script>").count(), 4);
    assert_eq!(
        html::escape("a\u{0}b\u{7f}c\u{85}\td"),
        "a\u{FFFD}b\u{FFFD}c\u{FFFD}\td"
    );
}

#[test]
fn html_time_format_converts_to_utc() {
    assert_eq!(
        html::display_time("2026-11-26T10:37:02.225Z"),
        "2026-11-26 10:37:02 UTC"
    );
    assert_eq!(
        html::display_time("2026-11-26T12:37:02+02:00"),
        "2026-11-26 10:37:02 UTC"
    );
    assert_eq!(html::display_time("yesterday"), "yesterday");
}

#[test]
fn html_empty_analysis() {
    let mut a = fixture();
    a.dependencies.clear();
    a.technologies.clear();
    a.research_gaps.clear();
    a.code_metrics = CodeMetrics::default();
    let h = text(&a, ExportFormat::Html);
    assert!(h.contains("No technologies detected"));
    assert!(h.contains("No dependencies found"));
    assert!(h.contains("No research gaps identified"));
}

// ------------------------------------------------------------------------------------------
// CSV
// ------------------------------------------------------------------------------------------

const CSV_TECHNOLOGIES: &str =
    "Technology,Version,Category,Confidence (%),Description,Source File\r\n\
react,18.2.0,framework,95,,package.json\r\n\
docker,,infrastructure,50,,Dockerfile\r\n\
vite,5.0.0,build_tool,49,,web/package.json\r\n";

const CSV_DEPENDENCIES: &str =
    "Package,Current Version,Latest Version,Status,Severity,Package Manager,File\r\n\
react,18.2.0,19.0.0,Outdated,medium,npm,package.json\r\n\
lodash,4.17.21,4.17.21,Current,,npm,package.json\r\n\
\"'=SUM(1,2)\",1.0,,Current,,pip,requirements.txt\r\n\
flask,1.0,3.0.0,Outdated,high,pip,requirements.txt\r\n\
left-pad,1.0.0,,Current,,npm,package.json\r\n";

const CSV_METRICS: &str = "Metric,Value\r\n\
Lines of Code,3456\r\n\
File Count,12\r\n\
Complexity Score,12.5\r\n\
Cyclomatic Complexity,3.25\r\n\
Total Functions,10\r\n\
Total Classes,2\r\n\
Architecture Pattern,mvc\r\n\
\r\n\
Language,Lines\r\n\
javascript,3000\r\n\
python,456\r\n";

const CSV_GAPS: &str = "Title,Description,Category,Priority,Estimated Effort,Recommendation\r\n\
flask (python),flask (python) is behind: 1.0 → 3.0.0,dependency,high,1-2 weeks,\"Research upgrade of flask (python), \"\"carefully\"\"\"\r\n\
react (javascript),react (javascript) is behind: 18.2.0 → 19.0.0,dependency,medium,3-5 days,\"Research upgrade of react (javascript), \"\"carefully\"\"\"\r\n";

#[test]
fn csv_per_type_exact() {
    let a = fixture();
    assert_eq!(csv_text(&a, CsvExportType::Technologies), CSV_TECHNOLOGIES);
    assert_eq!(csv_text(&a, CsvExportType::Dependencies), CSV_DEPENDENCIES);
    assert_eq!(csv_text(&a, CsvExportType::Metrics), CSV_METRICS);
    assert_eq!(csv_text(&a, CsvExportType::Gaps), CSV_GAPS);
}

#[test]
fn csv_combined_exact() {
    let a = fixture();
    let expected = format!(
        "CommandCenter Analysis Report\r\n\
Project,github:acme/widgets@0123abcd\r\n\
Analyzed At,2026-11-26T10:37:02.225Z\r\n\
Analysis Version,1.0.0\r\n\
\r\n\
SUMMARY\r\n\
Metric,Value\r\n\
Technologies Detected,3\r\n\
Total Dependencies,5\r\n\
Outdated Dependencies,2\r\n\
Research Gaps,2\r\n\
\r\n\
DETECTED TECHNOLOGIES\r\n{CSV_TECHNOLOGIES}\
\r\n\
DEPENDENCIES\r\n{CSV_DEPENDENCIES}\
\r\n\
CODE METRICS\r\n{CSV_METRICS}\
\r\n\
RESEARCH GAPS\r\n{CSV_GAPS}"
    );
    assert_eq!(csv_text(&a, CsvExportType::Combined), expected);
}

#[test]
fn csv_metrics_nulls_and_no_languages() {
    let mut a = fixture();
    a.code_metrics = CodeMetrics {
        complexity_score: 3.0,
        ..CodeMetrics::default()
    };
    assert_eq!(
        csv_text(&a, CsvExportType::Metrics),
        "Metric,Value\r\nLines of Code,0\r\nFile Count,0\r\nComplexity Score,3.0\r\nCyclomatic Complexity,\r\n\
Total Functions,\r\nTotal Classes,\r\nArchitecture Pattern,\r\n"
    );
}

#[test]
fn csv_quoting_and_formula_guard() {
    let f = csv::field_for_test;
    assert_eq!(f("plain"), "plain");
    assert_eq!(f(""), "");
    assert_eq!(f("=1+1"), "'=1+1");
    assert_eq!(f("+1"), "'+1");
    assert_eq!(f("-1"), "'-1");
    assert_eq!(f("@SUM(A1)"), "'@SUM(A1)");
    assert_eq!(f("\tx"), "'\tx");
    assert_eq!(f("\rx"), "\"'\rx\"");
    assert_eq!(f("a=b"), "a=b");
    assert_eq!(f("a,b"), "\"a,b\"");
    assert_eq!(f("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(f("two\nlines"), "\"two\nlines\"");
    assert_eq!(f("=\"x\",y"), "\"'=\"\"x\"\",y\"");
    assert_eq!(f("ünï©ødé"), "ünï©ødé");
}

// ------------------------------------------------------------------------------------------
// Excel
// ------------------------------------------------------------------------------------------

fn read_xlsx(bytes: &[u8]) -> calamine::Xlsx<Cursor<Vec<u8>>> {
    calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("valid xlsx")
}

fn sheet_rows(wb: &mut calamine::Xlsx<Cursor<Vec<u8>>>, name: &str) -> Vec<Vec<String>> {
    use calamine::Reader;
    let range = wb.worksheet_range(name).expect("sheet");
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let mut out = Vec::new();
    for r in 0..row0 {
        let _ = r;
        out.push(Vec::new());
    }
    for row in range.rows() {
        let mut cells: Vec<String> = (0..col0).map(|_| String::new()).collect();
        cells.extend(row.iter().map(|c| c.to_string()));
        while cells.last().is_some_and(|c| c.is_empty()) {
            cells.pop();
        }
        out.push(cells);
    }
    out
}

fn zip_file(bytes: &[u8], name: &str) -> String {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    let mut f = z.by_name(name).expect(name);
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

/// Attribute value `attr` of an XML start tag.
fn attr<'a>(tag: &'a str, attr: &str) -> Option<&'a str> {
    let key = format!(" {attr}=\"");
    let i = tag.find(&key)? + key.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

/// The elements named `el` inside the first `<parent ...>…</parent>`.
fn children(xml: &str, parent: &str, el: &str) -> Vec<String> {
    let start = xml.find(&format!("<{parent}")).unwrap();
    let end = start + xml[start..].find(&format!("</{parent}>")).unwrap();
    let body = &xml[start..end];
    let open = format!("<{el}");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        if !after.starts_with([' ', '>', '/']) {
            rest = after;
            continue;
        }
        let close_self = after.find("/>");
        let close_tag = after.find(&format!("</{el}>"));
        let stop = match (close_self, close_tag, after.find('>')) {
            (Some(s), _, Some(g)) if s + 1 == g => s + 2,
            (_, Some(c), _) => c + el.len() + 3,
            (Some(s), None, _) => s + 2,
            _ => after.len(),
        };
        out.push(format!("{open}{}", &after[..stop]));
        rest = &after[stop..];
    }
    out
}

struct XfStyle {
    bold: bool,
    font_color: Option<String>,
    size: Option<String>,
    fill: Option<String>,
}

fn cell_styles(bytes: &[u8]) -> Vec<XfStyle> {
    let styles = zip_file(bytes, "xl/styles.xml");
    let fonts = children(&styles, "fonts", "font");
    let fills = children(&styles, "fills", "fill");
    children(&styles, "cellXfs", "xf")
        .iter()
        .map(|xf| {
            let font = &fonts[attr(xf, "fontId").unwrap().parse::<usize>().unwrap()];
            let fill = &fills[attr(xf, "fillId").unwrap().parse::<usize>().unwrap()];
            XfStyle {
                bold: font.contains("<b/>"),
                font_color: font
                    .find("<color ")
                    .and_then(|i| attr(&font[i..], "rgb"))
                    .map(Into::into),
                size: font
                    .find("<sz ")
                    .and_then(|i| attr(&font[i..], "val"))
                    .map(Into::into),
                fill: fill
                    .find("<fgColor ")
                    .and_then(|i| attr(&fill[i..], "rgb"))
                    .map(Into::into),
            }
        })
        .collect()
}

/// Style index of cell `r` (e.g. `A2`) in a worksheet's XML; 0 when unstyled.
fn cell_style_index(sheet_xml: &str, r: &str) -> usize {
    let key = format!("<c r=\"{r}\"");
    let i = sheet_xml.find(&key).unwrap_or_else(|| panic!("cell {r}"));
    let tag = &sheet_xml[i..i + sheet_xml[i..].find('>').unwrap()];
    attr(tag, "s").map(|s| s.parse().unwrap()).unwrap_or(0)
}

#[test]
fn xlsx_reads_back() {
    use calamine::Reader;
    let a = fixture();
    let bytes = body(&a, ExportFormat::Excel, &opts());
    assert!(bytes.starts_with(b"PK"));
    let mut wb = read_xlsx(&bytes);
    assert_eq!(
        wb.sheet_names(),
        [
            "Summary",
            "Technologies",
            "Dependencies",
            "Metrics",
            "Research Gaps"
        ]
    );

    let s = sheet_rows(&mut wb, "Summary");
    assert_eq!(s[0], ["CommandCenter Analysis Report"]);
    assert_eq!(s[2], ["Project", "github:acme/widgets@0123abcd"]);
    assert_eq!(s[3], ["Analyzed At", "2026-11-26T10:37:02.225Z"]);
    assert_eq!(s[4], ["Analysis Version", "1.0.0"]);
    assert_eq!(s[6], ["SUMMARY"]);
    assert_eq!(s[7], ["Metric", "Value"]);
    assert_eq!(s[8], ["Technologies Detected", "3"]);
    assert_eq!(s[9], ["Total Dependencies", "5"]);
    assert_eq!(s[10], ["Outdated Dependencies", "2"]);
    assert_eq!(s[11], ["Research Gaps", "2"]);

    let t = sheet_rows(&mut wb, "Technologies");
    assert_eq!(
        t[0],
        [
            "Technology",
            "Version",
            "Category",
            "Confidence (%)",
            "Description",
            "Source File"
        ]
    );
    assert_eq!(
        t[1],
        ["react", "18.2.0", "framework", "95", "", "package.json"]
    );
    assert_eq!(
        t[2],
        ["docker", "", "infrastructure", "50", "", "Dockerfile"]
    );

    let d = sheet_rows(&mut wb, "Dependencies");
    assert_eq!(
        d[0],
        [
            "Package",
            "Current Version",
            "Latest Version",
            "Status",
            "Severity",
            "Package Manager",
            "File"
        ]
    );
    assert_eq!(
        d[1],
        [
            "react",
            "18.2.0",
            "19.0.0",
            "Outdated",
            "medium",
            "npm",
            "package.json"
        ]
    );
    // Strings stay strings in Excel: no guard, no formula.
    assert_eq!(
        d[3],
        [
            "=SUM(1,2)",
            "1.0",
            "",
            "Current",
            "",
            "pip",
            "requirements.txt"
        ]
    );
    assert_eq!(d.len(), 6);

    let m = sheet_rows(&mut wb, "Metrics");
    assert_eq!(m[0], ["Metric", "Value"]);
    assert_eq!(m[1], ["Lines of Code", "3456"]);
    assert_eq!(m[3], ["Complexity Score", "12.5"]);
    assert_eq!(m[7], ["Architecture Pattern", "mvc"]);
    assert_eq!(m[9], ["Language", "Lines"]);
    assert_eq!(m[10], ["javascript", "3000"]);

    let g = sheet_rows(&mut wb, "Research Gaps");
    assert_eq!(
        g[0],
        [
            "Title",
            "Description",
            "Category",
            "Priority",
            "Estimated Effort",
            "Recommendation"
        ]
    );
    assert_eq!(
        g[1],
        [
            "flask (python)",
            "flask (python) is behind: 1.0 → 3.0.0",
            "dependency",
            "high",
            "1-2 weeks",
            "Research upgrade of flask (python), \"carefully\""
        ]
    );

    // No formulas anywhere.
    let sheet3 = zip_file(&bytes, "xl/worksheets/sheet3.xml");
    assert!(!sheet3.contains("<f>"));
}

#[test]
fn xlsx_styles() {
    let a = fixture();
    let bytes = body(&a, ExportFormat::Excel, &opts());
    let xfs = cell_styles(&bytes);

    let summary = zip_file(&bytes, "xl/worksheets/sheet1.xml");
    let title = &xfs[cell_style_index(&summary, "A1")];
    assert!(title.bold);
    assert_eq!(title.size.as_deref(), Some("16"));

    for (sheet, cols) in [(2, "ABCDEF"), (3, "ABCDEFG"), (4, "AB"), (5, "ABCDEF")] {
        let xml = zip_file(&bytes, &format!("xl/worksheets/sheet{sheet}.xml"));
        for c in cols.chars() {
            let h = &xfs[cell_style_index(&xml, &format!("{c}1"))];
            assert!(h.bold, "sheet{sheet} {c}1 bold");
            assert_eq!(
                h.font_color.as_deref(),
                Some("FFFFFFFF"),
                "sheet{sheet} {c}1 white"
            );
            assert_eq!(
                h.fill.as_deref(),
                Some("FF3B82F6"),
                "sheet{sheet} {c}1 fill"
            );
        }
    }
    // Metrics: Language/Lines header styled too.
    let metrics = zip_file(&bytes, "xl/worksheets/sheet4.xml");
    assert_eq!(
        xfs[cell_style_index(&metrics, "A10")].fill.as_deref(),
        Some("FF3B82F6")
    );

    // Dependencies: rows 2 (react) and 5 (flask) outdated, whole row filled; others not.
    let deps = zip_file(&bytes, "xl/worksheets/sheet3.xml");
    for row in [2, 5] {
        for c in "ABCDEFG".chars() {
            let s = &xfs[cell_style_index(&deps, &format!("{c}{row}"))];
            assert_eq!(s.fill.as_deref(), Some("FFFEF3C7"), "{c}{row}");
            assert!(!s.bold);
        }
    }
    for row in [3, 4, 6] {
        let s = &xfs[cell_style_index(&deps, &format!("A{row}"))];
        assert_eq!(s.fill, None, "A{row}");
    }
    // Deterministic metadata: created at analyzed_at.
    let core = zip_file(&bytes, "docProps/core.xml");
    assert!(core.contains("2026-11-26T10:37:02Z"), "{core}");
}

// ------------------------------------------------------------------------------------------
// JSON
// ------------------------------------------------------------------------------------------

#[test]
fn json_key_order_and_shapes() {
    let a = fixture();
    let pretty = String::from_utf8(body(&a, ExportFormat::Json, &opts())).unwrap();
    assert!(pretty.starts_with("{\n  \"id\": 42,\n  \"project_id\": 7,\n  \"project_path\": \"github:acme/widgets@0123abcd\",\n  \"source\": {\n    \"type\": \"github\","));
    let v: Value = serde_json::from_str(&pretty).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "project_id",
            "project_path",
            "source",
            "analyzed_at",
            "analysis_version",
            "analysis_duration_ms",
            "detected_technologies",
            "dependencies",
            "code_metrics",
            "research_gaps",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(
        v["detected_technologies"],
        serde_json::to_value(&a.technologies).unwrap()
    );
    assert_eq!(
        v["dependencies"],
        serde_json::to_value(&a.dependencies).unwrap()
    );
    assert_eq!(v["dependencies"][0]["type"], "runtime");
    assert_eq!(v["source"]["ref"], "main");
    assert_eq!(v["code_metrics"]["architecture_pattern"], "mvc");
    assert_eq!(v["research_gaps"][0]["severity"], "high");

    let compact_opts = ExportOptions {
        pretty: false,
        ..opts()
    };
    let compact = String::from_utf8(body(&a, ExportFormat::Json, &compact_opts)).unwrap();
    assert!(compact.starts_with("{\"id\":42,\"project_id\":7,"));
    assert!(!compact.contains('\n'));
    assert_eq!(serde_json::from_str::<Value>(&compact).unwrap(), v);
}

// ------------------------------------------------------------------------------------------
// Robustness and size
// ------------------------------------------------------------------------------------------

fn hostile() -> ProjectAnalysis {
    let mut a = fixture();
    let nasty = "</script><!--\u{0}\u{1}\u{8}\u{b}\u{c}\u{1b}\u{7f}\u{85}\u{2028}\u{2029}\u{202e}\u{feff}\u{fffe}\u{10ffff}😀\"',=\r\n\t";
    let huge: String = nasty.repeat(8000); // ~350 KB, well past Excel's 32 767-char cell limit
    a.project_path = huge.clone();
    a.analyzed_at = nasty.into();
    a.dependencies[0].name = huge.clone();
    a.dependencies[0].version = nasty.into();
    a.dependencies[0].source_file = nasty.into();
    a.technologies[0].name = nasty.into();
    a.technologies[0].confidence = f64::NAN;
    a.technologies[1].confidence = f64::INFINITY;
    a.technologies[2].confidence = -1e300;
    a.code_metrics.complexity_score = f64::NAN;
    a.code_metrics.cyclomatic_complexity = Some(f64::NEG_INFINITY);
    a.code_metrics.languages.insert(huge.clone(), u64::MAX);
    a.code_metrics.lines_of_code = u64::MAX;
    a.research_gaps[0].technology = nasty.into();
    a.research_gaps[0].description = huge;
    a.id = u64::MAX;
    a
}

#[test]
fn xlsx_escapes_literal_excel_escapes() {
    let mut a = fixture();
    a.dependencies[0].name = "a\u{1}b_x0041_c\r\nd".into();
    let bytes = body(&a, ExportFormat::Excel, &opts());
    let d = sheet_rows(&mut read_xlsx(&bytes), "Dependencies");
    assert_eq!(d[1][0], "a\u{1}b_x0041_c\r\nd");
}

#[test]
fn hostile_content_renders_everywhere() {
    let a = hostile();
    for f in ExportFormat::ALL {
        for t in CsvExportType::ALL {
            let o = ExportOptions {
                csv_type: t,
                pretty: t == CsvExportType::Combined,
                year: 2026,
            };
            let r = render(&a, f, &o).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(!r.body.is_empty());
        }
    }
    let v: Value = serde_json::from_slice(&body(&a, ExportFormat::Sarif, &opts())).unwrap();
    assert_valid_sarif(&v);

    let h = text(&a, ExportFormat::Html);
    assert_eq!(h.matches("</script>").count(), 4);
    assert_eq!(h.matches("<script").count(), 4);
    assert!(!h.contains("<!--"));
    assert!(!h.contains('\u{0}'));

    let bytes = body(&a, ExportFormat::Excel, &opts());
    let mut wb = read_xlsx(&bytes);
    let d = sheet_rows(&mut wb, "Dependencies");
    // Truncated to Excel's cell limit (calamine leaves the XML-illegal U+FFFE as `_xFFFE_`).
    assert_eq!(
        d[1][0].replace("_xFFFE_", "\u{fffe}").chars().count(),
        32_767
    );

    let csv = csv_text(&a, CsvExportType::Combined);
    assert!(csv.ends_with("\r\n"));
}

fn big_fixture(n: usize) -> ProjectAnalysis {
    let mut a = fixture();
    a.dependencies = (0..n)
        .map(|i| {
            let lang = if i % 2 == 0 { "javascript" } else { "python" };
            let outdated = i % 3 == 0;
            dep(
                &format!("package-{i}"),
                "1.2.3",
                Some(if outdated { "4.0.0" } else { "1.2.3" }),
                outdated,
                lang,
            )
        })
        .collect();
    a.research_gaps = a
        .dependencies
        .iter()
        .filter(|d| d.is_outdated)
        .map(|d| {
            gap(
                &format!("{} ({})", d.name, d.language),
                "1.2.3",
                "4.0.0",
                GapSeverity::Critical,
                "2-4 weeks",
            )
        })
        .collect();
    a.technologies = (0..30)
        .map(|i| {
            tech(
                &format!("tech-{i}"),
                TechnologyCategory::Framework,
                Some("1.0"),
                0.9,
                "package.json",
            )
        })
        .collect();
    a
}

#[test]
fn big_analysis_is_consistent() {
    let a = big_fixture(500);
    let v: Value = serde_json::from_slice(&body(&a, ExportFormat::Sarif, &opts())).unwrap();
    assert_valid_sarif(&v);
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 30 + 167 + 167);
    assert_eq!(results[30]["properties"]["severity"], "critical");
    let csv = csv_text(&a, CsvExportType::Dependencies);
    assert_eq!(csv.matches("\r\n").count(), 501);
    assert_eq!(csv.matches(",Outdated,critical,").count(), 167);
}

/// `cargo test --release -- --ignored --nocapture timing` prints the times.
#[test]
#[ignore]
fn timing_500_dependencies() {
    let a = big_fixture(500);
    let mut total = 0.0;
    for f in ExportFormat::ALL {
        let o = opts();
        let _ = render(&a, f, &o).unwrap(); // warm-up
        let runs = 5;
        let start = Instant::now();
        let mut size = 0;
        for _ in 0..runs {
            size = render(&a, f, &o).unwrap().body.len();
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0 / runs as f64;
        total += ms;
        println!("{:>6}: {ms:8.2} ms  ({size} bytes)", f.as_str());
        if !cfg!(debug_assertions) {
            assert!(ms < 250.0, "{f} took {ms} ms");
        }
    }
    println!(" total: {total:8.2} ms");
}
