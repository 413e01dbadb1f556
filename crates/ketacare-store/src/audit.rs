//! The audit log: append-only (triggers in both backends refuse UPDATE and DELETE) and hash-chained.
//! Each row stores `prev_hash`, the previous row's hash (64 zeros for the first), and `hash`, the SHA-256
//! (or, with an audit key, the HMAC-SHA-256) of its canonical content: a JSON array of every column in a
//! fixed order, `seq`, `prev_hash` and the row versions it carries included. So editing, deleting,
//! inserting or reordering rows breaks a link that [`Store::verify_audit_chain`] finds. Truncating the
//! tail, or rewriting the whole unkeyed chain, is only detectable against a head hash kept elsewhere,
//! which is why verification reports the head. The row versions (`row_versions.rs`) extend the chain
//! to the clinical rows themselves; the whole verification is in `audit_verify.rs`.

use std::sync::Arc;

use hmac::{Hmac, Mac as _};
use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

use crate::row_versions::{RowVersion, TouchedRows};
use crate::rows::RowExt;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something that happened to patient data or to an account, to be appended to the log.
/// Never put clinical values here: the log says who touched what, not what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub occurred_at: Timestamp,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    /// What was done, e.g. `patient.read`, `assessment.create`, `session.login`.
    pub action: String,
    /// What it was done to, e.g. `patient/9f…` or `user/alice`.
    pub resource: String,
    pub patient_id: Option<String>,
    pub request_id: Option<String>,
    /// `success`, `denied`, `not_found`, `invalid`, `conflict`, `failure`.
    pub outcome: String,
}

/// How a row's `hash` is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashAlgorithm {
    /// SHA-256 of the canonical content: anyone can recompute it, so only an anchor kept elsewhere
    /// detects a rewrite of the whole chain.
    Sha256,
    /// HMAC-SHA-256 with the deployment's audit key: a rewrite needs the key.
    HmacSha256,
}

impl HashAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::HmacSha256 => "hmac-sha256",
        }
    }

    fn parse(text: &str) -> Option<HashAlgorithm> {
        match text {
            "sha256" => Some(HashAlgorithm::Sha256),
            "hmac-sha256" => Some(HashAlgorithm::HmacSha256),
            _ => None,
        }
    }
}

/// The secret that keys the chain's hashes (HMAC-SHA-256), read from a file or an environment variable
/// by the binary; never stored in the database. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct AuditKey(Arc<[u8]>);

/// The fewest bytes an audit key has (256 bits).
pub const AUDIT_KEY_MIN_BYTES: usize = 32;

impl AuditKey {
    /// A key of at least [`AUDIT_KEY_MIN_BYTES`] bytes.
    pub fn new(bytes: &[u8]) -> Result<AuditKey, String> {
        if bytes.len() < AUDIT_KEY_MIN_BYTES {
            return Err(format!("an audit key needs at least {AUDIT_KEY_MIN_BYTES} bytes, got {}", bytes.len()));
        }
        Ok(AuditKey(bytes.into()))
    }

    fn mac_hex(&self, content: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(content);
        mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("AuditKey(…)")
    }
}

/// A row of the log as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub occurred_at: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub resource: String,
    pub patient_id: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
    /// The versions of the rows the event's write stored (empty for reads and for events before
    /// schema 7).
    pub row_versions: Vec<RowVersion>,
    /// The patients a list request showed (patient lists, the worklist), in the order shown; empty for
    /// other events, whose patient is `patient_id`.
    pub patients_shown: Vec<String>,
    pub hash_algorithm: HashAlgorithm,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// This row's hash as it should be, by its own algorithm: `None` for a keyed row when no key is given.
    pub fn computed_hash(&self, key: Option<&AuditKey>) -> Option<String> {
        let canonical = self.canonical_content();
        match self.hash_algorithm {
            HashAlgorithm::Sha256 => {
                Some(Sha256::digest(canonical.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect())
            }
            HashAlgorithm::HmacSha256 => key.map(|key| key.mac_hex(canonical.as_bytes())),
        }
    }

    /// The JSON array the hash is made of. Rows written before row versions and keys existed hash the
    /// ten columns they had; the newer columns join the array only when they say something.
    fn canonical_content(&self) -> String {
        let mut canonical = serde_json::json!([
            self.seq,
            self.occurred_at,
            self.actor_id,
            self.actor_role,
            self.action,
            self.resource,
            self.patient_id,
            self.request_id,
            self.outcome,
            self.prev_hash,
        ]);
        let items = canonical.as_array_mut().expect("an array");
        if !self.row_versions.is_empty() {
            items.push(serde_json::to_value(&self.row_versions).expect("row versions serialize"));
        }
        if !self.patients_shown.is_empty() {
            items.push(serde_json::json!({ "patients_shown": self.patients_shown }));
        }
        if self.hash_algorithm != HashAlgorithm::Sha256 {
            items.push(serde_json::Value::from(self.hash_algorithm.as_str()));
        }
        canonical.to_string()
    }

    fn from_row(row: &impl RowExt) -> Result<AuditRecord, sqlx::Error> {
        Ok(AuditRecord {
            seq: row.int("seq")?,
            occurred_at: row.text("occurred_at")?,
            actor_id: row.opt_text("actor_id")?,
            actor_role: row.opt_text("actor_role")?,
            action: row.text("action")?,
            resource: row.text("resource")?,
            patient_id: row.opt_text("patient_id")?,
            request_id: row.opt_text("request_id")?,
            outcome: row.text("outcome")?,
            row_versions: match row.opt_text("row_versions")? {
                None => Vec::new(),
                Some(json) => serde_json::from_str(&json)
                    .map_err(|error| sqlx::Error::Decode(format!("audit_events.row_versions: {error}").into()))?,
            },
            patients_shown: match row.opt_text("patients_shown")? {
                None => Vec::new(),
                Some(json) => serde_json::from_str(&json)
                    .map_err(|error| sqlx::Error::Decode(format!("audit_events.patients_shown: {error}").into()))?,
            },
            hash_algorithm: {
                let text = row.text("hash_algorithm")?;
                HashAlgorithm::parse(&text)
                    .ok_or_else(|| sqlx::Error::Decode(format!("audit_events.hash_algorithm: {text:?}").into()))?
            },
            prev_hash: row.text("prev_hash")?,
            hash: row.text("hash")?,
        })
    }
}

