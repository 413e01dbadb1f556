//! `POST /patients/{patient_id}/plans/{plan_id}/measurements-not-applicable`: the worklist's "Not
//! applicable" button on an overdue self-report. Marks the measurement not applicable with the reason
//! typed beside the button (through `App::mark_measurement_not_applicable`, audited there) and goes back
//! to the worklist, which says what happened; a missing reason is refused and nothing is stored.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Redirect, Response};
use ketacare_app::AppError;
use serde::Deserialize;

use crate::PagesState;
use crate::page_error::PageError;
use crate::session_page::read_form;
use crate::signed_in::SignedIn;

#[derive(Debug, Default, Deserialize)]
pub struct NotApplicableForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    scale: String,
    #[serde(default)]
    due_at: String,
    #[serde(default)]
    reason: String,
}

/// Marks one measurement not applicable, then back to the worklist with the outcome in its query.
pub async fn mark_not_applicable(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, plan_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: NotApplicableForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let request = serde_json::json!({ "scale": form.scale, "due_at": form.due_at, "reason": form.reason }).to_string();
    match state.app.mark_measurement_not_applicable(&signed.actor, &patient_id, &plan_id, &request).await {
        Ok(_) => Ok(Redirect::to("/worklist?not_applicable=saved").into_response()),
        Err(AppError::Invalid { field, .. }) if field == "reason" => {
            Ok(Redirect::to("/worklist?not_applicable=reason_required").into_response())
        }
        Err(AppError::Invalid { .. }) => Ok(Redirect::to("/worklist?not_applicable=refused").into_response()),
        Err(error) => Err(error.into()),
    }
}
