//! Manifest parsers (API.md §20, "Manifest parsers"): pure functions from a manifest's text to
//! the dependencies it declares.
//!
//! Every parser is total: any input text gives a (possibly empty) list, never a panic. A manifest
//! that cannot be parsed at all (invalid JSON, TOML or XML) gives no dependencies; a single entry
//! that cannot be understood is skipped. A leading UTF-8 byte order mark is ignored.
//!
//! Dependencies come back in document order (per section, sections in the order of the §20 table),
//! with `latest_version` None, `is_outdated` false, `has_vulnerabilities` false. A dependency
//! without a version gets version `unknown` and confidence 0.8; every other one confidence 1.0.
//!
//! Where §20 is silent:
//! * npm, composer: a spec that is empty after stripping (`""`, composer `*`) → `unknown`, 0.8;
//!   non-string specs are skipped; the spec is trimmed before stripping.
//! * pip: extras are stripped from every line (`requests[security]>=2.0` → `requests` `2.0`);
//!   whitespace around the operator is allowed; the version is the first `==`/`>=`/`<=`/`>`/`<`/
//!   `~=`/`===` clause (`!=` clauses are passed over) up to whitespace, `,` or `;`, and must start
//!   with a digit (otherwise `unknown`, 0.8); environment markers, `name @ url` and ` #` comments
//!   are ignored; lines that do not start with a project name (URLs, paths) are skipped.
//! * go-modules: the whole version token is kept, only the `v` dropped
//!   (`v0.0.0-2023…-abcdef` → `0.0.0-2023…-abcdef`, `v2.0.0+incompatible` → `2.0.0+incompatible`).
//! * cargo: `[target.'<cfg>'.dependencies]` (and dev-/build-) tables are read too, after the
//!   top-level ones; `[workspace.dependencies]` is not; the name is the table key (not
//!   `package = …`); a table without a string `version` (path, git, `workspace = true`) is skipped.
//! * maven: every `dependency` element directly inside a `dependencies` element (including
//!   `dependencyManagement` and plugin dependencies), child texts trimmed; a POM with a DTD is
//!   rejected (no dependencies).
//! * gradle: `//` line comments and `/* */` block comments are ignored; group and artifact may not
//!   contain quotes or whitespace; the version keeps anything after a third `:`
//!   (`g:a:1.0:classifier` → `1.0:classifier`); map notation and version catalogs are not read.
//! * bundler: `group … do` blocks nest with other `do`/`if`/`unless`/`case`/`begin` blocks, so an
//!   inner `end` does not close the group; a group is dev if any of its names is `development` or
//!   `test`; a `group:`/`groups:` option on the gem line counts too; without a second string
//!   argument, a quoted `~> x.y` anywhere on the line is the version (as the original); the
//!   version is trimmed after stripping `~><=`; no version → `unknown`, 0.8.
//! * composer: every platform package (a name without `/`: `php`, `php-64bit`, `hhvm`, `ext-*`,
//!   `lib-*`, `composer-plugin-api`, …) is skipped, in `require` and `require-dev`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::model::{Dependency, DependencyType};

/// The manifest file names the parsers read (§20, "Files").
pub const MANIFEST_FILES: [&str; 11] = [
    "package.json",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements.in",
    "go.mod",
    "Cargo.toml",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "Gemfile",
    "composer.json",
];

/// Version of a dependency that declares none (§20).
const UNKNOWN: &str = "unknown";
/// Confidence of a dependency without a version.
const UNKNOWN_CONFIDENCE: f64 = 0.8;

/// Whether `file_name` is a manifest one of the parsers reads. The comparison is exact and
/// case-sensitive; if a path is given, its last component (after `/` or `\`) is compared.
pub fn is_manifest(file_name: &str) -> bool {
    Parser::for_file(base_name(file_name)).is_some()
}

/// The dependencies declared by the manifest at `path` (relative to the project root; it becomes
/// each dependency's `source_file`). The parser is chosen by the file name (last component of
/// `path`); an unknown file name gives no dependencies.
pub fn parse_manifest(path: &str, content: &str) -> Vec<Dependency> {
    let Some(parser) = Parser::for_file(base_name(path)) else {
        return Vec::new();
    };
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Out {
        parser,
        path,
        deps: Vec::new(),
    };
    match parser {
        Parser::Npm => parse_package_json(&mut out, content),
        Parser::Pip => parse_requirements(&mut out, content),
        Parser::GoModules => parse_go_mod(&mut out, content),
        Parser::Cargo => parse_cargo_toml(&mut out, content),
        Parser::Maven => parse_pom(&mut out, content),
        Parser::Gradle => parse_gradle(&mut out, content),
        Parser::Bundler => parse_gemfile(&mut out, content),
        Parser::Composer => parse_composer_json(&mut out, content),
    }
    out.deps
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parser {
    Npm,
    Pip,
    GoModules,
    Cargo,
    Maven,
    Gradle,
    Bundler,
    Composer,
}

impl Parser {
    fn for_file(file_name: &str) -> Option<Parser> {
        Some(match file_name {
            "package.json" => Parser::Npm,
            "requirements.txt" | "requirements-dev.txt" | "requirements.in" => Parser::Pip,
            "go.mod" => Parser::GoModules,
            "Cargo.toml" => Parser::Cargo,
            "pom.xml" => Parser::Maven,
            "build.gradle" | "build.gradle.kts" => Parser::Gradle,
            "Gemfile" => Parser::Bundler,
            "composer.json" => Parser::Composer,
            _ => return None,
        })
    }

    /// `package_manager` of the dependencies (§20 "Parser").
    fn name(self) -> &'static str {
        match self {
            Parser::Npm => "npm",
            Parser::Pip => "pip",
            Parser::GoModules => "go-modules",
            Parser::Cargo => "cargo",
            Parser::Maven => "maven",
            Parser::Gradle => "gradle",
            Parser::Bundler => "bundler",
            Parser::Composer => "composer",
        }
    }

    /// `language` of the dependencies (§20 "Language").
    fn language(self) -> &'static str {
        match self {
            Parser::Npm => "javascript",
            Parser::Pip => "python",
            Parser::GoModules => "go",
            Parser::Cargo => "rust",
            Parser::Maven | Parser::Gradle => "java",
            Parser::Bundler => "ruby",
            Parser::Composer => "php",
        }
    }
}

