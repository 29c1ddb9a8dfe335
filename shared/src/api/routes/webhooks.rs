//! `/api/v1/webhooks` (API.md §10.2): outbound webhook configs, deliveries and statistics.
//! Deliveries themselves are made by `webhooks::fanout` and `webhooks::deliver`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonObject, NumberedPage, QueryMap, NUMBERED_PAGE};
use crate::api::scope::{ItemAccess, ItemKind, ProjectScope};
use crate::api::AppState;
use crate::domain::validate::{EnumValues, FieldError, Fields, Kind, Spec};
use crate::domain::webhook::{
    check_target, event_repository, subscribes, unknown_event, DeliveryStatus, TargetError,
    CONFIG_FIELDS, CONFIG_OUT, DELIVERY_OUT, SECRET,
};
use crate::domain::{Id, Timestamp};
use crate::store::kinds::{REPOSITORIES, WEBHOOK_CONFIGS, WEBHOOK_DELIVERIES};
use crate::store::records::{
    id_of, Cascade, Record, CHECK_BASE, CREATE_MARKER_INDEX, UPDATE_MARKER_INDEX,
};
use crate::store::StoreError;
use crate::webhooks::{self as hooks, config_status, CreateError, Created, NewDelivery};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_configs, create_config))
        .routes(routes!(get_config, update_config, delete_config))
        .routes(routes!(list_deliveries, create_delivery))
        .routes(routes!(get_delivery))
        .routes(routes!(retry_delivery))
        .routes(routes!(statistics))
        .merge(super::webhooks_inbound::event_routes())
}

pub struct Config;
impl ItemKind for Config {
    const PREFIX: &'static str = WEBHOOK_CONFIGS.prefix;
    const CODE: &'static str = "webhook_config";
    const LABEL: &'static str = "Webhook configuration";
    const PARAM: &'static str = "config_id";
}

pub struct Delivery;
impl ItemKind for Delivery {
    const PREFIX: &'static str = WEBHOOK_DELIVERIES.prefix;
    const CODE: &'static str = "webhook_delivery";
    const LABEL: &'static str = "Webhook delivery";
    const PARAM: &'static str = "delivery_id";
}

crate::record_schema!(
    /// WebhookConfigCreate (API.md §10.2), with the optional body project_id.
    pub WebhookConfigCreate: Create = &[CONFIG_FIELDS, SECRET, super::PROJECT_ID]
);
crate::record_schema!(
    /// Any WebhookConfigCreate field but project_id.
    pub WebhookConfigUpdate: Update = &[CONFIG_FIELDS, SECRET]
);
crate::record_schema!(pub WebhookConfig: Response = CONFIG_OUT);
const WITH_SECRET: &[Spec] = &[Spec::req("secret", Kind::Str { min: 16, max: 256 })];
crate::record_schema!(
    /// A created config: the only response that carries its secret.
    pub WebhookConfigCreated: Response = &[CONFIG_OUT[0], CONFIG_OUT[1], CONFIG_OUT[2], WITH_SECRET]
);
crate::record_schema!(pub WebhookDelivery: Response = DELIVERY_OUT);

const DELIVERY_CREATE: &[Spec] = &[
    Spec::req("config_id", Kind::Id),
    Spec::req("event_type", Kind::Str { min: 1, max: 100 }),
    Spec::req("payload", Kind::Obj),
    Spec::opt("target_url", Kind::Str { min: 1, max: 512 }),
];
crate::record_schema!(
    /// A manual delivery: payload becomes the envelope's data.
    pub WebhookDeliveryCreate: Create = &[DELIVERY_CREATE, super::PROJECT_ID]
);

const CONFIG_FILTERS: &[Spec] = &[Spec::opt("repository_id", Kind::Id)];
crate::query_params!(pub ConfigQuery [CONFIG_FILTERS]);

