//! From a patient's record, as plain data, to FHIR R4 resources and the `$everything` Bundle. Pure: the
//! caller (ketacare-app) reads the store and hands over the facts; nothing here reads a clock, a file or
//! the environment. Codes come from KNOWLEDGE §8 (LOINC, ICD-10-CM, SNOMED CT) and the core's drug
//! knowledge base (RxNorm, ATC); what has none gets a code of ketacare's CodeSystem (`codes::KETACARE`).

use ketacare_core::drugs::{DrugEntry, resolve_drug_name};
use rust_decimal::Decimal;
use serde_json::Number;

use crate::codes::{self, KETACARE, loinc, snomed};
use crate::resources::{
    AdministrationDosage, AdministrationEffective, Annotation, Attachment, Bundle, BundleEntry, BundleEntrySearch,
    CarePlan, CarePlanActivity, CarePlanActivityDetail, CodeableConcept, Coding, Condition, Consent, ConsentProvision,
    DisplayReference, Dosage, DoseAndRate, Encounter, Extension, ExtensionValue, HumanName, Identifier,
    MedicationAdministration, MedicationRequest, MedicationStatement, Observation, ObservationComponent,
    ObservationEffective, ObservationValue, Patient, Period, Procedure, Quantity, QuestionnaireResponse,
    QuestionnaireResponseAnswer, QuestionnaireResponseItem, Reference, RequestDosage, Resource, Timing, TimingRepeat,
};

/// A patient's whole record as ketacare keeps it: the input of [`patient_everything_bundle`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatientRecord {
    pub patient: PatientFacts,
    pub episodes: Vec<EpisodeFacts>,
    pub history: Vec<HistoryFacts>,
    pub concomitant: Vec<ConcomitantFacts>,
    pub trials: Vec<TrialFacts>,
    pub scales: Vec<ScaleFacts>,
    pub measurements: Vec<MeasurementFacts>,
    pub blood_pressures: Vec<BloodPressureFacts>,
    /// The TRD determination on the chart as of the export (none when the chart makes no case yet).
    pub trd: Option<TrdDetermination>,
    /// Treatment plans (courses), oldest first.
    pub plans: Vec<PlanFacts>,
    /// Signed dose orders, oldest first.
    pub orders: Vec<OrderFacts>,
    pub sessions: Vec<SessionFacts>,
    /// Informed consents, oldest signature first.
    pub consents: Vec<ConsentFacts>,
}

/// A patient's informed consent to a treatment, as recorded (docs/consent.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsentFacts {
    pub id: String,
    /// `esketamine` or `iv_racemic_ketamine`.
    pub modality: String,
    pub form_id: String,
    pub form_version: i64,
    pub form_title: String,
    pub signed_on: String,
    pub valid_until: Option<String>,
    pub withdrawn_on: Option<String>,
    /// Empty when de-identified.
    pub signer_name: String,
    /// `patient` or `legal_representative`.
    pub signer_relationship: String,
    pub entered_in_error: bool,
}

/// The patient record (identifying: exported only to roles that read the chart).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatientFacts {
    pub id: String,
    pub mrn: Option<String>,
    pub given_name: String,
    pub family_name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `female` or `male`.
    pub sex_at_birth: String,
    pub entered_in_error: bool,
}

/// A depressive episode of the chart (section `episodes`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EpisodeFacts {
    pub id: String,
    pub entered_in_error: bool,
    /// ICD-10-CM code as recorded (`F33.2`).
    pub diagnosis: Option<String>,
    pub onset_date: Option<String>,
    /// `subsyndromal`, `mild`, `moderate`, `severe`.
    pub severity: Option<String>,
    pub psychotic_features: Option<bool>,
    /// The episode's duration when no onset date was recorded (the case's `duration_months`).
    pub duration_months: Option<Decimal>,
    /// Failed ECT courses in the episode (the case's `ect.failed_courses`).
    pub ect_failed_courses: Option<i64>,
    /// Whether ECT was bilateral (the case's `ect.bilateral`).
    pub ect_bilateral: Option<bool>,
    /// The day the record was made (`YYYY-MM-DD`).
    pub recorded_date: String,
}

/// A history finding (section `history`): a code of the contraindication list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryFacts {
    pub id: String,
    pub entered_in_error: bool,
    pub code: String,
    pub resolved: bool,
    pub noted_on: Option<String>,
    pub recorded_date: String,
}

/// A concomitant medicine by class (section `concomitant`): `maoi`, `benzodiazepine`, …
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConcomitantFacts {
    pub id: String,
    pub entered_in_error: bool,
    pub class: String,
    pub stopped: bool,
    pub noted_on: Option<String>,
    pub recorded_date: String,
}

/// An antidepressant or augmentation trial (section `trials`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrialFacts {
    pub id: String,
    pub entered_in_error: bool,
    /// The drug as written (`venlafaxine XR`); resolved against the knowledge base for its codes.
    pub drug: String,
    pub daily_dose_mg: Option<Decimal>,
    pub weeks: Option<Decimal>,
    pub improvement_pct: Option<Decimal>,
    /// `adequate`, `inadequate`, `unknown`.
    pub adherence: Option<String>,
    /// `antidepressant`, `augmentation`.
    pub role: Option<String>,
    pub stop_reason: Option<String>,
    pub in_current_episode: bool,
    /// The episode record the trial belongs to (`MedicationStatement.reasonReference`).
    pub episode_id: Option<String>,
    pub recorded_date: String,
}

/// A rating-scale result (section `scales`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScaleFacts {
    pub id: String,
    pub entered_in_error: bool,
    /// `phq9`, `gad7`, `madrs`, `qids_sr16`, `hamd17`, `cssrs`.
    pub scale: String,
    pub administered_on: String,
    /// The items as entered (`None` for an unanswered item); empty when only a total was entered.
    pub items: Vec<Option<i64>>,
    /// The total (computed by the core's scoring, or entered); `None` when it cannot be scored.
    pub total: Option<i64>,
    /// C-SSRS only: each question's key (`q1` … `q6_within_3_months`) and answer.
    pub cssrs_answers: Vec<(String, Option<bool>)>,
}

