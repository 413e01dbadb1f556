//! Users and roles, for admins (`/admin/users`): every account with its role and status; create an
//! account (its one-time password shown once), change a role, deactivate or reactivate, end a sign-in
//! lockout, reset a password (the new one-time password shown once), and an account's API tokens with
//! Revoke. Every action is the use case `/api/v1/users` and `/api/v1/tokens` call (`App::list_users`,
//! `create_user`, `update_user`, `unlock_account`, `reset_password`, `list_user_api_tokens`,
//! `revoke_api_token`), so the permission check, its audited refusal and the rule that an admin cannot
//! lock themself out are theirs; a refusal comes back on the page beside the field it names.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::{AppError, NewAccount, Permission, Role, UserChangeInput, UserView};
use serde::Deserialize;

use crate::PagesState;
use crate::display::{clinic_zone, date_time, html_id};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::session_page::read_form;
use crate::signed_in::SignedIn;
use crate::token_pages::{TokenRow, TokensPage, token_rows};
use crate::treatment_forms::FormErrors;

/// A secret shown once, right after it was made (never stored in a page address or shown again).
pub struct OneTimeSecret {
    pub heading: String,
    /// What the secret is for, before it.
    pub lead: String,
    pub secret: String,
    pub advice: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    csrf_token: String,
    users: Vec<UserRow>,
    notice: Option<String>,
    one_time: Option<OneTimeSecret>,
    /// The create form as typed.
    new_username: String,
    new_role_options: Vec<RoleOption>,
    /// Refusals by field id (`new-username`, `role-{user}`, `active-{user}`, `reset-{user}`), in the order
    /// the summary lists them.
    errors: FormErrors,
}

/// One role of a select, with whether it is chosen.
struct RoleOption {
    value: &'static str,
    selected: bool,
}

fn role_options(chosen: &str) -> Vec<RoleOption> {
    Role::ALL.iter().map(|role| RoleOption { value: role.as_str(), selected: role.as_str() == chosen }).collect()
}

struct UserRow {
    user_id: String,
    username: String,
    role_options: Vec<RoleOption>,
    active: bool,
    must_change_password: bool,
    created: String,
    /// The signed-in admin's own account (reset is not offered: they change their own password).
    is_self: bool,
    role_id: String,
    active_id: String,
    reset_id: String,
    unlock_id: String,
}

fn user_row(user: &UserView, signed: &SignedIn, zone: &jiff::tz::TimeZone) -> UserRow {
    UserRow {
        user_id: user.user_id.clone(),
        username: user.username.clone(),
        role_options: role_options(user.role.as_str()),
        active: user.active,
        must_change_password: user.must_change_password,
        created: date_time(&user.created_at, zone),
        is_self: user.user_id == signed.principal.user_id,
        role_id: html_id("role-", &user.user_id),
        active_id: html_id("active-", &user.user_id),
        reset_id: html_id("reset-", &user.user_id),
        unlock_id: html_id("unlock-", &user.user_id),
    }
}

/// What the users page shows besides the list.
#[derive(Default)]
struct UsersExtras {
    notice: Option<String>,
    one_time: Option<OneTimeSecret>,
    new_username: String,
    new_role: String,
    errors: FormErrors,
}

