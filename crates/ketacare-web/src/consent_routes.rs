//! `/api/v1/consent-forms` (the versioned consent forms an admin keeps) and
//! `/api/v1/patients/{patient_id}/consents` (a patient's signed consents, their withdrawal and correction):
//! thin handlers over the consent use cases, which the pre-dose gate's `INFORMED_CONSENT` reads.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ketacare_app::Permission;
use serde_json::json;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::{idempotency_key, if_match_version, text_body};
use crate::responses::{created, with_etag};

pub async fn list_forms(State(state): State<AppState>, caller: Authenticated) -> Result<Response, ApiError> {
    let forms = state.app.consent_forms(&caller.actor).await?;
    Ok(Json(json!({ "consent_forms": forms })).into_response())
}

/// Stores the next version of a consent form (admins).
pub async fn create_form_version(
    State(state): State<AppState>,
    caller: Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::ManageConsentForms,
            "consent_form.create",
            "consent-forms".to_owned(),
            None,
        )
        .await?;
    let form = state.app.create_consent_form_version(&caller.actor, text_body(&body)?).await?;
    Ok((StatusCode::CREATED, Json(form)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.patient_consents(&caller.actor, &patient_id).await?).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RecordConsents,
            "consent.create",
            format!("patient/{patient_id}/consents"),
            Some(&patient_id),
        )
        .await?;
    let key = idempotency_key(&headers)?;
    let result = state.app.record_consent(&caller.actor, &patient_id, text_body(&body)?, key).await?;
    Ok(created(format!("/api/v1/patients/{patient_id}/consents/{}", result.resource_id), result))
}

/// Withdraws a consent or marks it entered in error, with a reason; needs the consent's `If-Match`.
pub async fn change(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, consent_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RecordConsents,
            "consent.amend",
            format!("patient/{patient_id}/consent/{consent_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state.app.change_consent(&caller.actor, &patient_id, &consent_id, version, text_body(&body)?).await?;
    Ok(with_etag(view.version, view))
}
