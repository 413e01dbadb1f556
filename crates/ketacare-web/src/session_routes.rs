//! Login, logout and who-am-I; API tokens; accounts (admins).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ketacare_app::{NewAccount, Permission, Role, UserChangeInput};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Authenticated, SESSION_COOKIE, cookie, session_cookie};
use crate::error::ApiError;
use crate::input::json_body;
use crate::{AppState, ClientAddress, RequestId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginInput {
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Extension(address): Extension<ClientAddress>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: LoginInput = json_body(&body)?;
    let signed_in = state.app.login(&input.username, &input.password, &address.0, &request_id.0).await?;
    let max_age = state.app.session_policy().absolute.as_secs();
    let body = json!({
        "username": signed_in.principal.username,
        "role": signed_in.principal.role,
        "csrf_token": signed_in.csrf_token,
        "expires_at": signed_in.expires_at.to_string(),
        "password_change_required": signed_in.principal.must_change_password,
    });
    let cookie = session_cookie(Some(&signed_in.session_token), max_age, state.config.behind_tls);
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

pub async fn whoami(caller: Authenticated) -> Json<serde_json::Value> {
    Json(json!({
        "user_id": caller.principal.user_id,
        "username": caller.principal.username,
        "role": caller.principal.role,
        "csrf_token": caller.principal.csrf_token,
        "password_change_required": caller.principal.must_change_password,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordInput {
    current_password: String,
    new_password: String,
}

/// Changes the caller's password; the caller's other sessions end, this one stays.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    caller: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let input: PasswordInput = json_body(&body)?;
    let session = cookie(&headers, SESSION_COOKIE);
    let request_id = &caller.actor.request_id;
    let (current, new) = (&input.current_password, &input.new_password);
    state.app.change_password(&caller.principal, request_id, session, &address.0, current, new).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn logout(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.app.logout(&caller.actor, token).await?;
    }
    let cookie = session_cookie(None, 0, state.config.behind_tls);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    label: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    caller: Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: TokenInput = json_body(&body)?;
    let created = state.app.create_api_token(&caller.actor, &input.label).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// The caller's own tokens (never a secret).
pub async fn list_tokens(State(state): State<AppState>, caller: Authenticated) -> Result<Response, ApiError> {
    let tokens = state.app.list_api_tokens(&caller.actor).await?;
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// An account's tokens, for an admin.
pub async fn list_user_tokens(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    let tokens = state.app.list_user_api_tokens(&caller.actor, &user_id).await?;
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// Ends an account's login lockouts (admin).
pub async fn unlock_user(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.unlock_account(&caller.actor, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(token_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.revoke_api_token(&caller.actor, &token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserInput {
    username: String,
    password: String,
    role: Role,
}

pub async fn create_user(
    State(state): State<AppState>,
    caller: Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.app.authorize(&caller.actor, Permission::ManageUsers, "user.create", "users".to_owned(), None).await?;
    let input: UserInput = json_body(&body)?;
    // The admin chose this password, so its owner must change it at first login.
    let account = NewAccount {
        username: input.username.clone(),
        password: input.password,
        role: input.role,
        must_change_password: true,
    };
    let user_id = state.app.create_user(Some(&caller.actor), &account).await?;
    let body = json!({ "user_id": user_id, "username": input.username, "role": input.role });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list_users(State(state): State<AppState>, caller: Authenticated) -> Result<Response, ApiError> {
    let users = state.app.list_users(&caller.actor).await?;
    Ok(Json(json!({ "users": users })).into_response())
}

/// `{role?, active?}`: an admin changes an account's role or (de)activates it.
pub async fn update_user(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.app.authorize(&caller.actor, Permission::ManageUsers, "user.update", format!("user/{user_id}"), None).await?;
    let input: UserChangeInput = json_body(&body)?;
    Ok(Json(state.app.update_user(&caller.actor, &user_id, &input).await?).into_response())
}

/// An admin resets another account's password: the answer holds a one-time password, shown once.
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    let password = state.app.reset_password(Some(&caller.actor), &user_id).await?;
    let body = serde_json::json!({ "user_id": user_id, "one_time_password": password, "must_change_password": true });
    Ok(Json(body).into_response())
}
