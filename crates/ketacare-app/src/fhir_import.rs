//! Import of a FHIR R4 Bundle into patients' charts (`POST /fhir/r4`, `ketacare import BUNDLE.json`): a
//! write path like the chart API, with its permissions, its readers and its audit events. The bundle is
//! read by `ketacare-case`'s strict reader and mapped by `ketacare-fhir`; every record is then checked by
//! the chart's own validation (`validate_record`, `validate_scale`: dates, ranges, codes, as the API
//! checks them), a refusal naming the FHIR element it came from. Nothing is written unless the whole
//! bundle passes; then each patient is written in one transaction (the patient, its new records, the
//! decision on the chart they leave, and the audit events), found again on re-import by its MRN, and its
//! records by their content, so importing the same bundle twice changes nothing and says so.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use ketacare_fhir::import::{
    CourseSpan, EpisodeLink, ImportIssue, ImportPolicy, ImportSection, ImportedPatient, ImportedRecord, IssueCode,
    IssueSeverity, import_outcome, read_import_bundle_with,
};
use ketacare_fhir::resources::OperationOutcome;
use ketacare_store::{
    AuditEvent, ChartRecord, ImportedChartRecord, ImportedPatientRow, ImportedScaleResult, NewAssessment,
    NewChartRecord, NewPatient, NewScaleResult, Patient, PatientChartImport, RecordStatus, StoreError,
    StoredScaleResult,
};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value};

use crate::chart::{ChartRows, ChartSection, assemble_case, current_episode_id};
use crate::patients::{PatientInput, parse_patient};
use crate::policy::{Permission, require};
use crate::secrets::{new_id, random_hex};
use crate::{Actor, App, AppError};

/// A course's weeks (read from prescriptions and dispenses): from its first day to the end of its supply
/// or to `today`, whichever is first (a course still running has lasted only until today), in whole
/// tenths of a week rounded down (never more than the days say). An event dated after today is refused:
/// nothing clinical is dated in the future.
fn course_weeks(course: &CourseSpan, today: Date) -> Result<serde_json::Number, ImportIssue> {
    let day = |text: &str, element: &str| {
        text.parse::<Date>()
            .map_err(|_| ImportIssue::error(IssueCode::Value, element, format!("\"{text}\" is not a calendar date")))
    };
    let latest = day(&course.latest_event_on, &course.latest_event_element)?;
    if latest > today {
        return Err(ImportIssue::error(
            IssueCode::BusinessRule,
            course.latest_event_element.clone(),
            format!("{latest} is after the server's today ({today}): nothing clinical is dated in the future"),
        ));
    }
    let start = day(&course.start, &course.start_element)?;
    let end = day(&course.end, &course.start_element)?.min(today);
    let days = start.until(end).map(|span| span.get_days()).unwrap_or(0).max(0);
    let weeks = (Decimal::from(days) / Decimal::from(7)).round_dp_with_strategy(1, RoundingStrategy::ToZero);
    Ok(ketacare_fhir::export::decimal_number(weeks))
}

/// The chart's active depressive episode with the latest onset on or before `day` (`YYYY-MM-DD`), where a
/// course that began that day belongs.
fn episode_begun_by(records: &[ChartRecord], day: &str) -> Option<String> {
    records
        .iter()
        .filter(|record| record.status == RecordStatus::Active && record.section == "episodes")
        .filter_map(|record| {
            let body: Value = serde_json::from_str(&record.body_json).ok()?;
            let onset = body.get("onset_date")?.as_str()?.to_owned();
            (onset.as_str() <= day).then(|| (onset, record.record_id.clone()))
        })
        .max_by(|first, second| first.0.cmp(&second.0))
        .map(|(_, record_id)| record_id)
}

/// How many times a patient's import is decided again when a chart write overtook it.
const IMPORT_ATTEMPTS: usize = 10;

/// A refused import: nothing was written.
#[derive(Debug)]
pub enum FhirImportError {
    /// The bundle, or a patient or record in it, is refused: every issue found, each naming its element.
    Refused(Vec<ImportIssue>),
    /// Not the caller's to do, or the database failed: as for any use case.
    App(AppError),
}

impl From<AppError> for FhirImportError {
    fn from(error: AppError) -> FhirImportError {
        FhirImportError::App(error)
    }
}

