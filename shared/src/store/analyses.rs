//! Analyses (API.md §2, §20): the record, its cache marker, its job marker and the distinct-
//! project marker, written in one transaction with the STATS sums and the `analysis.complete`
//! event.
//!
//! - `ANLYCACHE#<sha>#<version>` → the latest analysis of a commit or archive (API.md §2.1 cache
//!   key: the project is the partition);
//! - `ANLYJOB#<job>` → the analysis a job saved: a job run again after its save (a crash before
//!   the job completed, a duplicate message) finds it instead of saving a second one;
//! - `ANLYPROJ#<sha256(identity)>`: present once a project (`github:owner/name`, `upload:<sha>`)
//!   was analyzed; its first analysis adds 1 to `analyses.projects`.
//!
//! The large lists of an analysis that could pass DynamoDB's 400 KB live in S3 (`body_key`,
//! written by the caller before the save); `analysis::load` reads them back.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::kinds::{ANALYSES, ANALYSIS_PROJECTS};
use super::records::{record_of, Record, EXTRA_BASE};
use super::{keys, n, tx, Key, Store, StoreError};
use crate::domain::analysis::model::{GapSeverity, ProjectAnalysis, ANALYSIS_VERSION};
use crate::domain::Id;
use crate::events::EventType;

pub fn cache_key(pid: Id, sha: &str) -> Key {
    Key::new(
        keys::project_pk(pid),
        format!("ANLYCACHE#{sha}#{ANALYSIS_VERSION}"),
    )
}

fn job_marker(pid: Id, origin: &str) -> Key {
    Key::new(keys::project_pk(pid), format!("ANLYJOB#{origin}"))
}

fn identity_marker(pid: Id, identity: &str) -> Key {
    Key::new(
        keys::project_pk(pid),
        format!(
            "ANLYPROJ#{}",
            hex::encode(Sha256::digest(identity.as_bytes()))
        ),
    )
}

/// An analysis to save.
pub struct NewAnalysis<'a> {
    /// id, project_id, created_at, updated_at are set by the save.
    pub analysis: &'a ProjectAnalysis,
    /// `github:<owner>/<name>` (lower case) or `upload:<sha256>`.
    pub identity: String,
    /// Commit SHA or archive SHA-256 (the cache key).
    pub cache_sha: String,
    /// The job (`<job id>`, or `<job id>-<repository id>` in a batch) that saves it.
    pub origin: String,
    /// Where dependencies, technologies and research_gaps were put when too large.
    pub body_key: Option<String>,
}

/// The record of an analysis: its fields (the lists unless offloaded) and the hidden counts.
fn record(new: &NewAnalysis<'_>) -> Result<Record, StoreError> {
    let a = new.analysis;
    let mut r: Map<String, Value> = match serde_json::to_value(a) {
        Ok(Value::Object(m)) => m,
        _ => return Err(StoreError::Other("analysis does not serialize".into())),
    };
    r.remove("id");
    r.remove("project_id");
    r.insert("updated_at".into(), json!(a.analyzed_at));
    r.insert("created_at".into(), json!(a.analyzed_at));
    if let Some(key) = &new.body_key {
        for k in ["dependencies", "technologies", "research_gaps"] {
            r.remove(k);
        }
        r.insert("body_key".into(), json!(key));
    }
    let gaps = |s: GapSeverity| a.research_gaps.iter().filter(|g| g.severity == s).count();
    r.insert("dependency_count".into(), json!(a.dependencies.len()));
    r.insert("technology_count".into(), json!(a.technologies.len()));
    r.insert("gap_count".into(), json!(a.research_gaps.len()));
    r.insert(
        "critical_gap_count".into(),
        json!(gaps(GapSeverity::Critical)),
    );
    r.insert("high_gap_count".into(), json!(gaps(GapSeverity::High)));
    r.insert(
        "outdated_count".into(),
        json!(a.dependencies.iter().filter(|d| d.is_outdated).count()),
    );
    Ok(r)
}

