//! Code metrics (API.md §20 "Code metrics").
//!
//! * Skipped directories are matched as whole path components (a file named `build` is kept,
//!   `src/build/x.py` is skipped); names are case-sensitive.
//! * A file's language comes from its extension, compared case-insensitively (Python's
//!   `Path.suffix.lower()`: `.bashrc` has none).
//! * Python files are parsed with tree-sitter-python. Tree-sitter recovers from syntax errors,
//!   Python's `ast.parse` does not: a file whose tree contains an error or missing node, a
//!   Python-2-only `print`/`exec` statement, or invalid UTF-8, or whose text was not kept
//!   (caps), counts as **not parsed** — it still counts in total_files, lines_of_code and
//!   languages, but not in cyclomatic_complexity, total_functions, total_classes.
//! * File score = 1 + 1 per `def` and `async def`, `if` and each `elif` (Python's `If` nodes;
//!   not conditional expressions nor comprehension `if`s), `while`, `for` (not `async for`, not
//!   comprehension `for`s — Python's `For` only), `except` / `except*` clause, `with` (not
//!   `async with`), + (operands − 1) per boolean operation (each binary `and`/`or`, which
//!   sums to the same). `match`, `lambda`, `assert` add nothing; classes add nothing.
//! * total_functions counts `def` and `async def` (methods and nested functions included, not
//!   lambdas); total_classes counts `class` statements.
//! * cyclomatic_complexity, total_functions, total_classes are null when no Python file was
//!   parsed; cyclomatic_complexity is the mean file score rounded to 2 decimals, the unrounded
//!   mean feeds complexity_score.
//! * max_depth = most directories above a (non-skipped) file: a root file is 0.
//! * Rounding to 2 decimals is Python's `round(x, 2)` (exact value, ties to even).

use std::collections::{BTreeMap, BTreeSet};

use super::archive::Tree;
use super::model::{ArchitecturePattern, CodeMetrics};

/// Directories skipped by metrics and technology detection.
pub const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "venv",
    ".venv",
    "__pycache__",
    ".git",
    ".pytest_cache",
    "build",
    "dist",
    "target",
    ".next",
    "coverage",
    ".coverage",
    "vendor",
];

/// language → extensions (lowercase, with the dot).
pub const LANGUAGES: &[(&str, &[&str])] = &[
    ("python", &[".py"]),
    ("javascript", &[".js", ".jsx", ".mjs"]),
    ("typescript", &[".ts", ".tsx"]),
    ("go", &[".go"]),
    ("rust", &[".rs"]),
    ("java", &[".java"]),
    ("kotlin", &[".kt", ".kts"]),
    ("ruby", &[".rb"]),
    ("php", &[".php"]),
    ("c", &[".c", ".h"]),
    ("cpp", &[".cpp", ".hpp", ".cc", ".hh"]),
    ("csharp", &[".cs"]),
    ("swift", &[".swift"]),
    ("dart", &[".dart"]),
];

/// Architecture patterns in precedence order with their indicators.
const PATTERNS: &[(ArchitecturePattern, &[&str])] = &[
    (
        ArchitecturePattern::Microservices,
        &["services", "microservices", "docker-compose"],
    ),
    (
        ArchitecturePattern::Mvc,
        &["models", "views", "controllers"],
    ),
    (
        ArchitecturePattern::Mvvm,
        &["viewmodels", "views", "models"],
    ),
    (
        ArchitecturePattern::CleanArchitecture,
        &["domain", "application", "infrastructure"],
    ),
    (
        ArchitecturePattern::Hexagonal,
        &["ports", "adapters", "domain"],
    ),
    (
        ArchitecturePattern::Layered,
        &["presentation", "business", "data"],
    ),
];

/// Whether a file at `path` lies inside a skipped directory (its name itself is not checked).
pub fn is_skipped_file(path: &str) -> bool {
    match path.rsplit_once('/') {
        Some((dir, _)) => is_skipped_dir(dir),
        None => false,
    }
}

/// Whether the directory `path` is, or lies inside, a skipped directory.
pub fn is_skipped_dir(path: &str) -> bool {
    path.split('/').any(|c| SKIP_DIRS.contains(&c))
}

/// The language of a file name by extension (case-insensitive), as in the table of §20.
pub fn language_of(file_name: &str) -> Option<&'static str> {
    // Python's Path.suffix: the last `.` part, not for a leading dot, not for a trailing dot.
    let i = file_name.rfind('.')?;
    if i == 0 || i + 1 == file_name.len() {
        return None;
    }
    let ext = file_name.get(i..)?.to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|(_, exts)| exts.contains(&ext.as_str()))
        .map(|(lang, _)| *lang)
}

/// What one parsed Python file contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PythonStats {
    /// 1 + decision points (module docs).
    pub score: u64,
    pub functions: u64,
    pub classes: u64,
}