impl FhirImportError {
    /// The refusal as an OperationOutcome.
    pub fn outcome(&self) -> OperationOutcome {
        match self {
            FhirImportError::Refused(issues) => import_outcome(issues),
            FhirImportError::App(error) => {
                let code = match error {
                    AppError::Unauthenticated => IssueCode::Login,
                    AppError::Forbidden { .. } => IssueCode::Forbidden,
                    AppError::Invalid { .. } => IssueCode::Value,
                    AppError::StaleVersion { .. } | AppError::Duplicate { .. } => IssueCode::Conflict,
                    _ => IssueCode::Exception,
                };
                import_outcome(&[ImportIssue {
                    severity: IssueSeverity::Error,
                    code,
                    expression: None,
                    diagnostics: error.to_string(),
                }])
            }
        }
    }
}

/// The decision on an imported chart, in brief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedDecision {
    pub as_of: String,
    /// `met`, `not_met`, `indeterminate`, with the failed agents counted.
    pub label_status: String,
    pub failed_agents: Vec<String>,
    pub distinct_classes_status: String,
    pub failed_classes: Vec<String>,
    /// Each modality's eligibility status (`iv_ketamine`, `eligible`).
    pub eligibility: Vec<(String, String)>,
    pub rules_version: String,
    pub protocol_sha256: String,
}

impl ImportedDecision {
    fn of_report(report: &Value, protocol_sha256: &str) -> ImportedDecision {
        let strings = |value: &Value| -> Vec<String> {
            value.as_array().into_iter().flatten().filter_map(|item| item.as_str().map(str::to_owned)).collect()
        };
        let text = |value: &Value| value.as_str().unwrap_or("indeterminate").to_owned();
        ImportedDecision {
            as_of: report["as_of"].as_str().unwrap_or_default().to_owned(),
            label_status: text(&report["trd"]["label"]["status"]),
            failed_agents: strings(&report["trd"]["label"]["failed_agents"]),
            distinct_classes_status: text(&report["trd"]["distinct_classes"]["status"]),
            failed_classes: strings(&report["trd"]["distinct_classes"]["classes"]),
            eligibility: report["eligibility"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(modality, decision)| (modality.clone(), text(&decision["status"])))
                .collect(),
            rules_version: ketacare_core::RULES_VERSION.to_owned(),
            protocol_sha256: protocol_sha256.to_owned(),
        }
    }

    /// One line: `TRD label: met (sertraline, venlafaxine); distinct classes: met (SSRI, SNRI); …`.
    pub fn summary(&self) -> String {
        let counted = |status: &str, items: &[String]| {
            if items.is_empty() { status.to_owned() } else { format!("{status} ({})", items.join(", ")) }
        };
        let eligibility: Vec<String> =
            self.eligibility.iter().map(|(modality, status)| format!("{modality} {status}")).collect();
        format!(
            "TRD label definition: {}; distinct classes: {}; eligibility: {} (as of {}, {})",
            counted(&self.label_status, &self.failed_agents),
            counted(&self.distinct_classes_status, &self.failed_classes),
            if eligibility.is_empty() { "none".to_owned() } else { eligibility.join(", ") },
            self.as_of,
            self.rules_version
        )
    }
}

/// What the import did for one patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientImportResult {
    pub patient_id: String,
    /// Where the Patient was in the bundle.
    pub bundle_entry: String,
    pub created_patient: bool,
    pub records_added: usize,
    /// Records already in the chart with the same content: not added again.
    pub records_unchanged: usize,
    /// The decision on the chart as the import leaves it (none for a patient with no chart yet).
    pub decision: Option<ImportedDecision>,
    /// The `meta.source` the Patient (or the Bundle) gave.
    pub source: Option<String>,
    /// Courses of prescriptions or dispenses that began before every depressive episode of the chart:
    /// no trial of any charted episode, so left out, each with a warning naming its first event.
    pub courses_left_out: Vec<ImportIssue>,
}

impl PatientImportResult {
    pub fn changed_nothing(&self) -> bool {
        !self.created_patient && self.records_added == 0
    }
}

