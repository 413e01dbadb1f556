//! Liveness, readiness and the OpenAPI document: no authentication, no patient data.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

/// The process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.app.ready().await {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        // Plain text here; the middleware makes every error response a problem.
        (StatusCode::SERVICE_UNAVAILABLE, "the database does not answer").into_response()
    }
}

pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}
