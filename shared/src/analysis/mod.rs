//! Project analysis as a service (API.md §2.1, §20): where the bytes come from (an upload in S3,
//! the GitHub tarball of a commit), the pure examination (`domain::analysis`), the latest
//! versions (`registries`), the gaps, and the save (`store::analyses`). Used by the analyze
//! route (source resolution, cache), the analysis jobs and the export routes (`load`).

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::domain::analysis::model::{
    AnalysisSource, ProjectAnalysis, SourceType, ANALYSIS_VERSION,
};
use crate::domain::analysis::{self as domain, gaps, ArchiveError, Limits};
use crate::domain::{Id, Timestamp};
use crate::github::repos::{segment, RepoName};
use crate::github::{GitHub, GitHubError, Token};
use crate::jobs::runner::{JobError, JobRun};
use crate::jobs::JobState;
use crate::registries::{self, Registry};
use crate::store::analyses::NewAnalysis;
use crate::store::kinds::{ANALYSES, REPOSITORIES};
use crate::store::records::{record_of, Record};
use crate::store::{Store, StoreError};

/// The largest upload (API.md §2.1).
pub const MAX_UPLOAD_BYTES: usize = 5 << 20;
/// The largest GitHub tarball fetched (compressed).
pub const MAX_TARBALL_BYTES: usize = 64 << 20;
/// Lists larger than this (as JSON) go to S3 instead of the item (DynamoDB's limit is 400 KB
/// for the whole item with its attribute names).
pub const OFFLOAD_BYTES: usize = 256 << 10;

/// Where an uploaded archive is kept for its job (content-addressed; the bucket's lifecycle
/// rule removes `analysis-uploads/` after a day).
pub fn upload_key(pid: Id, sha256: &str) -> String {
    format!("analysis-uploads/{pid}/{sha256}")
}

fn body_key(pid: Id, origin: &str) -> String {
    format!("analyses/{pid}/job-{origin}.json")
}

/// The GitHub side of a source: which repository, which commit, with which token.
pub struct GitHubTarget {
    pub repo: RepoName,
    pub token: Token,
    pub repository_id: Option<Id>,
    pub git_ref: Option<String>,
}

/// The commit `git_ref` names (`HEAD`: the default branch's), one GitHub call.
pub async fn commit_sha(github: &GitHub, t: &GitHubTarget) -> Result<String, GitHubError> {
    let path = t.repo.path(&format!(
        "/commits/{}",
        segment(t.git_ref.as_deref().unwrap_or("HEAD"))
    ));
    let body = github.get(&path, &t.token).await?;
    body.get("sha")
        .and_then(Value::as_str)
        .filter(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| GitHubError::Upstream("commit without a SHA".into()))
}

impl GitHubTarget {
    pub fn source(&self, sha: &str) -> (AnalysisSource, String, String) {
        let source = AnalysisSource {
            kind: if self.repository_id.is_some() {
                SourceType::Repository
            } else {
                SourceType::Github
            },
            repository_id: self.repository_id,
            repo: Some(self.repo.full_name()),
            git_ref: self.git_ref.clone(),
            commit_sha: Some(sha.to_string()),
            archive_sha256: None,
        };
        let path = format!("github:{}@{sha}", self.repo.full_name());
        (source, path, format!("github:{}", self.repo.key()))
    }
}

pub fn upload_source(sha256: &str) -> (AnalysisSource, String, String) {
    let source = AnalysisSource {
        kind: SourceType::Upload,
        repository_id: None,
        repo: None,
        git_ref: None,
        commit_sha: None,
        archive_sha256: Some(sha256.to_string()),
    };
    (
        source,
        format!("upload:{sha256}"),
        format!("upload:{sha256}"),
    )
}