/// Collects the dependencies of one manifest.
struct Out<'a> {
    parser: Parser,
    path: &'a str,
    deps: Vec<Dependency>,
}

impl Out<'_> {
    /// Adds a dependency; an empty name is ignored, an empty or absent version becomes `unknown`
    /// with confidence 0.8.
    fn push(&mut self, name: &str, version: Option<&str>, dep_type: DependencyType) {
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let (version, confidence) = match version.map(str::trim) {
            Some(v) if !v.is_empty() => (v.to_string(), 1.0),
            _ => (UNKNOWN.to_string(), UNKNOWN_CONFIDENCE),
        };
        self.deps.push(Dependency {
            name: name.to_string(),
            version,
            dep_type,
            language: self.parser.language().to_string(),
            latest_version: None,
            is_outdated: false,
            has_vulnerabilities: false,
            confidence,
            source_file: self.path.to_string(),
            package_manager: self.parser.name().to_string(),
        });
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A lazily compiled constant pattern. Compilation cannot fail for the patterns of this module
/// (the tests compile every one of them); should it fail, the pattern simply never matches.
type Pattern = LazyLock<Option<Regex>>;

macro_rules! pattern {
    ($name:ident, $re:expr) => {
        static $name: Pattern = LazyLock::new(|| Regex::new($re).ok());
    };
}

fn re(pattern: &'static Pattern) -> Option<&'static Regex> {
    pattern.as_ref()
}

/// Strips every leading character in `chars`.
fn strip_leading<'s>(s: &'s str, chars: &[char]) -> &'s str {
    s.trim_start_matches(|c| chars.contains(&c))
}

/// First part of `s` split by `sep`, trimmed.
fn first_part<'s>(s: &'s str, sep: &str) -> &'s str {
    s.split(sep).next().unwrap_or(s).trim()
}

// ---------------------------------------------------------------------------------------------
// npm — package.json

fn parse_package_json(out: &mut Out<'_>, content: &str) {
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(content) else {
        return;
    };
    for (key, dep_type) in [
        ("dependencies", DependencyType::Runtime),
        ("devDependencies", DependencyType::Dev),
        ("peerDependencies", DependencyType::Peer),
    ] {
        let Some(Value::Object(section)) = root.get(key) else {
            continue;
        };
        for (name, spec) in section {
            // Non-string specs are not valid package.json; they are skipped.
            if let Value::String(spec) = spec {
                out.push(name, Some(clean_npm_version(spec)), dep_type);
            }
        }
    }
}

/// §20 npm: strip leading `^~>=<`; first part of `||`, ` - `.
fn clean_npm_version(spec: &str) -> &str {
    let v = strip_leading(spec.trim(), &['^', '~', '>', '=', '<']);
    let v = first_part(v, "||");
    first_part(v, " - ")
}

// ---------------------------------------------------------------------------------------------
// pip — requirements.txt, requirements-dev.txt, requirements.in

pattern!(
    PIP_REQUIREMENT,
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$"
);
pattern!(PIP_CLAUSE, r"^(===|~=|==|>=|<=|!=|>|<)\s*(\S*)");

fn parse_requirements(out: &mut Out<'_>, content: &str) {
    let dep_type = if base_name(out.path).contains("dev") {
        DependencyType::Dev
    } else {
        DependencyType::Runtime
    };
    let Some(requirement) = re(&PIP_REQUIREMENT) else {
        return;
    };
    for line in content.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
            continue;
        }
        // Inline comments need whitespace before `#` (pip); a trailing `\` continues the line.
        let comment = line
            .char_indices()
            .find(|&(i, c)| c == '#' && line[..i].ends_with([' ', '\t']))
            .map(|(i, _)| i);
        let line = comment.map_or(line, |i| line[..i].trim());
        let line = line.trim_end_matches('\\').trim();
        let Some(caps) = requirement.captures(line) else {
            continue; // URLs, paths, anything that does not start with a project name
        };
        let (Some(name), Some(rest)) = (caps.get(1), caps.get(2)) else {
            continue;
        };
        let rest = rest.as_str();
        if !(rest.is_empty() || rest.starts_with(['=', '<', '>', '~', '!', ';', '@', ','])) {
            continue; // e.g. `git+https://…`, `./local/path`
        }
        out.push(name.as_str(), pip_version(rest), dep_type);
    }
}

/// The version of the first `==`, `>=`, `<=`, `>`, `<`, `~=` (or `===`) clause of a specifier
/// (before any `;` environment marker), if it starts with a digit.
fn pip_version(spec: &str) -> Option<&str> {
    let clause_re = re(&PIP_CLAUSE)?;
    let spec = spec.split([';', '@']).next().unwrap_or("");
    spec.split(',').find_map(|clause| {
        let caps = clause_re.captures(clause.trim())?;
        let op = caps.get(1)?.as_str();
        let version = caps.get(2)?.as_str();
        (op != "!=" && version.starts_with(|c: char| c.is_ascii_digit())).then_some(version)
    })
}

// ---------------------------------------------------------------------------------------------
// go-modules — go.mod

fn parse_go_mod(out: &mut Out<'_>, content: &str) {
    let mut in_require_block = false;
    for line in content.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("require") {
            if rest.trim_start().starts_with('(') {
                in_require_block = true;
                continue;
            }
            if rest.starts_with(char::is_whitespace) {
                go_require(out, rest);
                continue;
            }
        }
        if line.starts_with(')') {
            in_require_block = false;
            continue;
        }
        if in_require_block {
            go_require(out, line);
        }
    }
}

/// `<module> v<version> [// comment]` → dependency with the `v` dropped.
fn go_require(out: &mut Out<'_>, line: &str) {
    let line = line.split("//").next().unwrap_or("");
    let mut words = line.split_whitespace();
    let (Some(module), Some(version)) = (words.next(), words.next()) else {
        return;
    };
    let module = module.trim_matches(|c| c == '"' || c == '`');
    let Some(version) = version.strip_prefix('v') else {
        return;
    };
    if version.starts_with(|c: char| c.is_ascii_digit()) {
        out.push(module, Some(version), DependencyType::Runtime);
    }
}

