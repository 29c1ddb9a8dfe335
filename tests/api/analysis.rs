//! API.md §2, §2.1, §13, §20 (+ §7, §8 for the jobs): project analysis of uploads and GitHub
//! repositories, its cache, statistics, attacks on the archive reader, and exports. Package
//! registries and GitHub are wiremock servers; the jobs run through the runner as the Lambda
//! functions do.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::sync::Arc;

use cc_tests::{fresh_minute_window, http_send, TestApp, TestUser};
use commandcenter::domain::jobs::JobType;
use commandcenter::registries::RegistryUrls;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

// ---------------------------------------------------------------------------------------------
// Fakes and helpers
// ---------------------------------------------------------------------------------------------

/// A fake of every package registry at once: answers by exact `path[?query]`, else 404.
struct Answers(Arc<HashMap<String, (u16, Value)>>);

fn request_key(req: &Request) -> String {
    match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_string(),
    }
}

impl Respond for Answers {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        match self.0.get(&request_key(req)) {
            Some((status, body)) => ResponseTemplate::new(*status).set_body_json(body),
            None => ResponseTemplate::new(404).set_body_json(json!({"error": "Not found"})),
        }
    }
}

async fn registry(answers: Vec<(String, u16, Value)>) -> MockServer {
    let server = MockServer::start().await;
    let map: HashMap<String, (u16, Value)> =
        answers.into_iter().map(|(k, s, v)| (k, (s, v))).collect();
    Mock::given(any())
        .respond_with(Answers(Arc::new(map)))
        .mount(&server)
        .await;
    server
}

/// How often each `path[?query]` was asked.
async fn calls(server: &MockServer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in server.received_requests().await.unwrap_or_default() {
        *out.entry(request_key(&r)).or_default() += 1;
    }
    out
}

/// An app whose registries are `registry` (and GitHub `github`, when given).
async fn app_with(registry: &MockServer, github: Option<String>) -> TestApp {
    let r = registry.uri();
    TestApp::with(move |c| {
        c.registries = RegistryUrls {
            npm: r.clone(),
            pypi: r.clone(),
            go: r.clone(),
            crates: r.clone(),
            maven: r.clone(),
            rubygems: r.clone(),
            packagist: r,
        };
        if let Some(g) = github {
            c.github_api_url = g;
        }
    })
    .await
}

