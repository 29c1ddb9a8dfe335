//! `/api/v1/export` (API.md §13, function api-export): an analysis as SARIF, HTML, CSV, Excel
//! or JSON (10 downloads a minute per user, one bucket), the format list, and batch exports
//! (a `batch_export` job that zips the files to S3; 5 a minute per user, shared with
//! `POST /batch/export`).

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::analysis::AnalysisKind;
use super::batch::create_and_dispatch;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::QueryMap;
use crate::api::ratelimit::UserBucket;
use crate::api::scope::{ItemAccess, ProjectScope};
use crate::api::AppState;
use crate::domain::export::{self, CsvExportType, ExportFormat};
use crate::domain::jobs::{JobType, CSV_EXPORT_TYPES, EXPORT_FORMATS};
use crate::domain::validate::{Kind, Spec};
use crate::domain::Id;
use crate::store::kinds::ANALYSES;
use crate::store::ratelimit::{EXPORT, EXPORT_DOWNLOAD};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(formats))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(export_sarif))
                .routes(routes!(export_html))
                .routes(routes!(export_csv))
                .routes(routes!(export_excel))
                .routes(routes!(export_json))
                .route_layer(axum::Extension(UserBucket(EXPORT_DOWNLOAD))),
        )
        .merge(
            OpenApiRouter::new()
                .routes(routes!(export_batch))
                .route_layer(axum::Extension(UserBucket(EXPORT))),
        )
}

/// The largest Lambda response payload (API.md §13: past it, 413 export_too_large), less room
/// for the headers and the envelope. Binary bodies (Excel) travel base64-encoded.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024 - 16 * 1024;

fn payload_size(format: ExportFormat, len: usize) -> usize {
    match format {
        ExportFormat::Excel => len.div_ceil(3) * 4,
        _ => len,
    }
}

const CSV_QUERY: &[Spec] = &[Spec::opt("export_type", Kind::Enum(CSV_EXPORT_TYPES))];
const JSON_QUERY: &[Spec] = &[Spec::opt("pretty", Kind::Bool)];
crate::query_params!(pub CsvQuery [CSV_QUERY]);
crate::query_params!(pub JsonQuery [JSON_QUERY]);

/// Renders an analysis of the caller's project in `format` (rate-limited before any work).
async fn download(
    state: &AppState,
    item: ItemAccess<AnalysisKind>,
    format: ExportFormat,
    csv_type: CsvExportType,
    pretty: bool,
) -> ApiResult<Response> {
    crate::api::ratelimit::charge_now(state).await?;
    let analysis = crate::analysis::of_record(&state.blobs, item.record).await?;
    let options = crate::jobs::export::opts(csv_type, pretty);
    let rendered = tokio::task::spawn_blocking(move || export::render(&analysis, format, &options))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if payload_size(format, rendered.body.len()) > MAX_PAYLOAD {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "export_too_large",
            "Export exceeds 6 MB; use /export/batch",
        ));
    }
    let len = rendered.body.len();
    let mut res = rendered.body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendered.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&rendered.disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(res)
}

fn csv_type(query: &QueryMap) -> ApiResult<CsvExportType> {
    let mut f = query.fields();
    let q = f.record(CSV_QUERY, true);
    f.finish()?;
    Ok(q.get("export_type")
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())
        .unwrap_or(CsvExportType::Combined))
}

fn pretty(query: &QueryMap) -> ApiResult<bool> {
    let mut f = query.fields();
    let q = f.record(JSON_QUERY, true);
    f.finish()?;
    Ok(q.get("pretty").and_then(Value::as_bool).unwrap_or(true))
}

/// SARIF 2.1.0 (code scanning).
#[utoipa::path(get, path = "/api/v1/export/{analysis_id}/sarif", tag = "export", security(("bearer" = [])),
    params(("analysis_id" = i64, Path)),
    responses((status = 200, content_type = "application/sarif+json", body = Object, description = "attachment; filename=\"analysis_<id>.sarif\""),
        (status = 404, description = "analysis_not_found"), (status = 413, description = "export_too_large"),
        (status = 429, description = "rate_limited: 10 per minute per user (all formats)")))]
async fn export_sarif(
    State(state): State<AppState>,
    item: ItemAccess<AnalysisKind>,
) -> ApiResult<Response> {
    download(
        &state,
        item,
        ExportFormat::Sarif,
        CsvExportType::Combined,
        true,
    )
    .await
}

/// HTML report (Chart.js from cdn.jsdelivr.net; every value escaped).
#[utoipa::path(get, path = "/api/v1/export/{analysis_id}/html", tag = "export", security(("bearer" = [])),
    params(("analysis_id" = i64, Path)),
    responses((status = 200, content_type = "text/html; charset=utf-8", body = String, description = "inline; filename=\"analysis_<id>.html\""),
        (status = 404, description = "analysis_not_found"), (status = 413, description = "export_too_large"),
        (status = 429, description = "rate_limited: 10 per minute per user (all formats)")))]
