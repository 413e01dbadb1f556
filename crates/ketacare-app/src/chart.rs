//! The patient's chart as records, and its evaluation. Each record is one section of the assess case
//! format (docs/case-format.md) plus the few fields a record needs (its date, a trial's episode), and
//! is checked by `ketacare-case`'s reader for that section, so the chart accepts exactly what a case
//! would. Every write assembles the case from the chart as it will stand, runs it through the same
//! parse, engine and renderer as `ketacare assess`, and stores the decision (rules version, protocol
//! SHA-256) with the record in one transaction. The assembly rules are documented in docs/api.md.

use jiff::civil::Date;
use ketacare_case::{
    ChartPatientFacts, ChartRecordFacts, ChartScaleFacts, InvalidCase, assemble_case_from_chart, parse_bp_entry,
    parse_case, parse_concomitant_entry, parse_cssrs_section, parse_ect_section, parse_episode_section,
    parse_history_entry, parse_override_entry, parse_patient_section, parse_scales_section, parse_trial_entry,
    report_json,
};
use ketacare_core::assess::assess_case;
use ketacare_core::drugs::resolve_drug_name;
use ketacare_core::scales::{Scale, score_scale};
use ketacare_store::{
    AmendmentMeta, AuditEvent, ChartEvaluation, ChartRecord, ChartRecordChanges, ChartWrite, IdempotentResponse,
    NewAssessment, NewChartRecord, NewScaleResult, Patient, RecordStatus, ScaleResultChanges, StoreError,
    StoredAssessment, StoredScaleResult, chart_stamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::assessments::AssessmentView;
use crate::patients::idempotency_key;
use crate::policy::{Permission, de_identified_only, require};
use crate::secrets::{new_id, sha256_hex};
use crate::{Actor, App, AppError, Created};

/// The sections of a chart, as they appear in URLs (`/chart/{section}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartSection {
    Episodes,
    History,
    Concomitant,
    Trials,
    Scales,
    Measurements,
    BloodPressures,
    Overrides,
}

impl ChartSection {
    pub const ALL: [ChartSection; 8] = [
        ChartSection::Episodes,
        ChartSection::History,
        ChartSection::Concomitant,
        ChartSection::Trials,
        ChartSection::Scales,
        ChartSection::Measurements,
        ChartSection::BloodPressures,
        ChartSection::Overrides,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChartSection::Episodes => "episodes",
            ChartSection::History => "history",
            ChartSection::Concomitant => "concomitant",
            ChartSection::Trials => "trials",
            ChartSection::Scales => "scales",
            ChartSection::Measurements => "measurements",
            ChartSection::BloodPressures => "blood_pressures",
            ChartSection::Overrides => "overrides",
        }
    }

    /// The section named in a URL; an unknown name is [`AppError::NotFound`].
    pub fn parse(text: &str) -> Result<ChartSection, AppError> {
        ChartSection::ALL
            .into_iter()
            .find(|section| section.as_str() == text)
            .ok_or_else(|| AppError::NotFound { resource: "chart section", id: text.to_owned() })
    }
}

/// One chart record as the API shows it: its fields as entered (`data`) and its bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartRecordView {
    pub record_id: String,
    pub patient_id: String,
    pub section: ChartSection,
    /// The fields of the record, in the case format of its section plus the record's own fields.
    pub data: Value,
    /// Scales only: the total computed from the items (or the total entered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    pub status: RecordStatus,
    /// For `If-Match` when amending the record.
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// The answer to a chart write: the record and the evaluation of the chart it left.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartWriteView {
    pub record: ChartRecordView,
    pub evaluation: AssessmentView,
}

/// What an explicit evaluation asks for; absent values: today, both modalities, US.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationQuery {
    pub as_of: Option<String>,
    pub modality: Option<String>,
    pub jurisdiction: Option<String>,
}

/// An evaluation of the chart computed on request (not stored): the case assembled and the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartEvaluationView {
    pub patient_id: String,
    pub as_of: String,
    pub rules_version: String,
    pub protocol_sha256: String,
    /// True for analysts: `case` then has no birth date (an age, 90 for 90 or over), no onset date (a
    /// duration), and neither `case` nor `report` has free text (trial stop reasons, override reasons and
    /// authors, drug names that are more than a drug); the decisions are those of the whole chart.
    pub de_identified: bool,
    /// The case assembled from the chart, as `ketacare assess` would read it.
    pub case: Value,
    /// The report of contracts/assess.md, exactly as `ketacare assess` prints it for that case.
    pub report: Value,
}

/// The scales a chart may hold, by their key in the case format's `scales` object.
const CASE_SCALE_KEYS: [(&str, Scale); 5] = [
    ("madrs", Scale::Madrs),
    ("phq9", Scale::Phq9),
    ("qids_sr16", Scale::QidsSr16),
    ("hamd17", Scale::Hamd17),
    ("gad7", Scale::Gad7),
];

/// The key of the C-SSRS screener among the chart's scales.
const CSSRS_KEY: &str = "cssrs";

/// A record checked and ready to store.
pub(crate) struct ValidRecord {
    pub(crate) body: Map<String, Value>,
    pub(crate) episode_id: Option<String>,
    pub(crate) recorded_on: Option<String>,
}

/// A scale result checked and ready to store.
pub(crate) struct ValidScale {
    pub(crate) scale_key: String,
    pub(crate) answers_json: Option<String>,
    pub(crate) total: Option<i64>,
    pub(crate) administered_on: String,
}

/// Either kind of chart row, as read.
#[derive(Debug, Clone)]
enum ChartRow {
    Record(ChartRecord),
    Scale(StoredScaleResult),
}