// ---------------------------------------------------------------------------------------------
// cargo — Cargo.toml

const CARGO_SECTIONS: [(&str, DependencyType); 3] = [
    ("dependencies", DependencyType::Runtime),
    ("dev-dependencies", DependencyType::Dev),
    ("build-dependencies", DependencyType::Build),
];

fn parse_cargo_toml(out: &mut Out<'_>, content: &str) {
    let Ok(root) = content.parse::<toml::Table>() else {
        return;
    };
    cargo_sections(out, &root);
    // Platform-specific tables (`[target.'cfg(unix)'.dependencies]` …), after the plain ones.
    if let Some(toml::Value::Table(targets)) = root.get("target") {
        for target in targets.values() {
            if let toml::Value::Table(target) = target {
                cargo_sections(out, target);
            }
        }
    }
}

fn cargo_sections(out: &mut Out<'_>, table: &toml::Table) {
    for (key, dep_type) in CARGO_SECTIONS {
        let Some(toml::Value::Table(section)) = table.get(key) else {
            continue;
        };
        for (name, spec) in section {
            let version = match spec {
                toml::Value::String(v) => Some(v.as_str()),
                toml::Value::Table(t) => match t.get("version") {
                    Some(toml::Value::String(v)) => Some(v.as_str()),
                    _ => None,
                },
                _ => None,
            };
            // §20: no version (path, git, `workspace = true`) → skip.
            let Some(version) = version else { continue };
            let version = strip_leading(version.trim(), &['^', '~', '>', '=', '<']).trim();
            if !version.is_empty() {
                out.push(name, Some(version), dep_type);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// maven — pom.xml

const POM_NAMESPACE: &str = "http://maven.apache.org/POM/4.0.0";

fn parse_pom(out: &mut Out<'_>, content: &str) {
    let Ok(doc) = roxmltree::Document::parse(content) else {
        return;
    };
    for dep in doc.descendants() {
        if !dep.is_element() || dep.tag_name().name() != "dependency" {
            continue;
        }
        let ns = dep.tag_name().namespace();
        if !(ns.is_none() || ns == Some(POM_NAMESPACE)) {
            continue;
        }
        let in_dependencies = dep.parent_element().is_some_and(|p| {
            p.tag_name().name() == "dependencies" && p.tag_name().namespace() == ns
        });
        if !in_dependencies {
            continue;
        }
        let child = |name: &str| -> String {
            dep.children()
                .find(|c| {
                    c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == ns
                })
                .map(|c| {
                    c.children()
                        .filter(|t| t.is_text())
                        .filter_map(|t| t.text())
                        .collect::<String>()
                })
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let (group, artifact) = (child("groupId"), child("artifactId"));
        if group.is_empty() || artifact.is_empty() {
            continue;
        }
        let dep_type = match child("scope").as_str() {
            "test" | "provided" => DependencyType::Dev,
            _ => DependencyType::Runtime,
        };
        let version = child("version");
        out.push(&format!("{group}:{artifact}"), Some(&version), dep_type);
    }
}

// ---------------------------------------------------------------------------------------------
// gradle — build.gradle, build.gradle.kts

// Groovy: `conf 'g:a:v'`, `conf "g:a:v"`, `conf('g:a:v')`, `conf("g:a:v")`.
pattern!(
    GRADLE_GROOVY,
    r#"\b(implementation|api|compileOnly|runtimeOnly|testImplementation)(?:\s+(?:'([^'\s]+)'|"([^"\s]+)")|\s*\(\s*(?:'([^'\s]+)'|"([^"\s]+)")\s*\))"#
);
// Kotlin DSL: `conf("g:a:v")`.
pattern!(
    GRADLE_KOTLIN,
    r#"\b(implementation|api|compileOnly|runtimeOnly|testImplementation)\s*\(\s*"([^"\s]+)"\s*\)"#
);
pattern!(BLOCK_COMMENT, r"(?s)/\*.*?\*/");

fn parse_gradle(out: &mut Out<'_>, content: &str) {
    let kotlin = base_name(out.path) == "build.gradle.kts";
    let Some(dep_re) = re(if kotlin {
        &GRADLE_KOTLIN
    } else {
        &GRADLE_GROOVY
    }) else {
        return;
    };
    let without_blocks = match re(&BLOCK_COMMENT) {
        Some(block) => block.replace_all(content, " "),
        None => content.into(),
    };
    for line in without_blocks.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for caps in dep_re.captures_iter(line) {
            let Some(configuration) = caps.get(1) else {
                continue;
            };
            let Some(coordinate) = caps.iter().skip(2).flatten().next() else {
                continue;
            };
            // `group:artifact:version` (the version keeps anything after a further `:`).
            let mut parts = coordinate.as_str().splitn(3, ':');
            let (Some(group), Some(artifact), Some(version)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if group.is_empty() || artifact.is_empty() || version.is_empty() {
                continue;
            }
            let dep_type = if configuration.as_str().to_lowercase().contains("test") {
                DependencyType::Dev
            } else {
                DependencyType::Runtime
            };
            out.push(&format!("{group}:{artifact}"), Some(version), dep_type);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// bundler — Gemfile

pattern!(
    GEM,
    r#"^gem\s*\(?\s*(?:'([^']*)'|"([^"]*)")\s*(?:,\s*(?:'([^']*)'|"([^"]*)"))?"#
);
pattern!(GEM_PESSIMISTIC, r#"['"]~>\s*([0-9.]+)['"]"#);
pattern!(
    GEM_GROUP_OPTION,
    r#"(?:\bgroups?:|:groups?\s*=>)\s*(\[[^\]]*\]|:\w+|'\w+'|"\w+")"#
);
pattern!(GROUP_LINE, r"^group(?:\s|\()");
pattern!(GROUP_NAME, r#"(?::|'|")(\w+)"#);
pattern!(
    BLOCK_OPENER,
    r"(?:^(?:if|unless|case|begin|while|until|for)\b)|(?:\bdo\s*(?:\|[^|]*\|)?$)"
);
pattern!(BLOCK_END, r"^end\b");

fn parse_gemfile(out: &mut Out<'_>, content: &str) {
    let (Some(gem_re), Some(group_line), Some(opener), Some(end_re)) =
        (re(&GEM), re(&GROUP_LINE), re(&BLOCK_OPENER), re(&BLOCK_END))
    else {
        return;
    };
    // One entry per open `do`/`if`/… block: whether gems inside it are dev dependencies.
    let mut blocks: Vec<bool> = Vec::new();
    for line in content.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let code = strip_ruby_comment(line);
        let enclosing_dev = blocks.last().copied().unwrap_or(false);
        if group_line.is_match(code) {
            blocks.push(enclosing_dev || names_dev_group(code));
            continue;
        }
        if end_re.is_match(code) {
            blocks.pop();
            continue;
        }
        if let Some(caps) = gem_re.captures(code) {
            let Some(name) = caps.get(1).or_else(|| caps.get(2)) else {
                continue;
            };
            let version = caps
                .get(3)
                .or_else(|| caps.get(4))
                .or_else(|| re(&GEM_PESSIMISTIC).and_then(|p| p.captures(code)?.get(1)))
                .map(|v| strip_leading(v.as_str().trim(), &['~', '>', '<', '=']).trim());
            let dev = enclosing_dev
                || re(&GEM_GROUP_OPTION)
                    .and_then(|g| g.captures(code)?.get(1))
                    .is_some_and(|groups| names_dev_group(groups.as_str()));
            let dep_type = if dev {
                DependencyType::Dev
            } else {
                DependencyType::Runtime
            };
            out.push(name.as_str(), version, dep_type);
        }
        if opener.is_match(code) {
            blocks.push(enclosing_dev);
        }
    }
}

/// Whether a group list names `development` or `test`.
fn names_dev_group(text: &str) -> bool {
    re(&GROUP_NAME).is_some_and(|g| {
        g.captures_iter(text)
            .filter_map(|c| c.get(1))
            .any(|n| matches!(n.as_str(), "development" | "test"))
    })
}

/// The line up to a ` #` comment (naive about `#` inside strings, which is harmless here).
fn strip_ruby_comment(line: &str) -> &str {
    match line.find(" #") {
        Some(i) => line[..i].trim_end(),
        None => line,
    }
}

// ---------------------------------------------------------------------------------------------
// composer — composer.json

fn parse_composer_json(out: &mut Out<'_>, content: &str) {
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(content) else {
        return;
    };
    for (key, dep_type) in [
        ("require", DependencyType::Runtime),
        ("require-dev", DependencyType::Dev),
    ] {
        let Some(Value::Object(section)) = root.get(key) else {
            continue;
        };
        for (name, spec) in section {
            // Platform packages (php, php-64bit, hhvm, ext-*, lib-*, composer-plugin-api, …)
            // are the only names without a vendor `/`; they are not packages on Packagist.
            if !name.contains('/') {
                continue;
            }
            if let Value::String(spec) = spec {
                out.push(name, Some(clean_composer_version(spec)), dep_type);
            }
        }
    }
}

/// §20 composer: strip leading `^~>=<*`; first part of `||`, ` - `, `|`.
fn clean_composer_version(spec: &str) -> &str {
    let v = strip_leading(spec.trim(), &['^', '~', '>', '=', '<', '*']);
    let v = first_part(v, "||");
    let v = first_part(v, " - ");
    first_part(v, "|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use DependencyType::{Build, Dev, Peer, Runtime};

    /// The expected dependency from `path` (parser and language follow from the file name).
    fn dep(path: &str, name: &str, version: &str, dep_type: DependencyType) -> Dependency {
        let parser = Parser::for_file(base_name(path)).unwrap_or(Parser::Npm);
        Dependency {
            name: name.to_string(),
            version: version.to_string(),
            dep_type,
            language: parser.language().to_string(),
            latest_version: None,
            is_outdated: false,
            has_vulnerabilities: false,
            confidence: if version == UNKNOWN { 0.8 } else { 1.0 },
            source_file: path.to_string(),
            package_manager: parser.name().to_string(),
        }
    }

    fn deps(path: &str, expected: &[(&str, &str, DependencyType)]) -> Vec<Dependency> {
        expected
            .iter()
            .map(|&(n, v, t)| dep(path, n, v, t))
            .collect()
    }

    #[test]
    fn every_pattern_compiles() {
        for p in [
            &PIP_REQUIREMENT,
            &PIP_CLAUSE,
            &GRADLE_GROOVY,
            &GRADLE_KOTLIN,
            &BLOCK_COMMENT,
            &GEM,
            &GEM_PESSIMISTIC,
            &GEM_GROUP_OPTION,
            &GROUP_LINE,
            &GROUP_NAME,
            &BLOCK_OPENER,
            &BLOCK_END,
        ] {
            assert!(re(p).is_some());
        }
    }

    #[test]
    fn manifest_names() {
        for name in MANIFEST_FILES {
            assert!(is_manifest(name), "{name}");
        }
        assert!(is_manifest("sub/dir/package.json"));
        assert!(is_manifest("sub\\Cargo.toml"));
        for name in [
            "",
            "Package.json",
            "cargo.toml",
            "requirements",
            "requirements-test.txt",
            "go.sum",
            "Gemfile.lock",
            "package-lock.json",
            "build.gradle.kt",
            "pom.xml.bak",
            "package.json/",
        ] {
            assert!(!is_manifest(name), "{name}");
        }
        assert!(parse_manifest("README.md", "{\"dependencies\":{\"a\":\"1\"}}").is_empty());
    }

    #[test]
    fn npm_sections_ranges_and_workspaces() {
        let content = r#"{
  "name": "monorepo",
  "private": true,
  "workspaces": ["packages/*", "apps/web"],
  "dependencies": {
    "react": "^18.2.0",
    "lodash": "~4.17.21",
    "express": ">=4.18.0",
    "left-pad": "1.3.0",
    "either": "^1.0.0 || ^2.0.0",
    "hyphen": "1.2.3 - 2.3.4",
    "spaced": ">= 3.1.0",
    "tagged": "latest",
    "local": "workspace:*",
    "any": "*",
    "empty": "",
    "weird": {"version": "1.0.0"}
  },
  "devDependencies": { "jest": "^29.0.0", "typescript": "~5.3.3" },
  "peerDependencies": { "react-dom": ">=16.8.0 <19" },
  "optionalDependencies": { "fsevents": "^2.3.0" }
}"#;
        let p = "package.json";
        let mut expected = deps(
            p,
            &[
                ("react", "18.2.0", Runtime),
                ("lodash", "4.17.21", Runtime),
                ("express", "4.18.0", Runtime),
                ("left-pad", "1.3.0", Runtime),
                ("either", "1.0.0", Runtime),
                ("hyphen", "1.2.3", Runtime),
                ("spaced", "3.1.0", Runtime),
                ("tagged", "latest", Runtime),
                ("local", "workspace:*", Runtime),
                ("any", "*", Runtime),
                ("empty", UNKNOWN, Runtime),
                ("jest", "29.0.0", Dev),
                ("typescript", "5.3.3", Dev),
                ("react-dom", "16.8.0 <19", Peer),
            ],
        );
        assert_eq!(parse_manifest(p, content), expected);
        // The source file is the given relative path.
        for d in &mut expected {
            d.source_file = "web/package.json".to_string();
        }
        assert_eq!(parse_manifest("web/package.json", content), expected);
    }

    #[test]
    fn npm_malformed() {
        for content in [
            "",
            "{",
            "[]",
            "null",
            r#"{"dependencies": ["react"]}"#,
            r#"{"dependencies": "react"}"#,
            r#"{"dependencies": {"react": 18}}"#,
            "\u{feff}",
        ] {
            assert!(
                parse_manifest("package.json", content).is_empty(),
                "{content}"
            );
        }
        // A byte order mark is ignored.
        assert_eq!(
            parse_manifest(
                "package.json",
                "\u{feff}{\"dependencies\":{\"a\":\"^1.0\"}}"
            ),
            deps("package.json", &[("a", "1.0", Runtime)])
        );
    }

    #[test]
    fn pip_requirements() {
        let content = "\
# Core
fastapi==0.109.0
uvicorn[standard]>=0.25.0  # server
requests[security]>=2.0
pydantic ~= 2.5.3
sqlalchemy>=2.0,<3.0
Django<5
celery>4.0
numpy!=1.25.0,>=1.24
black===23.1.0
typing-extensions; python_version < \"3.11\"
zope.interface
six==1.*
mypkg @ https://example.com/mypkg-1.0.tar.gz
boto3==1.34.0 \\
    --hash=sha256:abcdef
weird-thing >= ${VERSION}

-r base.txt
-e git+https://github.com/org/repo.git#egg=repo
--index-url https://pypi.example.com/simple
git+https://github.com/org/other.git#egg=other
./local/package
   # indented comment
";
        let p = "requirements.txt";
        assert_eq!(
            parse_manifest(p, content),
            deps(
                p,
                &[
                    ("fastapi", "0.109.0", Runtime),
                    ("uvicorn", "0.25.0", Runtime),
                    ("requests", "2.0", Runtime),
                    ("pydantic", "2.5.3", Runtime),
                    ("sqlalchemy", "2.0", Runtime),
                    ("Django", "5", Runtime),
                    ("celery", "4.0", Runtime),
                    ("numpy", "1.24", Runtime),
                    ("black", "23.1.0", Runtime),
                    ("typing-extensions", UNKNOWN, Runtime),
                    ("zope.interface", UNKNOWN, Runtime),
                    ("six", "1.*", Runtime),
                    ("mypkg", UNKNOWN, Runtime),
                    ("boto3", "1.34.0", Runtime),
                    ("weird-thing", UNKNOWN, Runtime),
                ]
            )
        );
    }

    #[test]
    fn pip_dev_files_and_bare_names() {
        let content = "pytest==7.4.0\r\nrequests[socks]\r\nflake8\r\n";
        for (p, t) in [
            ("requirements-dev.txt", Dev),
            ("requirements.txt", Runtime),
            ("requirements.in", Runtime),
        ] {
            let got = parse_manifest(p, content);
            assert_eq!(
                got,
                deps(
                    p,
                    &[
                        ("pytest", "7.4.0", t),
                        ("requests", UNKNOWN, t),
                        ("flake8", UNKNOWN, t)
                    ]
                )
            );
            assert_eq!(got[1].confidence, 0.8);
            assert_eq!(got[0].confidence, 1.0);
        }
    }

    #[test]
    fn go_mod() {
        let content = "\
module github.com/acme/service

go 1.21

toolchain go1.21.5

require github.com/single/dep v1.2.3 // pinned

require (
\t// a comment line
\tgithub.com/gin-gonic/gin v1.9.1
\tgithub.com/stretchr/testify v1.8.4 // indirect
\tgolang.org/x/net v0.0.0-20231010120000-abcdef123456 // indirect
\tgithub.com/old/lib v2.0.0+incompatible
\tgithub.com/no/version
\tgithub.com/bad/version latest
)

replace (
\tgithub.com/gin-gonic/gin v1.9.1 => ../gin
)

exclude github.com/ex/cluded v1.0.0
require gopkg.in/yaml.v3 v3.0.1
";
        let p = "go.mod";
        assert_eq!(
            parse_manifest(p, content),
            deps(
                p,
                &[
                    ("github.com/single/dep", "1.2.3", Runtime),
                    ("github.com/gin-gonic/gin", "1.9.1", Runtime),
                    ("github.com/stretchr/testify", "1.8.4", Runtime),
                    (
                        "golang.org/x/net",
                        "0.0.0-20231010120000-abcdef123456",
                        Runtime
                    ),
                    ("github.com/old/lib", "2.0.0+incompatible", Runtime),
                    ("gopkg.in/yaml.v3", "3.0.1", Runtime),
                ]
            )
        );
        assert!(parse_manifest(p, "module x\nrequire (\n)\nrequire\nrequirex v1.0.0\n").is_empty());
    }

    #[test]
    fn cargo_tables_and_workspaces() {
        let content = r#"
[workspace]
members = ["crates/*"]

[workspace.dependencies]
serde = "1.0"
tokio = { version = "1.32", features = ["full"] }

[package]
name = "app"
version = "0.1.0"

[dependencies]
tokio = { version = "^1.32.0", features = ["full"] }
serde = { workspace = true }
anyhow = "1.0.75"
regex = "~1.10"
local = { path = "../local" }
git-dep = { git = "https://github.com/a/b" }
exact = "=0.3.1"
range = ">=1.2, <2"
empty = ""
numeric = 1
weird = { version = 2 }

[dependencies.reqwest]
version = "0.11"
default-features = false

[dev-dependencies]
criterion = "0.5"
proptest.workspace = true

[build-dependencies]
cc = "1.0.83"

[target.'cfg(unix)'.dependencies]
libc = "0.2"

[target.'cfg(windows)'.dev-dependencies]
winapi = { version = "0.3", features = ["winuser"] }
"#;
        let p = "Cargo.toml";
        assert_eq!(
            parse_manifest(p, content),
            deps(
                p,
                &[
                    ("tokio", "1.32.0", Runtime),
                    ("anyhow", "1.0.75", Runtime),
                    ("regex", "1.10", Runtime),
                    ("exact", "0.3.1", Runtime),
                    ("range", "1.2, <2", Runtime),
                    ("reqwest", "0.11", Runtime),
                    ("criterion", "0.5", Dev),
                    ("cc", "1.0.83", Build),
                    ("libc", "0.2", Runtime),
                    ("winapi", "0.3", Dev),
                ]
            )
        );
        // A virtual workspace manifest declares no dependencies of its own.
        assert!(parse_manifest(
            p,
            "[workspace]\nmembers = [\"a\"]\n[workspace.dependencies]\nserde = \"1\"\n"
        )
        .is_empty());
        for bad in [
            "[dependencies",
            "dependencies = 3",
            "[dependencies]\na = \"1\"\na = \"2\"",
            "= =",
        ] {
            assert!(parse_manifest(p, bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn maven_namespaced_pom() {
        let content = r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.acme</groupId>
  <artifactId>app</artifactId>
  <version>1.0.0</version>
  <parent>
    <groupId>org.springframework.boot</groupId>
    <artifactId>spring-boot-starter-parent</artifactId>
    <version>3.2.0</version>
  </parent>
  <dependencies>
    <!-- web -->
    <dependency>
      <groupId>org.springframework.boot</groupId>
      <artifactId>spring-boot-starter-web</artifactId>
    </dependency>
    <dependency>
      <groupId> com.google.guava </groupId>
      <artifactId>guava</artifactId>
      <version>
        32.1.3-jre
      </version>
    </dependency>
    <dependency>
      <groupId>junit</groupId>
      <artifactId>junit</artifactId>
      <version>4.13.2</version>
      <scope>test</scope>
    </dependency>
    <dependency>
      <groupId>jakarta.servlet</groupId>
      <artifactId>jakarta.servlet-api</artifactId>
      <version>${servlet.version}</version>
      <scope>provided</scope>
    </dependency>
    <dependency>
      <groupId>org.postgresql</groupId>
      <artifactId>postgresql</artifactId>
      <version>42.7.1</version>
      <scope>runtime</scope>
    </dependency>
    <dependency>
      <artifactId>no-group</artifactId>
      <version>1.0</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <version>3.11.0</version>
      </plugin>
    </plugins>
  </build>
</project>"#;
        let p = "pom.xml";
        assert_eq!(
            parse_manifest(p, content),
            deps(
                p,
                &[
                    (
                        "org.springframework.boot:spring-boot-starter-web",
                        UNKNOWN,
                        Runtime
                    ),
                    ("com.google.guava:guava", "32.1.3-jre", Runtime),
                    ("junit:junit", "4.13.2", Dev),
                    (
                        "jakarta.servlet:jakarta.servlet-api",
                        "${servlet.version}",
                        Dev
                    ),
                    ("org.postgresql:postgresql", "42.7.1", Runtime),
                ]
            )
        );
    }

    #[test]
    fn maven_pom_without_namespace_or_other_namespace() {
        let plain = "<project><dependencyManagement><dependencies><dependency>\
            <groupId>g</groupId><artifactId>managed</artifactId><version>2.0</version>\
            </dependency></dependencies></dependencyManagement>\
            <dependencies><dependency><groupId>g</groupId><artifactId>a</artifactId>\
            <version><![CDATA[1.0]]></version><scope>test</scope></dependency>\
            <dependency><groupId>g</groupId><artifactId>b</artifactId><version/></dependency>\
            </dependencies><dependency><groupId>g</groupId><artifactId>orphan</artifactId>\
            </dependency></project>";
        let p = "pom.xml";
        assert_eq!(
            parse_manifest(p, plain),
            deps(
                p,
                &[
                    ("g:managed", "2.0", Runtime),
                    ("g:a", "1.0", Dev),
                    ("g:b", UNKNOWN, Runtime)
                ]
            )
        );
        let other_ns = "<project xmlns=\"http://example.com/other\"><dependencies><dependency>\
            <groupId>g</groupId><artifactId>a</artifactId><version>1</version>\
            </dependency></dependencies></project>";
        assert!(parse_manifest(p, other_ns).is_empty());
        for bad in [
            "",
            "<project>",
            "<a></b>",
            "not xml",
            "<!DOCTYPE x [<!ENTITY a \"b\">]><x/>",
        ] {
            assert!(parse_manifest(p, bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn gradle_groovy() {
        let content = r#"
plugins {
    id 'java'
    id 'org.springframework.boot' version '3.2.0'
}

dependencies {
    implementation 'org.springframework.boot:spring-boot-starter-web:3.2.0'
    implementation "com.google.guava:guava:32.1.3-jre"
    api('org.apache.commons:commons-lang3:3.14.0')
    compileOnly 'org.projectlombok:lombok:1.18.30'
    runtimeOnly("org.postgresql:postgresql:42.7.1")
    testImplementation 'org.junit.jupiter:junit-jupiter:5.10.1'
    implementation "io.netty:netty-all:$nettyVersion"
    implementation 'org.lwjgl:lwjgl:3.3.3:natives-linux'
    implementation 'org.no:version'
    implementation platform('org.springframework.boot:spring-boot-dependencies:3.2.0')
    annotationProcessor 'org.projectlombok:lombok:1.18.30'
    // implementation 'commented:out:1.0'
    /* implementation 'block:comment:1.0'
       api 'block:comment2:1.0' */
    implementation group: 'org.map', name: 'notation', version: '1.0'
}
"#;
        let p = "build.gradle";
        assert_eq!(
            parse_manifest(p, content),
            deps(
                p,
                &[
                    (
                        "org.springframework.boot:spring-boot-starter-web",
                        "3.2.0",
                        Runtime
                    ),
                    ("com.google.guava:guava", "32.1.3-jre", Runtime),
                    ("org.apache.commons:commons-lang3", "3.14.0", Runtime),
                    ("org.projectlombok:lombok", "1.18.30", Runtime),
                    ("org.postgresql:postgresql", "42.7.1", Runtime),
                    ("org.junit.jupiter:junit-jupiter", "5.10.1", Dev),
                    ("io.netty:netty-all", "$nettyVersion", Runtime),
                    ("org.lwjgl:lwjgl", "3.3.3:natives-linux", Runtime),
                ]
            )
        );
    }

    #[test]
    fn gradle_kotlin_dsl() {
        let content = r#"
plugins {
    kotlin("jvm") version "1.9.21"
}

dependencies {
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.7.3")
    implementation ( "io.ktor:ktor-server-core:2.3.7" )
    api("com.squareup.okhttp3:okhttp:4.12.0")
    compileOnly("org.projectlombok:lombok:1.18.30")
    runtimeOnly("ch.qos.logback:logback-classic:1.4.14")
    testImplementation("io.mockk:mockk:1.13.8")
    testImplementation(kotlin("test"))
    implementation(libs.retrofit)
    implementation('single:quoted:1.0')
    implementation "groovy:style:1.0"
    // implementation("commented:out:1.0")
}
"#;
        let p = "build.gradle.kts";
        assert_eq!(
            parse_manifest(p, content),
            deps(
                p,
                &[
                    (
                        "org.jetbrains.kotlinx:kotlinx-coroutines-core",
                        "1.7.3",
                        Runtime
                    ),
                    ("io.ktor:ktor-server-core", "2.3.7", Runtime),
                    ("com.squareup.okhttp3:okhttp", "4.12.0", Runtime),
                    ("org.projectlombok:lombok", "1.18.30", Runtime),
                    ("ch.qos.logback:logback-classic", "1.4.14", Runtime),
                    ("io.mockk:mockk", "1.13.8", Dev),
                ]
            )
        );
    }

    #[test]
    fn gemfile_groups_and_versions() {
        let content = r#"
source 'https://rubygems.org'
git_source(:github) { |repo| "https://github.com/#{repo}.git" }

ruby '3.2.2'

gem 'rails', '~> 7.1.2'
gem "pg", ">= 0.18", "< 2.0"
gem 'puma', '6.4.0' # web server
gem 'bootsnap', require: false
gem 'sidekiq', github: 'sidekiq/sidekiq'
gem 'rspec-rails', group: :test
gem 'pry', groups: [:development, :test]
gem 'nokogiri', platforms: :ruby, version: '~> 1.15'

group :development, :test do
  gem 'debug', platforms: %i[ mri windows ]
  gem 'rubocop', '1.59.0', require: false
  platforms :mri do
    gem 'byebug', '11.1.3'
  end
  gem 'factory_bot_rails', '~> 6.4'
end

group :production do
  gem 'newrelic_rpm', '9.6.0'
end

if ENV['REDIS']
  gem 'redis', '5.0.8'
end

group :test do
  gem 'capybara', '>= 3.39'
end
gem 'after-groups', '=1.0'
"#;
        let p = "Gemfile";
        assert_eq!(
            parse_manifest(p, content),
            deps(
                p,
                &[
                    ("rails", "7.1.2", Runtime),
                    ("pg", "0.18", Runtime),
                    ("puma", "6.4.0", Runtime),
                    ("bootsnap", UNKNOWN, Runtime),
                    ("sidekiq", UNKNOWN, Runtime),
                    ("rspec-rails", UNKNOWN, Dev),
                    ("pry", UNKNOWN, Dev),
                    ("nokogiri", "1.15", Runtime),
                    ("debug", UNKNOWN, Dev),
                    ("rubocop", "1.59.0", Dev),
                    ("byebug", "11.1.3", Dev),
                    ("factory_bot_rails", "6.4", Dev),
                    ("newrelic_rpm", "9.6.0", Runtime),
                    ("redis", "5.0.8", Runtime),
                    ("capybara", "3.39", Dev),
                    ("after-groups", "1.0", Runtime),
                ]
            )
        );
        // Unbalanced `end`s are ignored.
        assert_eq!(
            parse_manifest(p, "end\nend\ngem 'a'\ngroup :test do\n"),
            deps(p, &[("a", UNKNOWN, Runtime)])
        );
    }

    #[test]
    fn composer_json() {
        let content = r#"{
    "name": "acme/app",
    "require": {
        "php": "^8.1",
        "ext-json": "*",
        "ext-mbstring": "*",
        "lib-curl": ">=7",
        "composer-runtime-api": "^2.0",
        "laravel/framework": "^10.10",
        "guzzlehttp/guzzle": "~7.8.0",
        "monolog/monolog": "^2.0 || ^3.0",
        "symfony/console": "5.4.0 - 6.0.0",
        "psr/log": "^1.1|^2.0",
        "vendor/anything": "*",
        "vendor/dev-branch": "dev-main",
        "vendor/number": 1
    },
    "require-dev": {
        "php": "^8.2",
        "phpunit/phpunit": "^10.1",
        "mockery/mockery": ">=1.6"
    }
}"#;
        let p = "composer.json";
        assert_eq!(
            parse_manifest(p, content),
            deps(
                p,
                &[
                    ("laravel/framework", "10.10", Runtime),
                    ("guzzlehttp/guzzle", "7.8.0", Runtime),
                    ("monolog/monolog", "2.0", Runtime),
                    ("symfony/console", "5.4.0", Runtime),
                    ("psr/log", "1.1", Runtime),
                    ("vendor/anything", UNKNOWN, Runtime),
                    ("vendor/dev-branch", "dev-main", Runtime),
                    ("phpunit/phpunit", "10.1", Dev),
                    ("mockery/mockery", "1.6", Dev),
                ]
            )
        );
        assert!(parse_manifest(p, "{\"require\": []}").is_empty());
    }

    #[test]
    fn deeply_nested_input_does_not_overflow() {
        let n = 100_000;
        let json = "[".repeat(n);
        let toml = format!("a = {}", "[".repeat(n));
        let xml = "<a>".repeat(n);
        for (p, c) in [
            ("package.json", json.as_str()),
            ("composer.json", json.as_str()),
            ("Cargo.toml", toml.as_str()),
            ("pom.xml", xml.as_str()),
        ] {
            assert!(parse_manifest(p, c).is_empty(), "{p}");
        }
        let objects = format!("{{\"dependencies\":{}", "{\"a\":".repeat(n));
        assert!(parse_manifest("package.json", &objects).is_empty());
        // Well-formed deep nesting too (roxmltree < 0.21 overflowed the stack here).
        let json = format!("{}{}", "[".repeat(n), "]".repeat(n));
        let toml = format!("a = {}{}", "[".repeat(n), "]".repeat(n));
        let xml = format!(
            "<project><dependencies>{}{}<dependency><groupId>g</groupId>\
             <artifactId>a</artifactId></dependency></dependencies></project>",
            "<dependencies>".repeat(n),
            "</dependencies>".repeat(n)
        );
        assert!(parse_manifest("package.json", &json).is_empty());
        assert!(parse_manifest("Cargo.toml", &toml).is_empty());
        assert_eq!(
            parse_manifest("pom.xml", &xml),
            deps("pom.xml", &[("g:a", UNKNOWN, Runtime)])
        );
    }

    /// Samples of every kind of manifest, used as seeds for the garbage tests below.
    fn samples() -> Vec<(&'static str, String)> {
        vec![
            ("package.json", r#"{"dependencies":{"a":"^1.0 || 2"},"devDependencies":{"b":"1 - 2"}}"#.into()),
            ("requirements.txt", "a[x]>=1.0 # c\n-r x\nb\n".into()),
            ("requirements-dev.txt", "a==1\n".into()),
            ("go.mod", "require (\n a v1.0.0 // indirect\n)\nrequire b v2.0.0\n".into()),
            ("Cargo.toml", "[dependencies]\na = \"1\"\nb = { version = \"^2\" }\n".into()),
            ("pom.xml", "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><dependencies><dependency><groupId>g</groupId><artifactId>a</artifactId><version>1</version></dependency></dependencies></project>".into()),
            ("build.gradle", "implementation 'g:a:1'\ntestImplementation(\"g:b:2\")\n".into()),
            ("build.gradle.kts", "implementation(\"g:a:1\")\n".into()),
            ("Gemfile", "group :test do\n gem 'a', '~> 1'\nend\n".into()),
            ("composer.json", r#"{"require":{"php":"^8","a/b":"^1|^2"}}"#.into()),
        ]
    }

    #[test]
    fn garbage_never_panics() {
        let garbage = [
            "",
            "\0",
            "\u{feff}",
            "\u{feff}\u{feff}",
            "\r",
            "\r\n",
            "\\",
            "#",
            "-",
            "//",
            ")",
            "(",
            "require",
            "require (",
            "require v",
            "require x v",
            "gem",
            "gem '",
            "gem \"a\", '",
            "group",
            "group :",
            "end",
            "do",
            "[",
            "]",
            "[[",
            "{",
            "}",
            "\"",
            "'",
            "<",
            ">",
            "<<",
            "<?xml",
            "<!--",
            "<![CDATA[",
            "/*",
            "*/",
            "/* unterminated",
            "implementation",
            "implementation '",
            "implementation('a:b:c'",
            "a:b:c",
            "::",
            ":::",
            "==",
            "a==",
            "a[",
            "a[]",
            "a]>=1",
            "a @",
            "a;",
            "é==1",
            "ééé",
            "\u{10FFFF}",
            "\u{200B}\u{2028}",
            "requirements.txt==\u{0301}1",
            "🦀 v1",
            "x \u{85}#",
            "a\u{a0}#b",
        ];
        let mut inputs: Vec<String> = garbage.iter().map(|s| s.to_string()).collect();
        for (_, sample) in samples() {
            // Every prefix and suffix at a char boundary, and each garbage string spliced in.
            for (i, _) in sample.char_indices() {
                inputs.push(sample[..i].to_string());
                inputs.push(sample[i..].to_string());
                for g in garbage.iter().take(12) {
                    inputs.push(format!("{}{}{}", &sample[..i], g, &sample[i..]));
                }
            }
        }
        for name in MANIFEST_FILES {
            for input in &inputs {
                for d in parse_manifest(name, input) {
                    assert!(!d.name.is_empty());
                    assert!(!d.version.is_empty());
                    assert!(d.confidence == 1.0 || d.confidence == 0.8);
                    assert_eq!(d.source_file, name);
                }
            }
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_text_any_manifest(content in any::<String>(), which in 0usize..11) {
                let name = MANIFEST_FILES[which];
                for d in parse_manifest(name, &content) {
                    prop_assert!(!d.name.is_empty());
                    prop_assert!(!d.version.is_empty());
                }
            }

            #[test]
            fn mutated_samples(which in 0usize..10, at in any::<proptest::sample::Index>(),
                               cut in any::<proptest::sample::Index>(), insert in ".{0,8}") {
                let samples = samples();
                let name: &str = samples[which].0;
                let chars: Vec<char> = samples[which].1.chars().collect();
                let i = at.index(chars.len() + 1);
                let j = (i + cut.index(4)).min(chars.len());
                let mutated: String = chars[..i].iter().chain(insert.chars().collect::<Vec<_>>().iter())
                    .chain(chars[j..].iter()).collect();
                let _ = parse_manifest(name, &mutated);
            }
        }
    }
}