/// A measurement (section `measurements`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MeasurementFacts {
    pub id: String,
    pub entered_in_error: bool,
    pub measured_on: String,
    pub height_cm: Option<Decimal>,
    pub weight_kg: Option<Decimal>,
    pub pregnant: Option<bool>,
    pub breastfeeding: Option<bool>,
}

/// A seated screening blood pressure (section `blood_pressures`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BloodPressureFacts {
    pub id: String,
    pub entered_in_error: bool,
    pub measured_on: String,
    pub systolic_mmhg: Decimal,
    pub diastolic_mmhg: Decimal,
}

/// One TRD definition's result: its status and the agents or classes it counted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DefinitionResult {
    /// `met`, `not_met` or `indeterminate`.
    pub status: String,
    /// Failed agents (label definition) or failed classes (distinct-classes definition).
    pub counted: Vec<String>,
}

/// One trial as the TRD rules judged it, with its reason codes (`DOSE_BELOW_MINIMUM`, …).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrialJudgement {
    pub drug: String,
    pub adequate: Option<bool>,
    pub failed: Option<bool>,
    pub reasons: Vec<String>,
}

/// The TRD determination of the chart (the `trd` part of the assess report).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrdDetermination {
    /// The day it was made for (`YYYY-MM-DD`).
    pub as_of: String,
    /// `lt25`, `lt50`: the improvement below which an adequate trial failed.
    pub failure_threshold: String,
    pub label: DefinitionResult,
    pub distinct_classes: DefinitionResult,
    pub trials: Vec<TrialJudgement>,
    /// `ketacare-rules/0.1.0` and the protocol's SHA-256, kept in a note.
    pub rules_version: String,
    pub protocol_sha256: String,
    /// The trial records it was derived from (their ids).
    pub trial_ids: Vec<String>,
}

/// A treatment plan: a course of sessions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanFacts {
    pub id: String,
    /// `active`, `cancelled` or `entered_in_error`.
    pub status: String,
    /// `iv_racemic_ketamine` or `esketamine`.
    pub modality: String,
    /// When it was prescribed (a FHIR instant).
    pub created_at: String,
    pub sessions: Vec<PlannedSessionFacts>,
}

/// One session of a plan's schedule.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlannedSessionFacts {
    pub session_number: Option<i64>,
    /// The protocol's step and phase (`induction`, `continuation`).
    pub step: String,
    pub phase: String,
    /// A FHIR dateTime with its UTC offset.
    pub planned_at: String,
    /// `scheduled`, `completed`, `missed` or `cancelled`.
    pub status: String,
    /// The treatment session that took place for it.
    pub treatment_session_id: Option<String>,
}

/// A signed dose order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderFacts {
    pub id: String,
    /// `active`, `discontinued` or `entered_in_error`.
    pub status: String,
    /// `iv_racemic_ketamine` or `esketamine`.
    pub modality: String,
    pub plan_id: Option<String>,
    pub dose_mg: Decimal,
    /// How it is given, in words (`0.5 mg/kg (35 mg) IV over 40 min`).
    pub instruction: String,
    /// When it was signed (a FHIR instant).
    pub signed_at: String,
}

/// A treatment session with its vital signs and doses.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionFacts {
    pub id: String,
    pub entered_in_error: bool,
    /// The session document's modality: `iv_racemic_ketamine` or `esketamine`.
    pub modality: String,
    /// When the session was opened (a FHIR instant).
    pub started_at: String,
    /// When the patient was discharged (a FHIR instant); `None` while the session is in progress.
    pub discharged_at: Option<String>,
    pub vital_signs: Vec<VitalSignsFacts>,
    pub administrations: Vec<AdministrationFacts>,
}

/// One observation of a session's timeline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VitalSignsFacts {
    /// The observation's order of entry in its session.
    pub sequence: i64,
    pub entered_in_error: bool,
    /// A FHIR dateTime with its UTC offset (`2026-11-28T09:50:00-05:00`).
    pub at: String,
    pub systolic_mmhg: Option<Decimal>,
    pub diastolic_mmhg: Option<Decimal>,
    pub heart_rate_bpm: Option<Decimal>,
    pub spo2_percent: Option<Decimal>,
    pub respiratory_rate_per_min: Option<Decimal>,
    pub moaas: Option<i64>,
    pub cadss_total: Option<i64>,
    pub bprs_positive_total: Option<i64>,
}

/// A dose given in a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdministrationFacts {
    pub id: String,
    pub entered_in_error: bool,
    /// `esketamine` or `ketamine`.
    pub drug: String,
    pub dose_mg: Decimal,
    pub lot_number: String,
    /// FHIR dateTimes with their UTC offsets.
    pub started_at: String,
    pub ended_at: Option<String>,
    pub device_count: Option<i64>,
}

// ---- small builders ----

fn coding(system: &str, code: &str, display: Option<&str>) -> Coding {
    Coding { system: system.to_owned(), code: code.to_owned(), display: display.map(str::to_owned) }
}

fn concept(codings: Vec<Coding>, text: Option<&str>) -> CodeableConcept {
    CodeableConcept { coding: codings, text: text.map(str::to_owned) }
}

fn ketacare_concept(code: &str) -> CodeableConcept {
    let display = codes::ketacare_display(code);
    concept(vec![coding(KETACARE, code, display)], display)
}

fn loinc_concept(code: &str, display: &str) -> CodeableConcept {
    concept(vec![coding(codes::LOINC, code, Some(display))], Some(display))
}

fn patient_reference(patient_id: &str) -> Reference {
    Reference { reference: format!("Patient/{patient_id}") }
}

/// A decimal as a JSON number with the decimal's own digits (serde_json keeps the text: arbitrary_precision).
pub fn decimal_number(value: Decimal) -> Number {
    value.normalize().to_string().parse().expect("a decimal's text is a JSON number")
}

fn ucum(value: Decimal, unit: &str) -> Quantity {
    Quantity {
        value: decimal_number(value),
        unit: unit.to_owned(),
        system: codes::UCUM.to_owned(),
        code: unit.to_owned(),
    }
}

fn score(value: i64) -> Quantity {
    ucum(Decimal::from(value), "{score}")
}

