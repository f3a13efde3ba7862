//! The OpenAPI 3.1 document: generated from the same handlers the router serves
//! (`mgmt::routes`), then completed here with what applies to every route: the two security schemes,
//! and the 401/403 answers of every route that needs authentication.

use crate::mgmt::error::ErrorBody;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ComponentsBuilder, OpenApi, RefOr, ResponseBuilder, content::Content};

pub const BEARER: &str = "bearer";
pub const COOKIE: &str = "cookie";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "punktfunk management API",
        description = "Manage a running punktfunk host: sessions, pairing, paired devices, settings, \
            live events and logs. Served over HTTPS with the host's own certificate (pin its \
            fingerprint). Every route except GET /api/v1/health needs either the admin token \
            (`Authorization: Bearer`, accepted from loopback only) or a console session cookie from \
            POST /api/v1/auth/login; state-changing requests with the cookie must also send \
            `X-Punktfunk-Console: 1`. Every non-2xx answer is `{\"error\": \"…\"}`."
    ),
    tags(
        (name = "host", description = "Health, status, capabilities, events, logs"),
        (name = "auth", description = "Console login and password"),
        (name = "sessions", description = "Live streaming sessions"),
        (name = "devices", description = "Paired devices"),
        (name = "pairing", description = "Pairing new devices"),
        (name = "settings", description = "Host settings"),
        (name = "library", description = "Installed games found in the stores"),
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                )))),
            )
            .build(),
    )
}

/// Operations that declare `security(())` are public; every other one gets both schemes and the
/// answers the auth layer gives.
fn secure(operation: &mut Operation) {
    let public = operation
        .security
        .as_ref()
        .is_some_and(|reqs| reqs.iter().all(|r| *r == SecurityRequirement::default()));
    if public {
        return;
    }
    operation.security = Some(vec![
        SecurityRequirement::new(BEARER, Vec::<String>::new()),
        SecurityRequirement::new(COOKIE, Vec::<String>::new()),
    ]);
    let responses = &mut operation.responses.responses;
    responses.entry("401".into()).or_insert_with(|| {
        error_response("No valid credentials (missing, wrong or expired token or session)")
    });
    responses.entry("403".into()).or_insert_with(|| {
        error_response(
            "Admin token from a non-loopback peer, or a cookie-authenticated state change \
             without X-Punktfunk-Console: 1",
        )
    });
}

/// Adds the security schemes and completes every operation.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let mut components = doc
        .components
        .take()
        .unwrap_or_else(|| ComponentsBuilder::new().build());
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        COOKIE,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::mgmt::auth::COOKIE_NAME,
            "Console session from POST /api/v1/auth/login",
        ))),
    );
    doc.components = Some(components);
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            secure(operation);
        }
    }
    doc
}

/// The complete document.
pub fn document() -> OpenApi {
    let (_, doc) = crate::mgmt::openapi_router(None).split_for_parts();
    finish(doc)
}

/// The document as JSON, built once.
pub fn document_json() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(document()).unwrap_or_default())
}

/// What `punktfunk-host openapi` prints and `api/openapi.json` holds: pretty JSON, keys in a fixed
/// order, ending with a newline.
pub fn document_pretty() -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(&document())?;
    text.push('\n');
    Ok(text)
}
