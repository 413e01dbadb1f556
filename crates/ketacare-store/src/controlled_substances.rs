//! The controlled-substance record (migration 11): stock lots by drug, lot number and location, and the
//! append-only log of their entries (receipts, withdrawals for administrations, witnessed waste,
//! returns, counts). The store decides nothing: the app reads a lot's entries, judges the balance with
//! the core, and writes an entry only if the lot is still at the version it read (every entry raises it),
//! so two removals racing for the last milligrams cannot both pass. Nothing is deleted; an entry's status
//! (entered in error, with a reason) and a count's resolution are set once.

use jiff::Timestamp;

use crate::audit::{AuditEvent, append_audit};
use crate::patients::{IdempotentResponse, store_idempotent};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// One lot at one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLotRow {
    pub lot_id: String,
    /// `ketamine` or `esketamine`.
    pub drug: String,
    pub ndc: String,
    pub lot_number: String,
    /// `YYYY-MM-DD`.
    pub expiry_date: String,
    pub location: String,
    pub version: i64,
    pub created_at: Timestamp,
    pub created_by: String,
}

/// One entry of the log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockEntryRow {
    pub entry_id: String,
    pub lot_id: String,
    /// `received`, `withdrawn`, `wasted`, `returned` or `count`.
    pub kind: String,
    /// Exact decimal text in mg: the quantity moved, or counted.
    pub quantity_mg: String,
    pub supplier: Option<String>,
    pub party: Option<String>,
    pub patient_id: Option<String>,
    pub session_id: Option<String>,
    pub administration_id: Option<String>,
    pub witness_id: Option<String>,
    pub note: Option<String>,
    pub expected_mg: Option<String>,
    pub discrepancy_mg: Option<String>,
    /// `active` or `entered_in_error`.
    pub status: String,
    pub recorded_at: Timestamp,
    pub recorded_by: String,
    pub error_reason: Option<String>,
    pub error_by: Option<String>,
    pub error_at: Option<Timestamp>,
    pub resolution_reason: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
}

/// Which entries to read: of one lot, recorded in `[from, to)`, or all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockEntryFilter {
    pub lot_id: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// A new entry, and the lot it goes to: a new lot (a first receipt) or an existing one still at
/// `expected_lot_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockEntryLot {
    New(StockLotRow),
    Existing { lot_id: String, expected_lot_version: i64 },
}

/// An entry marked entered in error, if its lot is still at `expected_lot_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockEntryCorrection {
    pub entry_id: String,
    pub lot_id: String,
    pub expected_lot_version: i64,
    pub reason: String,
    pub corrected_by: String,
    pub corrected_at: Timestamp,
}

/// A count's discrepancy resolved by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockDiscrepancyResolution {
    pub entry_id: String,
    pub reason: String,
    pub resolved_by: String,
    pub resolved_at: Timestamp,
}

const LOT_COLUMNS: &str = "lot_id, drug, ndc, lot_number, expiry_date, location, version, created_at, created_by";

const ENTRY_COLUMNS: &str = "entry_id, lot_id, kind, quantity_mg, supplier, party, patient_id, session_id, \
     administration_id, witness_id, note, expected_mg, discrepancy_mg, status, recorded_at, recorded_by, error_reason, \
     error_by, error_at, resolution_reason, resolved_by, resolved_at";

fn time(text: &str) -> Result<Timestamp, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("a stored time that is not a time: {text}")))
}

fn lot_from_row(row: &impl RowExt) -> Result<StockLotRow, StoreError> {
    Ok(StockLotRow {
        lot_id: row.text("lot_id")?,
        drug: row.text("drug")?,
        ndc: row.text("ndc")?,
        lot_number: row.text("lot_number")?,
        expiry_date: row.text("expiry_date")?,
        location: row.text("location")?,
        version: row.int("version")?,
        created_at: time(&row.text("created_at")?)?,
        created_by: row.text("created_by")?,
    })
}

fn entry_from_row(row: &impl RowExt) -> Result<StockEntryRow, StoreError> {
    let optional_time = |column: &str| -> Result<Option<Timestamp>, StoreError> {
        row.opt_text(column)?.map(|text| time(&text)).transpose()
    };
    Ok(StockEntryRow {
        entry_id: row.text("entry_id")?,
        lot_id: row.text("lot_id")?,
        kind: row.text("kind")?,
        quantity_mg: row.text("quantity_mg")?,
        supplier: row.opt_text("supplier")?,
        party: row.opt_text("party")?,
        patient_id: row.opt_text("patient_id")?,
        session_id: row.opt_text("session_id")?,
        administration_id: row.opt_text("administration_id")?,
        witness_id: row.opt_text("witness_id")?,
        note: row.opt_text("note")?,
        expected_mg: row.opt_text("expected_mg")?,
        discrepancy_mg: row.opt_text("discrepancy_mg")?,
        status: row.text("status")?,
        recorded_at: time(&row.text("recorded_at")?)?,
        recorded_by: row.text("recorded_by")?,
        error_reason: row.opt_text("error_reason")?,
        error_by: row.opt_text("error_by")?,
        error_at: optional_time("error_at")?,
        resolution_reason: row.opt_text("resolution_reason")?,
        resolved_by: row.opt_text("resolved_by")?,
        resolved_at: optional_time("resolved_at")?,
    })
}