/// The row that follows `head` (the last row's seq and hash) in the chain, carrying `row_versions` and
/// hashed with `key` when there is one.
pub(crate) fn chain_next(
    head: Option<(i64, String)>,
    event: &AuditEvent,
    row_versions: Vec<RowVersion>,
    patients_shown: Vec<String>,
    key: Option<&AuditKey>,
) -> AuditRecord {
    let (seq, prev_hash) = match head {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let mut record = AuditRecord {
        seq,
        occurred_at: format_time(event.occurred_at),
        actor_id: event.actor_id.clone(),
        actor_role: event.actor_role.clone(),
        action: event.action.clone(),
        resource: event.resource.clone(),
        patient_id: event.patient_id.clone(),
        request_id: event.request_id.clone(),
        outcome: event.outcome.clone(),
        row_versions,
        patients_shown,
        hash_algorithm: if key.is_some() { HashAlgorithm::HmacSha256 } else { HashAlgorithm::Sha256 },
        prev_hash,
        hash: String::new(),
    };
    record.hash = record.computed_hash(key).expect("the key that chose the algorithm is given");
    record
}

/// The chain's last row (seq, hash), read once per batch inside its serialised transaction.
pub(crate) const AUDIT_HEAD_SQL: &str = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";

/// The audit rows a batch appends, held until the batch's end so that they go to the database in one
/// multi-row INSERT instead of one round trip per event. The head (the chain's last row, stored or
/// pending) is what the next row links to.
///
/// It also holds the rows the running job has [`touch`](crate::row_versions::touch)ed and not yet
/// carried in an audit event.
#[derive(Debug, Default)]
pub(crate) struct PendingAudit {
    head: Option<(i64, String)>,
    rows: Vec<AuditRecord>,
    key: Option<AuditKey>,
    touched: Vec<TouchedRows>,
}

/// A row as the INSERT statements take it: its row versions as one JSON text (NULL when none).
#[derive(serde::Serialize)]
struct InsertedAuditRow<'a> {
    #[serde(flatten)]
    record: &'a AuditRecord,
    row_versions_json: Option<String>,
    patients_shown_json: Option<String>,
}

impl PendingAudit {
    /// Starts a batch after the chain's stored head; its rows are keyed with `key` when there is one.
    pub(crate) fn after(head: Option<(i64, String)>, key: Option<AuditKey>) -> PendingAudit {
        PendingAudit { head, rows: Vec::new(), key, touched: Vec::new() }
    }

    /// Notes rows the running job changed, to be carried by its next audit event.
    pub(crate) fn touch(&mut self, rows: TouchedRows) {
        self.touched.push(rows);
    }

    /// The rows touched since the last event, handed over to be hashed into the next one.
    pub(crate) fn take_touched(&mut self) -> Vec<TouchedRows> {
        std::mem::take(&mut self.touched)
    }

    /// Links `event`, carrying `row_versions`, to the chain and holds its row for the batch's INSERT.
    pub(crate) fn append(&mut self, event: &AuditEvent, row_versions: Vec<RowVersion>) -> AuditRecord {
        self.append_showing(event, row_versions, Vec::new())
    }

