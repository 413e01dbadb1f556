//! The audit log: append-only (triggers in both backends refuse UPDATE and DELETE) and hash-chained.
//! Each row stores `prev_hash`, the previous row's hash (64 zeros for the first), and `hash`, the SHA-256
//! of its canonical content: a JSON array of every column in a fixed order, `seq` and `prev_hash`
//! included. So editing, deleting, inserting or reordering rows breaks a link that
//! [`Store::verify_audit_chain`] finds. Truncating the tail is only detectable against a head hash kept
//! elsewhere, which is why verification reports the head.

use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

use crate::rows::RowExt;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Rows read per round trip while verifying.
const VERIFY_PAGE_ROWS: i64 = 1000;

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
    pub prev_hash: String,
    pub hash: String,
}

/// The first link of the chain that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenLink {
    /// `seq` of the row where the chain breaks (for a gap: the row after it).
    pub seq: i64,
    pub problem: String,
}

/// The outcome of verifying the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditChainReport {
    /// Rows read before the first broken link (all of them when the chain is intact).
    pub events_checked: u64,
    /// `seq` and hash of the last row verified; anchor these elsewhere to detect a truncated tail.
    pub head_seq: i64,
    pub head_hash: String,
    pub first_broken: Option<BrokenLink>,
}

impl AuditRecord {
    /// The SHA-256 (hex) of this row's canonical content.
    pub fn computed_hash(&self) -> String {
        let canonical = serde_json::json!([
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
        Sha256::digest(canonical.to_string().as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
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
            prev_hash: row.text("prev_hash")?,
            hash: row.text("hash")?,
        })
    }
}

/// The row that follows `head` (the last row's seq and hash) in the chain.
pub(crate) fn chain_next(head: Option<(i64, String)>, event: &AuditEvent) -> AuditRecord {
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
        prev_hash,
        hash: String::new(),
    };
    record.hash = record.computed_hash();
    record
}

/// The chain's last row (seq, hash), read once per batch inside its serialised transaction.
pub(crate) const AUDIT_HEAD_SQL: &str = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";

pub(crate) const INSERT_AUDIT_SQL: &str = "INSERT INTO audit_events (seq, occurred_at, actor_id, actor_role, action, \
     resource, patient_id, request_id, outcome, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Appends `$event` to the chain inside the writer job `$tx` (a [`JobTx`](crate::writer::JobTx)), whose
/// `head` is the chain's last row as of this point of the batch; evaluates to the new record.
macro_rules! append_audit {
    ($tx:expr, $event:expr) => {{
        let record = $crate::audit::chain_next($tx.head.clone(), $event);
        sqlx::query($crate::audit::INSERT_AUDIT_SQL)
            .bind(record.seq)
            .bind(&record.occurred_at)
            .bind(&record.actor_id)
            .bind(&record.actor_role)
            .bind(&record.action)
            .bind(&record.resource)
            .bind(&record.patient_id)
            .bind(&record.request_id)
            .bind(&record.outcome)
            .bind(&record.prev_hash)
            .bind(&record.hash)
            .execute(&mut *$tx.conn)
            .await?;
        *$tx.head = Some((record.seq, record.hash.clone()));
        record
    }};
}
pub(crate) use append_audit;

/// Checks one row against the previous one; `None` when the link holds.
fn check_link(expected_seq: i64, expected_prev: &str, record: &AuditRecord) -> Option<String> {
    if record.seq != expected_seq {
        return Some(format!(
            "expected seq {expected_seq} next, found {}: a row was deleted, inserted or moved",
            record.seq
        ));
    }
    if record.prev_hash != expected_prev {
        return Some(
            "prev_hash does not match the previous row's hash: a row was deleted, inserted or moved".to_owned(),
        );
    }
    if record.computed_hash() != record.hash {
        return Some("hash does not match the row's content: the row was edited".to_owned());
    }
    None
}

impl Store {
    /// Appends one event on its own (reads, logins); writes of clinical data append theirs in their own
    /// transaction instead, so that no change is stored without its audit row.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
        Ok(write_tx!(self, [event], tx => append_audit!(tx, &event)))
    }

    /// Appends several events in one transaction (one sync), e.g. one per patient a list showed.
    pub async fn append_audit_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        write_tx!(self, [events], tx => {
            for event in &events {
                append_audit!(tx, event);
            }
        });
        Ok(())
    }

    /// Up to `limit` rows with `seq` greater than `after_seq`, in chain order.
    pub async fn audit_events(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = "SELECT seq, occurred_at, actor_id, actor_role, action, resource, patient_id, request_id, outcome, \
                   prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2";
        let records = on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(after_seq).bind(limit).fetch_all(pool).await?;
            rows.iter().map(AuditRecord::from_row).collect::<Result<Vec<_>, _>>()?
        });
        Ok(records)
    }

    /// Walks the whole chain in order and reports the first link that does not hold.
    pub async fn verify_audit_chain(&self) -> Result<AuditChainReport, StoreError> {
        let mut report =
            AuditChainReport { events_checked: 0, head_seq: 0, head_hash: GENESIS_HASH.to_owned(), first_broken: None };
        // Paging by seq > last seen; a row moved below the last seen seq is still found, by the gap it leaves.
        let mut after_seq = i64::MIN;
        loop {
            let page = self.audit_events(after_seq, VERIFY_PAGE_ROWS).await?;
            let Some(last) = page.last() else { return Ok(report) };
            after_seq = last.seq;
            for record in &page {
                if let Some(problem) = check_link(report.head_seq + 1, &report.head_hash, record) {
                    report.first_broken = Some(BrokenLink { seq: record.seq, problem });
                    return Ok(report);
                }
                report.events_checked += 1;
                report.head_seq = record.seq;
                report.head_hash = record.hash.clone();
            }
        }
    }
}
