//! `/api/v1/patients` and its sub-resources: thin handlers over the patient and assessment use cases.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use ketacare_app::{
    AssessmentStatusInput, PatientAmendmentInput, PatientInput, PatientListQuery, PatientView, Permission,
};

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::{idempotency_key, if_match_version, json_body, query, text_body};
use crate::responses::{created, with_etag};

fn patient_with_etag(view: PatientView) -> Response {
    with_etag(view.version(), view)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state.app.authorize(&caller.actor, Permission::ReadPatients, "patient.list", "patients".to_owned(), None).await?;
    let list_query: PatientListQuery = query(raw.as_deref())?;
    Ok(Json(state.app.list_patients(&caller.actor, &list_query).await?).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(&caller.actor, Permission::CreatePatients, "patient.create", "patient".to_owned(), None)
        .await?;
    let input: PatientInput = json_body(&body)?;
    let result = state.app.create_patient(&caller.actor, &input, idempotency_key(&headers)?).await?;
    Ok(created(format!("/api/v1/patients/{}", result.resource_id), result))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(patient_with_etag(state.app.get_patient(&caller.actor, &patient_id).await?))
}

pub async fn amend(
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
            Permission::AmendPatients,
            "patient.amend",
            format!("patient/{patient_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let input: PatientAmendmentInput = json_body(&body)?;
    Ok(patient_with_etag(state.app.amend_patient(&caller.actor, &patient_id, version, &input).await?))
}

pub async fn amendments(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    let amendments = state.app.patient_amendments(&caller.actor, &patient_id).await?;
    Ok(Json(serde_json::json!({ "amendments": amendments })).into_response())
}

pub async fn assessments(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    let assessments = state.app.assessments(&caller.actor, &patient_id).await?;
    Ok(Json(serde_json::json!({ "assessments": assessments })).into_response())
}

/// The body is a case in the format of contracts/assess.md, as `ketacare assess` reads it.
pub async fn record_assessment(
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
            Permission::RecordAssessments,
            "assessment.create",
            format!("patient/{patient_id}/assessments"),
            Some(&patient_id),
        )
        .await?;
    let case = text_body(&body)?;
    let key = idempotency_key(&headers)?;
    let result = state.app.record_assessment(&caller.actor, &patient_id, case, key).await?;
    Ok(created(format!("/api/v1/patients/{patient_id}/assessments/{}", result.resource_id), result))
}

pub async fn assessment(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, assessment_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok({
        let view = state.app.get_assessment(&caller.actor, &patient_id, &assessment_id).await?;
        with_etag(view.version, view)
    })
}

/// Marks a decision `entered_in_error` (or `active` again) with a reason; needs `If-Match`.
pub async fn set_assessment_status(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, assessment_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RecordAssessments,
            "assessment.amend",
            format!("patient/{patient_id}/assessment/{assessment_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let input: AssessmentStatusInput = json_body(&body)?;
    let view = state.app.set_assessment_status(&caller.actor, &patient_id, &assessment_id, version, &input).await?;
    Ok(with_etag(view.version, view))
}
