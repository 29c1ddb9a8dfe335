//! Work functions per job type: `each` holds one per type, `work_for` is the table from type to
//! work. research arrives with a later issue and fails at once with a clear, non-retryable error.

use serde_json::{json, Map, Value};

use super::runner::{JobError, JobRun, Work};
use crate::domain::jobs::JobType;
use crate::domain::technology::{self, FIELDS};
use crate::domain::validate::{Fields, Source};
use crate::domain::Timestamp;
use crate::events::EventType;
use crate::store::keys;
use crate::store::kinds::TECHNOLOGIES;
use crate::store::records::{record_of, version_of, Record, CREATE_MARKER_INDEX};
use crate::store::StoreError;

/// The work of a job type (the dev server and tests; a job function's `main` names its own
/// work from `each`, so its binary links no other type's work).
pub fn work_for(job_type: JobType) -> Work {
    match job_type {
        JobType::BatchImport => each::batch_import(),
        JobType::RepositorySync => each::repository_sync(),
        JobType::WebhookDelivery => each::webhook_delivery(),
        JobType::Analysis => each::analysis(),
        JobType::BatchAnalysis | JobType::ScheduledAnalysis => each::batch_analysis(),
        JobType::Export => each::export(),
        JobType::BatchExport => each::batch_export(),
        other => each::unavailable(other),
    }
}

/// One job type's work each.
pub mod each {
    use std::sync::Arc;

    use super::{JobError, JobType, Work};

    pub fn batch_import() -> Work {
        Arc::new(|run| Box::pin(super::batch_import(run)))
    }
    pub fn repository_sync() -> Work {
        Arc::new(|run| Box::pin(super::repository_sync(run)))
    }
    pub fn webhook_delivery() -> Work {
        Arc::new(|run| Box::pin(super::webhook_delivery(run)))
    }
    pub fn analysis() -> Work {
        Arc::new(|run| Box::pin(crate::analysis::run_job(run)))
    }
    /// batch_analysis and scheduled_analysis.
    pub fn batch_analysis() -> Work {
        Arc::new(|run| Box::pin(crate::jobs::analysis::run_batch(run)))
    }
    pub fn export() -> Work {
        Arc::new(|run| Box::pin(crate::jobs::export::run_export(run)))
    }
    pub fn batch_export() -> Work {
        Arc::new(|run| Box::pin(crate::jobs::export::run_batch_export(run)))
    }
    /// A type whose work is not built yet: every job fails with a message saying so.
    pub fn unavailable(job_type: JobType) -> Work {
        Arc::new(move |_| {
            Box::pin(async move {
                Err(JobError::Fatal(format!(
                    "{job_type} jobs are not available yet"
                )))
            })
        })
    }
}