async fn export_html(
    State(state): State<AppState>,
    item: ItemAccess<AnalysisKind>,
) -> ApiResult<Response> {
    download(
        &state,
        item,
        ExportFormat::Html,
        CsvExportType::Combined,
        true,
    )
    .await
}

/// CSV (RFC 4180; formula-like cells prefixed with `'`).
#[utoipa::path(get, path = "/api/v1/export/{analysis_id}/csv", tag = "export", security(("bearer" = [])),
    params(("analysis_id" = i64, Path), CsvQuery),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String, description = "attachment; filename=\"analysis_<id>_<type>.csv\""),
        (status = 404, description = "analysis_not_found"), (status = 413, description = "export_too_large"),
        (status = 429, description = "rate_limited: 10 per minute per user (all formats)")))]
async fn export_csv(
    State(state): State<AppState>,
    item: ItemAccess<AnalysisKind>,
    query: QueryMap,
) -> ApiResult<Response> {
    let t = csv_type(&query)?;
    download(&state, item, ExportFormat::Csv, t, true).await
}

/// Excel workbook (.xlsx).
#[utoipa::path(get, path = "/api/v1/export/{analysis_id}/excel", tag = "export", security(("bearer" = [])),
    params(("analysis_id" = i64, Path)),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Workbook, description = "attachment; filename=\"analysis_<id>.xlsx\""),
        (status = 404, description = "analysis_not_found"), (status = 413, description = "export_too_large"),
        (status = 429, description = "rate_limited: 10 per minute per user (all formats)")))]
async fn export_excel(
    State(state): State<AppState>,
    item: ItemAccess<AnalysisKind>,
) -> ApiResult<Response> {
    download(
        &state,
        item,
        ExportFormat::Excel,
        CsvExportType::Combined,
        true,
    )
    .await
}

/// The analysis as JSON.
#[utoipa::path(get, path = "/api/v1/export/{analysis_id}/json", tag = "export", security(("bearer" = [])),
    params(("analysis_id" = i64, Path), JsonQuery),
    responses((status = 200, content_type = "application/json", body = Object, description = "attachment; filename=\"analysis_<id>.json\""),
        (status = 404, description = "analysis_not_found"), (status = 413, description = "export_too_large"),
        (status = 429, description = "rate_limited: 10 per minute per user (all formats)")))]
async fn export_json(
    State(state): State<AppState>,
    item: ItemAccess<AnalysisKind>,
    query: QueryMap,
) -> ApiResult<Response> {
    let p = pretty(&query)?;
    download(&state, item, ExportFormat::Json, CsvExportType::Combined, p).await
}

/// An Excel workbook (binary).
pub struct Workbook;
impl utoipa::PartialSchema for Workbook {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}
impl ToSchema for Workbook {}

#[derive(Serialize, ToSchema)]
pub struct Format {
    name: &'static str,
    format: &'static str,
    endpoint: String,
    mime_type: &'static str,
    description: &'static str,
    use_cases: Vec<&'static str>,
    /// `10/minute`
    rate_limit: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Formats {
    formats: Vec<Format>,
}

/// The export formats (not rate-limited).
#[utoipa::path(get, path = "/api/v1/export/formats", tag = "export", security(("bearer" = [])),
    responses((status = 200, body = Formats)))]
async fn formats(_caller: crate::api::auth::Caller) -> Json<Formats> {
    let f = |format: ExportFormat,
             name: &'static str,
             mime_type: &'static str,
             description: &'static str,
             use_cases: Vec<&'static str>,
             parameters: Option<Value>| Format {
        name,
        format: format.as_str(),
        endpoint: format!("/export/{{analysis_id}}/{}", format.as_str()),
        mime_type,
        description,
        use_cases,
        rate_limit: "10/minute",
        parameters,
    };
    Json(Formats {
        formats: vec![
            f(
                ExportFormat::Sarif,
                "SARIF",
                "application/sarif+json",
                "Static Analysis Results Interchange Format 2.1.0",
                vec!["GitHub code scanning", "IDE integration", "CI/CD pipelines"],
                None,
            ),
            f(
                ExportFormat::Html,
                "HTML",
                "text/html",
                "Self-contained report with charts and a light/dark theme",
                vec![
                    "Sharing with stakeholders",
                    "Documentation",
                    "Presentations",
                ],
                None,
            ),
            f(
                ExportFormat::Csv,
                "CSV",
                "text/csv",
                "Comma-separated values for spreadsheets and data tools",
                vec!["Spreadsheet analysis", "Data import", "Custom reporting"],
                // §13 lists them in this order (combined, the default, last).
                Some(
                    json!({"export_type": ["technologies", "dependencies", "metrics", "gaps", "combined"]}),
                ),
            ),
            f(
                ExportFormat::Excel,
                "Excel",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "Excel workbook with one sheet per section",
                vec!["Executive reports", "Data analysis", "Record keeping"],
                None,
            ),
            f(
                ExportFormat::Json,
                "JSON",
                "application/json",
                "The complete analysis as JSON",
                vec!["API integration", "Automation", "Archiving"],
                None,
            ),
        ],
    })
}

