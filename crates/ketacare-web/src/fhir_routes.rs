//! `/fhir/r4/…`: the FHIR R4 endpoints. `GET /fhir/r4/metadata` (the CapabilityStatement, no login needed,
//! as FHIR clients expect), `GET /fhir/r4/Patient/{id}/$everything` (the patient's record as a
//! `searchset` Bundle) and `POST /fhir/r4` (import of a transaction or collection Bundle, answered with
//! an OperationOutcome, also when it is refused). Bodies are `application/fhir+json`; every error is an
//! OperationOutcome with the status and headers the API's problem details would have.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ketacare_app::{AppError, FhirImportError, Permission};
use ketacare_fhir::import::{ImportIssue, IssueCode, import_outcome};
use serde::Serialize;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;

/// The largest Bundle `POST /fhir/r4` reads (larger imports go through `ketacare import --ndjson`).
pub const FHIR_IMPORT_BODY_LIMIT_BYTES: usize = 16 * 1024 * 1024;

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
    caller: Result<Authenticated, ApiError>,
    Path(patient_id): Path<String>,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return fhir_error(error),
    };
    match state.app.fhir_patient_everything(&caller.actor, &patient_id).await {
        Ok(bundle) => fhir_json(&bundle),
        Err(error) => fhir_error(error.into()),
    }
}

/// `error` as FHIR answers it: an OperationOutcome (issue code by status, the problem's detail as its
/// diagnostics, the field as its expression) with the status and headers (`Retry-After`,
/// `WWW-Authenticate`) of the API's problem details.
pub(crate) fn fhir_error(error: ApiError) -> Response {
    let (status, _, _, detail, field) = error.parts();
    let code = match status {
        StatusCode::UNAUTHORIZED => IssueCode::Login,
        StatusCode::FORBIDDEN => IssueCode::Forbidden,
        StatusCode::NOT_FOUND => IssueCode::NotFound,
        StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => IssueCode::Conflict,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => IssueCode::Throttled,
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::METHOD_NOT_ALLOWED => IssueCode::NotSupported,
        status if status.is_server_error() => IssueCode::Exception,
        _ => IssueCode::Value,
    };
    let issue = ImportIssue { expression: field, ..ImportIssue::error(code, "", detail) };
    let mut response = error.into_response();
    let text = serde_json::to_string(&import_outcome(&[issue])).expect("an OperationOutcome serializes");
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ketacare_fhir::FHIR_JSON));
    *response.body_mut() = Body::from(text);
    response
}

fn fhir_json_with_status(status: StatusCode, body: &impl Serialize) -> Response {
    let mut response = fhir_json(body);
    *response.status_mut() = status;
    response
}

/// A refusal before the use case ran, as an OperationOutcome with its status.
pub(crate) fn refusal(status: StatusCode, code: IssueCode, expression: &str, diagnostics: &str) -> Response {
    let issue = ImportIssue::error(code, expression, diagnostics);
    fhir_json_with_status(status, &import_outcome(&[issue]))
}

/// Whether the body is declared as FHIR JSON or JSON (parameters such as `charset` allowed).
fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| {
            let media_type = media_type.trim();
            media_type.eq_ignore_ascii_case(ketacare_fhir::FHIR_JSON)
                || media_type.eq_ignore_ascii_case("application/json")
        })
}

/// `POST /fhir/r4`: imports a Bundle. 200 with an OperationOutcome saying what each patient received
/// (or that nothing changed) and the decision on its chart; 422 with every issue when refused (nothing
/// is written); 403 for a role that may not record charts; 413 over the size limit; 415 for a body not
/// declared as JSON.
pub async fn import_bundle(
    State(state): State<AppState>,
    caller: Result<Authenticated, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return fhir_error(error),
    };
    let authorized = state
        .app
        .authorize(&caller.actor, Permission::RecordChart, "fhir.import", "fhir/r4/Bundle".to_owned(), None)
        .await;
    if let Err(error) = authorized {
        return fhir_error(error.into());
    }
    if !declares_json(&headers) {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IssueCode::NotSupported,
            "Content-Type",
            "a Bundle is sent as application/fhir+json (or application/json)",
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, FHIR_IMPORT_BODY_LIMIT_BYTES).await else {
        return refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            IssueCode::TooCostly,
            "Bundle",
            &format!(
                "a Bundle over {} MiB is not read; import it in parts or with `ketacare import --ndjson`",
                FHIR_IMPORT_BODY_LIMIT_BYTES / 1024 / 1024
            ),
        );
    };
    match state.app.import_fhir_bundle(&caller.actor, &bytes).await {
        Ok(report) => fhir_json(&report.outcome()),
        Err(error @ FhirImportError::Refused(_)) => {
            fhir_json_with_status(StatusCode::UNPROCESSABLE_ENTITY, &error.outcome())
        }
        Err(error @ FhirImportError::App(AppError::StaleVersion { .. })) => {
            fhir_json_with_status(StatusCode::CONFLICT, &error.outcome())
        }
        Err(FhirImportError::App(error)) => fhir_error(error.into()),
    }
}