const STATUS_VALUES: &[&str] = &[
    "pending",
    "delivering",
    "delivered",
    "retrying",
    "failed",
    "exhausted",
];
const DELIVERY_FILTERS: &[Spec] = &[
    Spec::opt("config_id", Kind::Id),
    Spec::opt("event_type", Kind::Str { min: 1, max: 100 }),
    Spec::opt("status_filter", Kind::Enum(STATUS_VALUES)),
];
crate::query_params!(
    /// Filters (AND) and page (page ≥ 1, page_size 1..100).
    pub DeliveryQuery [DELIVERY_FILTERS, &NUMBERED_PAGE]
);
const STATS_FILTERS: &[Spec] = &[Spec::opt("config_id", Kind::Id)];
crate::query_params!(pub StatisticsQuery [STATS_FILTERS]);

/// A page of deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    #[schema(value_type = Vec<WebhookDelivery>)]
    deliveries: Vec<Value>,
    total: usize,
    page: i64,
    page_size: i64,
}

/// A manual retry's answer.
#[derive(Serialize, ToSchema)]
pub struct RetryScheduled {
    /// `scheduled`
    status: &'static str,
    delivery_id: Id,
    /// `Delivery scheduled for retry`
    message: &'static str,
}

/// Final deliveries of a project (or of one config).
#[derive(Serialize, ToSchema)]
pub struct Statistics {
    total_configs: i64,
    total_deliveries: i64,
    /// delivered
    successful_deliveries: i64,
    /// failed + exhausted
    failed_deliveries: i64,
    /// successful / total × 100, 2 decimals (0.0 without deliveries)
    success_rate: f64,
}

pub fn config_out(r: &Record) -> Value {
    crate::domain::shape_of(r, CONFIG_OUT)
}

pub fn delivery_out(r: &Record) -> Value {
    crate::domain::shape_of(r, DELIVERY_OUT)
}

fn exists() -> ApiError {
    ApiError::conflict(
        "webhook_config_exists",
        "Webhook configuration already exists for this URL",
    )
}

fn not_allowed() -> ApiError {
    ApiError::bad_request("target_not_allowed", "Target address not allowed")
}

/// The §10.3 rule on a URL field: not a URL → 422 naming it; refused → 400 (after the
/// other field errors, which come first).
fn check_url(
    state: &AppState,
    f: &mut Fields<'_>,
    field: &str,
    url: Option<&str>,
) -> Result<(), ApiError> {
    let Some(url) = url else {
        return Ok(());
    };
    match check_target(url, state.config.webhook_allow_private_targets) {
        Ok(()) => Ok(()),
        Err(TargetError::Invalid) => {
            f.push(FieldError::value_error(
                &["body", field],
                format!("Value error, {field} must be an https:// URL"),
            ));
            Ok(())
        }
        Err(TargetError::NotAllowed) => Err(not_allowed()),
    }
}

/// The uniqueness key of a config: (repository_id, webhook_url) per project.
fn target_key(r: &Record) -> String {
    let repo = r
        .get("repository_id")
        .and_then(Value::as_u64)
        .map(|id| id.to_string())
        .unwrap_or_default();
    format!(
        "{repo}|{}",
        r.get("webhook_url").and_then(Value::as_str).unwrap_or("")
    )
}

/// A new signing secret: `whsec_` + base64 of 32 random bytes.
fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn check_events(f: &mut Fields<'_>, r: &Record) {
    let events = r.get("events").and_then(Value::as_array);
    if let Some(e) = events.and_then(|list| unknown_event(list)) {
        f.push(FieldError::value_error(
            &["body", "events"],
            format!("Value error, Unknown event type: {e}"),
        ));
    }
}

/// Create a webhook config.
#[utoipa::path(post, path = "/api/v1/webhooks/configs", tag = "webhooks", security(("bearer" = [])),
    params(ProjectScope), request_body = WebhookConfigCreate,
    responses((status = 201, body = WebhookConfigCreated, description = "Created; the secret is shown only here"),
        (status = 400, description = "target_not_allowed: Target address not allowed"),
        (status = 404, description = "repository_not_found (repository_id)"),
        (status = 409, description = "webhook_config_exists: Webhook configuration already exists for this URL")))]
