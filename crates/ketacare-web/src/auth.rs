//! Authentication of a request: a bearer API token (`Authorization: Bearer kc_…`) or the session cookie.
//! A cookie-authenticated request with an unsafe method must also carry the session's CSRF token in
//! `X-CSRF-Token` (synchroniser token pattern); SameSite=Strict on the cookie is the second layer.
//! Bearer requests need no CSRF token, since a browser never attaches one by itself. An account with
//! a one-time password reaches only its session routes until it changes the password.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use ketacare_app::{Actor, AppError, Principal};

use crate::error::ApiError;
use crate::{AppState, ClientAddress, RequestId};

/// The cookie holding the session secret.
pub const SESSION_COOKIE: &str = "ketacare_session";

/// The authenticated caller of a route, as an [`Actor`] for the use cases.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    pub actor: Actor,
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// `Set-Cookie` for a new session, or (with `None`) one that clears it.
pub fn session_cookie(token: Option<&str>, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = match token {
        Some(token) => {
            format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}")
        }
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).expect("cookie values are hex")
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
        let address = parts.extensions.get::<ClientAddress>().map_or_else(|| "unknown".to_owned(), |a| a.0.clone());
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let principal = if let Some(token) = bearer {
            state.app.authenticate_token(token.trim(), &request_id, &address).await?
        } else if let Some(token) = cookie(&parts.headers, SESSION_COOKIE) {
            let principal = state.app.authenticate_session(token, &request_id, &address).await?;
            if is_unsafe(&parts.method) {
                let sent = parts.headers.get("x-csrf-token").and_then(|value| value.to_str().ok());
                let expected = principal.csrf_token.as_deref();
                if sent.is_none() || !constant_time_eq(sent.unwrap_or_default(), expected.unwrap_or_default()) {
                    return Err(ApiError::CsrfRejected);
                }
            }
            principal
        } else {
            return Err(AppError::Unauthenticated.into());
        };
        let route = parts.extensions.get::<axum::extract::MatchedPath>().map(|path| path.as_str().to_owned());
        if principal.must_change_password
            && !matches!(route.as_deref(), Some("/api/v1/session" | "/api/v1/session/password"))
        {
            return Err(ApiError::PasswordChangeRequired);
        }
        let actor = principal.actor(&request_id);
        Ok(Authenticated { principal, actor })
    }
}

/// Compares secrets in time independent of where they differ (the API's CSRF header and the pages' form field).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; ketacare_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_strict() {
        let set = session_cookie(Some("ab"), 60, true);
        assert_eq!(set, "ketacare_session=ab; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure");
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd") && !constant_time_eq("ab", "abc"));
    }
}
