//! The controlled-substance record's pages (docs/controlled-substances.md): `/controlled-substances`, the
//! lots with their running balances, the count discrepancies awaiting an admin (each with its Resolve
//! form), the forms a role may use (receive and return for admins; withdraw for an administration and
//! waste before a witness who types their own password for prescribers and nurses; count for all three),
//! and the log with Enter in error; and `/controlled-substances/report`, the printable report per period
//! and lot, with its CSV from the API. Every action is the use case the API calls
//! (`App::record_stock_entry`, `mark_stock_entry_in_error`, `resolve_stock_discrepancy`, `stock_report`),
//! so permissions, refusals and audit are theirs; a refusal comes back beside the field it names with
//! what was typed kept (never the witness's password).

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::policy::allows;
use ketacare_app::{AppError, Permission, StockEntryView, StockReport, StockReportQuery};
use ketacare_web::ClientAddress;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::PagesState;
use crate::display::{clinic_zone, date_time, html_id};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::session_page::read_form;
use crate::signed_in::SignedIn;
use crate::treatment_forms::FormErrors;

/// How many of the newest entries the stock page lists (the report lists a whole period).
const LOG_ROWS_SHOWN: usize = 100;

#[derive(Template)]
#[template(path = "stock.html")]
struct StockPage {
    chrome: Chrome,
    csrf_token: String,
    notice: Option<String>,
    errors: FormErrors,
    lots: Vec<LotRow>,
    discrepancies: Vec<DiscrepancyRow>,
    may_resolve: bool,
    forms: Vec<EntryFormView>,
    log: Vec<LogRow>,
    log_total: usize,
}

struct LotRow {
    drug: String,
    lot_number: String,
    ndc: String,
    expiry_date: String,
    expired: bool,
    location: String,
    balance_mg: String,
    report_href: String,
}

struct DiscrepancyRow {
    entry_id: String,
    form_id: String,
    lot: String,
    counted_at: String,
    counted_by: String,
    counted_mg: String,
    expected_mg: String,
    discrepancy_mg: String,
    note: String,
}

struct LogRow {
    entry_id: String,
    form_id: String,
    at: String,
    kind: String,
    lot: String,
    quantity_mg: String,
    balance_after_mg: String,
    detail: String,
    by: String,
    in_error: bool,
    error_reason: String,
    may_correct: bool,
}

/// One entry form: its kind, heading and fields, rendered by the template's one loop.
pub(crate) struct EntryFormView {
    kind: &'static str,
    title: &'static str,
    hint: &'static str,
    button: &'static str,
    fields: Vec<FieldView>,
}

struct FieldView {
    id: String,
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    input: &'static str,
    value: String,
    options: Vec<(String, String, bool)>,
    error: Option<String>,
}

/// The entry form as posted (and as typed back on a refusal; the witness's password never is).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct EntryForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    drug: String,
    #[serde(default)]
    ndc: String,
    #[serde(default)]
    lot_number: String,
    #[serde(default)]
    expiry_date: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    quantity_mg: String,
    #[serde(default)]
    counted_mg: String,
    #[serde(default)]
    supplier: String,
    #[serde(default)]
    party: String,
    #[serde(default)]
    lot_id: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    administration_id: String,
    #[serde(default)]
    witness_username: String,
    #[serde(default)]
    witness_password: String,
    #[serde(default)]
    note: String,
}

impl EntryForm {
    fn value(&self, name: &str) -> &str {
        match name {
            "drug" => &self.drug,
            "ndc" => &self.ndc,
            "lot_number" => &self.lot_number,
            "expiry_date" => &self.expiry_date,
            "location" => &self.location,
            "quantity_mg" => &self.quantity_mg,
            "counted_mg" => &self.counted_mg,
            "supplier" => &self.supplier,
            "party" => &self.party,
            "lot_id" => &self.lot_id,
            "patient_id" => &self.patient_id,
            "administration_id" => &self.administration_id,
            "witness_username" => &self.witness_username,
            "witness_password" => &self.witness_password,
            "note" => &self.note,
            _ => "",
        }
    }