fn category(code: &str, display: &str) -> CodeableConcept {
    concept(vec![coding(codes::OBSERVATION_CATEGORY, code, Some(display))], None)
}

fn vital_signs_category() -> Vec<CodeableConcept> {
    vec![category("vital-signs", "Vital Signs")]
}

fn survey_category() -> Vec<CodeableConcept> {
    vec![category("survey", "Survey")]
}

fn observation_status(entered_in_error: bool) -> String {
    if entered_in_error { "entered-in-error" } else { "final" }.to_owned()
}

fn unknown_reason() -> CodeableConcept {
    concept(vec![coding(codes::DATA_ABSENT_REASON, "unknown", Some("Unknown"))], None)
}

fn extension(name: &str, value: ExtensionValue) -> Extension {
    Extension { url: format!("{}/{name}", codes::KETACARE_EXTENSION_BASE), value }
}

fn new_observation(id: String, patient_id: &str, code: CodeableConcept, effective: &str) -> Observation {
    Observation {
        id,
        meta: None,
        extension: Vec::new(),
        status: "final".to_owned(),
        category: Vec::new(),
        code,
        subject: patient_reference(patient_id),
        effective: Some(ObservationEffective::DateTime(effective.to_owned())),
        issued: None,
        value: None,
        data_absent_reason: None,
        note: Vec::new(),
        derived_from: Vec::new(),
        component: Vec::new(),
    }
}

fn component(code: CodeableConcept, value: Option<ObservationValue>) -> ObservationComponent {
    let data_absent_reason = if value.is_none() { Some(unknown_reason()) } else { None };
    ObservationComponent { code, value, data_absent_reason }
}

/// The codes of a drug of the knowledge base: RxNorm ingredient and ATC where KNOWLEDGE §1.4 gives them.
fn drug_codings(entry: &DrugEntry) -> Vec<Coding> {
    let mut codings = Vec::new();
    if let Some(rxcui) = entry.rxcui_ingredient {
        codings.push(coding(codes::RXNORM, rxcui, Some(entry.ingredient)));
    }
    if let Some(atc) = entry.atc {
        codings.push(coding(codes::ATC, atc, Some(entry.ingredient)));
    }
    codings
}

/// A medication concept for a drug written by a person: the knowledge base's codes when the name
/// resolves to one ingredient, and the name as written in `text` either way.
pub fn medication_concept(written: &str) -> CodeableConcept {
    let codings = resolve_drug_name(written).map(|resolved| drug_codings(resolved.entry)).unwrap_or_default();
    concept(codings, Some(written))
}

// ---- one mapping per kind of record ----

/// `Patient`: name, MRN, sex at birth as `gender`, birth date; `active` false when entered in error.
pub fn patient_resource(facts: &PatientFacts) -> Patient {
    Patient {
        id: facts.id.clone(),
        identifier: facts
            .mrn
            .iter()
            .map(|mrn| Identifier { system: codes::KETACARE_MRN.to_owned(), value: mrn.clone() })
            .collect(),
        active: !facts.entered_in_error,
        name: vec![HumanName {
            name_use: "official".to_owned(),
            family: facts.family_name.clone(),
            given: vec![facts.given_name.clone()],
        }],
        gender: match facts.sex_at_birth.as_str() {
            "female" | "male" => Some(facts.sex_at_birth.clone()),
            _ => Some("unknown".to_owned()),
        },
        birth_date: Some(facts.birth_date.clone()).filter(|date| !date.is_empty()),
    }
}

/// KNOWLEDGE §8.2: the SNOMED CT concept of an ICD-10-CM depressive-disorder code, where one is given.
fn snomed_of_icd10cm(code: &str) -> Option<(&'static str, &'static str)> {
    let normalized: String = code.chars().filter(|c| *c != '.').collect::<String>().to_ascii_uppercase();
    if normalized == "F331" {
        Some((snomed::MODERATE_RECURRENT_MAJOR_DEPRESSION, "Moderate recurrent major depression"))
    } else if normalized.starts_with("F33") {
        Some((snomed::RECURRENT_MAJOR_DEPRESSION, "Recurrent major depression"))
    } else if normalized.starts_with("F32") && normalized.len() == 4 && normalized.as_bytes()[3].is_ascii_digit() {
        // F32.0–F32.9: MDD, single episode (F32.8x and F32.A are other depressive disorders: no concept here).
        Some((snomed::MDD_SINGLE_EPISODE, "Major depression, single episode"))
    } else if normalized.starts_with("F32") {
        Some((snomed::DEPRESSIVE_DISORDER, "Depressive disorder"))
    } else {
        None
    }
}

fn condition_statuses(entered_in_error: bool, resolved: bool) -> (Option<CodeableConcept>, CodeableConcept) {
    if entered_in_error {
        // con-5: no clinical status on a condition entered in error.
        let verification =
            concept(vec![coding(codes::CONDITION_VERIFICATION, "entered-in-error", Some("Entered in Error"))], None);
        return (None, verification);
    }
    let (code, display) = if resolved { ("resolved", "Resolved") } else { ("active", "Active") };
    let clinical = concept(vec![coding(codes::CONDITION_CLINICAL, code, Some(display))], None);
    let verification = concept(vec![coding(codes::CONDITION_VERIFICATION, "confirmed", Some("Confirmed"))], None);
    (Some(clinical), verification)
}

/// `Condition` for a depressive episode: the ICD-10-CM diagnosis with its SNOMED CT concept (KNOWLEDGE
/// §8.2), the severity, onset, and psychotic features as an extension.
pub fn episode_condition(patient_id: &str, facts: &EpisodeFacts) -> Condition {
    let (clinical_status, verification_status) = condition_statuses(facts.entered_in_error, false);
    let mut codings = Vec::new();
    if let Some(diagnosis) = &facts.diagnosis {
        codings.push(coding(codes::ICD10CM, diagnosis, None));
        if let Some((code, display)) = snomed_of_icd10cm(diagnosis) {
            codings.push(coding(codes::SNOMED, code, Some(display)));
        }
    }
    let text = facts
        .diagnosis
        .as_deref()
        .map_or("Depressive episode".to_owned(), |code| format!("Depressive episode ({code})"));
    Condition {
        id: facts.id.clone(),
        extension: episode_extensions(facts),
        clinical_status,
        verification_status,
        category: vec![concept(
            vec![coding(codes::CONDITION_CATEGORY, "problem-list-item", Some("Problem List Item"))],
            None,
        )],
        severity: facts
            .severity
            .as_deref()
            .map(|severity| concept(vec![coding(KETACARE, &format!("severity-{severity}"), None)], Some(severity))),
        code: concept(codings, Some(&text)),
        subject: patient_reference(patient_id),
        onset_date_time: facts.onset_date.clone(),
        recorded_date: Some(facts.recorded_date.clone()).filter(|date| !date.is_empty()),
    }
}

