//! Technology detection (API.md §20 "Technology detection").
//!
//! * File rules look at every file of the given name outside skipped directories
//!   ([`super::metrics::SKIP_DIRS`]), confidence 0.95, file_path = its relative path. A file
//!   whose text was not kept (caps) is skipped, except go.mod (its presence suffices).
//! * Version rule: the first `\d+(\.\d+)*` at the start of the value, after optional
//!   whitespace and `^`, `~`, `>=`, `=`, `v` (`^18.2.0` → `18.2.0`, `~4.17` → `4.17`,
//!   `15-alpine` → `15`, `latest`, `*`, `${TAG}` → none).
//! * package.json: parsed as JSON; `dependencies` then `devDependencies`; invalid JSON → nothing.
//! * requirements.txt: a line `name==version` (name any case, whitespace allowed around `==`).
//! * docker-compose.yml/.yaml: line-based `image:` values (quotes and ` #` comments removed); the
//!   image's last path component must equal postgres, mysql, mongo, redis or elasticsearch
//!   (so `bitnami/redis` and `docker.elastic.co/elasticsearch/elasticsearch` count,
//!   `redis-commander` does not); version from the tag (after the last `:` following the last
//!   `/`, digest dropped).
//! * Dockerfile (that exact name): a line `FROM <image>` (any case) → docker.
//! * Cargo.toml: a `[package]` table header line → rust. go.mod → go, version from `go x.y`.
//! * Path rules (at the root, as the original): `.github/workflows`, `.gitlab-ci.yml`,
//!   `.circleci` (ci_cd, 1.0), `terraform`, `k8s`, `kubernetes` (infrastructure, 0.9), as file
//!   or directory; file_path = that path.
//! * **Order** (stable): rule groups in the order package.json, requirements.txt,
//!   docker-compose, Dockerfile, Cargo.toml, go.mod, then the path rules; within a group files by
//!   depth then path (root first); within a file the rules in the order listed in §20.
//!   Duplicates collapse by name onto the first occurrence's position, which takes the entry
//!   with the highest confidence (the earlier one on ties).

use std::sync::OnceLock;

use regex::Regex;

use super::archive::{Tree, TreeFile};
use super::metrics::is_skipped_file;
use super::model::{DetectedTechnology, TechnologyCategory};

const FILE_CONFIDENCE: f64 = 0.95;

const NPM_RULES: &[(&str, &str, TechnologyCategory)] = &[
    ("react", "react", TechnologyCategory::Framework),
    ("vue", "vue", TechnologyCategory::Framework),
    ("angular", "@angular/core", TechnologyCategory::Framework),
    ("svelte", "svelte", TechnologyCategory::Framework),
    ("express", "express", TechnologyCategory::Framework),
    ("nestjs", "@nestjs/core", TechnologyCategory::Framework),
    ("next", "next", TechnologyCategory::Framework),
    ("vite", "vite", TechnologyCategory::BuildTool),
    ("webpack", "webpack", TechnologyCategory::BuildTool),
];

const PIP_RULES: &[&str] = &["django", "flask", "fastapi"];

/// (technology, image name)
const IMAGE_RULES: &[(&str, &str)] = &[
    ("postgresql", "postgres"),
    ("mysql", "mysql"),
    ("mongodb", "mongo"),
    ("redis", "redis"),
    ("elasticsearch", "elasticsearch"),
];

/// (path, technology, category, confidence)
const PATH_RULES: &[(&str, &str, TechnologyCategory, f64)] = &[
    (
        ".github/workflows",
        "github-actions",
        TechnologyCategory::CiCd,
        1.0,
    ),
    (".gitlab-ci.yml", "gitlab-ci", TechnologyCategory::CiCd, 1.0),
    (".circleci", "circleci", TechnologyCategory::CiCd, 1.0),
    (
        "terraform",
        "terraform",
        TechnologyCategory::Infrastructure,
        0.9,
    ),
    ("k8s", "kubernetes", TechnologyCategory::Infrastructure, 0.9),
    (
        "kubernetes",
        "kubernetes",
        TechnologyCategory::Infrastructure,
        0.9,
    ),
];

const COMPOSE: &[&str] = &["docker-compose.yml", "docker-compose.yaml"];

/// Whether detection reads the text of files with this name.
pub fn reads_file(file_name: &str) -> bool {
    matches!(
        file_name,
        "package.json"
            | "requirements.txt"
            | "docker-compose.yml"
            | "docker-compose.yaml"
            | "Dockerfile"
            | "Cargo.toml"
            | "go.mod"
    )
}

fn re(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

/// The version rule of §20 applied to a value (module docs).
pub fn version_of(value: &str) -> Option<String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    re(&RE, r"^\s*(?:>=|[\^~=v]\s*)*(\d+(?:\.\d+)*)")?
        .captures(value)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}

fn tech(
    name: &str,
    category: TechnologyCategory,
    version: Option<String>,
    confidence: f64,
    file_path: &str,
) -> DetectedTechnology {
    DetectedTechnology {
        name: name.to_string(),
        category,
        version,
        confidence,
        file_path: file_path.to_string(),
    }
}

