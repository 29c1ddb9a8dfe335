//! OpenAPI schemas generated from the field tables (`domain::validate::Spec`) that validate
//! requests and shape responses, so the document states exactly the rules the code applies:
//! `Kind::Str{min,max}` → string with minLength/maxLength, `Kind::Enum` → enum, `Kind::Int` →
//! integer bounds, `Kind::Id` → 1..2^53−1, `Kind::Num` → 0 or 1e-130..1e125 above `min`,
//! `Kind::Ts` → date-time, null where the field may be null, required where it is required.
//!
//! `record_schema!` declares a named component from tables, `query_params!` the query
//! parameters a table reads. (Pure data → data: the HTTP layer serves the document.)

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{RefOr, Required};

use super::ids::MAX_ID;
use super::validate::{DefaultValue, Kind, Spec, MAX_NUMBER, MIN_NONZERO_NUMBER};

/// Which side of the API a table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A create body: required fields required, defaults stated, null where nullable.
    Create,
    /// A partial update: nothing required (omitted = unchanged), null where nullable.
    Update,
    /// A response: every field present, null where the field can be unset.
    Response,
}

/// Longest timestamp string read (`Fields::timestamp`).
pub const TIMESTAMP_MAX_LEN: usize = 64;

fn ty(t: Type, nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([t, Type::Null])
    } else {
        SchemaType::Type(t)
    }
}

fn int(min: i64, max: i64, nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(ty(Type::Integer, nullable))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min as isize))
        .maximum(Some(max as isize))
}

/// An id: integer 1..2^53−1.
pub fn id_schema(nullable: bool) -> Schema {
    int(1, MAX_ID as i64, nullable).build().into()
}

/// The schema of one kind of value (null allowed when `nullable`).
pub fn kind_schema(kind: &Kind, nullable: bool) -> Schema {
    let string = |min: usize, max: usize| {
        let b = ObjectBuilder::new()
            .schema_type(ty(Type::String, nullable))
            .max_length((max < usize::MAX).then_some(max));
        if min > 0 {
            b.min_length(Some(min))
        } else {
            b
        }
    };
    match *kind {
        Kind::Str { min, max } => string(min, max).build().into(),
        Kind::Pattern {
            min, max, pattern, ..
        } => string(min, max).pattern(Some(pattern)).build().into(),
        Kind::Email => string(1, 255)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .description(Some(
                "An email address whose domain has a dot (no IP literals)",
            ))
            .build()
            .into(),
        Kind::Enum(values) | Kind::Choice { values, .. } => {
            let mut all: Vec<serde_json::Value> =
                values.iter().map(|v| serde_json::Value::from(*v)).collect();
            if nullable {
                all.push(serde_json::Value::Null);
            }
            ObjectBuilder::new()
                .schema_type(ty(Type::String, nullable))
                .enum_values(Some(all))
                .build()
                .into()
        }
        Kind::Int { min, max } => int(min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX), nullable)
            .build()
            .into(),
        Kind::Id => id_schema(nullable),
        Kind::Ids { max } => ArrayBuilder::new()
            .schema_type(ty(Type::Array, nullable))
            .items(RefOr::T(id_schema(false)))
            .min_items(Some(1))
            .max_items(Some(max))
            .build()
            .into(),
        Kind::Num { min } => number(min, nullable),
        Kind::Strs { items, max, values } => ArrayBuilder::new()
            .schema_type(ty(Type::Array, nullable))
            .items(RefOr::T({
                let item = ObjectBuilder::new()
                    .schema_type(ty(Type::String, false))
                    .min_length(Some(1))
                    .max_length(Some(max));
                if values.is_empty() {
                    item.build().into()
                } else {
                    item.enum_values(Some(values.iter().copied()))
                        .build()
                        .into()
                }
            }))
            .max_items(Some(items))
            .build()
            .into(),
        Kind::Bool => ObjectBuilder::new()
            .schema_type(ty(Type::Boolean, nullable))
            .build()
            .into(),
        Kind::Obj => json_object(nullable),
        Kind::Ts => ObjectBuilder::new()
            .schema_type(ty(Type::String, nullable))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .max_length(Some(TIMESTAMP_MAX_LEN))
            .description(Some(
                "RFC 3339 (in: with or without offset, none = UTC; the instant must fall in \
                 years 0001..9999 UTC; out: UTC with milliseconds and Z)",
            ))
            .build()
            .into(),
        Kind::List(fields) => ArrayBuilder::new()
            .schema_type(ty(Type::Array, nullable))
            .items(object(&[fields], Mode::Response))
            .build()
            .into(),
    }
}

