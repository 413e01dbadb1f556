//! `/api/v1/patients/{patient_id}/sessions/{session_id}/notes`: the session's note and addenda, their
//! signatures and co-signatures, and `/api/v1/notes/awaiting-cosignature`; thin handlers over the
//! session-note use cases (docs/notes.md).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ketacare_app::Permission;
use serde_json::json;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::{etag, if_match_version, text_body};
use crate::responses::with_etag;

fn notes_resource(patient_id: &str, session_id: &str) -> String {
    format!("patient/{patient_id}/session/{session_id}/notes")
}

fn note_resource(patient_id: &str, session_id: &str, note_id: &str) -> String {
    format!("patient/{patient_id}/session/{session_id}/note/{note_id}")
}

/// The session's notes with their signatures, and the note generated from the session now.
pub async fn list_notes(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state.app.session_notes(&caller.actor, &patient_id, &session_id).await?;
    Ok(Json(view).into_response())
}

/// One note or addendum with its signatures (ETag).
pub async fn get_note(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id, note_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let view = state.app.session_note(&caller.actor, &patient_id, &session_id, &note_id).await?;
    Ok(with_etag(view.version, view))
}

/// Writes the session's note (the generated text when none is sent) or an addendum, unsigned.
pub async fn create_note(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "note.create",
            notes_resource(&patient_id, &session_id),
            Some(&patient_id),
        )
        .await?;
    let view = state.app.create_session_note(&caller.actor, &patient_id, &session_id, text_body(&body)?).await?;
    let location = format!("/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{}", view.note_id);
    let version = view.version;
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// Replaces an unsigned note's text (its author); needs the note's `If-Match`.
pub async fn edit_note(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id, note_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "note.edit",
            note_resource(&patient_id, &session_id, &note_id),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state
        .app
        .edit_session_note(&caller.actor, &patient_id, &session_id, &note_id, version, text_body(&body)?)
        .await?;
    Ok(with_etag(view.version, view))
}

/// The author signs the note, which locks it; needs the note's `If-Match` and the text's SHA-256.
pub async fn sign_note(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id, note_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "note.sign",
            note_resource(&patient_id, &session_id, &note_id),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state
        .app
        .sign_session_note(&caller.actor, &patient_id, &session_id, &note_id, version, text_body(&body)?)
        .await?;
    Ok(with_etag(view.version, view))
}

/// A prescriber co-signs a signed note that asks for it; needs the note's `If-Match` and the text's SHA-256.
pub async fn cosign_note(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id, note_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::SignSessions,
            "note.cosign",
            note_resource(&patient_id, &session_id, &note_id),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state
        .app
        .cosign_session_note(&caller.actor, &patient_id, &session_id, &note_id, version, text_body(&body)?)
        .await?;
    Ok(with_etag(view.version, view))
}

/// Signed notes awaiting a prescriber's co-signature (prescribers).
pub async fn awaiting_cosignature(State(state): State<AppState>, caller: Authenticated) -> Result<Response, ApiError> {
    let notes = state.app.notes_awaiting_cosignature(&caller.actor).await?;
    Ok(Json(json!({ "notes": notes })).into_response())
}
