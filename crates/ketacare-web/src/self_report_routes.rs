//! `/api/v1/patients/{patient_id}/self-report-links` (staff make a patient's one-time link, list the
//! links with their status, acknowledge a self-report's suicidality alert) and `/api/v1/self-reports/{token}`
//! (the patient, without an account, reads the questionnaire and sends the answers): thin handlers over
//! the self-report use cases (docs/self-report.md). An unknown, used or expired token is one answer, 410.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ketacare_app::{AppError, Permission};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::json_body;
use crate::{AppState, RequestId};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLink {
    scale: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answers {
    answers: Vec<Option<u8>>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    let links = state.app.self_report_links(&caller.actor, &patient_id).await?;
    Ok(Json(serde_json::json!({ "self_report_links": links })).into_response())
}

/// Makes a link; the answer holds its token, shown this once.
pub async fn create(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let resource = format!("patient/{patient_id}/self-report-links");
    state
        .app
        .authorize(&caller.actor, Permission::RecordChart, "self_report_link.create", resource, Some(&patient_id))
        .await?;
    let input: NewLink = json_body(&body)?;
    let created = state.app.create_self_report_link(&caller.actor, &patient_id, &input.scale).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, link_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.acknowledge_self_report_alert(&caller.actor, &patient_id, &link_id).await?).into_response())
}

/// A used, expired or unknown link as one answer.
fn public_error(error: AppError) -> ApiError {
    match error {
        AppError::NotFound { .. } | AppError::Refused { .. } => ApiError::SelfReportLinkUnusable,
        other => other.into(),
    }
}

/// The questionnaire of a link (no account): the patient's first name, the scale and its item count.
pub async fn open(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let form = state.app.open_self_report(&token, &request_id.0).await.map_err(public_error)?;
    Ok(Json(form).into_response())
}

/// The patient's answers (no account): stored in the chart, the link used; the crisis text when item 9
/// screens positive.
pub async fn submit(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: Answers = json_body(&body)?;
    let receipt =
        state.app.submit_self_report(&token, &input.answers, &request_id.0).await.map_err(|error| match error {
            AppError::Invalid { .. } => error.into(),
            other => public_error(other),
        })?;
    Ok((StatusCode::CREATED, Json(receipt)).into_response())
}