async fn create_config(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let mut record = f.record(CONFIG_FIELDS, true);
    let secret = f.record(SECRET, false);
    let body_pid = super::body_project(&mut f);
    check_events(&mut f, &record);
    let url = record
        .get("webhook_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let refused = check_url(&state, &mut f, "webhook_url", url.as_deref());
    f.finish()?;
    refused?;
    let scope = scope.resolve(&state, body_pid, &[]).await?;
    let pid = scope.id();
    let secret = secret
        .get("secret")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(new_secret);
    let sealed = state.sealer.seal(pid, &secret).await?;
    let now = Timestamp::now().to_rfc3339();
    record.insert("webhook_id".into(), Value::Null);
    record.insert("last_delivery_at".into(), Value::Null);
    record.insert("secret_sealed".into(), Value::from(sealed));
    record.insert("target_key".into(), Value::from(target_key(&record)));
    record.insert("created_at".into(), Value::from(now.clone()));
    record.insert("updated_at".into(), Value::from(now));
    let repo = record.get("repository_id").and_then(Value::as_u64);
    let must_exist: Vec<_> = repo.map(|r| REPOSITORIES.key(pid, r)).into_iter().collect();
    match state
        .store
        .create_record(&WEBHOOK_CONFIGS, pid, record, |_| Vec::new(), &must_exist)
        .await
    {
        Ok(r) => {
            let mut out = config_out(&r);
            if let Value::Object(o) = &mut out {
                o.insert("secret".into(), Value::from(secret));
            }
            Ok((StatusCode::CREATED, Json(out)))
        }
        Err(StoreError::Condition(CREATE_MARKER_INDEX)) => Err(exists()),
        Err(StoreError::Condition(CHECK_BASE)) => Err(ApiError::not_found(
            "repository",
            "Repository",
            repo.unwrap_or_default(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A project's webhook configs, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/configs", tag = "webhooks", security(("bearer" = [])),
    params(ConfigQuery, ProjectScope),
    responses((status = 200, body = Vec<WebhookConfig>, description = "created_at desc")))]
async fn list_configs(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Vec<Value>>> {
    let mut f = query.fields();
    let filters = f.record(CONFIG_FILTERS, false);
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let repo = filters.get("repository_id").and_then(Value::as_u64);
    let mut all = state
        .store
        .records(scope.id(), WEBHOOK_CONFIGS.prefix)
        .await?;
    all.retain(|c| repo.is_none_or(|r| c.get("repository_id").and_then(Value::as_u64) == Some(r)));
    // Ids grow with creation time: newest first.
    all.sort_by_key(|c| std::cmp::Reverse(id_of(c)));
    Ok(Json(all.iter().map(config_out).collect()))
}

/// One webhook config (without its secret).
#[utoipa::path(get, path = "/api/v1/webhooks/configs/{config_id}", tag = "webhooks", security(("bearer" = [])),
    params(("config_id" = i64, Path)),
    responses((status = 200, body = WebhookConfig), (status = 404, description = "webhook_config_not_found")))]
async fn get_config(item: ItemAccess<Config>) -> Json<Value> {
    Json(config_out(&item.record))
}

/// Update a webhook config (any create field but project_id; a new secret replaces the old).
#[utoipa::path(patch, path = "/api/v1/webhooks/configs/{config_id}", tag = "webhooks", security(("bearer" = [])),
    params(("config_id" = i64, Path)), request_body = WebhookConfigUpdate,
    responses((status = 200, body = WebhookConfig), (status = 404, description = "webhook_config_not_found; repository_not_found (repository_id)"),
        (status = 400, description = "target_not_allowed: Target address not allowed"),
        (status = 409, description = "webhook_config_exists: Webhook configuration already exists for this URL")))]
async fn update_config(
    State(state): State<AppState>,
    item: ItemAccess<Config>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let mut f = body.fields();
    let mut changes = f.record(CONFIG_FIELDS, false);
    let secret = f.record(SECRET, false);
    check_events(&mut f, &changes);
    let url = changes
        .get("webhook_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let refused = check_url(&state, &mut f, "webhook_url", url.as_deref());
    f.finish()?;
    refused?;
    let pid = item.scope.id();
    if let Some(secret) = secret.get("secret").and_then(Value::as_str) {
        let sealed = state.sealer.seal(pid, secret).await?;
        changes.insert("secret_sealed".into(), Value::from(sealed));
    }
    let repo = changes.get("repository_id").and_then(Value::as_u64);
    let result = super::update_retrying::<Config>(
        &state,
        &WEBHOOK_CONFIGS,
        item,
        |old| {
            let mut new = super::overlay(old, &changes);
            new.insert("target_key".into(), Value::from(target_key(&new)));
            new
        },
        |_, _| Vec::new(),
        || {
            repo.map(|r| {
                crate::store::tx::check_exists(&REPOSITORIES.key(pid, r), &state.store.table)
            })
            .into_iter()
            .collect()
        },
    )
    .await?;
    match result {
        Ok(new) => Ok(Json(config_out(&new))),
        Err(StoreError::Condition(UPDATE_MARKER_INDEX))
            if changes.contains_key("webhook_url") || changes.contains_key("repository_id") =>
        {
            Err(exists())
        }
        Err(StoreError::Condition(_)) if repo.is_some() => Err(ApiError::not_found(
            "repository",
            "Repository",
            repo.unwrap_or_default(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Delete a webhook config and its deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/configs/{config_id}", tag = "webhooks", security(("bearer" = [])),
    params(("config_id" = i64, Path)),
    responses((status = 204, description = "Deleted with its deliveries"), (status = 404, description = "webhook_config_not_found")))]
async fn delete_config(
    State(state): State<AppState>,
    item: ItemAccess<Config>,
) -> ApiResult<StatusCode> {
    match state
        .store
        .delete_cascade(
            &WEBHOOK_CONFIGS,
            item.scope.id(),
            item.record,
            Some((&WEBHOOK_DELIVERIES, "config_id")),
            |_| true,
            |_| Vec::new(),
        )
        .await?
    {
        Cascade::Deleted(_) => Ok(StatusCode::NO_CONTENT),
        Cascade::Gone | Cascade::Refused(_) => Err(ItemAccess::<Config>::not_found(item.id)),
    }
}

/// Send a payload to a config now (pending, attempt 1, queued).
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(ProjectScope), request_body = WebhookDeliveryCreate,
    responses((status = 201, body = WebhookDelivery, description = "pending, attempt 1, queued"),
        (status = 400, description = "config_inactive: Webhook configuration <id> is inactive; event_not_subscribed: Event type not subscribed or filtered; target_not_allowed: Target address not allowed"),
        (status = 404, description = "webhook_config_not_found")))]
async fn create_delivery(
    State(state): State<AppState>,
    scope: ProjectScope,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut f = body.fields();
    let req = f.record(DELIVERY_CREATE, true);
    let body_pid = super::body_project(&mut f);
    let target = req
        .get("target_url")
        .and_then(Value::as_str)
        .map(str::to_string);
    let refused = check_url(&state, &mut f, "target_url", target.as_deref());
    f.finish()?;
    refused?;
    let config_id = req
        .get("config_id")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let scope = scope
        .resolve_with(&state, body_pid, |pid| {
            vec![WEBHOOK_CONFIGS.key(pid, config_id)]
        })
        .await?;
    let pid = scope.id();
    let config = match scope.found.get(&WEBHOOK_CONFIGS.key(pid, config_id)) {
        Some(item) => crate::store::records::record_of(item.clone())?,
        None => return Err(ItemAccess::<Config>::not_found(config_id)),
    };
    let event_type = req
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payload = req.get("payload").cloned().unwrap_or(Value::Null);
    check_deliverable(&config, Some((event_type, &payload)))?;
    let now = Timestamp::now().to_rfc3339();
    let new = NewDelivery {
        config: &config,
        event_type,
        data: payload,
        emitted_at: now,
        target_url: target.unwrap_or_else(|| hooks::text(&config, "webhook_url").to_string()),
        origin: format!("manual:{}", uuid::Uuid::new_v4()),
    };
    let delivery = match hooks::create(&state.store, pid, new).await {
        Ok(Created::New(d) | Created::Existing(d)) => d,
        Err(CreateError::ConfigGone(id)) => return Err(ItemAccess::<Config>::not_found(id)),
        Err(CreateError::Store(e)) => return Err(e.into()),
    };
    hooks::queue(&state.queues, &delivery).await?;
    Ok((StatusCode::CREATED, Json(delivery_out(&delivery))))
}

/// 400 config_inactive / event_not_subscribed: whether `config` takes this event now.
fn check_deliverable(config: &Record, event: Option<(&str, &Value)>) -> ApiResult<()> {
    if config.get("active").and_then(Value::as_bool) != Some(true) {
        return Err(ApiError::bad_request(
            "config_inactive",
            format!("Webhook configuration {} is inactive", id_of(config)),
        ));
    }
    if let Some((event_type, data)) = event {
        let events = config
            .get("events")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let repo_ok = match config.get("repository_id").and_then(Value::as_u64) {
            None => true,
            Some(r) => event_repository(event_type, data) == Some(r),
        };
        if !subscribes(events, event_type) || !repo_ok {
            return Err(ApiError::bad_request(
                "event_not_subscribed",
                "Event type not subscribed or filtered",
            ));
        }
    }
    Ok(())
}

/// A project's deliveries: filtered, newest first, a page.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(DeliveryQuery, ProjectScope),
    responses((status = 200, body = DeliveryPage, description = "created_at desc")))]
async fn list_deliveries(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<DeliveryPage>> {
    let mut f = query.fields();
    let q = f.record(DELIVERY_FILTERS, true);
    let page = NumberedPage::of(&f.record(&NUMBERED_PAGE, true));
    f.finish()?;
    let scope = scope.resolve(&state, None, &[]).await?;
    let wanted = |k: &str| q.get(k).filter(|v| !v.is_null());
    let (config, event, status) = (
        wanted("config_id"),
        wanted("event_type"),
        wanted("status_filter"),
    );
    let mut all = state
        .store
        .records(scope.id(), WEBHOOK_DELIVERIES.prefix)
        .await?;
    all.retain(|d| {
        config.is_none_or(|c| d.get("config_id") == Some(c))
            && event.is_none_or(|e| d.get("event_type") == Some(e))
            && status.is_none_or(|s| d.get("status") == Some(s))
    });
    all.sort_by_key(|d| std::cmp::Reverse(id_of(d)));
    Ok(Json(DeliveryPage {
        total: all.len(),
        deliveries: page.slice(&all).map(delivery_out).collect(),
        page: page.page,
        page_size: page.page_size,
    }))
}

/// One delivery.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries/{delivery_id}", tag = "webhooks", security(("bearer" = [])),
    params(("delivery_id" = i64, Path)),
    responses((status = 200, body = WebhookDelivery), (status = 404, description = "webhook_delivery_not_found")))]