/// The chart of one patient as stored: records of every section, and scale results.
pub(crate) struct ChartRows {
    pub(crate) records: Vec<ChartRecord>,
    pub(crate) scales: Vec<StoredScaleResult>,
    /// The store's `chart_stamp` of the chart as read, to refuse a write if another changed it since.
    pub(crate) stamp: i64,
}

/// How many times a chart write is tried when another write to the same chart overtakes it: each round
/// lets at least one of the racing writes through, so this many writers at once all get through.
pub(crate) const CHART_WRITE_ATTEMPTS: usize = 10;

/// Whether a chart write lost a race with another write to the same chart (and may be tried again).
pub(crate) fn overtaken(error: &AppError) -> bool {
    matches!(error, AppError::StaleVersion { resource: "chart", .. })
}

/// A record the case reader refused, as the API's error naming the field (`(body)` for the whole record).
fn invalid_case(error: InvalidCase) -> AppError {
    let field = match error.path.as_str() {
        "" | "(record)" => "(body)".to_owned(),
        path => path.to_owned(),
    };
    AppError::Invalid { field, problem: error.problem }
}

fn as_object(body: &Value) -> Result<Map<String, Value>, AppError> {
    match body {
        Value::Object(object) => Ok(object.clone()),
        _ => Err(AppError::invalid("(body)", "must be a JSON object")),
    }
}

/// A `YYYY-MM-DD` date field, not after `today`.
fn date_field(body: &Map<String, Value>, key: &str, required: bool, today: Date) -> Result<Option<String>, AppError> {
    match body.get(key) {
        None | Some(Value::Null) if required => Err(AppError::invalid(key, "is required")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            let date: Date = ketacare_case::read_calendar_date(text).ok_or_else(|| {
                AppError::invalid(key, format!("must be a date written YYYY-MM-DD from 1900, got \"{text}\""))
            })?;
            if date > today {
                return Err(AppError::invalid(key, format!("must not be after today ({today})")));
            }
            Ok(Some(text.clone()))
        }
        Some(_) => Err(AppError::invalid(key, "must be a date written YYYY-MM-DD")),
    }
}

/// A word from a closed list, with a default when absent.
fn choice_field(body: &Map<String, Value>, key: &str, words: &[&str], default: &str) -> Result<String, AppError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(Value::String(word)) if words.contains(&word.as_str()) => Ok(word.clone()),
        Some(other) => Err(AppError::invalid(key, format!("must be one of {}, got {other}", words.join(", ")))),
    }
}

/// Refuses keys other than `allowed`: a misspelt field must never be silently ignored.
fn only_keys(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), AppError> {
    match body.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(AppError::invalid(key, "is not a known field")),
        None => Ok(()),
    }
}

