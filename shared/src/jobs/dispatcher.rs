//! worker-schedule-dispatcher (EventBridge, every minute; API.md §9 "Dispatcher").
//!
//! Each tick: (1) jobs due for a re-send are sent (a schedule job whose message could not be
//! sent last tick is made due at once; the same pass maintenance runs, so a lease that ran out
//! is also noticed within a minute); (2) the schedules due by now come from the sparse due index
//! (one Query per shard, no Scan); (3) each is run in ONE transaction — the schedule advanced
//! (next run from now, last_run_at, run_count + 1) on condition that it is still due where it
//! was seen, with its pending job and every counter — at most `CONCURRENCY` at once, so two
//! ticks racing (EventBridge delivers at least once) create exactly one job per due time and a
//! schedule that missed several times runs once; (4) the jobs are sent ten per
//! SendMessageBatch. A schedule found past its end_time is disabled without a run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::JobState;
use crate::domain::jobs::JobType;
use crate::domain::schedule::{self as rules, timing_of, Frequency};
use crate::domain::validate::EnumValues;
use crate::domain::Timestamp;
use crate::queue::{JobMessage, Queues};
use crate::store::records::{id_of, Record};
use crate::store::schedules::{Advance, RunError, Trigger};
use crate::store::{Store, StoreError};

/// Run transactions in flight at once.
pub const CONCURRENCY: usize = 32;
/// Schedules run before their jobs are sent (then the next chunk).
pub const CHUNK: usize = 320;
/// Time after which a tick starts no new chunk; what is left is due at the next tick (the
/// function times out after 120 s, and the next tick comes after 60).
pub const RUN_BUDGET: Duration = Duration::from_secs(45);

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// Schedules found due.
    pub due: usize,
    /// Jobs created (one per schedule run).
    pub runs: usize,
    /// Schedules another run (or a change) got to first, or whose project is being deleted.
    pub skipped: usize,
    /// Schedules disabled because their end_time passed.
    pub ended: usize,
    /// Jobs whose message could not be sent: made due, the next tick sends them.
    pub send_failures: usize,
    /// Schedules left for the next tick (the time budget ran out).
    pub deferred: usize,
    /// Stuck jobs sent again (the maintenance pass).
    pub resent: usize,
    pub query_ms: u128,
    pub run_ms: u128,
    pub send_ms: u128,
    pub duration_ms: u128,
}

/// What became of one due schedule.
enum Done {
    Ran(Record),
    Skipped,
    Ended,
}

fn text<'a>(r: &'a Record, k: &str) -> Option<&'a str> {
    r.get(k).and_then(Value::as_str)
}

/// Runs (or ends) one due schedule as the index showed it.
async fn dispatch(store: &Store, schedule: Record, now: Timestamp) -> Result<Done, StoreError> {
    let Some(seen) = text(&schedule, "gsi2sk").map(str::to_string) else {
        return Ok(Done::Skipped);
    };
    let Some(timing) = timing_of(&schedule) else {
        tracing::warn!(
            schedule_id = id_of(&schedule),
            "due schedule without a valid timing"
        );
        return Ok(Done::Skipped);
    };
    let past_end = timing.end_time.is_some_and(|end| now >= end);
    let due = text(&schedule, "next_run_at")
        .and_then(Timestamp::parse)
        .is_some_and(|t| t <= now);
    if past_end {
        return Ok(if store.end_schedule(&schedule, &seen).await? {
            Done::Ended
        } else {
            Done::Skipped
        });
    }
    let started = timing.start_time.is_none_or(|s| s <= now);
    if !due || !started {
        return Ok(Done::Skipped);
    }
    let advance = if timing.frequency == Frequency::Once {
        Advance {
            next_run_at: None,
            enabled: false,
        }
    } else {
        // Missed times are not made up: the next run is the first one after now.
        let next = rules::next_run(&timing, now).ok().flatten();
        Advance {
            next_run_at: next.map(|t| t.to_rfc3339()),
            enabled: true,
        }
    };
    match store
        .run_schedule(&schedule, &Trigger::Due { seen }, Some(&advance), now)
        .await
    {
        Ok(job) => Ok(Done::Ran(job)),
        Err(RunError::Changed | RunError::ProjectGone) => Ok(Done::Skipped),
        Err(RunError::Store(e)) => Err(e),
    }
}