/// Parses Python source; `None` if it does not parse (see the module docs).
pub fn python_stats(source: &str) -> Option<PythonStats> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()?;
    let tree = parser.parse(source, None)?;
    let root = tree.root_node();
    if root.has_error() {
        return None;
    }
    let mut stats = PythonStats {
        score: 1,
        ..PythonStats::default()
    };
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if node.is_named() {
            let is_async = || node.child(0).is_some_and(|c| c.kind() == "async");
            match node.kind() {
                "function_definition" => {
                    stats.functions += 1;
                    stats.score += 1;
                }
                "class_definition" => stats.classes += 1,
                "if_statement"
                | "elif_clause"
                | "while_statement"
                | "except_clause"
                | "except_group_clause"
                | "boolean_operator" => stats.score += 1,
                "for_statement" | "with_statement" if !is_async() => stats.score += 1,
                "print_statement" | "exec_statement" => return None,
                "module" | "block" if !suite_ok(node) => return None,
                _ => {}
            }
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Some(stats);
            }
        }
    }
}

/// What tree-sitter accepts but Python's parser rejects in a module or block: an empty block
/// (`expected an indented block`) and statements starting new lines at another column than the
/// first statement (`unexpected indent`, `unindent does not match`); module statements must
/// start at column 0.
fn suite_ok(node: tree_sitter::Node<'_>) -> bool {
    let mut cursor = node.walk();
    let mut statements = node.named_children(&mut cursor).filter(|c| !c.is_extra());
    let Some(first) = statements.next() else {
        return node.kind() == "module";
    };
    let column = first.start_position().column;
    if node.kind() == "module" && column != 0 {
        return false;
    }
    let mut last_row = first.end_position().row;
    for s in statements {
        let start = s.start_position();
        if start.row > last_row && start.column != column {
            return false;
        }
        last_row = s.end_position().row;
    }
    true
}

/// Python's `round(x, 2)`: the exact binary value rounded to 2 decimals, ties to even.
pub fn round2(x: f64) -> f64 {
    format!("{x:.2}").parse().unwrap_or(x)
}

/// Code metrics of a tree (API.md §20).
pub fn code_metrics(tree: &Tree) -> CodeMetrics {
    let mut total_files = 0u64;
    let mut lines_of_code = 0u64;
    let mut languages: BTreeMap<String, u64> = BTreeMap::new();
    let mut max_depth = 0u64;
    let (mut score, mut functions, mut classes, mut parsed) = (0u64, 0u64, 0u64, 0u64);

    for f in &tree.files {
        if is_skipped_file(&f.path) {
            continue;
        }
        total_files += 1;
        max_depth = max_depth.max(f.path.matches('/').count() as u64);
        let name = f.path.rsplit('/').next().unwrap_or_default();
        let Some(lang) = language_of(name) else {
            continue;
        };
        lines_of_code += f.non_blank_lines;
        *languages.entry(lang.to_string()).or_default() += f.non_blank_lines;
        if lang == "python" && !f.text_lossy {
            if let Some(s) = f.text.as_deref().and_then(python_stats) {
                score += s.score;
                functions += s.functions;
                classes += s.classes;
                parsed += 1;
            }
        }
    }

    let mean = (parsed > 0).then(|| score as f64 / parsed as f64);
    let file_score = (total_files as f64 / 100.0).min(25.0);
    let loc_score = (lines_of_code as f64 / 10000.0).min(30.0);
    let depth_score = (max_depth.saturating_mul(2)).min(20) as f64;
    let ast_score = mean.map_or(0.0, |m| (m / 20.0 * 25.0).min(25.0));
    let complexity_score = round2(file_score + loc_score + depth_score + ast_score);

    CodeMetrics {
        total_files,
        lines_of_code,
        languages,
        complexity_score,
        architecture_pattern: architecture(tree),
        cyclomatic_complexity: mean.map(round2),
        total_functions: (parsed > 0).then_some(functions),
        total_classes: (parsed > 0).then_some(classes),
    }
}

/// First pattern (enum order) with ≥ 60 % of its indicators a substring of some (lowercased,
/// non-skipped) directory name.
pub fn architecture(tree: &Tree) -> Option<ArchitecturePattern> {
    let names: BTreeSet<String> = tree
        .dirs
        .iter()
        .filter(|d| !is_skipped_dir(d))
        .map(|d| d.rsplit('/').next().unwrap_or_default().to_lowercase())
        .collect();
    PATTERNS.iter().find_map(|(pattern, indicators)| {
        let matches = indicators
            .iter()
            .filter(|i| names.iter().any(|n| n.contains(*i)))
            .count();
        (matches as f64 >= indicators.len() as f64 * 0.6).then_some(*pattern)
    })
}
