//! Session notes and their signatures (schema 12): one note per session and addenda to it, each signed
//! by its author and, when the protocol asks, co-signed by a prescriber. The store keeps what the app
//! decided; the database itself refuses any change to a note once signed and any change to a signature
//! (triggers in both backends), so a signed text stays the text whose SHA-256 was recorded.

use jiff::Timestamp;
use serde::Serialize;

use crate::audit::{AuditEvent, append_audit};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::users::duplicate_as;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// A note's kind: the session's note, or an addendum to a signed note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Note,
    Addendum,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::Note => "note",
            NoteKind::Addendum => "addendum",
        }
    }

    fn parse(text: &str) -> Result<NoteKind, StoreError> {
        match text {
            "note" => Ok(NoteKind::Note),
            "addendum" => Ok(NoteKind::Addendum),
            other => Err(StoreError::Corrupt(format!("a note kind that is not one: {other}"))),
        }
    }
}

/// Who signs: the author, or a prescriber co-signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    Author,
    Cosignature,
}

impl SignatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureKind::Author => "author",
            SignatureKind::Cosignature => "cosignature",
        }
    }

    fn parse(text: &str) -> Result<SignatureKind, StoreError> {
        match text {
            "author" => Ok(SignatureKind::Author),
            "cosignature" => Ok(SignatureKind::Cosignature),
            other => Err(StoreError::Corrupt(format!("a signature kind that is not one: {other}"))),
        }
    }
}

/// One signature of a note: who, in which role, when (the server's clock) and the SHA-256 of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub kind: SignatureKind,
    pub signed_by: String,
    pub signer_role: String,
    pub signed_at: Timestamp,
    pub text_sha256: String,
    /// On the author's signature: whether the protocol asked for a prescriber's co-signature then.
    pub cosignature_required: bool,
}

/// A stored note or addendum, with its signatures (author first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSessionNote {
    pub patient_id: String,
    pub note_id: String,
    pub session_id: String,
    pub kind: NoteKind,
    pub addendum_to: Option<String>,
    pub text: String,
    pub author_id: String,
    pub author_role: String,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub signatures: Vec<NoteSignature>,
}

/// A prescriber's signed note awaiting co-signature, for the worklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteAwaitingCosignature {
    pub patient_id: String,
    /// The patient as the worklist names them: `Family, Given (MRN)`.
    pub patient_label: String,
    pub session_id: String,
    pub note_id: String,
    pub kind: NoteKind,
    pub author_id: String,
    pub signed_at: Timestamp,
}

const NOTE_COLUMNS: &str = "patient_id, note_id, session_id, kind, addendum_to, text, author_id, author_role, version, \
     created_at, updated_at";

fn time(row: &impl RowExt, column: &str) -> Result<Timestamp, StoreError> {
    let text = row.text(column)?;
    text.parse().map_err(|_| StoreError::Corrupt(format!("{column} is not a time: {text}")))
}

fn note_from_row(row: &impl RowExt) -> Result<StoredSessionNote, StoreError> {
    Ok(StoredSessionNote {
        patient_id: row.text("patient_id")?,
        note_id: row.text("note_id")?,
        session_id: row.text("session_id")?,
        kind: NoteKind::parse(&row.text("kind")?)?,
        addendum_to: row.opt_text("addendum_to")?,
        text: row.text("text")?,
        author_id: row.text("author_id")?,
        author_role: row.text("author_role")?,
        version: row.int("version")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        signatures: Vec::new(),
    })
}

fn signature_from_row(row: &impl RowExt) -> Result<(String, NoteSignature), StoreError> {
    Ok((
        row.text("note_id")?,
        NoteSignature {
            kind: SignatureKind::parse(&row.text("kind")?)?,
            signed_by: row.text("signed_by")?,
            signer_role: row.text("signer_role")?,
            signed_at: time(row, "signed_at")?,
            text_sha256: row.text("text_sha256")?,
            cosignature_required: row.int("cosignature_required")? == 1,
        },
    ))
}

impl Store {
    /// A session's note and addenda, oldest first, each with its signatures (author first).
    pub async fn session_notes(
        &self,
        patient_id: &str,
        session_id: &str,
    ) -> Result<Vec<StoredSessionNote>, StoreError> {
        let notes_sql = format!(
            "SELECT {NOTE_COLUMNS} FROM session_notes WHERE patient_id = $1 AND session_id = $2 \
             ORDER BY created_at, note_id"
        );
        let signatures_sql = "SELECT s.note_id, s.kind, s.signed_by, s.signer_role, s.signed_at, s.text_sha256, \
             s.cosignature_required FROM note_signatures s JOIN session_notes n ON n.patient_id = s.patient_id \
             AND n.note_id = s.note_id WHERE n.patient_id = $1 AND n.session_id = $2 ORDER BY s.signed_at, s.kind";
        let (mut notes, signatures) = on_pool!(self, pool => {
            let rows = sqlx::query(&notes_sql).bind(patient_id).bind(session_id).fetch_all(pool).await?;
            let notes = rows.iter().map(note_from_row).collect::<Result<Vec<_>, StoreError>>()?;
            let rows = sqlx::query(signatures_sql).bind(patient_id).bind(session_id).fetch_all(pool).await?;
            let signatures = rows.iter().map(signature_from_row).collect::<Result<Vec<_>, StoreError>>()?;
            (notes, signatures)
        });
        for (note_id, signature) in signatures {
            if let Some(note) = notes.iter_mut().find(|note| note.note_id == note_id) {
                note.signatures.push(signature);
            }
        }
        for note in &mut notes {
            note.signatures.sort_by_key(|signature| signature.kind != SignatureKind::Author);
        }
        Ok(notes)
    }

