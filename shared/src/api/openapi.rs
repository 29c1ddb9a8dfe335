//! The OpenAPI 3.1 document, generated from the routes' own `#[utoipa::path]` definitions, and
//! the `/docs` page (Swagger UI from a CDN, so the build needs no download).

use std::sync::OnceLock;

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::ToSchema;

/// `application/problem+json` (API.md §0.5).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[schema(example = "urn:commandcenter:problem:validation_error")]
    pub r#type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub request_id: String,
    /// Present on 422 only.
    pub errors: Option<Vec<ProblemField>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    pub r#type: String,
}

/// The whole API's document (every group), built once.
pub fn spec() -> &'static OpenApi {
    static SPEC: OnceLock<OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let (_, mut api) = super::all_routes().split_for_parts();
        api.info.title = "CommandCenter API".into();
        api.info.version = "1.0.0".into();
        api.info.description = Some(
            "R&D management backend: projects, repositories, technology radar, research, jobs."
                .into(),
        );
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or cc_pat_ token")
                    .build(),
            ),
        );
        let mut schemas = Vec::new();
        <Problem as utoipa::ToSchema>::schemas(&mut schemas);
        components.schemas.insert(
            "Problem".into(),
            <Problem as utoipa::PartialSchema>::schema(),
        );
        components.schemas.insert(
            "ProblemField".into(),
            <ProblemField as utoipa::PartialSchema>::schema(),
        );
        for (name, schema) in schemas {
            components.schemas.insert(name, schema);
        }
        api
    })
}

/// Methods the whole API serves on `path`, from the document (None: no such path). A function
/// only mounts its own group, and API Gateway sends every unmatched request (`$default`) to
/// api-meta, so the complete route table decides between 404 and 405 + Allow.
pub fn methods_for(path: &str) -> Option<Vec<String>> {
    let wanted: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut best: Option<(usize, Vec<String>)> = None;
    for (template, item) in &spec().paths.paths {
        let segs: Vec<&str> = template.trim_matches('/').split('/').collect();
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
            let methods = serde_json::to_value(item)
                .ok()
                .and_then(|v| {
                    v.as_object()
                        .map(|o| o.keys().map(|k| k.to_uppercase()).collect::<Vec<_>>())
                })
                .unwrap_or_default()
                .into_iter()
                .filter(|m| ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
                .collect();
            best = Some((literal, methods));
        }
    }
    best.map(|(_, m)| m)
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
            if allow.iter().any(|m| m == "PATCH") {
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
