//! Request extractors that turn bad input into problem+json: JSON bodies (415, 413, 422
//! json_invalid), query maps and integer path ids (422 int_parsing).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};
use crate::domain::ids::MAX_ID;
use crate::domain::validate::{DefaultValue, Fields, Kind, Source, Spec};
use crate::domain::Id;

/// Largest accepted request body (API.md §0.1).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// A JSON object body. An empty body without Content-Type reads as `{}` so that required
/// fields are reported as `missing`.
#[derive(Debug, Clone, Default)]
pub struct JsonObject(pub Map<String, Value>);

impl JsonObject {
    pub fn fields(&self) -> Fields<'_> {
        Fields::new(&self.0, Source::Body)
    }
}

fn is_json(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Request body exceeds the 6 MB limit",
    )
}

/// Reads a whole body within the limit (413 beyond it).
pub async fn read_body(req: Request) -> ApiResult<Bytes> {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > MAX_BODY_BYTES {
            return Err(payload_too_large());
        }
    }
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES);
    match http_body_util::BodyExt::collect(limited).await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(payload_too_large())
        }
        Err(e) => Err(ApiError::bad_request(
            "invalid_body",
            format!("Could not read body: {e}"),
        )),
    }
}

/// Numbers with an integral value are integers, as JSON Schema reads them (`5.0` is the
/// integer 5), so an integer field accepts every value its documented schema allows.
fn integral_as_integer(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18) {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_as_integer),
        Value::Object(m) => m.values_mut().for_each(integral_as_integer),
        _ => {}
    }
}

/// Parses bytes as a JSON object (422 json_invalid / model_attributes_type).
pub fn parse_object(bytes: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(mut m)) => {
            m.values_mut().for_each(integral_as_integer);
            Ok(m)
        }
        Ok(_) => Err(ApiError::field(
            &["body"],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        )),
        Err(e) => Err(ApiError::validation(vec![
            crate::domain::validate::FieldError {
                loc: vec![Value::from("body"), Value::from(e.column())],
                msg: format!("JSON decode error: {e}"),
                kind: "json_invalid".into(),
            },
        ])),
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_body(req).await?;
        match content_type {
            Some(ct) if is_json(&ct) => {}
            None if bytes.iter().all(u8::is_ascii_whitespace) => return Ok(Self::default()),
            Some(_) | None => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Unsupported media type: send application/json",
                ))
            }
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        parse_object(&bytes).map(Self)
    }
}

/// The query string as a JSON object of strings (repeated keys: the last wins).
#[derive(Debug, Clone, Default)]
pub struct QueryMap(pub Map<String, Value>);

impl QueryMap {
    pub fn fields(&self) -> Fields<'_> {
        Fields::new(&self.0, Source::Query)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut map = Map::new();
        if let Some(q) = parts.uri.query() {
            for (k, v) in query_pairs(q) {
                map.insert(k, Value::String(v));
            }
        }
        Ok(Self(map))
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs on bytes (`+` is a space, `%XX` a byte;
/// a stray `%` stays as it is); invalid UTF-8 becomes U+FFFD instead of failing.
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Standard pagination: skip ≥ 0 (=0), limit within bounds (=default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub skip: usize,
    pub limit: usize,
}

/// The query fields of skip/limit pagination: skip ≥ 0 (=0), limit 1..=max (=default).
pub const fn page_specs(default: i64, max: i64) -> [Spec; 2] {
    [
        Spec::or(
            "skip",
            Kind::Int {
                min: Some(0),
                max: None,
            },
            DefaultValue::Int(0),
        ),
        Spec::or(
            "limit",
            Kind::Int {
                min: Some(1),
                max: Some(max),
            },
            DefaultValue::Int(default),
        ),
    ]
}

impl Page {
    /// Reads skip and limit as `specs` (from `page_specs`) bound them.
    pub fn read(f: &mut Fields<'_>, specs: &[Spec; 2]) -> Self {
        let bounds = |s: &Spec| match (s.kind, s.default) {
            (Kind::Int { min, max }, Some(DefaultValue::Int(d))) => (d, min, max),
            _ => (0, Some(0), None),
        };
        let (d, lo, hi) = bounds(&specs[0]);
        let skip = f.int_or("skip", d, lo, hi);
        let (d, lo, hi) = bounds(&specs[1]);
        let limit = f.int_or("limit", d, lo, hi);
        Self {
            skip: skip as usize,
            limit: limit as usize,
        }
    }
}

/// The query fields of numbered pages (API.md §0.6: schedules, webhook deliveries): page ≥ 1
/// (=1), page_size 1..=100 (=50).
pub const NUMBERED_PAGE: [Spec; 2] = [
    Spec::or(
        "page",
        Kind::Int {
            min: Some(1),
            max: Some(1 << 31),
        },
        DefaultValue::Int(1),
    ),
    Spec::or(
        "page_size",
        Kind::Int {
            min: Some(1),
            max: Some(100),
        },
        DefaultValue::Int(50),
    ),
];

/// A numbered page as read with `NUMBERED_PAGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberedPage {
    pub page: i64,
    pub page_size: i64,
}

impl NumberedPage {
    /// The page of a query record read with `NUMBERED_PAGE` (create mode: defaults filled in).
    pub fn of(q: &Map<String, Value>) -> Self {
        Self {
            page: q.get("page").and_then(Value::as_i64).unwrap_or(1).max(1),
            page_size: q
                .get("page_size")
                .and_then(Value::as_i64)
                .unwrap_or(50)
                .clamp(1, 100),
        }
    }

