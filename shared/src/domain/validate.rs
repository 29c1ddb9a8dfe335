//! Field-by-field validation of request input that reports every failing field at once
//! (422 `errors[]`), with pydantic-compatible error types (`missing`, `string_too_short`, ...)
//! and the three states of a partial update (absent, null, value).

use serde::Serialize;
use serde_json::{Map, Value};

/// One failing field: `loc[0]` is body, query, path or header.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where: `["body", "<field>", ...]`, `["query", ...]`, `["path", ...]`, `["header", ...]`
    /// (a JSON decode error names the column: `["body", <column>]`).
    #[schema(min_items = 1)]
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        Self {
            loc: loc
                .iter()
                .map(|s| Value::String((*s).to_string()))
                .collect(),
            msg: msg.into(),
            kind: kind.to_string(),
        }
    }

    /// A named rule that failed (`value_error`), message as the endpoint documents it.
    pub fn value_error(loc: &[&str], msg: impl Into<String>) -> Self {
        Self::new(loc, "value_error", msg)
    }
}

/// A field of a partial update: omitted = unchanged, null = clear, value = set.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Patch<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }
    /// `Some(new value)` when the field was sent (null → `Some(None)`).
    pub fn sent(self) -> Option<Option<T>> {
        match self {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(v) => Some(Some(v)),
        }
    }
    /// The value when one was sent, else None (absent and null alike).
    pub fn value(self) -> Option<T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// Where input comes from; query and path values arrive as strings and are coerced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Body,
    Query,
    Path,
    Header,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Body => "body",
            Source::Query => "query",
            Source::Path => "path",
            Source::Header => "header",
        }
    }
}

