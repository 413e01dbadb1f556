//! The session note page (`…/sessions/{session_id}/notes`): the note generated from the discharged
//! session, edited by its author and signed (the SHA-256 of the exact text shown, sent with the form, is
//! what the signature records); addenda after it, each signed; a prescriber's co-signature where the
//! protocol asks for one. And the patient's after-care sheet (`…/after-care`), a printable page.
//! Everything goes through the audited session-note use cases; a refusal comes back on the page in the
//! server's words with the text typed kept.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Redirect, Response};
use ketacare_app::{AppError, NoteStatus, NoteView, Role, SessionNotesView, SignatureKind};
use serde::Deserialize;

use crate::PagesState;
use crate::display::{clinic_zone, date_time};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::session_page::{PageState, read_form, session_page};
use crate::signed_in::SignedIn;

/// One signature as the page shows it.
pub struct SignatureLine {
    pub what: &'static str,
    pub who: String,
    pub when: String,
    pub text_sha256: String,
}

/// One note or addendum as the page shows it, with the forms its viewer may use.
pub struct NoteItem {
    pub note_id: String,
    pub anchor: String,
    pub heading: String,
    pub status_word: &'static str,
    pub text: String,
    pub text_sha256: String,
    pub version: i64,
    pub author: String,
    pub signatures: Vec<SignatureLine>,
    pub can_edit: bool,
    pub can_sign: bool,
    pub can_cosign: bool,
}

fn status_word(status: NoteStatus) -> &'static str {
    match status {
        NoteStatus::Draft => "DRAFT — not signed",
        NoteStatus::Signed => "SIGNED — locked",
        NoteStatus::AwaitingCosignature => "SIGNED — awaiting a prescriber's co-signature",
        NoteStatus::Cosigned => "SIGNED AND CO-SIGNED — locked",
    }
}

/// The notes of a session as the page shows them to `signed`.
pub async fn note_items(
    state: &PagesState,
    signed: &SignedIn,
    notes: &SessionNotesView,
) -> Result<Vec<NoteItem>, PageError> {
    let mut user_ids: Vec<String> = notes
        .notes
        .iter()
        .flat_map(|note| {
            std::iter::once(note.author_id.clone())
                .chain(note.signatures.iter().map(|signature| signature.signed_by.clone()))
        })
        .collect();
    user_ids.sort();
    user_ids.dedup();
    let names: BTreeMap<String, String> =
        if user_ids.is_empty() { BTreeMap::new() } else { state.app.user_names(&signed.actor, &user_ids).await? };
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| format!("user {}", id.get(..8).unwrap_or(id)));
    let zone = clinic_zone(&state.app);
    let mine = |note: &NoteView| note.author_id == signed.actor.user_id;
    let runs_sessions = matches!(signed.actor.role, Role::Nurse | Role::Prescriber);
    Ok(notes
        .notes
        .iter()
        .enumerate()
        .map(|(index, note)| NoteItem {
            note_id: note.note_id.clone(),
            anchor: format!("note-{index}"),
            heading: if index == 0 { "Session note".to_owned() } else { format!("Addendum {index}") },
            status_word: status_word(note.status),
            text: note.text.clone(),
            text_sha256: note.text_sha256.clone(),
            version: note.version,
            author: format!("{} ({})", name(&note.author_id), note.author_role),
            signatures: note
                .signatures
                .iter()
                .map(|signature| SignatureLine {
                    what: match signature.kind {
                        SignatureKind::Author => "Signed by",
                        SignatureKind::Cosignature => "Co-signed by",
                    },
                    who: format!("{} ({})", name(&signature.signed_by), signature.signer_role),
                    when: date_time(&signature.signed_at, &zone),
                    text_sha256: signature.text_sha256.clone(),
                })
                .collect(),
            can_edit: runs_sessions && mine(note) && note.status == NoteStatus::Draft,
            can_sign: runs_sessions && mine(note) && note.status == NoteStatus::Draft,
            can_cosign: signed.actor.role == Role::Prescriber
                && !mine(note)
                && note.status == NoteStatus::AwaitingCosignature,
        })
        .collect())
}