/// What an accepted import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirImportReport {
    pub patients: Vec<PatientImportResult>,
    /// Resources read and deliberately not imported (session records, the TRD determination).
    pub left_out: usize,
    /// Under [`ImportPolicy::BulkExport`]: resources left out, counted by what they were.
    pub left_out_by_kind: BTreeMap<String, usize>,
    /// Under [`ImportPolicy::BulkExport`]: elements ignored, counted by resource type and element.
    pub ignored_elements: BTreeMap<String, usize>,
    /// Warnings and information (never errors).
    pub issues: Vec<ImportIssue>,
}

impl FhirImportReport {
    /// True when the database is as it was: a re-import of what is already there.
    pub fn changed_nothing(&self) -> bool {
        self.patients.iter().all(PatientImportResult::changed_nothing)
    }

    /// The report as an OperationOutcome: one information issue per patient (what was added, what was
    /// already there, the decision), then the warnings.
    pub fn outcome(&self) -> OperationOutcome {
        let mut issues: Vec<ImportIssue> = self
            .patients
            .iter()
            .map(|patient| {
                let what = if patient.changed_nothing() {
                    format!("unchanged: all {} records were already in the chart", patient.records_unchanged)
                } else {
                    format!(
                        "{}{} records added, {} already in the chart",
                        if patient.created_patient { "new patient; " } else { "" },
                        patient.records_added,
                        patient.records_unchanged
                    )
                };
                let decision = patient
                    .decision
                    .as_ref()
                    .map_or_else(|| "no chart to decide on".to_owned(), ImportedDecision::summary);
                ImportIssue::information(
                    format!("Patient/{}: {what}. {decision}", patient.patient_id),
                    Some(format!("{}.resource", patient.bundle_entry)),
                )
            })
            .collect();
        issues.extend(self.issues.iter().cloned());
        import_outcome(&issues)
    }
}

/// One patient's import as decided, ready to write.
struct PatientPlan {
    write: Option<PatientChartImport>,
    result: PatientImportResult,
    /// For an unchanged patient: the audit event of reading the chart to decide on it.
    read_event: Option<AuditEvent>,
}

/// A JSON value with every number written in its shortest exact decimal form (`150.0` → `150`), so a
/// record compares equal to the same record as exported.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Number(number) => {
            let decimal = ketacare_case::exact_decimal(number).ok().map(|decimal| decimal.normalize());
            decimal
                .and_then(|decimal| decimal.to_string().parse::<serde_json::Number>().ok())
                .map_or_else(|| value.clone(), Value::Number)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(object) => {
            Value::Object(object.iter().map(|(key, item)| (key.clone(), canonical(item))).collect())
        }
        other => other.clone(),
    }
}

/// What makes two chart records the same record: section, content (episode included) and status.
fn record_signature(section: &str, body_json: &str, status: RecordStatus) -> String {
    let mut body: Value = serde_json::from_str(body_json).unwrap_or(Value::Null);
    // A value left to its default is the same record as one that states it.
    let defaults: &[(&str, &str)] = match section {
        "history" | "concomitant" => &[("clinical_status", "active")],
        "trials" => &[("role", "antidepressant")],
        _ => &[],
    };
    if let Some(object) = body.as_object_mut() {
        for (key, value) in defaults {
            object.entry(*key).or_insert_with(|| Value::String((*value).to_owned()));
        }
    }
    format!("{section}\n{}\n{}", canonical(&body), status.as_str())
}

fn scale_signature(
    scale: &str,
    answers_json: Option<&str>,
    total: Option<i64>,
    day: &str,
    status: RecordStatus,
) -> String {
    let answers: Value = answers_json.and_then(|text| serde_json::from_str(text).ok()).unwrap_or(Value::Null);
    format!("{scale}\n{}\n{total:?}\n{day}\n{}", canonical(&answers), status.as_str())
}

/// Takes one match of `signature` out of the existing ones: whether it was there.
fn take_match(existing: &mut HashMap<String, usize>, signature: &str) -> bool {
    match existing.get_mut(signature) {
        Some(count) if *count > 0 => {
            *count -= 1;
            true
        }
        _ => false,
    }
}

fn status_of(entered_in_error: bool) -> RecordStatus {
    if entered_in_error { RecordStatus::EnteredInError } else { RecordStatus::Active }
}