/// An episode's extensions: psychotic features, the duration when no onset was recorded, and ECT.
fn episode_extensions(facts: &EpisodeFacts) -> Vec<Extension> {
    let mut extensions = Vec::new();
    if let Some(psychotic) = facts.psychotic_features {
        extensions.push(extension("psychotic-features", ExtensionValue::Boolean(psychotic)));
    }
    if let Some(months) = facts.duration_months {
        extensions.push(extension("episode-duration-months", ExtensionValue::Decimal(decimal_number(months))));
    }
    if let Some(courses) = facts.ect_failed_courses {
        extensions.push(extension("ect-failed-courses", ExtensionValue::Integer(courses)));
    }
    if let Some(bilateral) = facts.ect_bilateral {
        extensions.push(extension("ect-bilateral", ExtensionValue::Boolean(bilateral)));
    }
    extensions
}

/// `Condition` for a history finding (a contraindication-list code of ketacare's CodeSystem).
pub fn history_condition(patient_id: &str, facts: &HistoryFacts) -> Condition {
    let (clinical_status, verification_status) = condition_statuses(facts.entered_in_error, facts.resolved);
    Condition {
        id: facts.id.clone(),
        extension: Vec::new(),
        clinical_status,
        verification_status,
        category: vec![concept(
            vec![coding(codes::CONDITION_CATEGORY, "problem-list-item", Some("Problem List Item"))],
            None,
        )],
        severity: None,
        code: concept(vec![coding(KETACARE, &format!("history-{}", facts.code), None)], Some(&facts.code)),
        subject: patient_reference(patient_id),
        onset_date_time: facts.noted_on.clone(),
        recorded_date: Some(facts.recorded_date.clone()).filter(|date| !date.is_empty()),
    }
}

/// `MedicationStatement` for an antidepressant or augmentation trial: RxNorm and ATC of the resolved
/// ingredient, the daily dose, and the trial's weeks, improvement, adherence and role as extensions.
pub fn trial_statement(patient_id: &str, facts: &TrialFacts) -> MedicationStatement {
    let mut extensions = Vec::new();
    if let Some(weeks) = facts.weeks {
        extensions.push(extension("trial-weeks", ExtensionValue::Decimal(decimal_number(weeks))));
    }
    if let Some(improvement) = facts.improvement_pct {
        extensions.push(extension("trial-improvement-pct", ExtensionValue::Decimal(decimal_number(improvement))));
    }
    if let Some(adherence) = &facts.adherence {
        extensions.push(extension("trial-adherence", ExtensionValue::Code(adherence.clone())));
    }
    extensions.push(extension(
        "trial-role",
        ExtensionValue::Code(facts.role.clone().unwrap_or_else(|| "antidepressant".to_owned())),
    ));
    extensions.push(extension("trial-in-current-episode", ExtensionValue::Boolean(facts.in_current_episode)));
    MedicationStatement {
        id: facts.id.clone(),
        extension: extensions,
        status: if facts.entered_in_error { "entered-in-error" } else { "completed" }.to_owned(),
        status_reason: facts.stop_reason.iter().map(|reason| concept(Vec::new(), Some(reason))).collect(),
        category: Some(concept(
            vec![coding(codes::MEDICATION_STATEMENT_CATEGORY, "community", Some("Community"))],
            None,
        )),
        medication_codeable_concept: medication_concept(&facts.drug),
        subject: patient_reference(patient_id),
        effective_date_time: None,
        date_asserted: Some(facts.recorded_date.clone()).filter(|date| !date.is_empty()),
        reason_reference: facts
            .episode_id
            .iter()
            .map(|episode_id| Reference { reference: format!("Condition/{episode_id}") })
            .collect(),
        dosage: facts.daily_dose_mg.map(daily_dosage).into_iter().collect(),
    }
}

fn daily_dosage(daily_dose_mg: Decimal) -> Dosage {
    Dosage {
        text: format!("{} mg daily", daily_dose_mg.normalize()),
        timing: Timing {
            repeat: TimingRepeat { frequency: 1, period: decimal_number(Decimal::ONE), period_unit: "d".to_owned() },
        },
        dose_and_rate: vec![DoseAndRate { dose_quantity: ucum(daily_dose_mg, "mg") }],
    }
}

/// `MedicationStatement` for a concomitant medicine recorded by class (ketacare's CodeSystem).
pub fn concomitant_statement(patient_id: &str, facts: &ConcomitantFacts) -> MedicationStatement {
    let status = if facts.entered_in_error {
        "entered-in-error"
    } else if facts.stopped {
        "stopped"
    } else {
        "active"
    };
    MedicationStatement {
        id: facts.id.clone(),
        extension: Vec::new(),
        status: status.to_owned(),
        status_reason: Vec::new(),
        category: None,
        medication_codeable_concept: concept(
            vec![coding(KETACARE, &format!("concomitant-{}", facts.class), None)],
            Some(&facts.class),
        ),
        subject: patient_reference(patient_id),
        effective_date_time: facts.noted_on.clone(),
        date_asserted: Some(facts.recorded_date.clone()).filter(|date| !date.is_empty()),
        reason_reference: Vec::new(),
        dosage: Vec::new(),
    }
}