/// Reads fields of one JSON object (or query map), collecting every error.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    source: Source,
    errors: Vec<FieldError>,
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl<'a> Fields<'a> {
    pub fn new(obj: &'a Map<String, Value>, source: Source) -> Self {
        Self {
            obj,
            source,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, field: &str, kind: &str, msg: impl Into<String>) {
        self.errors
            .push(FieldError::new(&[self.source.as_str(), field], kind, msg));
    }

    pub fn push(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    pub fn has_error(&self, field: &str) -> bool {
        self.errors
            .iter()
            .any(|e| e.loc.get(1).and_then(|v| v.as_str()) == Some(field))
    }

    /// Ok when no field failed, else every error.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }

    pub fn raw(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field)
    }

    fn present(&self, field: &str) -> Patch<&'a Value> {
        match self.obj.get(field) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v) => Patch::Value(v),
        }
    }

    fn check_len(&mut self, field: &str, s: &str, min: usize, max: usize) -> bool {
        let n = s.chars().count();
        if n < min {
            self.error(
                field,
                "string_too_short",
                format!("String should have at least {}", plural(min, "character")),
            );
            false
        } else if n > max {
            self.error(
                field,
                "string_too_long",
                format!("String should have at most {}", plural(max, "character")),
            );
            false
        } else {
            true
        }
    }

    /// An optional string with length bounds.
    pub fn string(&mut self, field: &str, min: usize, max: usize) -> Patch<String> {
        match self.present(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::String(s)) => {
                if self.check_len(field, s, min, max) {
                    Patch::Value(s.clone())
                } else {
                    Patch::Absent
                }
            }
            Patch::Value(_) => {
                self.error(field, "string_type", "Input should be a valid string");
                Patch::Absent
            }
        }
    }

    /// A required string with length bounds (`missing` when absent or null).
    pub fn req_string(&mut self, field: &str, min: usize, max: usize) -> String {
        match self.string(field, min, max) {
            Patch::Value(s) => s,
            Patch::Absent if self.has_error(field) => String::new(),
            _ => {
                self.error(field, "missing", "Field required");
                String::new()
            }
        }
    }

    /// A string that may be null but must not be sent as null when `nullable` is false.
    pub fn non_null_string(&mut self, field: &str, min: usize, max: usize) -> Option<String> {
        match self.string(field, min, max) {
            Patch::Value(s) => Some(s),
            Patch::Null => {
                self.error(field, "string_type", "Input should be a valid string");
                None
            }
            Patch::Absent => None,
        }
    }

    fn int_of(&mut self, field: &str, v: &Value) -> Option<i64> {
        let parsed = match v {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            }),
            Value::String(s) if self.source != Source::Body => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            let kind = if self.source == Source::Body && !matches!(v, Value::String(_)) {
                "int_type"
            } else {
                "int_parsing"
            };
            self.error(
                field,
                kind,
                "Input should be a valid integer, unable to parse string as an integer",
            );
        }
        parsed
    }

    /// An optional integer within bounds.
    pub fn int(&mut self, field: &str, min: Option<i64>, max: Option<i64>) -> Patch<i64> {
        match self.present(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => match self.int_of(field, v) {
                None => Patch::Absent,
                Some(n) => {
                    if let Some(lo) = min.filter(|lo| n < *lo) {
                        self.error(
                            field,
                            "greater_than_equal",
                            format!("Input should be greater than or equal to {lo}"),
                        );
                        Patch::Absent
                    } else if let Some(hi) = max.filter(|hi| n > *hi) {
                        self.error(
                            field,
                            "less_than_equal",
                            format!("Input should be less than or equal to {hi}"),
                        );
                        Patch::Absent
                    } else {
                        Patch::Value(n)
                    }
                }
            },
        }
    }

    /// An integer with a default when absent (null is an error: the field is not nullable).
    pub fn int_or(&mut self, field: &str, default: i64, min: Option<i64>, max: Option<i64>) -> i64 {
        match self.int(field, min, max) {
            Patch::Value(n) => n,
            Patch::Null => {
                self.error(field, "int_type", "Input should be a valid integer");
                default
            }
            Patch::Absent => default,
        }
    }

    pub fn bool(&mut self, field: &str) -> Patch<bool> {
        match self.present(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(Value::Bool(b)) => Patch::Value(*b),
            Patch::Value(Value::String(s)) if self.source != Source::Body => {
                match s.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Patch::Value(true),
                    "false" | "0" | "no" | "off" => Patch::Value(false),
                    _ => {
                        self.error(field, "bool_parsing", "Input should be a valid boolean");
                        Patch::Absent
                    }
                }
            }
            Patch::Value(_) => {
                self.error(field, "bool_type", "Input should be a valid boolean");
                Patch::Absent
            }
        }
    }

    /// An optional enum value given as its snake_case / kebab-case name.
    pub fn enumeration<E: EnumValues>(&mut self, field: &str) -> Patch<E> {
        match self.string(field, 0, usize::MAX) {
            Patch::Value(s) => match E::parse(&s) {
                Some(e) => Patch::Value(e),
                None => {
                    self.error(field, "enum", enum_message(E::VALUES));
                    Patch::Absent
                }
            },
            Patch::Null => Patch::Null,
            Patch::Absent => Patch::Absent,
        }
    }

    pub fn object(&mut self, field: &str) -> Patch<Map<String, Value>> {
        match self.present(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v @ Value::Object(m)) => match storable(v) {
                Ok(()) => Patch::Value(m.clone()),
                Err(msg) => {
                    self.error(field, "value_error", msg);
                    Patch::Absent
                }
            },
            Patch::Value(_) => {
                self.error(field, "dict_type", "Input should be a valid dictionary");
                Patch::Absent
            }
        }
    }
}

/// Deepest nesting accepted in free-form JSON (objects and arrays). DynamoDB refuses items
/// nested deeper than 32 levels, and our items wrap client JSON in up to three more (the
/// record, an event's `data`, a job's `result`), so 16 leaves room to spare.
pub const MAX_JSON_DEPTH: usize = 16;
/// Largest magnitude of a stored number (DynamoDB: < 1E+126; smallest non-zero: 1E-130).
pub const MAX_NUMBER: f64 = 1e125;
pub const MIN_NONZERO_NUMBER: f64 = 1e-130;

/// Whether DynamoDB can store this number.
pub fn storable_number(n: f64) -> bool {
    n.is_finite() && (n == 0.0 || (MIN_NONZERO_NUMBER..=MAX_NUMBER).contains(&n.abs()))
}

