//! The frames of API.md §7.1, built from a stored job. Every frame carries `type` and
//! `job_id`; a client can switch on `type` and ignore fields it does not know.

use serde_json::{json, Value};

use crate::domain::jobs::status_of;
use crate::store::records::Record;

fn field(job: &Record, name: &str) -> Value {
    job.get(name).cloned().unwrap_or(Value::Null)
}

fn state(kind: &str, job: &Record) -> Value {
    json!({
        "type": kind,
        "job_id": field(job, "id"),
        "status": field(job, "status"),
        "progress": job.get("progress").cloned().unwrap_or(json!(0)),
        "current_step": field(job, "current_step"),
    })
}

/// Sent once, right after the connection opened: where the job stands.
pub fn connected(job: &Record) -> Value {
    state("connected", job)
}

/// Sent on each change of status, progress or step, and on `{"action":"status"}`.
pub fn progress(job: &Record) -> Value {
    let mut v = state("progress", job);
    v["is_terminal"] = json!(status_of(job).is_terminal());
    v
}

/// Sent after a PATCH of the job.
pub fn job_update(job: &Record) -> Value {
    state("job_update", job)
}

/// Sent after the job was queued.
pub fn job_dispatched(job: &Record, delay_seconds: i64) -> Value {
    json!({
        "type": "job_dispatched",
        "job_id": field(job, "id"),
        "celery_task_id": field(job, "celery_task_id"),
        "delay_seconds": delay_seconds,
    })
}

/// Sent after the job was cancelled.
pub fn job_cancelled(job: &Record) -> Value {
    json!({"type": "job_cancelled", "job_id": field(job, "id"), "status": field(job, "status")})
}

/// Sent when the job became terminal; the last frame before the server closes.
pub fn completed(job: &Record) -> Value {
    json!({
        "type": "completed",
        "job_id": field(job, "id"),
        "status": field(job, "status"),
        "result": field(job, "result"),
        "error": field(job, "error"),
    })
}

/// What listeners of a job that was ended from outside the runner (dead letters, expired
/// leases) are told: where it stands, then `completed`.
pub fn ended(job: &Record) -> Vec<Value> {
    vec![progress(job), completed(job)]
}

/// What a change from `old` to `new` tells listeners beyond an operation's own frame: a
/// progress frame if status, progress or step changed, and `completed` once terminal.
pub fn changes(old: &Record, new: &Record) -> Vec<Value> {
    let moved = ["status", "progress", "current_step"]
        .iter()
        .any(|k| old.get(*k) != new.get(*k));
    let mut out = Vec::new();
    if moved {
        out.push(progress(new));
    }
    if status_of(new).is_terminal() && !status_of(old).is_terminal() {
        out.push(completed(new));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(v: Value) -> Record {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn frames_have_the_documented_fields() {
        let j = job(
            json!({"id": 7, "status": "running", "progress": 40, "current_step": "Importing",
                            "result": null, "error": null, "celery_task_id": "m-1", "listeners": {"c": 1}}),
        );
        assert_eq!(
            connected(&j),
            json!({"type": "connected", "job_id": 7, "status": "running", "progress": 40, "current_step": "Importing"})
        );
        assert_eq!(progress(&j)["is_terminal"], false);
        assert_eq!(job_update(&j)["type"], "job_update");
        assert_eq!(
            job_dispatched(&j, 30),
            json!({"type": "job_dispatched", "job_id": 7, "celery_task_id": "m-1", "delay_seconds": 30})
        );
        assert_eq!(
            job_cancelled(&j),
            json!({"type": "job_cancelled", "job_id": 7, "status": "running"})
        );
        assert_eq!(
            completed(&j),
            json!({"type": "completed", "job_id": 7, "status": "running", "result": null, "error": null})
        );
    }

    #[test]
    fn changes_name_progress_and_completion() {
        let old = job(json!({"id": 1, "status": "running", "progress": 10, "current_step": "a"}));
        assert!(changes(&old, &old).is_empty());
        let mut new = old.clone();
        new.insert("progress".into(), json!(20));
        let f = changes(&old, &new);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0]["type"], "progress");
        new.insert("status".into(), json!("completed"));
        let f = changes(&old, &new);
        assert_eq!(
            f.iter().map(|f| f["type"].clone()).collect::<Vec<_>>(),
            vec![json!("progress"), json!("completed")]
        );
        assert_eq!(f[0]["is_terminal"], true);
        assert!(changes(&new, &new).is_empty());
    }
}