/// Technologies of a tree, deduplicated, in the stable order of the module docs.
pub fn detect(tree: &Tree) -> Vec<DetectedTechnology> {
    let mut found = Vec::new();
    for f in files_named(tree, &["package.json"]) {
        if let Some(text) = &f.text {
            found.extend(from_package_json(&f.path, text));
        }
    }
    for f in files_named(tree, &["requirements.txt"]) {
        if let Some(text) = &f.text {
            found.extend(from_requirements(&f.path, text));
        }
    }
    for f in files_named(tree, COMPOSE) {
        if let Some(text) = &f.text {
            found.extend(from_compose(&f.path, text));
        }
    }
    for f in files_named(tree, &["Dockerfile"]) {
        if f.text.as_deref().is_some_and(has_from) {
            let d = tech(
                "docker",
                TechnologyCategory::Infrastructure,
                None,
                FILE_CONFIDENCE,
                &f.path,
            );
            found.push(d);
        }
    }
    for f in files_named(tree, &["Cargo.toml"]) {
        if f.text.as_deref().is_some_and(has_package_table) {
            let d = tech(
                "rust",
                TechnologyCategory::Language,
                None,
                FILE_CONFIDENCE,
                &f.path,
            );
            found.push(d);
        }
    }
    for f in files_named(tree, &["go.mod"]) {
        let version = f.text.as_deref().and_then(go_version);
        found.push(tech(
            "go",
            TechnologyCategory::Language,
            version,
            FILE_CONFIDENCE,
            &f.path,
        ));
    }
    for (path, name, category, confidence) in PATH_RULES {
        if tree.exists(path) {
            found.push(tech(name, *category, None, *confidence, path));
        }
    }
    dedup(found)
}

/// Files with one of `names`, outside skipped directories, root first (depth, then path).
fn files_named<'t>(tree: &'t Tree, names: &[&str]) -> Vec<&'t TreeFile> {
    let mut files: Vec<&TreeFile> = tree
        .files
        .iter()
        .filter(|f| {
            let name = f.path.rsplit('/').next().unwrap_or_default();
            names.contains(&name) && !is_skipped_file(&f.path)
        })
        .collect();
    files.sort_by(|a, b| {
        (a.path.matches('/').count(), &a.path).cmp(&(b.path.matches('/').count(), &b.path))
    });
    files
}

fn dedup(found: Vec<DetectedTechnology>) -> Vec<DetectedTechnology> {
    let mut out: Vec<DetectedTechnology> = Vec::new();
    for t in found {
        match out.iter_mut().find(|o| o.name == t.name) {
            Some(o) => {
                if t.confidence > o.confidence {
                    *o = t;
                }
            }
            None => out.push(t),
        }
    }
    out
}

fn from_package_json(path: &str, text: &str) -> Vec<DetectedTechnology> {
    let Ok(serde_json::Value::Object(json)) = serde_json::from_str::<serde_json::Value>(text)
    else {
        return Vec::new();
    };
    let sections: Vec<&serde_json::Map<String, serde_json::Value>> =
        ["dependencies", "devDependencies"]
            .iter()
            .filter_map(|s| json.get(*s).and_then(|v| v.as_object()))
            .collect();
    NPM_RULES
        .iter()
        .filter_map(|(name, package, category)| {
            let value = sections.iter().find_map(|s| s.get(*package))?;
            let version = value.as_str().and_then(version_of);
            Some(tech(name, *category, version, FILE_CONFIDENCE, path))
        })
        .collect()
}

fn from_requirements(path: &str, text: &str) -> Vec<DetectedTechnology> {
    PIP_RULES
        .iter()
        .filter_map(|name| {
            let rest = text.lines().find_map(|line| {
                let line = line.trim_start();
                let head = line.get(..name.len())?;
                if !head.eq_ignore_ascii_case(name) {
                    return None;
                }
                line.get(name.len()..)?.trim_start().strip_prefix("==")
            })?;
            Some(tech(
                name,
                TechnologyCategory::Framework,
                version_of(rest),
                FILE_CONFIDENCE,
                path,
            ))
        })
        .collect()
}

/// `(last path component of the image name, tag)` of every `image:` line.
fn compose_images(text: &str) -> Vec<(String, Option<String>)> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = re(&RE, r"^\s*(?:-\s*)?image\s*:\s*(.*)$") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| re.captures(line)?.get(1).map(|m| m.as_str()))
        .filter_map(|value| {
            let value = match value.find(" #") {
                Some(i) => value.get(..i).unwrap_or_default(),
                None => value,
            };
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            let value = value.split('@').next().unwrap_or_default();
            let slash = value.rfind('/').map_or(0, |i| i + 1);
            let last = value.get(slash..)?;
            let (name, tag) = match last.split_once(':') {
                Some((n, t)) => (n, Some(t.to_string())),
                None => (last, None),
            };
            (!name.is_empty()).then(|| (name.to_ascii_lowercase(), tag))
        })
        .collect()
}

fn from_compose(path: &str, text: &str) -> Vec<DetectedTechnology> {
    let images = compose_images(text);
    IMAGE_RULES
        .iter()
        .filter_map(|(name, image)| {
            let (_, tag) = images.iter().find(|(n, _)| n == image)?;
            let version = tag.as_deref().and_then(version_of);
            Some(tech(
                name,
                TechnologyCategory::Database,
                version,
                FILE_CONFIDENCE,
                path,
            ))
        })
        .collect()
}

fn has_from(text: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    re(&RE, r"(?mi)^\s*FROM\s+\S").is_some_and(|r| r.is_match(text))
}

fn has_package_table(text: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    re(&RE, r"(?m)^\s*\[\s*package\s*\]\s*(?:#.*)?$").is_some_and(|r| r.is_match(text))
}

fn go_version(text: &str) -> Option<String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    re(&RE, r"(?m)^\s*go\s+(\d+(?:\.\d+)*)")?
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}