/// A stored analysis, its offloaded lists read back from S3.
pub async fn load(
    store: &Store,
    blobs: &crate::blob::Blobs,
    pid: Id,
    id: Id,
) -> Result<Option<ProjectAnalysis>, LoadError> {
    match store.get(&ANALYSES.key(pid, id)).await? {
        Some(item) => Ok(Some(of_record(blobs, record_of(item)?).await?)),
        None => Ok(None),
    }
}

/// An analysis record as the API shows it.
pub async fn of_record(
    blobs: &crate::blob::Blobs,
    mut r: Record,
) -> Result<ProjectAnalysis, LoadError> {
    if let Some(key) = r
        .get("body_key")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        let bytes = blobs
            .get(&key)
            .await
            .map_err(|e| LoadError::Blob(e.to_string()))?
            .ok_or_else(|| LoadError::Corrupt(format!("analysis lists missing at {key}")))?;
        let lists: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|e| LoadError::Corrupt(e.to_string()))?;
        r.extend(lists);
    }
    serde_json::from_value(Value::Object(r)).map_err(|e| LoadError::Corrupt(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("S3: {0}")]
    Blob(String),
    #[error("stored analysis unreadable: {0}")]
    Corrupt(String),
}

impl From<LoadError> for JobError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Store(e) => e.into(),
            LoadError::Blob(m) => JobError::Retryable(m),
            LoadError::Corrupt(m) => JobError::Fatal(m),
        }
    }
}

impl From<LoadError> for crate::api::error::ApiError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Store(e) => e.into(),
            other => crate::api::error::ApiError::internal(other),
        }
    }
}

/// Why a GitHub target could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

impl From<TargetError> for JobError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Store(e) => e.into(),
            TargetError::GitHub(e) => e.into(),
        }
    }
}

impl From<TargetError> for crate::api::error::ApiError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Store(e) => e.into(),
            TargetError::GitHub(e) => e.into(),
        }
    }
}

