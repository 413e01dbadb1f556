//! The one error type of the API and its mapping to RFC 9457 problem details
//! (`application/problem+json`), naming the offending field when there is one. Logged once, here,
//! with safe fields only: status, problem type and request id, never values from the request.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ketacare_app::AppError;
use serde_json::json;

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    /// A request body, query or header that does not parse; `field` names it.
    Invalid {
        field: String,
        problem: String,
    },
    /// An update without `If-Match` (RFC 6585 428): updates must say which version they change.
    PreconditionRequired,
    /// A session-authenticated unsafe request without the session's CSRF token.
    CsrfRejected,
    /// The account has a one-time password and may only change it (or log out).
    PasswordChangeRequired,
    NotFound,
    MethodNotAllowed,
    /// A body that does not say it is JSON (415).
    UnsupportedMediaType,
    /// The request was not answered within the server's request timeout.
    Timeout {
        after_seconds: u64,
    },
    /// A patient's self-report link that is unknown, used or expired: one answer for all three (410), so
    /// the answer tells nothing about a token (the audit log keeps which).
    SelfReportLinkUnusable,
    /// Handling the request panicked (caught by the router's outermost layer); no internals are shown.
    Internal,
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> ApiError {
        ApiError::App(error)
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ApiError {
        ApiError::Invalid { field: field.into(), problem: problem.into() }
    }

    /// The rule a clinical refusal names.
    fn rule_id(&self) -> Option<&str> {
        match self {
            ApiError::App(AppError::Refused { rule_id, .. }) => Some(rule_id),
            _ => None,
        }
    }

    /// Status, problem slug, title, detail and field.
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, &'static str, String, Option<String>) {
        match self {
            ApiError::App(error) => {
                let detail = error.to_string();
                match error {
                    AppError::Unauthenticated => {
                        (StatusCode::UNAUTHORIZED, "unauthenticated", "Authentication required", detail, None)
                    }
                    AppError::Forbidden { .. } => {
                        (StatusCode::FORBIDDEN, "forbidden", "Not allowed for this role", detail, None)
                    }
                    AppError::NotFound { .. } => (StatusCode::NOT_FOUND, "not-found", "Not found", detail, None),
                    AppError::Invalid { field, problem } => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-field",
                        "Invalid field",
                        problem.clone(),
                        Some(field.clone()),
                    ),
                    AppError::Refused { field, problem, .. } => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "clinical-refusal",
                        "Refused by a clinical rule",
                        problem.clone(),
                        Some(field.clone()),
                    ),
                    AppError::StaleVersion { .. } => (
                        StatusCode::PRECONDITION_FAILED,
                        "stale-version",
                        "The record changed since it was read",
                        detail,
                        None,
                    ),
                    AppError::IdempotencyKeyReused { .. } => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency-key-reused",
                        "Idempotency-Key reused with a different request",
                        detail,
                        Some("Idempotency-Key".to_owned()),
                    ),
                    AppError::Duplicate { .. } => (StatusCode::CONFLICT, "duplicate", "Already exists", detail, None),
                    AppError::Throttled { .. } => {
                        (StatusCode::TOO_MANY_REQUESTS, "throttled", "Too many failed logins", detail, None)
                    }
                    AppError::Busy { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "busy", "Too many password checks waiting", detail, None)
                    }
                    AppError::TooManyJobs { .. } => {
                        (StatusCode::TOO_MANY_REQUESTS, "too-many-jobs", "Too many jobs running", detail, None)
                    }
                    // The storage error's text stays in the log; the client gets no internals.
                    AppError::Storage(_) | AppError::Files(_) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "Internal error",
                        "the request could not be completed; it is logged with its request id".to_owned(),
                        None,
                    ),
                }
            }
            ApiError::Invalid { field, problem } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
                "Invalid field",
                problem.clone(),
                Some(field.clone()),
            ),
            ApiError::PreconditionRequired => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition-required",
                "If-Match required",
                "send the ETag you read in If-Match, so a concurrent change is not overwritten".to_owned(),
                Some("If-Match".to_owned()),
            ),
            ApiError::CsrfRejected => (
                StatusCode::FORBIDDEN,
                "csrf",
                "CSRF token missing or wrong",
                "send the csrf_token from the login response in the X-CSRF-Token header".to_owned(),
                Some("X-CSRF-Token".to_owned()),
            ),
            ApiError::PasswordChangeRequired => (
                StatusCode::FORBIDDEN,
                "password-change-required",
                "Password change required",
                "this account has a one-time password: change it with POST /api/v1/session/password first".to_owned(),
                None,
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found", "no such route".to_owned(), None),
            ApiError::SelfReportLinkUnusable => (
                StatusCode::GONE,
                "self-report-link-unusable",
                "This link does not work",
                "the link is unknown, used already or expired: the clinic can make a new one".to_owned(),
                Some("token".to_owned()),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "a request body of the API is JSON: send Content-Type: application/json".to_owned(),
                Some("Content-Type".to_owned()),
            ),
            ApiError::Timeout { after_seconds } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timed out",
                format!(
                    "no answer within {after_seconds} s; a write that was under way may still have been stored: \
                     read the record, or retry with the same Idempotency-Key"
                ),
                None,
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the request could not be completed; it is logged".to_owned(),
                None,
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "the route does not take this method".to_owned(),
                None,
            ),
        }
    }
}

/// The prefix of every problem `type`: a URN, resolvable in docs/api.md.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:ketacare:problem:";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title, detail, field) = self.parts();
        if status.is_server_error() {
            if let ApiError::App(error @ (AppError::Storage(_) | AppError::Files(_))) = &self {
                tracing::error!(problem = slug, error = %error, "request failed");
            }
        } else {
            tracing::info!(status = status.as_u16(), problem = slug, "request refused");
        }
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        });
        if let Some(field) = field {
            body["field"] = json!(field);
        }
        if let Some(rule_id) = self.rule_id() {
            body["rule_id"] = json!(rule_id);
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let ApiError::App(
            AppError::Throttled { retry_after_seconds }
            | AppError::Busy { retry_after_seconds }
            | AppError::TooManyJobs { retry_after_seconds },
        ) = &self
            && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"ketacare\""));
        }
        response
    }
}

/// Rewrites an error response that is not a problem (e.g. axum's plain-text 413 for a body over the
/// limit) as RFC 9457 problem details, keeping its status and its text as the detail.
pub async fn problem_from_plain(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let status = parts.status;
    let slug = match status.as_u16() {
        400 => "bad-request",
        404 => "not-found",
        405 => "method-not-allowed",
        413 => "body-too-large",
        415 => "unsupported-media-type",
        422 => "invalid-field",
        503 => "not-ready",
        500..=599 => "internal",
        _ => "error",
    };
    // A server error's text may hold internals; only "not ready" is safe to pass on.
    let show_text = !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE;
    let detail = match text {
        Ok(text) if show_text && !text.trim().is_empty() => text,
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = json!({
        "type": format!("{PROBLEM_TYPE_PREFIX}{slug}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, body.to_string()).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}