/// The code of a scale's total: LOINC where KNOWLEDGE §8.1 gives one, else ketacare's.
fn scale_total_code(scale: &str) -> CodeableConcept {
    match scale {
        "phq9" => loinc_concept(loinc::PHQ9_TOTAL, "PHQ-9 total score"),
        "gad7" => loinc_concept(loinc::GAD7_TOTAL, "GAD-7 total score"),
        "madrs" => ketacare_concept("madrs-total"),
        "qids_sr16" => ketacare_concept("qids-sr16-total"),
        "hamd17" => ketacare_concept("hamd17-total"),
        "cssrs" => ketacare_concept("cssrs-screen"),
        other => concept(Vec::new(), Some(other)),
    }
}

/// The item codes of a scale, where KNOWLEDGE gives them (PHQ-9 with its difficulty question, GAD-7).
fn scale_item_codes(scale: &str) -> &'static [&'static str] {
    const PHQ9_WITH_DIFFICULTY: [&str; 10] = [
        loinc::PHQ9_ITEMS[0],
        loinc::PHQ9_ITEMS[1],
        loinc::PHQ9_ITEMS[2],
        loinc::PHQ9_ITEMS[3],
        loinc::PHQ9_ITEMS[4],
        loinc::PHQ9_ITEMS[5],
        loinc::PHQ9_ITEMS[6],
        loinc::PHQ9_ITEMS[7],
        loinc::PHQ9_ITEMS[8],
        loinc::PHQ9_DIFFICULTY,
    ];
    match scale {
        "phq9" => &PHQ9_WITH_DIFFICULTY,
        "gad7" => &loinc::GAD7_ITEMS,
        _ => &[],
    }
}

/// `Observation` for a scale result: the total (`{score}`), the items as components where they have LOINC
/// codes (KNOWLEDGE §5.1, §5.5); the C-SSRS as one component per question (ketacare codes, booleans).
pub fn scale_observation(patient_id: &str, facts: &ScaleFacts) -> Observation {
    let mut observation =
        new_observation(facts.id.clone(), patient_id, scale_total_code(&facts.scale), &facts.administered_on);
    observation.status = observation_status(facts.entered_in_error);
    observation.category = survey_category();
    if facts.scale == "cssrs" {
        observation.component = facts
            .cssrs_answers
            .iter()
            .map(|(question, answer)| {
                let code = format!("cssrs-{}", question.replace('_', "-"));
                component(
                    concept(vec![coding(KETACARE, &code, None)], Some(question)),
                    answer.map(ObservationValue::Boolean),
                )
            })
            .collect();
        observation.data_absent_reason = Some(concept(
            vec![coding(codes::DATA_ABSENT_REASON, "not-applicable", Some("Not Applicable"))],
            Some("the screener's answers are its components"),
        ));
        return observation;
    }
    match facts.total {
        Some(total) => observation.value = Some(ObservationValue::Quantity(score(total))),
        None => observation.data_absent_reason = Some(unknown_reason()),
    }
    let item_codes = scale_item_codes(&facts.scale);
    if !item_codes.is_empty() {
        observation.component = facts
            .items
            .iter()
            .zip(item_codes)
            .map(|(answer, code)| {
                component(concept(vec![coding(codes::LOINC, code, None)], None), answer.map(ObservationValue::Integer))
            })
            .collect();
    }
    observation
}

/// A PHQ-9 or GAD-7 given item by item as a `QuestionnaireResponse` on its LOINC panel's questionnaire
/// (KNOWLEDGE §8.3: scale answers → QuestionnaireResponse + Observation), each item by its LOINC code with
/// its score; `None` for a total-only result or another scale. Its id is the Observation's with `-answers`.
pub fn scale_questionnaire_response(patient_id: &str, facts: &ScaleFacts) -> Option<QuestionnaireResponse> {
    let panel = match facts.scale.as_str() {
        "phq9" => loinc::PHQ9_PANEL,
        "gad7" => loinc::GAD7_PANEL,
        _ => return None,
    };
    if facts.items.is_empty() {
        return None;
    }
    let item = facts
        .items
        .iter()
        .zip(scale_item_codes(&facts.scale))
        .map(|(answer, code)| QuestionnaireResponseItem {
            link_id: (*code).to_owned(),
            answer: answer.map(|value_integer| QuestionnaireResponseAnswer { value_integer }).into_iter().collect(),
        })
        .collect();
    Some(QuestionnaireResponse {
        id: format!("{}-answers", facts.id),
        questionnaire: format!("http://loinc.org/q/{panel}"),
        status: if facts.entered_in_error { "entered-in-error" } else { "completed" }.to_owned(),
        subject: patient_reference(patient_id),
        authored: facts.administered_on.clone(),
        item,
    })
}

/// `Observation`s of a measurement: body weight and height (LOINC, UCUM), pregnancy and breastfeeding
/// (ketacare codes, booleans), one per value given.
pub fn measurement_observations(patient_id: &str, facts: &MeasurementFacts) -> Vec<Observation> {
    let mut observations = Vec::new();
    let mut add = |suffix: &str, code: CodeableConcept, value: ObservationValue, vital: bool| {
        let mut observation = new_observation(format!("{}-{suffix}", facts.id), patient_id, code, &facts.measured_on);
        observation.status = observation_status(facts.entered_in_error);
        observation.category = if vital { vital_signs_category() } else { vec![category("exam", "Exam")] };
        observation.value = Some(value);
        observations.push(observation);
    };
    if let Some(weight) = facts.weight_kg {
        add(
            "weight",
            loinc_concept(loinc::BODY_WEIGHT, "Body weight"),
            ObservationValue::Quantity(ucum(weight, "kg")),
            true,
        );
    }
    if let Some(height) = facts.height_cm {
        add(
            "height",
            loinc_concept(loinc::BODY_HEIGHT, "Body height"),
            ObservationValue::Quantity(ucum(height, "cm")),
            true,
        );
    }
    if let Some(pregnant) = facts.pregnant {
        add("pregnancy", ketacare_concept("pregnancy-status"), ObservationValue::Boolean(pregnant), false);
    }
    if let Some(breastfeeding) = facts.breastfeeding {
        add("breastfeeding", ketacare_concept("breastfeeding-status"), ObservationValue::Boolean(breastfeeding), false);
    }
    observations
}