/// Whether free-form JSON fits DynamoDB: nesting at most `MAX_JSON_DEPTH`, every number in
/// range, no empty object key. The message names the first problem found.
pub fn storable(v: &Value) -> Result<(), String> {
    fn walk(v: &Value, depth: usize) -> Result<(), String> {
        match v {
            Value::Object(_) | Value::Array(_) if depth > MAX_JSON_DEPTH => Err(format!(
                "Value is nested too deeply (at most {MAX_JSON_DEPTH} levels)"
            )),
            Value::Object(m) => m.iter().try_for_each(|(k, v)| {
                if k.is_empty() {
                    Err("Object keys must not be empty".to_string())
                } else {
                    walk(v, depth + 1)
                }
            }),
            Value::Array(a) => a.iter().try_for_each(|v| walk(v, depth + 1)),
            Value::Number(n) => match n.as_f64() {
                Some(f) if storable_number(f) => Ok(()),
                _ => Err(format!(
                    "Numbers must be 0 or between 1e-130 and {MAX_NUMBER:e} in magnitude"
                )),
            },
            _ => Ok(()),
        }
    }
    walk(v, 1)
}

/// `Input should be 'a', 'b' or 'c'`
pub fn enum_message(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        None => "Input should be a valid enumeration member".into(),
        Some((last, [])) => format!("Input should be {last}"),
        Some((last, rest)) => format!("Input should be {} or {last}", rest.join(", ")),
    }
}

/// Enums that parse from their wire names.
pub trait EnumValues: Sized {
    const VALUES: &'static [&'static str];
    fn parse(s: &str) -> Option<Self>;
    fn as_str(&self) -> &'static str;
}

/// Declares a string enum with its wire names, serde, and `EnumValues`.
#[macro_export]
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
        pub enum $name { $(#[schema(rename = $wire)] $variant),+ }

        impl $crate::domain::validate::EnumValues for $name {
            const VALUES: &'static [&'static str] = &[$($wire),+];
            fn parse(s: &str) -> Option<Self> {
                match s { $($wire => Some(Self::$variant),)+ _ => None }
            }
            fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::domain::validate::EnumValues::as_str(self))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <Self as $crate::domain::validate::EnumValues>::parse(&s)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown value {s}")))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::domain::validate::EnumValues::as_str(self))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_every_failing_field() {
        let v = json!({"name": "", "age": "x", "n": 0});
        let obj = v.as_object().unwrap();
        let mut f = Fields::new(obj, Source::Body);
        f.req_string("name", 1, 10);
        f.req_string("missing", 1, 10);
        f.int("age", None, None);
        f.int("n", Some(1), None);
        let errs = f.finish().unwrap_err();
        let kinds: Vec<_> = errs.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "string_too_short",
                "missing",
                "int_parsing",
                "greater_than_equal"
            ]
        );
        assert_eq!(errs[0].loc, vec![json!("body"), json!("name")]);
        assert_eq!(errs[0].msg, "String should have at least 1 character");
    }

    #[test]
    fn patch_distinguishes_absent_null_and_value() {
        let v = json!({"a": null, "b": "x"});
        let mut f = Fields::new(v.as_object().unwrap(), Source::Body);
        assert_eq!(f.string("a", 0, 5), Patch::Null);
        assert_eq!(f.string("b", 0, 5), Patch::Value("x".into()));
        assert_eq!(f.string("c", 0, 5), Patch::Absent);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn query_values_are_coerced() {
        let v = json!({"limit": "20", "skip": "-1", "flag": "true"});
        let mut f = Fields::new(v.as_object().unwrap(), Source::Query);
        assert_eq!(f.int("limit", Some(1), Some(500)), Patch::Value(20));
        assert_eq!(f.int("skip", Some(0), None), Patch::Absent);
        assert_eq!(f.bool("flag"), Patch::Value(true));
        let errs = f.finish().unwrap_err();
        assert_eq!(errs[0].kind, "greater_than_equal");
    }

    #[test]
    fn enum_messages_read_naturally() {
        assert_eq!(
            enum_message(&["owner", "member"]),
            "Input should be 'owner' or 'member'"
        );
        assert_eq!(
            enum_message(&["a", "b", "c"]),
            "Input should be 'a', 'b' or 'c'"
        );
    }
}