    /// Stores a new unsigned note or addendum (`version` 1). A second note of one session is
    /// [`StoreError::Duplicate`].
    pub async fn insert_session_note(&self, note: &StoredSessionNote, audit: &AuditEvent) -> Result<(), StoreError> {
        let created_at = format_time(note.created_at);
        write_tx!(self, [note, audit, created_at], tx => {
            sqlx::query(
                "INSERT INTO session_notes (patient_id, note_id, session_id, kind, addendum_to, text, author_id, \
                 author_role, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)",
            )
            .bind(&note.patient_id)
            .bind(&note.note_id)
            .bind(&note.session_id)
            .bind(note.kind.as_str())
            .bind(&note.addendum_to)
            .bind(&note.text)
            .bind(&note.author_id)
            .bind(&note.author_role)
            .bind(&created_at)
            .execute(&mut *tx.conn)
            .await
            .map_err(duplicate_as("a note of this session"))?;
            touch!(tx, "session_notes", [&note.patient_id, &note.note_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Replaces an unsigned note's text if it is still at `expected_version` and unsigned (the database
    /// refuses a change to a signed note whatever the caller checked).
    pub async fn edit_session_note(
        &self,
        patient_id: &str,
        note_id: &str,
        expected_version: i64,
        text: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = format_time(at);
        write_tx!(self, [patient_id, note_id, text, audit, at], tx => {
            let updated = sqlx::query(
                "UPDATE session_notes SET text = $4, version = version + 1, updated_at = $5 \
                 WHERE patient_id = $1 AND note_id = $2 AND version = $3",
            )
            .bind(&patient_id)
            .bind(&note_id)
            .bind(expected_version)
            .bind(&text)
            .bind(&at)
            .execute(&mut *tx.conn)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::StaleVersion { resource: "note", id: note_id.to_owned(), expected: expected_version, current: -1 });
            }
            touch!(tx, "session_notes", [&patient_id, &note_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Records a signature of a note if the note is still at `expected_version`. A second signature of
    /// the same kind is [`StoreError::Duplicate`].
    pub async fn sign_session_note(
        &self,
        patient_id: &str,
        note_id: &str,
        expected_version: i64,
        signature: &NoteSignature,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let signed_at = format_time(signature.signed_at);
        write_tx!(self, [patient_id, note_id, signature, audit, signed_at], tx => {
            let (version,): (i64,) = sqlx::query_as("SELECT version FROM session_notes WHERE patient_id = $1 AND note_id = $2")
                .bind(&patient_id)
                .bind(&note_id)
                .fetch_optional(&mut *tx.conn)
                .await?
                .ok_or_else(|| StoreError::NotFound { resource: "note", id: note_id.clone() })?;
            if version != expected_version {
                return Err(StoreError::StaleVersion { resource: "note", id: note_id.clone(), expected: expected_version, current: version });
            }
            sqlx::query(
                "INSERT INTO note_signatures (patient_id, note_id, kind, signed_by, signer_role, signed_at, text_sha256, \
                 cosignature_required) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&patient_id)
            .bind(&note_id)
            .bind(signature.kind.as_str())
            .bind(&signature.signed_by)
            .bind(&signature.signer_role)
            .bind(&signed_at)
            .bind(&signature.text_sha256)
            .bind(i64::from(signature.cosignature_required))
            .execute(&mut *tx.conn)
            .await
            .map_err(duplicate_as("this signature of the note"))?;
            touch!(tx, "note_signatures", [&patient_id, &note_id, signature.kind.as_str()]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Signed notes whose author's signature asked for a co-signature that no one has given yet, oldest
    /// first (the prescribers' worklist).
    pub async fn notes_awaiting_cosignature(&self) -> Result<Vec<NoteAwaitingCosignature>, StoreError> {
        let sql = "SELECT n.patient_id, n.session_id, n.note_id, n.kind, n.author_id, s.signed_at, p.given_name, \
             p.family_name, p.mrn FROM session_notes n JOIN patients p ON p.patient_id = n.patient_id \
             JOIN note_signatures s ON s.patient_id = n.patient_id AND s.note_id = n.note_id AND s.kind = 'author' \
             WHERE s.cosignature_required = 1 AND NOT EXISTS (SELECT 1 FROM note_signatures c \
             WHERE c.patient_id = n.patient_id AND c.note_id = n.note_id AND c.kind = 'cosignature') \
             ORDER BY s.signed_at, n.note_id";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let name = format!("{}, {}", row.text("family_name")?, row.text("given_name")?);
                    Ok(NoteAwaitingCosignature {
                        patient_id: row.text("patient_id")?,
                        patient_label: match row.opt_text("mrn")? {
                            Some(mrn) => format!("{name} ({mrn})"),
                            None => name,
                        },
                        session_id: row.text("session_id")?,
                        note_id: row.text("note_id")?,
                        kind: NoteKind::parse(&row.text("kind")?)?,
                        author_id: row.text("author_id")?,
                        signed_at: time(row, "signed_at")?,
                    })
                })
                .collect()
        })
    }
}
