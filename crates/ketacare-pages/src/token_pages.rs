//! Your own API tokens (`/account/tokens`), for everyone signed in: the list (never a secret), a new
//! token for a label (the token shown once), and Revoke; through the use cases `/api/v1/tokens` calls
//! (`App::list_api_tokens`, `create_api_token`, `revoke_api_token`). The admin's view of another
//! account's tokens (`admin_pages.rs`) uses the same template.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use ketacare_app::{ApiTokenSummary, AppError};
use serde::Deserialize;

use crate::PagesState;
use crate::admin_pages::{OneTimeSecret, SavedQuery};
use crate::display::{clinic_zone, date_time};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::session_page::read_form;
use crate::signed_in::SignedIn;
use crate::treatment_forms::FormErrors;

#[derive(Template)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    pub chrome: Chrome,
    pub heading: String,
    /// The signed-in user's own tokens (with the form for a new one).
    pub own: bool,
    pub csrf_token: String,
    pub tokens: Vec<TokenRow>,
    pub notice: Option<String>,
    pub one_time: Option<OneTimeSecret>,
    /// The new token's label as typed.
    pub label: String,
    pub errors: FormErrors,
}

pub struct TokenRow {
    pub label: String,
    pub role: &'static str,
    pub created: String,
    /// When it was revoked; a live token has the Revoke form instead.
    pub revoked: Option<String>,
    pub revoke_action: String,
}

/// The rows of a token list; each revokes at `{base}/{token_id}/revoke`.
pub fn token_rows(tokens: &[ApiTokenSummary], zone: &TimeZone, base: &str) -> Vec<TokenRow> {
    tokens
        .iter()
        .map(|token| TokenRow {
            label: token.label.clone(),
            role: token.role.as_str(),
            created: date_time(&token.created_at, zone),
            revoked: token.revoked_at.as_deref().map(|at| date_time(at, zone)),
            revoke_action: format!("{base}/{}/revoke", token.token_id),
        })
        .collect()
}

async fn own_tokens_page(state: &PagesState, signed: &SignedIn) -> Result<TokensPage, PageError> {
    let tokens = state.app.list_api_tokens(&signed.actor).await?;
    Ok(TokensPage {
        chrome: Chrome::signed_in("Your API tokens", "tokens", &signed.principal),
        heading: "Your API tokens".to_owned(),
        own: true,
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        tokens: token_rows(&tokens, &clinic_zone(&state.app), "/account/tokens"),
        notice: None,
        one_time: None,
        label: String::new(),
        errors: FormErrors::default(),
    })
}

/// `GET /account/tokens`.
pub async fn own_tokens(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(query): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let mut page = own_tokens_page(&state, &signed).await?;
    if query.saved_is("revoked") {
        page.notice = Some("The token was revoked: programs using it can no longer sign in with it.".to_owned());
    }
    Ok(render(&page))
}

#[derive(Debug, Default, Deserialize)]
struct NewTokenForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    label: String,
}

/// `POST /account/tokens`: a new token with the signed-in user's role, shown once.
pub async fn create_token(
    State(state): State<PagesState>,
    signed: SignedIn,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: NewTokenForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    match state.app.create_api_token(&signed.actor, &form.label).await {
        Ok(created) => {
            let mut page = own_tokens_page(&state, &signed).await?;
            page.one_time = Some(OneTimeSecret {
                heading: format!("Token \u{201C}{}\u{201D} created ({})", created.label, created.role.as_str()),
                lead: "The token:".to_owned(),
                secret: created.token,
                advice: "It is shown only now: copy it into the program that needs it (as Authorization: Bearer …). \
                         Anyone holding it acts as you; revoke it here when it is no longer needed."
                    .to_owned(),
            });
            Ok(render(&page))
        }
        Err(AppError::Invalid { field, problem }) => {
            let mut page = own_tokens_page(&state, &signed).await?;
            page.label = form.label;
            page.errors = FormErrors { messages: vec![("label".to_owned(), format!("{field}: {problem}"))] };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /account/tokens/{token_id}/revoke`: revokes one of the signed-in user's own tokens.
pub async fn revoke_token(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(token_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: RevokeForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    // An admin may revoke anyone's token by its id; on this page, only their own are listed.
    state.app.revoke_api_token(&signed.actor, &token_id).await?;
    Ok(Redirect::to("/account/tokens?saved=revoked").into_response())
}