async fn get_delivery(item: ItemAccess<Delivery>) -> Json<Value> {
    Json(delivery_out(&item.record))
}

/// Retry a failed, exhausted or retrying delivery now, with a fresh retry budget.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{delivery_id}/retry", tag = "webhooks", security(("bearer" = [])),
    params(("delivery_id" = i64, Path)),
    responses((status = 202, body = RetryScheduled, description = "pending, due now, queued"),
        (status = 400, description = "delivery_not_retryable: Cannot retry delivery with status '<s>'; config_inactive: Webhook configuration <id> is inactive"),
        (status = 404, description = "webhook_delivery_not_found")))]
async fn retry_delivery(
    State(state): State<AppState>,
    item: ItemAccess<Delivery>,
) -> ApiResult<(StatusCode, Json<RetryScheduled>)> {
    let (pid, id) = (item.scope.id(), item.id);
    let config_id = item
        .record
        .get("config_id")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let config = state
        .store
        .get(&WEBHOOK_CONFIGS.key(pid, config_id))
        .await?;
    let config = match config {
        Some(c) => crate::store::records::record_of(c)?,
        None => {
            return Err(ApiError::bad_request(
                "config_inactive",
                format!("Webhook configuration {config_id} is inactive"),
            ))
        }
    };
    let not_retryable = |s: &str| {
        ApiError::bad_request(
            "delivery_not_retryable",
            format!("Cannot retry delivery with status '{s}'"),
        )
    };
    let status = hooks::text(&item.record, "status").to_string();
    let allowed = [
        DeliveryStatus::Failed,
        DeliveryStatus::Exhausted,
        DeliveryStatus::Retrying,
    ];
    if !allowed.iter().any(|a| a.as_str() == status) {
        return Err(not_retryable(&status));
    }
    check_deliverable(&config, None)?;
    let now = Timestamp::now().to_rfc3339();
    // The status that refused the retry on the last read (a concurrent change may end or
    // retry it first: then the write leaves it as it is and the answer is 400).
    let refused: std::sync::Mutex<Option<String>> = Default::default();
    let result = super::update_retrying::<Delivery>(
        &state,
        &WEBHOOK_DELIVERIES,
        item,
        |old| {
            let mut new = old.clone();
            let status = hooks::text(old, "status");
            if !allowed.iter().any(|a| a.as_str() == status) {
                *refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(status.to_string());
                return new;
            }
            *refused.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let attempt = hooks::num(old, "attempt_number").max(1);
            // A retrying delivery's next attempt is already numbered; an ended one's is the next.
            let next = if hooks::text(old, "status") == DeliveryStatus::Retrying.as_str() {
                attempt
            } else {
                attempt + 1
            };
            new.insert(
                "status".into(),
                Value::from(DeliveryStatus::Pending.as_str()),
            );
            new.insert(
                "config_status".into(),
                Value::from(config_status(config_id, DeliveryStatus::Pending)),
            );
            new.insert("attempt_number".into(), Value::from(next));
            new.insert("budget_start".into(), Value::from(next));
            new.insert("scheduled_for".into(), Value::from(now.clone()));
            new.insert("error_message".into(), Value::Null);
            new.insert("completed_at".into(), Value::Null);
            new.insert(
                "dispatch".into(),
                Value::from(hooks::num(old, "dispatch") + 1),
            );
            new
        },
        |_, _| Vec::new(),
        Vec::new,
    )
    .await?;
    let delivery = result?;
    if let Some(status) = refused.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(not_retryable(&status));
    }
    hooks::queue(&state.queues, &delivery).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RetryScheduled {
            status: "scheduled",
            delivery_id: id,
            message: "Delivery scheduled for retry",
        }),
    ))
}

