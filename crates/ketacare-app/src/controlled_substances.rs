//! The controlled-substance record (issue 16; docs/controlled-substances.md): stock received, withdrawn
//! for a patient's administration, wasted before a second witness who signs with their own password,
//! returned, and counted; running balances per lot and location; corrections as entries marked in error;
//! count discrepancies flagged to admins until resolved; the report per period and lot (JSON, CSV).
//! Every read and write is audited. The balance rules are the core's (`controlled_substances.rs`).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use ketacare_core::controlled_substances::{
    LedgerEntry, StockEntryKind, StockRefusal, check_entry_withdrawal, check_removal, check_whole_devices,
    lot_balance_mg,
};
use ketacare_store::{
    IdempotentResponse, Role, StockDiscrepancyResolution, StockEntryCorrection, StockEntryFilter, StockEntryLot,
    StockEntryRow, StockLotRow, StoreError,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::login_throttle::Claimed;
use crate::patients::idempotency_key;
use crate::policy::{Permission, allows, require};
use crate::secrets::{new_id, sha256_hex};
use crate::treatment::{corrupt, optional_string, parse_object, reason_of, reject_unknown};
use crate::{Actor, App, AppError, Created};

/// How often an entry is judged again when another entry of its lot was written meanwhile.
const LOT_RACE_ATTEMPTS: usize = 8;
/// Rule ids of a withdrawal's link to its administration, and of the waste witness.
pub const RULE_ADMINISTRATION_UNKNOWN: &str = "stock.administration_unknown";
pub const RULE_ADMINISTRATION_OTHER_PATIENT: &str = "stock.administration_other_patient";
pub const RULE_ADMINISTRATION_IN_ERROR: &str = "stock.administration_entered_in_error";
pub const RULE_ADMINISTRATION_OTHER_LOT: &str = "stock.administration_other_lot";
pub const RULE_WITNESS_SAME_USER: &str = "stock.witness_same_user";
pub const RULE_WITNESS_PASSWORD: &str = "stock.witness_password";
pub const RULE_WITNESS_ROLE: &str = "stock.witness_role";

/// A lot at a location with its running balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLotView {
    pub lot_id: String,
    pub drug: String,
    pub ndc: String,
    pub lot_number: String,
    pub expiry_date: String,
    pub location: String,
    pub version: i64,
    /// Exact decimal text, mg.
    pub balance_mg: String,
    /// Past its expiry date (clinic's today): it may be returned or wasted, not withdrawn.
    pub expired: bool,
    pub created_at: String,
    pub created_by: String,
}

/// One entry of the log, with the lot's running balance after it (entries in error count for nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockEntryView {
    pub entry_id: String,
    pub lot_id: String,
    pub kind: String,
    /// The quantity moved, or counted (a count).
    pub quantity_mg: String,
    pub balance_after_mg: String,
    pub supplier: Option<String>,
    pub party: Option<String>,
    pub patient_id: Option<String>,
    pub session_id: Option<String>,
    pub administration_id: Option<String>,
    pub witness_id: Option<String>,
    pub witness_username: Option<String>,
    pub note: Option<String>,
    /// A count: the running balance it was compared with, and counted − balance when they differ.
    pub expected_mg: Option<String>,
    pub discrepancy_mg: Option<String>,
    pub status: String,
    pub recorded_at: String,
    pub recorded_by: String,
    pub recorded_by_username: Option<String>,
    pub error_reason: Option<String>,
    pub error_by: Option<String>,
    pub error_at: Option<String>,
    pub resolution_reason: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
}

impl StockEntryView {
    /// A count whose discrepancy no admin has resolved.
    pub fn is_open_discrepancy(&self) -> bool {
        self.kind == "count" && self.discrepancy_mg.is_some() && self.resolved_at.is_none() && self.status == "active"
    }
}

/// The lots with their balances and the open discrepancies (the stock page, an admin's flag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockOverview {
    pub lots: Vec<StockLotView>,
    pub open_discrepancies: Vec<StockEntryView>,
}

/// Which part of the log a report covers: clinic-local dates, both included; one lot or all.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockReportQuery {
    /// `YYYY-MM-DD`, clinic-local.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, clinic-local, included.
    pub to: Option<String>,
    pub lot_id: Option<String>,
}

/// One lot over the report's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLotSummary {
    pub lot: StockLotView,
    pub opening_balance_mg: String,
    pub received_mg: String,
    pub withdrawn_mg: String,
    pub wasted_mg: String,
    pub returned_mg: String,
    pub closing_balance_mg: String,
    pub counts: usize,
    pub open_discrepancies: usize,
}

/// The log over a period, per lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockReport {
    pub from: Option<String>,
    pub to: Option<String>,
    pub lot_id: Option<String>,
    pub generated_at: String,
    pub lots: Vec<StockLotSummary>,
    pub entries: Vec<StockEntryView>,
}

fn refused(refusal: StockRefusal) -> AppError {
    AppError::Refused { field: refusal.field.to_owned(), rule_id: refusal.rule_id.to_owned(), problem: refusal.problem }
}

fn refuse(field: &str, rule_id: &str, problem: impl Into<String>) -> AppError {
    AppError::Refused { field: field.to_owned(), rule_id: rule_id.to_owned(), problem: problem.into() }
}

fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}

fn stored_decimal(text: &str) -> Result<Decimal, AppError> {
    text.parse::<Decimal>().map_err(|error| corrupt("stock quantity", error))
}

/// A quantity in mg: a JSON number or decimal text, exact, at most 3 decimals (micrograms), at most
/// 10,000,000 mg; above zero, or from zero for a count.
fn quantity(object: &mut Map<String, Value>, field: &str, zero_allowed: bool) -> Result<Decimal, AppError> {
    let expected = if zero_allowed { "a number of mg from 0" } else { "a number of mg above 0" };
    let value = match object.remove(field) {
        None | Some(Value::Null) => return Err(AppError::invalid(field, format!("is required ({expected})"))),
        Some(Value::Number(number)) => ketacare_case::exact_decimal(&number).ok(),
        Some(Value::String(text)) => Decimal::from_str_exact(text.trim()).ok(),
        Some(_) => None,
    };
    value
        .filter(|value| if zero_allowed { !value.is_sign_negative() } else { *value > Decimal::ZERO })
        .filter(|value| value.normalize().scale() <= 3 && *value <= Decimal::from(10_000_000))
        .map(|value| value.normalize())
        .ok_or_else(|| AppError::invalid(field, format!("must be {expected}, at most 3 decimals")))
}

/// A required short text (1 to 200 characters).
fn text(object: &mut Map<String, Value>, field: &str) -> Result<String, AppError> {
    optional_text(object, field)?.ok_or_else(|| AppError::invalid(field, "is required"))
}

fn optional_text(object: &mut Map<String, Value>, field: &str) -> Result<Option<String>, AppError> {
    match optional_string(object, field)? {
        Some(text) if text.trim().chars().count() > 200 => {
            Err(AppError::invalid(field, "must be at most 200 characters"))
        }
        other => Ok(other.map(|text| text.trim().to_owned())),
    }
}

fn ledger_entry(row: &StockEntryRow) -> Result<LedgerEntry, AppError> {
    let kind = StockEntryKind::parse(&row.kind).ok_or_else(|| corrupt("stock entry kind", &row.kind))?;
    Ok(LedgerEntry { kind, quantity_mg: stored_decimal(&row.quantity_mg)?, entered_in_error: row.status != "active" })
}

fn expiry_of(lot: &StockLotRow) -> Result<Date, AppError> {
    lot.expiry_date.parse().map_err(|error| corrupt("stock lot expiry", error))
}

/// What a new entry is, once its body is read (the kind's own fields).
enum EntryInput {
    Received { drug: String, ndc: String, lot_number: String, expiry: Date, location: String, supplier: String },
    Withdrawn { lot_id: String, patient_id: String, administration_id: String },
    Wasted { lot_id: String, witness_username: String, witness_password: String },
    Returned { lot_id: String, party: String },
    Count { lot_id: String },
}

impl App {
    fn lot_view(&self, lot: &StockLotRow, entries: &[StockEntryRow]) -> Result<StockLotView, AppError> {
        let ledger = entries.iter().map(ledger_entry).collect::<Result<Vec<_>, _>>()?;
        Ok(StockLotView {
            lot_id: lot.lot_id.clone(),
            drug: lot.drug.clone(),
            ndc: lot.ndc.clone(),
            lot_number: lot.lot_number.clone(),
            expiry_date: lot.expiry_date.clone(),
            location: lot.location.clone(),
            version: lot.version,
            balance_mg: decimal_text(lot_balance_mg(&ledger)),
            expired: self.today() > expiry_of(lot)?,
            created_at: ketacare_store::format_time(lot.created_at),
            created_by: lot.created_by.clone(),
        })
    }

    /// The views of a lot's entries (all of them, in order), each with the balance after it.
    fn entry_views(
        &self,
        entries: &[StockEntryRow],
        usernames: &BTreeMap<String, String>,
    ) -> Result<Vec<StockEntryView>, AppError> {
        let mut balances: BTreeMap<&str, Decimal> = BTreeMap::new();
        let mut views = Vec::with_capacity(entries.len());
        for row in entries {
            let ledger = ledger_entry(row)?;
            let balance = balances.entry(row.lot_id.as_str()).or_default();
            *balance += lot_balance_mg([&ledger]);
            views.push(StockEntryView {
                entry_id: row.entry_id.clone(),
                lot_id: row.lot_id.clone(),
                kind: row.kind.clone(),
                quantity_mg: row.quantity_mg.clone(),
                balance_after_mg: decimal_text(*balance),
                supplier: row.supplier.clone(),
                party: row.party.clone(),
                patient_id: row.patient_id.clone(),
                session_id: row.session_id.clone(),
                administration_id: row.administration_id.clone(),
                witness_id: row.witness_id.clone(),
                witness_username: row.witness_id.as_ref().and_then(|id| usernames.get(id).cloned()),
                note: row.note.clone(),
                expected_mg: row.expected_mg.clone(),
                discrepancy_mg: row.discrepancy_mg.clone(),
                status: row.status.clone(),
                recorded_at: ketacare_store::format_time(row.recorded_at),
                recorded_by: row.recorded_by.clone(),
                recorded_by_username: usernames.get(&row.recorded_by).cloned(),
                error_reason: row.error_reason.clone(),
                error_by: row.error_by.clone(),
                error_at: row.error_at.map(ketacare_store::format_time),
                resolution_reason: row.resolution_reason.clone(),
                resolved_by: row.resolved_by.clone(),
                resolved_at: row.resolved_at.map(ketacare_store::format_time),
            });
        }
        Ok(views)
    }

