//! The OpenAPI 3.1 document, generated from the routes' own `#[utoipa::path]` definitions
//! (request and response schemas come from the types and field tables the handlers use), and
//! the `/docs` page (Swagger UI from a CDN, so the build needs no download).
//!
//! `spec()` adds what every route has in common, from facts of each operation, so no route
//! can forget it: path ids (`<x>_id`) are integers 1..2^53−1 (else 422 int_parsing); bearer
//! routes answer 401 and 403 (inactive_user); project-scoped collections (X-Project-ID) 400
//! project_required/project_mismatch and 403 not_a_member; item routes 404; bodies 413, 415
//! and 422; metered writes 429; every error is `application/problem+json`; and each PATCH is
//! also served as PUT (API.md §0.1).

use std::sync::OnceLock;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, Ref, RefOr, Required, Response};

pub use super::error::{Problem, PROBLEM_JSON};
use crate::domain::validate::FieldError;

/// Authenticated writes that are never refused for a full window (API.md §0.7: a user can
/// always end a session or revoke a credential), by operation id.
const UNMETERED: &[&str] = &["logout", "revoke_token"];

/// The whole API's document (every group), built from the routes (`generate()` serializes it).
pub fn spec() -> OpenApi {
    let (_, mut api) = super::all_routes().split_for_parts();
    api.info.title = "CommandCenter API".into();
    api.info.version = "1.0.0".into();
    api.info.description = Some(
        "R&D management backend: projects, repositories, technology radar, research, jobs. \
         Ids are integers 1..2^53−1; timestamps RFC 3339; errors application/problem+json; \
         unknown body fields are ignored; PUT = PATCH on every PATCH route."
            .into(),
    );
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT or cc_pat_ token")
                .description(Some(
                    "An access JWT (login) or a personal access token (`cc_pat_…`)",
                ))
                .build(),
        ),
    );
    let mut schemas = Vec::new();
    <Problem as utoipa::ToSchema>::schemas(&mut schemas);
    schemas.push((
        "Problem".into(),
        <Problem as utoipa::PartialSchema>::schema(),
    ));
    schemas.push((
        "FieldError".into(),
        <FieldError as utoipa::PartialSchema>::schema(),
    ));
    schemas.push(("ValidationProblem".into(), validation_problem()));
    schemas.push((
        crate::domain::schema::JSON_VALUE.into(),
        RefOr::T(crate::domain::schema::json_value()),
    ));
    for (name, schema) in schemas {
        components.schemas.insert(name, schema);
    }
    let components = components.clone();
    for item in api.paths.paths.values_mut() {
        for (method, op) in operations(item) {
            conventions(method, op, &components);
        }
        if let Some(patch) = &item.patch {
            let mut put = patch.clone();
            put.operation_id = put.operation_id.map(|id| format!("{id}_put"));
            put.summary = put.summary.map(|s| format!("{s} (PUT = PATCH)"));
            item.put = Some(put);
        }
    }
    add_links(&mut api, &components);
    api
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("post", item.post.as_mut()),
        ("put", item.put.as_mut()),
        ("patch", item.patch.as_mut()),
        ("delete", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// A 422 problem: `errors` lists every failing field.
fn validation_problem() -> RefOr<Schema> {
    RefOr::T(
        AllOfBuilder::new()
            .item(Ref::from_schema_name("Problem"))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property(
                        "errors",
                        utoipa::openapi::schema::ArrayBuilder::new()
                            .items(Ref::from_schema_name("FieldError"))
                            .min_items(Some(1)),
                    )
                    .required("errors"),
            )
            .build()
            .into(),
    )
}

const AUTH_FAILURES: &str = "not_authenticated (no Authorization), invalid_authorization (not \
    Bearer), invalid_token, token_expired, invalid_token_type, token_revoked (API.md §0.2); \
    carries WWW-Authenticate: Bearer";

