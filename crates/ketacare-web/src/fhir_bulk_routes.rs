//! The FHIR Bulk Data `$export` flow (HL7 Bulk Data Access IG, asynchronous pattern): the kick-off
//! (`GET /fhir/r4/$export` or `/fhir/r4/Patient/$export`, `Prefer: respond-async`) answers 202 with the
//! status URL in `Content-Location`; polling it answers 202 with `X-Progress` and `Retry-After` while the
//! job runs, then 200 with the manifest; each file is downloaded from the manifest's URL; `DELETE` on the
//! status URL cancels the job and deletes its files. Admins get the records in full, analysts
//! de-identified. Every error here is an OperationOutcome.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use ketacare_app::{BULK_EXPORT_POLL_SECONDS, BulkExportRequest, BulkExportStatus, Permission};
use ketacare_fhir::import::IssueCode;
use serde_json::json;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::fhir_routes::{fhir_error, refusal};

/// The output formats a kick-off may ask for (`_outputFormat`): all mean NDJSON of FHIR JSON.
const NDJSON_FORMATS: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "ndjson"];
/// The kick-off parameters of the IG this server does not support (refused, naming them).
const UNSUPPORTED_PARAMETERS: [&str; 6] =
    ["_since", "_until", "_elements", "patient", "includeAssociatedData", "_typeFilter"];
/// The media type of an export file.
const FHIR_NDJSON: &str = "application/fhir+ndjson";

/// The server's address as a client reached it (`http://host:port`), for the absolute URLs the IG asks
/// for; `https` behind a TLS proxy. Without a `Host` header, the URLs are relative.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).filter(|host| {
        !host.is_empty() && host.bytes().all(|byte| byte.is_ascii_alphanumeric() || b".-:[]".contains(&byte))
    });
    match host {
        Some(host) => format!("{}://{host}", if state.config.behind_tls { "https" } else { "http" }),
        None => String::new(),
    }
}

/// Whether `Prefer` asks for the asynchronous pattern.
fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|preference| preference.trim().eq_ignore_ascii_case("respond-async"))
}

/// Whether `Accept` (if sent) takes FHIR JSON, as the kick-off's OperationOutcome and the manifest are.
fn accepts_fhir_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()) else { return true };
    accept.split(',').filter_map(|item| item.split(';').next()).map(str::trim).any(|media_type| {
        ["application/fhir+json", "application/json", "*/*", "application/*"]
            .iter()
            .any(|accepted| media_type.eq_ignore_ascii_case(accepted))
    })
}

/// A kick-off parameter refused: the answer's status, issue code, the parameter and why.
struct ParameterRefusal {
    status: StatusCode,
    code: IssueCode,
    parameter: String,
    diagnostics: String,
}

impl ParameterRefusal {
    fn bad_value(parameter: &str, diagnostics: String) -> ParameterRefusal {
        ParameterRefusal {
            status: StatusCode::BAD_REQUEST,
            code: IssueCode::Value,
            parameter: parameter.to_owned(),
            diagnostics,
        }
    }

    fn into_response(self) -> Response {
        refusal(self.status, self.code, &self.parameter, &self.diagnostics)
    }
}

/// The kick-off's parameters read: the resource types `_type` names (comma-separated, possibly
/// repeated), or `None` for all; `_outputFormat` checked; any other parameter refused.
fn kick_off_request(query: Option<&str>, request_url: String) -> Result<BulkExportRequest, ParameterRefusal> {
    let mut resource_types: Option<Vec<String>> = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "_outputFormat" => {
                if !NDJSON_FORMATS.contains(&value.as_ref()) {
                    return Err(ParameterRefusal::bad_value(
                        "_outputFormat",
                        format!("{value:?} is not a format this server writes ({})", NDJSON_FORMATS.join(", ")),
                    ));
                }
            }
            "_type" => {
                let wanted = resource_types.get_or_insert_with(Vec::new);
                for kind in value.split(',').map(str::trim).filter(|kind| !kind.is_empty()) {
                    if !wanted.iter().any(|known| known == kind) {
                        wanted.push(kind.to_owned());
                    }
                }
            }
            name if UNSUPPORTED_PARAMETERS.contains(&name) => {
                return Err(ParameterRefusal {
                    status: StatusCode::BAD_REQUEST,
                    code: IssueCode::NotSupported,
                    parameter: name.to_owned(),
                    diagnostics: format!("{name} is not supported by this server: every record is exported whole"),
                });
            }
            other => return Err(ParameterRefusal::bad_value(other, format!("{other} is not a parameter of $export"))),
        }
    }
    Ok(BulkExportRequest { resource_types, request_url })
}