fn bp_panel(id: String, patient_id: &str, at: &str, systolic: Decimal, diastolic: Decimal) -> Observation {
    let mut observation = new_observation(id, patient_id, loinc_concept(loinc::BP_PANEL, "Blood pressure panel"), at);
    observation.category = vital_signs_category();
    observation.component = vec![
        component(
            loinc_concept(loinc::SYSTOLIC, "Systolic blood pressure"),
            Some(ObservationValue::Quantity(ucum(systolic, "mm[Hg]"))),
        ),
        component(
            loinc_concept(loinc::DIASTOLIC, "Diastolic blood pressure"),
            Some(ObservationValue::Quantity(ucum(diastolic, "mm[Hg]"))),
        ),
    ];
    observation
}

/// `Observation` for a screening blood pressure: the BP panel 85354-9 with systolic 8480-6 and
/// diastolic 8462-4 components in mm[Hg] (KNOWLEDGE §8.1).
pub fn blood_pressure_observation(patient_id: &str, facts: &BloodPressureFacts) -> Observation {
    let mut observation =
        bp_panel(facts.id.clone(), patient_id, &facts.measured_on, facts.systolic_mmhg, facts.diastolic_mmhg);
    observation.status = observation_status(facts.entered_in_error);
    observation
}

fn status_concept(status: &str) -> CodeableConcept {
    ketacare_concept(status)
}

/// `Observation` for the TRD determination (ketacare code `trd-determination`): a component per
/// definition with its status, one per failed agent and per counted class, one per trial reason, and the
/// failure threshold; `derivedFrom` the trials; the rules version and protocol in a note.
pub fn trd_observation(patient_id: &str, trd: &TrdDetermination) -> Observation {
    let mut observation =
        new_observation(format!("trd-{patient_id}"), patient_id, ketacare_concept("trd-determination"), &trd.as_of);
    observation.status = "final".to_owned();
    observation.value = Some(ObservationValue::CodeableConcept(status_concept(&trd.label.status)));
    let mut components = vec![
        component(
            ketacare_concept("trd-label-definition"),
            Some(ObservationValue::CodeableConcept(status_concept(&trd.label.status))),
        ),
        component(
            ketacare_concept("trd-distinct-classes-definition"),
            Some(ObservationValue::CodeableConcept(status_concept(&trd.distinct_classes.status))),
        ),
        component(
            ketacare_concept("trd-failure-threshold"),
            Some(ObservationValue::String(trd.failure_threshold.clone())),
        ),
    ];
    for agent in &trd.label.counted {
        components.push(component(ketacare_concept("trd-failed-agent"), Some(ObservationValue::String(agent.clone()))));
    }
    for class in &trd.distinct_classes.counted {
        components.push(component(ketacare_concept("trd-failed-class"), Some(ObservationValue::String(class.clone()))));
    }
    for trial in &trd.trials {
        for reason in &trial.reasons {
            components.push(component(
                ketacare_concept("trd-trial-reason"),
                Some(ObservationValue::String(format!("{}: {reason}", trial.drug))),
            ));
        }
    }
    observation.component = components;
    observation.derived_from =
        trd.trial_ids.iter().map(|id| Reference { reference: format!("MedicationStatement/{id}") }).collect();
    observation.note = vec![Annotation {
        text: format!(
            "Decided by {} under the site protocol with SHA-256 {}; the value is the label definition's status.",
            trd.rules_version, trd.protocol_sha256
        ),
    }];
    observation
}

/// `Observation`s of one session observation: the BP panel, heart rate, SpO2 (2708-6 and 59408-5),
/// respiratory rate (vital signs, LOINC and UCUM), and MOAA/S, CADSS and BPRS positive (ketacare codes).
pub fn session_vital_sign_observations(
    patient_id: &str,
    session_id: &str,
    facts: &VitalSignsFacts,
) -> Vec<Observation> {
    let status = observation_status(facts.entered_in_error);
    let id = |suffix: &str| format!("{session_id}-{}-{suffix}", facts.sequence);
    let mut observations = Vec::new();
    if let (Some(systolic), Some(diastolic)) = (facts.systolic_mmhg, facts.diastolic_mmhg) {
        observations.push(bp_panel(id("bp"), patient_id, &facts.at, systolic, diastolic));
    }
    let mut single = |suffix: &str, code: CodeableConcept, value: ObservationValue, vital: bool| {
        let mut observation = new_observation(id(suffix), patient_id, code, &facts.at);
        observation.category = if vital { vital_signs_category() } else { survey_category() };
        observation.value = Some(value);
        observations.push(observation);
    };
    if let Some(rate) = facts.heart_rate_bpm {
        single(
            "hr",
            loinc_concept(loinc::HEART_RATE, "Heart rate"),
            ObservationValue::Quantity(ucum(rate, "/min")),
            true,
        );
    }
    if let Some(spo2) = facts.spo2_percent {
        let code = concept(
            vec![
                coding(codes::LOINC, loinc::SPO2_ARTERIAL, Some("Oxygen saturation in Arterial blood")),
                coding(
                    codes::LOINC,
                    loinc::SPO2_PULSE_OXIMETRY,
                    Some("Oxygen saturation in Arterial blood by Pulse oximetry"),
                ),
            ],
            Some("SpO2"),
        );
        single("spo2", code, ObservationValue::Quantity(ucum(spo2, "%")), true);
    }
    if let Some(rate) = facts.respiratory_rate_per_min {
        single(
            "rr",
            loinc_concept(loinc::RESPIRATORY_RATE, "Respiratory rate"),
            ObservationValue::Quantity(ucum(rate, "/min")),
            true,
        );
    }
    if let Some(moaas) = facts.moaas {
        single("moaas", ketacare_concept("moaas"), ObservationValue::Integer(moaas), false);
    }
    if let Some(cadss) = facts.cadss_total {
        single("cadss", ketacare_concept("cadss-total"), ObservationValue::Quantity(score(cadss)), false);
    }
    if let Some(bprs) = facts.bprs_positive_total {
        single("bprs", ketacare_concept("bprs-positive-total"), ObservationValue::Quantity(score(bprs)), false);
    }
    for observation in &mut observations {
        observation.status.clone_from(&status);
        observation.extension = vec![session_extension(session_id)];
    }
    observations
}