/// The type and bounds of one field of a table-driven record (technologies, research tasks).
/// The same tables validate requests, shape responses and generate the OpenAPI schemas
/// (`domain::schema`), so the document states exactly the rules applied here.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string of `min..=max` characters (Unicode scalar values).
    Str {
        min: usize,
        max: usize,
    },
    /// A string of `min..=max` characters matching `pattern` (anchored; written so that Rust's
    /// regex and ECMA-262 read it alike), else 422 value_error `msg`.
    Pattern {
        min: usize,
        max: usize,
        pattern: &'static str,
        msg: &'static str,
    },
    /// An email address of at most 255 characters whose domain has a dot.
    Email,
    Enum(&'static [&'static str]),
    /// An enum whose refusal is a named rule: 422 value_error `msg(<given>)` (in the schema, an
    /// enum like any other).
    Choice {
        values: &'static [&'static str],
        msg: fn(&str) -> String,
    },
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// An id: an integer 1..=2^53−1 (API.md §0.4).
    Id,
    /// A list of 1..=max ids, else 422 value_error.
    Ids {
        max: usize,
    },
    Num {
        min: f64,
    },
    /// A list of at most `items` strings of 1..=`max` characters each; `values` non-empty: the
    /// strings the schema names (the handler says which one is unknown).
    Strs {
        items: usize,
        max: usize,
        values: &'static [&'static str],
    },
    Bool,
    Obj,
    Ts,
    /// Responses only: a list of objects with these fields (never read from a request).
    List(&'static [Spec]),
}

/// The message of an email address that is not one (pydantic's wording).
pub const EMAIL_MSG: &str =
    "value is not a valid email address: An email address must have an @-sign and a domain with a dot";

/// Whether the anchored `pattern` matches `s`; compiled once per pattern.
pub fn pattern_matches(pattern: &'static str, s: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<&'static str, Option<regex::Regex>>>> =
        LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern)
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(s))
}

/// One field: name, kind, default on create (None = null), and whether null may be sent.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<DefaultValue>,
    pub required: bool,
}

/// The fields every project record starts with: its id and its project's.
pub const RECORD_IDS: &[Spec] = &[Spec::req("id", Kind::Id), Spec::req("project_id", Kind::Id)];
/// The fields every record ends with.
pub const TIMESTAMPS: &[Spec] = &[
    Spec::req("created_at", Kind::Ts),
    Spec::req("updated_at", Kind::Ts),
];

#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    Str(&'static str),
    Int(i64),
    Bool(bool),
    /// `[]`
    EmptyList,
    /// `{}`
    EmptyObject,
}

impl DefaultValue {
    fn value(self) -> Value {
        match self {
            DefaultValue::Str(s) => Value::from(s),
            DefaultValue::Int(n) => Value::from(n),
            DefaultValue::Bool(b) => Value::from(b),
            DefaultValue::EmptyList => Value::Array(Vec::new()),
            DefaultValue::EmptyObject => Value::Object(Map::new()),
        }
    }
}

impl Spec {
    pub const fn opt(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            default: None,
            required: false,
        }
    }
    pub const fn req(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            default: None,
            required: true,
        }
    }
    pub const fn or(name: &'static str, kind: Kind, default: DefaultValue) -> Self {
        Self {
            name,
            kind,
            default: Some(default),
            required: false,
        }
    }
    /// Fields with a default or required are not nullable.
    pub fn nullable(&self) -> bool {
        self.default.is_none() && !self.required
    }
}