    async fn usernames(&self) -> Result<BTreeMap<String, String>, AppError> {
        Ok(self.store.users().await?.into_iter().map(|user| (user.user_id, user.username)).collect())
    }

    /// The stock now: every lot with its balance, and the counts whose discrepancy is still open.
    pub async fn stock_overview(&self, actor: &Actor) -> Result<StockOverview, AppError> {
        let event = self
            .permitted_event(actor, Permission::ReadControlledSubstances, "stock.read", "stock".to_owned(), None)
            .await?;
        let entries = self.store.stock_entries(&StockEntryFilter::default()).await?;
        let usernames = self.usernames().await?;
        let mut lots = Vec::new();
        for lot in self.store.stock_lots().await? {
            let of_lot: Vec<StockEntryRow> =
                entries.iter().filter(|entry| entry.lot_id == lot.lot_id).cloned().collect();
            lots.push(self.lot_view(&lot, &of_lot)?);
        }
        let open_discrepancies: Vec<StockEntryView> =
            self.entry_views(&entries, &usernames)?.into_iter().filter(StockEntryView::is_open_discrepancy).collect();
        self.store.append_audit(&event).await?;
        Ok(StockOverview { lots, open_discrepancies })
    }

    /// How many count discrepancies are open, for an admin's worklist (0 for other roles).
    pub(crate) async fn open_stock_discrepancy_count(&self, actor: &Actor) -> Result<usize, AppError> {
        if !allows(actor.role, Permission::ResolveStockDiscrepancies) {
            return Ok(0);
        }
        Ok(self.store.open_stock_discrepancies().await?.len())
    }