/// Adds what the operation's facts imply (see the module documentation).
fn conventions(method: &str, op: &mut Operation, components: &Components) {
    let secured = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().any(|r| r != &Default::default()));
    let mut item_route = false;
    let mut has_params = false;
    let mut scoped = false;
    for p in op.parameters.iter_mut().flatten() {
        has_params = true;
        match p.parameter_in {
            // `<x>_id` segments are ids of items; others (GitHub owner, repository and label
            // names) carry the schema their route documents.
            ParameterIn::Path if p.name.ends_with("_id") => {
                item_route = true;
                p.required = Required::True;
                p.schema = Some(RefOr::T(crate::domain::schema::id_schema(false)));
                p.description.get_or_insert_with(|| {
                    "An id 1..2^53−1; anything else is 422 int_parsing".into()
                });
            }
            ParameterIn::Path => p.required = Required::True,
            ParameterIn::Header if p.name.eq_ignore_ascii_case("x-project-id") => scoped = true,
            _ => {}
        }
    }
    let has_body = op.request_body.is_some();
    let op_id = op.operation_id.clone().unwrap_or_default();
    let metered = secured
        && matches!(method, "post" | "put" | "patch" | "delete")
        && !UNMETERED.contains(&op_id.as_str());

    let ip_limited = op.responses.responses.contains_key("429");
    let mut add = |status: &str, description: &str| {
        let entry = op
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(Response::new("")));
        if let RefOr::T(r) = entry {
            if r.description.is_empty() {
                r.description = description.to_string();
            } else if !r.description.contains(description) {
                r.description = format!("{}; {description}", r.description);
            }
        }
    };
    if scoped {
        add(
            "400",
            "project_required: no project named and the caller is not in exactly one; \
             project_mismatch: X-Project-ID, query project_id and body project_id name \
             different projects",
        );
    }
    if secured {
        add("401", AUTH_FAILURES);
        add("403", "inactive_user");
    }
    if scoped {
        add(
            "403",
            "not_a_member: the project named does not exist or is not the caller's",
        );
    }
    if item_route {
        add(
            "404",
            "not found: missing, in a project the caller is not a member of, or another \
             project named by X-Project-ID or project_id",
        );
    }
    if has_body {
        add("413", "payload_too_large: body over 6 MB");
        add(
            "415",
            "unsupported_media_type: the body is not of the documented media type",
        );
    }
    if has_body || has_params {
        add(
            "422",
            "validation_error: errors[] names every failing field (json_invalid, missing, \
             int_parsing, string_too_short, enum, value_error, ...)",
        );
    }
    if metered {
        add(
            "429",
            "rate_limited: the caller's write window is full (API.md §0.7); carries Retry-After",
        );
    }
    add("500", "internal_error: An unexpected error occurred");
    if secured || metered || ip_limited {
        add(
            "503",
            "service_unavailable: a backing service is throttling or unavailable; carries \
             Retry-After",
        );
    }

    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(r) = response else { continue };
        let code: u16 = status.parse().unwrap_or(0);
        if code < 400 {
            continue;
        }
        if r.content.is_empty() {
            let schema = if code == 422 {
                "ValidationProblem"
            } else {
                "Problem"
            };
            r.content.insert(
                PROBLEM_JSON.to_string(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
                    .build(),
            );
        }
        let header = match code {
            401 => Some(("WWW-Authenticate", "`Bearer`")),
            429 | 503 => Some(("Retry-After", "Seconds to wait before retrying")),
            _ => None,
        };
        if let Some((name, description)) = header {
            r.headers.insert(
                name.to_string(),
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some(description))
                    .build(),
            );
        }
    }

    // A body is required only when its schema requires a field (an empty body reads as `{}`).
    if let Some(body) = op.request_body.as_mut() {
        let required = body.content.values().any(|c| match &c.schema {
            Some(RefOr::Ref(r)) => {
                let name = r.ref_location.rsplit('/').next().unwrap_or_default();
                components.schemas.get(name).is_some_and(requires_fields)
            }
            Some(s) => requires_fields(s),
            None => false,
        });
        body.required = Some(if required {
            Required::True
        } else {
            Required::False
        });
    }
}

