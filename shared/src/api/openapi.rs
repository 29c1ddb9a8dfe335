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
