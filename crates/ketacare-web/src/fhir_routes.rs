//! `/fhir/r4/…`: the FHIR R4 endpoints. `GET /fhir/r4/metadata` (the CapabilityStatement, no login needed,
//! as FHIR clients expect) and `GET /fhir/r4/Patient/{id}/$everything` (the patient's record as a
//! `searchset` Bundle). Bodies are `application/fhir+json`; errors are the API's problem details.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;

/// When this build's CapabilityStatement was published (CapabilityStatement.date is 1..1).
const CAPABILITY_DATE: &str = "2026-11-28";

fn fhir_json(body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).expect("FHIR resources serialize");
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ketacare_fhir::FHIR_JSON));
    response
}

pub async fn metadata() -> Response {
    fhir_json(&ketacare_fhir::capability_statement(env!("CARGO_PKG_VERSION"), CAPABILITY_DATE))
}

pub async fn patient_everything(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    let bundle = state.app.fhir_patient_everything(&caller.actor, &patient_id).await?;
    Ok(fhir_json(&bundle))
}