    /// The API's body for this entry: the kind's fields as typed, blanks left out.
    fn body(&self, kind: &str) -> String {
        let mut object = Map::new();
        object.insert("kind".to_owned(), Value::String(kind.to_owned()));
        for name in fields_of(kind).iter().map(|field| field.0) {
            let value = self.value(name).trim();
            if !value.is_empty() || name == "witness_password" && !self.witness_password.is_empty() {
                let value = if name == "witness_password" { self.witness_password.as_str() } else { value };
                object.insert(name.to_owned(), Value::String(value.to_owned()));
            }
        }
        Value::Object(object).to_string()
    }
}

/// A field: its name, label, hint and input type (`text`, `date`, `password`, `lot`, `drug`).
type FieldSpec = (&'static str, &'static str, &'static str, &'static str);

fn fields_of(kind: &str) -> &'static [FieldSpec] {
    const QUANTITY: FieldSpec = ("quantity_mg", "Quantity (mg)", "Exact; esketamine in whole 28 mg devices.", "text");
    const NOTE: FieldSpec = ("note", "Note (optional)", "", "text");
    match kind {
        "received" => &[
            ("drug", "Drug", "", "drug"),
            ("ndc", "NDC", "As on the package, e.g. 0409-2051-05.", "text"),
            ("lot_number", "Lot number", "", "text"),
            ("expiry_date", "Expiry date", "", "date"),
            ("location", "Location", "Where it is kept, e.g. safe A.", "text"),
            QUANTITY,
            ("supplier", "Supplier", "", "text"),
            NOTE,
        ],
        "withdrawn" => &[
            ("lot_id", "Lot", "", "lot"),
            ("patient_id", "Patient id", "The patient's id, as in their page's address.", "text"),
            ("administration_id", "Administration id", "The dose given from this lot, on the session page.", "text"),
            QUANTITY,
            NOTE,
        ],
        "wasted" => &[
            ("lot_id", "Lot", "", "lot"),
            QUANTITY,
            ("witness_username", "Witness username", "Another prescriber or nurse, who saw the waste.", "text"),
            ("witness_password", "Witness password", "The witness types it themself.", "password"),
            ("note", "Reason (optional)", "", "text"),
        ],
        "returned" => &[
            ("lot_id", "Lot", "", "lot"),
            QUANTITY,
            ("party", "Returned to", "The supplier or reverse distributor.", "text"),
            NOTE,
        ],
        "count" => {
            &[("lot_id", "Lot", "", "lot"), ("counted_mg", "Counted (mg)", "What is physically there.", "text"), NOTE]
        }
        _ => &[],
    }
}

const FORM_KINDS: [(&str, &str, &str, &str, Permission); 5] = [
    (
        "withdrawn",
        "Withdraw for an administration",
        "The dose must be this patient's, recorded on their session, and given from this lot.",
        "Record the withdrawal",
        Permission::DispenseControlledSubstances,
    ),
    (
        "wasted",
        "Waste, with a witness",
        "A second prescriber or nurse watches the waste and types their own password here.",
        "Record the waste",
        Permission::DispenseControlledSubstances,
    ),
    (
        "count",
        "Count",
        "A count that differs from the running balance is flagged to the admins until one resolves it.",
        "Record the count",
        Permission::RecordControlledSubstances,
    ),
    (
        "received",
        "Receive stock",
        "Received now, by you. The same lot at the same location adds to that lot.",
        "Record the receipt",
        Permission::ManageControlledSubstanceStock,
    ),
    (
        "returned",
        "Return to a supplier or reverse distributor",
        "",
        "Record the return",
        Permission::ManageControlledSubstanceStock,
    ),
];

fn kind_permission(kind: &str) -> Permission {
    match kind {
        "received" | "returned" => Permission::ManageControlledSubstanceStock,
        "withdrawn" | "wasted" => Permission::DispenseControlledSubstances,
        _ => Permission::RecordControlledSubstances,
    }
}