impl Fields<'_> {
    /// A number ≥ `min` (ints and floats).
    pub fn number(&mut self, field: &str, min: f64) -> Patch<f64> {
        match self.present(field) {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(v) => {
                let n = match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) if self.source != Source::Body => s.parse().ok(),
                    _ => None,
                };
                match n {
                    None => {
                        self.error(field, "float_type", "Input should be a valid number");
                        Patch::Absent
                    }
                    Some(n) if n < min || n.is_nan() => {
                        self.error(
                            field,
                            "greater_than_equal",
                            format!("Input should be greater than or equal to {min}"),
                        );
                        Patch::Absent
                    }
                    Some(n) if n > MAX_NUMBER => {
                        self.error(
                            field,
                            "less_than_equal",
                            format!("Input should be less than or equal to {MAX_NUMBER:e}"),
                        );
                        Patch::Absent
                    }
                    Some(n) if !storable_number(n) => {
                        self.error(
                            field,
                            "value_error",
                            "Non-zero numbers must be at least 1e-130 in magnitude",
                        );
                        Patch::Absent
                    }
                    Some(n) => Patch::Value(n),
                }
            }
        }
    }

    /// An RFC 3339 timestamp (no offset = UTC), normalized to the output form.
    pub fn timestamp(&mut self, field: &str) -> Patch<crate::domain::Timestamp> {
        match self.string(field, 0, 64) {
            Patch::Value(s) => match crate::domain::Timestamp::parse(&s) {
                Some(t) => Patch::Value(t),
                None => {
                    self.error(
                        field,
                        "datetime_parsing",
                        "Input should be a valid datetime",
                    );
                    Patch::Absent
                }
            },
            Patch::Null => Patch::Null,
            Patch::Absent => Patch::Absent,
        }
    }

    /// Reads the fields of `specs`: on create every field (defaults applied, required ones
    /// enforced), on update only those sent (null only where nullable). Values come out in
    /// their canonical JSON form.
    pub fn record(&mut self, specs: &[Spec], create: bool) -> Map<String, Value> {
        let mut out = Map::new();
        for spec in specs {
            let name = spec.name;
            let got: Patch<Value> = match spec.kind {
                Kind::Str { min, max } => map_patch(self.string(name, min, max), Value::from),
                Kind::Pattern {
                    min,
                    max,
                    pattern,
                    msg,
                } => match self.string(name, min, max) {
                    Patch::Value(s) if !pattern_matches(pattern, &s) => {
                        self.error(name, "value_error", msg);
                        Patch::Absent
                    }
                    other => map_patch(other, Value::from),
                },
                Kind::Email => match self.string(name, 1, 255) {
                    Patch::Value(s) if !super::user::is_valid_email(&s) => {
                        self.error(name, "value_error", EMAIL_MSG);
                        Patch::Absent
                    }
                    other => map_patch(other, Value::from),
                },
                Kind::Id => map_patch(
                    self.int(name, Some(1), Some(super::ids::MAX_ID as i64)),
                    Value::from,
                ),
                Kind::Ids { max } => match self.present(name) {
                    Patch::Value(Value::Array(items))
                        if (1..=max).contains(&items.len())
                            && items.iter().all(|v| {
                                v.as_u64()
                                    .is_some_and(|n| (1..=super::ids::MAX_ID).contains(&n))
                            }) =>
                    {
                        Patch::Value(Value::Array(items.clone()))
                    }
                    Patch::Value(_) => {
                        self.error(
                            name,
                            "value_error",
                            format!("Value error, must be a list of 1 to {max} positive integers"),
                        );
                        Patch::Absent
                    }
                    Patch::Null => Patch::Null,
                    Patch::Absent => Patch::Absent,
                },
                Kind::Strs { items, max, .. } => match self.present(name) {
                    Patch::Value(Value::Array(list))
                        if list.len() <= items
                            && list.iter().all(|v| {
                                v.as_str()
                                    .is_some_and(|s| (1..=max).contains(&s.chars().count()))
                            }) =>
                    {
                        Patch::Value(Value::Array(list.clone()))
                    }
                    Patch::Value(_) => {
                        self.error(
                            name,
                            "value_error",
                            format!(
                                "Value error, must be a list of at most {items} strings of 1 to {max} characters"
                            ),
                        );
                        Patch::Absent
                    }
                    Patch::Null => Patch::Null,
                    Patch::Absent => Patch::Absent,
                },
                Kind::List(_) => match self.present(name) {
                    Patch::Value(v @ Value::Array(_)) => Patch::Value(v.clone()),
                    Patch::Value(_) => {
                        self.error(name, "list_type", "Input should be a valid list");
                        Patch::Absent
                    }
                    Patch::Null => Patch::Null,
                    Patch::Absent => Patch::Absent,
                },
                Kind::Enum(values) => match self.string(name, 0, usize::MAX) {
                    Patch::Value(s) if values.contains(&s.as_str()) => Patch::Value(Value::from(s)),
                    Patch::Value(_) => {
                        self.error(name, "enum", enum_message(values));
                        Patch::Absent
                    }
                    other => map_patch(other, Value::from),
                },
                Kind::Choice { values, msg } => match self.string(name, 0, usize::MAX) {
                    Patch::Value(s) if values.contains(&s.as_str()) => Patch::Value(Value::from(s)),
                    Patch::Value(s) => {
                        self.error(name, "value_error", msg(&s));
                        Patch::Absent
                    }
                    other => map_patch(other, Value::from),
                },
                Kind::Int { min, max } => map_patch(self.int(name, min, max), Value::from),
                Kind::Num { min } => map_patch(self.number(name, min), Value::from),
                Kind::Bool => map_patch(self.bool(name), Value::from),
                Kind::Obj => map_patch(self.object(name), Value::Object),
                Kind::Ts => map_patch(self.timestamp(name), |t| Value::from(t.to_rfc3339())),
            };
            if self.has_error(name) {
                continue;
            }
            match got {
                Patch::Value(v) => {
                    out.insert(name.into(), v);
                }
                Patch::Null if !spec.nullable() => {
                    if spec.required && create {
                        self.error(name, "missing", "Field required");
                    } else {
                        self.error(name, "null_not_allowed", "Input should not be null");
                    }
                }
                Patch::Null => {
                    out.insert(name.into(), Value::Null);
                }
                Patch::Absent if create => {
                    if spec.required {
                        self.error(name, "missing", "Field required");
                    } else {
                        out.insert(
                            name.into(),
                            spec.default.map(DefaultValue::value).unwrap_or(Value::Null),
                        );
                    }
                }
                Patch::Absent => {}
            }
        }
        out
    }
}

