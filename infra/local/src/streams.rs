//! The table's DynamoDB Stream, read as Lambda's event source mapping reads it for
//! `webhook-fanout`: every shard from TRIM_HORIZON, records filtered as the template's
//! FilterCriteria filters them (inserted `EVENT#` items), handed over as a real
//! `aws_lambda_events` DynamoDB event; a failure reported for a record makes the next read
//! start at that record (ReportBatchItemFailures), after a pause.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord};
use aws_sdk_dynamodbstreams::types::{AttributeValue as S, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use commandcenter::jobs::JobState;
use serde_dynamo::AttributeValue as D;

const IDLE: Duration = Duration::from_millis(200);
const AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The streams client on the same configuration (endpoint, credentials) as the others.
pub fn client(sdk: &aws_types::SdkConfig) -> Client {
    Client::new(sdk)
}

/// Starts the fan-out poller of `table`'s stream.
pub fn spawn(state: JobState, client: Client) {
    tokio::spawn(async move {
        let table = state.config.table_name.clone();
        loop {
            match run(&state, &client, &table).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "stream poller restarts");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    });
}

async fn stream_arn(client: &Client, table: &str) -> anyhow::Result<String> {
    let out = client.list_streams().table_name(table).send().await?;
    out.streams()
        .iter()
        .find_map(|s| s.stream_arn().map(str::to_string))
        .ok_or_else(|| anyhow::anyhow!("table {table} has no stream (re-provision: make dev)"))
}

async fn iterator(
    client: &Client,
    arn: &str,
    shard: &str,
    at: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let req = client.get_shard_iterator().stream_arn(arn).shard_id(shard);
    let req = match at {
        Some(seq) => req
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(seq),
        None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
    };
    Ok(req.send().await?.shard_iterator)
}

async fn run(state: &JobState, client: &Client, table: &str) -> anyhow::Result<()> {
    let arn = stream_arn(client, table).await?;
    let shards: Vec<String> = client
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await?
        .stream_description()
        .map(|d| {
            d.shards()
                .iter()
                .filter_map(|s| s.shard_id().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    tracing::info!(
        shards = shards.len(),
        "reading the table's stream for the webhook fan-out"
    );
    let mut iterators: HashMap<String, Option<String>> = HashMap::new();
    for shard in &shards {
        iterators.insert(shard.clone(), iterator(client, &arn, shard, None).await?);
    }
    loop {
        let mut busy = false;
        for shard in &shards {
            let Some(Some(it)) = iterators.get(shard).cloned() else {
                continue;
            };
            let out = client
                .get_records()
                .shard_iterator(it)
                .limit(100)
                .send()
                .await?;
            let records: Vec<EventRecord> = out.records().iter().filter_map(to_lambda).collect();
            let mut next = out.next_shard_iterator().map(str::to_string);
            if !out.records().is_empty() {
                busy = true;
            }
            if !records.is_empty() {
                let mut event = Event::default();
                event.records = records;
                let (response, report) =
                    commandcenter::webhooks::fanout::handle(state, event).await;
                tracing::debug!(?report, "fan-out batch");
                if let Some(seq) = response
                    .batch_item_failures
                    .first()
                    .and_then(|f| f.item_identifier.clone())
                {
                    tokio::time::sleep(AFTER_FAILURE).await;
                    next = iterator(client, &arn, shard, Some(&seq)).await?;
                }
            }
            iterators.insert(shard.clone(), next);
        }
        if !busy {
            tokio::time::sleep(IDLE).await;
        }
    }
}

/// Every record of `table`'s stream so far, as Lambda would hand them over after the
/// template's filter (tests fan out with this).
pub async fn read_events(client: &Client, table: &str) -> anyhow::Result<Vec<EventRecord>> {
    let arn = stream_arn(client, table).await?;
    let desc = client.describe_stream().stream_arn(&arn).send().await?;
    let mut all = Vec::new();
    for shard in desc
        .stream_description()
        .map(|d| d.shards())
        .unwrap_or_default()
    {
        let Some(id) = shard.shard_id() else { continue };
        let mut it = iterator(client, &arn, id, None).await?;
        while let Some(i) = it {
            let out = client
                .get_records()
                .shard_iterator(i)
                .limit(1000)
                .send()
                .await?;
            if out.records().is_empty() {
                break;
            }
            all.extend(out.records().iter().filter_map(to_lambda));
            it = out.next_shard_iterator().map(str::to_string);
        }
    }
    Ok(all)
}

/// A stream record in Lambda's shape, if the template's filter passes it (INSERT of an
/// `EVENT#` item).
pub fn to_lambda(r: &Record) -> Option<EventRecord> {
    let name = r.event_name()?.as_str().to_string();
    let change = r.dynamodb()?;
    let keys = change.keys()?;
    let is_event = matches!(keys.get("sk"), Some(S::S(sk)) if sk.starts_with("EVENT#"));
    if name != "INSERT" || !is_event {
        return None;
    }
    let mut record = EventRecord::default();
    record.event_name = name;
    record.event_id = r.event_id().unwrap_or_default().to_string();
    record.event_source = r.event_source().map(str::to_string);
    record.aws_region = r.aws_region().unwrap_or_default().to_string();
    let mut stream = StreamRecord::default();
    stream.keys = item(keys);
    stream.new_image = item(change.new_image().unwrap_or(&HashMap::new()));
    stream.sequence_number = change.sequence_number().map(str::to_string);
    record.change = stream;
    Some(record)
}

fn item(m: &HashMap<String, S>) -> serde_dynamo::Item {
    m.iter()
        .map(|(k, v)| (k.clone(), value(v)))
        .collect::<HashMap<_, _>>()
        .into()
}

fn value(v: &S) -> D {
    match v {
        S::S(s) => D::S(s.clone()),
        S::N(n) => D::N(n.clone()),
        S::Bool(b) => D::Bool(*b),
        S::Null(b) => D::Null(*b),
        S::B(b) => D::B(b.clone().into_inner()),
        S::M(m) => D::M(m.iter().map(|(k, v)| (k.clone(), value(v))).collect()),
        S::L(l) => D::L(l.iter().map(value).collect()),
        S::Ss(l) => D::Ss(l.clone()),
        S::Ns(l) => D::Ns(l.clone()),
        S::Bs(l) => D::Bs(l.iter().map(|b| b.clone().into_inner()).collect()),
        _ => D::Null(true),
    }
}