fn path_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

/// The property names of a (referenced, composed) object schema.
fn properties(schema: &RefOr<Schema>, components: &Components) -> Vec<String> {
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            components
                .schemas
                .get(name)
                .map(|s| properties(s, components))
                .unwrap_or_default()
        }
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        RefOr::T(Schema::AllOf(a)) => a
            .items
            .iter()
            .flat_map(|s| properties(s, components))
            .collect(),
        _ => Vec::new(),
    }
}

/// OpenAPI links from what a POST returns to the operations that take it: a created item's
/// `id` (201) feeds the operations on `<path>/{<x>_id}`, a returned `<x>_id` those whose new
/// path parameter it is; parameters of the request path are passed on.
fn add_links(api: &mut OpenApi, components: &Components) {
    let mut targets: Vec<(String, String, Vec<String>)> = Vec::new();
    for (path, item) in api.paths.paths.iter_mut() {
        for (_, op) in operations(item) {
            if let Some(id) = &op.operation_id {
                targets.push((path.clone(), id.clone(), path_params(path)));
            }
        }
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let Some(op) = item.post.as_mut() else {
            continue;
        };
        let source_params = path_params(path);
        for (status, response) in op.responses.responses.iter_mut() {
            let RefOr::T(response) = response else {
                continue;
            };
            if !status.starts_with('2') {
                continue;
            }
            let Some(schema) = response
                .content
                .get("application/json")
                .and_then(|c| c.schema.as_ref())
            else {
                continue;
            };
            let props = properties(schema, components);
            for (target, target_id, params) in &targets {
                let new: Vec<&String> = params
                    .iter()
                    .filter(|p| !source_params.contains(p))
                    .collect();
                let [param] = new.as_slice() else { continue };
                let value = if status == "201"
                    && props.iter().any(|p| p == "id")
                    && target.starts_with(&format!("{path}/{{{param}}}"))
                {
                    "$response.body#/id".to_string()
                } else if props.iter().any(|p| p == *param) {
                    format!("$response.body#/{param}")
                } else {
                    continue;
                };
                let mut link = utoipa::openapi::link::Link::default();
                link.operation_id = target_id.clone();
                link.parameters.insert((*param).clone(), value.into());
                for p in params.iter().filter(|p| *p != *param) {
                    link.parameters
                        .insert(p.clone(), format!("$request.path.{p}").into());
                }
                response.links.insert(target_id.clone(), RefOr::T(link));
            }
        }
    }
}

fn requires_fields(schema: &RefOr<Schema>) -> bool {
    match schema {
        RefOr::T(Schema::Object(o)) => !o.required.is_empty(),
        RefOr::T(Schema::OneOf(o)) => o.items.iter().all(requires_fields),
        RefOr::T(Schema::AllOf(o)) => o.items.iter().any(requires_fields),
        _ => false,
    }
}

/// The document as served (`/openapi.json`) and the whole API's route table (`methods_for`):
/// `generate()`'s output, committed as `shared/openapi.json`. Serving the committed text means a
/// function links no route but its own: built at run time, the document needed every handler
/// of every group, which made api-meta the largest binary. The unit test
/// `committed_document_is_current` fails when the routes change and the file does not
/// (`UPDATE_OPENAPI=1 cargo test -p commandcenter committed_document` rewrites it).
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// The document generated from the routes. utoipa 5.5 writes the fields of a Link object in
/// snake_case (`operation_id`); OpenAPI spells them in camelCase.
pub fn generate() -> String {
    let mut doc = serde_json::to_value(spec()).unwrap_or_default();
    for item in doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|i| i.values_mut())
        {
            let responses = op.get_mut("responses").and_then(|r| r.as_object_mut());
            for response in responses.into_iter().flat_map(|r| r.values_mut()) {
                let links = response.get_mut("links").and_then(|l| l.as_object_mut());
                for link in links.into_iter().flat_map(|l| l.values_mut()) {
                    let Some(link) = link.as_object_mut() else {
                        continue;
                    };
                    for (from, to) in [
                        ("operation_id", "operationId"),
                        ("operation_ref", "operationRef"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(v) = link.remove(from) {
                            link.insert(to.into(), v);
                        }
                    }
                }
            }
        }
    }
    serde_json::to_string(&doc).unwrap_or_default()
}