/// The `treatment-session` extension: the resource was recorded in a treatment session (import leaves
/// such resources out: sessions are recorded only through the session workflow).
fn session_extension(session_id: &str) -> Extension {
    extension(TREATMENT_SESSION_EXTENSION, ExtensionValue::String(session_id.to_owned()))
}

/// The name of the extension that marks a resource recorded in a treatment session.
pub const TREATMENT_SESSION_EXTENSION: &str = "treatment-session";

/// `MedicationAdministration` for a dose given in a session: the drug's RxNorm/ATC codes, the dose in
/// mg, the start (and end of an infusion), the lot number and device count as extensions.
pub fn administration_resource(patient_id: &str, facts: &AdministrationFacts) -> MedicationAdministration {
    let mut extensions = vec![extension("lot-number", ExtensionValue::String(facts.lot_number.clone()))];
    if let Some(devices) = facts.device_count {
        extensions.push(extension("device-count", ExtensionValue::Decimal(Number::from(devices))));
    }
    let effective = match &facts.ended_at {
        Some(end) => {
            AdministrationEffective::Period(Period { start: Some(facts.started_at.clone()), end: Some(end.clone()) })
        }
        None => AdministrationEffective::DateTime(facts.started_at.clone()),
    };
    let route = if facts.drug == "esketamine" { "nasal" } else { "intravenous" };
    MedicationAdministration {
        id: facts.id.clone(),
        extension: extensions,
        status: if facts.entered_in_error { "entered-in-error" } else { "completed" }.to_owned(),
        medication_codeable_concept: medication_concept(&facts.drug),
        subject: patient_reference(patient_id),
        effective,
        dosage: Some(AdministrationDosage {
            text: Some(format!("{} mg {route}", facts.dose_mg.normalize())),
            route: Some(concept(Vec::new(), Some(route))),
            dose: ucum(facts.dose_mg, "mg"),
        }),
        note: Vec::new(),
    }
}

/// The session as an `Encounter` (ambulatory, typed by modality; finished once discharged) and the
/// treatment given in it as a `Procedure` in that Encounter (KNOWLEDGE §8.3: Session → Encounter +
/// Procedure). Both carry the session's id: the Encounter's own, the Procedure's `{session}-treatment`.
pub fn session_encounter_and_procedure(patient_id: &str, session: &SessionFacts) -> (Encounter, Procedure) {
    let period = Period { start: Some(session.started_at.clone()), end: session.discharged_at.clone() };
    let (encounter_status, procedure_status) = match (session.entered_in_error, &session.discharged_at) {
        (true, _) => ("entered-in-error", "entered-in-error"),
        (false, Some(_)) => ("finished", "completed"),
        (false, None) => ("in-progress", "in-progress"),
    };
    let session_type = ketacare_concept(&format!("treatment-session-{}", session.modality));
    let encounter = Encounter {
        id: session.id.clone(),
        status: encounter_status.to_owned(),
        class: coding(codes::V3_ACT_CODE, "AMB", Some("ambulatory")),
        encounter_type: vec![session_type.clone()],
        subject: patient_reference(patient_id),
        period: period.clone(),
    };
    let procedure = Procedure {
        id: format!("{}-treatment", session.id),
        extension: vec![session_extension(&session.id)],
        status: procedure_status.to_owned(),
        code: session_type,
        subject: patient_reference(patient_id),
        encounter: Reference { reference: format!("Encounter/{}", session.id) },
        performed_period: period,
    };
    (encounter, procedure)
}

/// A treatment plan as a `CarePlan`: each scheduled session an activity (coded like its Encounter), with the
/// session's Encounter as its outcome once it took place.
pub fn plan_care_plan(patient_id: &str, plan: &PlanFacts) -> CarePlan {
    let code = ketacare_concept(&format!("treatment-session-{}", plan.modality));
    let activity = plan
        .sessions
        .iter()
        .map(|session| {
            let (status, reason) = match session.status.as_str() {
                "completed" => ("completed", None),
                "missed" => ("cancelled", Some("missed")),
                "cancelled" => ("cancelled", None),
                _ => ("scheduled", None),
            };
            let number = session.session_number.map_or_else(String::new, |number| format!(" {number}"));
            CarePlanActivity {
                outcome_reference: session
                    .treatment_session_id
                    .iter()
                    .map(|id| Reference { reference: format!("Encounter/{id}") })
                    .collect(),
                detail: CarePlanActivityDetail {
                    code: code.clone(),
                    status: status.to_owned(),
                    status_reason: reason.map(|text| concept(Vec::new(), Some(text))),
                    scheduled_period: Period { start: Some(session.planned_at.clone()), end: None },
                    description: format!("Session{number}: {} ({})", session.phase, session.step),
                },
            }
        })
        .collect();
    CarePlan {
        id: plan.id.clone(),
        status: match plan.status.as_str() {
            "cancelled" => "revoked",
            "entered_in_error" => "entered-in-error",
            _ => "active",
        }
        .to_owned(),
        intent: "plan".to_owned(),
        title: format!(
            "{} course",
            codes::ketacare_display(&format!("treatment-session-{}", plan.modality)).unwrap_or("Treatment")
        ),
        subject: patient_reference(patient_id),
        period: Period {
            start: plan.sessions.first().map(|session| session.planned_at.clone()),
            end: plan.sessions.last().map(|session| session.planned_at.clone()),
        },
        created: plan.created_at.clone(),
        activity,
    }
}

/// A signed dose order as a `MedicationRequest` (intent `order`), based on its plan when it has one.
pub fn order_medication_request(patient_id: &str, order: &OrderFacts) -> MedicationRequest {
    let (drug, route) =
        if order.modality == "esketamine" { ("esketamine", "nasal") } else { ("ketamine", "intravenous") };
    MedicationRequest {
        id: order.id.clone(),
        status: match order.status.as_str() {
            "discontinued" => "stopped",
            "entered_in_error" => "entered-in-error",
            _ => "active",
        }
        .to_owned(),
        intent: "order".to_owned(),
        medication_codeable_concept: medication_concept(drug),
        subject: patient_reference(patient_id),
        authored_on: order.signed_at.clone(),
        based_on: order.plan_id.iter().map(|plan| Reference { reference: format!("CarePlan/{plan}") }).collect(),
        dosage_instruction: vec![RequestDosage {
            text: order.instruction.clone(),
            route: concept(Vec::new(), Some(route)),
            dose_and_rate: vec![DoseAndRate { dose_quantity: ucum(order.dose_mg, "mg") }],
        }],
    }
}