/// A chart's refusal of a record, as an issue naming the FHIR element the field came from.
fn record_issue(record: &ImportedRecord, error: AppError) -> ImportIssue {
    match error {
        AppError::Invalid { field, problem } => {
            ImportIssue::error(IssueCode::Value, record.expression_of_field(&field), format!("{field}: {problem}"))
        }
        other => ImportIssue::error(IssueCode::BusinessRule, record.location.expression(), other.to_string()),
    }
}

impl App {
    /// Imports a FHIR R4 Bundle (JSON bytes) for `actor`: prescribers and nurses, who create patients and
    /// record chart entries. Audited as the API's writes are (`patient.create`, `chart.create`,
    /// `chart.evaluate`), a refused bundle as `fhir.import` with outcome `invalid`.
    pub async fn import_fhir_bundle(&self, actor: &Actor, bundle: &[u8]) -> Result<FhirImportReport, FhirImportError> {
        let event = self.audit_event(actor, "fhir.import", "fhir/r4/Bundle".to_owned(), None);
        let permitted =
            require(actor, Permission::CreatePatients).and_then(|()| require(actor, Permission::RecordChart));
        if let Err(error) = permitted {
            return Err(FhirImportError::App(self.audit_failure(event, error).await));
        }
        let result = match ketacare_case::read_json_document(bundle) {
            Ok(value) => self.import_checked_bundle(actor, &value, ImportPolicy::Strict).await,
            Err(error) => {
                let expression =
                    error.path.as_deref().map_or_else(|| "Bundle".to_owned(), |path| format!("Bundle.{path}"));
                Err(FhirImportError::Refused(vec![ImportIssue::error(IssueCode::Structure, expression, error.problem)]))
            }
        };
        if let Err(FhirImportError::Refused(_)) = &result {
            // The audit row says an import was refused; the OperationOutcome says why (it may quote data).
            self.audit_failure(event, AppError::invalid("(bundle)", "refused")).await;
        }
        result
    }

    /// Imports a Bundle already read as JSON (by `ketacare-case`'s strict reader) under `policy`: the bulk
    /// NDJSON import hands each patient's resources over as a collection Bundle with
    /// [`ImportPolicy::BulkExport`]. Permissions and audit as [`App::import_fhir_bundle`].
    pub async fn import_fhir_bundle_value(
        &self,
        actor: &Actor,
        bundle: &Value,
        policy: ImportPolicy,
    ) -> Result<FhirImportReport, FhirImportError> {
        let event = self.audit_event(actor, "fhir.import", "fhir/r4/Bundle".to_owned(), None);
        let permitted =
            require(actor, Permission::CreatePatients).and_then(|()| require(actor, Permission::RecordChart));
        if let Err(error) = permitted {
            return Err(FhirImportError::App(self.audit_failure(event, error).await));
        }
        let result = self.import_checked_bundle(actor, bundle, policy).await;
        if let Err(FhirImportError::Refused(_)) = &result {
            self.audit_failure(event, AppError::invalid("(bundle)", "refused")).await;
        }
        result
    }

    /// The actor for `--as USERNAME` at the console: the named account, active, with its role; whoever
    /// runs the command holds the database, so no password is asked.
    pub async fn console_actor(&self, username: &str, request_id: &str) -> Result<Actor, AppError> {
        let account = self
            .store
            .user_by_username(username)
            .await?
            .filter(|account| account.active)
            .ok_or_else(|| AppError::NotFound { resource: "active account", id: username.to_owned() })?;
        Ok(Actor { user_id: account.user_id, role: account.role, request_id: request_id.to_owned() })
    }

    /// The same import for `ketacare import --as USERNAME`: whoever runs the command holds the database,
    /// so no password is asked, but the records are the named account's, written with its role's
    /// permissions and audited as its (request id `request_id`); an unknown or inactive account is refused.
    pub async fn import_fhir_bundle_as_account(
        &self,
        username: &str,
        bundle: &[u8],
        request_id: &str,
    ) -> Result<FhirImportReport, FhirImportError> {
        let actor = self.console_actor(username, request_id).await?;
        self.import_fhir_bundle(&actor, bundle).await
    }