/// Delivery statistics of the project, or of one config (final deliveries, not attempts).
#[utoipa::path(get, path = "/api/v1/webhooks/statistics", tag = "webhooks", security(("bearer" = [])),
    params(StatisticsQuery, ProjectScope),
    responses((status = 200, body = Statistics)))]
async fn statistics(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
) -> ApiResult<Json<Statistics>> {
    let mut f = query.fields();
    let q = f.record(STATS_FILTERS, false);
    f.finish()?;
    let config = q.get("config_id").and_then(Value::as_u64);
    let scope = scope
        .resolve_with(&state, None, |pid| {
            config
                .map(|c| WEBHOOK_CONFIGS.key(pid, c))
                .into_iter()
                .collect()
        })
        .await?;
    let c = &scope.counters;
    let count = |status: DeliveryStatus| match config {
        None => c.get(&format!("webhook_deliveries.status.{status}")),
        Some(id) => c.get(&format!(
            "webhook_deliveries.config_status.{}",
            config_status(id, status)
        )),
    };
    let all = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivering,
        DeliveryStatus::Delivered,
        DeliveryStatus::Retrying,
        DeliveryStatus::Failed,
        DeliveryStatus::Exhausted,
    ];
    let total: i64 = all.iter().map(|s| count(*s)).sum();
    let successful = count(DeliveryStatus::Delivered);
    let failed = count(DeliveryStatus::Failed) + count(DeliveryStatus::Exhausted);
    let total_configs = match config {
        None => c.get("webhook_configs"),
        Some(id) => scope
            .found
            .contains_key(&WEBHOOK_CONFIGS.key(scope.id(), id)) as i64,
    };
    let rate = if total > 0 {
        (successful as f64 * 10_000.0 / total as f64).round() / 100.0
    } else {
        0.0
    };
    Ok(Json(Statistics {
        total_configs,
        total_deliveries: total,
        successful_deliveries: successful,
        failed_deliveries: failed,
        success_rate: rate,
    }))
}