/// The GitHub target of repository `rid` of project `pid` (its own token, else the project's
/// `project_token`, §11), or None if the project has no such repository. One GetItem.
pub async fn repository_target(
    store: &Store,
    github: &GitHub,
    pid: Id,
    rid: Id,
    git_ref: Option<String>,
    project_token: Option<&str>,
) -> Result<Option<GitHubTarget>, TargetError> {
    let Some(item) = store.get(&REPOSITORIES.key(pid, rid)).await? else {
        return Ok(None);
    };
    let repo = record_of(item)?;
    let text = |k: &str| {
        repo.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let token = github
        .token_for(
            pid,
            repo.get("access_token_enc").and_then(Value::as_str),
            project_token,
        )
        .await?;
    Ok(Some(GitHubTarget {
        repo: RepoName::new(text("owner"), text("name")),
        token,
        repository_id: Some(rid),
        git_ref,
    }))
}

/// The GitHub target of a job's repository or GitHub source (the project's token read here).
async fn github_target(
    state: &JobState,
    pid: Id,
    source: &Source,
) -> Result<GitHubTarget, JobError> {
    let project = state.store.get(&crate::store::keys::project(pid)).await?;
    let sealed = project.and_then(|i| crate::store::attr_s(&i, "github_token_enc"));
    match source {
        Source::Repository { id, git_ref } => repository_target(
            &state.store,
            &state.github,
            pid,
            *id,
            git_ref.clone(),
            sealed.as_deref(),
        )
        .await?
        .ok_or_else(|| JobError::Fatal(format!("Repository {id} not found"))),
        Source::GitHub { repo, git_ref } => {
            let Some((owner, name)) = repo.split_once('/') else {
                return Err(JobError::Fatal(format!("Invalid repo '{repo}'")));
            };
            Ok(GitHubTarget {
                repo: RepoName::new(owner, name),
                token: state.github.token_for(pid, None, sealed.as_deref()).await?,
                repository_id: None,
                git_ref: git_ref.clone(),
            })
        }
        Source::Upload { key } => Err(JobError::Fatal(format!("Upload {key} is no GitHub source"))),
    }
}

/// Where an analysis comes from, as a job's parameters name it.
#[derive(Debug, Clone)]
pub enum Source {
    Repository {
        id: Id,
        git_ref: Option<String>,
    },
    GitHub {
        repo: String,
        git_ref: Option<String>,
    },
    Upload {
        key: String,
    },
}

/// The `analysis` job (API.md §7): `{repository_id, ref?} | {repo, ref?} | {upload_key}`,
/// `use_cache?` (default true; the analyze route resolved the commit and checked the cache
/// already and passes `commit_sha`). Result `{analysis_id, project_path}`.
pub async fn run_job(run: JobRun) -> Result<Value, JobError> {
    let p = run.parameters();
    let use_cache = p.get("use_cache").and_then(Value::as_bool).unwrap_or(true);
    let git_ref = p.get("ref").and_then(Value::as_str).map(str::to_string);
    let source = if let Some(key) = p.get("upload_key").and_then(Value::as_str) {
        Source::Upload {
            key: key.to_string(),
        }
    } else if let Some(id) = p.get("repository_id").and_then(Value::as_u64) {
        Source::Repository { id, git_ref }
    } else {
        let repo = p.get("repo").and_then(Value::as_str).unwrap_or_default();
        Source::GitHub {
            repo: repo.to_string(),
            git_ref,
        }
    };
    let sha = p.get("commit_sha").and_then(Value::as_str);
    run.checkpoint(5, "Fetching source").await?;
    let (id, path) = analyze_source(
        &run.state,
        run.project_id,
        &source,
        sha,
        use_cache,
        &run.job_id.to_string(),
        Some(&run),
    )
    .await?;
    Ok(json!({"analysis_id": id, "project_path": path}))
}

/// Analyzes one source of project `pid` (or finds it in the cache): `(analysis id, path)`.
/// `origin` names this analysis within its job (the job id, or `<job>-<repository>` in a
/// batch): a job run again finds what it saved instead of saving twice.
pub async fn analyze_source(
    state: &JobState,
    pid: Id,
    source: &Source,
    known_sha: Option<&str>,
    use_cache: bool,
    origin: &str,
    progress: Option<&JobRun>,
) -> Result<(Id, String), JobError> {
    let checkpoint = |pct: i64, step: &'static str| async move {
        match progress {
            Some(run) => run.checkpoint(pct, step).await,
            None => Ok(()),
        }
    };
    if let Some(done) = state.store.analysis_of_origin(pid, origin).await? {
        return Ok(done);
    }
    let (bytes, (source, path, identity), sha) = match source {
        Source::Upload { key } => {
            // A job names only its own project's uploads.
            let Some(sha) = key
                .strip_prefix(&format!("analysis-uploads/{pid}/"))
                .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_string)
            else {
                return Err(JobError::Fatal(format!("Upload {key} not found")));
            };
            if let Some(done) = cached(state, pid, &sha, use_cache).await? {
                return Ok(done);
            }
            let bytes = state
                .blobs
                .get(key)
                .await
                .map_err(|e| JobError::Retryable(e.to_string()))?
                .ok_or_else(|| JobError::Fatal(format!("Upload {key} not found")))?;
            (bytes, upload_source(&sha), sha)
        }
        Source::Repository { .. } | Source::GitHub { .. } => {
            let target = github_target(state, pid, source).await?;
            let sha = match known_sha {
                Some(s) if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    s.to_ascii_lowercase()
                }
                _ => commit_sha(&state.github, &target).await?,
            };
            if let Some(done) = cached(state, pid, &sha, use_cache).await? {
                return Ok(done);
            }
            let tarball = target.repo.path(&format!("/tarball/{sha}"));
            let bytes = state
                .github
                .download(&tarball, &target.token, MAX_TARBALL_BYTES)
                .await?;
            (bytes, target.source(&sha), sha)
        }
    };
    checkpoint(25, "Examining files").await?;
    let analysis = analyze(state, pid, bytes, source, path).await?;
    checkpoint(90, "Saving analysis").await?;
    save(state, pid, origin, &analysis, identity, sha).await
}