/// Raises the lot's version if it is still at `$expected`; else the lot moved since it was read.
macro_rules! bump_lot {
    ($tx:ident, $lot_id:expr, $expected:expr) => {{
        let bumped = sqlx::query("UPDATE stock_lots SET version = version + 1 WHERE lot_id = $1 AND version = $2")
            .bind($lot_id)
            .bind($expected)
            .execute(&mut *$tx.conn)
            .await?;
        if bumped.rows_affected() != 1 {
            let current: Option<(i64,)> = sqlx::query_as("SELECT version FROM stock_lots WHERE lot_id = $1")
                .bind($lot_id)
                .fetch_optional(&mut *$tx.conn)
                .await?;
            return Err(match current {
                None => StoreError::NotFound { resource: "stock lot", id: $lot_id.to_owned() },
                Some((current,)) => StoreError::StaleVersion {
                    resource: "stock lot",
                    id: $lot_id.to_owned(),
                    expected: $expected,
                    current,
                },
            });
        }
        touch!($tx, "stock_lots", [$lot_id]);
    }};
}

/// An administration found by its id alone: its patient and session, with what a withdrawal checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdministrationOfStock {
    pub patient_id: String,
    pub session_id: String,
    pub administration_json: String,
    pub lot_number: String,
    /// `active` or `entered_in_error`.
    pub status: String,
}