/// A number DynamoDB can store: 0, or a magnitude in 1e-130..1e125, and ≥ `min`.
fn number(min: f64, nullable: bool) -> Schema {
    let range = |lo: f64, hi: f64| {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(lo))
            .maximum(Some(hi))
            .build()
    };
    let mut any = AnyOfBuilder::new();
    if min <= 0.0 {
        any = any.item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .enum_values(Some([0]))
                .build(),
        );
    }
    if min < 0.0 {
        any = any.item(range(min.max(-MAX_NUMBER), -MIN_NONZERO_NUMBER));
    }
    any = any.item(range(min.max(MIN_NONZERO_NUMBER), MAX_NUMBER));
    if nullable {
        any = any.item(ObjectBuilder::new().schema_type(Type::Null).build());
    }
    any.description(Some(
        "0, or a magnitude between 1e-130 and 1e125 (what DynamoDB stores)",
    ))
    .build()
    .into()
}

/// The component name of a JSON value as free-form fields store it.
pub const JSON_VALUE: &str = "JsonValue";

/// Free-form JSON object as `Fields::object` accepts it (`validate::storable`): keys non-empty,
/// values `JsonValue`s, nesting at most 16 levels.
fn json_object(nullable: bool) -> Schema {
    ObjectBuilder::new()
        .schema_type(ty(Type::Object, nullable))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1)),
        ))
        .additional_properties(Some(utoipa::openapi::Ref::from_schema_name(JSON_VALUE)))
        .description(Some(
            "Free-form JSON object: keys non-empty, nested at most 16 levels, numbers 0 or of \
             magnitude 1e-130..1e125 (what DynamoDB stores)",
        ))
        .build()
        .into()
}

/// `JsonValue`: any JSON value DynamoDB stores (`validate::storable`): numbers 0 or of
/// magnitude 1e-130..1e125, object keys non-empty; recursive.
pub fn json_value() -> Schema {
    let nested = || utoipa::openapi::Ref::from_schema_name(JSON_VALUE);
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::from_iter([
            Type::Null,
            Type::Boolean,
            Type::String,
        ])))
        .item(number(-MAX_NUMBER, false))
        .item(ArrayBuilder::new().items(nested()))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property_names(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1)),
                ))
                .additional_properties(Some(nested())),
        )
        .build()
        .into()
}

/// The schema of one field as `mode` reads or writes it.
pub fn field_schema(spec: &Spec, mode: Mode) -> Schema {
    let mut schema = kind_schema(&spec.kind, spec.nullable());
    if mode == Mode::Create {
        match (spec.default, &mut schema) {
            (Some(d), Schema::Object(o)) => o.default = Some(default_value(d)),
            (Some(d), Schema::Array(a)) => a.default = Some(default_value(d)),
            _ => {}
        }
    }
    schema
}

fn default_value(d: DefaultValue) -> serde_json::Value {
    match d {
        DefaultValue::Str(s) => s.into(),
        DefaultValue::Int(n) => n.into(),
        DefaultValue::Bool(b) => b.into(),
        DefaultValue::EmptyList => serde_json::Value::Array(Vec::new()),
        DefaultValue::EmptyObject => serde_json::Value::Object(Default::default()),
    }
}

/// An object of the fields of `tables`, in order.
pub fn object(tables: &[&[Spec]], mode: Mode) -> Object {
    let mut b = ObjectBuilder::new().schema_type(Type::Object);
    for spec in tables.iter().flat_map(|t| t.iter()) {
        b = b.property(spec.name, field_schema(spec, mode));
        let required = match mode {
            Mode::Create => spec.required,
            Mode::Update => false,
            Mode::Response => true,
        };
        if required {
            b = b.required(spec.name);
        }
    }
    b.build()
}

/// An object of `tables` in which exactly one of `names` is sent non-null (a body rule the
/// handler checks after the fields: 422 value_error otherwise).
pub fn exactly_one_of(tables: &[&[Spec]], mode: Mode, names: &[&str]) -> Schema {
    let specs: Vec<&Spec> = tables.iter().flat_map(|t| t.iter()).collect();
    let choices: Vec<(&str, Schema)> = names
        .iter()
        .map(|name| {
            let schema = specs
                .iter()
                .find(|s| s.name == *name)
                .map(|s| kind_schema(&s.kind, false))
                .unwrap_or_default();
            (*name, schema)
        })
        .collect();
    utoipa::openapi::schema::AllOfBuilder::new()
        .item(object(tables, mode))
        .item(one_non_null(&choices))
        .description(Some(format!(
            "Exactly one of {} (non-null)",
            names.join(", ")
        )))
        .build()
        .into()
}

/// Exactly one of `choices` (name, its non-null schema) is sent non-null: one branch per
/// choice, requiring it and holding the others null when sent.
pub fn one_non_null(choices: &[(&str, Schema)]) -> Schema {
    let mut one_of = utoipa::openapi::schema::OneOfBuilder::new();
    for (chosen, schema) in choices {
        let mut b = ObjectBuilder::new().schema_type(Type::Object);
        for (name, _) in choices {
            let s = if name == chosen {
                schema.clone()
            } else {
                ObjectBuilder::new().schema_type(Type::Null).build().into()
            };
            b = b.property(*name, s);
        }
        one_of = one_of.item(b.required(*chosen).build());
    }
    Schema::OneOf(one_of.build())
}

