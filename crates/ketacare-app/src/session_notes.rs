//! Session notes with signatures: a note generated from the session (gate, dose with lots and times,
//! vital-sign summary, alerts and how they were acknowledged, scores, discharge) that a clinician edits
//! and signs; the signature records who, when (the server's clock) and the SHA-256 of the exact text.
//! A signed note is locked; later changes are addenda, each signed the same way. A prescriber co-signs
//! the notes of the roles the protocol names (`notes.cosignature_required_for_roles`), never their own.
//!
//! How it relates to the session's own sign-off (`session.sign`, which locks the session record): a
//! note is written once the session is discharged (stage `discharged` or `locked`), independently of the
//! sign-off; a locked session still takes its note and addenda, which are the only way to document
//! anything after it.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ketacare_core::notes::{COSIGNER_IS_AUTHOR, SIGNED_NOTE_LOCKED, note_text_sha256};
use ketacare_store::{NoteKind, NoteSignature, SessionStage, SignatureKind, StoredSessionNote};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::policy::Permission;
use crate::secrets::new_id;
use crate::treatment::{SessionView, parse_object, reject_unknown};
use crate::{Actor, App, AppError};

/// The longest note text accepted, in bytes (a session note is a page or two).
pub const NOTE_TEXT_MAX_BYTES: usize = 64 * 1024;

/// Where a note stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    /// Unsigned: its author may still edit it.
    Draft,
    /// Signed by its author and locked; needs no co-signature.
    Signed,
    /// Signed and locked; a prescriber's co-signature is still due.
    AwaitingCosignature,
    /// Signed, and co-signed by a prescriber.
    Cosigned,
}

impl NoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteStatus::Draft => "draft",
            NoteStatus::Signed => "signed",
            NoteStatus::AwaitingCosignature => "awaiting_cosignature",
            NoteStatus::Cosigned => "cosigned",
        }
    }
}

/// One signature as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteSignatureView {
    /// `author` or `cosignature`.
    pub kind: SignatureKind,
    pub signed_by: String,
    pub signer_role: String,
    pub signed_at: String,
    /// SHA-256 (hex) of the note's text as signed.
    pub text_sha256: String,
}

/// A session note or addendum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteView {
    pub note_id: String,
    pub patient_id: String,
    pub session_id: String,
    /// `note` or `addendum`.
    pub kind: NoteKind,
    pub addendum_to: Option<String>,
    pub text: String,
    /// SHA-256 (hex) of `text` as stored now: equal to each signature's once signed.
    pub text_sha256: String,
    pub author_id: String,
    pub author_role: String,
    pub status: NoteStatus,
    pub cosignature_required: bool,
    /// For `If-Match`.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub signatures: Vec<NoteSignatureView>,
}

impl NoteView {
    fn of(stored: StoredSessionNote) -> NoteView {
        let author = stored.signatures.iter().find(|signature| signature.kind == SignatureKind::Author);
        let cosigned = stored.signatures.iter().any(|signature| signature.kind == SignatureKind::Cosignature);
        let cosignature_required = author.is_some_and(|signature| signature.cosignature_required);
        let status = match (author, cosigned) {
            (None, _) => NoteStatus::Draft,
            (Some(_), true) => NoteStatus::Cosigned,
            (Some(_), false) if cosignature_required => NoteStatus::AwaitingCosignature,
            (Some(_), false) => NoteStatus::Signed,
        };
        NoteView {
            text_sha256: note_text_sha256(&stored.text),
            note_id: stored.note_id,
            patient_id: stored.patient_id,
            session_id: stored.session_id,
            kind: stored.kind,
            addendum_to: stored.addendum_to,
            text: stored.text,
            author_id: stored.author_id,
            author_role: stored.author_role,
            status,
            cosignature_required,
            version: stored.version,
            created_at: stored.created_at.to_string(),
            updated_at: stored.updated_at.to_string(),
            signatures: stored
                .signatures
                .into_iter()
                .map(|signature| NoteSignatureView {
                    kind: signature.kind,
                    signed_by: signature.signed_by,
                    signer_role: signature.signer_role,
                    signed_at: signature.signed_at.to_string(),
                    text_sha256: signature.text_sha256,
                })
                .collect(),
        }
    }
}

