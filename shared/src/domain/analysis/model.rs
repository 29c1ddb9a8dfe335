//! The analysis result (API.md §20): the one type that the analysis produces, the store keeps,
//! the API returns, the exporters read and the OpenAPI document is generated from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// analysis_version of every result this code produces (part of the cache key).
pub const ANALYSIS_VERSION: &str = "1.0.0";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DependencyType {
    Runtime,
    Dev,
    Build,
    Peer,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TechnologyCategory {
    Framework,
    BuildTool,
    Database,
    Infrastructure,
    Language,
    CiCd,
}

/// Enum order is the order of precedence (§20: first pattern with ≥ 60 % of its indicators).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ArchitecturePattern {
    Microservices,
    Mvc,
    Mvvm,
    CleanArchitecture,
    Hexagonal,
    Layered,
}

/// Enum order is the sort order of gaps (critical first).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GapSeverity {
    Critical,
    High,
    Medium,
    Low,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dependency {
    pub name: String,
    /// As written in the manifest (after the parser's stripping); `unknown` if none.
    pub version: String,
    #[serde(rename = "type")]
    pub dep_type: DependencyType,
    pub language: String,
    pub latest_version: Option<String>,
    pub is_outdated: bool,
    /// Always false (no vulnerability source yet).
    pub has_vulnerabilities: bool,
    /// 0..1; 1.0 unless the parser says otherwise.
    pub confidence: f64,
    /// Relative path of the manifest.
    pub source_file: String,
    /// The parser's name: npm, pip, go-modules, cargo, maven, gradle, bundler, composer.
    pub package_manager: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DetectedTechnology {
    pub name: String,
    pub category: TechnologyCategory,
    pub version: Option<String>,
    pub confidence: f64,
    pub file_path: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct CodeMetrics {
    pub total_files: u64,
    pub lines_of_code: u64,
    /// language → non-blank lines
    pub languages: BTreeMap<String, u64>,
    /// 0..100, 2 decimals
    pub complexity_score: f64,
    pub architecture_pattern: Option<ArchitecturePattern>,
    /// Mean Python file score; null without Python files.
    pub cyclomatic_complexity: Option<f64>,
    pub total_functions: Option<u64>,
    pub total_classes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResearchGap {
    /// `<name> (<language>)`
    pub technology: String,
    pub current_version: String,
    pub latest_version: String,
    pub severity: GapSeverity,
    pub description: String,
    pub suggested_task: String,
    pub estimated_effort: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    Repository,
    Github,
    Upload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalysisSource {
    #[serde(rename = "type")]
    pub kind: SourceType,
    pub repository_id: Option<u64>,
    pub repo: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub commit_sha: Option<String>,
    pub archive_sha256: Option<String>,
}

/// What examining a tree gives, before latest versions are known.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Examined {
    /// latest_version None, is_outdated false.
    pub dependencies: Vec<Dependency>,
    pub technologies: Vec<DetectedTechnology>,
    pub code_metrics: CodeMetrics,
}

/// A stored analysis (API.md §20), as returned by `GET /projects/analysis/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectAnalysis {
    pub id: u64,
    pub project_id: u64,
    /// `github:<owner>/<name>@<sha>` or `upload:<sha256>`
    pub project_path: String,
    pub source: AnalysisSource,
    pub analysis_version: String,
    /// RFC 3339 UTC with milliseconds
    pub analyzed_at: String,
    pub analysis_duration_ms: u64,
    pub dependencies: Vec<Dependency>,
    pub technologies: Vec<DetectedTechnology>,
    pub code_metrics: CodeMetrics,
    pub research_gaps: Vec<ResearchGap>,
    pub created_at: String,
    pub updated_at: String,
}