    /// The log over a period (clinic-local dates, both included) for one lot or all: each lot's opening
    /// and closing balance and what moved, and every entry of the period with the balance after it.
    pub async fn stock_report(&self, actor: &Actor, query: &StockReportQuery) -> Result<StockReport, AppError> {
        let resource = match &query.lot_id {
            Some(lot_id) => format!("stock/lot/{lot_id}"),
            None => "stock".to_owned(),
        };
        let event =
            self.permitted_event(actor, Permission::ReadControlledSubstances, "stock.report", resource, None).await?;
        let result = self.stock_report_unaudited(query).await;
        match result {
            Ok(report) => {
                let shown = patients_of(&report.entries);
                self.store.append_audit_showing(&event, &shown).await?;
                Ok(report)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    async fn stock_report_unaudited(&self, query: &StockReportQuery) -> Result<StockReport, AppError> {
        let date = |field: &str, text: &Option<String>| -> Result<Option<Date>, AppError> {
            text.as_deref()
                .filter(|text| !text.is_empty())
                .map(|text| text.parse::<Date>().map_err(|_| AppError::invalid(field, "must be a date YYYY-MM-DD")))
                .transpose()
        };
        let (from_date, to_date) = (date("from", &query.from)?, date("to", &query.to)?);
        if let (Some(from), Some(to)) = (from_date, to_date)
            && from > to
        {
            return Err(AppError::invalid("from", "must not be after to"));
        }
        let zone = jiff::tz::TimeZone::get(&self.clinic_time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let start_of = |date: Date| -> Result<Timestamp, AppError> {
            zone.to_ambiguous_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
                .compatible()
                .map_err(|error| corrupt("report date", error))
        };
        let from = from_date.map(start_of).transpose()?;
        let to = match to_date {
            Some(to) => {
                Some(start_of(to.tomorrow().map_err(|_| AppError::invalid("to", "is the last date there is"))?)?)
            }
            None => None,
        };
        let lots: Vec<StockLotRow> = match &query.lot_id {
            Some(lot_id) => vec![
                self.store
                    .stock_lot(lot_id)
                    .await?
                    .ok_or_else(|| AppError::NotFound { resource: "stock lot", id: lot_id.clone() })?,
            ],
            None => self.store.stock_lots().await?,
        };
        let filter = StockEntryFilter { lot_id: query.lot_id.clone(), from: None, to };
        let entries = self.store.stock_entries(&filter).await?;
        let usernames = self.usernames().await?;
        let views = self.entry_views(&entries, &usernames)?;
        let in_period = |row: &StockEntryRow| from.is_none_or(|from| row.recorded_at >= from);
        let mut summaries = Vec::new();
        for lot in &lots {
            let of_lot: Vec<&StockEntryRow> = entries.iter().filter(|entry| entry.lot_id == lot.lot_id).collect();
            let before: Vec<LedgerEntry> =
                of_lot.iter().filter(|row| !in_period(row)).map(|row| ledger_entry(row)).collect::<Result<_, _>>()?;
            let during: Vec<LedgerEntry> =
                of_lot.iter().filter(|row| in_period(row)).map(|row| ledger_entry(row)).collect::<Result<_, _>>()?;
            let opening = lot_balance_mg(&before);
            let moved = |kind: StockEntryKind| -> String {
                decimal_text(
                    during
                        .iter()
                        .filter(|entry| entry.kind == kind && !entry.entered_in_error)
                        .map(|entry| entry.quantity_mg)
                        .sum(),
                )
            };
            let all_rows: Vec<StockEntryRow> = of_lot.iter().map(|row| (*row).clone()).collect();
            summaries.push(StockLotSummary {
                lot: self.lot_view(lot, &all_rows)?,
                opening_balance_mg: decimal_text(opening),
                received_mg: moved(StockEntryKind::Received),
                withdrawn_mg: moved(StockEntryKind::Withdrawn),
                wasted_mg: moved(StockEntryKind::Wasted),
                returned_mg: moved(StockEntryKind::Returned),
                closing_balance_mg: decimal_text(opening + lot_balance_mg(&during)),
                counts: during.iter().filter(|entry| entry.kind == StockEntryKind::Count).count(),
                open_discrepancies: views
                    .iter()
                    .filter(|view| view.lot_id == lot.lot_id && view.is_open_discrepancy())
                    .count(),
            });
        }
        let entries: Vec<StockEntryView> =
            views.into_iter().zip(&entries).filter(|(_, row)| in_period(row)).map(|(view, _)| view).collect();
        Ok(StockReport {
            from: from_date.map(|date| date.to_string()),
            to: to_date.map(|date| date.to_string()),
            lot_id: query.lot_id.clone(),
            generated_at: ketacare_store::format_time(self.now()),
            lots: summaries,
            entries,
        })
    }

    /// Records one entry of the log from its JSON body (docs/controlled-substances.md): `kind` is
    /// `received`, `withdrawn`, `wasted`, `returned` or `count`, each with its own fields. A waste's
    /// witness signs with their own username and password in the same request (throttled like a login,
    /// from `client_address`). The lot's balance is judged by the core and the entry written only if the
    /// lot is still as read.
    pub async fn record_stock_entry(
        &self,
        actor: &Actor,
        body: &str,
        key: Option<&str>,
        client_address: &str,
    ) -> Result<Created, AppError> {
        let entry_id = new_id();
        let mut event = self
            .permitted_event(
                actor,
                Permission::RecordControlledSubstances,
                "stock.record",
                format!("stock/entry/{entry_id}"),
                None,
            )
            .await?;
        let key = idempotency_key(key)?;
        // What an idempotent replay compares: the body without the witness's password, whose plain
        // SHA-256 must never be stored (it could be guessed offline from it).
        let request_sha256 = sha256_hex(&format!("stock-entry\n{}", without_witness_password(body)));
        if let Some(created) = self.replay_created(actor, key, &request_sha256, "entry_id").await? {
            return Ok(created);
        }
        let read = async {
            let mut object = parse_object(body)?;
            let kind_text = optional_string(&mut object, "kind")?.ok_or_else(|| {
                AppError::invalid("kind", "is required: received, withdrawn, wasted, returned or count")
            })?;
            let kind = StockEntryKind::parse(&kind_text)
                .ok_or_else(|| AppError::invalid("kind", "must be received, withdrawn, wasted, returned or count"))?;
            Ok::<_, AppError>((object, kind))
        }
        .await;
        let (mut object, kind) = match read {
            Ok(read) => read,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        event.action = format!("stock.{}", kind.as_str());
        let permission = match kind {
            StockEntryKind::Received | StockEntryKind::Returned => Permission::ManageControlledSubstanceStock,
            StockEntryKind::Withdrawn | StockEntryKind::Wasted => Permission::DispenseControlledSubstances,
            StockEntryKind::Count => Permission::RecordControlledSubstances,
        };
        if let Err(error) = require(actor, permission) {
            return Err(self.audit_failure(event, error).await);
        }
        let parsed = (|| {
            let quantity_field = if kind == StockEntryKind::Count { "counted_mg" } else { "quantity_mg" };
            let quantity_mg = quantity(&mut object, quantity_field, kind == StockEntryKind::Count)?;
            let note = optional_text(&mut object, "note")?;
            let input = match kind {
                StockEntryKind::Received => {
                    let drug = text(&mut object, "drug")?;
                    if !["ketamine", "esketamine"].contains(&drug.as_str()) {
                        return Err(AppError::invalid("drug", "must be ketamine or esketamine"));
                    }
                    let expiry_text = text(&mut object, "expiry_date")?;
                    let expiry = expiry_text
                        .parse::<Date>()
                        .map_err(|_| AppError::invalid("expiry_date", "must be a date YYYY-MM-DD"))?;
                    EntryInput::Received {
                        drug,
                        ndc: text(&mut object, "ndc")?,
                        lot_number: text(&mut object, "lot_number")?,
                        expiry,
                        location: text(&mut object, "location")?,
                        supplier: text(&mut object, "supplier")?,
                    }
                }
                StockEntryKind::Withdrawn => EntryInput::Withdrawn {
                    lot_id: text(&mut object, "lot_id")?,
                    patient_id: text(&mut object, "patient_id")?,
                    administration_id: text(&mut object, "administration_id")?,
                },
                StockEntryKind::Wasted => {
                    let witness_username = text(&mut object, "witness_username")?;
                    let witness_password = match object.remove("witness_password") {
                        Some(Value::String(password)) if !password.is_empty() => password,
                        _ => {
                            return Err(AppError::invalid(
                                "witness_password",
                                "is required: the witness signs with it",
                            ));
                        }
                    };
                    EntryInput::Wasted { lot_id: text(&mut object, "lot_id")?, witness_username, witness_password }
                }
                StockEntryKind::Returned => {
                    EntryInput::Returned { lot_id: text(&mut object, "lot_id")?, party: text(&mut object, "party")? }
                }
                StockEntryKind::Count => EntryInput::Count { lot_id: text(&mut object, "lot_id")? },
            };
            reject_unknown(&object)?;
            Ok((input, quantity_mg, note))
        })();
        let (input, quantity_mg, note) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        if let EntryInput::Withdrawn { patient_id, .. } = &input {
            event.patient_id = Some(patient_id.clone());
        }
        let witness_id = match &input {
            EntryInput::Wasted { witness_username, witness_password, .. } => {
                match self.check_witness(actor, witness_username, witness_password, client_address).await {
                    Ok(witness_id) => Some(witness_id),
                    Err(error) => return Err(self.audit_failure(event, error).await),
                }
            }
            _ => None,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let judged =
                self.judge_entry(actor, &entry_id, kind, &input, quantity_mg, note.clone(), witness_id.clone()).await;
            let (lot, row, body) = match judged {
                Ok(judged) => judged,
                Err(error) => return Err(self.audit_failure(event, error).await),
            };
            let idempotent: Option<IdempotentResponse> = Self::keyed_response(actor, key, &request_sha256, &body);
            match self.store.insert_stock_entry(&lot, &row, &event, idempotent.as_ref()).await {
                Ok(()) => return Ok(Created { resource_id: entry_id, body, replayed: false }),
                Err(StoreError::StaleVersion { .. } | StoreError::Duplicate { what: "stock lot" })
                    if attempts < LOT_RACE_ATTEMPTS => {}
                Err(error) => {
                    return self.created_or_failure(actor, key, &request_sha256, "entry_id", event, error).await;
                }
            }
        }
    }

    /// The witness of a waste: another active account of a clinical role (prescriber or nurse), whose
    /// password is checked like a login's (throttled per account and address, on the password work queue).
    async fn check_witness(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        client_address: &str,
    ) -> Result<String, AppError> {
        let user = self.store.user_by_username(username).await?;
        if user.as_ref().is_some_and(|user| user.user_id == actor.user_id) {
            return Err(refuse(
                "witness_username",
                RULE_WITNESS_SAME_USER,
                "the witness must be another person than the one who records the waste",
            ));
        }
        let claimed = match &user {
            Some(user) => Claimed::Account(&user.user_id),
            None => Claimed::UnknownName(username),
        };
        let attempt = self.throttle.reserve(&self.store, claimed, client_address, self.now()).await?;
        let matches =
            match self.password_work.verify(password, user.as_ref().map(|user| user.password_hash.clone())).await {
                Ok(matches) => matches,
                Err(error) => {
                    self.throttle.not_checked(&self.store, attempt).await?;
                    return Err(error);
                }
            };
        let user = match user {
            Some(user) if matches && user.active => user,
            _ => {
                attempt.failed();
                return Err(refuse(
                    "witness_password",
                    RULE_WITNESS_PASSWORD,
                    "the witness's username and password do not match an active account",
                ));
            }
        };
        self.throttle.succeeded(&self.store, attempt).await?;
        if !matches!(user.role, Role::Prescriber | Role::Nurse) {
            return Err(refuse(
                "witness_username",
                RULE_WITNESS_ROLE,
                format!("a witness must be a prescriber or a nurse, not {}", user.role.as_str()),
            ));
        }
        Ok(user.user_id)
    }

    /// Reads the lot as it is now and judges the entry against it: the lot to write to (at the version
    /// read), the row, and the answer's body.
    #[allow(clippy::too_many_arguments)]
    async fn judge_entry(
        &self,
        actor: &Actor,
        entry_id: &str,
        kind: StockEntryKind,
        input: &EntryInput,
        quantity_mg: Decimal,
        note: Option<String>,
        witness_id: Option<String>,
    ) -> Result<(StockEntryLot, StockEntryRow, Value), AppError> {
        let device_mg = self.protocol.dosing.esketamine_device_mg.value;
        let now = self.now();
        let mut row = StockEntryRow {
            entry_id: entry_id.to_owned(),
            lot_id: String::new(),
            kind: kind.as_str().to_owned(),
            quantity_mg: decimal_text(quantity_mg),
            supplier: None,
            party: None,
            patient_id: None,
            session_id: None,
            administration_id: None,
            witness_id,
            note,
            expected_mg: None,
            discrepancy_mg: None,
            status: "active".to_owned(),
            recorded_at: now,
            recorded_by: actor.user_id.clone(),
            error_reason: None,
            error_by: None,
            error_at: None,
            resolution_reason: None,
            resolved_by: None,
            resolved_at: None,
        };
        let lot_id = match input {
            EntryInput::Received { drug, ndc, lot_number, expiry, location, supplier } => {
                if *expiry < self.today() {
                    return Err(refuse(
                        "expiry_date",
                        ketacare_core::controlled_substances::RULE_LOT_EXPIRED,
                        format!("the lot expired on {expiry}; expired stock is not received"),
                    ));
                }
                if drug == "esketamine" {
                    check_whole_devices(quantity_mg, device_mg).map_err(refused)?;
                }
                row.supplier = Some(supplier.clone());
                match self.store.stock_lot_at(drug, lot_number, location).await? {
                    Some(lot) => {
                        if lot.ndc != *ndc {
                            return Err(AppError::invalid(
                                "ndc",
                                format!("lot {lot_number} was received with NDC {}", lot.ndc),
                            ));
                        }
                        if lot.expiry_date != expiry.to_string() {
                            return Err(AppError::invalid(
                                "expiry_date",
                                format!("lot {lot_number} was received with expiry {}", lot.expiry_date),
                            ));
                        }
                        row.lot_id = lot.lot_id.clone();
                        StockEntryLot::Existing { lot_id: lot.lot_id, expected_lot_version: lot.version }
                    }
                    None => {
                        row.lot_id = new_id();
                        StockEntryLot::New(StockLotRow {
                            lot_id: row.lot_id.clone(),
                            drug: drug.clone(),
                            ndc: ndc.clone(),
                            lot_number: lot_number.clone(),
                            expiry_date: expiry.to_string(),
                            location: location.clone(),
                            version: 1,
                            created_at: now,
                            created_by: actor.user_id.clone(),
                        })
                    }
                }
            }
            EntryInput::Withdrawn { lot_id, .. }
            | EntryInput::Wasted { lot_id, .. }
            | EntryInput::Returned { lot_id, .. }
            | EntryInput::Count { lot_id } => {
                let lot = self
                    .store
                    .stock_lot(lot_id)
                    .await?
                    .ok_or_else(|| AppError::invalid("lot_id", "is not a lot of the stock"))?;
                if lot.drug == "esketamine" {
                    check_whole_devices(quantity_mg, device_mg).map_err(|mut refusal| {
                        if kind == StockEntryKind::Count {
                            refusal.field = "counted_mg";
                        }
                        refused(refusal)
                    })?;
                }
                let entries = self
                    .store
                    .stock_entries(&StockEntryFilter { lot_id: Some(lot.lot_id.clone()), ..Default::default() })
                    .await?;
                let ledger = entries.iter().map(ledger_entry).collect::<Result<Vec<_>, _>>()?;
                let balance = lot_balance_mg(&ledger);
                match input {
                    EntryInput::Withdrawn { patient_id, administration_id, .. } => {
                        let session_id = self.check_administration(&lot, patient_id, administration_id).await?;
                        row.patient_id = Some(patient_id.clone());
                        row.session_id = Some(session_id);
                        row.administration_id = Some(administration_id.clone());
                    }
                    EntryInput::Returned { party, .. } => row.party = Some(party.clone()),
                    _ => {}
                }
                if kind == StockEntryKind::Count {
                    row.expected_mg = Some(decimal_text(balance));
                    let difference = quantity_mg - balance;
                    if !difference.is_zero() {
                        row.discrepancy_mg = Some(decimal_text(difference));
                    }
                } else {
                    check_removal(kind, balance, quantity_mg, expiry_of(&lot)?, self.today()).map_err(refused)?;
                }
                row.lot_id = lot.lot_id.clone();
                StockEntryLot::Existing { lot_id: lot.lot_id, expected_lot_version: lot.version }
            }
        };
        let mut body = json!({
            "entry_id": row.entry_id, "lot_id": row.lot_id, "kind": row.kind, "quantity_mg": row.quantity_mg,
            "status": "active", "recorded_at": ketacare_store::format_time(now), "recorded_by": row.recorded_by,
        });
        for (field, value) in [
            ("supplier", &row.supplier),
            ("party", &row.party),
            ("patient_id", &row.patient_id),
            ("session_id", &row.session_id),
            ("administration_id", &row.administration_id),
            ("witness_id", &row.witness_id),
            ("note", &row.note),
            ("expected_mg", &row.expected_mg),
            ("discrepancy_mg", &row.discrepancy_mg),
        ] {
            if let Some(value) = value {
                body[field] = json!(value);
            }
        }
        if kind == StockEntryKind::Count {
            body["discrepancy_flagged"] = json!(row.discrepancy_mg.is_some());
        }
        Ok((lot_id, row, body))
    }

    /// A withdrawal's administration: it exists, is this patient's, stands (not entered in error) and gave
    /// this lot's drug from this lot. Returns its session.
    async fn check_administration(
        &self,
        lot: &StockLotRow,
        patient_id: &str,
        administration_id: &str,
    ) -> Result<String, AppError> {
        let administration =
            self.store.administration_by_id(administration_id).await?.ok_or_else(|| {
                refuse("administration_id", RULE_ADMINISTRATION_UNKNOWN, "no administration has this id")
            })?;
        if administration.patient_id != patient_id {
            return Err(refuse(
                "administration_id",
                RULE_ADMINISTRATION_OTHER_PATIENT,
                "the administration is another patient's",
            ));
        }
        if administration.status != "active" {
            return Err(refuse(
                "administration_id",
                RULE_ADMINISTRATION_IN_ERROR,
                "the administration was entered in error; withdraw for the corrected one",
            ));
        }
        let given: Value = serde_json::from_str(&administration.administration_json)
            .map_err(|error| corrupt("administration", error))?;
        if administration.lot_number != lot.lot_number || given["drug"].as_str() != Some(lot.drug.as_str()) {
            return Err(refuse(
                "lot_id",
                RULE_ADMINISTRATION_OTHER_LOT,
                format!(
                    "the administration gave lot {} of {}, not lot {} of {}",
                    administration.lot_number,
                    given["drug"].as_str().unwrap_or("?"),
                    lot.lot_number,
                    lot.drug
                ),
            ));
        }
        Ok(administration.session_id)
    }

    /// Marks an entry entered in error with a `reason` (body `{"reason": …}`), unless that would leave its
    /// lot below zero; the entry stays in the log and a corrected one is recorded anew.
    pub async fn mark_stock_entry_in_error(
        &self,
        actor: &Actor,
        entry_id: &str,
        body: &str,
    ) -> Result<StockEntryView, AppError> {
        let mut event = self
            .permitted_event(
                actor,
                Permission::RecordControlledSubstances,
                "stock.amend",
                format!("stock/entry/{entry_id}"),
                None,
            )
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let reason = reason_of(&mut object)?
                .ok_or_else(|| AppError::invalid("reason", "a correction needs a reason (1 to 1000 characters)"))?;
            reject_unknown(&object)?;
            for _ in 0..LOT_RACE_ATTEMPTS {
                let entry = self
                    .store
                    .stock_entry(entry_id)
                    .await?
                    .ok_or_else(|| AppError::NotFound { resource: "stock entry", id: entry_id.to_owned() })?;
                event.patient_id = entry.patient_id.clone();
                let kind =
                    StockEntryKind::parse(&entry.kind).ok_or_else(|| corrupt("stock entry kind", &entry.kind))?;
                require(
                    actor,
                    match kind {
                        StockEntryKind::Received | StockEntryKind::Returned => {
                            Permission::ManageControlledSubstanceStock
                        }
                        StockEntryKind::Withdrawn | StockEntryKind::Wasted => Permission::DispenseControlledSubstances,
                        StockEntryKind::Count => Permission::RecordControlledSubstances,
                    },
                )?;
                if entry.status != "active" {
                    return Err(AppError::invalid("status", "the entry is already entered in error"));
                }
                let lot = self
                    .store
                    .stock_lot(&entry.lot_id)
                    .await?
                    .ok_or_else(|| corrupt("stock entry", "its lot is missing"))?;
                let entries = self
                    .store
                    .stock_entries(&StockEntryFilter { lot_id: Some(lot.lot_id.clone()), ..Default::default() })
                    .await?;
                let ledger = entries.iter().map(ledger_entry).collect::<Result<Vec<_>, _>>()?;
                check_entry_withdrawal(&ledger_entry(&entry)?, lot_balance_mg(&ledger)).map_err(refused)?;
                let correction = StockEntryCorrection {
                    entry_id: entry_id.to_owned(),
                    lot_id: lot.lot_id.clone(),
                    expected_lot_version: lot.version,
                    reason: reason.clone(),
                    corrected_by: actor.user_id.clone(),
                    corrected_at: self.now(),
                };
                match self.store.mark_stock_entry_in_error(&correction, &event).await {
                    Ok(()) => return self.one_entry_view(entry_id).await,
                    Err(StoreError::StaleVersion { .. }) => continue,
                    Err(error) => return Err(error.into()),
                }
            }
            Err(AppError::Storage(StoreError::Corrupt("the lot kept changing; try again".to_owned())))
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// An admin resolves a count's open discrepancy with a `reason` (body `{"reason": …}`); the count and
    /// its discrepancy stay in the log.
    pub async fn resolve_stock_discrepancy(
        &self,
        actor: &Actor,
        entry_id: &str,
        body: &str,
    ) -> Result<StockEntryView, AppError> {
        let event = self
            .permitted_event(
                actor,
                Permission::ResolveStockDiscrepancies,
                "stock.resolve",
                format!("stock/entry/{entry_id}"),
                None,
            )
            .await?;
        let result = async {
            let mut object = parse_object(body)?;
            let reason = reason_of(&mut object)?
                .ok_or_else(|| AppError::invalid("reason", "a resolution needs a reason (1 to 1000 characters)"))?;
            reject_unknown(&object)?;
            let entry = self
                .store
                .stock_entry(entry_id)
                .await?
                .ok_or_else(|| AppError::NotFound { resource: "stock entry", id: entry_id.to_owned() })?;
            if entry.kind != "count" || entry.discrepancy_mg.is_none() || entry.status != "active" {
                return Err(AppError::invalid("entry_id", "is not a count with a discrepancy"));
            }
            if entry.resolved_at.is_some() {
                return Err(AppError::invalid("entry_id", "the discrepancy is already resolved"));
            }
            let resolution = StockDiscrepancyResolution {
                entry_id: entry_id.to_owned(),
                reason,
                resolved_by: actor.user_id.clone(),
                resolved_at: self.now(),
            };
            self.store.resolve_stock_discrepancy(&resolution, &event).await?;
            self.one_entry_view(entry_id).await
        }
        .await;
        match result {
            Ok(view) => Ok(view),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// One entry of the log with the lot's balance after it.
    pub async fn stock_entry(&self, actor: &Actor, entry_id: &str) -> Result<StockEntryView, AppError> {
        let mut event = self
            .permitted_event(
                actor,
                Permission::ReadControlledSubstances,
                "stock.read",
                format!("stock/entry/{entry_id}"),
                None,
            )
            .await?;
        match self.one_entry_view(entry_id).await {
            Ok(view) => {
                event.patient_id = view.patient_id.clone();
                self.store.append_audit(&event).await?;
                Ok(view)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    async fn one_entry_view(&self, entry_id: &str) -> Result<StockEntryView, AppError> {
        let entry = self
            .store
            .stock_entry(entry_id)
            .await?
            .ok_or_else(|| AppError::NotFound { resource: "stock entry", id: entry_id.to_owned() })?;
        let entries = self
            .store
            .stock_entries(&StockEntryFilter { lot_id: Some(entry.lot_id.clone()), ..Default::default() })
            .await?;
        let usernames = self.usernames().await?;
        self.entry_views(&entries, &usernames)?
            .into_iter()
            .find(|view| view.entry_id == entry_id)
            .ok_or_else(|| corrupt("stock entry", "missing from its lot"))
    }
}

/// The body as compared for an idempotent replay: a JSON object without `witness_password` (any other
/// text as it is: it cannot have been stored).
fn without_witness_password(body: &str) -> String {
    match ketacare_case::read_json_document(body.as_bytes()) {
        Ok(Value::Object(mut object)) => {
            object.remove("witness_password");
            Value::Object(object).to_string()
        }
        _ => body.to_owned(),
    }
}

/// The patients named by `entries`, once each, for the audit event of a read that showed them.
fn patients_of(entries: &[StockEntryView]) -> Vec<String> {
    entries.iter().filter_map(|entry| entry.patient_id.clone()).collect::<BTreeSet<_>>().into_iter().collect()
}

/// The report as CSV (RFC 4180, CRLF line ends): one row per entry of the period with its lot and the
/// lot's balance after it. Text a spreadsheet would run as a formula is prefixed with `'`.
pub fn stock_report_csv(report: &StockReport) -> String {
    let lots: BTreeMap<&str, &StockLotView> =
        report.lots.iter().map(|summary| (summary.lot.lot_id.as_str(), &summary.lot)).collect();
    let mut csv = String::new();
    let header = [
        "recorded_at",
        "kind",
        "drug",
        "ndc",
        "lot_number",
        "expiry_date",
        "location",
        "quantity_mg",
        "balance_after_mg",
        "status",
        "supplier",
        "party",
        "patient_id",
        "administration_id",
        "recorded_by",
        "witness",
        "expected_mg",
        "discrepancy_mg",
        "note",
        "error_reason",
        "resolution_reason",
        "entry_id",
        "lot_id",
    ];
    csv.push_str(&header.join(","));
    csv.push_str("\r\n");
    for entry in &report.entries {
        let lot = lots.get(entry.lot_id.as_str());
        let lot_field = |field: fn(&StockLotView) -> &str| lot.map(|lot| field(lot).to_owned()).unwrap_or_default();
        let cells: Vec<String> = vec![
            entry.recorded_at.clone(),
            entry.kind.clone(),
            lot_field(|lot| &lot.drug),
            lot_field(|lot| &lot.ndc),
            lot_field(|lot| &lot.lot_number),
            lot_field(|lot| &lot.expiry_date),
            lot_field(|lot| &lot.location),
            entry.quantity_mg.clone(),
            entry.balance_after_mg.clone(),
            entry.status.clone(),
            entry.supplier.clone().unwrap_or_default(),
            entry.party.clone().unwrap_or_default(),
            entry.patient_id.clone().unwrap_or_default(),
            entry.administration_id.clone().unwrap_or_default(),
            entry.recorded_by_username.clone().unwrap_or_else(|| entry.recorded_by.clone()),
            entry.witness_username.clone().unwrap_or_default(),
            entry.expected_mg.clone().unwrap_or_default(),
            entry.discrepancy_mg.clone().unwrap_or_default(),
            entry.note.clone().unwrap_or_default(),
            entry.error_reason.clone().unwrap_or_default(),
            entry.resolution_reason.clone().unwrap_or_default(),
            entry.entry_id.clone(),
            entry.lot_id.clone(),
        ];
        let numeric = [7, 8, 16, 17];
        let row: Vec<String> =
            cells.iter().enumerate().map(|(index, cell)| csv_cell(cell, numeric.contains(&index))).collect();
        csv.push_str(&row.join(","));
        csv.push_str("\r\n");
    }
    csv
}

fn csv_cell(cell: &str, numeric: bool) -> String {
    let guarded = if !numeric && cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        let cases = [
            ("safe A", false, "safe A"),
            ("a, b", false, "\"a, b\""),
            ("say \"hi\"", false, "\"say \"\"hi\"\"\""),
            ("=HYPERLINK(1)", false, "'=HYPERLINK(1)"),
            ("-12.5", true, "-12.5"),
        ];
        let failures: Vec<String> = cases
            .iter()
            .filter(|(cell, numeric, expected)| csv_cell(cell, *numeric) != *expected)
            .map(|(cell, numeric, expected)| format!("{cell:?}: {:?}, expected {expected:?}", csv_cell(cell, *numeric)))
            .collect();
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