/// The users page, read through `App::list_users` (admins only; a refusal is audited).
async fn users_page(state: &PagesState, signed: &SignedIn, extras: UsersExtras) -> Result<UsersPage, PageError> {
    let users = state.app.list_users(&signed.actor).await?;
    let zone = clinic_zone(&state.app);
    Ok(UsersPage {
        chrome: Chrome::signed_in("Users and roles", "users", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        users: users.iter().map(|user| user_row(user, signed, &zone)).collect(),
        notice: extras.notice,
        one_time: extras.one_time,
        new_username: extras.new_username,
        new_role_options: role_options(if extras.new_role.is_empty() {
            Role::Nurse.as_str()
        } else {
            &extras.new_role
        }),
        errors: extras.errors,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

/// `GET /admin/users`.
pub async fn users(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(query): Query<UsersQuery>,
) -> Result<Response, PageError> {
    let mut page = users_page(&state, &signed, UsersExtras::default()).await?;
    let named = query.user.as_deref().and_then(|id| page.users.iter().find(|user| user.user_id == id));
    let name = named.map_or_else(|| "the account".to_owned(), |user| user.username.clone());
    page.notice = match query.saved.as_deref() {
        Some("role") => {
            Some(format!("The role of {name} was changed; their sessions ended and their API tokens were revoked."))
        }
        Some("deactivated") => Some(format!(
            "{name} was deactivated: they cannot sign in, their sessions ended and their API tokens were revoked."
        )),
        Some("reactivated") => Some(format!("{name} was reactivated and can sign in again.")),
        Some("unlocked") => Some(format!("Sign-in lockouts of {name} were ended: they can try again now.")),
        _ => None,
    };
    Ok(render(&page))
}

/// Re-renders the users page with a refusal beside the field `id` (status 422).
async fn users_refused(state: &PagesState, signed: &SignedIn, extras: UsersExtras) -> Result<Response, PageError> {
    let page = users_page(state, signed, extras).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

/// A use case's refusal of a change, in its words, on the field `id`; anything else is the page's error.
fn refusal_on(id: &str, error: AppError) -> Result<FormErrors, PageError> {
    let message = match error {
        AppError::Invalid { field, problem } => format!("{field}: {problem}"),
        AppError::Duplicate { what } => format!("{what} already exists"),
        other => return Err(other.into()),
    };
    Ok(FormErrors { messages: vec![(id.to_owned(), message)] })
}

/// Refuses, audited, a role without `ManageUsers` before anything of the form is read (as the API does).
async fn require_admin(state: &PagesState, signed: &SignedIn, action: &str, resource: String) -> Result<(), PageError> {
    Ok(state.app.authorize(&signed.actor, Permission::ManageUsers, action, resource, None).await?)
}

fn role_named(text: &str) -> Option<Role> {
    Role::parse(text.trim())
}

#[derive(Debug, Default, Deserialize)]
struct CreateUserForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/users`: creates the account with a generated one-time password and shows it once.
pub async fn create_user(
    State(state): State<PagesState>,
    signed: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: CreateUserForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    require_admin(&state, &signed, "user.create", "users".to_owned()).await?;
    let username = form.username.trim().to_owned();
    let typed = |errors: FormErrors| UsersExtras {
        new_username: form.username.clone(),
        new_role: form.role.clone(),
        errors,
        ..UsersExtras::default()
    };
    let Some(role) = role_named(&form.role) else {
        let message = format!("role: must be one of {}", Role::ALL.map(Role::as_str).join(", "));
        return users_refused(&state, &signed, typed(FormErrors { messages: vec![("new-role".to_owned(), message)] }))
            .await;
    };
    // Someone other than the owner saw this password, so it is for one use (as the API's accounts).
    let password = state.app.bootstrap_password();
    let account =
        NewAccount { username: username.clone(), password: password.clone(), role, must_change_password: true };
    match state.app.create_user(Some(&signed.actor), &account).await {
        Ok(_) => {
            let one_time = OneTimeSecret {
                heading: format!("Account {username} created ({})", role.as_str()),
                lead: format!("One-time password for {username}:"),
                secret: password,
                advice: "It is shown only now: give it to them in person. They choose their own password when they \
                         first sign in."
                    .to_owned(),
            };
            let page =
                users_page(&state, &signed, UsersExtras { one_time: Some(one_time), ..UsersExtras::default() }).await?;
            Ok(render(&page))
        }
        Err(AppError::Duplicate { .. }) => {
            let message = format!("username: an account named {username} already exists");
            users_refused(&state, &signed, typed(FormErrors { messages: vec![("new-username".to_owned(), message)] }))
                .await
        }
        Err(error) => {
            let errors = refusal_on("new-username", error)?;
            users_refused(&state, &signed, typed(errors)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ChangeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    active: String,
}

/// Reads a change form after the admin check.
async fn change_form(
    state: &PagesState,
    signed: &SignedIn,
    user_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ChangeForm, PageError> {
    let form: ChangeForm = read_form(headers, body)?;
    signed.check_form_token(&form.csrf_token)?;
    require_admin(state, signed, "user.update", format!("user/{user_id}")).await?;
    Ok(form)
}

/// Applies a change through `App::update_user`; a refusal comes back beside `field_id`.
async fn apply_change(
    state: &PagesState,
    signed: &SignedIn,
    user_id: &str,
    change: &UserChangeInput,
    field_id: &str,
    saved: &str,
) -> Result<Response, PageError> {
    match state.app.update_user(&signed.actor, user_id, change).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/users?saved={saved}&user={user_id}#{field_id}")).into_response()),
        Err(error) => {
            let errors = refusal_on(field_id, error)?;
            users_refused(state, signed, UsersExtras { errors, ..UsersExtras::default() }).await
        }
    }
}

/// `POST /admin/users/{user_id}/role`.
pub async fn change_role(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = change_form(&state, &signed, &user_id, &headers, &body).await?;
    let field_id = html_id("role-", &user_id);
    let Some(role) = role_named(&form.role) else {
        let message = format!("role: must be one of {}", Role::ALL.map(Role::as_str).join(", "));
        let errors = FormErrors { messages: vec![(field_id, message)] };
        return users_refused(&state, &signed, UsersExtras { errors, ..UsersExtras::default() }).await;
    };
    let change = UserChangeInput { role: Some(role), active: None };
    apply_change(&state, &signed, &user_id, &change, &field_id, "role").await
}

/// `POST /admin/users/{user_id}/active`: `active=false` deactivates, `active=true` reactivates.
pub async fn change_active(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = change_form(&state, &signed, &user_id, &headers, &body).await?;
    let field_id = html_id("active-", &user_id);
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        other => {
            let errors =
                FormErrors { messages: vec![(field_id, format!("active: must be true or false, got {other:?}"))] };
            return users_refused(&state, &signed, UsersExtras { errors, ..UsersExtras::default() }).await;
        }
    };
    let change = UserChangeInput { role: None, active: Some(active) };
    let saved = if active { "reactivated" } else { "deactivated" };
    apply_change(&state, &signed, &user_id, &change, &field_id, saved).await
}

#[derive(Debug, Default, Deserialize)]
struct TokenOnlyForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /admin/users/{user_id}/unlock`: ends the account's sign-in lockouts (`App::unlock_account`).
pub async fn unlock(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: TokenOnlyForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    state.app.unlock_account(&signed.actor, &user_id).await?;
    let field_id = html_id("unlock-", &user_id);
    Ok(Redirect::to(&format!("/admin/users?saved=unlocked&user={user_id}#{field_id}")).into_response())
}

/// `POST /admin/users/{user_id}/password-reset`: a new one-time password, shown once; the account's
/// sessions end and its API tokens are revoked.
pub async fn reset_password(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: TokenOnlyForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    match state.app.reset_password(Some(&signed.actor), &user_id).await {
        Ok(password) => {
            let mut page = users_page(&state, &signed, UsersExtras::default()).await?;
            let username = page
                .users
                .iter()
                .find(|user| user.user_id == user_id)
                .map_or_else(|| user_id.clone(), |user| user.username.clone());
            page.one_time = Some(OneTimeSecret {
                heading: format!("Password of {username} reset"),
                lead: format!("New one-time password for {username}:"),
                secret: password,
                advice: "It is shown only now: give it to them in person. Their sessions ended and their API tokens \
                         were revoked; they choose their own password when they next sign in."
                    .to_owned(),
            });
            Ok(render(&page))
        }
        Err(error) => {
            let errors = refusal_on(&html_id("reset-", &user_id), error)?;
            users_refused(&state, &signed, UsersExtras { errors, ..UsersExtras::default() }).await
        }
    }
}

/// `?saved=…`: what a form just did, for the notice at the top of the page it returns to.
#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

impl SavedQuery {
    pub fn saved_is(&self, what: &str) -> bool {
        self.saved.as_deref() == Some(what)
    }
}

/// `GET /admin/users/{user_id}/tokens`: an account's API tokens, each revocable (admins).
pub async fn user_tokens(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(user_id): Path<String>,
    Query(query): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let users = state.app.list_users(&signed.actor).await?;
    let Some(user) = users.iter().find(|user| user.user_id == user_id) else {
        return Err(PageError::NotFound { what: "user".to_owned() });
    };
    let tokens = state.app.list_user_api_tokens(&signed.actor, &user_id).await?;
    let rows: Vec<TokenRow> = token_rows(&tokens, &clinic_zone(&state.app), &format!("/admin/users/{user_id}/tokens"));
    let page = TokensPage {
        chrome: Chrome::signed_in(&format!("API tokens of {}", user.username), "users", &signed.principal),
        heading: format!("API tokens of {} ({})", user.username, user.role.as_str()),
        own: false,
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        tokens: rows,
        notice: query.saved_is("revoked").then(|| "The token was revoked.".to_owned()),
        one_time: None,
        label: String::new(),
        errors: FormErrors::default(),
    };
    Ok(render(&page))
}

/// `POST /admin/users/{user_id}/tokens/{token_id}/revoke`: an admin revokes anyone's token.
pub async fn revoke_user_token(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((user_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: TokenOnlyForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    require_admin(&state, &signed, "token.revoke", format!("token/{token_id}")).await?;
    state.app.revoke_api_token(&signed.actor, &token_id).await?;
    Ok(Redirect::to(&format!("/admin/users/{user_id}/tokens?saved=revoked")).into_response())
}