#[derive(Template)]
#[template(path = "session_notes.html")]
struct NotesPage {
    chrome: Chrome,
    csrf_token: String,
    patient_name: String,
    patient_href: String,
    session_href: String,
    heading: String,
    notes_href: String,
    stage: String,
    notes: Vec<NoteItem>,
    /// A note may be written now (discharged) by this viewer, and none exists yet.
    can_write_note: bool,
    /// An addendum may be added (the note is signed) by this viewer.
    can_add_addendum: bool,
    addendum_to: String,
    /// The text in the new note's box: the generated note, or what was typed before a refusal.
    draft_text: String,
    addendum_text: String,
    error: Option<String>,
    saved: Option<&'static str>,
}

/// What a refused form brings back to the page.
#[derive(Default)]
struct Kept {
    error: Option<String>,
    draft_text: Option<String>,
    addendum_text: Option<String>,
    saved: Option<&'static str>,
}

async fn notes_page(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    session_id: &str,
    kept: Kept,
) -> Result<Response, PageError> {
    let session = session_page(state, signed, patient_id, session_id, PageState::default()).await?;
    let notes = state.app.session_notes(&signed.actor, patient_id, session_id).await?;
    let items = note_items(state, signed, &notes).await?;
    let runs_sessions = matches!(signed.actor.role, Role::Nurse | Role::Prescriber);
    let signed_notes: Vec<&NoteView> = notes.notes.iter().filter(|note| note.status != NoteStatus::Draft).collect();
    let page = NotesPage {
        chrome: Chrome::signed_in(&format!("Session note — {}", session.patient_name), "patients", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        patient_name: session.patient_name.clone(),
        patient_href: session.patient_href.clone(),
        notes_href: format!("{}/notes", session.session_href),
        session_href: session.session_href.clone(),
        heading: session.heading.clone(),
        stage: session.stage.clone(),
        can_write_note: runs_sessions && notes.note_allowed && notes.notes.is_empty(),
        can_add_addendum: runs_sessions && notes.note_allowed && !signed_notes.is_empty(),
        addendum_to: signed_notes.last().map(|note| note.note_id.clone()).unwrap_or_default(),
        draft_text: kept.draft_text.unwrap_or(notes.generated_text),
        addendum_text: kept.addendum_text.unwrap_or_default(),
        notes: items,
        error: kept.error,
        saved: kept.saved,
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// `GET …/notes`: the session's note page (`?done=` names what a form just saved).
pub async fn notes(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let saved = match query.done.as_str() {
        "draft" => Some("The draft was saved. Read it, then sign it."),
        "signed" => Some("The note was signed and is now locked."),
        "cosigned" => Some("The note was co-signed."),
        _ => None,
    };
    notes_page(&state, &signed, &patient_id, &session_id, Kept { saved, ..Kept::default() }).await
}

/// The page again with the server's words, or the error page for what is not the form's fault.
async fn refused(
    state: &PagesState,
    signed: &SignedIn,
    patient_id: &str,
    session_id: &str,
    error: AppError,
    mut kept: Kept,
) -> Result<Response, PageError> {
    let (status, message) = match error {
        AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {problem}"))
        }
        AppError::StaleVersion { .. } => (
            StatusCode::CONFLICT,
            "The note changed since this page was loaded; here it is as it is now — read it again before signing."
                .to_owned(),
        ),
        AppError::Duplicate { what } => (StatusCode::CONFLICT, format!("{what} already exists")),
        other => return Err(other.into()),
    };
    kept.error = Some(message);
    let page = notes_page(state, signed, patient_id, session_id, kept).await?;
    Ok((status, page).into_response())
}

#[derive(Debug, Deserialize)]
struct NoteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    addendum_to: String,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    text_sha256: String,
}

fn back(patient_id: &str, session_id: &str, done: &str) -> Response {
    Redirect::to(&format!("/patients/{patient_id}/sessions/{session_id}/notes?done={done}")).into_response()
}

/// `POST …/notes`: saves the session's note, or an addendum, as a draft.
pub async fn create_note(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: NoteForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let mut request = serde_json::json!({ "text": form.text });
    let addendum = !form.addendum_to.is_empty();
    if addendum {
        request["addendum_to"] = serde_json::json!(form.addendum_to);
    }
    match state.app.create_session_note(&signed.actor, &patient_id, &session_id, &request.to_string()).await {
        Ok(_) => Ok(back(&patient_id, &session_id, "draft")),
        Err(error) => {
            let kept = if addendum {
                Kept { addendum_text: Some(form.text), ..Kept::default() }
            } else {
                Kept { draft_text: Some(form.text), ..Kept::default() }
            };
            refused(&state, &signed, &patient_id, &session_id, error, kept).await
        }
    }
}

/// `POST …/notes/{note_id}/edit`: replaces a draft's text.
pub async fn edit_note(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id, note_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: NoteForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let request = serde_json::json!({ "text": form.text }).to_string();
    match state.app.edit_session_note(&signed.actor, &patient_id, &session_id, &note_id, form.version, &request).await {
        Ok(_) => Ok(back(&patient_id, &session_id, "draft")),
        Err(error) => refused(&state, &signed, &patient_id, &session_id, error, Kept::default()).await,
    }
}

/// `POST …/notes/{note_id}/signature`: the author signs the text shown (its SHA-256 came with the form).
pub async fn sign_note(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id, note_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: NoteForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let request = serde_json::json!({ "text_sha256": form.text_sha256 }).to_string();
    match state.app.sign_session_note(&signed.actor, &patient_id, &session_id, &note_id, form.version, &request).await {
        Ok(_) => Ok(back(&patient_id, &session_id, "signed")),
        Err(error) => refused(&state, &signed, &patient_id, &session_id, error, Kept::default()).await,
    }
}

/// `POST …/notes/{note_id}/cosignature`: a prescriber co-signs the text shown.
pub async fn cosign_note(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id, note_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: NoteForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    let request = serde_json::json!({ "text_sha256": form.text_sha256 }).to_string();
    match state.app.cosign_session_note(&signed.actor, &patient_id, &session_id, &note_id, form.version, &request).await
    {
        Ok(_) => Ok(back(&patient_id, &session_id, "cosigned")),
        Err(error) => refused(&state, &signed, &patient_id, &session_id, error, Kept::default()).await,
    }
}

#[derive(Template)]
#[template(path = "after_care.html")]
struct AfterCarePage {
    chrome: Chrome,
    patient_name: String,
    patient_href: String,
    session_href: String,
    heading: String,
    /// What was given, in words (`esketamine 56 mg`), or empty when not recorded.
    given: Vec<String>,
    /// The earliest the patient may drive: the day after the session.
    drive_from: String,
    esketamine: bool,
    clinic_phone: Option<String>,
    crisis_line: Option<String>,
    printed: String,
}

/// `GET …/after-care`: the patient's after-care sheet (roles that read sessions), printable.
pub async fn after_care(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let page_state = PageState { for_print: true, ..PageState::default() };
    let session = session_page(&state, &signed, &patient_id, &session_id, page_state).await?;
    let view = state.app.get_session(&signed.actor, &patient_id, &session_id).await?;
    let day = view.document["dose"]["planned_at"].as_str().and_then(|at| at.get(..10)).unwrap_or("").to_owned();
    let drive_from = day
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|date| date.tomorrow().ok())
        .map(|date| date.strftime("%A %-d %B %Y").to_string())
        .unwrap_or_else(|| "tomorrow".to_owned());
    let given = session
        .administrations
        .iter()
        .filter(|given| !given.entered_in_error)
        .map(|given| given.text.clone())
        .collect();
    let contacts = state.app.after_care_contacts();
    let now = state.app.now().to_zoned_datetime(clinic_zone(&state.app)).strftime("%-d %b %Y %H:%M %Z");
    let page = AfterCarePage {
        chrome: Chrome::signed_in(&format!("After-care sheet — {}", session.patient_name), "", &signed.principal),
        patient_name: session.patient_name.clone(),
        patient_href: session.patient_href.clone(),
        session_href: session.session_href.clone(),
        heading: session.heading.clone(),
        given,
        drive_from,
        esketamine: view.document["modality"] == "esketamine",
        clinic_phone: contacts.clinic_phone.clone(),
        crisis_line: contacts.crisis_line.clone(),
        printed: format!("Printed from ketacare on {now} by {}.", signed.principal.username),
    };
    Ok(render(&page))
}