/// A gzip'd tar with every file under `top/`.
fn tar_gz(top: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (p, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("{top}/{p}"), *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (p, d) in files {
        z.start_file(*p, o).unwrap();
        z.write_all(d).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A multipart form: text fields, then the file.
fn form(fields: &[(&str, &str)], file_name: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("cc{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/gzip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_upload(
    app: &TestApp,
    u: &TestUser,
    name: &str,
    data: &[u8],
    fields: &[(&str, &str)],
) -> cc_tests::Resp {
    let (ct, body) = form(fields, name, data);
    app.post("/api/v1/projects/analyze")
        .bearer(&u.access)
        .header("content-type", &ct)
        .raw(body)
        .send()
        .await
}

async fn job(app: &TestApp, u: &TestUser, id: u64) -> Value {
    let r = app
        .get(&format!("/api/v1/jobs/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Runs job `id` as the `job-<type>` function does; the job afterwards.
async fn run(app: &TestApp, u: &TestUser, t: JobType, id: u64) -> Value {
    let out = app.run_jobs(t, &[id]).await;
    assert!(
        out.batch_item_failures.is_empty(),
        "job {id} given back: {:?}",
        out.batch_item_failures
    );
    job(app, u, id).await
}

async fn get_analysis(app: &TestApp, u: &TestUser, id: u64) -> Value {
    let r = app
        .get(&format!("/api/v1/projects/analysis/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Uploads `archive` (expecting a job), runs the job; the stored analysis.
async fn analyze_upload(app: &TestApp, u: &TestUser, archive: &[u8]) -> Value {
    let r = post_upload(app, u, "project.tar.gz", archive, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let j = run(app, u, JobType::Analysis, r.body["id"].as_u64().unwrap()).await;
    assert_eq!(j["status"], "completed", "{j}");
    get_analysis(app, u, j["result"]["analysis_id"].as_u64().unwrap()).await
}

async fn statistics(app: &TestApp, u: &TestUser) -> Value {
    let r = app
        .get("/api/v1/projects/analysis/statistics")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn is_timestamp(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.'
    })
}

/// The analysis without its time-dependent fields (checked here) and ids.
fn stable(a: &Value) -> Value {
    let mut a = a.clone();
    for k in ["analyzed_at", "created_at", "updated_at"] {
        assert!(is_timestamp(&a[k]), "{k}: {}", a[k]);
    }
    assert!(a["analysis_duration_ms"].is_u64());
    let o = a.as_object_mut().unwrap();
    for k in [
        "analyzed_at",
        "created_at",
        "updated_at",
        "analysis_duration_ms",
    ] {
        o.remove(k);
    }
    a
}

/// A small project whose npm packages are unique to the calling test (so the shared 24 h
/// registry cache never mixes tests): `<tag>-old` outdated by one major, `<tag>-cur` current.
fn small_project(tag: &str, extra: &str) -> (Vec<u8>, Vec<(String, u16, Value)>) {
    let package = json!({
        "name": tag,
        "dependencies": {format!("{tag}-cur"): "2.0.0", format!("{tag}-old"): "^1.2.0", "react": "18.2.0"},
    });
    let archive = tar_gz(
        "small",
        &[
            ("package.json", package.to_string().as_bytes()),
            (
                "app.py",
                format!("def f(x):\n    return x  # {extra}\n").as_bytes(),
            ),
            (
                "docker-compose.yml",
                b"services:\n  db:\n    image: mongo:7.0\n",
            ),
        ],
    );
    let answers = vec![
        (
            format!("/{tag}-cur/latest"),
            200,
            json!({"version": "2.0.0"}),
        ),
        (
            format!("/{tag}-old/latest"),
            200,
            json!({"version": "2.1.0"}),
        ),
    ];
    (archive, answers)
}

// ---------------------------------------------------------------------------------------------
// 1 + 2. Polyglot upload end to end, cache, registry cache, statistics
// ---------------------------------------------------------------------------------------------

const PACKAGE_JSON: &str = r#"{
  "name": "poly",
  "dependencies": {"express": "~4.18.2", "react": "^17.0.2"},
  "devDependencies": {"vite": ">=4.0.0"},
  "peerDependencies": {"left-pad": "1.3.0"}
}
"#;
const REQUIREMENTS: &str =
    "# web\nDjango==3.2.0\nrequests>=2.25.0\nflask\n\n-r requirements-dev.txt\n";
const GO_MOD: &str = "module example.com/poly\n\ngo 1.21\n\nrequire (\n\tgithub.com/gin-gonic/gin v1.9.1 // web framework\n\tgolang.org/x/text v0.14.0\n)\n\nrequire github.com/google/uuid v1.6.0\n";
const CARGO_TOML: &str = r#"[package]
name = "poly"
version = "0.1.0"

[dependencies]
serde = "1.0.190"
tokio = { version = "^1.35", features = ["full"] }
local = { path = "../local" }

[dev-dependencies]
proptest = "1.4.0"

[build-dependencies]
cc = "1.0.83"
"#;
const POM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <dependencies>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>1.7.36</version>
    </dependency>
    <dependency>
      <groupId>junit</groupId>
      <artifactId>junit</artifactId>
      <version>4.13.2</version>
      <scope>test</scope>
    </dependency>
    <dependency>
      <groupId>com.google.guava</groupId>
      <artifactId>guava</artifactId>
    </dependency>
  </dependencies>
</project>
"#;
/// 8 non-blank lines (kotlin).
const GRADLE_KTS: &str = "plugins {\n    java\n}\n\ndependencies {\n    implementation(\"com.squareup.okhttp3:okhttp:3.14.9\")\n    testImplementation(\"org.mockito:mockito-core:5.11.0\")\n    // implementation(\"commented.out:lib:1.0\")\n}\n";
const GEMFILE: &str = "source 'https://rubygems.org'\n\ngem 'rails', '~> 6.1.0'\ngem 'puma'\n\ngroup :development, :test do\n  gem 'rspec', '3.12.0'\nend\n";
const COMPOSER: &str = r#"{"require": {"monolog/monolog": "^2.9", "php": ">=8.1", "symfony/console": "^5.4 || ^6.0"}, "require-dev": {"phpunit/phpunit": "^9.6"}}"#;
/// Score 1 + 2 defs + if + and = 5; 2 functions, 1 class; 7 non-blank lines.
const USER_PY: &str = "class User:\n    def __init__(self, name):\n        self.name = name\n\n    def greet(self):\n        if self.name and len(self.name) > 1:\n            return \"hi \" + self.name\n        return \"hi\"\n";
/// Score 1 + async def + for + while + with + except = 6 (comprehension `if` adds nothing);
/// 1 function; 11 non-blank lines.
const RENDER_PY: &str = "import os\n\n\nasync def render(items):\n    for item in items:\n        while item:\n            item -= 1\n    try:\n        with open(os.devnull) as f:\n            f.write(\"x\")\n    except OSError:\n        pass\n    return [i for i in items if i]\n";

fn polyglot() -> Vec<u8> {
    tar_gz(
        "poly-main",
        &[
            ("package.json", PACKAGE_JSON.as_bytes()),
            ("requirements.txt", REQUIREMENTS.as_bytes()),
            ("go.mod", GO_MOD.as_bytes()),
            ("Cargo.toml", CARGO_TOML.as_bytes()),
            ("pom.xml", POM.as_bytes()),
            ("build.gradle.kts", GRADLE_KTS.as_bytes()),
            ("Gemfile", GEMFILE.as_bytes()),
            ("composer.json", COMPOSER.as_bytes()),
            (
                "Dockerfile",
                b"FROM python:3.12-slim\nRUN pip install -r requirements.txt\n",
            ),
            (
                "docker-compose.yml",
                b"services:\n  db:\n    image: postgres:15-alpine\n  cache:\n    image: \"redis:7.2\"\n  ui:\n    image: redis-commander:latest\n",
            ),
            (
                ".github/workflows/ci.yml",
                b"on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
            ),
            ("src/models/user.py", USER_PY.as_bytes()),
            ("src/views/render.py", RENDER_PY.as_bytes()),
            // 3 non-blank lines
            (
                "web/index.js",
                b"const express = require(\"express\");\n\nconst app = express();\n\napp.listen(3000);\n",
            ),
            // 4 non-blank lines (a whitespace-only line is blank)
            (
                "web/app.ts",
                b"export function add(a: number, b: number): number {\n  return a + b;\n}\n  \t\nexport const zero = 0;\n",
            ),
            // Detected (next) but not a root manifest: no dependencies from it.
            (
                "web/package.json",
                br#"{"dependencies": {"next": "14.1.0", "lodash": "4.17.21"}}"#,
            ),
            // 5 non-blank lines
            (
                "cmd/main.go",
                b"package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
            ),
            // 3 non-blank lines
            ("src/lib.rs", b"pub fn one() -> u32 {\n    1\n}\n"),
            ("README.md", b"# Poly\n\nA polyglot project.\n"),
            // Skipped directories: neither counted nor detected.
            ("node_modules/junk/index.js", b"module.exports = 1;\n"),
            (
                "node_modules/junk/package.json",
                br#"{"dependencies": {"vue": "3.0.0"}}"#,
            ),
            ("build/gen.py", b"def generated():\n    pass\n"),
        ],
    )
}

fn polyglot_registry() -> Vec<(String, u16, Value)> {
    let npm = |n: &str, v: &str| (format!("/{n}/latest"), 200, json!({"version": v}));
    let pypi = |n: &str, v: &str| {
        (
            format!("/pypi/{n}/json"),
            200,
            json!({"info": {"version": v}}),
        )
    };
    let go = |m: &str, v: &str| (format!("/{m}/@latest"), 200, json!({"Version": v}));
    let crates = |n: &str, v: &str| {
        (
            format!("/api/v1/crates/{n}"),
            200,
            json!({"crate": {"max_version": v}}),
        )
    };
    let maven = |g: &str, a: &str, v: &str| {
        (
            format!("/solrsearch/select?q=g:{g}+AND+a:{a}&rows=1&wt=json"),
            200,
            json!({"response": {"numFound": 1, "docs": [{"latestVersion": v}]}}),
        )
    };
    let gem = |n: &str, v: &str| (format!("/api/v1/gems/{n}.json"), 200, json!({"version": v}));
    let packagist = |n: &str, versions: &[&str]| {
        let list: Vec<Value> = versions.iter().map(|v| json!({"version": v})).collect();
        (format!("/p2/{n}.json"), 200, json!({"packages": {n: list}}))
    };
    vec![
        npm("express", "4.19.2"),
        npm("react", "18.3.1"),
        npm("vite", "7.1.0"),
        npm("left-pad", "1.3.0"),
        pypi("Django", "5.1"),
        pypi("requests", "2.32.3"),
        // The registry fails: latest_version null, not outdated, no gap.
        (
            "/pypi/flask/json".into(),
            500,
            json!({"message": "Internal Server Error"}),
        ),
        go("github.com/gin-gonic/gin", "v1.10.0"),
        go("golang.org/x/text", "v0.21.0"),
        go("github.com/google/uuid", "v1.6.0"),
        crates("serde", "1.0.215"),
        crates("tokio", "1.41.1"),
        crates("proptest", "1.5.0"),
        crates("cc", "1.2.1"),
        maven("org.slf4j", "slf4j-api", "2.0.16"),
        maven("junit", "junit", "4.13.2"),
        maven("com.google.guava", "guava", "33.3.1-jre"),
        maven("com.squareup.okhttp3", "okhttp", "4.12.0"),
        maven("org.mockito", "mockito-core", "5.14.2"),
        gem("rails", "8.0.0"),
        // puma: not answered (404) → null.
        gem("rspec", "3.13.0"),
        packagist("monolog/monolog", &["dev-main", "3.8.0", "3.7.0"]),
        packagist("symfony/console", &["v7.2.0", "v7.1.0"]),
        packagist("phpunit/phpunit", &["11.4.3"]),
    ]
}

#[allow(clippy::too_many_arguments)]
fn dep(
    name: &str,
    version: &str,
    dep_type: &str,
    language: &str,
    latest: Option<&str>,
    outdated: bool,
    confidence: f64,
    file: &str,
    pm: &str,
) -> Value {
    json!({
        "name": name, "version": version, "type": dep_type, "language": language,
        "latest_version": latest, "is_outdated": outdated, "has_vulnerabilities": false,
        "confidence": confidence, "source_file": file, "package_manager": pm,
    })
}

fn gap(name: &str, language: &str, current: &str, latest: &str, severity: &str) -> Value {
    let (description, task, effort) = match severity {
        "critical" => (
            format!("{name} is severely outdated (v{current} → v{latest}). Multiple major versions behind with potential security vulnerabilities and missing critical features."),
            format!("URGENT: Research migration path for {name} v{current} → v{latest}. Review breaking changes, update dependencies, and plan gradual rollout."),
            "2-4 weeks",
        ),
        "high" => (
            format!("{name} is significantly outdated (v{current} → v{latest}). Missing important features and bug fixes. Upgrade recommended."),
            format!("Research {name} upgrade to v{latest}. Review changelog, assess breaking changes, and create upgrade plan."),
            "1-2 weeks",
        ),
        "medium" => (
            format!("{name} is one major version behind (v{current} → v{latest}). Consider upgrading for new features and improvements."),
            format!("Evaluate {name} upgrade to v{latest}. Test compatibility and plan upgrade timeline."),
            "3-5 days",
        ),
        _ => (
            format!("{name} has minor updates available (v{current} → v{latest}). Upgrade when convenient for bug fixes and patches."),
            format!("Schedule minor update for {name} to v{latest}. Quick compatibility check and update."),
            "1-2 days",
        ),
    };
    json!({
        "technology": format!("{name} ({language})"), "current_version": current,
        "latest_version": latest, "severity": severity, "description": description,
        "suggested_task": task, "estimated_effort": effort,
    })
}

fn tech(name: &str, category: &str, version: Option<&str>, confidence: f64, file: &str) -> Value {
    json!({"name": name, "category": category, "version": version, "confidence": confidence, "file_path": file})
}

/// The §20 document of `polyglot()` (without ids and times).
fn polyglot_expected(pid: u64, sha: &str) -> Value {
    let (r, d, b, p) = ("runtime", "dev", "build", "peer");
    let dependencies = vec![
        dep(
            "express",
            "4.18.2",
            r,
            "javascript",
            Some("4.19.2"),
            true,
            1.0,
            "package.json",
            "npm",
        ),
        dep(
            "react",
            "17.0.2",
            r,
            "javascript",
            Some("18.3.1"),
            true,
            1.0,
            "package.json",
            "npm",
        ),
        dep(
            "vite",
            "4.0.0",
            d,
            "javascript",
            Some("7.1.0"),
            true,
            1.0,
            "package.json",
            "npm",
        ),
        dep(
            "left-pad",
            "1.3.0",
            p,
            "javascript",
            Some("1.3.0"),
            false,
            1.0,
            "package.json",
            "npm",
        ),
        dep(
            "Django",
            "3.2.0",
            r,
            "python",
            Some("5.1"),
            true,
            1.0,
            "requirements.txt",
            "pip",
        ),
        dep(
            "requests",
            "2.25.0",
            r,
            "python",
            Some("2.32.3"),
            true,
            1.0,
            "requirements.txt",
            "pip",
        ),
        dep(
            "flask",
            "unknown",
            r,
            "python",
            None,
            false,
            0.8,
            "requirements.txt",
            "pip",
        ),
        dep(
            "github.com/gin-gonic/gin",
            "1.9.1",
            r,
            "go",
            Some("1.10.0"),
            true,
            1.0,
            "go.mod",
            "go-modules",
        ),
        dep(
            "golang.org/x/text",
            "0.14.0",
            r,
            "go",
            Some("0.21.0"),
            true,
            1.0,
            "go.mod",
            "go-modules",
        ),
        dep(
            "github.com/google/uuid",
            "1.6.0",
            r,
            "go",
            Some("1.6.0"),
            false,
            1.0,
            "go.mod",
            "go-modules",
        ),
        dep(
            "serde",
            "1.0.190",
            r,
            "rust",
            Some("1.0.215"),
            true,
            1.0,
            "Cargo.toml",
            "cargo",
        ),
        dep(
            "tokio",
            "1.35",
            r,
            "rust",
            Some("1.41.1"),
            true,
            1.0,
            "Cargo.toml",
            "cargo",
        ),
        dep(
            "proptest",
            "1.4.0",
            d,
            "rust",
            Some("1.5.0"),
            true,
            1.0,
            "Cargo.toml",
            "cargo",
        ),
        dep(
            "cc",
            "1.0.83",
            b,
            "rust",
            Some("1.2.1"),
            true,
            1.0,
            "Cargo.toml",
            "cargo",
        ),
        dep(
            "org.slf4j:slf4j-api",
            "1.7.36",
            r,
            "java",
            Some("2.0.16"),
            true,
            1.0,
            "pom.xml",
            "maven",
        ),
        dep(
            "junit:junit",
            "4.13.2",
            d,
            "java",
            Some("4.13.2"),
            false,
            1.0,
            "pom.xml",
            "maven",
        ),
        dep(
            "com.google.guava:guava",
            "unknown",
            r,
            "java",
            Some("33.3.1-jre"),
            true,
            0.8,
            "pom.xml",
            "maven",
        ),
        dep(
            "com.squareup.okhttp3:okhttp",
            "3.14.9",
            r,
            "java",
            Some("4.12.0"),
            true,
            1.0,
            "build.gradle.kts",
            "gradle",
        ),
        dep(
            "org.mockito:mockito-core",
            "5.11.0",
            d,
            "java",
            Some("5.14.2"),
            true,
            1.0,
            "build.gradle.kts",
            "gradle",
        ),
        dep(
            "rails",
            "6.1.0",
            r,
            "ruby",
            Some("8.0.0"),
            true,
            1.0,
            "Gemfile",
            "bundler",
        ),
        dep(
            "puma", "unknown", r, "ruby", None, false, 0.8, "Gemfile", "bundler",
        ),
        dep(
            "rspec",
            "3.12.0",
            d,
            "ruby",
            Some("3.13.0"),
            true,
            1.0,
            "Gemfile",
            "bundler",
        ),
        dep(
            "monolog/monolog",
            "2.9",
            r,
            "php",
            Some("3.8.0"),
            true,
            1.0,
            "composer.json",
            "composer",
        ),
        dep(
            "symfony/console",
            "5.4",
            r,
            "php",
            Some("7.2.0"),
            true,
            1.0,
            "composer.json",
            "composer",
        ),
        dep(
            "phpunit/phpunit",
            "9.6",
            d,
            "php",
            Some("11.4.3"),
            true,
            1.0,
            "composer.json",
            "composer",
        ),
    ];
    let research_gaps = vec![
        gap("vite", "javascript", "4.0.0", "7.1.0", "critical"),
        gap("Django", "python", "3.2.0", "5.1", "high"),
        gap("phpunit/phpunit", "php", "9.6", "11.4.3", "high"),
        gap("rails", "ruby", "6.1.0", "8.0.0", "high"),
        gap("symfony/console", "php", "5.4", "7.2.0", "high"),
        gap(
            "com.google.guava:guava",
            "java",
            "unknown",
            "33.3.1-jre",
            "medium",
        ),
        gap(
            "com.squareup.okhttp3:okhttp",
            "java",
            "3.14.9",
            "4.12.0",
            "medium",
        ),
        gap("monolog/monolog", "php", "2.9", "3.8.0", "medium"),
        gap("org.slf4j:slf4j-api", "java", "1.7.36", "2.0.16", "medium"),
        gap("react", "javascript", "17.0.2", "18.3.1", "medium"),
        gap("cc", "rust", "1.0.83", "1.2.1", "low"),
        gap("express", "javascript", "4.18.2", "4.19.2", "low"),
        gap("github.com/gin-gonic/gin", "go", "1.9.1", "1.10.0", "low"),
        gap("golang.org/x/text", "go", "0.14.0", "0.21.0", "low"),
        gap(
            "org.mockito:mockito-core",
            "java",
            "5.11.0",
            "5.14.2",
            "low",
        ),
        gap("proptest", "rust", "1.4.0", "1.5.0", "low"),
        gap("requests", "python", "2.25.0", "2.32.3", "low"),
        gap("rspec", "ruby", "3.12.0", "3.13.0", "low"),
        gap("serde", "rust", "1.0.190", "1.0.215", "low"),
        gap("tokio", "rust", "1.35", "1.41.1", "low"),
    ];
    let technologies = vec![
        tech("react", "framework", Some("17.0.2"), 0.95, "package.json"),
        tech("express", "framework", Some("4.18.2"), 0.95, "package.json"),
        tech("vite", "build_tool", Some("4.0.0"), 0.95, "package.json"),
        tech(
            "next",
            "framework",
            Some("14.1.0"),
            0.95,
            "web/package.json",
        ),
        tech(
            "django",
            "framework",
            Some("3.2.0"),
            0.95,
            "requirements.txt",
        ),
        tech(
            "postgresql",
            "database",
            Some("15"),
            0.95,
            "docker-compose.yml",
        ),
        tech("redis", "database", Some("7.2"), 0.95, "docker-compose.yml"),
        tech("docker", "infrastructure", None, 0.95, "Dockerfile"),
        tech("rust", "language", None, 0.95, "Cargo.toml"),
        tech("go", "language", Some("1.21"), 0.95, "go.mod"),
        tech("github-actions", "ci_cd", None, 1.0, ".github/workflows"),
    ];
    // 19 files outside node_modules/ and build/; 41 non-blank lines; max depth 2;
    // cyclomatic (5 + 6) / 2 = 5.5 → 0.19 + 0.0041 + 4 + 6.875 = 11.0691.
    json!({
        "id": null, "project_id": pid,
        "project_path": format!("upload:{sha}"),
        "source": {"type": "upload", "repository_id": null, "repo": null, "ref": null,
                   "commit_sha": null, "archive_sha256": sha},
        "analysis_version": "1.0.0",
        "dependencies": dependencies,
        "technologies": technologies,
        "code_metrics": {
            "total_files": 19, "lines_of_code": 41,
            "languages": {"go": 5, "javascript": 3, "kotlin": 8, "python": 18, "rust": 3, "typescript": 4},
            "complexity_score": 11.07, "architecture_pattern": "mvc",
            "cyclomatic_complexity": 5.5, "total_functions": 3, "total_classes": 1,
        },
        "research_gaps": research_gaps,
    })
}

#[tokio::test]
async fn polyglot_upload_is_analyzed_cached_and_counted() {
    let reg = registry(polyglot_registry()).await;
    let app = app_with(&reg, None).await;
    let u = app.user().await;
    let p = app.project(&u, "Polyglot").await;
    let pid = p["id"].as_u64().unwrap();
    let archive = polyglot();
    let sha = sha256(&archive);

    // Statistics of a project without analyses: zeros.
    assert_eq!(
        statistics(&app, &u).await,
        json!({"total_analyses": 0, "unique_projects": 0, "total_dependencies": 0,
               "total_technologies": 0, "total_gaps": 0, "critical_gaps": 0, "high_gaps": 0,
               "outdated_dependencies": 0})
    );

    let r = post_upload(&app, &u, "poly.tar.gz", &archive, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["job_type"], "analysis");
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["project_id"], pid);
    assert_eq!(r.body["created_by"], u.id);
    assert!(
        r.body["celery_task_id"].is_string(),
        "dispatched: {}",
        r.text
    );
    let key = format!("analysis-uploads/{pid}/{sha}");
    assert_eq!(
        r.body["parameters"],
        json!({"upload_key": key, "use_cache": true})
    );
    // The upload is kept in S3 for the job.
    let kept = app
        .state
        .blobs
        .get(&key)
        .await
        .unwrap()
        .expect("upload kept");
    assert_eq!(kept, archive);

    let job_id = r.body["id"].as_u64().unwrap();
    let j = run(&app, &u, JobType::Analysis, job_id).await;
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(j["progress"], 100);
    assert_eq!(j["current_step"], "Job completed successfully");
    assert_eq!(j["error"], Value::Null);
    let first_id = j["result"]["analysis_id"].as_u64().expect("analysis_id");
    assert_eq!(
        j["result"],
        json!({"analysis_id": first_id, "project_path": format!("upload:{sha}")})
    );

    let a = get_analysis(&app, &u, first_id).await;
    let mut expected = polyglot_expected(pid, &sha);
    expected["id"] = json!(first_id);
    let got = stable(&a);
    // Field by field first, for readable failures.
    for k in [
        "dependencies",
        "technologies",
        "code_metrics",
        "research_gaps",
        "source",
    ] {
        if let (Some(g), Some(e)) = (got[k].as_array(), expected[k].as_array()) {
            for (i, (gi, ei)) in g.iter().zip(e).enumerate() {
                assert_eq!(gi, ei, "{k}[{i}]");
            }
            assert_eq!(g.len(), e.len(), "{k} length");
        }
        assert_eq!(got[k], expected[k], "{k}");
    }
    assert_eq!(got, expected);
    assert_eq!(a["analyzed_at"], a["created_at"]);

    // Every registry was asked once per package.
    let first_calls = calls(&reg).await;
    let answered: Vec<String> = polyglot_registry().into_iter().map(|(k, _, _)| k).collect();
    for k in &answered {
        assert_eq!(first_calls.get(k), Some(&1), "{k}: {first_calls:?}");
    }
    assert_eq!(first_calls.get("/api/v1/gems/puma.json"), Some(&1));
    assert_eq!(
        first_calls.values().sum::<usize>(),
        answered.len() + 1,
        "{first_calls:?}"
    );

    // The same archive again: the stored analysis, from the cache, in a few AWS calls.
    let r = post_upload(&app, &u, "again.tar.gz", &archive, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, a);
    assert!(
        r.aws_calls() <= 4,
        "cache hit cost {} AWS calls",
        r.aws_calls()
    );

    // use_cache=false: a new job and a new analysis, equal but for ids and times.
    let r = post_upload(&app, &u, "poly.tgz", &archive, &[("use_cache", "false")]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["parameters"]["use_cache"], false);
    let j = run(&app, &u, JobType::Analysis, r.body["id"].as_u64().unwrap()).await;
    assert_eq!(j["status"], "completed", "{j}");
    let second_id = j["result"]["analysis_id"].as_u64().unwrap();
    assert_ne!(second_id, first_id);
    assert!(second_id > first_id, "ids increase with time");
    let b = get_analysis(&app, &u, second_id).await;
    expected["id"] = json!(second_id);
    assert_eq!(stable(&b), expected);
    // The second analysis asked no registry again for what it answered (24 h cache); the
    // lookups that failed are not cached and were asked again.
    let second_calls = calls(&reg).await;
    for k in &answered {
        let again = if k == "/pypi/flask/json" { 2 } else { 1 };
        assert_eq!(second_calls.get(k), Some(&again), "{k}");
    }
    assert_eq!(second_calls.get("/api/v1/gems/puma.json"), Some(&2));
    assert_eq!(
        second_calls.values().sum::<usize>(),
        answered.len() + 3,
        "{second_calls:?}"
    );
    // The cache now names the newest analysis.
    let r = post_upload(&app, &u, "poly.zip", &archive, &[("use_cache", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], second_id);

    // 2. Statistics: both analyses, one project (the same archive).
    assert_eq!(
        statistics(&app, &u).await,
        json!({"total_analyses": 2, "unique_projects": 1, "total_dependencies": 50,
               "total_technologies": 22, "total_gaps": 40, "critical_gaps": 2, "high_gaps": 8,
               "outdated_dependencies": 40})
    );

    // Another user, not a member: the analysis is not found, nor exported.
    let other = app.user().await;
    app.project(&other, "Elsewhere").await;
    let r = app
        .get(&format!("/api/v1/projects/analysis/{first_id}"))
        .bearer(&other.access)
        .send()
        .await;
    let body = r.problem(404, "analysis_not_found");
    assert_eq!(body["detail"], format!("Analysis {first_id} not found"));
    app.get(&format!("/api/v1/export/{first_id}/json"))
        .bearer(&other.access)
        .send()
        .await
        .problem(404, "analysis_not_found");
    // … and its own statistics are zeros.
    assert_eq!(statistics(&app, &other).await["total_analyses"], 0);
    // A member of the project sees it.
    let r = app
        .post(&format!("/api/v1/projects/{pid}/members"))
        .bearer(&u.access)
        .json(json!({"user_id": other.id}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .get(&format!("/api/v1/projects/analysis/{first_id}"))
        .bearer(&other.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, a);
}

// ---------------------------------------------------------------------------------------------
// 3. Attacks and errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_requests_are_refused_before_any_job() {
    let reg = registry(vec![]).await;
    let app = app_with(&reg, None).await;
    let u = app.user().await;
    let p = app.project(&u, "Refusals").await;
    let pid = p["id"].as_u64().unwrap();

    // Not an archive.
    let r = post_upload(&app, &u, "notes.tar.gz", b"just some text, not gzip", &[]).await;
    assert_eq!(
        r.problem(400, "invalid_archive")["detail"],
        "Archive could not be read"
    );
    // A truncated gzip (magic bytes, nothing behind).
    let mut truncated = tar_gz("x", &[("a.py", b"x = 1\n")]);
    truncated.truncate(12);
    post_upload(&app, &u, "cut.tgz", &truncated, &[])
        .await
        .problem(400, "invalid_archive");
    // A zip whose central directory names `../evil`.
    let evil = zip_of(&[("ok.py", b"x = 1\n"), ("../evil", b"owned\n")]);
    let r = post_upload(&app, &u, "evil.zip", &evil, &[]).await;
    assert_eq!(
        r.problem(400, "invalid_archive")["detail"],
        "Archive could not be read"
    );
    // Over 5 MB.
    let mut big = b"PK\x03\x04".to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    let r = post_upload(&app, &u, "big.zip", &big, &[]).await;
    r.problem(413, "payload_too_large");
    // A bad use_cache value.
    let ok = tar_gz("x", &[("a.py", b"x = 1\n")]);
    let r = post_upload(&app, &u, "a.tgz", &ok, &[("use_cache", "maybe")]).await;
    let b = r.problem(422, "validation_error");
    assert_eq!(b["errors"][0]["loc"], json!(["body", "use_cache"]));
    // A form with no file.
    let boundary = "ccnofile";
    let r = app
        .post("/api/v1/projects/analyze")
        .bearer(&u.access)
        .header("content-type", &format!("multipart/form-data; boundary={boundary}"))
        .raw(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"use_cache\"\r\n\r\ntrue\r\n--{boundary}--\r\n"))
        .send()
        .await;
    let b = r.problem(422, "validation_error");
    assert_eq!(
        b["errors"],
        json!([{"loc": ["body"], "msg": "Value error, Exactly one of repository_id, repo or file is required", "type": "value_error"}])
    );

    // JSON: both sources, or none.
    let exactly_one = json!([{"loc": ["body"], "msg": "Value error, Exactly one of repository_id, repo or file is required", "type": "value_error"}]);
    for body in [
        json!({"repository_id": 1, "repo": "o/n"}),
        json!({}),
        json!({"ref": "main"}),
    ] {
        let r = app
            .post("/api/v1/projects/analyze")
            .bearer(&u.access)
            .json(body.clone())
            .send()
            .await;
        let b = r.problem(422, "validation_error");
        assert_eq!(b["detail"], "Request validation failed");
        assert_eq!(b["errors"], exactly_one, "{body}");
    }
    // An unknown repository.
    let r = app
        .post("/api/v1/projects/analyze")
        .bearer(&u.access)
        .json(json!({"repository_id": 987654321}))
        .send()
        .await;
    assert_eq!(
        r.problem(404, "repository_not_found")["detail"],
        "Repository 987654321 not found"
    );
    // Neither JSON nor multipart.
    let r = app
        .post("/api/v1/projects/analyze")
        .bearer(&u.access)
        .header("content-type", "text/plain")
        .raw("o/n")
        .send()
        .await;
    r.problem(415, "unsupported_media_type");
    // An unknown analysis.
    app.get("/api/v1/projects/analysis/987654321")
        .bearer(&u.access)
        .send()
        .await
        .problem(404, "analysis_not_found");

    // Nothing was kept, no job was made, no registry was asked.
    let r = app.get("/api/v1/jobs").bearer(&u.access).send().await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    assert!(
        !app.partition(pid)
            .await
            .iter()
            .any(|sk| sk.starts_with("ANLY")),
        "no analysis items"
    );
    assert!(calls(&reg).await.is_empty());
}

/// A tar.gz whose entry names are written raw (the tar crate refuses `..` itself).
fn raw_tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A small zip (well under 5 MB) that expands past 100 MiB: 101 entries of 1 MiB of zeros.
fn zip_bomb() -> Vec<u8> {
    let one = zip_of(&[("z.txt", &vec![b'\n'; 1 << 20])]);
    let mut src = zip::ZipArchive::new(Cursor::new(one)).unwrap();
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..101 {
        let f = src.by_index_raw(0).unwrap();
        z.raw_copy_file_rename(f, format!("bomb/{i}.txt")).unwrap();
    }
    z.finish().unwrap().into_inner()
}

#[tokio::test]
async fn hostile_archives_fail_their_job_or_are_read_safely() {
    let reg = registry(vec![]).await;
    let app = app_with(&reg, None).await;
    let u = app.user().await;
    app.project(&u, "Hostile").await;

    // A tar.gz with a safe first entry, then `../`: the request takes it, the job fails.
    let escape = raw_tar_gz(&[
        ("proj/ok.py", b"x = 1\n"),
        ("proj/../../evil.txt", b"owned\n"),
    ]);
    let r = post_upload(&app, &u, "escape.tar.gz", &escape, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let j = run(&app, &u, JobType::Analysis, r.body["id"].as_u64().unwrap()).await;
    assert_eq!(j["status"], "failed", "{j}");
    let error = j["error"].as_str().unwrap();
    assert!(
        error.starts_with("Archive could not be read") && error.contains("unsafe path"),
        "{error}"
    );
    assert_eq!(j["current_step"], format!("Job failed: {error}"));
    assert_eq!(j["result"], Value::Null);

    // A zip bomb: the job stops reading at 100 MiB and fails.
    let bomb = zip_bomb();
    assert!(bomb.len() < 1 << 20, "the bomb is small: {}", bomb.len());
    let r = post_upload(&app, &u, "bomb.zip", &bomb, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let j = run(&app, &u, JobType::Analysis, r.body["id"].as_u64().unwrap()).await;
    assert_eq!(j["status"], "failed", "{j}");
    let error = j["error"].as_str().unwrap();
    assert!(
        error.starts_with("Archive could not be read") && error.contains("too large"),
        "{error}"
    );

    // Symbolic links (to /etc/passwd, under manifest and Python names) are neither followed
    // nor read: only the regular file counts.
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for name in [
        "links/requirements.txt",
        "links/passwd.py",
        "links/Dockerfile",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, name, "/etc/passwd").unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(6);
    h.set_mode(0o644);
    b.append_data(&mut h, "links/main.py", &b"x = 1\n"[..])
        .unwrap();
    let links = b.into_inner().unwrap().finish().unwrap();
    let a = analyze_upload(&app, &u, &links).await;
    assert_eq!(a["dependencies"], json!([]));
    assert_eq!(a["technologies"], json!([]));
    assert_eq!(
        a["code_metrics"],
        json!({"total_files": 1, "lines_of_code": 1, "languages": {"python": 1},
               "complexity_score": 1.26, "architecture_pattern": null,
               "cyclomatic_complexity": 1.0, "total_functions": 0, "total_classes": 0})
    );

    // Failed analyses are not counted.
    let s = statistics(&app, &u).await;
    assert_eq!(s["total_analyses"], 1);
    assert_eq!(s["unique_projects"], 1);
}

// ---------------------------------------------------------------------------------------------
// 4. Exports over HTTP
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn exports_have_their_headers_and_contents_and_are_rate_limited() {
    let tag = format!("x{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (archive, answers) = small_project(&tag, "exports");
    let reg = registry(answers).await;
    let app = app_with(&reg, None).await;
    let u = app.user().await;
    app.project(&u, "Exports").await;
    let a = analyze_upload(&app, &u, &archive).await;
    let id = a["id"].as_u64().unwrap();
    assert_eq!(a["research_gaps"].as_array().unwrap().len(), 1, "{a}");
    let path = a["project_path"].as_str().unwrap().to_string();

    fresh_minute_window().await;
    let get = |suffix: String| {
        let app = &app;
        let token = u.access.clone();
        async move {
            app.get(&format!("/api/v1/export/{id}/{suffix}"))
                .bearer(&token)
                .send()
                .await
        }
    };
    let check = |r: &cc_tests::Resp, ct: &str, disposition: String, remaining: u32| {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-type"), Some(ct));
        assert_eq!(r.header("content-disposition"), Some(disposition.as_str()));
        assert_eq!(
            r.header("content-length"),
            Some(r.bytes.len().to_string().as_str()),
            "exact Content-Length"
        );
        assert_eq!(r.header("ratelimit-limit"), Some("10"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
    };

    // SARIF
    let r = get("sarif".into()).await;
    check(
        &r,
        "application/sarif+json",
        format!("attachment; filename=\"analysis_{id}.sarif\""),
        9,
    );
    assert_eq!(
        r.header("content-length").unwrap(),
        r.text.len().to_string()
    );
    assert_eq!(r.body["version"], "2.1.0");
    assert_eq!(r.body["runs"][0]["tool"]["driver"]["name"], "CommandCenter");
    assert_eq!(
        r.body["runs"][0]["properties"]["commandCenter"]["projectPath"],
        path
    );
    assert!(r.text.contains("\n  \"version\""), "2-space indent");

    // HTML: inline, with the CDN allowed for Chart.js.
    let r = get("html".into()).await;
    check(
        &r,
        "text/html; charset=utf-8",
        format!("inline; filename=\"analysis_{id}.html\""),
        8,
    );
    assert_eq!(
        r.header("content-length").unwrap(),
        r.text.len().to_string()
    );
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self' 'unsafe-inline' 'unsafe-eval' https://cdn.jsdelivr.net"),
        "{csp}"
    );
    assert!(
        csp.contains("style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net"),
        "{csp}"
    );
    assert!(
        r.text.contains(&format!(
            "<title>CommandCenter Analysis Report - {path}</title>"
        )),
        "{}",
        &r.text[..r.text.len().min(600)]
    );
    // Elsewhere the CSP has no CDN.
    let plain = app
        .get(&format!("/api/v1/projects/analysis/{id}"))
        .bearer(&u.access)
        .send()
        .await;
    assert!(!plain
        .header("content-security-policy")
        .unwrap()
        .contains("cdn.jsdelivr.net"));

    // CSV, every export_type (combined by default).
    let r = get("csv".into()).await;
    check(
        &r,
        "text/csv; charset=utf-8",
        format!("attachment; filename=\"analysis_{id}_combined.csv\""),
        7,
    );
    assert_eq!(
        r.header("content-length").unwrap(),
        r.text.len().to_string()
    );
    assert!(
        r.text.starts_with(&format!(
            "CommandCenter Analysis Report\r\nProject,{path}\r\n"
        )),
        "{}",
        r.text
    );
    assert!(r.text.contains("\r\nSUMMARY\r\n"), "{}", r.text);
    let firsts = [
        (
            "technologies",
            "Technology,Version,Category,Confidence (%),Description,Source File",
        ),
        (
            "dependencies",
            "Package,Current Version,Latest Version,Status,Severity,Package Manager,File",
        ),
        ("metrics", "Metric,Value"),
        (
            "gaps",
            "Title,Description,Category,Priority,Estimated Effort,Recommendation",
        ),
    ];
    let mut remaining = 6;
    for (t, header) in firsts {
        let r = get(format!("csv?export_type={t}")).await;
        check(
            &r,
            "text/csv; charset=utf-8",
            format!("attachment; filename=\"analysis_{id}_{t}.csv\""),
            remaining,
        );
        assert_eq!(
            r.header("content-length").unwrap(),
            r.text.len().to_string()
        );
        remaining -= 1;
        let mut lines = r.text.split("\r\n");
        assert_eq!(lines.next(), Some(header), "{t}: {}", r.text);
        match t {
            "dependencies" => assert!(
                r.text.contains(&format!(
                    "\r\n{tag}-old,1.2.0,2.1.0,Outdated,medium,npm,package.json\r\n"
                )),
                "{}",
                r.text
            ),
            "metrics" => assert!(r.text.contains("\r\nLines of Code,2\r\n"), "{}", r.text),
            "gaps" => assert!(
                r.text.contains(&format!("\r\n{tag}-old (javascript),")),
                "{}",
                r.text
            ),
            _ => assert!(
                r.text
                    .contains("\r\nmongodb,7.0,database,95,,docker-compose.yml\r\n"),
                "{}",
                r.text
            ),
        }
    }

    // Excel, read back.
    let r = get("excel".into()).await;
    check(
        &r,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        format!("attachment; filename=\"analysis_{id}.xlsx\""),
        2,
    );
    {
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(Cursor::new(r.bytes.clone())).unwrap();
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
        let summary = wb.worksheet_range("Summary").unwrap();
        assert_eq!(
            summary.get_value((0, 0)).map(|c| c.to_string()),
            Some("CommandCenter Analysis Report".to_string())
        );
        let gaps = wb.worksheet_range("Research Gaps").unwrap();
        assert_eq!(gaps.height(), 2, "header + one gap");
    }

    // JSON: pretty by default, compact on request; the §13 shape.
    let r = get("json".into()).await;
    check(
        &r,
        "application/json",
        format!("attachment; filename=\"analysis_{id}.json\""),
        1,
    );
    assert_eq!(
        r.header("content-length").unwrap(),
        r.text.len().to_string()
    );
    assert!(r.text.contains("\n  \"id\": "), "{}", &r.text[..80]);
    let r2 = get("json?pretty=false".into()).await;
    check(
        &r2,
        "application/json",
        format!("attachment; filename=\"analysis_{id}.json\""),
        0,
    );
    assert_eq!(
        r2.header("content-length").unwrap(),
        r2.text.len().to_string()
    );
    assert!(!r2.text.contains('\n'), "compact");
    assert_eq!(r.body, r2.body);
    let keys: Vec<&str> = r2
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
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
    assert_eq!(r2.body["detected_technologies"], a["technologies"]);
    assert_eq!(r2.body["dependencies"], a["dependencies"]);
    assert_eq!(r2.body["research_gaps"], a["research_gaps"]);
    assert_eq!(r2.body["code_metrics"], a["code_metrics"]);

    // The 11th download within the minute (any format): 429.
    let r = get("sarif".into()).await;
    let b = r.problem(429, "rate_limited");
    assert_eq!(b["detail"], "Rate limit exceeded: 10 per 1 minute");
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));

    // The formats list is not rate-limited.
    let r = app
        .get("/api/v1/export/formats")
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let formats = r.body["formats"].as_array().unwrap();
    assert_eq!(formats.len(), 5);
    let names: Vec<&str> = formats
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SARIF", "HTML", "CSV", "Excel", "JSON"]);
    for (f, fmt) in formats
        .iter()
        .zip(["sarif", "html", "csv", "excel", "json"])
    {
        assert_eq!(f["format"], fmt);
        assert_eq!(f["endpoint"], format!("/export/{{analysis_id}}/{fmt}"));
        assert_eq!(f["rate_limit"], "10/minute");
        assert!(f["mime_type"].is_string() && f["description"].is_string());
        assert!(!f["use_cases"].as_array().unwrap().is_empty());
    }
    assert_eq!(
        formats[2]["parameters"],
        json!({"export_type": ["technologies", "dependencies", "metrics", "gaps", "combined"]})
    );
    // It still needs a caller.
    app.get("/api/v1/export/formats")
        .send()
        .await
        .problem(401, "not_authenticated");
}

// ---------------------------------------------------------------------------------------------
// 5. Batch export and the export job
// ---------------------------------------------------------------------------------------------

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().unwrap().to_string(), data)
        })
        .collect()
}

#[tokio::test]
async fn batch_exports_zip_the_files_to_s3() {
    let tag = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (one, answers) = small_project(&tag, "one");
    let (two, _) = small_project(&tag, "two");
    let reg = registry(answers).await;
    let app = app_with(&reg, None).await;
    let u = app.user().await;
    app.project(&u, "Batch exports").await;
    let a1 = analyze_upload(&app, &u, &one).await;
    let a2 = analyze_upload(&app, &u, &two).await;
    let (id1, id2) = (a1["id"].as_u64().unwrap(), a2["id"].as_u64().unwrap());
    assert_ne!(id1, id2);
    fresh_minute_window().await;

    // Errors first: an empty list, a missing id, a bad format.
    let r = app
        .post("/api/v1/export/batch?format=csv")
        .bearer(&u.access)
        .json(json!([]))
        .send()
        .await;
    assert_eq!(
        r.problem(400, "empty_analysis_ids")["detail"],
        "analysis_ids cannot be empty"
    );
    let r = app
        .post("/api/v1/export/batch?format=csv")
        .bearer(&u.access)
        .json(json!([id1, 987654321]))
        .send()
        .await;
    assert_eq!(
        r.problem(404, "analyses_not_found")["detail"],
        "Analyses not found: [987654321]"
    );

    let r = app
        .post("/api/v1/export/batch?format=csv")
        .bearer(&u.access)
        .json(json!([id1, id2]))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job_id = r.body["job_id"].as_u64().unwrap();
    assert_eq!(
        r.body,
        json!({"message": "Batch export job created", "job_id": job_id, "analysis_count": 2,
               "format": "csv", "status": "pending"})
    );
    let j = job(&app, &u, job_id).await;
    assert_eq!(j["job_type"], "batch_export");
    assert!(j["celery_task_id"].is_string(), "dispatched: {j}");
    assert_eq!(
        j["parameters"],
        json!({"analysis_ids": [id1, id2], "format": "csv"})
    );

    let j = run(&app, &u, JobType::BatchExport, job_id).await;
    assert_eq!(j["status"], "completed", "{j}");
    let res = &j["result"];
    assert_eq!(res["total_items"], 2);
    assert_eq!(res["completed_items"], 2);
    assert_eq!(res["failed_items"], 0);
    assert_eq!(res["format"], "csv");
    assert!(is_timestamp(&res["expires_at"]), "{res}");
    assert!(
        res["download_url"].as_str().unwrap().starts_with("http"),
        "{res}"
    );
    let f1 = format!("analysis_{id1}_combined.csv");
    let f2 = format!("analysis_{id2}_combined.csv");
    assert_eq!(
        res["files"],
        json!([
            {"analysis_id": id1, "filename": f1, "status": "completed", "error": null},
            {"analysis_id": id2, "filename": f2, "status": "completed", "error": null},
        ])
    );
    // Each read presigns again.
    let again = job(&app, &u, job_id).await;
    let url = again["result"]["download_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains(&format!("export_{job_id}.zip")), "{url}");
    assert!(is_timestamp(&again["result"]["expires_at"]));
    assert_eq!(
        http_send("GET", &url, "application/octet-stream", b"").await,
        200
    );

    // The zip in S3: one combined CSV per analysis, as the CSV download renders it.
    let key = res["download_key"].as_str().unwrap();
    let bytes = app.state.blobs.get(key).await.unwrap().expect("zip in S3");
    assert_eq!(res["size_bytes"], bytes.len());
    let entries = unzip(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [f1.as_str(), f2.as_str()]);
    for ((_, data), id) in entries.iter().zip([id1, id2]) {
        let r = app
            .get(&format!("/api/v1/export/{id}/csv"))
            .bearer(&u.access)
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(String::from_utf8_lossy(data), r.text);
        assert!(r.text.starts_with("CommandCenter Analysis Report\r\n"));
    }

    // POST /batch/export (same bucket): JSON files.
    let r = app
        .post("/api/v1/batch/export")
        .bearer(&u.access)
        .json(json!({"analysis_ids": [id2], "format": "json"}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["job_type"], "batch_export");
    assert_eq!(r.body["total_items"], 1);
    assert_eq!(r.body["format"], "json");
    assert_eq!(r.body["download_urls"], Value::Null);
    let bid = r.body["job_id"].as_u64().unwrap();
    let j = run(&app, &u, JobType::BatchExport, bid).await;
    assert_eq!(j["status"], "completed", "{j}");
    let bytes = app
        .state
        .blobs
        .get(j["result"]["download_key"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let entries = unzip(&bytes);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, format!("analysis_{id2}.json"));
    let doc: Value = serde_json::from_slice(&entries[0].1).unwrap();
    assert_eq!(doc["id"], id2);
    assert_eq!(doc["detected_technologies"], a2["technologies"]);
    let r = app
        .post("/api/v1/batch/export")
        .bearer(&u.access)
        .json(json!({"analysis_ids": [id2, 987654321], "format": "json"}))
        .send()
        .await;
    assert_eq!(
        r.problem(400, "analyses_not_found")["detail"],
        "Analyses not found: [987654321]"
    );
    // That was the 5th batch request of the minute; the 6th is limited (both routes).
    let r = app
        .post("/api/v1/export/batch?format=json")
        .bearer(&u.access)
        .json(json!([id1]))
        .send()
        .await;
    assert_eq!(
        r.problem(429, "rate_limited")["detail"],
        "Rate limit exceeded: 5 per 1 minute"
    );

    // One export job through POST /jobs + dispatch: an xlsx in S3.
    let r = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(json!({"job_type": "export", "parameters": {"analysis_id": id2, "format": "excel"}}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["celery_task_id"], Value::Null);
    let eid = r.body["id"].as_u64().unwrap();
    let r = app
        .post(&format!("/api/v1/jobs/{eid}/dispatch"))
        .bearer(&u.access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = run(&app, &u, JobType::Export, eid).await;
    assert_eq!(j["status"], "completed", "{j}");
    let res = &j["result"];
    assert_eq!(res["analysis_id"], id2);
    assert_eq!(res["format"], "excel");
    assert!(is_timestamp(&res["expires_at"]));
    assert!(res["file_url"].as_str().unwrap().starts_with("http"));
    let bytes = app
        .state
        .blobs
        .get(res["file_key"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res["size_bytes"], bytes.len());
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
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
    let summary = wb.worksheet_range("Summary").unwrap();
    assert_eq!(
        summary.get_value((0, 0)).map(|c| c.to_string()),
        Some("CommandCenter Analysis Report".to_string())
    );
    let deps = wb.worksheet_range("Dependencies").unwrap();
    let header: Vec<String> = deps
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        header,
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
        deps.height(),
        1 + a2["dependencies"].as_array().unwrap().len()
    );
    let url = job(&app, &u, eid).await["result"]["file_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        http_send("GET", &url, "application/octet-stream", b"").await,
        200
    );

    // An export job naming a missing analysis is refused on creation (§0.5: body ids).
    let r = app
        .post("/api/v1/jobs")
        .bearer(&u.access)
        .json(json!({"job_type": "export", "parameters": {"analysis_id": 987654321, "format": "json"}}))
        .send()
        .await;
    // (POST /jobs reports missing parameter items as 422 value_error, as for repositories.)
    let b = r.problem(422, "validation_error");
    assert_eq!(
        b["errors"],
        json!([{"loc": ["body", "parameters", "analysis_id"],
                "msg": "Analysis 987654321 not found in this project", "type": "value_error"}])
    );
}

// ---------------------------------------------------------------------------------------------
// 6. GitHub sources
// ---------------------------------------------------------------------------------------------

fn commit_sha(seed: &str) -> String {
    sha256(seed.as_bytes())[..40].to_string()
}

/// Serves `o/<name>`: HEAD → sha, the tarball through a 302 to another path of the same host.
async fn serve_repo(github: &MockServer, name: &str, sha: &str, tarball: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/{name}/commits/HEAD")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sha": sha})))
        .mount(github)
        .await;
    let target = format!("{}/codeload/o/{name}/legacy.tar.gz/{sha}", github.uri());
    Mock::given(method("GET"))
        .and(path(format!("/repos/o/{name}/tarball/{sha}")))
        .respond_with(ResponseTemplate::new(302).insert_header("location", target.as_str()))
        .mount(github)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/codeload/o/{name}/legacy.tar.gz/{sha}")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-gzip")
                .set_body_bytes(tarball),
        )
        .mount(github)
        .await;
}

async fn github_requests(github: &MockServer, prefix: &str) -> Vec<Request> {
    github
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path().starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn github_repositories_are_analyzed_from_their_tarball() {
    let reg = registry(vec![]).await;
    let github = MockServer::start().await;
    let app = app_with(&reg, Some(github.uri())).await;
    let u = app.user().await;
    let token = format!("ghp_{}", "a1b2c3d4".repeat(8));
    let r = app
        .post("/api/v1/projects")
        .bearer(&u.access)
        .json(json!({"name": "GitHub sources", "owner": "acme", "github_token": token}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pid = r.body["id"].as_u64().unwrap();

    let sha_n = commit_sha("n");
    let tarball_n = tar_gz(
        &format!("o-n-{}", &sha_n[..7]),
        &[
            (
                "Cargo.toml",
                b"[package]\nname = \"n\"\n\n[dependencies]\nserde = \"1.0.0\"\n",
            ),
            ("src/main.rs", b"fn main() {}\n"),
        ],
    );
    serve_repo(&github, "n", &sha_n, tarball_n).await;

    let r = app
        .post("/api/v1/projects/analyze")
        .bearer(&u.access)
        .json(json!({"repo": "o/n"}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        r.body["parameters"],
        json!({"repo": "o/n", "commit_sha": sha_n, "use_cache": true})
    );
    let j = run(&app, &u, JobType::Analysis, r.body["id"].as_u64().unwrap()).await;
    assert_eq!(j["status"], "completed", "{j}");
    let project_path = format!("github:o/n@{sha_n}");
    assert_eq!(j["result"]["project_path"], project_path);
    let a = get_analysis(&app, &u, j["result"]["analysis_id"].as_u64().unwrap()).await;
    assert_eq!(a["project_id"], pid);
    assert_eq!(a["project_path"], project_path);
    assert_eq!(
        a["source"],
        json!({"type": "github", "repository_id": null, "repo": "o/n", "ref": null,
               "commit_sha": sha_n, "archive_sha256": null})
    );
    assert_eq!(
        a["dependencies"],
        json!([dep(
            "serde",
            "1.0.0",
            "runtime",
            "rust",
            None,
            false,
            1.0,
            "Cargo.toml",
            "cargo"
        )])
    );
    assert_eq!(
        a["technologies"],
        json!([tech("rust", "language", None, 0.95, "Cargo.toml")])
    );
    assert_eq!(a["code_metrics"]["total_files"], 2);
    assert_eq!(a["code_metrics"]["languages"], json!({"rust": 1}));
    // The project's token went to GitHub, not to the redirect target.
    let tarball_calls = github_requests(&github, "/repos/o/n/tarball/").await;
    assert_eq!(tarball_calls.len(), 1);
    assert_eq!(
        tarball_calls[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {token}").as_str())
    );
    let codeload = github_requests(&github, "/codeload/o/n/").await;
    assert_eq!(codeload.len(), 1);
    assert!(codeload[0].headers.get("authorization").is_none());

    // Again: the commit is resolved (one GitHub call), the stored analysis answers.
    let r = app
        .post("/api/v1/projects/analyze")
        .bearer(&u.access)
        .json(json!({"repo": "o/n"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, a);
    assert_eq!(
        github_requests(&github, "/repos/o/n/commits/HEAD")
            .await
            .len(),
        2
    );
    assert_eq!(
        github_requests(&github, "/repos/o/n/tarball/").await.len(),
        1
    );
    // A ref is resolved too (unknown here: GitHub's 404).
    let r = app
        .post("/api/v1/projects/analyze")
        .bearer(&u.access)
        .json(json!({"repo": "o/n", "ref": "no-such-branch"}))
        .send()
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // Tracked repositories: source type repository.
    let mut tracked = Vec::new();
    for name in ["m", "k"] {
        let sha = commit_sha(name);
        let tarball = tar_gz(
            &format!("o-{name}-{}", &sha[..7]),
            &[(
                "go.mod",
                format!(
                    "module example.com/{name}\n\ngo 1.22\n\nrequire golang.org/x/net v0.20.0\n"
                )
                .as_bytes(),
            )],
        );
        serve_repo(&github, name, &sha, tarball).await;
        let repo = app
            .create(
                &u,
                "/api/v1/repositories",
                None,
                json!({"owner": "o", "name": name}),
            )
            .await;
        tracked.push((repo["id"].as_u64().unwrap(), sha));
    }
    let (rid_m, sha_m) = tracked[0].clone();
    let r = app
        .post("/api/v1/projects/analyze")
        .bearer(&u.access)
        .json(json!({"repository_id": rid_m}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        r.body["parameters"],
        json!({"repository_id": rid_m, "commit_sha": sha_m, "use_cache": true})
    );
    let j = run(&app, &u, JobType::Analysis, r.body["id"].as_u64().unwrap()).await;
    assert_eq!(j["status"], "completed", "{j}");
    let am_id = j["result"]["analysis_id"].as_u64().unwrap();
    let am = get_analysis(&app, &u, am_id).await;
    assert_eq!(
        am["source"],
        json!({"type": "repository", "repository_id": rid_m, "repo": "o/m", "ref": null,
               "commit_sha": sha_m, "archive_sha256": null})
    );
    assert_eq!(am["project_path"], format!("github:o/m@{sha_m}"));
    assert_eq!(
        am["technologies"],
        json!([tech("go", "language", Some("1.22"), 0.95, "go.mod")])
    );

    // batch_analysis over m (cached), k (new) and a repository GitHub does not know.
    let gone = app
        .create(
            &u,
            "/api/v1/repositories",
            None,
            json!({"owner": "o", "name": "gone"}),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (rid_k, sha_k) = tracked[1].clone();
    let r = app
        .post("/api/v1/batch/analyze")
        .bearer(&u.access)
        .json(json!({"repository_ids": [rid_m, rid_k, gone]}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let bid = r.body["job_id"].as_u64().unwrap();
    let j = run(&app, &u, JobType::BatchAnalysis, bid).await;
    assert_eq!(j["status"], "completed", "{j}");
    let res = &j["result"];
    assert_eq!(res["total_items"], 3);
    assert_eq!(res["completed_items"], 2);
    assert_eq!(res["failed_items"], 1);
    let results = res["results"].as_array().unwrap();
    assert_eq!(
        results[0],
        json!({"repository_id": rid_m, "status": "completed", "analysis_id": am_id, "error": null})
    );
    assert_eq!(results[1]["repository_id"], rid_k);
    assert_eq!(results[1]["status"], "completed");
    assert_eq!(results[1]["error"], Value::Null);
    let ak = get_analysis(&app, &u, results[1]["analysis_id"].as_u64().unwrap()).await;
    assert_eq!(ak["source"]["type"], "repository");
    assert_eq!(ak["source"]["repository_id"], rid_k);
    assert_eq!(ak["project_path"], format!("github:o/k@{sha_k}"));
    assert_eq!(results[2]["repository_id"], gone);
    assert_eq!(results[2]["status"], "failed");
    assert_eq!(results[2]["analysis_id"], Value::Null);
    assert!(results[2]["error"].is_string(), "{}", results[2]);
    assert_eq!(results[2]["error"], "GitHub resource not found");

    let s = statistics(&app, &u).await;
    assert_eq!(s["total_analyses"], 3, "{s}");
    assert_eq!(s["unique_projects"], 3, "{s}");
}

// ---------------------------------------------------------------------------------------------
// 7. Races
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_analyses_and_duplicate_messages_save_as_they_should() {
    let tag = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (archive, answers) = small_project(&tag, "race");
    let reg = registry(answers).await;
    let app = app_with(&reg, None).await;
    let u = app.user().await;
    let p = app.project(&u, "Races").await;
    let pid = p["id"].as_u64().unwrap();

    // Two jobs of the same upload, run at once: both analyses are saved, one project.
    let r1 = post_upload(&app, &u, "a.tgz", &archive, &[]).await;
    let r2 = post_upload(&app, &u, "b.tgz", &archive, &[("use_cache", "false")]).await;
    assert_eq!(
        (r1.status.as_u16(), r2.status.as_u16()),
        (202, 202),
        "{} {}",
        r1.text,
        r2.text
    );
    let (j1, j2) = (
        r1.body["id"].as_u64().unwrap(),
        r2.body["id"].as_u64().unwrap(),
    );
    let (ids1, ids2) = ([j1], [j2]);
    let (o1, o2) = tokio::join!(
        app.run_jobs(JobType::Analysis, &ids1),
        app.run_jobs(JobType::Analysis, &ids2)
    );
    assert!(o1.batch_item_failures.is_empty() && o2.batch_item_failures.is_empty());
    let (j1, j2) = (job(&app, &u, j1).await, job(&app, &u, j2).await);
    assert_eq!(
        (&j1["status"], &j2["status"]),
        (&json!("completed"), &json!("completed")),
        "{j1} {j2}"
    );
    let s = statistics(&app, &u).await;
    assert_eq!(s["unique_projects"], 1, "{s}");
    // The first job's use_cache may find the second's analysis when it finished first.
    let distinct = if j1["result"]["analysis_id"] == j2["result"]["analysis_id"] {
        1
    } else {
        2
    };
    assert_eq!(s["total_analyses"], distinct, "{s}");
    assert_eq!(s["total_dependencies"], 3 * distinct);

    // One job's message delivered twice at once: one analysis.
    let r = post_upload(&app, &u, "c.tgz", &archive, &[("use_cache", "false")]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let jid = r.body["id"].as_u64().unwrap();
    let state = app.job_state();
    let queue = &app.state.config.queue_urls["analysis"];
    let event = cc_tests::receive_jobs(&app.state.aws.sqs, queue, &[jid]).await;
    assert_eq!(event.records.len(), 1);
    let work = commandcenter::jobs::work::work_for(JobType::Analysis);
    let (x, y) = tokio::join!(
        commandcenter::jobs::runner::handle_batch(&state, JobType::Analysis, &work, event.clone()),
        commandcenter::jobs::runner::handle_batch(&state, JobType::Analysis, &work, event)
    );
    let j = job(&app, &u, jid).await;
    assert_eq!(j["status"], "completed", "{j} {x:?} {y:?}");
    // Both deliveries are acknowledged: the second finds the job taken (or done).
    assert!(
        x.batch_item_failures.is_empty() && y.batch_item_failures.is_empty(),
        "{x:?} {y:?}"
    );
    let s2 = statistics(&app, &u).await;
    assert_eq!(s2["total_analyses"], distinct + 1, "{s2}");
    let analyses = app
        .partition(pid)
        .await
        .into_iter()
        .filter(|sk| sk.starts_with("ANLY#"))
        .count() as i64;
    assert_eq!(analyses, distinct + 1);

    // The same job origin saved twice at once (a redelivery racing the first run): one
    // analysis, both saves answer its id.
    let key = format!("analysis-uploads/{pid}/{}", sha256(&archive));
    let source = commandcenter::analysis::Source::Upload { key };
    let origin = format!("race-{}", uuid::Uuid::new_v4().simple());
    let (a, b) = tokio::join!(
        commandcenter::analysis::analyze_source(&state, pid, &source, None, false, &origin, None),
        commandcenter::analysis::analyze_source(&state, pid, &source, None, false, &origin, None)
    );
    let (a, b) = (a.expect("first save"), b.expect("second save"));
    assert_eq!(a, b);
    let s3 = statistics(&app, &u).await;
    assert_eq!(s3["total_analyses"], distinct + 2, "{s3}");
    assert_eq!(s3["unique_projects"], 1);
    assert_eq!(s3["total_dependencies"], 3 * (distinct + 2));
}

/// An analysis whose lists pass the item budget (2 000 npm dependencies, ~600 KB of lists) keeps
/// them in S3 (`body_key` on the record) and reads them back transparently: the API, the
/// statistics, every export and a batch export see the whole analysis. Also times each export
/// format of it through the API (debug build; the release figures are in the issue note).
#[tokio::test]
async fn a_large_analysis_keeps_its_lists_in_s3_and_exports_whole() {
    let deps: Vec<String> = (0..2000)
        .map(|i| format!("\"package-with-a-long-name-{i:04}\": \"^{}.2.3\"", i % 9))
        .collect();
    let package = format!("{{\"dependencies\": {{{}}}}}", deps.join(", "));
    // Every registry answer: 5.0.0 (so most are outdated, with gaps of every severity).
    let answers: Vec<(String, u16, Value)> = (0..2000)
        .map(|i| {
            (
                format!("/package-with-a-long-name-{i:04}/latest"),
                200,
                json!({"version": "5.0.0"}),
            )
        })
        .collect();
    let reg = registry(answers).await;
    let app = app_with(&reg, None).await;
    let u = app.user().await;
    app.project(&u, "large").await;
    let archive = tar_gz("big", &[("package.json", package.as_bytes())]);
    let a = analyze_upload(&app, &u, &archive).await;
    let id = a["id"].as_u64().unwrap();
    assert_eq!(a["dependencies"].as_array().unwrap().len(), 2000);
    assert_eq!(
        a["dependencies"][1999]["name"],
        "package-with-a-long-name-1999"
    );
    assert_eq!(a["dependencies"][1999]["latest_version"], "5.0.0");
    // Against 5.0.0: 0.x, 1.x, 2.x → critical; 3.x high; 4.x medium; 5.2.3–8.x are newer.
    let gaps = a["research_gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1112, "majors 0..4 of every 9 are behind");
    assert_eq!(gaps[0]["severity"], "critical");
    assert_eq!(gaps[667]["severity"], "critical");
    assert_eq!(gaps[668]["severity"], "high");
    assert_eq!(gaps[1111]["severity"], "medium");
    let lists = serde_json::to_vec(&json!([a["dependencies"], a["research_gaps"]])).unwrap();
    assert!(lists.len() > 256 * 1024, "{} bytes", lists.len());

    // The record holds a pointer to S3 instead of the lists.
    let pid = a["project_id"].as_u64().unwrap();
    let item = app
        .state
        .store
        .get(&commandcenter::store::kinds::ANALYSES.key(pid, id))
        .await
        .unwrap()
        .unwrap();
    let body_key = commandcenter::store::attr_s(&item, "body_key").expect("lists offloaded");
    assert!(
        body_key.starts_with(&format!("analyses/{pid}/")),
        "{body_key}"
    );
    assert!(!item.contains_key("dependencies"));
    assert!(app.state.blobs.get(&body_key).await.unwrap().is_some());

    let stats = statistics(&app, &u).await;
    assert_eq!(stats["total_dependencies"], 2000);
    assert_eq!(stats["outdated_dependencies"], 1112);
    assert_eq!(stats["critical_gaps"], 668);
    assert_eq!(stats["high_gaps"], 222);

    for (format, extension) in [
        ("sarif", "sarif"),
        ("html", "html"),
        ("csv", "csv"),
        ("excel", "xlsx"),
        ("json", "json"),
    ] {
        let started = std::time::Instant::now();
        let r = app
            .get(&format!("/api/v1/export/{id}/{format}"))
            .bearer(&u.access)
            .send()
            .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(r.status, 200, "{format}: {}", r.text);
        assert!(
            r.header("content-disposition")
                .unwrap()
                .contains(&format!(".{extension}\"")),
            "{format}"
        );
        assert_eq!(
            r.header("content-length").unwrap(),
            r.bytes.len().to_string(),
            "{format}"
        );
        println!(
            "export of 2000 dependencies: {format} {} bytes in {ms:.1} ms (debug, with AWS calls)",
            r.bytes.len()
        );
    }
    let json_export: Value = serde_json::from_slice(
        &app.get(&format!("/api/v1/export/{id}/json?pretty=false"))
            .bearer(&u.access)
            .send()
            .await
            .bytes,
    )
    .unwrap();
    assert_eq!(json_export["dependencies"].as_array().unwrap().len(), 2000);
}