/// A consent as a FHIR `Consent` (scope `treatment`, category LOINC 59284-0, policy rule `OPTIN`), its
/// provision permitting the treatment from the signature to the withdrawal or the end of its validity.
pub fn consent_resource(patient_id: &str, consent: &ConsentFacts) -> Consent {
    let drug = if consent.modality == "esketamine" { "esketamine" } else { "ketamine" };
    let status = if consent.entered_in_error {
        "entered-in-error"
    } else if consent.withdrawn_on.is_some() {
        "inactive"
    } else {
        "active"
    };
    let mut extension = Vec::new();
    if !consent.signer_name.is_empty() {
        extension.push(Extension {
            url: format!("{}/consent-signer-relationship", codes::KETACARE_EXTENSION_BASE),
            value: ExtensionValue::Code(consent.signer_relationship.clone()),
        });
    }
    Consent {
        id: consent.id.clone(),
        extension,
        status: status.to_owned(),
        scope: concept(
            vec![coding("http://terminology.hl7.org/CodeSystem/consentscope", "treatment", Some("Treatment"))],
            None,
        ),
        category: vec![concept(vec![coding(codes::LOINC, "59284-0", Some("Patient Consent"))], None)],
        patient: patient_reference(patient_id),
        date_time: consent.signed_on.clone(),
        performer: if consent.signer_name.is_empty() {
            Vec::new()
        } else {
            vec![DisplayReference { display: consent.signer_name.clone() }]
        },
        source_attachment: Attachment {
            content_type: "text/plain".to_owned(),
            url: format!("urn:ketacare:consent-form:{}:{}", consent.form_id, consent.form_version),
            title: format!("{} (version {})", consent.form_title, consent.form_version),
        },
        policy_rule: concept(
            vec![coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", Some("opt-in"))],
            None,
        ),
        provision: ConsentProvision {
            provision_type: "permit".to_owned(),
            period: Period {
                start: Some(consent.signed_on.clone()),
                end: consent.withdrawn_on.clone().or_else(|| consent.valid_until.clone()),
            },
            code: vec![medication_concept(drug)],
        },
    }
}

/// Every resource of a patient's record, in the Bundle's order: the Patient, Conditions,
/// MedicationStatements, Observations (chart, then TRD), CarePlans and MedicationRequests (plans and dose
/// orders), then per session its Encounter and Procedure, vital signs and doses.
pub fn patient_resources(record: &PatientRecord) -> Vec<Resource> {
    let patient_id = record.patient.id.as_str();
    let mut resources = vec![Resource::Patient(patient_resource(&record.patient))];
    for episode in &record.episodes {
        resources.push(Resource::Condition(episode_condition(patient_id, episode)));
    }
    for finding in &record.history {
        resources.push(Resource::Condition(history_condition(patient_id, finding)));
    }
    for trial in &record.trials {
        resources.push(Resource::MedicationStatement(trial_statement(patient_id, trial)));
    }
    for medicine in &record.concomitant {
        resources.push(Resource::MedicationStatement(concomitant_statement(patient_id, medicine)));
    }
    let observation = |observation: Observation| Resource::Observation(Box::new(observation));
    for result in &record.scales {
        resources.push(observation(scale_observation(patient_id, result)));
        resources.extend(scale_questionnaire_response(patient_id, result).map(Resource::QuestionnaireResponse));
    }
    for measurement in &record.measurements {
        resources.extend(measurement_observations(patient_id, measurement).into_iter().map(observation));
    }
    for reading in &record.blood_pressures {
        resources.push(observation(blood_pressure_observation(patient_id, reading)));
    }
    if let Some(trd) = &record.trd {
        resources.push(observation(trd_observation(patient_id, trd)));
    }
    for plan in &record.plans {
        resources.push(Resource::CarePlan(plan_care_plan(patient_id, plan)));
    }
    for order in &record.orders {
        resources.push(Resource::MedicationRequest(order_medication_request(patient_id, order)));
    }
    for consent in &record.consents {
        resources.push(Resource::Consent(consent_resource(patient_id, consent)));
    }
    for session in &record.sessions {
        let (encounter, procedure) = session_encounter_and_procedure(patient_id, session);
        resources.push(Resource::Encounter(encounter));
        resources.push(Resource::Procedure(procedure));
        for vital_signs in &session.vital_signs {
            let mut facts = vital_signs.clone();
            facts.entered_in_error |= session.entered_in_error;
            resources
                .extend(session_vital_sign_observations(patient_id, &session.id, &facts).into_iter().map(observation));
        }
        for administration in &session.administrations {
            let mut facts = administration.clone();
            facts.entered_in_error |= session.entered_in_error;
            let mut resource = administration_resource(patient_id, &facts);
            resource.extension.push(session_extension(&session.id));
            resources.push(Resource::MedicationAdministration(resource));
        }
    }
    resources
}

/// The answer of `Patient/{id}/$everything`: a `searchset` Bundle with the Patient (`match`) and every
/// other resource of the record (`include`). `timestamp` is when it was assembled (a FHIR instant).
pub fn patient_everything_bundle(record: &PatientRecord, bundle_id: &str, timestamp: Option<&str>) -> Bundle {
    let entry: Vec<BundleEntry> = patient_resources(record)
        .into_iter()
        .map(|resource| {
            let mode = if matches!(resource, Resource::Patient(_)) { "match" } else { "include" };
            BundleEntry { full_url: None, resource, search: Some(BundleEntrySearch { mode: mode.to_owned() }) }
        })
        .collect();
    Bundle {
        id: bundle_id.to_owned(),
        bundle_type: "searchset".to_owned(),
        timestamp: timestamp.map(str::to_owned),
        total: Some(entry.len() as u64),
        entry,
    }
}
