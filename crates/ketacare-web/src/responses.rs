//! The success responses the handlers share: a record with its `ETag`, and `201 Created` with its
//! `Location`, `ETag` and, for a replayed idempotent answer, `Idempotent-Replayed: true`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ketacare_app::Created;
use serde::Serialize;

use crate::input::etag;

/// `body` with the `ETag` of `version` (what `If-Match` must name to change the record).
pub(crate) fn with_etag(version: i64, body: impl Serialize) -> Response {
    let tag = HeaderValue::from_str(&etag(version)).expect("ETags are ASCII");
    ([(header::ETAG, tag)], Json(body)).into_response()
}

/// 201 with `Location`, and the `ETag` of the created record when the body carries its version (at
/// `version`, or at `record.version` for a chart write).
pub(crate) fn created(location: String, created: Created) -> Response {
    let version = created.body["version"].as_i64().or_else(|| created.body["record"]["version"].as_i64());
    let mut response = (StatusCode::CREATED, Json(created.body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(version) = version
        && let Ok(value) = HeaderValue::from_str(&etag(version))
    {
        response.headers_mut().insert(header::ETAG, value);
    }
    if created.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