/// Sends the jobs of schedule runs, ten per SendMessageBatch; a job whose message could not
/// be sent is made due at once (the next tick sends it). Returns how many failed.
pub async fn send_runs(store: &Store, queues: &Queues, jobs: &[Record]) -> usize {
    let mut by_type: HashMap<JobType, Vec<(JobMessage, &Record)>> = HashMap::new();
    for job in jobs {
        let Some(job_type) = text(job, "job_type").and_then(JobType::parse) else {
            continue;
        };
        let msg = JobMessage {
            job_id: id_of(job),
            project_id: job.get("project_id").and_then(Value::as_u64).unwrap_or(0),
            job_type,
            not_before: None,
        };
        by_type.entry(job_type).or_default().push((msg, job));
    }
    let mut failures = 0;
    for (job_type, batch) in by_type {
        let msgs: Vec<JobMessage> = batch.iter().map(|(m, _)| m.clone()).collect();
        let results = match queues.send_jobs(job_type, &msgs).await {
            Ok(results) => results,
            Err(e) => vec![Err(e.to_string()); msgs.len()],
        };
        for ((_, job), result) in batch.iter().zip(results) {
            if let Err(e) = result {
                failures += 1;
                tracing::warn!(job_id = id_of(job), error = %e, "schedule job not sent; the next tick sends it");
                if let Err(e) = store.job_due_now(job).await {
                    tracing::warn!(job_id = id_of(job), error = %e, "could not mark the job for a re-send; maintenance sends it");
                }
            }
        }
    }
    failures
}

/// One dispatcher tick.
pub async fn run(state: &JobState) -> Result<Report, StoreError> {
    let started = Instant::now();
    let mut report = Report {
        resent: Box::pin(super::maintenance::resend_stuck_jobs(state))
            .await?
            .resent,
        ..Report::default()
    };
    let now = Timestamp::now();
    let due = state.store.due_schedules(&now.to_rfc3339()).await?;
    report.due = due.len();
    report.query_ms = started.elapsed().as_millis();
    let deadline = started + RUN_BUDGET;
    let store = &state.store;
    let mut first_error = None;
    let (mut run_time, mut send_time) = (Duration::ZERO, Duration::ZERO);
    // A chunk's jobs are sent before the next chunk runs: a tick killed mid-way (timeout) leaves
    // at most one chunk's jobs unsent, which the re-send pass sends `STALE_SECS` later (jobs
    // whose send failed are made due at once and go with the next tick).
    for chunk in due.chunks(CHUNK) {
        if Instant::now() >= deadline {
            report.deferred += chunk.len();
            continue;
        }
        let chunk_started = Instant::now();
        let mut runs = futures::stream::iter(
            chunk
                .iter()
                .cloned()
                .map(|schedule| dispatch(store, schedule, now)),
        )
        .buffer_unordered(CONCURRENCY);
        let mut jobs = Vec::new();
        while let Some(done) = runs.next().await {
            match done {
                Ok(Done::Ran(job)) => jobs.push(job),
                Ok(Done::Skipped) => report.skipped += 1,
                Ok(Done::Ended) => report.ended += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "a due schedule could not be run; it stays due");
                    report.deferred += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        drop(runs);
        report.runs += jobs.len();
        let sending = Instant::now();
        run_time += sending - chunk_started;
        report.send_failures += send_runs(&state.store, &state.queues, &jobs).await;
        send_time += sending.elapsed();
    }
    report.run_ms = run_time.as_millis();
    report.send_ms = send_time.as_millis();
    report.duration_ms = started.elapsed().as_millis();
    tracing::info!(
        due = report.due,
        runs = report.runs,
        skipped = report.skipped,
        ended = report.ended,
        deferred = report.deferred,
        send_failures = report.send_failures,
        resent = report.resent,
        duration_ms = report.duration_ms as u64,
        "schedule dispatcher tick"
    );
    // Runs that happened are reported (and their jobs sent) even when others failed; a tick
    // where nothing could be done is an error (logged and alarmed on as a failed invocation;
    // the next tick finds the same schedules due).
    match first_error {
        Some(e) if report.runs == 0 && report.ended == 0 => Err(e),
        _ => Ok(report),
    }
}