/// Counts keyed by every value of an enumeration (`{"pending": 3, ...}`), all present.
pub fn counts(keys: &[&str]) -> Object {
    let mut b = ObjectBuilder::new().schema_type(Type::Object);
    for k in keys {
        b = b
            .property(
                *k,
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .required(*k);
    }
    b.build()
}

/// The query parameters a table reads (values arrive as strings and are coerced).
pub fn query(tables: &[&[Spec]]) -> Vec<Parameter> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .map(|spec| {
            let mut schema = kind_schema(&spec.kind, false);
            if let (Some(d), Schema::Object(o)) = (spec.default, &mut schema) {
                o.default = Some(default_value(d));
            }
            ParameterBuilder::new()
                .name(spec.name)
                .parameter_in(ParameterIn::Query)
                .required(if spec.required {
                    Required::True
                } else {
                    Required::False
                })
                .schema(Some(RefOr::T(schema)))
                .build()
        })
        .collect()
}

/// The path parameters a table reads (string segments: owner, repository and label names;
/// integer ids are documented by `api::openapi` from the parameter's name).
pub fn path(tables: &[&[Spec]]) -> Vec<Parameter> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .map(|spec| {
            ParameterBuilder::new()
                .name(spec.name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(RefOr::T(kind_schema(&spec.kind, false))))
                .build()
        })
        .collect()
}

/// Declares a schema component built from field tables (`&[&[Spec]]`):
/// `record_schema!(pub TechnologyCreate: Create = &[FIELDS, PROJECT_ID]);`
#[macro_export]
macro_rules! record_schema {
    ($(#[$m:meta])* $vis:vis $name:ident : $mode:ident = $tables:expr) => {
        $(#[$m])*
        $vis struct $name;
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::RefOr::T(
                    $crate::domain::schema::object($tables, $crate::domain::schema::Mode::$mode).into(),
                )
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

/// Declares the query parameters read with field tables:
/// `query_params!(pub TechnologyQuery [PAGE_50, FILTERS]);`
#[macro_export]
macro_rules! query_params {
    ($(#[$m:meta])* $vis:vis $name:ident [$($table:expr),+ $(,)?]) => {
        $(#[$m])*
        $vis struct $name;
        impl utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                $crate::domain::schema::query(&[$($table),+])
            }
        }
    };
}

/// Declares the path parameters read with field tables:
/// `path_params!(pub RepoPath [REPO_PATH]);`
#[macro_export]
macro_rules! path_params {
    ($(#[$m:meta])* $vis:vis $name:ident [$($table:expr),+ $(,)?]) => {
        $(#[$m])*
        $vis struct $name;
        impl utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                $crate::domain::schema::path(&[$($table),+])
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(s: impl serde::Serialize) -> serde_json::Value {
        serde_json::to_value(s).unwrap()
    }

    #[test]
    fn fields_become_bounded_nullable_schemas() {
        const T: &[Spec] = &[
            Spec::req("title", Kind::Str { min: 1, max: 255 }),
            Spec::or("status", Kind::Enum(&["a", "b"]), DefaultValue::Str("a")),
            Spec::opt("level", Kind::Enum(&["x"])),
            Spec::opt("link", Kind::Id),
        ];
        let create = json_of(object(&[T], Mode::Create));
        assert_eq!(create["required"], json!(["title"]));
        assert_eq!(
            create["properties"]["title"],
            json!({"type": "string", "minLength": 1, "maxLength": 255})
        );
        assert_eq!(create["properties"]["status"]["default"], "a");
        assert_eq!(create["properties"]["status"]["type"], "string");
        assert_eq!(
            create["properties"]["level"],
            json!({"type": ["string", "null"], "enum": ["x", null]})
        );
        assert_eq!(create["properties"]["link"]["maximum"], 9007199254740991u64);
        let update = json_of(object(&[T], Mode::Update));
        assert!(update.get("required").is_none());
        let out = json_of(object(&[T], Mode::Response));
        assert_eq!(out["required"], json!(["title", "status", "level", "link"]));
    }

    #[test]
    fn numbers_state_what_dynamodb_stores() {
        let n = json_of(kind_schema(&Kind::Num { min: 0.0 }, true));
        let any = n["anyOf"].as_array().unwrap();
        assert_eq!(any[0]["enum"], json!([0]));
        assert_eq!(any[1]["minimum"], json!(1e-130));
        assert_eq!(any[1]["maximum"], json!(1e125));
        assert_eq!(any[2]["type"], "null");
    }
}
