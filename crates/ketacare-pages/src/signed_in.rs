//! Who is looking at a page: the API's session cookie, checked by the same use case
//! (`App::authenticate_session`, with its idle and absolute expiry and its audit). No cookie sends the
//! browser to the login page; a cookie the app refuses (expired, ended) sends it there with the words
//! "your session expired"; an account with a one-time password reaches only the change-password page.
//! Forms carry the session's CSRF token in a hidden field (the synchroniser token the API takes in
//! `X-CSRF-Token`), and every form post must come from this site (`Origin`, `Sec-Fetch-Site`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::{Actor, AppError, Principal};
use ketacare_web::auth::{SESSION_COOKIE, constant_time_eq, cookie, session_cookie};
use ketacare_web::{ClientAddress, RequestId};

use crate::PagesState;
use crate::page_error::PageError;

/// The signed-in user of a page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    pub actor: Actor,
    pub session_token: String,
}

/// The paths an account that must change its password may still reach.
const BEFORE_PASSWORD_CHANGE: &[&str] = &["/password", "/logout"];

impl SignedIn {
    /// Checks a form's CSRF token against the session's.
    pub fn check_form_token(&self, sent: &str) -> Result<(), PageError> {
        let expected = self.principal.csrf_token.as_deref().unwrap_or_default();
        if expected.is_empty() || !constant_time_eq(sent, expected) { Err(PageError::FormRejected) } else { Ok(()) }
    }
}

/// The request id and client address the middleware set.
pub fn request_context(parts: &Parts) -> (String, String) {
    let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let address = parts.extensions.get::<ClientAddress>().map_or_else(|| "unknown".to_owned(), |a| a.0.clone());
    (request_id, address)
}

/// Sends the browser to the login page saying the session expired, and clears the dead cookie.
pub fn to_login_expired(state: &PagesState) -> Response {
    let clear = session_cookie(None, 0, state.config.behind_tls);
    ([(header::SET_COOKIE, clear)], Redirect::to("/?expired=1")).into_response()
}

impl FromRequestParts<PagesState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &PagesState) -> Result<Self, Self::Rejection> {
        let (request_id, address) = request_context(parts);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Err(Redirect::to("/").into_response());
        };
        let principal = match state.app.authenticate_session(&token, &request_id, &address).await {
            Ok(principal) => principal,
            Err(AppError::Unauthenticated) => return Err(to_login_expired(state)),
            Err(other) => return Err(PageError::from(other).into_response()),
        };
        if principal.must_change_password && !BEFORE_PASSWORD_CHANGE.contains(&parts.uri.path()) {
            return Err(Redirect::to("/password").into_response());
        }
        let actor = principal.actor(&request_id);
        Ok(SignedIn { principal, actor, session_token: token })
    }
}

/// Whether a form post comes from this site: a browser sends `Sec-Fetch-Site` and `Origin` with every
/// form post, and another site's page cannot forge them. (With SameSite=Strict on the cookie and the
/// CSRF token in signed-in forms, this is the third layer; for the login form it is the one that keeps
/// another site from signing a browser in to an account of its choosing.)
pub fn same_site_form(headers: &HeaderMap) -> bool {
    // Browsers that send Fetch Metadata say it outright; `none` is a person's own navigation.
    if let Some(fetch_site) = headers.get("sec-fetch-site").and_then(|value| value.to_str().ok()) {
        return matches!(fetch_site, "same-origin" | "none");
    }
    let origin = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok());
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
    match (origin, host) {
        (None, _) => true,
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, origin_host)| origin_host == host),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_forms_from_this_site_are_taken() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        assert!(same_site_form(&headers(&[])));
        assert!(same_site_form(&headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")])));
        assert!(!same_site_form(&headers(&[("origin", "https://evil.example"), ("host", "127.0.0.1:8080")])));
        assert!(!same_site_form(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_site_form(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_site_form(&headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")])));
        assert!(!same_site_form(&headers(&[("origin", "null"), ("host", "a")])));
    }
}