fn map_patch<T>(p: Patch<T>, f: impl FnOnce(T) -> Value) -> Patch<Value> {
    match p {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Null,
        Patch::Value(v) => Patch::Value(f(v)),
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;
    use serde_json::json;

    const SPECS: &[Spec] = &[
        Spec::req("title", Kind::Str { min: 1, max: 10 }),
        Spec::or(
            "priority",
            Kind::Int {
                min: Some(1),
                max: Some(5),
            },
            DefaultValue::Int(3),
        ),
        Spec::or("status", Kind::Enum(&["a", "b"]), DefaultValue::Str("a")),
        Spec::opt("cost", Kind::Num { min: 0.0 }),
        Spec::opt("when", Kind::Ts),
    ];

    #[test]
    fn create_applies_defaults_and_requires() {
        let v = json!({"title": "x", "when": "2026-01-02T03:04:05+01:00"});
        let mut f = Fields::new(v.as_object().unwrap(), Source::Body);
        let r = f.record(SPECS, true);
        assert!(f.finish().is_ok());
        assert_eq!(
            Value::Object(r),
            json!({"title": "x", "priority": 3, "status": "a", "cost": null, "when": "2026-01-02T02:04:05.000Z"})
        );
        let v = json!({"priority": 9, "status": "c", "cost": -1});
        let mut f = Fields::new(v.as_object().unwrap(), Source::Body);
        f.record(SPECS, true);
        let kinds: Vec<_> = f
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            ["missing", "less_than_equal", "enum", "greater_than_equal"]
        );
    }

    #[test]
    fn update_keeps_only_sent_fields_and_refuses_null_for_defaults() {
        let v = json!({"cost": null, "status": "b"});
        let mut f = Fields::new(v.as_object().unwrap(), Source::Body);
        let r = f.record(SPECS, false);
        assert!(f.finish().is_ok());
        assert_eq!(Value::Object(r), json!({"status": "b", "cost": null}));
        let v = json!({"priority": null});
        let mut f = Fields::new(v.as_object().unwrap(), Source::Body);
        f.record(SPECS, false);
        assert_eq!(f.finish().unwrap_err()[0].kind, "null_not_allowed");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Arbitrary JSON, nested up to `depth` levels, with numbers of every magnitude.
    fn json(depth: u32) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
        ];
        leaf.prop_recursive(depth, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn depth_of(v: &Value) -> usize {
        match v {
            Value::Object(m) => 1 + m.values().map(depth_of).max().unwrap_or(0),
            Value::Array(a) => 1 + a.iter().map(depth_of).max().unwrap_or(0),
            _ => 0,
        }
    }

    const SPECS: &[Spec] = &[
        Spec::req("title", Kind::Str { min: 1, max: 10 }),
        Spec::or(
            "priority",
            Kind::Int {
                min: Some(1),
                max: Some(5),
            },
            DefaultValue::Int(3),
        ),
        Spec::or("status", Kind::Enum(&["a", "b"]), DefaultValue::Str("a")),
        Spec::opt("cost", Kind::Num { min: 0.0 }),
        Spec::opt("when", Kind::Ts),
        Spec::opt("flag", Kind::Bool),
        Spec::opt("meta", Kind::Obj),
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Whatever a client sends for the fields of a record, the validator answers a
        /// record whose values all satisfy their spec (and fit DynamoDB), or field errors.
        #[test]
        fn any_body_gives_a_valid_record_or_errors(
            body in proptest::collection::btree_map(
                prop_oneof![Just("title".to_string()), Just("priority".to_string()),
                            Just("status".to_string()), Just("cost".to_string()),
                            Just("when".to_string()), Just("flag".to_string()),
                            Just("meta".to_string()), ".{0,5}"],
                json(20), 0..8),
            create in any::<bool>(),
        ) {
            let obj: Map<String, Value> = body.into_iter().collect();
            let mut f = Fields::new(&obj, Source::Body);
            let record = f.record(SPECS, create);
            if f.finish().is_ok() {
                for (k, v) in &record {
                    prop_assert!(storable(v).is_ok(), "{k}: {v}");
                    match (k.as_str(), v) {
                        (_, Value::Null) => {}
                        ("title", Value::String(s)) => prop_assert!((1..=10).contains(&s.chars().count())),
                        ("priority", v) => prop_assert!(v.as_i64().is_some_and(|n| (1..=5).contains(&n))),
                        ("status", v) => prop_assert!(v == "a" || v == "b"),
                        ("cost", v) => prop_assert!(v.as_f64().is_some_and(|n| n >= 0.0 && storable_number(n))),
                        ("when", Value::String(s)) => prop_assert!(crate::domain::Timestamp::parse(s).is_some()),
                        ("flag", v) => prop_assert!(v.is_boolean()),
                        ("meta", v) => prop_assert!(v.is_object()),
                        (k, v) => prop_assert!(false, "unexpected {k}: {v}"),
                    }
                }
            }
        }

        /// `storable` never panics and accepts only what DynamoDB can hold.
        #[test]
        fn storable_bounds_depth_and_numbers(v in json(24)) {
            if storable(&v).is_ok() {
                prop_assert!(depth_of(&v) <= MAX_JSON_DEPTH);
            }
        }

        /// Any text is a timestamp in years 1..9999 that round-trips, or none.
        #[test]
        fn any_text_is_a_timestamp_or_none(s in ".{0,40}") {
            if let Some(t) = crate::domain::Timestamp::parse(&s) {
                prop_assert_eq!(crate::domain::Timestamp::parse(&t.to_rfc3339()), Some(t));
            }
        }

        /// Offsets at the ends of the calendar never panic.
        #[test]
        fn offsets_at_the_ends_never_panic(
            year in prop_oneof![Just(1u32), Just(9999u32), 1u32..=9999],
            hour in 0u32..24, off_h in 0u32..24, off_m in 0u32..60, sign in any::<bool>(),
            secs in any::<i64>(),
        ) {
            let s = format!("{year:04}-12-31T{hour:02}:59:59{}{off_h:02}:{off_m:02}",
                            if sign { '+' } else { '-' });
            if let Some(t) = crate::domain::Timestamp::parse(&s) {
                let _ = t.plus_secs(secs).to_rfc3339();
            }
        }
    }
}