impl Store {
    /// The administration with this id, whichever patient's it is (a withdrawal names it, and the app
    /// checks that it is the patient's).
    pub async fn administration_by_id(
        &self,
        administration_id: &str,
    ) -> Result<Option<AdministrationOfStock>, StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "SELECT patient_id, session_id, administration_json, lot_number, status FROM administrations \
                 WHERE administration_id = $1",
            )
            .bind(administration_id)
            .fetch_optional(pool)
            .await?
            .map(|row| -> Result<AdministrationOfStock, StoreError> {
                Ok(AdministrationOfStock {
                    patient_id: row.text("patient_id")?,
                    session_id: row.text("session_id")?,
                    administration_json: row.text("administration_json")?,
                    lot_number: row.text("lot_number")?,
                    status: row.text("status")?,
                })
            })
            .transpose()
        })
    }

    /// Every lot, by drug, lot number and location.
    pub async fn stock_lots(&self) -> Result<Vec<StockLotRow>, StoreError> {
        let sql = format!("SELECT {LOT_COLUMNS} FROM stock_lots ORDER BY drug, lot_number, location");
        on_pool!(self, pool => {
            sqlx::query(&sql).fetch_all(pool).await?.iter().map(lot_from_row).collect()
        })
    }

    pub async fn stock_lot(&self, lot_id: &str) -> Result<Option<StockLotRow>, StoreError> {
        let sql = format!("SELECT {LOT_COLUMNS} FROM stock_lots WHERE lot_id = $1");
        on_pool!(self, pool => {
            sqlx::query(&sql).bind(lot_id).fetch_optional(pool).await?.as_ref().map(lot_from_row).transpose()
        })
    }

    /// The lot of `drug` numbered `lot_number` kept at `location`, if received there.
    pub async fn stock_lot_at(
        &self,
        drug: &str,
        lot_number: &str,
        location: &str,
    ) -> Result<Option<StockLotRow>, StoreError> {
        let sql = format!("SELECT {LOT_COLUMNS} FROM stock_lots WHERE drug = $1 AND lot_number = $2 AND location = $3");
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(drug)
                .bind(lot_number)
                .bind(location)
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(lot_from_row)
                .transpose()
        })
    }

    /// The entries `filter` selects, in the order recorded.
    pub async fn stock_entries(&self, filter: &StockEntryFilter) -> Result<Vec<StockEntryRow>, StoreError> {
        let from = filter.from.map(format_time);
        let to = filter.to.map(format_time);
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM stock_entries WHERE ($1 IS NULL OR lot_id = $1) \
             AND ($2 IS NULL OR recorded_at >= $2) AND ($3 IS NULL OR recorded_at < $3) ORDER BY recorded_at, entry_id"
        );
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(filter.lot_id.as_deref())
                .bind(from.as_deref())
                .bind(to.as_deref())
                .fetch_all(pool)
                .await?
                .iter()
                .map(entry_from_row)
                .collect()
        })
    }

    pub async fn stock_entry(&self, entry_id: &str) -> Result<Option<StockEntryRow>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM stock_entries WHERE entry_id = $1");
        on_pool!(self, pool => {
            sqlx::query(&sql).bind(entry_id).fetch_optional(pool).await?.as_ref().map(entry_from_row).transpose()
        })
    }

    /// Counts whose discrepancy no admin has resolved yet (entries in error left out), oldest first.
    pub async fn open_stock_discrepancies(&self) -> Result<Vec<StockEntryRow>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM stock_entries WHERE kind = 'count' AND discrepancy_mg IS NOT NULL \
             AND resolved_at IS NULL AND status = 'active' ORDER BY recorded_at, entry_id"
        );
        on_pool!(self, pool => {
            sqlx::query(&sql).fetch_all(pool).await?.iter().map(entry_from_row).collect()
        })
    }

    /// Writes `entry` to its lot (creating the lot for a first receipt: a lot created meanwhile by another
    /// receipt is [`StoreError::Duplicate`]; an existing lot moved since it was read is
    /// [`StoreError::StaleVersion`]), with its audit event and idempotent answer.
    pub async fn insert_stock_entry(
        &self,
        lot: &StockEntryLot,
        entry: &StockEntryRow,
        audit: &AuditEvent,
        idempotent: Option<&IdempotentResponse>,
    ) -> Result<(), StoreError> {
        write_tx!(self, [lot, entry, audit, idempotent], tx => {
            match &lot {
                StockEntryLot::New(new_lot) => {
                    sqlx::query(
                        "INSERT INTO stock_lots (lot_id, drug, ndc, lot_number, expiry_date, location, version, \
                         created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
                    )
                    .bind(&new_lot.lot_id)
                    .bind(&new_lot.drug)
                    .bind(&new_lot.ndc)
                    .bind(&new_lot.lot_number)
                    .bind(&new_lot.expiry_date)
                    .bind(&new_lot.location)
                    .bind(format_time(new_lot.created_at))
                    .bind(&new_lot.created_by)
                    .execute(&mut *tx.conn)
                    .await
                    .map_err(|error| match error {
                        sqlx::Error::Database(database) if database.is_unique_violation() => {
                            StoreError::Duplicate { what: "stock lot" }
                        }
                        other => StoreError::Database(other),
                    })?;
                    touch!(tx, "stock_lots", [&new_lot.lot_id]);
                }
                StockEntryLot::Existing { lot_id, expected_lot_version } => {
                    bump_lot!(tx, lot_id, *expected_lot_version);
                }
            }
            let recorded_at = format_time(entry.recorded_at);
            sqlx::query(
                "INSERT INTO stock_entries (entry_id, lot_id, kind, quantity_mg, supplier, party, patient_id, session_id, \
                 administration_id, witness_id, note, expected_mg, discrepancy_mg, status, recorded_at, recorded_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'active', $14, $15)",
            )
            .bind(&entry.entry_id)
            .bind(&entry.lot_id)
            .bind(&entry.kind)
            .bind(&entry.quantity_mg)
            .bind(&entry.supplier)
            .bind(&entry.party)
            .bind(&entry.patient_id)
            .bind(&entry.session_id)
            .bind(&entry.administration_id)
            .bind(&entry.witness_id)
            .bind(&entry.note)
            .bind(&entry.expected_mg)
            .bind(&entry.discrepancy_mg)
            .bind(&recorded_at)
            .bind(&entry.recorded_by)
            .execute(&mut *tx.conn)
            .await?;
            touch!(tx, "stock_entries", [&entry.entry_id]);
            store_idempotent!(tx, idempotent, recorded_at);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Marks an active entry entered in error with its reason, if its lot is still at the version read.
    pub async fn mark_stock_entry_in_error(
        &self,
        correction: &StockEntryCorrection,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        write_tx!(self, [correction, audit], tx => {
            bump_lot!(tx, &correction.lot_id, correction.expected_lot_version);
            let marked = sqlx::query(
                "UPDATE stock_entries SET status = 'entered_in_error', error_reason = $2, error_by = $3, error_at = $4 \
                 WHERE entry_id = $1 AND lot_id = $5 AND status = 'active'",
            )
            .bind(&correction.entry_id)
            .bind(&correction.reason)
            .bind(&correction.corrected_by)
            .bind(format_time(correction.corrected_at))
            .bind(&correction.lot_id)
            .execute(&mut *tx.conn)
            .await?;
            if marked.rows_affected() != 1 {
                return Err(StoreError::NotFound { resource: "active stock entry", id: correction.entry_id.clone() });
            }
            touch!(tx, "stock_entries", [&correction.entry_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// Resolves a count's open discrepancy with an admin's reason.
    pub async fn resolve_stock_discrepancy(
        &self,
        resolution: &StockDiscrepancyResolution,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        write_tx!(self, [resolution, audit], tx => {
            let resolved = sqlx::query(
                "UPDATE stock_entries SET resolution_reason = $2, resolved_by = $3, resolved_at = $4 \
                 WHERE entry_id = $1 AND kind = 'count' AND discrepancy_mg IS NOT NULL AND resolved_at IS NULL \
                 AND status = 'active'",
            )
            .bind(&resolution.entry_id)
            .bind(&resolution.reason)
            .bind(&resolution.resolved_by)
            .bind(format_time(resolution.resolved_at))
            .execute(&mut *tx.conn)
            .await?;
            if resolved.rows_affected() != 1 {
                return Err(StoreError::NotFound { resource: "open discrepancy", id: resolution.entry_id.clone() });
            }
            touch!(tx, "stock_entries", [&resolution.entry_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }
}
