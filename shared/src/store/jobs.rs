//! Job state transitions made by workers: conditional updates (never read-then-write), each
//! moving the STATS status counters in the same transaction, with the job's events.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::kinds::JOBS;
use super::records::{counters, record_of, Record};
use super::{n, s, tx, Store, StoreError};
use crate::domain::jobs::{
    active_index, job_out, status_of, JobStatus, JobType, ACTIVE_SHARDS, STALE_SECS,
};
use crate::domain::project::breakdown;
use crate::domain::{Id, Timestamp};
use crate::events::{emit, EventType};

/// The outcome of trying to start a job.
#[derive(Debug)]
pub enum Claim {
    /// This worker holds the job until its lease ends.
    Claimed(Record),
    /// Nothing to do: finished, cancelled, missing, or running under another live lease.
    Skip(&'static str),
}

fn moved(
    pid: Id,
    from: JobStatus,
    to: JobStatus,
    table: &str,
) -> Option<aws_sdk_dynamodb::types::TransactWriteItem> {
    moved_with(pid, from, to, &[], table)
}

/// `moved` with more deltas in the same STATS update (a schedule's outcome counters).
fn moved_with(
    pid: Id,
    from: JobStatus,
    to: JobStatus,
    more: &[(String, i64)],
    table: &str,
) -> Option<aws_sdk_dynamodb::types::TransactWriteItem> {
    let mut deltas = vec![
        (breakdown("jobs", "status", from.as_str()), -1),
        (breakdown("jobs", "status", to.as_str()), 1),
    ];
    deltas.extend(more.iter().cloned());
    counters(pid, &deltas, table)
}

/// The items that go with a job's end: the STATS move and, for a job a schedule created (while
/// `with_schedule`), the schedule's outcome update (§9), whose counters join the STATS move.
fn ending(
    pid: Id,
    job: &Record,
    (from, to): (JobStatus, JobStatus),
    error: Option<&str>,
    now: &str,
    with_schedule: bool,
    table: &str,
) -> (
    Option<aws_sdk_dynamodb::types::TransactWriteItem>,
    Option<aws_sdk_dynamodb::types::TransactWriteItem>,
) {
    let schedule = with_schedule
        .then(|| super::schedules::outcome(pid, job, to, error, now, table))
        .flatten();
    let deltas = schedule
        .as_ref()
        .map(|(_, d)| d.clone())
        .unwrap_or_default();
    (
        moved_with(pid, from, to, &deltas, table),
        schedule.map(|(item, _)| item),
    )
}

use super::live::listeners_value;

/// The export.complete event of a completed export or batch_export job: the job, its format,
/// analyses and size (the download URL expires; clients fetch the job for a fresh one).
fn export_complete(done: &Record) -> Option<Value> {
    let job_type = done.get("job_type").and_then(Value::as_str)?;
    if !matches!(job_type, "export" | "batch_export") || status_of(done) != JobStatus::Completed {
        return None;
    }
    let result = done.get("result").cloned().unwrap_or(Value::Null);
    let params = done.get("parameters").cloned().unwrap_or(Value::Null);
    Some(serde_json::json!({
        "job_id": done.get("id").cloned().unwrap_or(Value::Null),
        "job_type": job_type,
        "format": result.get("format").cloned().unwrap_or(Value::Null),
        "analysis_id": params.get("analysis_id").cloned().unwrap_or(Value::Null),
        "analysis_ids": params.get("analysis_ids").cloned().unwrap_or(Value::Null),
        "size_bytes": result.get("size_bytes").cloned().unwrap_or(Value::Null),
        "completed_items": result.get("completed_items").cloned().unwrap_or(Value::Null),
        "failed_items": result.get("failed_items").cloned().unwrap_or(Value::Null),
    }))
}
use crate::domain::validate::EnumValues;

/// The job as a worker leaves it: completed with its result, or failed with its error.
/// `result_key`: the S3 object holding the full result, when `result` is only its summary.
fn finished(job: &Record, outcome: &Result<Value, String>, result_key: Option<&str>) -> Record {
    let now = Timestamp::now().to_rfc3339();
    let mut done = job.clone();
    done.insert(
        "result_key".into(),
        result_key.map_or(Value::Null, Value::from),
    );
    match outcome {
        Ok(result) => {
            done.insert("status".into(), Value::from("completed"));
            done.insert("progress".into(), Value::from(100));
            done.insert(
                "current_step".into(),
                Value::from("Job completed successfully"),
            );
            done.insert("result".into(), result.clone());
        }
        Err(error) => {
            done.insert("status".into(), Value::from("failed"));
            done.insert(
                "current_step".into(),
                Value::from(format!("Job failed: {error}")),
            );
            done.insert("error".into(), Value::from(error.clone()));
        }
    }
    for k in ["lease_until", "lease_token", "gsi2pk", "gsi2sk"] {
        done.remove(k);
    }
    done.insert("completed_at".into(), Value::from(now.clone()));
    done.insert("updated_at".into(), Value::from(now));
    done
}

impl Store {
    async fn job(&self, pid: Id, id: Id) -> Result<Option<Record>, StoreError> {
        self.get(&JOBS.key(pid, id))
            .await?
            .map(record_of)
            .transpose()
    }

