//! The one error type of the pages: a use case's refusal becomes a page that says what happened in
//! words (403 for what the role may not see, 404, 429, 503, 500), never a stack trace or patient data.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ketacare_app::AppError;

use crate::layout::Chrome;

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// The role may not see or do this (the use case's own permission check said so).
    Forbidden {
        action: String,
    },
    NotFound {
        what: String,
    },
    /// A form came without the session's CSRF token, or from another site.
    FormRejected,
    Throttled {
        retry_after_seconds: u64,
    },
    /// Input a page does not turn into a form error (a malformed link, say).
    Invalid {
        message: String,
    },
    Timeout,
    Failure,
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> PageError {
        match error {
            AppError::Forbidden { role, action } => {
                PageError::Forbidden { action: format!("the {role} role may not {action}") }
            }
            AppError::NotFound { resource, .. } => PageError::NotFound { what: resource.to_owned() },
            AppError::Throttled { retry_after_seconds }
            | AppError::Busy { retry_after_seconds }
            | AppError::TooManyJobs { retry_after_seconds } => PageError::Throttled { retry_after_seconds },
            AppError::Invalid { .. } | AppError::Refused { .. } | AppError::IdempotencyKeyReused { .. } => {
                PageError::Invalid { message: error.to_string() }
            }
            AppError::StaleVersion { .. } | AppError::Duplicate { .. } => PageError::Invalid {
                message: "someone changed this record since the page was loaded; reload the page and try again"
                    .to_owned(),
            },
            AppError::Unauthenticated => PageError::Forbidden { action: "you are not signed in".to_owned() },
            AppError::Storage(_) | AppError::Files(_) => {
                tracing::error!(error = %error, "a page failed");
                PageError::Failure
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            PageError::Forbidden { action } => (
                StatusCode::FORBIDDEN,
                "You do not have access to this page",
                format!("Your role does not allow this: {action}. Ask a clinic administrator if you need it."),
            ),
            PageError::NotFound { what } => (
                StatusCode::NOT_FOUND,
                "Page not found",
                format!("There is no such {what}. Check the link, or find the patient from the patient list."),
            ),
            PageError::FormRejected => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent from this page as it is now. Go back, reload the page and send it again."
                    .to_owned(),
            ),
            PageError::Throttled { retry_after_seconds } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("Try again in {retry_after_seconds} seconds."),
            ),
            PageError::Invalid { message } => (StatusCode::UNPROCESSABLE_ENTITY, "This could not be done", message),
            PageError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server took too long",
                "Nothing was lost: reload the page to see what was saved.".to_owned(),
            ),
            PageError::Failure => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not complete this. Reload the page; if it happens again, tell the clinic administrator."
                    .to_owned(),
            ),
        };
        let page = ErrorPage { chrome: Chrome::anonymous(heading), heading: heading.to_owned(), message };
        (status, render(&page)).into_response()
    }
}

/// Renders a template; a template that fails to render (it cannot, short of a bug) is a 500 page.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "a template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>The page could not be shown.</p>"),
            )
                .into_response()
        }
    }
}