    /// This page's items of `all`.
    pub fn slice<'a, T>(&self, all: &'a [T]) -> impl Iterator<Item = &'a T> {
        let skip = ((self.page - 1) as usize).saturating_mul(self.page_size as usize);
        all.iter().skip(skip).take(self.page_size as usize)
    }
}

/// A positive integer id from a path segment: 1..=2^53-1 (API.md §0.1: anything else is
/// 422 int_parsing naming the parameter).
pub fn path_id(raw: &str, name: &str) -> ApiResult<Id> {
    match raw.parse::<u64>() {
        Ok(n) if (1..=MAX_ID).contains(&n) => Ok(n as Id),
        _ => Err(ApiError::field(
            &["path", name],
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )),
    }
}

/// The route's path parameters, decoded; a segment that is not valid UTF-8 after
/// percent-decoding reads as empty, so `path_id` answers 422 instead of axum's 400 text.
#[derive(Debug, Clone, Default)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The integer id `name` (422 int_parsing naming it).
    pub fn id(&self, name: &str) -> ApiResult<Id> {
        path_id(self.raw(name), name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::RawPathParams;
        Ok(
            match RawPathParams::from_request_parts(parts, state).await {
                Ok(p) => Self(
                    p.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                Err(_) => Self::default(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            query_pairs("a=1&b=x%20y+z&c"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), "".into())
            ]
        );
        assert_eq!(query_pairs("p=100%"), vec![("p".into(), "100%".into())]);
        // A `%` before a multibyte character used to slice inside it and panic.
        assert_eq!(query_pairs("skip=%a€"), vec![("skip".into(), "%a€".into())]);
        assert_eq!(query_pairs("x=%FF"), vec![("x".into(), "\u{fffd}".into())]);
    }

    #[test]
    fn path_ids() {
        assert_eq!(path_id("42", "id").unwrap(), 42);
        assert_eq!(
            path_id("0", "id").unwrap_err().errors[0].kind,
            "int_parsing"
        );
        assert_eq!(
            path_id("-1", "id").unwrap_err().errors[0].kind,
            "int_parsing"
        );
        assert_eq!(path_id("", "id").unwrap_err().errors[0].kind, "int_parsing");
        assert_eq!(
            path_id("abc", "id").unwrap_err().errors[0].kind,
            "int_parsing"
        );
        assert_eq!(path_id("9007199254740992", "id").unwrap_err().status, 422);
    }

    #[test]
    fn integral_numbers_are_integers() {
        let m = parse_object(
            br#"{"ids": [182.0, 7, 9007199254740990.0], "x": {"y": -3.0}, "f": 1.5, "big": 1e300}"#,
        )
        .unwrap();
        assert_eq!(m["ids"][2], 9007199254740990u64);
        assert_eq!(m["ids"], serde_json::json!([182, 7, 9007199254740990u64]));
        assert!(m["ids"][0].is_u64());
        assert!(m["x"]["y"].is_i64());
        assert_eq!(m["f"], 1.5);
        assert!(m["big"].is_f64());
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
    }

    mod properties {
        use super::super::*;
        use crate::domain::validate::{Fields, Source};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Any query string (bytes as the gateway hands them over, decoded lossily)
            /// decodes, and the pagination reader answers values or field errors.
            #[test]
            fn any_query_decodes_and_validates(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
                let q = String::from_utf8_lossy(&raw);
                let map: serde_json::Map<String, serde_json::Value> = query_pairs(&q)
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                let mut f = Fields::new(&map, Source::Query);
                let page = Page::read(&mut f, &page_specs(100, 500));
                match f.finish() {
                    Ok(()) => prop_assert!((1..=500).contains(&page.limit)),
                    Err(errors) => prop_assert!(!errors.is_empty()),
                }
            }

            /// Percent-encoded text round-trips.
            #[test]
            fn encoded_text_round_trips(k in "[^&=]{0,20}", v in ".{0,40}") {
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair(&k, &v)
                    .finish();
                prop_assert_eq!(query_pairs(&q), vec![(k, v)]);
            }

            /// Any path segment is an id in 1..2^53-1 or a 422 int_parsing, never a panic.
            #[test]
            fn any_path_segment_is_an_id_or_int_parsing(raw in ".{0,30}") {
                match path_id(&raw, "id") {
                    Ok(id) => {
                        prop_assert!((1..=MAX_ID).contains(&id));
                        prop_assert_eq!(raw.parse::<u64>().ok(), Some(id));
                    }
                    Err(e) => {
                        prop_assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
                        prop_assert_eq!(&e.errors[0].kind, "int_parsing");
                    }
                }
            }

            #[test]
            fn numeric_segments_follow_the_id_range(n in any::<u64>()) {
                let ok = path_id(&n.to_string(), "id").is_ok();
                prop_assert_eq!(ok, (1..=MAX_ID).contains(&n));
            }
        }
    }
}