/// `GET /fhir/r4/$export` and `GET /fhir/r4/Patient/$export`: starts an export of every patient's
/// record. 202 with `Content-Location`; 400 without `Prefer: respond-async` or for a parameter this server
/// does not take; 403 for roles other than admin and analyst; 429 while too many exports run.
pub async fn kick_off(
    State(state): State<AppState>,
    caller: Result<Authenticated, ApiError>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return fhir_error(error),
    };
    let resource = "fhir/r4/$export".to_owned();
    let authorized =
        state.app.authorize(&caller.actor, Permission::ExportInBulk, "fhir.bulk_export.start", resource, None).await;
    if let Err(error) = authorized {
        return fhir_error(error.into());
    }
    if !prefers_async(&headers) {
        return refusal(
            StatusCode::BAD_REQUEST,
            IssueCode::Required,
            "Prefer",
            "$export runs asynchronously: send Prefer: respond-async",
        );
    }
    if !accepts_fhir_json(&headers) {
        return refusal(
            StatusCode::NOT_ACCEPTABLE,
            IssueCode::NotSupported,
            "Accept",
            "the kick-off answers application/fhir+json: send Accept: application/fhir+json",
        );
    }
    let base = base_url(&state, &headers);
    let request = match kick_off_request(query.as_deref(), format!("{base}{uri}")) {
        Ok(request) => request,
        Err(refused) => return refused.into_response(),
    };
    match state.app.start_bulk_export(&caller.actor, request).await {
        Ok(job_id) => {
            let mut response = StatusCode::ACCEPTED.into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("{base}/fhir/r4/$export-status/{job_id}")) {
                response.headers_mut().insert(header::CONTENT_LOCATION, location);
            }
            response
        }
        Err(error) => fhir_error(error.into()),
    }
}

/// `GET /fhir/r4/$export-status/{job_id}`: 202 while the job runs (`X-Progress`, `Retry-After`), 200 with
/// the manifest when it is complete (`Expires` says until when), 500 with an OperationOutcome if it
/// failed, 404 for a job that is not the caller's, was cancelled or has expired.
pub async fn status(
    State(state): State<AppState>,
    caller: Result<Authenticated, ApiError>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return fhir_error(error),
    };
    let status = match state.app.bulk_export_status(&caller.actor, &job_id).await {
        Ok(status) => status,
        Err(error) => return fhir_error(error.into()),
    };
    match status {
        BulkExportStatus::InProgress { patients_done, patients_total } => {
            let mut response = StatusCode::ACCEPTED.into_response();
            let progress = format!("{patients_done} of {patients_total} patients");
            if let Ok(value) = HeaderValue::from_str(&progress) {
                response.headers_mut().insert("x-progress", value);
            }
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(BULK_EXPORT_POLL_SECONDS));
            response
        }
        BulkExportStatus::Complete { transaction_time, request_url, de_identified, outputs, expires_at } => {
            let base = base_url(&state, &headers);
            let output: Vec<_> = outputs
                .iter()
                .map(|output| {
                    json!({
                        "type": output.resource_type,
                        "url": format!("{base}/fhir/r4/$export-file/{job_id}/{}", output.file_name),
                        "count": output.count,
                    })
                })
                .collect();
            let manifest = json!({
                "transactionTime": transaction_time.to_string(),
                "request": request_url,
                "requiresAccessToken": true,
                "output": output,
                "error": [],
                "extension": { "https://ketacare.org/fhir/bulk-export/de-identified": de_identified },
            });
            let mut response = axum::Json(manifest).into_response();
            let expires = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&expires_at);
            if let Ok(value) = expires.map_err(|_| ()).and_then(|text| HeaderValue::from_str(&text).map_err(|_| ())) {
                response.headers_mut().insert(header::EXPIRES, value);
            }
            response
        }
        BulkExportStatus::Failed { message } => {
            refusal(StatusCode::INTERNAL_SERVER_ERROR, IssueCode::Exception, "$export", &message)
        }
    }
}

/// `DELETE /fhir/r4/$export-status/{job_id}`: cancels the job and deletes its files (202).
pub async fn cancel(
    State(state): State<AppState>,
    caller: Result<Authenticated, ApiError>,
    Path(job_id): Path<String>,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return fhir_error(error),
    };
    match state.app.cancel_bulk_export(&caller.actor, &job_id).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(error) => fhir_error(error.into()),
    }
}

/// `GET /fhir/r4/$export-file/{job_id}/{file_name}`: one NDJSON file of the caller's finished job,
/// streamed (`application/fhir+ndjson`).
pub async fn file(
    State(state): State<AppState>,
    caller: Result<Authenticated, ApiError>,
    Path((job_id, file_name)): Path<(String, String)>,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return fhir_error(error),
    };
    let path = match state.app.bulk_export_file(&caller.actor, &job_id, &file_name).await {
        Ok(path) => path,
        Err(error) => return fhir_error(error.into()),
    };
    // Read in chunks off the async workers; the job's folder may be deleted meanwhile (a cancel), which
    // ends the stream early: the client sees a short body, never another file.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let opened = match tokio::task::spawn_blocking(move || std::fs::File::open(path)).await {
        Ok(Ok(opened)) => opened,
        _ => {
            return fhir_error(ApiError::App(ketacare_app::AppError::NotFound {
                resource: "export file",
                id: file_name,
            }));
        }
    };
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut reader = std::io::BufReader::with_capacity(1 << 16, opened);
        loop {
            let mut chunk = vec![0u8; 1 << 16];
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => {
                    chunk.truncate(read);
                    if sender.blocking_send(Ok(chunk)).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    break;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_NDJSON));
    response
}