    async fn import_checked_bundle(
        &self,
        actor: &Actor,
        value: &Value,
        policy: ImportPolicy,
    ) -> Result<FhirImportReport, FhirImportError> {
        let read = read_import_bundle_with(value, policy, &self.mrn_identifier_systems);
        if read.has_errors() {
            return Err(FhirImportError::Refused(read.issues));
        }
        let mut issues = read.issues;
        // Decide every patient before writing any: one refused patient refuses the bundle.
        let mut plans = Vec::new();
        let mut refusals = Vec::new();
        for patient in &read.patients {
            match self.plan_patient_import(actor, patient).await {
                Ok(plan) => plans.push((patient, plan)),
                Err(FhirImportError::Refused(found)) => refusals.extend(found),
                Err(other) => return Err(other),
            }
        }
        if !refusals.is_empty() {
            refusals.extend(issues);
            return Err(FhirImportError::Refused(refusals));
        }
        let mut results = Vec::new();
        for (patient, mut plan) in plans {
            let mut attempt = 1;
            loop {
                let written = match (&plan.write, &plan.read_event) {
                    (Some(write), _) => self.store.import_patient_chart(write).await,
                    (None, Some(event)) => self.store.append_audit(event).await.map(|_| ()),
                    (None, None) => Ok(()),
                };
                match written {
                    Ok(()) => break,
                    Err(StoreError::StaleVersion { resource: "chart", .. }) if attempt < IMPORT_ATTEMPTS => {
                        attempt += 1;
                        plan = self.plan_patient_import(actor, patient).await?;
                    }
                    Err(error) => return Err(FhirImportError::App(error.into())),
                }
            }
            results.push(plan.result);
        }
        let mut left_out = read.left_out;
        let mut left_out_by_kind = read.left_out_by_kind;
        for result in &mut results {
            left_out += result.courses_left_out.len();
            match policy {
                ImportPolicy::Strict => issues.append(&mut result.courses_left_out),
                ImportPolicy::BulkExport => {
                    if !result.courses_left_out.is_empty() {
                        *left_out_by_kind
                            .entry("drug course: begun before every depressive episode".to_owned())
                            .or_default() += result.courses_left_out.len();
                    }
                }
            }
        }
        if left_out > 0 {
            issues.push(ImportIssue::information(
                format!("{left_out} resources were read and not imported (see the warnings above)"),
                None,
            ));
        }
        Ok(FhirImportReport {
            patients: results,
            left_out,
            left_out_by_kind,
            ignored_elements: read.ignored_elements,
            issues,
        })
    }

    /// The patient an MRN names, if any; two patients with one MRN is a conflict to resolve by hand.
    async fn patient_with_mrn(&self, imported: &ImportedPatient) -> Result<Option<Patient>, FhirImportError> {
        let mut matches: Vec<Patient> = self.store.patients_with_mrn(&imported.mrn).await.map_err(AppError::from)?;
        if matches.len() > 1 {
            return Err(FhirImportError::Refused(vec![ImportIssue::error(
                IssueCode::Conflict,
                imported.expression_of_field("mrn"),
                format!("{} patients of this database have this MRN; resolve that before importing", matches.len()),
            )]));
        }
        Ok(matches.pop())
    }