/// format: read as text, so a string that is no format is 400 invalid_format (as on
/// `POST /batch/export`); the document lists the formats.
const BATCH_QUERY: &[Spec] = &[Spec::opt("format", Kind::Str { min: 1, max: 50 })];
const BATCH_QUERY_DOC: &[Spec] = &[Spec::opt("format", Kind::Enum(EXPORT_FORMATS))];
crate::query_params!(pub BatchQuery [BATCH_QUERY_DOC]);

#[derive(Serialize, ToSchema)]
pub struct BatchAccepted {
    /// `Batch export job created`
    message: &'static str,
    job_id: Id,
    analysis_count: usize,
    format: String,
    /// pending
    status: &'static str,
}

/// Ids of analyses of the project (1..100), as a bare JSON array.
pub struct BatchExportIds;
impl utoipa::PartialSchema for BatchExportIds {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
        let id = ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Integer))
            .minimum(Some(1))
            .maximum(Some(crate::domain::ids::MAX_ID));
        ArrayBuilder::new()
            .items(id)
            .min_items(Some(1))
            .max_items(Some(100))
            .into()
    }
}
impl ToSchema for BatchExportIds {}

/// Export analyses in one job: the files zipped to S3 (download_url in the job's result).
#[utoipa::path(post, path = "/api/v1/export/batch", tag = "export", security(("bearer" = [])),
    params(BatchQuery, ProjectScope),
    request_body(content = BatchExportIds, description = "Analysis ids, 1..100"),
    responses((status = 202, body = BatchAccepted, description = "Created and dispatched"),
        (status = 400, description = "empty_analysis_ids: analysis_ids cannot be empty; invalid_format: Invalid export format '<f>'. Must be one of: sarif, html, csv, excel, json"),
        (status = 404, description = "analyses_not_found: Analyses not found: [<ids>]"),
        (status = 415, description = "unsupported_media_type"),
        (status = 429, description = "rate_limited: 5 per minute per user, shared with POST /batch/export")))]
async fn export_batch(
    State(state): State<AppState>,
    scope: ProjectScope,
    query: QueryMap,
    req: Request,
) -> ApiResult<(StatusCode, Json<BatchAccepted>)> {
    let mut f = query.fields();
    let q = f.record(BATCH_QUERY, true);
    f.finish()?;
    let format = q
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or("json")
        .to_string();
    let ids = read_ids(req).await?;
    if !EXPORT_FORMATS.contains(&format.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_format",
            format!(
                "Invalid export format '{format}'. Must be one of: sarif, html, csv, excel, json"
            ),
        ));
    }
    let access = scope.resolve(&state, None, &[]).await?;
    let pid = access.id();
    let missing = state
        .store
        .missing_keys(&ids, |id| ANALYSES.key(pid, id))
        .await?;
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "analyses_not_found",
            format!("Analyses not found: {missing:?}"),
        ));
    }
    let mut p = Map::new();
    p.insert("analysis_ids".into(), json!(ids));
    p.insert("format".into(), json!(format));
    let job = create_and_dispatch(&state, access, JobType::BatchExport, p, Map::new()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BatchAccepted {
            message: "Batch export job created",
            job_id: crate::store::records::id_of(&job),
            analysis_count: ids.len(),
            format,
            status: "pending",
        }),
    ))
}

/// The body of `POST /export/batch`: a JSON array of 1..100 ids (duplicates collapse).
async fn read_ids(req: Request) -> ApiResult<Vec<Id>> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if json == Some(false) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type: send application/json",
        ));
    }
    let bytes = crate::api::extract::read_body(req).await?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::validation(vec![crate::domain::validate::FieldError {
            loc: vec![Value::from("body"), Value::from(e.column())],
            msg: format!("JSON decode error: {e}"),
            kind: "json_invalid".into(),
        }])
    })?;
    let Value::Array(items) = value else {
        return Err(ApiError::field(
            &["body"],
            "list_type",
            "Input should be a valid list",
        ));
    };
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "empty_analysis_ids",
            "analysis_ids cannot be empty",
        ));
    }
    if items.len() > 100 {
        return Err(ApiError::field(
            &["body"],
            "too_long",
            "List should have at most 100 items",
        ));
    }
    let mut ids = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let id = v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f < 9.1e15)
                    .map(|f| f as u64)
            })
            .filter(|id| (1..=crate::domain::ids::MAX_ID).contains(id));
        match id {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => errors.push(crate::domain::validate::FieldError {
                loc: vec![Value::from("body"), Value::from(i)],
                msg: "Input should be an id (an integer from 1 to 2^53-1)".into(),
                kind: "int_parsing".into(),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(ids)
}