/// `body` without the keys in `record_keys`: the part that is a case section.
fn case_part(body: &Map<String, Value>, record_keys: &[&str]) -> Value {
    Value::Object(
        body.iter()
            .filter(|(key, _)| !record_keys.contains(&key.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn body_of(record: &ChartRecord) -> Map<String, Value> {
    match serde_json::from_str(&record.body_json) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

fn scale_data(result: &StoredScaleResult) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("scale".to_owned(), json!(result.scale));
    data.insert("administered_on".to_owned(), json!(result.administered_on));
    let answers: Option<Value> = result.answers_json.as_deref().and_then(|text| serde_json::from_str(text).ok());
    match (answers, result.scale.as_str()) {
        (Some(answers), CSSRS_KEY) => {
            data.insert("answers".to_owned(), answers);
        }
        (Some(items), _) => {
            data.insert("items".to_owned(), items);
        }
        (None, _) => {
            data.insert("total".to_owned(), json!(result.total));
        }
    }
    data
}

fn record_view(record: ChartRecord) -> Result<ChartRecordView, AppError> {
    let section = ChartSection::parse(&record.section)
        .map_err(|_| AppError::Storage(StoreError::Corrupt(format!("unknown chart section {:?}", record.section))))?;
    Ok(ChartRecordView {
        data: Value::Object(body_of(&record)),
        record_id: record.record_id,
        patient_id: record.patient_id,
        section,
        total: None,
        status: record.status,
        version: record.version,
        created_at: record.created_at,
        created_by: record.created_by,
        updated_at: Some(record.updated_at),
        updated_by: Some(record.updated_by),
    })
}

fn scale_view(result: StoredScaleResult) -> ChartRecordView {
    ChartRecordView {
        data: Value::Object(scale_data(&result)),
        record_id: result.scale_result_id,
        patient_id: result.patient_id,
        section: ChartSection::Scales,
        total: result.total,
        status: result.status,
        version: result.version,
        created_at: result.created_at,
        created_by: result.created_by,
        updated_at: None,
        updated_by: None,
    }
}

fn row_view(row: ChartRow) -> Result<ChartRecordView, AppError> {
    match row {
        ChartRow::Record(record) => record_view(record),
        ChartRow::Scale(result) => Ok(scale_view(result)),
    }
}

/// The chart's active records and scale results as the plain facts `ketacare-case` assembles a case from.
fn chart_facts(rows: &ChartRows) -> (Vec<ChartRecordFacts>, Vec<ChartScaleFacts>) {
    let records = rows
        .records
        .iter()
        .filter(|record| record.status == RecordStatus::Active)
        .map(|record| ChartRecordFacts {
            record_id: record.record_id.clone(),
            section: record.section.clone(),
            episode_id: record.episode_id.clone(),
            recorded_on: record.recorded_on.clone(),
            body: body_of(record),
        })
        .collect();
    let scales = rows
        .scales
        .iter()
        .filter(|result| result.status == RecordStatus::Active)
        .map(|result| ChartScaleFacts {
            scale: result.scale.clone(),
            answers: result.answers_json.as_deref().and_then(|text| serde_json::from_str(text).ok()),
            total: result.total,
            administered_on: result.administered_on.clone(),
        })
        .collect();
    (records, scales)
}

/// The record id of the current episode: the most recently recorded active episode whose onset is not
/// after `as_of` (the rule of `ketacare-case`'s assembly, for the FHIR export).
pub(crate) fn current_episode_id(records: &[ChartRecord], as_of: Date) -> Option<String> {
    let facts: Vec<ChartRecordFacts> = records
        .iter()
        .filter(|record| record.status == RecordStatus::Active && record.section == "episodes")
        .map(|record| ChartRecordFacts {
            record_id: record.record_id.clone(),
            section: record.section.clone(),
            episode_id: record.episode_id.clone(),
            recorded_on: record.recorded_on.clone(),
            body: body_of(record),
        })
        .collect();
    ketacare_case::current_episode(&facts, as_of).map(|episode| episode.record_id.clone())
}

/// Assembles the case of contracts/assess.md from a patient's chart (`ketacare-case` does the assembly).
pub(crate) fn assemble_case(
    patient: &Patient,
    rows: &ChartRows,
    as_of: Date,
    modality: &str,
    jurisdiction: &str,
) -> Value {
    let (records, scales) = chart_facts(rows);
    let facts = ChartPatientFacts {
        patient_id: &patient.patient_id,
        birth_date: &patient.birth_date,
        sex_at_birth: &patient.sex_at_birth,
    };
    assemble_case_from_chart(facts, &records, &scales, as_of, modality, jurisdiction)
}

/// The case without what identifies the patient (HIPAA Safe Harbor's dates, ages over 89, free text):
/// the birth date becomes an age (90 for 90 or over), the episode's onset date a duration in completed
/// months; trial stop reasons, override reasons and authors, and drug names that are more than a drug
/// ([`withhold_free_text_drug`]) are dropped.
fn de_identify_case(mut case: Value) -> Value {
    let as_of: Option<Date> = case["as_of"].as_str().and_then(|text| text.parse().ok());
    let whole_units = |from: &str, unit: jiff::Unit| {
        let from: Date = from.parse().ok()?;
        let span = from.until((unit, as_of?)).ok()?;
        Some(if unit == jiff::Unit::Year { i64::from(span.get_years()) } else { i64::from(span.get_months()) })
    };
    if let Some(patient) = case.get_mut("patient").and_then(Value::as_object_mut)
        && let Some(Value::String(birth_date)) = patient.remove("birth_date")
    {
        let age = whole_units(&birth_date, jiff::Unit::Year).map(|years| years.min(90));
        patient.insert("age_years".to_owned(), json!(age));
    }
    if let Some(episode) = case.get_mut("episode").and_then(Value::as_object_mut)
        && let Some(Value::String(onset)) = episode.remove("onset_date")
    {
        episode.insert("duration_months".to_owned(), json!(whole_units(&onset, jiff::Unit::Month)));
    }
    for trial in case.get_mut("trials").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(trial) = trial.as_object_mut() {
            trial.remove("stop_reason");
            withhold_free_text_drug(trial);
        }
    }
    for entry in case.get_mut("overrides").and_then(Value::as_array_mut).into_iter().flatten() {
        if let Some(entry) = entry.as_object_mut() {
            entry.remove("by");
            entry.remove("reason");
        }
    }
    case
}

/// The report without the free text it echoes from the chart: an override's author and reason (each
/// finding's `overridden_by` stays, empty, so the override still shows) and a trial's drug as written
/// when it is more than a drug ([`withhold_free_text_drug`]). The decisions are untouched.
fn de_identify_report(mut report: Value) -> Value {
    let modalities = report.get_mut("eligibility").and_then(Value::as_object_mut);
    for modality in modalities.into_iter().flat_map(|modalities| modalities.values_mut()) {
        for finding in modality.get_mut("findings").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(overridden_by) = finding.get_mut("overridden_by").and_then(Value::as_object_mut) {
                overridden_by.remove("by");
                overridden_by.remove("reason");
            }
        }
    }
    let trials = report.get_mut("trd").and_then(|trd| trd.get_mut("trials")).and_then(Value::as_array_mut);
    for trial in trials.into_iter().flatten().filter_map(Value::as_object_mut) {
        withhold_free_text_drug(trial);
    }
    report
}

/// Drops a trial's `drug` as written unless the knowledge base resolves it: a name resolves only when
/// every word is a drug, brand, strength, dose form or salt (`drug_names.rs`), so a resolved name holds
/// nothing but the drug; any other text may hold anything ("sertraline per Dr X's letter").
fn withhold_free_text_drug(trial: &mut Map<String, Value>) {
    let resolves =
        trial.get("drug").and_then(Value::as_str).is_some_and(|written| resolve_drug_name(written).is_some());
    if !resolves {
        trial.remove("drug");
    }
}

impl App {
    /// Checks a record of `section` (not scales) for `patient`; `records` is the patient's chart.
    pub(crate) fn validate_record(
        &self,
        actor: &Actor,
        section: ChartSection,
        body: Map<String, Value>,
        patient: &Patient,
        records: &[ChartRecord],
    ) -> Result<ValidRecord, AppError> {
        let today = self.today();
        let mut episode_id = None;
        let mut recorded_on = None;
        let mut body = body;
        match section {
            ChartSection::Episodes => {
                if let Some(ect) = body.get("ect").filter(|ect| !ect.is_null()) {
                    parse_ect_section("ect", ect).map_err(invalid_case)?;
                }
                parse_episode_section("", &case_part(&body, &["ect"]), today).map_err(invalid_case)?;
            }
            ChartSection::History | ChartSection::Concomitant => {
                let (key, words) = match section {
                    ChartSection::History => ("code", ["active", "resolved"]),
                    _ => ("class", ["active", "stopped"]),
                };
                only_keys(&body, &[key, "clinical_status", "noted_on"])?;
                let value = body.get(key).ok_or_else(|| AppError::invalid(key, "is required"))?;
                match section {
                    ChartSection::History => parse_history_entry(key, value).map(|_| ()),
                    _ => parse_concomitant_entry(key, value).map(|_| ()),
                }
                .map_err(invalid_case)?;
                choice_field(&body, "clinical_status", &words, "active")?;
                recorded_on = date_field(&body, "noted_on", false, today)?;
            }
            ChartSection::Trials => {
                if body.contains_key("in_current_episode") {
                    return Err(AppError::invalid("in_current_episode", "is derived from episode_id; do not send it"));
                }
                let id = match body.get("episode_id") {
                    Some(Value::String(id)) => id.clone(),
                    None | Some(Value::Null) => return Err(AppError::invalid("episode_id", "is required")),
                    Some(_) => return Err(AppError::invalid("episode_id", "must be a string")),
                };
                let known = records.iter().any(|record| {
                    record.record_id == id && record.section == "episodes" && record.status == RecordStatus::Active
                });
                if !known {
                    return Err(AppError::invalid("episode_id", "is not an active episode of this patient"));
                }
                parse_trial_entry("", &case_part(&body, &["episode_id"])).map_err(invalid_case)?;
                episode_id = Some(id);
            }
            ChartSection::Measurements => {
                only_keys(&body, &["measured_on", "height_cm", "weight_kg", "pregnant", "breastfeeding"])?;
                recorded_on = date_field(&body, "measured_on", true, today)?;
                if body.len() < 2 {
                    return Err(AppError::invalid(
                        "(body)",
                        "a measurement needs one of height_cm, weight_kg, pregnant, breastfeeding",
                    ));
                }
                let mut patient_part = case_part(&body, &["measured_on"]);
                patient_part["sex_at_birth"] = json!(patient.sex_at_birth);
                parse_patient_section("", &patient_part, today).map_err(invalid_case)?;
            }
            ChartSection::BloodPressures => {
                recorded_on = date_field(&body, "measured_on", true, today)?;
                parse_bp_entry("", &case_part(&body, &["measured_on"])).map_err(invalid_case)?;
            }
            ChartSection::Overrides => {
                require(actor, Permission::RecordOverrides)?;
                if body.contains_key("by") {
                    return Err(AppError::invalid("by", "is the prescriber recording the override; do not send it"));
                }
                body.insert("by".to_owned(), json!(actor.user_id));
                parse_override_entry("", &Value::Object(body.clone())).map_err(invalid_case)?;
            }
            ChartSection::Scales => unreachable!("scales are checked by validate_scale"),
        }
        Ok(ValidRecord { body, episode_id, recorded_on })
    }

    /// Checks a scale result: `scale`, `administered_on`, and `items` or `total` (`answers` for the C-SSRS).
    pub(crate) fn validate_scale(&self, body: &Map<String, Value>) -> Result<ValidScale, AppError> {
        let today = self.today();
        let administered_on = date_field(body, "administered_on", true, today)?.unwrap_or_default();
        let key = match body.get("scale") {
            Some(Value::String(key)) => key.clone(),
            None | Some(Value::Null) => return Err(AppError::invalid("scale", "is required")),
            Some(_) => return Err(AppError::invalid("scale", "must be a string")),
        };
        if key == CSSRS_KEY {
            only_keys(body, &["scale", "administered_on", "answers"])?;
            let answers = body.get("answers").ok_or_else(|| AppError::invalid("answers", "is required"))?;
            parse_cssrs_section("answers", answers).map_err(invalid_case)?;
            return Ok(ValidScale {
                scale_key: key,
                answers_json: Some(answers.to_string()),
                total: None,
                administered_on,
            });
        }
        let Some((_, scale)) = CASE_SCALE_KEYS.iter().find(|(name, _)| *name == key) else {
            let known: Vec<&str> = CASE_SCALE_KEYS.iter().map(|(name, _)| *name).chain([CSSRS_KEY]).collect();
            return Err(AppError::invalid("scale", format!("must be one of {}, got \"{key}\"", known.join(", "))));
        };
        only_keys(body, &["scale", "administered_on", "items", "total"])?;
        let (entry_key, entry) = match (body.get("items"), body.get("total")) {
            (Some(items), None) => ("items", items),
            (None, Some(total)) => ("total", total),
            _ => return Err(AppError::invalid("items", "give either items or total")),
        };
        // The case's own reader for `scales.<key>`; its errors are renamed to this record's field.
        parse_scales_section("", &json!({ key.as_str(): entry })).map_err(|error| {
            let path = error.path.replacen(key.as_str(), entry_key, 1);
            AppError::Invalid { field: path, problem: error.problem }
        })?;
        let (answers_json, total) = match entry {
            Value::Array(items) => {
                let answers: Vec<Option<u8>> =
                    items.iter().map(|item| item.as_u64().and_then(|answer| u8::try_from(answer).ok())).collect();
                let total = score_scale(*scale, &answers, &self.protocol().scales)
                    .ok()
                    .and_then(|score| score.total())
                    .map(i64::from);
                (Some(entry.to_string()), total)
            }
            total => (None, total.as_i64()),
        };
        Ok(ValidScale { scale_key: key, answers_json, total, administered_on })
    }

    pub(crate) async fn chart_rows(&self, patient: &Patient) -> Result<ChartRows, AppError> {
        let records = self.store.chart_records(&patient.patient_id).await?;
        let scales = self.store.scale_results(&patient.patient_id).await?;
        let record_versions: Vec<i64> = records.iter().map(|record| record.version).collect();
        let scale_versions: Vec<i64> = scales.iter().map(|result| result.version).collect();
        let stamp = chart_stamp(patient.version, &record_versions, &scale_versions);
        Ok(ChartRows { records, scales, stamp })
    }

    /// Runs the assembled case through the assess path (parse, engine, render) of `ketacare assess`.
    pub(crate) fn evaluate(&self, case: &Value) -> Result<Value, AppError> {
        let facts = parse_case(case, self.today()).map_err(|error| AppError::Invalid {
            field: error.path,
            problem: format!("the chart would not make a valid case: {}", error.problem),
        })?;
        Ok(report_json(&assess_case(&facts, self.protocol())))
    }

    /// Evaluates the chart as it will stand after a write (as of today, both modalities, US) and
    /// prepares what the store writes with the record. A decision equal to `latest` (the patient's latest
    /// stored assessment, read before the write) is not stored again: the evaluation event and the answer
    /// name `latest`, which holds that decision.
    pub(crate) fn evaluation_write(
        &self,
        actor: &Actor,
        patient: &Patient,
        rows: &ChartRows,
        record_event: AuditEvent,
        latest: Option<&StoredAssessment>,
    ) -> Result<(ChartWrite, AssessmentView), AppError> {
        let case = assemble_case(patient, rows, self.today(), "both", "US");
        let report = self.evaluate(&case)?;
        let decision_json = report.to_string();
        let rules_version = ketacare_core::RULES_VERSION;
        let protocol_sha256 = &self.protocol().sha256;
        let unchanged = latest.filter(|latest| {
            latest.decision_json == decision_json
                && latest.rules_version == rules_version
                && &latest.protocol_sha256 == protocol_sha256
        });
        let (evaluation, view) = if let Some(latest) = unchanged {
            let view = AssessmentView {
                assessment_id: latest.assessment_id.clone(),
                patient_id: patient.patient_id.clone(),
                as_of: latest.as_of.clone(),
                rules_version: latest.rules_version.clone(),
                protocol_sha256: latest.protocol_sha256.clone(),
                status: latest.status,
                version: latest.version,
                created_at: latest.created_at.clone(),
                created_by: latest.created_by.clone(),
                report,
            };
            let evaluation = ChartEvaluation::Unchanged {
                patient_id: patient.patient_id.clone(),
                assessment_id: latest.assessment_id.clone(),
            };
            (evaluation, view)
        } else {
            let now = self.now();
            let evaluation = NewAssessment {
                patient_id: patient.patient_id.clone(),
                assessment_id: new_id(),
                as_of: report["as_of"].as_str().unwrap_or_default().to_owned(),
                case_json: case.to_string(),
                decision_json,
                rules_version: rules_version.to_owned(),
                protocol_sha256: protocol_sha256.clone(),
                created_at: now,
                created_by: actor.user_id.clone(),
            };
            let view = AssessmentView {
                assessment_id: evaluation.assessment_id.clone(),
                patient_id: patient.patient_id.clone(),
                as_of: evaluation.as_of.clone(),
                rules_version: evaluation.rules_version.clone(),
                protocol_sha256: evaluation.protocol_sha256.clone(),
                status: RecordStatus::Active,
                version: 1,
                created_at: ketacare_store::format_time(now),
                created_by: actor.user_id.clone(),
                report,
            };
            (ChartEvaluation::Changed(evaluation), view)
        };
        let evaluation_event = self.audit_event(
            actor,
            "chart.evaluate",
            format!("patient/{}/assessment/{}", patient.patient_id, view.assessment_id),
            Some(&patient.patient_id),
        );
        Ok((
            ChartWrite { evaluation, audit_events: vec![record_event, evaluation_event], chart_stamp: rows.stamp },
            view,
        ))
    }

    /// Checks that a correction of the patient record (birth date, sex, status) still makes a valid case
    /// with the patient's chart, and returns the decision to store once the correction is: `None` when the
    /// chart is empty (nothing to decide on yet).
    pub(crate) async fn evaluation_after_patient_change(
        &self,
        actor: &Actor,
        corrected: &Patient,
    ) -> Result<Option<(NewAssessment, AuditEvent)>, AppError> {
        let rows = self.chart_rows(corrected).await?;
        if rows.records.is_empty() && rows.scales.is_empty() {
            return Ok(None);
        }
        let resource = format!("patient/{}", corrected.patient_id);
        let patient_event = self.audit_event(actor, "patient.amend", resource, Some(&corrected.patient_id));
        // Without a latest decision to compare with, the decision is always stored (a correction is rare).
        let (mut write, _) = self.evaluation_write(actor, corrected, &rows, patient_event, None)?;
        let evaluation_event = write.audit_events.pop().expect("an evaluation write carries its evaluation event");
        let ChartEvaluation::Changed(evaluation) = write.evaluation else {
            unreachable!("a decision compared with none is stored");
        };
        Ok(Some((evaluation, evaluation_event)))
    }

    pub(crate) async fn existing_patient(&self, patient_id: &str) -> Result<Patient, AppError> {
        self.store
            .patient(patient_id)
            .await?
            .ok_or_else(|| AppError::NotFound { resource: "patient", id: patient_id.to_owned() })
    }

    /// Records a chart entry of `section`, re-evaluates the chart and stores both. With an
    /// `Idempotency-Key`, a retry of the same request returns the first answer and stores nothing.
    pub async fn create_chart_record(
        &self,
        actor: &Actor,
        patient_id: &str,
        section: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Result<Created, AppError> {
        let record_id = new_id();
        let resource = format!("patient/{patient_id}/chart/{section}/{record_id}");
        let event = self.audit_event(actor, "chart.create", resource, Some(patient_id));
        let mut attempt = 1;
        loop {
            match self.try_create_chart_record(actor, patient_id, section, body, key, &record_id, event.clone()).await {
                Ok(created) => return Ok(created),
                Err(error) if overtaken(&error) && attempt < CHART_WRITE_ATTEMPTS => attempt += 1,
                Err(error) => return Err(self.audit_failure(event, error).await),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn try_create_chart_record(
        &self,
        actor: &Actor,
        patient_id: &str,
        section: &str,
        body: &Value,
        key: Option<&str>,
        record_id: &str,
        event: AuditEvent,
    ) -> Result<Created, AppError> {
        require(actor, Permission::RecordChart)?;
        let section = ChartSection::parse(section)?;
        let key = idempotency_key(key)?;
        let request_sha256 = sha256_hex(&format!("chart\n{patient_id}\n{}\n{body}", section.as_str()));
        if let Some(key) = key
            && let Some(replayed) = self.chart_replay(actor, key, &request_sha256).await?
        {
            return Ok(replayed);
        }
        let patient = self.existing_patient(patient_id).await?;
        let mut rows = self.chart_rows(&patient).await?;
        let body = as_object(body)?;
        let now = self.now();
        let idempotent = |view: &ChartWriteView| {
            key.map(|key| IdempotentResponse {
                actor_id: actor.user_id.clone(),
                idempotency_key: key.to_owned(),
                request_sha256: request_sha256.clone(),
                status_code: 201,
                response_json: serde_json::to_string(view).expect("chart views serialize"),
            })
        };
        let stored = if section == ChartSection::Scales {
            let valid = self.validate_scale(&body)?;
            let new_result = NewScaleResult {
                patient_id: patient_id.to_owned(),
                scale_result_id: record_id.to_owned(),
                scale: valid.scale_key,
                answers_json: valid.answers_json,
                total: valid.total,
                administered_on: valid.administered_on,
                created_at: now,
                created_by: actor.user_id.clone(),
            };
            let as_stored = StoredScaleResult {
                patient_id: new_result.patient_id.clone(),
                scale_result_id: new_result.scale_result_id.clone(),
                scale: new_result.scale.clone(),
                answers_json: new_result.answers_json.clone(),
                total: new_result.total,
                administered_on: new_result.administered_on.clone(),
                status: RecordStatus::Active,
                version: 1,
                created_at: ketacare_store::format_time(now),
                created_by: actor.user_id.clone(),
            };
            rows.scales.push(as_stored.clone());
            let latest = self.store.latest_assessment(&patient.patient_id).await?;
            let (write, evaluation) = self.evaluation_write(actor, &patient, &rows, event, latest.as_ref())?;
            let view = ChartWriteView { record: scale_view(as_stored), evaluation };
            let stored = self.store.insert_chart_scale_result(&new_result, &write, idempotent(&view).as_ref()).await;
            stored.map(|result| ChartWriteView { record: scale_view(result), evaluation: view.evaluation })
        } else {
            let valid = self.validate_record(actor, section, body, &patient, &rows.records)?;
            let new_record = NewChartRecord {
                patient_id: patient_id.to_owned(),
                record_id: record_id.to_owned(),
                section: section.as_str().to_owned(),
                episode_id: valid.episode_id,
                recorded_on: valid.recorded_on,
                body_json: Value::Object(valid.body).to_string(),
                created_at: now,
                created_by: actor.user_id.clone(),
            };
            let at = ketacare_store::format_time(now);
            let as_stored = ChartRecord {
                patient_id: new_record.patient_id.clone(),
                record_id: new_record.record_id.clone(),
                section: new_record.section.clone(),
                episode_id: new_record.episode_id.clone(),
                recorded_on: new_record.recorded_on.clone(),
                body_json: new_record.body_json.clone(),
                status: RecordStatus::Active,
                version: 1,
                created_at: at.clone(),
                created_by: actor.user_id.clone(),
                updated_at: at,
                updated_by: actor.user_id.clone(),
            };
            rows.records.push(as_stored.clone());
            let latest = self.store.latest_assessment(&patient.patient_id).await?;
            let (write, evaluation) = self.evaluation_write(actor, &patient, &rows, event, latest.as_ref())?;
            let view = ChartWriteView { record: record_view(as_stored)?, evaluation };
            let stored = self.store.insert_chart_record(&new_record, &write, idempotent(&view).as_ref()).await;
            match stored {
                Ok(record) => Ok(ChartWriteView { record: record_view(record)?, evaluation: view.evaluation }),
                Err(error) => Err(error),
            }
        };
        match stored {
            Ok(view) => Ok(Created {
                resource_id: record_id.to_owned(),
                body: serde_json::to_value(&view).expect("chart views serialize"),
                replayed: false,
            }),
            Err(StoreError::Duplicate { what: "idempotency key" }) => {
                let key = key.expect("only keyed requests store a key");
                self.chart_replay(actor, key, &request_sha256)
                    .await?
                    .ok_or(AppError::Duplicate { what: "idempotency key" })
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn chart_replay(&self, actor: &Actor, key: &str, request_sha256: &str) -> Result<Option<Created>, AppError> {
        Ok(self.replay(actor, key, request_sha256).await?.map(|mut created| {
            created.resource_id = created.body["record"]["record_id"].as_str().unwrap_or_default().to_owned();
            created
        }))
    }

    async fn find_row(&self, patient_id: &str, section: ChartSection, record_id: &str) -> Result<ChartRow, AppError> {
        let not_found = || AppError::NotFound { resource: "chart record", id: record_id.to_owned() };
        if section == ChartSection::Scales {
            let result = self.store.scale_result(patient_id, record_id).await?.ok_or_else(not_found)?;
            Ok(ChartRow::Scale(result))
        } else {
            let record = self.store.chart_record(patient_id, record_id).await?.ok_or_else(not_found)?;
            if record.section != section.as_str() {
                return Err(not_found());
            }
            Ok(ChartRow::Record(record))
        }
    }

    /// The records of one section of a patient's chart (entered-in-error ones too), in the order recorded.
    pub async fn chart_section(
        &self,
        actor: &Actor,
        patient_id: &str,
        section: &str,
    ) -> Result<Vec<ChartRecordView>, AppError> {
        let resource = format!("patient/{patient_id}/chart/{section}");
        let event = self.audit_event(actor, "chart.list", resource, Some(patient_id));
        let result = async {
            require(actor, Permission::ReadChart)?;
            let section = ChartSection::parse(section)?;
            self.existing_patient(patient_id).await?;
            if section == ChartSection::Scales {
                Ok(self.store.scale_results(patient_id).await?.into_iter().map(scale_view).collect())
            } else {
                let records = self.store.chart_records(patient_id).await?;
                records.into_iter().filter(|record| record.section == section.as_str()).map(record_view).collect()
            }
        }
        .await;
        match result {
            Ok(views) => {
                self.store.append_audit(&event).await?;
                Ok(views)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// One chart record.
    pub async fn chart_record(
        &self,
        actor: &Actor,
        patient_id: &str,
        section: &str,
        record_id: &str,
    ) -> Result<ChartRecordView, AppError> {
        let resource = format!("patient/{patient_id}/chart/{section}/{record_id}");
        let event = self.audit_event(actor, "chart.read", resource, Some(patient_id));
        let result = async {
            require(actor, Permission::ReadChart)?;
            let section = ChartSection::parse(section)?;
            row_view(self.find_row(patient_id, section, record_id).await?)
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

    /// Corrects a chart record if still at `expected_version`: `body` has the `reason`, an optional
    /// `status` (`active`, `entered_in_error`) and the fields to change (`null` removes one). The
    /// prior record is kept as an amendment; the chart is re-evaluated and the decision stored.
    pub async fn amend_chart_record(
        &self,
        actor: &Actor,
        patient_id: &str,
        section: &str,
        record_id: &str,
        expected_version: i64,
        body: &Value,
    ) -> Result<ChartWriteView, AppError> {
        let resource = format!("patient/{patient_id}/chart/{section}/{record_id}");
        let event = self.audit_event(actor, "chart.amend", resource, Some(patient_id));
        let mut attempt = 1;
        loop {
            match self
                .try_amend_chart_record(actor, patient_id, section, record_id, expected_version, body, &event)
                .await
            {
                Ok(view) => return Ok(view),
                Err(error) if overtaken(&error) && attempt < CHART_WRITE_ATTEMPTS => attempt += 1,
                Err(error) => return Err(self.audit_failure(event, error).await),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn try_amend_chart_record(
        &self,
        actor: &Actor,
        patient_id: &str,
        section: &str,
        record_id: &str,
        expected_version: i64,
        body: &Value,
        event: &AuditEvent,
    ) -> Result<ChartWriteView, AppError> {
        require(actor, Permission::RecordChart)?;
        let section = ChartSection::parse(section)?;
        let mut changes = as_object(body)?;
        let reason = match changes.remove("reason") {
            Some(Value::String(reason)) if !reason.trim().is_empty() && reason.trim().len() <= 1000 => {
                reason.trim().to_owned()
            }
            _ => return Err(AppError::invalid("reason", "a correction needs a reason (1 to 1000 characters)")),
        };
        let status = match changes.remove("status") {
            None => None,
            Some(Value::String(word)) if word == "active" => Some(RecordStatus::Active),
            Some(Value::String(word)) if word == "entered_in_error" => Some(RecordStatus::EnteredInError),
            Some(other) => {
                let problem = format!("expected \"active\" or \"entered_in_error\", got {other}");
                return Err(AppError::invalid("status", problem));
            }
        };
        if section == ChartSection::Overrides && changes.contains_key("by") {
            return Err(AppError::invalid("by", "is the prescriber who recorded the override; it cannot change"));
        }
        let patient = self.existing_patient(patient_id).await?;
        let mut rows = self.chart_rows(&patient).await?;
        let prior = self.find_row(patient_id, section, record_id).await?;
        if section == ChartSection::Overrides {
            require(actor, Permission::RecordOverrides)?;
        }
        let merge = |mut data: Map<String, Value>| {
            for (key, value) in &changes {
                if value.is_null() {
                    data.remove(key);
                } else {
                    data.insert(key.clone(), value.clone());
                }
            }
            data
        };
        let meta =
            AmendmentMeta { amendment_id: new_id(), reason, amended_by: actor.user_id.clone(), amended_at: self.now() };
        match prior {
            ChartRow::Scale(prior) => {
                let mut data = scale_data(&prior);
                // Items and a total are alternatives: sending one replaces the other.
                if changes.contains_key("items") {
                    data.remove("total");
                }
                if changes.contains_key("total") {
                    data.remove("items");
                }
                let valid = self.validate_scale(&merge(data))?;
                if valid.scale_key != prior.scale {
                    return Err(AppError::invalid("scale", "cannot change; mark this result entered_in_error instead"));
                }
                let next = ScaleResultChanges {
                    answers_json: valid.answers_json,
                    total: valid.total,
                    administered_on: valid.administered_on,
                    status: status.unwrap_or(prior.status),
                };
                for result in &mut rows.scales {
                    if result.scale_result_id == record_id {
                        result.answers_json.clone_from(&next.answers_json);
                        result.total = next.total;
                        result.administered_on.clone_from(&next.administered_on);
                        result.status = next.status;
                    }
                }
                let latest = self.store.latest_assessment(&patient.patient_id).await?;
                let (write, evaluation) =
                    self.evaluation_write(actor, &patient, &rows, event.clone(), latest.as_ref())?;
                let stored = self
                    .store
                    .amend_scale_result(patient_id, record_id, expected_version, &next, &meta, &write)
                    .await?;
                Ok(ChartWriteView { record: scale_view(stored), evaluation })
            }
            ChartRow::Record(prior) => {
                let mut data = body_of(&prior);
                if section == ChartSection::Overrides {
                    data.remove("by");
                }
                let other_records: Vec<ChartRecord> =
                    rows.records.iter().filter(|record| record.record_id != record_id).cloned().collect();
                let mut valid = self.validate_record(actor, section, merge(data), &patient, &other_records)?;
                if section == ChartSection::Overrides
                    && let Some(by) = body_of(&prior).get("by")
                {
                    valid.body.insert("by".to_owned(), by.clone());
                }
                let next = ChartRecordChanges {
                    episode_id: valid.episode_id,
                    recorded_on: valid.recorded_on,
                    body_json: Value::Object(valid.body).to_string(),
                    status: status.unwrap_or(prior.status),
                };
                for record in &mut rows.records {
                    if record.record_id == record_id {
                        record.episode_id.clone_from(&next.episode_id);
                        record.recorded_on.clone_from(&next.recorded_on);
                        record.body_json.clone_from(&next.body_json);
                        record.status = next.status;
                    }
                }
                let latest = self.store.latest_assessment(&patient.patient_id).await?;
                let (write, evaluation) =
                    self.evaluation_write(actor, &patient, &rows, event.clone(), latest.as_ref())?;
                let stored = self
                    .store
                    .amend_chart_record(patient_id, record_id, expected_version, &next, &meta, &write)
                    .await?;
                Ok(ChartWriteView { record: record_view(stored)?, evaluation })
            }
        }
    }

    /// The case assembled from the patient's chart, as `ketacare assess` would read it.
    pub async fn patient_chart(
        &self,
        actor: &Actor,
        patient_id: &str,
        query: &EvaluationQuery,
    ) -> Result<Value, AppError> {
        let event = self.audit_event(actor, "chart.read", format!("patient/{patient_id}/chart"), Some(patient_id));
        match self.assembled_case(actor, patient_id, query).await {
            Ok(case) => {
                self.store.append_audit(&event).await?;
                Ok(case)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    /// The decision on the patient's chart now (or as the query asks), computed on request and not
    /// stored; the decisions stored by chart writes are the patient's assessments.
    /// Analysts get it de-identified ([`ChartEvaluationView::de_identified`]); the decision itself is
    /// made on the whole chart.
    pub async fn chart_evaluation(
        &self,
        actor: &Actor,
        patient_id: &str,
        query: &EvaluationQuery,
    ) -> Result<ChartEvaluationView, AppError> {
        let resource = format!("patient/{patient_id}/evaluation");
        let event = self.audit_event(actor, "chart.evaluate", resource, Some(patient_id));
        let result = async {
            require(actor, Permission::ReadEvaluation)?;
            let case = self.case_of_chart(patient_id, query).await?;
            let report = self.evaluate(&case)?;
            let de_identified = de_identified_only(actor.role);
            Ok(ChartEvaluationView {
                patient_id: patient_id.to_owned(),
                as_of: report["as_of"].as_str().unwrap_or_default().to_owned(),
                rules_version: ketacare_core::RULES_VERSION.to_owned(),
                protocol_sha256: self.protocol().sha256.clone(),
                de_identified,
                case: if de_identified { de_identify_case(case) } else { case },
                report: if de_identified { de_identify_report(report) } else { report },
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

    async fn assembled_case(
        &self,
        actor: &Actor,
        patient_id: &str,
        query: &EvaluationQuery,
    ) -> Result<Value, AppError> {
        require(actor, Permission::ReadChart)?;
        self.case_of_chart(patient_id, query).await
    }

    pub(crate) async fn case_of_chart(&self, patient_id: &str, query: &EvaluationQuery) -> Result<Value, AppError> {
        let as_of = match query.as_of.as_deref() {
            None => self.today(),
            Some(text) => ketacare_case::read_calendar_date(text).ok_or_else(|| {
                AppError::invalid("as_of", format!("must be a date written YYYY-MM-DD, got \"{text}\""))
            })?,
        };
        let modality = match query.modality.as_deref() {
            None => "both",
            Some(word @ ("both" | "iv_ketamine" | "esketamine")) => word,
            Some(other) => {
                return Err(AppError::invalid(
                    "modality",
                    format!("must be both, iv_ketamine or esketamine, got \"{other}\""),
                ));
            }
        };
        let jurisdiction = match query.jurisdiction.as_deref() {
            None => "US",
            Some(word @ ("US" | "EU")) => word,
            Some(other) => return Err(AppError::invalid("jurisdiction", format!("must be US or EU, got \"{other}\""))),
        };
        let patient = self.existing_patient(patient_id).await?;
        let rows = self.chart_rows(&patient).await?;
        Ok(assemble_case(&patient, &rows, as_of, modality, jurisdiction))
    }
}