/// A session's notes, and the text generated from the session for a note not yet written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionNotesView {
    pub patient_id: String,
    pub session_id: String,
    /// The session's stage: a note is written once it is `discharged` (or `locked`).
    pub stage: SessionStage,
    /// Whether a note (or an addendum to a signed note) may be written now.
    pub note_allowed: bool,
    /// The note first, then its addenda, oldest first.
    pub notes: Vec<NoteView>,
    /// The note generated from the session as it is now, to start the note from.
    pub generated_text: String,
}

/// A signed note awaiting a prescriber's co-signature, for the worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteAwaitingCosignatureView {
    pub patient_id: String,
    /// `Family, Given (MRN)`.
    pub patient_label: String,
    pub session_id: String,
    pub note_id: String,
    pub kind: NoteKind,
    pub author_id: String,
    pub signed_at: String,
}

/// A note's text from a body: exactly as sent (no trimming: what is signed is what was typed), not
/// blank, at most [`NOTE_TEXT_MAX_BYTES`].
fn note_text(object: &mut Map<String, Value>) -> Result<Option<String>, AppError> {
    match object.remove("text") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Err(AppError::invalid("text", "must not be blank")),
        Some(Value::String(text)) if text.len() > NOTE_TEXT_MAX_BYTES => {
            Err(AppError::invalid("text", format!("must be at most {NOTE_TEXT_MAX_BYTES} bytes, got {}", text.len())))
        }
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(AppError::invalid("text", "must be a string")),
    }
}

/// The SHA-256 the signer read (`text_sha256`), which must be the text's now: a signature is of the
/// exact text its signer saw.
fn signed_hash(body: &str, note: &StoredSessionNote) -> Result<String, AppError> {
    let mut object = parse_object(body)?;
    let hash = match object.remove("text_sha256") {
        Some(Value::String(hash)) => hash,
        None | Some(Value::Null) => {
            return Err(AppError::invalid("text_sha256", "is required: the SHA-256 of the text you sign"));
        }
        Some(_) => return Err(AppError::invalid("text_sha256", "must be a string")),
    };
    reject_unknown(&object)?;
    let actual = note_text_sha256(&note.text);
    if hash != actual {
        return Err(AppError::invalid(
            "text_sha256",
            format!("is not the SHA-256 of the note's text now ({actual}): read the note again before signing"),
        ));
    }
    Ok(actual)
}

fn refuse_signed(note: &StoredSessionNote) -> Result<(), AppError> {
    if note.signatures.is_empty() {
        Ok(())
    } else {
        Err(AppError::Refused {
            field: "text".to_owned(),
            rule_id: SIGNED_NOTE_LOCKED.to_owned(),
            problem: "a signed note is locked; add a signed addendum instead".to_owned(),
        })
    }
}

fn note_allowed(stage: SessionStage, status: &str) -> bool {
    status == "active" && matches!(stage, SessionStage::Discharged | SessionStage::Locked)
}

impl App {
    async fn note_of(&self, patient_id: &str, session_id: &str, note_id: &str) -> Result<StoredSessionNote, AppError> {
        self.store
            .session_notes(patient_id, session_id)
            .await?
            .into_iter()
            .find(|note| note.note_id == note_id)
            .ok_or_else(|| AppError::NotFound { resource: "note", id: note_id.to_owned() })
    }