    /// Starts a job: pending → running, or takes over a running job whose lease expired.
    /// Sets started_at once, a lease and a token, counts the attempt.
    pub async fn claim_job(
        &self,
        pid: Id,
        id: Id,
        token: &str,
        lease_secs: i64,
    ) -> Result<Claim, StoreError> {
        let now = Timestamp::now();
        // Maintenance looks at a running job when its lease ends.
        let due = now.plus_secs(lease_secs).to_rfc3339();
        let update = |cond: &str| {
            tx::update(
                &JOBS.key(pid, id),
                "SET #s = :running, started_at = if_not_exists(started_at, :now), lease_until = :lease, \
                 lease_token = :tok, attempts = if_not_exists(attempts, :zero) + :one, current_step = :step, \
                 updated_at = :now, version = if_not_exists(version, :zero) + :one, gsi2pk = :g2pk, gsi2sk = :g2sk",
            )
            .condition(cond)
            .value(":g2pk", s(active_index(pid, id, &due).0))
            .value(":g2sk", s(active_index(pid, id, &due).1))
            .name("#s", "status")
            .value(":running", s("running"))
            .value(":now", s(now.to_rfc3339()))
            .value(":lease", n(now.unix() + lease_secs))
            .value(":tok", s(token))
            .value(":zero", n(0))
            .value(":one", n(1))
            .value(":step", s("Initializing job execution"))
        };
        let fresh = update("#s = :pending")
            .value(":pending", s("pending"))
            .build(&self.table);
        let mut items = vec![fresh];
        items.extend(moved(
            pid,
            JobStatus::Pending,
            JobStatus::Running,
            &self.table,
        ));
        let claimed = match self.transact(items).await {
            Ok(()) => true,
            Err(StoreError::Condition(0)) => {
                let takeover = update("#s = :running AND lease_until < :nowsec")
                    .value(":nowsec", n(now.unix()))
                    .build(&self.table);
                match self.transact(vec![takeover]).await {
                    Ok(()) => true,
                    Err(StoreError::Condition(0)) => false,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let job = self.job(pid, id).await?;
        Ok(match (claimed, job) {
            (true, Some(job)) => Claim::Claimed(job),
            (_, None) => Claim::Skip("job no longer exists"),
            (false, Some(job)) if status_of(&job).is_terminal() => {
                Claim::Skip("job already finished")
            }
            (false, Some(_)) => Claim::Skip("job is running under a live lease"),
        })
    }

    /// Records progress while the lease is held and returns the job as now stored (its
    /// listeners included); `Ok(None)` = the job was cancelled or taken over (the worker must
    /// stop).
    pub async fn job_checkpoint(
        &self,
        pid: Id,
        id: Id,
        token: &str,
        progress: i64,
        step: &str,
        lease_secs: i64,
    ) -> Result<Option<Record>, StoreError> {
        let now = Timestamp::now();
        let up = tx::update(
            &JOBS.key(pid, id),
            "SET progress = :p, current_step = :step, updated_at = :now, lease_until = :lease, gsi2sk = :g2sk, version = if_not_exists(version, :zero) + :one",
        )
        .value(
            ":g2sk",
            s(active_index(pid, id, &now.plus_secs(lease_secs).to_rfc3339()).1),
        )
        .condition("#s = :running AND lease_token = :tok")
        .name("#s", "status")
        .value(":p", n(progress))
        .value(":step", s(step))
        .value(":now", s(now.to_rfc3339()))
        .value(":lease", n(now.unix() + lease_secs))
        .value(":running", s("running"))
        .value(":tok", s(token))
        .value(":zero", n(0))
        .value(":one", n(1))
        .build(&self.table);
        self.update_one(up).await?.map(record_of).transpose()
    }

    /// Ends a held job: completed (with its result) or failed (with its error), emitting
    /// job.completed / job.failed (not for webhook deliveries). `job` is the job as last seen
    /// by the worker; the write also checks that its listeners did not change meanwhile (else
    /// it re-reads and tries again), so the returned job names every connection to tell.
    /// `Ok(None)`: the worker does not hold the job anymore.
    pub async fn finish_job(
        &self,
        pid: Id,
        job: &Record,
        token: &str,
        outcome: Result<Value, String>,
    ) -> Result<Option<Record>, StoreError> {
        self.finish_job_kept(pid, job, token, outcome, None).await
    }

    /// `finish_job` for a result kept in S3 under `result_key` (the outcome holds its summary).
    pub async fn finish_job_kept(
        &self,
        pid: Id,
        job: &Record,
        token: &str,
        outcome: Result<Value, String>,
        result_key: Option<&str>,
    ) -> Result<Option<Record>, StoreError> {
        let id = job.get("id").and_then(Value::as_u64).unwrap_or_default();
        let mut known = job.clone();
        // The schedule that created the job is told in the same transaction, while it exists.
        let mut with_schedule = true;
        for attempt in 0..5 {
            let done = finished(&known, &outcome, result_key);
            let event = match outcome {
                Ok(_) => EventType::JobCompleted,
                Err(_) => EventType::JobFailed,
            };
            let now = done["completed_at"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            // The last attempts settle without the listeners check.
            let condition = if attempt < 3 {
                "#s = :running AND lease_token = :tok AND (attribute_not_exists(listeners) OR listeners = :known)"
            } else {
                "#s = :running AND lease_token = :tok"
            };
            let mut up = tx::update(
                &JOBS.key(pid, id),
                "SET #s = :to, progress = :p, current_step = :step, #r = :result, #e = :error, result_key = :rk, \
                 completed_at = :now, updated_at = :now, version = if_not_exists(version, :zero) + :one REMOVE lease_until, lease_token, gsi2pk, gsi2sk",
            )
            .value(":rk", result_key.map(s).unwrap_or(AttributeValue::Null(true)))
            .condition(condition)
            .name("#s", "status")
            .name("#r", "result")
            .name("#e", "error")
            .value(":to", s(status_of(&done).as_str()))
            .value(":p", n(done["progress"].as_i64().unwrap_or(0)))
            .value(
                ":step",
                s(done["current_step"].as_str().unwrap_or_default()),
            )
            .value(
                ":result",
                serde_dynamo::to_attribute_value(
                    done.get("result").cloned().unwrap_or(Value::Null),
                )
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )
            .value(
                ":error",
                done.get("error")
                    .and_then(Value::as_str)
                    .map(s)
                    .unwrap_or(AttributeValue::Null(true)),
            )
            .value(":now", s(&now))
            .value(":running", s("running"))
            .value(":tok", s(token))
            .value(":zero", n(0))
            .value(":one", n(1));
            if attempt < 3 {
                up = up.value(":known", listeners_value(&known)?);
            }
            let mut items = vec![up.build(&self.table)];
            let (stats, schedule) = ending(
                pid,
                &known,
                (JobStatus::Running, status_of(&done)),
                done.get("error").and_then(Value::as_str),
                &now,
                with_schedule,
                &self.table,
            );
            items.extend(stats);
            let is_delivery = job.get("job_type").and_then(Value::as_str)
                == Some(JobType::WebhookDelivery.as_str());
            if !is_delivery {
                emit(&mut items, &self.table, pid, event, job_out(&done))?;
            }
            if let Some(data) = export_complete(&done) {
                emit(
                    &mut items,
                    &self.table,
                    pid,
                    EventType::ExportComplete,
                    data,
                )?;
            }
            let schedule_at = items.len();
            items.extend(schedule);
            match self.transact(items).await {
                Ok(()) => return Ok(Some(done)),
                // The schedule was deleted meanwhile: the job ends without it.
                Err(StoreError::Condition(i)) if i == schedule_at && with_schedule => {
                    with_schedule = false;
                }
                Err(StoreError::Condition(0)) => match self.job(pid, id).await? {
                    Some(current)
                        if status_of(&current) == JobStatus::Running
                            && current.get("lease_token").and_then(Value::as_str)
                                == Some(token) =>
                    {
                        known = current;
                    }
                    _ => return Ok(None),
                },
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Gives a held job back after a retryable failure: running → pending, lease dropped. Its
    /// message comes back after `retry_in_secs`; maintenance looks at it if it has not started
    /// `STALE_SECS` after that.
    pub async fn release_job(
        &self,
        pid: Id,
        id: Id,
        token: &str,
        reason: &str,
        retry_in_secs: i64,
    ) -> Result<bool, StoreError> {
        let due = Timestamp::now()
            .plus_secs(retry_in_secs.saturating_add(STALE_SECS))
            .to_rfc3339();
        let up = tx::update(
            &JOBS.key(pid, id),
            "SET #s = :pending, current_step = :step, updated_at = :now, gsi2sk = :g2sk, version = if_not_exists(version, :zero) + :one REMOVE lease_until, lease_token",
        )
        .value(":g2sk", s(active_index(pid, id, &due).1))
        .condition("#s = :running AND lease_token = :tok")
        .name("#s", "status")
        .value(":pending", s("pending"))
        .value(":step", s(format!("Retrying after error: {reason}")))
        .value(":now", s(Timestamp::now().to_rfc3339()))
        .value(":running", s("running"))
        .value(":tok", s(token))
        .value(":zero", n(0))
        .value(":one", n(1))
        .build(&self.table);
        let mut items = vec![up];
        items.extend(moved(
            pid,
            JobStatus::Running,
            JobStatus::Pending,
            &self.table,
        ));
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(StoreError::Condition(0)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Ends the lease of a held job now (the worker could not record its outcome and gives the
    /// job back): the redelivery of its message takes the job over at once instead of being
    /// acknowledged as a duplicate of a live run, and maintenance sees it as due.
    /// `Ok(false)`: the worker did not hold the job anymore.
    pub async fn cut_lease(&self, pid: Id, id: Id, token: &str) -> Result<bool, StoreError> {
        let now = Timestamp::now();
        let up = tx::update(
            &JOBS.key(pid, id),
            "SET lease_until = :past, gsi2sk = :g2sk, updated_at = :now, version = if_not_exists(version, :zero) + :one",
        )
        .condition("#s = :running AND lease_token = :tok")
        .name("#s", "status")
        .value(":past", n(now.unix() - 1))
        .value(":g2sk", s(active_index(pid, id, &now.to_rfc3339()).1))
        .value(":now", s(now.to_rfc3339()))
        .value(":running", s("running"))
        .value(":tok", s(token))
        .value(":zero", n(0))
        .value(":one", n(1))
        .build(&self.table);
        Ok(self.update_one(up).await?.is_some())
    }

    /// Fails a job that can no longer be delivered (dead-lettered), whatever active status it
    /// is in; returns the failed job (with its listeners). `Ok(None)`: it had already finished.
    pub async fn give_up_job(
        &self,
        pid: Id,
        id: Id,
        reason: &str,
    ) -> Result<Option<Record>, StoreError> {
        let mut with_schedule = true;
        for _ in 0..6 {
            let Some(job) = self.job(pid, id).await? else {
                return Ok(None);
            };
            let from = status_of(&job);
            if from.is_terminal() {
                return Ok(None);
            }
            let now = Timestamp::now().to_rfc3339();
            let mut done = job.clone();
            done.insert("status".into(), Value::from("failed"));
            done.insert("error".into(), Value::from(reason));
            done.insert(
                "current_step".into(),
                Value::from(format!("Job failed: {reason}")),
            );
            done.insert("completed_at".into(), Value::from(now.clone()));
            done.insert("updated_at".into(), Value::from(now.clone()));
            let up = tx::update(
                &JOBS.key(pid, id),
                "SET #s = :failed, #e = :error, current_step = :step, completed_at = :now, updated_at = :now, \
                 version = if_not_exists(version, :zero) + :one REMOVE lease_until, lease_token, gsi2pk, gsi2sk",
            )
            .condition("#s = :from AND (attribute_not_exists(listeners) OR listeners = :known)")
            .value(":known", listeners_value(&job)?)
            .name("#s", "status")
            .name("#e", "error")
            .value(":failed", s("failed"))
            .value(":error", s(reason))
            .value(":step", s(format!("Job failed: {reason}")))
            .value(":now", s(&now))
            .value(":from", s(from.as_str()))
            .value(":zero", n(0))
            .value(":one", n(1))
            .build(&self.table);
            let mut items = vec![up];
            let (stats, schedule) = ending(
                pid,
                &job,
                (from, JobStatus::Failed),
                Some(reason),
                &now,
                with_schedule,
                &self.table,
            );
            items.extend(stats);
            if job.get("job_type").and_then(Value::as_str)
                != Some(JobType::WebhookDelivery.as_str())
            {
                emit(
                    &mut items,
                    &self.table,
                    pid,
                    EventType::JobFailed,
                    job_out(&done),
                )?;
            }
            let schedule_at = items.len();
            items.extend(schedule);
            match self.transact(items).await {
                Ok(()) => return Ok(Some(done)),
                Err(StoreError::Condition(i)) if i == schedule_at && with_schedule => {
                    with_schedule = false;
                }
                Err(StoreError::Condition(0)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// A job's current status (to tell a cancel from a takeover).
    pub async fn job_status(&self, pid: Id, id: Id) -> Result<Option<JobStatus>, StoreError> {
        Ok(self.job(pid, id).await?.as_ref().map(status_of))
    }
}

impl Store {
    /// Dispatched or running jobs due for a maintenance look before `before` (RFC 3339): the
    /// lease of a running one ended, a dispatched one should have started.
    pub async fn due_jobs(&self, before: &str) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..ACTIVE_SHARDS {
            let q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :pk AND gsi2sk < :before")
                .expression_attribute_values(":pk", s(format!("ACTIVEJOB#{shard}")))
                .expression_attribute_values(":before", s(before));
            for item in self.paginate(q, None).await? {
                out.push(record_of(item)?);
            }
        }
        Ok(out)
    }

    /// Marks an indexed job as handled by maintenance (its message re-sent): due again in
    /// `STALE_SECS`, if nothing else touched it since it was read (`seen` = its gsi2sk then);
    /// a worker that claimed it meanwhile wins.
    pub async fn touch_active_job(
        &self,
        pid: Id,
        id: Id,
        status: JobStatus,
        seen: &str,
    ) -> Result<bool, StoreError> {
        let due = Timestamp::now().plus_secs(STALE_SECS).to_rfc3339();
        let up = tx::update(&JOBS.key(pid, id), "SET gsi2sk = :g2sk")
            .condition("#s = :status AND gsi2sk = :seen")
            .name("#s", "status")
            .value(":status", s(status.as_str()))
            .value(":seen", s(seen))
            .value(":g2sk", s(active_index(pid, id, &due).1))
            .build(&self.table);
        match self.transact(vec![up]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Condition(0)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