/// Methods the whole API serves on `path`, from the document (None: no such path). A function
/// only mounts its own group, and API Gateway sends every unmatched request (`$default`) to
/// api-meta, so the complete route table decides between 404 and 405 + Allow.
pub fn methods_for(path: &str) -> Option<Vec<String>> {
    let wanted: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut best: Option<(usize, &Vec<String>)> = None;
    for (segs, methods) in route_table() {
        if segs.len() != wanted.len() {
            continue;
        }
        let mut literal = 0;
        let matches = segs.iter().zip(&wanted).all(|(s, w)| {
            if s.starts_with('{') {
                !w.is_empty()
            } else {
                literal += 1;
                s == w
            }
        });
        if matches && best.as_ref().is_none_or(|(l, _)| literal > *l) {
            best = Some((literal, methods));
        }
    }
    best.map(|(_, m)| m.clone())
}

/// Path templates (as segments) and their methods, read once from `DOCUMENT`.
fn route_table() -> &'static [(Vec<String>, Vec<String>)] {
    type Paths = std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, serde::de::IgnoredAny>,
    >;
    #[derive(serde::Deserialize)]
    struct Doc {
        paths: Paths,
    }
    static TABLE: OnceLock<Vec<(Vec<String>, Vec<String>)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let paths = serde_json::from_str::<Doc>(DOCUMENT)
            .map(|d| d.paths)
            .unwrap_or_default();
        paths
            .into_iter()
            .map(|(template, item)| {
                let segs = template
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                // The document's (utoipa's) order of methods.
                let methods = ["get", "put", "post", "delete", "patch"]
                    .into_iter()
                    .filter(|m| item.contains_key(*m))
                    .map(str::to_uppercase)
                    .collect();
                (segs, methods)
            })
            .collect()
    })
}

/// Fallback of every function: 405 + Allow for a path the API serves with other methods,
/// else 404.
pub async fn unrouted(method: axum::http::Method, uri: axum::http::Uri) -> super::ApiError {
    match methods_for(uri.path()) {
        Some(methods) if !methods.iter().any(|m| m == method.as_str()) => {
            let mut allow = methods;
            if allow.iter().any(|m| m == "GET") {
                allow.push("HEAD".into());
            }
            if allow.iter().any(|m| m == "PATCH") && !allow.iter().any(|m| m == "PUT") {
                allow.push("PUT".into());
            }
            super::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method Not Allowed",
            )
            .with_header(axum::http::header::ALLOW, allow.join(", "))
        }
        _ => super::ApiError::route_not_found(),
    }
}

pub const DOCS_HTML: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>CommandCenter API docs</title>
  <link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#swagger-ui" });
    };
  </script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    /// `shared/openapi.json` is what the routes generate (UPDATE_OPENAPI=1 rewrites it).
    #[test]
    fn committed_document_is_current() {
        let generated = super::generate();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
            std::fs::write(path, &generated).expect("write shared/openapi.json");
            return;
        }
        assert!(
            super::DOCUMENT == generated,
            "shared/openapi.json is not what the routes generate: run \
             `UPDATE_OPENAPI=1 cargo test -p commandcenter committed_document` and commit it"
        );
    }

    #[test]
    fn route_table_comes_from_the_document() {
        let methods = super::methods_for("/api/v1/technologies/7").expect("a known path");
        assert_eq!(methods, ["GET", "PUT", "DELETE", "PATCH"]);
        assert_eq!(
            super::methods_for("/api/v1/technologies").as_deref(),
            Some(&["GET".to_string(), "POST".to_string()][..])
        );
        assert!(super::methods_for("/api/v1/nowhere/at/all").is_none());
    }
}