    /// Decides one patient's import: the patient found or to create, each record checked by the chart's
    /// validation, the records already in the chart recognised, and the decision on the chart it leaves.
    async fn plan_patient_import(
        &self,
        actor: &Actor,
        imported: &ImportedPatient,
    ) -> Result<PatientPlan, FhirImportError> {
        let today = self.today();
        let input = PatientInput {
            mrn: Some(imported.mrn.clone()),
            given_name: imported.given_name.clone(),
            family_name: imported.family_name.clone(),
            birth_date: imported.birth_date.clone(),
            sex_at_birth: imported.sex_at_birth.clone(),
        };
        let valid = parse_patient(&input, today).map_err(|error| match error {
            AppError::Invalid { field, problem } => FhirImportError::Refused(vec![ImportIssue::error(
                IssueCode::Value,
                imported.expression_of_field(&field),
                format!("{field}: {problem}"),
            )]),
            other => FhirImportError::App(other),
        })?;
        let status = status_of(imported.entered_in_error);
        let now = self.now();
        let existing = self.patient_with_mrn(imported).await?;
        let (patient, new_patient, mut rows) = match existing {
            Some(patient) => {
                let differs: Vec<&str> = [
                    ("given name", patient.given_name == valid.given_name),
                    ("family name", patient.family_name == valid.family_name),
                    ("birth date", patient.birth_date == valid.birth_date.to_string()),
                    ("sex at birth", patient.sex_at_birth == valid.sex_at_birth),
                    ("status", patient.status == status),
                ]
                .into_iter()
                .filter(|(_, same)| !same)
                .map(|(what, _)| what)
                .collect();
                if !differs.is_empty() {
                    return Err(FhirImportError::Refused(vec![ImportIssue::error(
                        IssueCode::Conflict,
                        imported.location.expression(),
                        format!(
                            "this MRN is patient {} of this database, whose {} differ; correct the patient through the API (an amendment) or the bundle",
                            patient.patient_id,
                            differs.join(", ")
                        ),
                    )]));
                }
                let rows = self.chart_rows(&patient).await?;
                (patient, None, rows)
            }
            None => {
                let patient_id = new_id();
                let new = NewPatient {
                    patient_id: patient_id.clone(),
                    pseudonym: format!("KC-{}", random_hex(5).to_uppercase()),
                    mrn: valid.mrn.clone(),
                    given_name: valid.given_name.clone(),
                    family_name: valid.family_name.clone(),
                    birth_date: valid.birth_date.to_string(),
                    birth_year: i64::from(valid.birth_date.year()),
                    sex_at_birth: valid.sex_at_birth.clone(),
                    created_at: now,
                    created_by: actor.user_id.clone(),
                };
                let at = ketacare_store::format_time(now);
                let patient = Patient {
                    patient_id,
                    pseudonym: new.pseudonym.clone(),
                    mrn: new.mrn.clone(),
                    given_name: new.given_name.clone(),
                    family_name: new.family_name.clone(),
                    birth_date: new.birth_date.clone(),
                    birth_year: new.birth_year,
                    sex_at_birth: new.sex_at_birth.clone(),
                    status,
                    version: 1,
                    created_at: at.clone(),
                    created_by: actor.user_id.clone(),
                    updated_at: at,
                    updated_by: actor.user_id.clone(),
                };
                (patient, Some((new, status)), ChartRows { records: Vec::new(), scales: Vec::new(), stamp: 0 })
            }
        };
        let patient_id = patient.patient_id.clone();
        let at = ketacare_store::format_time(now);

        // The records already in the chart, by what they say.
        let mut existing_records: HashMap<String, usize> = HashMap::new();
        for record in &rows.records {
            *existing_records
                .entry(record_signature(&record.section, &record.body_json, record.status))
                .or_default() += 1;
        }
        let mut existing_scales: HashMap<String, usize> = HashMap::new();
        for result in &rows.scales {
            let signature = scale_signature(
                &result.scale,
                result.answers_json.as_deref(),
                result.total,
                &result.administered_on,
                result.status,
            );
            *existing_scales.entry(signature).or_default() += 1;
        }

        let mut refusals = Vec::new();
        let mut new_records: Vec<ImportedChartRecord> = Vec::new();
        let mut new_scales: Vec<ImportedScaleResult> = Vec::new();
        let mut unchanged = 0;
        let mut courses_left_out = Vec::new();
        // Episodes first, so that trials find theirs; then the rest in bundle order.
        let mut order: Vec<&ImportedRecord> =
            imported.records.iter().filter(|record| record.section == ImportSection::Episodes).collect();
        order.extend(imported.records.iter().filter(|record| record.section != ImportSection::Episodes));
        let mut episode_of_entry: HashMap<usize, String> = HashMap::new();
        // The chart lists records in the order recorded (time, then id): imported records keep the
        // bundle's order, a microsecond apart.
        let in_bundle_order = |record: &ImportedRecord| {
            let offset = jiff::SignedDuration::from_micros(record.location.entry_index as i64);
            now.checked_add(offset).unwrap_or(now)
        };
        for record in order {
            let status = status_of(record.entered_in_error);
            if record.section == ImportSection::Scales {
                let valid = match self.validate_scale(&record.body) {
                    Ok(valid) => valid,
                    Err(error) => {
                        refusals.push(record_issue(record, error));
                        continue;
                    }
                };
                if let Some(stated) = record.stated_total
                    && valid.total != Some(stated)
                {
                    refusals.push(ImportIssue::error(
                        IssueCode::Value,
                        record.expression_of_field("total"),
                        format!(
                            "the stated total {stated} is not the score of the items ({})",
                            valid
                                .total
                                .map_or_else(|| "none: an item is unanswered".to_owned(), |total| total.to_string())
                        ),
                    ));
                    continue;
                }
                let signature = scale_signature(
                    &valid.scale_key,
                    valid.answers_json.as_deref(),
                    valid.total,
                    &valid.administered_on,
                    status,
                );
                if take_match(&mut existing_scales, &signature) {
                    unchanged += 1;
                    continue;
                }
                let result = NewScaleResult {
                    patient_id: patient_id.clone(),
                    scale_result_id: new_id(),
                    scale: valid.scale_key,
                    answers_json: valid.answers_json,
                    total: valid.total,
                    administered_on: valid.administered_on,
                    created_at: in_bundle_order(record),
                    created_by: actor.user_id.clone(),
                };
                let audit = self.audit_event(
                    actor,
                    "chart.create",
                    format!("patient/{patient_id}/chart/scales/{}", result.scale_result_id),
                    Some(&patient_id),
                );
                rows.scales.push(StoredScaleResult {
                    patient_id: patient_id.clone(),
                    scale_result_id: result.scale_result_id.clone(),
                    scale: result.scale.clone(),
                    answers_json: result.answers_json.clone(),
                    total: result.total,
                    administered_on: result.administered_on.clone(),
                    status,
                    version: 1,
                    created_at: at.clone(),
                    created_by: actor.user_id.clone(),
                });
                new_scales.push(ImportedScaleResult { result, status, audit });
                continue;
            }
            let section = match ChartSection::parse(record.section.as_str()) {
                Ok(section) => section,
                Err(error) => {
                    refusals.push(record_issue(record, error));
                    continue;
                }
            };
            let mut body: Map<String, Value> = record.body.clone();
            if let Some(course) = &record.course {
                match course_weeks(course, today) {
                    Ok(weeks) => body.insert("weeks".to_owned(), Value::Number(weeks)),
                    Err(issue) => {
                        refusals.push(issue);
                        continue;
                    }
                };
            }
            if let Some(link) = &record.episode {
                let episode = match link {
                    EpisodeLink::Entry(entry) => episode_of_entry.get(entry).cloned(),
                    EpisodeLink::Current => current_episode_id(&rows.records, today),
                    EpisodeLink::OnsetOnOrBefore(day) => episode_begun_by(&rows.records, day),
                };
                let Some(episode) = episode else {
                    match link {
                        // Not a trial of any charted episode: left out, which counts no failure (to chart it,
                        // chart its episode, a Condition with its onset, and import again).
                        EpisodeLink::OnsetOnOrBefore(day) => courses_left_out.push(ImportIssue::warning(
                            IssueCode::NotFound,
                            record.expression_of_field("episode_id"),
                            format!(
                                "left out: no depressive episode of the chart began on or before this course's first day ({day}), so it is no trial of a charted episode"
                            ),
                        )),
                        _ => refusals.push(ImportIssue::error(
                            IssueCode::NotFound,
                            record.location.element("reasonReference"),
                            "the trial's episode is not an active depressive episode of the imported chart",
                        )),
                    }
                    continue;
                };
                body.insert("episode_id".to_owned(), Value::String(episode));
            }
            let valid = match self.validate_record(actor, section, body, &patient, &rows.records) {
                Ok(valid) => valid,
                Err(error) => {
                    refusals.push(record_issue(record, error));
                    continue;
                }
            };
            let body_json = Value::Object(valid.body).to_string();
            let signature = record_signature(section.as_str(), &body_json, status);
            if take_match(&mut existing_records, &signature) {
                unchanged += 1;
                if section == ChartSection::Episodes {
                    // The same episode already charted: the bundle's trials of it join it.
                    let same = rows.records.iter().find(|stored| {
                        stored.section == "episodes"
                            && record_signature(&stored.section, &stored.body_json, stored.status) == signature
                    });
                    if let Some(stored) = same {
                        episode_of_entry.insert(record.location.entry_index, stored.record_id.clone());
                    }
                }
                continue;
            }
            let record_id = new_id();
            if section == ChartSection::Episodes {
                episode_of_entry.insert(record.location.entry_index, record_id.clone());
            }
            let new_record = NewChartRecord {
                patient_id: patient_id.clone(),
                record_id: record_id.clone(),
                section: section.as_str().to_owned(),
                episode_id: valid.episode_id,
                recorded_on: valid.recorded_on,
                body_json,
                created_at: in_bundle_order(record),
                created_by: actor.user_id.clone(),
            };
            let audit = self.audit_event(
                actor,
                "chart.create",
                format!("patient/{patient_id}/chart/{}/{record_id}", section.as_str()),
                Some(&patient_id),
            );
            rows.records.push(ChartRecord {
                patient_id: patient_id.clone(),
                record_id,
                section: new_record.section.clone(),
                episode_id: new_record.episode_id.clone(),
                recorded_on: new_record.recorded_on.clone(),
                body_json: new_record.body_json.clone(),
                status,
                version: 1,
                created_at: ketacare_store::format_time(new_record.created_at),
                created_by: actor.user_id.clone(),
                updated_at: ketacare_store::format_time(new_record.created_at),
                updated_by: actor.user_id.clone(),
            });
            new_records.push(ImportedChartRecord { record: new_record, status, audit });
        }
        if !refusals.is_empty() {
            return Err(FhirImportError::Refused(refusals));
        }

        // The decision on the chart as the import leaves it, made as every chart write makes it.
        let has_chart = !rows.records.is_empty() || !rows.scales.is_empty();
        let report = if has_chart {
            let case = assemble_case(&patient, &rows, today, "both", "US");
            match self.evaluate(&case) {
                Ok(report) => Some((case, report)),
                Err(AppError::Invalid { field, problem }) => {
                    return Err(FhirImportError::Refused(vec![ImportIssue::error(
                        IssueCode::BusinessRule,
                        imported.location.expression(),
                        format!("the imported chart does not make a valid case at {field}: {problem}"),
                    )]));
                }
                Err(other) => return Err(other.into()),
            }
        } else {
            None
        };
        let decision = report.as_ref().map(|(_, report)| ImportedDecision::of_report(report, &self.protocol().sha256));
        let records_added = new_records.len() + new_scales.len();
        let result = PatientImportResult {
            patient_id: patient_id.clone(),
            bundle_entry: format!("Bundle.entry[{}]", imported.location.entry_index),
            created_patient: new_patient.is_some(),
            records_added,
            records_unchanged: unchanged,
            decision,
            source: imported.source.clone(),
            courses_left_out,
        };
        if new_patient.is_none() && records_added == 0 {
            // Nothing to write: the chart was read and decided on, which is audited as a read.
            let event = self.audit_event(
                actor,
                "chart.evaluate",
                format!("patient/{patient_id}/evaluation"),
                Some(&patient_id),
            );
            return Ok(PatientPlan { write: None, result, read_event: Some(event) });
        }
        let new_patient = new_patient.map(|(patient, status)| ImportedPatientRow {
            audit: self.audit_event(actor, "patient.create", format!("patient/{patient_id}"), Some(&patient_id)),
            patient,
            status,
        });
        let evaluation = match report {
            Some((case, report)) if records_added > 0 => {
                let assessment_id = new_id();
                let audit = self.audit_event(
                    actor,
                    "chart.evaluate",
                    format!("patient/{patient_id}/assessment/{assessment_id}"),
                    Some(&patient_id),
                );
                let assessment = NewAssessment {
                    patient_id: patient_id.clone(),
                    assessment_id,
                    as_of: report["as_of"].as_str().unwrap_or_default().to_owned(),
                    case_json: case.to_string(),
                    decision_json: report.to_string(),
                    rules_version: ketacare_core::RULES_VERSION.to_owned(),
                    protocol_sha256: self.protocol().sha256.clone(),
                    created_at: now,
                    created_by: actor.user_id.clone(),
                };
                Some((assessment, audit))
            }
            _ => None,
        };
        let write = PatientChartImport {
            patient_id: patient_id.clone(),
            chart_stamp: if new_patient.is_some() { None } else { Some(rows.stamp) },
            new_patient,
            records: new_records,
            scale_results: new_scales,
            evaluation,
        };
        Ok(PatientPlan { write: Some(write), result, read_event: None })
    }
}