    /// [`PendingAudit::append`] for a list request's event, naming the patients it showed.
    pub(crate) fn append_showing(
        &mut self,
        event: &AuditEvent,
        row_versions: Vec<RowVersion>,
        patients_shown: Vec<String>,
    ) -> AuditRecord {
        let record = chain_next(self.head.take(), event, row_versions, patients_shown, self.key.as_ref());
        self.head = Some((record.seq, record.hash.clone()));
        self.rows.push(record.clone());
        record
    }

    /// Where a job starts, to undo its rows if it fails.
    pub(crate) fn mark(&self) -> (usize, Option<(i64, String)>) {
        (self.rows.len(), self.head.clone())
    }

    /// Drops the rows appended since `mark` (the job's savepoint was rolled back).
    pub(crate) fn undo_to(&mut self, mark: (usize, Option<(i64, String)>)) {
        self.rows.truncate(mark.0);
        self.head = mark.1;
        self.touched.clear();
    }

    /// A job's outcome, failed if the job changed rows that no audit event of it carries (a write path
    /// that forgot its audit event: nothing of it may commit unaudited).
    pub(crate) fn finish_job<T>(&mut self, output: Result<T, StoreError>) -> Result<T, StoreError> {
        if output.is_ok() && !self.touched.is_empty() {
            let tables: Vec<&str> = self.touched.drain(..).map(|rows| rows.table.name).collect();
            return Err(StoreError::Corrupt(format!(
                "a write changed rows of {} without an audit event carrying them",
                tables.join(", ")
            )));
        }
        output
    }

    /// The held rows as one JSON array, the single parameter of [`INSERT_AUDIT_ROWS_SQLITE`] and
    /// [`INSERT_AUDIT_ROWS_POSTGRES`]; `None` when there are none.
    pub(crate) fn rows_json(&self) -> Option<String> {
        (!self.rows.is_empty()).then(|| {
            let rows: Vec<InsertedAuditRow<'_>> = self
                .rows
                .iter()
                .map(|record| InsertedAuditRow {
                    record,
                    row_versions_json: (!record.row_versions.is_empty())
                        .then(|| serde_json::to_string(&record.row_versions).expect("row versions serialize")),
                    patients_shown_json: (!record.patients_shown.is_empty())
                        .then(|| serde_json::to_string(&record.patients_shown).expect("ids serialize")),
                })
                .collect();
            serde_json::to_string(&rows).expect("audit rows serialize")
        })
    }
}

/// Inserts a batch's audit rows, given as one JSON array, in one statement whose text never changes (so
/// it is prepared once per connection).
pub(crate) const INSERT_AUDIT_ROWS_SQLITE: &str = "INSERT INTO audit_events (seq, occurred_at, actor_id, actor_role, \
     action, resource, patient_id, request_id, outcome, row_versions, patients_shown, hash_algorithm, prev_hash, hash) \
     SELECT json_extract(value, '$.seq'), json_extract(value, '$.occurred_at'), json_extract(value, '$.actor_id'), \
     json_extract(value, '$.actor_role'), json_extract(value, '$.action'), json_extract(value, '$.resource'), \
     json_extract(value, '$.patient_id'), json_extract(value, '$.request_id'), json_extract(value, '$.outcome'), \
     json_extract(value, '$.row_versions_json'), json_extract(value, '$.patients_shown_json'), \
     json_extract(value, '$.hash_algorithm'), \
     json_extract(value, '$.prev_hash'), json_extract(value, '$.hash') FROM json_each($1)";

/// [`INSERT_AUDIT_ROWS_SQLITE`] for PostgreSQL.
pub(crate) const INSERT_AUDIT_ROWS_POSTGRES: &str = "INSERT INTO audit_events (seq, occurred_at, actor_id, actor_role, \
     action, resource, patient_id, request_id, outcome, row_versions, patients_shown, hash_algorithm, prev_hash, hash) \
     SELECT seq, occurred_at, actor_id, actor_role, action, resource, patient_id, request_id, outcome, \
     row_versions_json, patients_shown_json, hash_algorithm, prev_hash, hash \
     FROM jsonb_to_recordset($1::jsonb) AS row_of_batch (seq BIGINT, occurred_at TEXT, actor_id TEXT, actor_role TEXT, \
     action TEXT, resource TEXT, patient_id TEXT, request_id TEXT, outcome TEXT, row_versions_json TEXT, \
     patients_shown_json TEXT, \
     hash_algorithm TEXT, prev_hash TEXT, hash TEXT)";