impl Store {
    /// The id of the stored analysis of a commit or archive, if any (one read).
    pub async fn cached_analysis(&self, pid: Id, sha: &str) -> Result<Option<Id>, StoreError> {
        Ok(self
            .get(&cache_key(pid, sha))
            .await?
            .and_then(|item| super::attr_n(&item, "analysis_id"))
            .map(|id| id as Id))
    }

    /// The analysis job `origin` saved, if it did (`(id, project_path)`): a job run again skips
    /// what its earlier attempt finished.
    pub async fn analysis_of_origin(
        &self,
        pid: Id,
        origin: &str,
    ) -> Result<Option<(Id, String)>, StoreError> {
        let Some(marker) = self.get(&job_marker(pid, origin)).await? else {
            return Ok(None);
        };
        let id = super::attr_n(&marker, "analysis_id").unwrap_or_default() as Id;
        Ok(self.get(&ANALYSES.key(pid, id)).await?.map(|item| {
            let path = super::attr_s(&item, "project_path").unwrap_or_default();
            (id, path)
        }))
    }

    /// Saves an analysis once per job: the record with its pointer and STATS sums, the cache,
    /// job and distinct-project markers and the `analysis.complete` event, in one transaction.
    /// A job that saved before gets that analysis back (`Ok(false, record)`).
    pub async fn save_analysis(
        &self,
        pid: Id,
        new: &NewAnalysis<'_>,
    ) -> Result<(bool, Record), StoreError> {
        let r = record(new)?;
        let (job_key, identity_key) = (
            job_marker(pid, &new.origin),
            identity_marker(pid, &new.identity),
        );
        for _ in 0..3 {
            let found = self
                .batch_get(&[job_key.clone(), identity_key.clone()])
                .await?;
            if let Some(saved) = found.get(&job_key) {
                let id = super::attr_n(saved, "analysis_id").unwrap_or_default() as Id;
                if let Some(item) = self.get(&ANALYSES.key(pid, id)).await? {
                    return Ok((false, record_of(item)?));
                }
            }
            let first_of_project = !found.contains_key(&identity_key);
            let table = self.table.clone();
            let (cache_sha, path) = (new.cache_sha.clone(), new.analysis.project_path.clone());
            let a = new.analysis;
            let summary = json!({
                "project_path": path,
                "dependencies": a.dependencies.len(),
                "outdated_dependencies": a.dependencies.iter().filter(|d| d.is_outdated).count(),
                "technologies": a.technologies.len(),
                "research_gaps": a.research_gaps.len(),
                "origin": new.origin,
            });
            let extra = |done: &[Record]| {
                let id = done.first().map(super::records::id_of).unwrap_or_default();
                let mut items = Vec::new();
                let mut marker = job_key.to_item();
                marker.insert("analysis_id".into(), n(id));
                items.push(tx::put(marker, Some("attribute_not_exists(pk)")).build(&table));
                let mut cache = cache_key(pid, &cache_sha).to_item();
                cache.insert("analysis_id".into(), n(id));
                items.push(tx::put(cache, None).build(&table));
                if first_of_project {
                    let mut m = identity_key.to_item();
                    m.insert("analysis_id".into(), n(id));
                    items.push(tx::put(m, Some("attribute_not_exists(pk)")).build(&table));
                }
                let mut data = summary.clone();
                data["analysis_id"] = json!(id);
                if let Err(e) =
                    crate::events::emit(&mut items, &table, pid, EventType::AnalysisComplete, data)
                {
                    tracing::warn!(error = %e, "analysis.complete not emitted");
                }
                items
            };
            let deltas = [(ANALYSIS_PROJECTS.to_string(), i64::from(first_of_project))];
            match self
                .create_records_batch_with(
                    &ANALYSES,
                    pid,
                    vec![(r.clone(), vec![])],
                    |_| {},
                    extra,
                    &deltas,
                )
                .await
            {
                Ok(mut done) => return Ok((true, done.remove(0))),
                // The job marker (saved meanwhile) or the project marker (a first analysis of
                // the same project raced this one): read again.
                Err(StoreError::Condition(i)) if i == EXTRA_BASE || i == EXTRA_BASE + 2 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "analysis save kept conflicting".into(),
        ))
    }
}