fn lot_label(report: &StockReport, lot_id: &str) -> String {
    report
        .lots
        .iter()
        .find(|summary| summary.lot.lot_id == lot_id)
        .map(|summary| format!("{} lot {} at {}", summary.lot.drug, summary.lot.lot_number, summary.lot.location))
        .unwrap_or_else(|| lot_id.to_owned())
}

fn entry_detail(entry: &StockEntryView) -> String {
    let mut parts = Vec::new();
    if let Some(supplier) = &entry.supplier {
        parts.push(format!("from {supplier}"));
    }
    if let Some(party) = &entry.party {
        parts.push(format!("to {party}"));
    }
    if let (Some(patient), Some(administration)) = (&entry.patient_id, &entry.administration_id) {
        parts.push(format!("patient {patient}, administration {administration}"));
    }
    if let Some(witness) = &entry.witness_username {
        parts.push(format!("witnessed by {witness}"));
    }
    if let (Some(expected), Some(discrepancy)) = (&entry.expected_mg, &entry.discrepancy_mg) {
        parts.push(format!("balance {expected} mg, discrepancy {discrepancy} mg"));
    } else if let Some(expected) = &entry.expected_mg {
        parts.push(format!("matches the balance of {expected} mg"));
    }
    if let Some(reason) = &entry.resolution_reason {
        parts.push(format!("resolved: {reason}"));
    }
    if let Some(note) = &entry.note {
        parts.push(note.clone());
    }
    parts.join("; ")
}

/// What the stock page shows besides the stock: a notice, refusals and the form as typed.
#[derive(Default)]
struct StockExtras {
    notice: Option<String>,
    errors: FormErrors,
    typed: Option<EntryForm>,
}