/// A cached analysis's job result.
async fn cached(
    state: &JobState,
    pid: Id,
    sha: &str,
    use_cache: bool,
) -> Result<Option<(Id, String)>, JobError> {
    if !use_cache {
        return Ok(None);
    }
    let Some(id) = state.store.cached_analysis(pid, sha).await? else {
        return Ok(None);
    };
    Ok(state.store.get(&ANALYSES.key(pid, id)).await?.map(|item| {
        let path = crate::store::attr_s(&item, "project_path").unwrap_or_default();
        (id, path)
    }))
}

/// Examines an archive and completes the analysis with latest versions and gaps (not saved).
pub async fn analyze(
    state: &JobState,
    pid: Id,
    bytes: Vec<u8>,
    source: AnalysisSource,
    project_path: String,
) -> Result<ProjectAnalysis, JobError> {
    let started = Instant::now();
    let examined =
        tokio::task::spawn_blocking(move || domain::examine_archive(&bytes, &Limits::default()))
            .await
            .map_err(|e| JobError::Retryable(format!("examination stopped: {e}")))?
            .map_err(|e| match e {
                ArchiveError::NotAnArchive => JobError::Fatal("Archive could not be read".into()),
                other => JobError::Fatal(format!("Archive could not be read: {other}")),
            })?;
    let mut dependencies = examined.dependencies;
    let wanted: BTreeSet<(Registry, String)> = dependencies
        .iter()
        .filter_map(|d| Some((Registry::of(&d.package_manager)?, d.name.clone())))
        .collect();
    let now = Timestamp::now();
    let (latest, stats) =
        registries::latest_versions(&state.registries, &state.store, &wanted, now).await;
    tracing::info!(
        project_id = pid,
        cached = stats.cached,
        fetched = stats.fetched,
        unknown = stats.unknown,
        "latest versions"
    );
    gaps::apply_latest(&mut dependencies, |d| {
        let r = Registry::of(&d.package_manager)?;
        latest.get(&(r, d.name.clone())).cloned().flatten()
    });
    let research_gaps = gaps::research_gaps(&dependencies);
    let analyzed_at = Timestamp::now().to_rfc3339();
    Ok(ProjectAnalysis {
        id: 0,
        project_id: pid,
        project_path,
        source,
        analysis_version: ANALYSIS_VERSION.to_string(),
        analyzed_at: analyzed_at.clone(),
        analysis_duration_ms: started.elapsed().as_millis() as u64,
        dependencies,
        technologies: examined.technologies,
        code_metrics: examined.code_metrics,
        research_gaps,
        created_at: analyzed_at.clone(),
        updated_at: analyzed_at,
    })
}

/// Saves the analysis `origin` of a job (its large lists to S3 first): `(id, project_path)`.
pub async fn save(
    state: &JobState,
    pid: Id,
    origin: &str,
    analysis: &ProjectAnalysis,
    identity: String,
    sha: String,
) -> Result<(Id, String), JobError> {
    let lists = json!({
        "dependencies": analysis.dependencies,
        "technologies": analysis.technologies,
        "research_gaps": analysis.research_gaps,
    });
    let body = serde_json::to_vec(&lists).map_err(|e| JobError::Fatal(e.to_string()))?;
    let body_key = if body.len() > OFFLOAD_BYTES {
        let key = body_key(pid, origin);
        state
            .blobs
            .put(&key, body, "application/json")
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?;
        Some(key)
    } else {
        None
    };
    let new = NewAnalysis {
        analysis,
        identity,
        cache_sha: sha,
        origin: origin.to_string(),
        body_key,
    };
    let (_, record) = state.store.save_analysis(pid, &new).await?;
    let id = crate::store::records::id_of(&record);
    let path = record
        .get("project_path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((id, path))
}
