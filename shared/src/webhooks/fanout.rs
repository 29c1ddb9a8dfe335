//! `webhook-fanout`: the table's DynamoDB Stream, filtered to inserted event items, becomes
//! deliveries. Every event `events::emit` recorded in a write's own transaction reaches the
//! stream once the write committed — even if the writing process died right after — and
//! each (event, config) pair has exactly one delivery (its origin marker), so a replayed
//! batch creates nothing twice; a delivery created but not yet queued is queued again.

use std::collections::HashMap;

use super::{create, create_with, never_attempted, queue_all, CreateError, Created, NewDelivery};
use crate::domain::webhook::config_matches;
use crate::domain::Id;
use crate::events::{StoredEvent, EVENT_PREFIX};
use crate::jobs::JobState;
use crate::store::kinds::WEBHOOK_CONFIGS;
use crate::store::records::{id_of, Record};
use crate::store::StoreError;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_json::Value;

/// What one batch did (logged; the dev server reports it).
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub events: usize,
    pub created: usize,
    pub queued: usize,
    /// Deliveries recorded failed because the event's data does not fit one.
    pub too_large: usize,
    pub failed: Option<String>,
}

/// Handles one stream batch. On a failure the record's sequence number is reported and the
/// rest of the batch left alone: Lambda (and the dev server) hands the batch over again from
/// that record, and what was already done is found done.
pub async fn handle(state: &JobState, event: Event) -> (DynamoDbEventResponse, Report) {
    let mut report = Report::default();
    let mut configs: HashMap<Id, Vec<Record>> = HashMap::new();
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let Some(ev) = event_of(&record) else {
            continue;
        };
        report.events += 1;
        if let Err(e) = fan_out(state, &ev, &mut configs, &mut report).await {
            tracing::warn!(event_id = ev.id, project_id = ev.project_id, error = %e, "fan-out failed; the batch is retried from this event");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            report.failed = Some(e);
            break;
        }
    }
    (response, report)
}

/// The event item an inserted stream record carries (None for anything else: the filter on
/// AWS passes only these, the dev server hands over every record).
pub fn event_of(record: &EventRecord) -> Option<StoredEvent> {
    if record.event_name != "INSERT" {
        return None;
    }
    let image = &record.change.new_image;
    let sk: String = image
        .get("sk")
        .and_then(|v| serde_dynamo::from_attribute_value(v.clone()).ok())?;
    if !sk.starts_with(EVENT_PREFIX) {
        return None;
    }
    match serde_dynamo::from_item(image.clone()) {
        Ok(ev) => Some(ev),
        Err(e) => {
            tracing::warn!(sk, error = %e, "an event item that does not parse is skipped");
            None
        }
    }
}

async fn fan_out(
    state: &JobState,
    ev: &StoredEvent,
    configs: &mut HashMap<Id, Vec<Record>>,
    report: &mut Report,
) -> Result<(), String> {
    let pid = ev.project_id;
    if let std::collections::hash_map::Entry::Vacant(slot) = configs.entry(pid) {
        let list = state
            .store
            .records(pid, WEBHOOK_CONFIGS.prefix)
            .await
            .map_err(|e| e.to_string())?;
        slot.insert(list);
    }
    let matching: Vec<&Record> = configs[&pid]
        .iter()
        .filter(|c| config_matches(c, &ev.event_type, &ev.data))
        .collect();
    let mut to_queue = Vec::new();
    for config in matching {
        let new = |data: Value| NewDelivery {
            config,
            event_type: &ev.event_type,
            data,
            emitted_at: ev.created_at.to_rfc3339(),
            target_url: super::text(config, "webhook_url").to_string(),
            origin: format!("event:{}:{}", ev.id, id_of(config)),
        };
        let created = match create(&state.store, pid, new(ev.data.clone())).await {
            // The event's data fitted its own item but not a delivery's (its fields on top):
            // it never will, so the delivery is recorded failed without the data (visible in
            // the API and the statistics) instead of holding up the stream behind it.
            Err(CreateError::Store(StoreError::TooLarge { size, .. })) => {
                tracing::error!(
                    event_id = ev.id,
                    config_id = id_of(config),
                    size,
                    "event too large to deliver"
                );
                report.too_large += 1;
                let why = format!("Event data too large to deliver ({size} bytes)");
                let empty = Value::Object(Default::default());
                create_with(&state.store, pid, new(empty), Some(why)).await
            }
            other => other,
        };
        match created {
            Ok(Created::New(d)) => {
                report.created += 1;
                if never_attempted(&d) {
                    to_queue.push(d);
                }
            }
            // Created by an earlier run of this batch that may have died before queueing.
            Ok(Created::Existing(d)) if never_attempted(&d) => to_queue.push(d),
            Ok(Created::Existing(_)) => {}
            // Deleted since it was read: nothing to deliver to.
            Err(CreateError::ConfigGone(_)) => {}
            Err(CreateError::Store(e)) => return Err(e.to_string()),
        }
    }
    let unsent = queue_all(&state.queues, &to_queue)
        .await
        .map_err(|e| e.to_string())?;
    report.queued += to_queue.len() - unsent;
    if unsent > 0 {
        return Err(format!("{unsent} deliveries could not be queued"));
    }
    Ok(())
}