async fn stock_page(state: &PagesState, signed: &SignedIn, extras: StockExtras) -> Result<StockPage, PageError> {
    let report = state.app.stock_report(&signed.actor, &StockReportQuery::default()).await?;
    let zone = clinic_zone(&state.app);
    let role = signed.principal.role;
    let lots = report
        .lots
        .iter()
        .map(|summary| LotRow {
            drug: summary.lot.drug.clone(),
            lot_number: summary.lot.lot_number.clone(),
            ndc: summary.lot.ndc.clone(),
            expiry_date: summary.lot.expiry_date.clone(),
            expired: summary.lot.expired,
            location: summary.lot.location.clone(),
            balance_mg: summary.lot.balance_mg.clone(),
            report_href: format!("/controlled-substances/report?lot_id={}", summary.lot.lot_id),
        })
        .collect();
    let discrepancies = report
        .entries
        .iter()
        .filter(|entry| entry.is_open_discrepancy())
        .map(|entry| DiscrepancyRow {
            entry_id: entry.entry_id.clone(),
            form_id: html_id("resolve-", &entry.entry_id),
            lot: lot_label(&report, &entry.lot_id),
            counted_at: date_time(&entry.recorded_at, &zone),
            counted_by: entry.recorded_by_username.clone().unwrap_or_default(),
            counted_mg: entry.quantity_mg.clone(),
            expected_mg: entry.expected_mg.clone().unwrap_or_default(),
            discrepancy_mg: entry.discrepancy_mg.clone().unwrap_or_default(),
            note: entry.note.clone().unwrap_or_default(),
        })
        .collect();
    let typed = extras.typed.unwrap_or_default();
    let lot_options = |selected: &str| -> Vec<(String, String, bool)> {
        let mut options = vec![(String::new(), "Choose a lot".to_owned(), selected.is_empty())];
        options.extend(report.lots.iter().map(|summary| {
            let lot = &summary.lot;
            let label = format!(
                "{} lot {} at {} — {} mg{}",
                lot.drug,
                lot.lot_number,
                lot.location,
                lot.balance_mg,
                if lot.expired { " (EXPIRED)" } else { "" }
            );
            (lot.lot_id.clone(), label, lot.lot_id == selected)
        }));
        options
    };
    let forms = FORM_KINDS
        .iter()
        .filter(|(_, _, _, _, permission)| allows(role, *permission))
        .map(|(kind, title, hint, button, _)| {
            let mine = typed.kind == *kind;
            let fields = fields_of(kind)
                .iter()
                .map(|(name, label, field_hint, input)| {
                    let id = format!("{kind}-{name}");
                    let value =
                        if mine && *name != "witness_password" { typed.value(name).to_owned() } else { String::new() };
                    let options = match *input {
                        "lot" => lot_options(&value),
                        "drug" => ["ketamine", "esketamine"]
                            .iter()
                            .map(|drug| ((*drug).to_owned(), (*drug).to_owned(), value == *drug))
                            .collect(),
                        _ => Vec::new(),
                    };
                    FieldView {
                        error: extras.errors.of(&id).map(str::to_owned),
                        id,
                        name,
                        label,
                        hint: field_hint,
                        input,
                        value,
                        options,
                    }
                })
                .collect();
            EntryFormView { kind, title, hint, button, fields }
        })
        .collect();
    let log_total = report.entries.len();
    let log = report
        .entries
        .iter()
        .rev()
        .take(LOG_ROWS_SHOWN)
        .map(|entry| LogRow {
            entry_id: entry.entry_id.clone(),
            form_id: html_id("error-", &entry.entry_id),
            at: date_time(&entry.recorded_at, &zone),
            kind: entry.kind.clone(),
            lot: lot_label(&report, &entry.lot_id),
            quantity_mg: entry.quantity_mg.clone(),
            balance_after_mg: entry.balance_after_mg.clone(),
            detail: entry_detail(entry),
            by: entry.recorded_by_username.clone().unwrap_or_else(|| entry.recorded_by.clone()),
            in_error: entry.status == "entered_in_error",
            error_reason: entry.error_reason.clone().unwrap_or_default(),
            may_correct: entry.status == "active" && allows(role, kind_permission(&entry.kind)),
        })
        .collect();
    Ok(StockPage {
        chrome: Chrome::signed_in("Controlled substances", "stock", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        notice: extras.notice,
        errors: extras.errors,
        lots,
        discrepancies,
        may_resolve: allows(role, Permission::ResolveStockDiscrepancies),
        forms,
        log,
        log_total,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct StockQuery {
    #[serde(default)]
    saved: Option<String>,
    /// From a session page's dose: the withdrawal form filled in for it (the lot chosen by its number).
    #[serde(default)]
    patient_id: Option<String>,
    #[serde(default)]
    administration_id: Option<String>,
    #[serde(default)]
    lot_number: Option<String>,
}

/// `GET /controlled-substances`.
pub async fn stock(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(query): Query<StockQuery>,
) -> Result<Response, PageError> {
    let notice = query.saved.as_deref().map(|saved| match saved {
        "received" => "The receipt was recorded.".to_owned(),
        "withdrawn" => "The withdrawal was recorded.".to_owned(),
        "wasted" => "The witnessed waste was recorded.".to_owned(),
        "returned" => "The return was recorded.".to_owned(),
        "count" => "The count was recorded.".to_owned(),
        "error" => "The entry was marked entered in error; record the correct one.".to_owned(),
        "resolved" => "The discrepancy was resolved.".to_owned(),
        _ => "Saved.".to_owned(),
    });
    let typed = match (query.patient_id, query.administration_id) {
        (Some(patient_id), Some(administration_id)) => {
            let lot_number = query.lot_number.unwrap_or_default();
            // The lot of that number with stock, unexpired first (the clinician confirms it on the form).
            let overview = state.app.stock_overview(&signed.actor).await?;
            let mut lots: Vec<_> = overview.lots.iter().filter(|lot| lot.lot_number == lot_number).collect();
            lots.sort_by_key(|lot| (lot.expired, lot.balance_mg == "0"));
            Some(EntryForm {
                kind: "withdrawn".to_owned(),
                patient_id,
                administration_id,
                lot_id: lots.first().map(|lot| lot.lot_id.clone()).unwrap_or_default(),
                ..EntryForm::default()
            })
        }
        _ => None,
    };
    let page = stock_page(&state, &signed, StockExtras { notice, typed, ..StockExtras::default() }).await?;
    Ok(render(&page))
}

/// Re-renders the stock page with a refusal (status 422).
async fn refused(state: &PagesState, signed: &SignedIn, extras: StockExtras) -> Result<Response, PageError> {
    let page = stock_page(state, signed, extras).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

/// A use case's refusal in its words, on the field it names (`{kind}-{field}`, or the form's first field).
fn refusal_on(kind: &str, error: AppError) -> Result<FormErrors, PageError> {
    let (field, message) = match error {
        AppError::Invalid { field, problem } => (field.clone(), format!("{field}: {problem}")),
        AppError::Refused { field, problem, rule_id } => (field.clone(), format!("{field}: {problem} ({rule_id})")),
        other => return Err(other.into()),
    };
    let names = fields_of(kind);
    let name = names.iter().find(|spec| spec.0 == field).or(names.first()).map_or("", |spec| spec.0);
    Ok(FormErrors { messages: vec![(format!("{kind}-{name}"), message)] })
}

/// `POST /controlled-substances/entries`: records the entry through `App::record_stock_entry`.
pub async fn record_entry(
    State(state): State<PagesState>,
    signed: SignedIn,
    address: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: EntryForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    state
        .app
        .authorize(&signed.actor, Permission::RecordControlledSubstances, "stock.record", "stock".to_owned(), None)
        .await?;
    let kind = form.kind.clone();
    if fields_of(&kind).is_empty() {
        return Err(PageError::FormRejected);
    }
    let address = address.map_or_else(|| "unknown".to_owned(), |Extension(address)| address.0);
    match state.app.record_stock_entry(&signed.actor, &form.body(&kind), None, &address).await {
        Ok(_) => Ok(Redirect::to(&format!("/controlled-substances?saved={kind}")).into_response()),
        Err(error @ AppError::Forbidden { .. }) => Err(error.into()),
        Err(error) => {
            let errors = refusal_on(&kind, error)?;
            let mut typed = form;
            typed.witness_password.clear();
            refused(&state, &signed, StockExtras { errors, typed: Some(typed), ..StockExtras::default() }).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reason: String,
}

fn reason_body(reason: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() { "{}".to_owned() } else { serde_json::json!({ "reason": reason }).to_string() }
}

/// `POST /controlled-substances/entries/{entry_id}/entered-in-error`.
pub async fn mark_in_error(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(entry_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: ReasonForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    match state.app.mark_stock_entry_in_error(&signed.actor, &entry_id, &reason_body(&form.reason)).await {
        Ok(_) => Ok(Redirect::to("/controlled-substances?saved=error").into_response()),
        Err(AppError::Invalid { field, problem } | AppError::Refused { field, problem, .. }) => {
            let errors = FormErrors { messages: vec![(html_id("error-", &entry_id), format!("{field}: {problem}"))] };
            refused(&state, &signed, StockExtras { errors, ..StockExtras::default() }).await
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /controlled-substances/entries/{entry_id}/resolution` (admins).
pub async fn resolve(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(entry_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: ReasonForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    match state.app.resolve_stock_discrepancy(&signed.actor, &entry_id, &reason_body(&form.reason)).await {
        Ok(_) => Ok(Redirect::to("/controlled-substances?saved=resolved").into_response()),
        Err(AppError::Invalid { field, problem }) => {
            let errors = FormErrors { messages: vec![(html_id("resolve-", &entry_id), format!("{field}: {problem}"))] };
            refused(&state, &signed, StockExtras { errors, ..StockExtras::default() }).await
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Template)]
#[template(path = "stock_report.html")]
struct StockReportPage {
    chrome: Chrome,
    from: String,
    to: String,
    period: String,
    generated_at: String,
    csv_href: String,
    lot_options: Vec<(String, String, bool)>,
    lots: Vec<ReportLotRow>,
    entries: Vec<LogRow>,
    errors: FormErrors,
}

struct ReportLotRow {
    lot: String,
    ndc: String,
    expiry_date: String,
    opening: String,
    received: String,
    withdrawn: String,
    wasted: String,
    returned: String,
    closing: String,
    counts: usize,
    open_discrepancies: usize,
}

/// `GET /controlled-substances/report?from&to&lot_id`: the printable report (print stylesheet).
pub async fn report(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(query): Query<StockReportQuery>,
) -> Result<Response, PageError> {
    let zone = clinic_zone(&state.app);
    let query = StockReportQuery {
        from: query.from.filter(|text| !text.is_empty()),
        to: query.to.filter(|text| !text.is_empty()),
        lot_id: query.lot_id.filter(|text| !text.is_empty()),
    };
    let (report, errors) = match state.app.stock_report(&signed.actor, &query).await {
        Ok(report) => (report, FormErrors::default()),
        Err(AppError::Invalid { field, problem }) => {
            let report = state.app.stock_report(&signed.actor, &StockReportQuery::default()).await?;
            (report, FormErrors { messages: vec![(format!("report-{field}"), format!("{field}: {problem}"))] })
        }
        Err(error) => return Err(error.into()),
    };
    let all_lots = state.app.stock_overview(&signed.actor).await?.lots;
    let mut csv_query: Vec<(&str, String)> = Vec::new();
    for (name, value) in [("from", &report.from), ("to", &report.to), ("lot_id", &report.lot_id)] {
        if let Some(value) = value {
            csv_query.push((name, value.clone()));
        }
    }
    let csv_href = format!(
        "/api/v1/controlled-substances/report.csv{}{}",
        if csv_query.is_empty() { "" } else { "?" },
        serde_urlencoded::to_string(&csv_query).unwrap_or_default()
    );
    let lots = report
        .lots
        .iter()
        .map(|summary| ReportLotRow {
            lot: format!("{} lot {} at {}", summary.lot.drug, summary.lot.lot_number, summary.lot.location),
            ndc: summary.lot.ndc.clone(),
            expiry_date: summary.lot.expiry_date.clone(),
            opening: summary.opening_balance_mg.clone(),
            received: summary.received_mg.clone(),
            withdrawn: summary.withdrawn_mg.clone(),
            wasted: summary.wasted_mg.clone(),
            returned: summary.returned_mg.clone(),
            closing: summary.closing_balance_mg.clone(),
            counts: summary.counts,
            open_discrepancies: summary.open_discrepancies,
        })
        .collect();
    let entries = report
        .entries
        .iter()
        .map(|entry| LogRow {
            entry_id: entry.entry_id.clone(),
            form_id: String::new(),
            at: date_time(&entry.recorded_at, &zone),
            kind: entry.kind.clone(),
            lot: lot_label(&report, &entry.lot_id),
            quantity_mg: entry.quantity_mg.clone(),
            balance_after_mg: entry.balance_after_mg.clone(),
            detail: entry_detail(entry),
            by: entry.recorded_by_username.clone().unwrap_or_else(|| entry.recorded_by.clone()),
            in_error: entry.status == "entered_in_error",
            error_reason: entry.error_reason.clone().unwrap_or_default(),
            may_correct: false,
        })
        .collect();
    let period = match (&report.from, &report.to) {
        (Some(from), Some(to)) => format!("{from} to {to}"),
        (Some(from), None) => format!("from {from} to now"),
        (None, Some(to)) => format!("from the first entry to {to}"),
        (None, None) => "the whole log".to_owned(),
    };
    let lot_id = report.lot_id.clone().unwrap_or_default();
    let mut lot_options = vec![(String::new(), "Every lot".to_owned(), lot_id.is_empty())];
    lot_options.extend(all_lots.iter().map(|lot| {
        (lot.lot_id.clone(), format!("{} lot {} at {}", lot.drug, lot.lot_number, lot.location), lot.lot_id == lot_id)
    }));
    let page = StockReportPage {
        chrome: Chrome::signed_in("Controlled-substance report", "stock", &signed.principal),
        from: report.from.clone().unwrap_or_default(),
        to: report.to.clone().unwrap_or_default(),
        period,
        generated_at: date_time(&report.generated_at, &zone),
        csv_href,
        lot_options,
        lots,
        entries,
        errors,
    };
    Ok(render(&page))
}