/// repository_sync (API.md §3): the sync `POST /repositories/{id}/sync` runs, as a job. One
/// read brings the repository and the project (its token); a rate limit gives the job back
/// until GitHub's reset.
async fn repository_sync(run: JobRun) -> Result<Value, JobError> {
    use crate::github::sync::{sync_repository, SyncError};
    use crate::store::kinds::REPOSITORIES;
    let params = run.parameters();
    let rid = params
        .get("repository_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| JobError::Fatal("repository_id is missing".into()))?;
    let force = params
        .get("force")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let pid = run.project_id;
    let store = &run.state.store;
    let (repo_key, project_key) = (REPOSITORIES.key(pid, rid), keys::project(pid));
    let mut found = store
        .batch_get(&[repo_key.clone(), project_key.clone()])
        .await?;
    let repo = match found.remove(&repo_key) {
        Some(item) => record_of(item)?,
        None => return Err(JobError::Fatal(format!("Repository {rid} not found"))),
    };
    let project_token = found
        .get(&project_key)
        .and_then(|p| crate::store::attr_s(p, "github_token_enc"));
    match sync_repository(
        &run.state.github,
        store,
        pid,
        &repo,
        project_token.as_deref(),
        force,
    )
    .await
    {
        Ok(synced) => Ok(synced.result),
        Err(SyncError::GitHub(e)) => Err(e.into()),
        Err(SyncError::Store(e)) => Err(e.into()),
        Err(SyncError::Gone(id)) => Err(JobError::Fatal(format!("Repository {id} not found"))),
    }
}

/// webhook_delivery (API.md §7): a delivery to a config of the project (one per job, however
/// often the job runs), attempt 1 made here; later attempts follow §10.2 on the
/// webhook_delivery queue. Result: `{delivery_id, status, http_status_code}` of attempt 1.
async fn webhook_delivery(run: JobRun) -> Result<Value, JobError> {
    use crate::store::kinds::{WEBHOOK_CONFIGS, WEBHOOK_DELIVERIES};
    use crate::webhooks::{self, deliver, CreateError, NewDelivery};
    let params = run.parameters();
    let pid = run.project_id;
    let config_id = params
        .get("config_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| JobError::Fatal("config_id is missing".into()))?;
    let store = &run.state.store;
    let config = match store.get(&WEBHOOK_CONFIGS.key(pid, config_id)).await? {
        Some(item) => record_of(item)?,
        None => {
            return Err(JobError::Fatal(format!(
                "Webhook configuration {config_id} not found"
            )))
        }
    };
    if config.get("active").and_then(Value::as_bool) != Some(true) {
        return Err(JobError::Fatal(format!(
            "Webhook configuration {config_id} is inactive"
        )));
    }
    let target = params
        .get("target_url")
        .and_then(Value::as_str)
        .unwrap_or_else(|| webhooks::text(&config, "webhook_url"))
        .to_string();
    let new = NewDelivery {
        config: &config,
        event_type: params
            .get("event_type")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        data: params.get("payload").cloned().unwrap_or(json!({})),
        emitted_at: Timestamp::now().to_rfc3339(),
        target_url: target,
        origin: format!("job:{}", run.job_id),
    };
    let delivery = match webhooks::create(store, pid, new).await {
        Ok(created) => created.record().clone(),
        Err(CreateError::ConfigGone(id)) => {
            return Err(JobError::Fatal(format!(
                "Webhook configuration {id} not found"
            )))
        }
        Err(CreateError::Store(e)) => return Err(e.into()),
    };
    let id = crate::store::records::id_of(&delivery);
    if webhooks::never_attempted(&delivery) {
        deliver::attempt(&run.state, delivery, Some(config), None)
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?;
    }
    let now = match store.get(&WEBHOOK_DELIVERIES.key(pid, id)).await? {
        Some(item) => record_of(item)?,
        None => return Err(JobError::Fatal(format!("Webhook delivery {id} not found"))),
    };
    Ok(json!({
        "delivery_id": id,
        "status": now.get("status").cloned().unwrap_or(Value::Null),
        "http_status_code": now.get("http_status_code").cloned().unwrap_or(Value::Null),
    }))
}

fn technology_out(r: &Record) -> Value {
    let mut fields = vec!["id", "project_id"];
    fields.extend(FIELDS.iter().map(|s| s.name));
    fields.extend(["created_at", "updated_at"]);
    crate::domain::shape(r, &fields)
}

/// The attribute a batch import leaves on each technology it writes: `{job_id, items:
/// {"<index>": "imported" | "updated"}}`, written in the same transaction as the record. A
/// later attempt of the same job (after a crash, a lost lease) finds what an earlier one
/// wrote and counts it as done, not as a conflict it skipped. Not part of any response.
const WRITTEN_BY: &str = "written_by_job";

/// What an earlier attempt of job `job_id` wrote to `r` for item `index`.
fn written_earlier(r: &Record, job_id: u64, index: usize) -> Option<String> {
    let w = r.get(WRITTEN_BY)?;
    if w.get("job_id")?.as_u64()? != job_id {
        return None;
    }
    w.get("items")?
        .get(index.to_string())?
        .as_str()
        .map(str::to_string)
}

/// `r`'s written-by mark once job `job_id` wrote it for item `index` (other items of the same
/// job kept, another job's mark replaced).
fn mark_written(r: &Record, job_id: u64, index: usize, action: &str) -> Value {
    let mut items = match r.get(WRITTEN_BY) {
        Some(w) if w.get("job_id").and_then(Value::as_u64) == Some(job_id) => w
            .get("items")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        _ => Map::new(),
    };
    items.insert(index.to_string(), json!(action));
    json!({"job_id": job_id, "items": items})
}

/// batch_import (API.md §8): technologies with skip / overwrite / merge on title conflicts,
/// per-item results; each item is one transaction with its counters and events, as the
/// technologies router writes them. Resumable: what an earlier attempt of the job wrote is
/// recognised (`WRITTEN_BY`) and reported as imported / updated again.
async fn batch_import(run: JobRun) -> Result<Value, JobError> {
    let params = run.parameters();
    let items: Vec<Value> = params
        .get("technologies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let strategy = params
        .get("merge_strategy")
        .and_then(Value::as_str)
        .unwrap_or("skip")
        .to_string();
    let pid = run.project_id;
    let store = &run.state.store;
    let total = items.len();
    let (mut imported, mut updated, mut skipped, mut failed) = (0, 0, 0, 0);
    let mut conflicts = Vec::new();
    let mut results = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if index % 10 == 0 {
            run.checkpoint(
                (index * 100 / total.max(1)) as i64,
                &format!("Importing {index}/{total}"),
            )
            .await?;
        }
        let title = item
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let empty = Map::new();
        let obj = item.as_object().unwrap_or(&empty);
        let mut f = Fields::new(obj, Source::Body);
        let fields = f.record(FIELDS, true);
        if let Err(errors) = f.finish() {
            failed += 1;
            let why = errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.loc.get(1).and_then(Value::as_str).unwrap_or(""),
                        e.msg
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            results.push(json!({"index": index, "title": title, "status": "failed", "technology_id": null, "error": why}));
            continue;
        }
        let marker = keys::project_unique(pid, TECHNOLOGIES.prefix, &technology::title_key(&title));
        let existing = match store.get(&marker).await? {
            Some(m) => match m
                .get("item_id")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
            {
                Some(id) => store
                    .get(&TECHNOLOGIES.key(pid, id))
                    .await?
                    .map(record_of)
                    .transpose()?,
                None => None,
            },
            None => None,
        };
        let now = Timestamp::now().to_rfc3339();
        let job_id = run.job_id;
        if let Some(done) = existing
            .as_ref()
            .and_then(|old| written_earlier(old, job_id, index))
        {
            let existing_id = existing
                .as_ref()
                .and_then(|old| old.get("id").cloned())
                .unwrap_or(Value::Null);
            if done == "updated" {
                updated += 1;
                conflicts.push(json!({"index": index, "title": title, "existing_id": existing_id, "action": strategy}));
            } else {
                imported += 1;
            }
            results.push(json!({"index": index, "title": title, "status": done, "technology_id": existing_id, "error": null}));
            continue;
        }
        match existing {
            None => {
                let mut record = fields.clone();
                record.insert("created_at".into(), json!(now));
                record.insert("updated_at".into(), json!(now));
                record.insert(
                    WRITTEN_BY.into(),
                    mark_written(&Record::new(), job_id, index, "imported"),
                );
                let events = |r: &Record| vec![(EventType::TechnologyCreated, technology_out(r))];
                match store
                    .create_record(&TECHNOLOGIES, pid, record, events, &[])
                    .await
                {
                    Ok(stored) => {
                        imported += 1;
                        results.push(json!({"index": index, "title": title, "status": "imported", "technology_id": stored["id"], "error": null}));
                    }
                    Err(StoreError::Condition(CREATE_MARKER_INDEX)) => {
                        failed += 1;
                        results.push(json!({"index": index, "title": title, "status": "failed", "technology_id": null, "error": "Title taken concurrently"}));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(old) => {
                let existing_id = old.get("id").cloned().unwrap_or(Value::Null);
                let action = match strategy.as_str() {
                    "overwrite" | "merge" => strategy.as_str(),
                    _ => "skip",
                };
                conflicts.push(json!({"index": index, "title": title, "existing_id": existing_id, "action": action}));
                if action == "skip" {
                    skipped += 1;
                    results.push(json!({"index": index, "title": title, "status": "skipped", "technology_id": existing_id, "error": null}));
                    continue;
                }
                let mut new = old.clone();
                for (k, v) in &fields {
                    // overwrite: every field as given (defaults for the omitted); merge: only
                    // the present, non-null ones.
                    if action == "overwrite" || obj.get(k).is_some_and(|x| !x.is_null()) {
                        new.insert(k.clone(), v.clone());
                    }
                }
                new.insert("updated_at".into(), json!(now));
                new.insert("version".into(), json!(version_of(&old) + 1));
                new.insert(
                    WRITTEN_BY.into(),
                    mark_written(&old, job_id, index, "updated"),
                );
                let event = (EventType::TechnologyUpdated, technology_out(&new));
                match store
                    .update_record(&TECHNOLOGIES, pid, &old, &new, vec![event], vec![])
                    .await
                {
                    Ok(()) => {
                        updated += 1;
                        results.push(json!({"index": index, "title": title, "status": "updated", "technology_id": existing_id, "error": null}));
                    }
                    Err(StoreError::Condition(_)) => {
                        failed += 1;
                        results.push(json!({"index": index, "title": title, "status": "failed", "technology_id": existing_id, "error": "Changed concurrently"}));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    if total > 0 && failed == total {
        return Err(JobError::Fatal(format!("All {total} items failed")));
    }
    run.checkpoint(100, "Import finished").await?;
    Ok(json!({
        "total_items": total,
        "imported_count": imported,
        "updated_count": updated,
        "skipped_count": skipped,
        "failed_count": failed,
        "completed_items": imported + updated + skipped,
        "failed_items": failed,
        "conflicts": conflicts,
        "items": results,
    }))
}