    /// A session's notes and addenda with their signatures, and the note generated from the session now.
    pub async fn session_notes(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
    ) -> Result<SessionNotesView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadSessions,
                "note.list",
                format!("patient/{patient_id}/session/{session_id}/notes"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let record = self.session_record(patient_id, session_id, true).await?;
            let view = self.session_view_with_chart(&record).await?;
            let notes = self.store.session_notes(patient_id, session_id).await?;
            let mut names = std::collections::BTreeMap::new();
            for user in self.store.users().await? {
                names.insert(user.user_id, user.username);
            }
            Ok(SessionNotesView {
                patient_id: patient_id.to_owned(),
                session_id: session_id.to_owned(),
                stage: record.session.stage,
                note_allowed: note_allowed(record.session.stage, &record.session.status),
                notes: notes.into_iter().map(NoteView::of).collect(),
                generated_text: generated_note_text(&view, &names),
            })
        }
        .await;
        match result {
            Ok(view) => {
                self.store.append_audit(&event).await?;
                Ok(view)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// One note or addendum of a session, with its signatures.
    pub async fn session_note(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        note_id: &str,
    ) -> Result<NoteView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ReadSessions,
                "note.read",
                format!("patient/{patient_id}/session/{session_id}/note/{note_id}"),
                Some(patient_id),
            )
            .await?;
        match self.note_of(patient_id, session_id, note_id).await {
            Ok(note) => {
                self.store.append_audit(&event).await?;
                Ok(NoteView::of(note))
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// Writes the session's note (body `{"text"?}`; without `text`, the generated note) or an addendum to
    /// its signed note or addendum (`{"addendum_to", "text"}`), unsigned, by the caller.
    pub async fn create_session_note(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        body: &str,
    ) -> Result<NoteView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::RunSessions,
                "note.create",
                format!("patient/{patient_id}/session/{session_id}/notes"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let text = note_text(&mut object)?;
            let addendum_to = match object.remove("addendum_to") {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) if !id.is_empty() => Some(id),
                Some(_) => return Err(AppError::invalid("addendum_to", "must be a note id")),
            };
            reject_unknown(&object)?;
            let record = self.session_record(patient_id, session_id, true).await?;
            if !note_allowed(record.session.stage, &record.session.status) {
                return Err(AppError::invalid(
                    "stage",
                    format!(
                        "a session's note is written once it is discharged; it is {}",
                        record.session.stage.as_str()
                    ),
                ));
            }
            let (kind, text) = match &addendum_to {
                Some(parent_id) => {
                    let parent = self.note_of(patient_id, session_id, parent_id).await.map_err(|_| {
                        AppError::invalid("addendum_to", format!("is not a note of this session: {parent_id}"))
                    })?;
                    if parent.signatures.is_empty() {
                        return Err(AppError::invalid(
                            "addendum_to",
                            "names an unsigned note: edit it instead of adding to it",
                        ));
                    }
                    (NoteKind::Addendum, text.ok_or_else(|| AppError::invalid("text", "is required for an addendum"))?)
                }
                None => {
                    let text = match text {
                        Some(text) => text,
                        None => {
                            let view = self.session_view_with_chart(&record).await?;
                            let mut names = std::collections::BTreeMap::new();
                            for user in self.store.users().await? {
                                names.insert(user.user_id, user.username);
                            }
                            generated_note_text(&view, &names)
                        }
                    };
                    (NoteKind::Note, text)
                }
            };
            let now = self.now();
            let note = StoredSessionNote {
                patient_id: patient_id.to_owned(),
                note_id: new_id(),
                session_id: session_id.to_owned(),
                kind,
                addendum_to,
                text,
                author_id: actor.user_id.clone(),
                author_role: actor.role.as_str().to_owned(),
                version: 1,
                created_at: now,
                updated_at: now,
                signatures: Vec::new(),
            };
            let mut event = event.clone();
            event.resource = format!("patient/{patient_id}/session/{session_id}/note/{}", note.note_id);
            self.store.insert_session_note(&note, &event).await?;
            Ok(NoteView::of(note))
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// Replaces an unsigned note's text (its author only), if still at `expected_version`. A signed note
    /// is refused (`SIGNED_NOTE_LOCKED`): add a signed addendum.
    pub async fn edit_session_note(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        note_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<NoteView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::RunSessions,
                "note.edit",
                format!("patient/{patient_id}/session/{session_id}/note/{note_id}"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let text = note_text(&mut object)?.ok_or_else(|| AppError::invalid("text", "is required"))?;
            reject_unknown(&object)?;
            let note = self.note_of(patient_id, session_id, note_id).await?;
            refuse_signed(&note)?;
            if note.author_id != actor.user_id {
                return Err(AppError::Forbidden { role: actor.role.as_str(), action: "edit another clinician's note" });
            }
            self.store.edit_session_note(patient_id, note_id, expected_version, &text, self.now(), &event).await?;
            self.note_of(patient_id, session_id, note_id).await
        }
        .await;
        self.note_or_audited_failure(result, event, patient_id, session_id, note_id).await
    }

    /// The author signs their note (body `{"text_sha256"}`, the hash of the text they read), which locks
    /// it; records whether the protocol asks for a prescriber's co-signature of the author's role.
    pub async fn sign_session_note(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        note_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<NoteView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::RunSessions,
                "note.sign",
                format!("patient/{patient_id}/session/{session_id}/note/{note_id}"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let note = self.note_of(patient_id, session_id, note_id).await?;
            let text_sha256 = signed_hash(body, &note)?;
            if note.author_id != actor.user_id {
                return Err(AppError::Forbidden { role: actor.role.as_str(), action: "sign another clinician's note" });
            }
            if note.signatures.iter().any(|signature| signature.kind == SignatureKind::Author) {
                return Err(AppError::Duplicate { what: "the author's signature of this note" });
            }
            let signature = NoteSignature {
                kind: SignatureKind::Author,
                signed_by: actor.user_id.clone(),
                signer_role: actor.role.as_str().to_owned(),
                signed_at: self.now(),
                text_sha256,
                cosignature_required: self.protocol.notes.cosignature_required(actor.role.as_str()),
            };
            self.store.sign_session_note(patient_id, note_id, expected_version, &signature, &event).await?;
            self.note_of(patient_id, session_id, note_id).await
        }
        .await;
        self.note_or_audited_failure(result, event, patient_id, session_id, note_id).await
    }

    /// A prescriber co-signs a signed note that asks for it (body `{"text_sha256"}`); never their own
    /// (`COSIGNER_IS_AUTHOR`).
    pub async fn cosign_session_note(
        &self,
        actor: &Actor,
        patient_id: &str,
        session_id: &str,
        note_id: &str,
        expected_version: i64,
        body: &str,
    ) -> Result<NoteView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::SignSessions,
                "note.cosign",
                format!("patient/{patient_id}/session/{session_id}/note/{note_id}"),
                Some(patient_id),
            )
            .await?;
        let result = async {
            let note = self.note_of(patient_id, session_id, note_id).await?;
            let text_sha256 = signed_hash(body, &note)?;
            if note.author_id == actor.user_id {
                return Err(AppError::Refused {
                    field: "note".to_owned(),
                    rule_id: COSIGNER_IS_AUTHOR.to_owned(),
                    problem: "a prescriber cannot co-sign their own note".to_owned(),
                });
            }
            let Some(author) = note.signatures.iter().find(|signature| signature.kind == SignatureKind::Author) else {
                return Err(AppError::invalid("note", "is not signed by its author yet"));
            };
            if !author.cosignature_required {
                return Err(AppError::invalid("note", "needs no co-signature"));
            }
            if note.signatures.iter().any(|signature| signature.kind == SignatureKind::Cosignature) {
                return Err(AppError::Duplicate { what: "the co-signature of this note" });
            }
            let signature = NoteSignature {
                kind: SignatureKind::Cosignature,
                signed_by: actor.user_id.clone(),
                signer_role: actor.role.as_str().to_owned(),
                signed_at: self.now(),
                text_sha256,
                cosignature_required: false,
            };
            self.store.sign_session_note(patient_id, note_id, expected_version, &signature, &event).await?;
            self.note_of(patient_id, session_id, note_id).await
        }
        .await;
        self.note_or_audited_failure(result, event, patient_id, session_id, note_id).await
    }

    async fn note_or_audited_failure(
        &self,
        result: Result<StoredSessionNote, AppError>,
        event: ketacare_store::AuditEvent,
        patient_id: &str,
        session_id: &str,
        note_id: &str,
    ) -> Result<NoteView, AppError> {
        match result {
            Ok(note) => Ok(NoteView::of(note)),
            Err(AppError::StaleVersion { resource, id, current_version: -1 }) => {
                let current = self.note_of(patient_id, session_id, note_id).await.map_or(-1, |note| note.version);
                let error = AppError::StaleVersion { resource, id, current_version: current };
                Err(self.audit_failure(event, error).await)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// Signed notes still awaiting a prescriber's co-signature, oldest first (prescribers' worklist);
    /// each patient listed is audited as read.
    pub async fn notes_awaiting_cosignature(
        &self,
        actor: &Actor,
    ) -> Result<Vec<NoteAwaitingCosignatureView>, AppError> {
        let event = self
            .permitted_event(actor, Permission::SignSessions, "note.awaiting_cosignature", "notes".to_owned(), None)
            .await?;
        let notes = self.store.notes_awaiting_cosignature().await?;
        for note in &notes {
            let read = self.audit_event(
                actor,
                "note.awaiting_cosignature",
                format!("patient/{}/session/{}/note/{}", note.patient_id, note.session_id, note.note_id),
                Some(&note.patient_id),
            );
            self.store.append_audit(&read).await?;
        }
        if notes.is_empty() {
            self.store.append_audit(&event).await?;
        }
        Ok(notes
            .into_iter()
            .map(|note| NoteAwaitingCosignatureView {
                patient_id: note.patient_id,
                patient_label: note.patient_label,
                session_id: note.session_id,
                note_id: note.note_id,
                kind: note.kind,
                author_id: note.author_id,
                signed_at: note.signed_at.to_string(),
            })
            .collect())
    }
}

/// `HH:MM` of a clinic-local document time (`2026-11-28T09:40` or with seconds and offset).
fn clock_of(at: &str) -> &str {
    at.get(11..16).unwrap_or(at)
}

/// `HH:MM` of a stored instant in the session's zone.
fn clock_of_instant(at: &str, zone: &TimeZone) -> String {
    at.parse::<Timestamp>()
        .map(|instant| instant.to_zoned_datetime(zone.clone()).strftime("%H:%M").to_string())
        .unwrap_or_else(|_| at.to_owned())
}

fn name_of(names: &std::collections::BTreeMap<String, String>, user_id: &str) -> String {
    names.get(user_id).cloned().unwrap_or_else(|| format!("user {}", user_id.get(..8).unwrap_or(user_id)))
}

/// One signal's first, last and extremes over the session's surviving observations.
fn signal_summary(observations: &[Value], label: &str, unit: &str, keys: &[&str]) -> Option<String> {
    let readings: Vec<(String, Vec<i64>)> = observations
        .iter()
        .filter_map(|observation| {
            let values: Option<Vec<i64>> = keys.iter().map(|key| observation[*key].as_i64()).collect();
            Some((clock_of(observation["at"].as_str().unwrap_or_default()).to_owned(), values?))
        })
        .collect();
    let show = |values: &Vec<i64>| values.iter().map(i64::to_string).collect::<Vec<_>>().join("/");
    let (first_at, first) = readings.first()?;
    let (last_at, last) = readings.last()?;
    // The first reading at each extreme (`max_by_key` keeps the last of equals, hence the reversal).
    let (high_at, high) = readings.iter().rev().max_by_key(|(_, values)| values.clone())?;
    let (low_at, low) = readings.iter().min_by_key(|(_, values)| values.clone())?;
    Some(format!(
        "{label} ({} readings): first {} {unit} at {first_at}, last {} at {last_at}, highest {} at {high_at}, lowest {} at {low_at}",
        readings.len(),
        show(first),
        show(last),
        show(high),
        show(low)
    ))
}

/// The note generated from the session as the server holds it now: plain text a clinician edits
/// before signing. Every line comes from the session view (the report is the engine's, now).
pub fn generated_note_text(view: &SessionView, names: &std::collections::BTreeMap<String, String>) -> String {
    let document = &view.document;
    let report = &view.report;
    let zone = TimeZone::get(document["time_zone"].as_str().unwrap_or("UTC")).unwrap_or(TimeZone::UTC);
    let modality = match document["modality"].as_str() {
        Some("esketamine") => "Esketamine nasal spray",
        Some("iv_racemic_ketamine") => "IV racemic ketamine",
        _ => "Ketamine",
    };
    let mut lines = Vec::new();
    let day = document["dose"]["planned_at"].as_str().and_then(|at| at.get(..10)).unwrap_or("");
    lines.push(format!("{modality} session on {day} ({}).", zone.iana_name().unwrap_or("UTC")));
    lines.push(String::new());

    lines.push(format!("Pre-dose gate: {}.", report["gate"]["outcome"].as_str().unwrap_or("not assessed")));
    for item in report["gate"]["items"].as_array().into_iter().flatten() {
        lines.push(format!(
            "- {}: {} ({})",
            item["item"].as_str().unwrap_or("?"),
            item["status"].as_str().unwrap_or("?"),
            item["reason"].as_str().unwrap_or("")
        ));
    }
    for recorded in &view.overrides {
        lines.push(format!(
            "- {} overridden by {} at {}: {}",
            recorded.item,
            name_of(names, &recorded.recorded_by),
            clock_of_instant(&recorded.recorded_at, &zone),
            recorded.reason
        ));
    }
    lines.push(String::new());

    let dose = &document["dose"];
    lines.push(format!(
        "Dose: planned {} mg at {}.",
        dose["planned_mg"],
        clock_of(dose["planned_at"].as_str().unwrap_or(""))
    ));
    if let Some(order) = &view.order {
        lines.push(format!(
            "- Order {} signed by {}: {} mg.",
            order["order_id"].as_str().unwrap_or("?"),
            name_of(names, order["signed_by"].as_str().unwrap_or("")),
            order["dose_mg"]
        ));
    }
    let given: Vec<&Value> =
        view.administrations.iter().filter(|given| given["status"] != "entered_in_error").collect();
    if given.is_empty() {
        lines.push("- Given: not recorded.".to_owned());
    }
    for given in given {
        let devices = given["device_count"].as_i64().map(|count| format!(", {count} devices")).unwrap_or_default();
        let ended = given["ended_at"].as_str().map(|at| format!("–{}", clock_of(at))).unwrap_or_default();
        lines.push(format!(
            "- Given: {} {} mg{devices}, lot {}, {}{ended}, recorded by {}.",
            given["drug"].as_str().unwrap_or("?"),
            given["dose_mg"],
            given["lot_number"].as_str().unwrap_or("?"),
            clock_of(given["started_at"].as_str().unwrap_or("")),
            name_of(names, given["recorded_by"].as_str().unwrap_or(""))
        ));
    }
    lines.push(String::new());

    let observations: Vec<Value> = document["observations"].as_array().cloned().unwrap_or_default();
    lines.push("Vital signs:".to_owned());
    let signals = [
        signal_summary(&observations, "BP", "mmHg", &["systolic_mmhg", "diastolic_mmhg"]),
        signal_summary(&observations, "HR", "bpm", &["heart_rate_bpm"]),
        signal_summary(&observations, "SpO2", "%", &["spo2_percent"]),
        signal_summary(&observations, "RR", "/min", &["respiratory_rate_per_min"]),
    ];
    let mut any = false;
    for line in signals.into_iter().flatten() {
        any = true;
        lines.push(format!("- {line}"));
    }
    if !any {
        lines.push("- none recorded.".to_owned());
    }
    lines.push(String::new());

    lines.push("Scores recorded in the session:".to_owned());
    let scores = [
        signal_summary(&observations, "MOAA/S", "", &["moaas"]),
        signal_summary(&observations, "CADSS total", "", &["cadss_total"]),
        signal_summary(&observations, "BPRS positive", "", &["bprs_positive_total"]),
    ];
    let mut any = false;
    for line in scores.into_iter().flatten() {
        any = true;
        lines.push(format!("- {}", line.replace("  ", " ")));
    }
    if !any {
        lines.push("- none recorded.".to_owned());
    }
    let events: Vec<String> = observations
        .iter()
        .filter_map(|observation| {
            let words = observation["adverse_events"].as_array()?;
            (!words.is_empty()).then(|| {
                format!(
                    "- Adverse events at {}: {}",
                    clock_of(observation["at"].as_str().unwrap_or("")),
                    words.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
                )
            })
        })
        .collect();
    lines.extend(events);
    lines.push(String::new());

    let changes = report["alerts"]["changes"].as_array().cloned().unwrap_or_default();
    lines.push(format!("Alerts: {} changes.", changes.len()));
    for change in &changes {
        lines.push(format!(
            "- {} {} {} {}: {}",
            clock_of(change["at"].as_str().unwrap_or("")),
            change["change"].as_str().unwrap_or("?"),
            change["id"].as_str().unwrap_or("?"),
            change["level"].as_str().unwrap_or("?"),
            change["summary"].as_str().unwrap_or("")
        ));
    }
    for acknowledgement in &view.acknowledgements {
        let note = acknowledgement.note.as_deref().map(|note| format!(": {note}")).unwrap_or_default();
        lines.push(format!(
            "- {} acknowledged by {} at {}{note}",
            acknowledgement.alert_id,
            name_of(names, &acknowledgement.acknowledged_by),
            clock_of_instant(&acknowledgement.acknowledged_at, &zone)
        ));
    }
    let active = report["alerts"]["active"].as_array().map_or(0, Vec::len);
    if active > 0 {
        lines.push(format!("- {active} alerts still active."));
    }
    lines.push(String::new());

    let discharge = &report["discharge"];
    lines.push(format!("Discharge: {}.", discharge["status"].as_str().unwrap_or("not assessed")));
    for criterion in discharge["criteria"].as_array().into_iter().flatten() {
        lines.push(format!(
            "- {}: {} ({})",
            criterion["criterion"].as_str().unwrap_or("?"),
            criterion["status"].as_str().unwrap_or("?"),
            criterion["reason"].as_str().unwrap_or("")
        ));
    }
    if let (Some(at), Some(by)) = (&view.discharged_at, &view.discharged_by) {
        lines.push(format!("- Discharged at {} by {}.", clock_of_instant(at, &zone), name_of(names, by)));
    }
    // KNOWLEDGE §4.6: no driving or hazardous machinery until the next day after restful sleep.
    lines.push(
        "- After-care: no driving or hazardous machinery until the next day after a night's sleep; escorted home."
            .to_owned(),
    );
    lines.push(String::new());
    lines.push("Assessment and plan: ".to_owned());
    lines.join("\n")
}