/// Appends `$event` to the chain inside the writer job `$tx` (a [`JobTx`](crate::writer::JobTx)),
/// carrying the versions of the rows the job touched since its last event, read back in the same
/// transaction; the row is written with the rest of the batch's audit rows before the commit, and is
/// dropped if the job fails. Evaluates to the new record.
macro_rules! append_audit {
    ($tx:expr, $event:expr) => {{
        let touched = $tx.audit.take_touched();
        let row_versions = if touched.is_empty() {
            Vec::new()
        } else {
            $crate::row_versions::RowVersionSource::touched_row_versions(&mut *$tx.conn, &touched).await?
        };
        $tx.audit.append($event, row_versions)
    }};
}
pub(crate) use append_audit;

impl Store {
    /// Appends one event on its own (reads, logins); writes of clinical data append theirs in their own
    /// transaction instead, so that no change is stored without its audit row.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
        Ok(write_tx!(self, [event], tx => append_audit!(tx, &event)))
    }

    /// Appends the one event of a list request (a patient list, the worklist), naming every patient it
    /// showed, so that "who saw this patient" includes lists without a row per patient shown.
    pub async fn append_audit_showing(&self, event: &AuditEvent, patients_shown: &[String]) -> Result<(), StoreError> {
        write_tx!(self, [event, patients_shown], tx => {
            tx.audit.append_showing(&event, Vec::new(), patients_shown.clone())
        });
        Ok(())
    }

    /// Up to `limit` rows with `seq` greater than `after_seq`, in chain order.
    pub async fn audit_events(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        self.audit_events_matching(&AuditEventFilter { after_seq, limit, ..AuditEventFilter::default() }).await
    }

    /// Up to `filter.limit` rows after `filter.after_seq` that match every condition given, in chain
    /// order (keyset paging by `seq`: the next page starts after the last row of this one). Only the
    /// conditions given are in the statement; each value is a bound parameter.
    pub async fn audit_events_matching(&self, filter: &AuditEventFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT seq, occurred_at, actor_id, actor_role, action, resource, patient_id, request_id, outcome, \
             row_versions, patients_shown, hash_algorithm, prev_hash, hash FROM audit_events WHERE seq > $1",
        );
        let mut texts: Vec<String> = Vec::new();
        let mut condition = |sql: &mut String, template: &str, values: &[String]| {
            let mut clause = template.to_owned();
            for value in values {
                texts.push(value.clone());
                clause = clause.replacen("{}", &format!("${}", texts.len() + 1), 1);
            }
            sql.push_str(" AND ");
            sql.push_str(&clause);
        };
        if let Some(patient_id) = &filter.patient_id {
            // The patient's own events, and the list events (patient lists, the worklist) that showed it.
            let shown = format!("%\"{}\"%", like_escaped(patient_id));
            condition(
                &mut sql,
                "(patient_id = {} OR patients_shown LIKE {} ESCAPE '\\')",
                &[patient_id.clone(), shown],
            );
        }
        if let Some(actor_id) = &filter.actor_id {
            condition(&mut sql, "actor_id = {}", std::slice::from_ref(actor_id));
        }
        match &filter.action {
            Some(AuditActionMatch::Exact(action)) => condition(&mut sql, "action = {}", std::slice::from_ref(action)),
            Some(AuditActionMatch::Prefix(prefix)) => {
                condition(&mut sql, "action LIKE {} ESCAPE '\\'", &[format!("{}%", like_escaped(prefix))]);
            }
            None => {}
        }
        // Stored times are fixed-width UTC text (`format_time`), so text order is time order.
        if let Some(from) = filter.occurred_from {
            condition(&mut sql, "occurred_at >= {}", &[format_time(from)]);
        }
        if let Some(before) = filter.occurred_before {
            condition(&mut sql, "occurred_at < {}", &[format_time(before)]);
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", texts.len() + 2));
        let records = on_pool!(self, pool => {
            let mut query = sqlx::query(&sql).bind(filter.after_seq);
            for text in &texts {
                query = query.bind(text.as_str());
            }
            let rows = query.bind(filter.limit).fetch_all(pool).await?;
            rows.iter().map(AuditRecord::from_row).collect::<Result<Vec<_>, _>>()?
        });
        Ok(records)
    }
}

/// Which rows of the audit log to read: a keyset page (`seq` after `after_seq`, at most `limit`) of the
/// rows that match every condition given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEventFilter {
    pub after_seq: i64,
    pub limit: i64,
    /// Events about this patient, or list events that showed it.
    pub patient_id: Option<String>,
    /// Events of this account.
    pub actor_id: Option<String>,
    pub action: Option<AuditActionMatch>,
    /// At or after this time.
    pub occurred_from: Option<Timestamp>,
    /// Before this time.
    pub occurred_before: Option<Timestamp>,
}

/// An action exactly (`user.unlock`), or every action that starts with a prefix (`user.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditActionMatch {
    Exact(String),
    Prefix(String),
}

/// Text for a LIKE pattern with `\`, `%` and `_` matching themselves (with `ESCAPE '\'`).
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
