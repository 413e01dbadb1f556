//! Who is looking at a page: the API's session cookie, checked by the same use case
//! (`App::authenticate_session`, with its idle and absolute expiry and its audit). No cookie sends the
//! browser to the login page; a cookie the app refuses (expired, ended) sends it there with the words
//! "your session expired"; an account with a one-time password reaches only the change-password page.
//! Forms carry the session's CSRF token in a hidden field (the synchroniser token the API takes in
//! `X-CSRF-Token`), and every form post must come from this site (`Origin`, `Sec-Fetch-Site`).
//! The way to the sign-in page carries the way back (`next`): the page asked for, or for a form post the
//! page the form was on (its same-site `Referer`), marked `unsent` so the sign-in page says the form was
//! not saved (and the script puts back what was typed once the page is open again).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
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

/// The sign-in page's address for a request that needs a session it does not have: `expired` when its
/// cookie was refused, with the page to come back to and, for a form post, `unsent`.
fn login_address(parts: &Parts, expired: bool) -> String {
    let mut query: Vec<(&str, String)> = Vec::new();
    if expired {
        query.push(("expired", "1".to_owned()));
    }
    let is_form_post = parts.method == Method::POST;
    let back =
        if is_form_post { referring_page(&parts.headers) } else { parts.uri.path_and_query().map(|p| p.to_string()) };
    if let Some(back) = back.filter(|path| local_path(path)) {
        query.push(("next", back));
    }
    if is_form_post {
        query.push(("unsent", "1".to_owned()));
    }
    if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{}", serde_urlencoded::to_string(&query).unwrap_or_default())
    }
}

/// The path and query of the same-site page a form was posted from (`Referer`, which the pages' referrer
/// policy sends to this site only), without its fragment.
fn referring_page(headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let rest = referer.strip_prefix("https://").or_else(|| referer.strip_prefix("http://"))?;
    let path = rest.strip_prefix(host)?;
    let path = path.split('#').next().unwrap_or_default();
    path.starts_with('/').then(|| path.to_owned())
}

/// Whether `path` is a page of this site to send a browser back to after signing in: a local path (never
/// `//elsewhere` or a scheme), not the sign-in or sign-out itself, nor the live feed.
pub fn local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2000
        && !path.chars().any(|c| c == '\\' || c.is_control())
        && !["/", "/login", "/logout"].contains(&path.split('?').next().unwrap_or_default())
        && !path.starts_with("/?")
        && !path.starts_with("/live/")
}

impl FromRequestParts<PagesState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &PagesState) -> Result<Self, Self::Rejection> {
        let (request_id, address) = request_context(parts);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Err(Redirect::to(&login_address(parts, false)).into_response());
        };
        let principal = match state.app.authenticate_session(&token, &request_id, &address).await {
            Ok(principal) => principal,
            Err(AppError::Unauthenticated) => {
                let clear = session_cookie(None, 0, state.config.behind_tls);
                return Err(([(header::SET_COOKIE, clear)], Redirect::to(&login_address(parts, true))).into_response());
            }
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

    #[test]
    fn only_local_pages_are_ways_back_after_signing_in() {
        for path in ["/worklist", "/patients/p1?saved=plan", "/audit?action=user.*"] {
            assert!(local_path(path), "{path}");
        }
        for path in [
            "",
            "worklist",
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "/",
            "/?expired=1",
            "/login",
            "/logout",
            "/live/session-changes",
            "/a\nb",
        ] {
            assert!(!local_path(path), "{path:?}");
        }
        let headers = |referer: &'static str| {
            let mut map = HeaderMap::new();
            map.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
            map.insert(header::REFERER, referer.parse().unwrap());
            map
        };
        assert_eq!(
            referring_page(&headers("http://127.0.0.1:8080/patients/p1?x=1#plans")).as_deref(),
            Some("/patients/p1?x=1")
        );
        assert_eq!(referring_page(&headers("http://127.0.0.1:8080.evil.example/x")), None);
        assert_eq!(referring_page(&headers("https://elsewhere.example/patients")), None);
    }
}
