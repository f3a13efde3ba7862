//! `GET /openapi.json`: this API's OpenAPI 3.1 document (the same `punktfunk-host openapi` prints).

use axum::Json;

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "host", operation_id = "openapi",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::mgmt::openapi::document_json().clone())
}
