//! Request bodies of the JSON API must say they are JSON: a POST, PUT or PATCH under `/api/v1` that carries
//! a body needs `Content-Type: application/json` (parameters such as `charset=utf-8` allowed), else 415
//! naming the header. A form or `text/plain` body — what a cross-site page can send without a CORS
//! preflight — is therefore never read, which closes login CSRF.

use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

fn carries_a_body(request: &Request) -> bool {
    // The body's size as hyper knows it (from Content-Length, or unknown for a chunked body).
    request.body().size_hint().upper() != Some(0)
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// Refuses a JSON API request whose body is not declared as JSON.
pub async fn require_json_bodies(request: Request, next: Next) -> Response {
    let writes = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
    if writes && request.uri().path().starts_with("/api/v1/") && carries_a_body(&request) && !is_json(&request) {
        return ApiError::UnsupportedMediaType.into_response();
    }
    next.run(request).await
}
