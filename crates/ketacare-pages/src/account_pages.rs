//! Signing in and out, and changing the password: the login page (which says when a session expired,
//! and whether a form was left unsent, and signs in back to the page the user was on), the login and
//! logout form posts, and the change-password page an account with a one-time password is held on until
//! it has chosen its own.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::{AppError, Principal};
use ketacare_web::auth::{SESSION_COOKIE, cookie, session_cookie};
use ketacare_web::{ClientAddress, RequestId};
use serde::Deserialize;

use crate::PagesState;
use crate::layout::{Chrome, home_path};
use crate::page_error::{PageError, render};
use crate::signed_in::{SignedIn, local_path, same_site_form};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    username: String,
    /// Why the last attempt failed (shown in the error summary and under the field).
    error: Option<String>,
    /// A notice that is not an error: the session expired, the user signed out.
    notice: Option<String>,
    /// The page to return to after signing in (a local path), or empty.
    next: String,
    /// A form was posted without a live session: what was typed is kept by the script until the page
    /// is open again.
    unsent: bool,
    /// The user signed out: the script forgets any form it kept.
    signed_out: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    unsent: Option<String>,
}

const EXPIRED: &str = "Your session expired, so you were signed out. Sign in again to continue.";
const EXPIRED_UNSENT: &str = "Your session expired, so the form you sent was not saved. Sign in again to go back \
                              to the page and send it again.";

/// The way back after signing in, when it is a page of this site.
fn next_page(next: Option<&str>) -> String {
    next.filter(|path| local_path(path)).unwrap_or_default().to_owned()
}

/// `GET /`: the login page, or the worklist for someone already signed in.
pub async fn login_page(
    State(state): State<PagesState>,
    Extension(request_id): Extension<RequestId>,
    Extension(address): Extension<ClientAddress>,
    Query(query): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    let next = next_page(query.next.as_deref());
    let unsent = query.unsent.is_some();
    let mut notice = None;
    if unsent {
        notice = Some(EXPIRED_UNSENT.to_owned());
    } else if query.expired.is_some() {
        notice = Some(EXPIRED.to_owned());
    } else if query.signed_out.is_some() {
        notice = Some("You have signed out.".to_owned());
    }
    let mut clear_cookie = false;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        match state.app.authenticate_session(token, &request_id.0, &address.0).await {
            Ok(principal) if principal.must_change_password || next.is_empty() => {
                return Redirect::to(home_path(&principal)).into_response();
            }
            Ok(_) => return Redirect::to(&next).into_response(),
            Err(_) => {
                notice.get_or_insert_with(|| EXPIRED.to_owned());
                clear_cookie = true;
            }
        }
    }
    let page = LoginPage {
        chrome: Chrome::anonymous("Sign in"),
        username: String::new(),
        error: None,
        notice,
        next,
        unsent,
        signed_out: query.signed_out.is_some(),
    };
    let mut response = render(&page);
    if clear_cookie {
        response.headers_mut().insert(header::SET_COOKIE, session_cookie(None, 0, state.config.behind_tls));
    }
    response
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: opens a session exactly as `POST /api/v1/session` does (throttled, audited) and sets
/// the same cookie; then the change-password page (one-time password) or the worklist.
pub async fn login(
    State(state): State<PagesState>,
    Extension(request_id): Extension<RequestId>,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    if !same_site_form(&headers) {
        return Err(PageError::FormRejected);
    }
    let form: LoginForm = serde_urlencoded::from_bytes(&body).map_err(|_| PageError::FormRejected)?;
    let username = form.username.trim().to_owned();
    let next = next_page(Some(&form.next));
    let failed = |status: StatusCode, message: String| {
        let page = LoginPage {
            chrome: Chrome::anonymous("Sign in"),
            username: username.clone(),
            error: Some(message),
            notice: None,
            next: next.clone(),
            unsent: false,
            signed_out: false,
        };
        (status, render(&page)).into_response()
    };
    if username.is_empty() || form.password.is_empty() {
        return Ok(failed(StatusCode::UNPROCESSABLE_ENTITY, "Enter your username and password.".to_owned()));
    }
    match state.app.login(&username, &form.password, &address.0, &request_id.0).await {
        Ok(signed_in) => {
            let max_age = state.app.session_policy().absolute.as_secs();
            let cookie = session_cookie(Some(&signed_in.session_token), max_age, state.config.behind_tls);
            let principal = &signed_in.principal;
            let to = if principal.must_change_password || next.is_empty() { home_path(principal) } else { &next };
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response())
        }
        Err(AppError::Unauthenticated) => Ok(failed(
            StatusCode::UNAUTHORIZED,
            "The username or password is not right. Check them and try again.".to_owned(),
        )),
        Err(AppError::Throttled { retry_after_seconds }) => Ok(failed(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins. Try again in {retry_after_seconds} seconds."),
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /logout`: ends the session (audited) and clears the cookie.
pub async fn logout(State(state): State<PagesState>, signed: SignedIn, body: Bytes) -> Result<Response, PageError> {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).map_err(|_| PageError::FormRejected)?;
    signed.check_form_token(&form.csrf_token)?;
    state.app.logout(&signed.actor, &signed.session_token).await?;
    let clear = session_cookie(None, 0, state.config.behind_tls);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/?signed_out=1")).into_response())
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    one_time: bool,
    csrf_token: String,
    /// `(field id, message)`, in the order of the fields.
    errors: Vec<(&'static str, String)>,
}

impl PasswordPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(id, _)| *id == field).map(|(_, message)| message.as_str())
    }
}

fn password_page_for(signed: &SignedIn, errors: Vec<(&'static str, String)>) -> PasswordPage {
    PasswordPage {
        chrome: Chrome::signed_in("Change your password", "", &signed.principal),
        one_time: signed.principal.must_change_password,
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        errors,
    }
}

/// `GET /password`.
pub async fn password_page(signed: SignedIn) -> Response {
    render(&password_page_for(&signed, Vec::new()))
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /password`: the use case checks the current password and the new one's length; this session
/// stays, the account's others end.
pub async fn change_password(
    State(state): State<PagesState>,
    Extension(address): Extension<ClientAddress>,
    signed: SignedIn,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: PasswordForm = serde_urlencoded::from_bytes(&body).map_err(|_| PageError::FormRejected)?;
    signed.check_form_token(&form.csrf_token)?;
    let refuse = |errors: Vec<(&'static str, String)>| {
        (StatusCode::UNPROCESSABLE_ENTITY, render(&password_page_for(&signed, errors))).into_response()
    };
    if form.new_password != form.confirm_password {
        return Ok(refuse(vec![("confirm_password", "The two new passwords are not the same.".to_owned())]));
    }
    let result = state
        .app
        .change_password(
            &signed.principal,
            &signed.actor.request_id,
            Some(&signed.session_token),
            &address.0,
            &form.current_password,
            &form.new_password,
        )
        .await;
    match result {
        Ok(()) => {
            let principal = Principal { must_change_password: false, ..signed.principal.clone() };
            Ok(Redirect::to(home_path(&principal)).into_response())
        }
        Err(AppError::Invalid { field, problem }) => {
            let (id, message) = match field.as_str() {
                "current_password" => ("current_password", "This is not your current password.".to_owned()),
                _ => ("new_password", format!("The new password {problem}.")),
            };
            Ok(refuse(vec![(id, message)]))
        }
        Err(other) => Err(other.into()),
    }
}
