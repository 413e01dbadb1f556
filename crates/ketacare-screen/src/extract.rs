//! From one NDJSON line to the facts the screen needs: dated drug events, diagnoses, PHQ-9 totals
//! and patients. This is the hot path: a byte pre-scan reads `resourceType` and drops the resource
//! types the screen does not use (and Observations that cannot be PHQ-9) before any JSON parsing;
//! the rest are parsed with serde_json into borrowed structs that skip every other field.

use std::borrow::Cow;

use ketacare_core::drugs::{
    DRUGS, DrugEntry, DrugRole, drug_by_rxcui, drug_index, drug_named_in_text, minimum_dose_in_text,
};
use memchr::memmem;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;

use crate::dates::{DayNumber, parse_date_prefix};
use crate::json_shape::is_one_json_object;

const RXNORM_SYSTEM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const ICD10CM_SYSTEM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
const SNOMED_SYSTEM: &str = "http://snomed.info/sct";
/// KNOWLEDGE §8.1: PHQ-9 total score.
const PHQ9_TOTAL_LOINC: &str = "44261-6";
/// KNOWLEDGE §8.2: SNOMED CT concepts for depressive disorder / MDD.
const MDD_SNOMED_CODES: &[&str] = &["35489007", "370143000", "36923009", "66344007", "310496002"];

/// One dated medication fact: a dispense, a request, a statement or an administration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrugEvent {
    pub date: DayNumber,
    /// Days covered when the resource says; `None` means the preset's `default_days_supply`.
    pub days_covered: Option<i32>,
    pub daily_dose_mg: Option<f32>,
    /// The formulation's minimum daily dose when the medication's name gives one that differs from the
    /// ingredient's (KNOWLEDGE §1.3: paroxetine CR 25 mg, bupropion hydrobromide 348 mg).
    pub formulation_minimum_mg: Option<f32>,
    /// Index into [`DRUGS`].
    pub drug: u16,
}

impl DrugEvent {
    pub fn entry(&self) -> &'static DrugEntry {
        &DRUGS[usize::from(self.drug)]
    }
}

/// The diagnosis families the screen distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiagnosisKind {
    MajorDepressiveDisorder,
    Bipolar,
    Psychosis,
    Dementia,
}

/// A dated diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnosis {
    pub date: DayNumber,
    pub kind: DiagnosisKind,
}

/// What one line contributed.
#[derive(Debug, PartialEq)]
pub enum LineFact<'a> {
    Patient {
        id: Cow<'a, str>,
        birth_date: Option<DayNumber>,
    },
    Drug {
        patient: Cow<'a, str>,
        event: DrugEvent,
    },
    Diagnoses {
        patient: Cow<'a, str>,
        date: DayNumber,
        kinds: Vec<DiagnosisKind>,
    },
    Phq9 {
        patient: Cow<'a, str>,
        date: DayNumber,
        total: f32,
    },
    /// A resource the screen does not use, or one that carries nothing usable (no date, no known drug, ignored status).
    Nothing,
}

/// A line that is not a FHIR resource the screen can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct MalformedLine {
    pub reason: String,
}

/// The resource types the screen reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UsedType {
    Patient,
    Condition,
    MedicationRequest,
    MedicationDispense,
    MedicationStatement,
    MedicationAdministration,
    Observation,
}

/// Precompiled searchers, built once per worker.
#[derive(Debug, Clone)]
pub struct LineScanner {
    resource_type_finder: memmem::Finder<'static>,
    phq9_finder: memmem::Finder<'static>,
    unicode_escape_finder: memmem::Finder<'static>,
}

impl Default for LineScanner {
    fn default() -> Self {
        LineScanner {
            resource_type_finder: memmem::Finder::new(b"\"resourceType\""),
            phq9_finder: memmem::Finder::new(PHQ9_TOTAL_LOINC.as_bytes()),
            unicode_escape_finder: memmem::Finder::new(b"\\u"),
        }
    }
}

/// Reads the value of the top-level `"resourceType"` key of a line without parsing the JSON. Servers
/// write it first, so the check that a match is at the top level (not inside a contained resource or a
/// string) usually looks at a single `{`; otherwise it walks the bytes before the match once.
fn scan_resource_type<'a>(scanner: &LineScanner, line: &'a [u8]) -> Option<&'a [u8]> {
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    let mut scanned_to = 0;
    for found in scanner.resource_type_finder.find_iter(line) {
        for &byte in &line[scanned_to..found] {
            if in_string {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else {
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
            }
        }
        scanned_to = found;
        if in_string || depth != 1 {
            continue;
        }
        // A top-level `"resourceType"` that no colon follows is a value (`"status":"resourceType"`),
        // not the key: the key may still come later.
        match resource_type_value(&line[found + b"\"resourceType\"".len()..]) {
            ResourceTypeValue::NotAKey => continue,
            ResourceTypeValue::Key(value) => return value,
        }
    }
    None
}

/// What follows a top-level `"resourceType"` string.
enum ResourceTypeValue<'a> {
    /// No colon: the string is a value, not a key.
    NotAKey,
    /// The key, with its value's bytes as written when that value is a string.
    Key(Option<&'a [u8]>),
}

/// The string after `: ` following a `"resourceType"` key.
fn resource_type_value(rest: &[u8]) -> ResourceTypeValue<'_> {
    let mut position = 0;
    while position < rest.len() && matches!(rest[position], b' ' | b'\t' | b'\r' | b'\n') {
        position += 1;
    }
    if rest.get(position) != Some(&b':') {
        return ResourceTypeValue::NotAKey;
    }
    position += 1;
    while position < rest.len() && matches!(rest[position], b' ' | b'\t' | b'\r' | b'\n') {
        position += 1;
    }
    if rest.get(position) != Some(&b'"') {
        return ResourceTypeValue::Key(None);
    }
    let start = position + 1;
    ResourceTypeValue::Key(memchr::memchr(b'"', &rest[start..]).map(|length| &rest[start..start + length]))
}

/// Only the top-level `resourceType`, for [`top_level_resource_type`]'s exact path.
#[derive(Deserialize)]
struct ResourceTypeOnly<'a> {
    #[serde(borrow, default, rename = "resourceType")]
    resource_type: Option<Cow<'a, str>>,
}

/// The line's top-level `resourceType`, as a full JSON parse reads it. The byte scan answers for
/// the lines servers write (the key spelled plainly, its value without escapes); a line where it finds
/// no such key, or a value with a backslash, is parsed, so that an escaped key or value
/// (`"resource\u0054ype"`, `"Pat\u0069ent"`) means what it says, as it does to any JSON reader.
fn top_level_resource_type<'a>(scanner: &LineScanner, line: &'a [u8]) -> Option<Cow<'a, [u8]>> {
    match scan_resource_type(scanner, line) {
        Some(value) if memchr::memchr(b'\\', value).is_none() => Some(Cow::Borrowed(value)),
        _ => {
            // Only an object has keys: serde would read a struct from an array too, by position
            // (`["Patient"]` would be a Patient; found by the screen_line_vs_serde fuzz target).
            let first = line.iter().find(|byte| !matches!(byte, b' ' | b'\t' | b'\r' | b'\n'));
            if first != Some(&b'{') {
                return None;
            }
            let parsed = serde_json::from_slice::<ResourceTypeOnly>(line).ok()?.resource_type?;
            Some(Cow::Owned(parsed.into_owned().into_bytes()))
        }
    }
}

impl LineScanner {
    /// Whether the pre-scan alone rules the line out (a type the screen does not read, or an
    /// Observation that does not mention the PHQ-9 total code). Used by the raw-parse comparison.
    pub fn is_skipped_by_prescan(&self, line: &[u8]) -> bool {
        match top_level_resource_type(self, line) {
            Some(resource_type) => match used_type(&resource_type) {
                None => true,
                Some(UsedType::Observation) => !self.may_be_phq9(line),
                Some(_) => false,
            },
            None => false,
        }
    }

    /// Whether an Observation line can hold the PHQ-9 total code: it names it as written, or it has a
    /// `\u` escape that could spell it (`44261\u002d6`), in which case only a parse can tell.
    fn may_be_phq9(&self, line: &[u8]) -> bool {
        self.phq9_finder.find(line).is_some() || self.unicode_escape_finder.find(line).is_some()
    }

    /// Extracts what the screen needs from one line. `as_of` drops facts dated after it.
    pub fn extract<'a>(&self, line: &'a [u8], as_of: DayNumber) -> Result<LineFact<'a>, MalformedLine> {
        let Some(resource_type) = top_level_resource_type(self, line) else {
            return Err(malformed_json(line, "no \"resourceType\" string"));
        };
        // Unused types, and Observations that cannot be PHQ-9 totals, are dropped without parsing.
        let read_as = match used_type(&resource_type) {
            Some(UsedType::Observation) if !self.may_be_phq9(line) => None,
            other => other,
        };
        let Some(used) = read_as else {
            // A dropped line's shape is still checked, so that a truncated line or two lines glued
            // together (the usual damage) are counted as malformed whatever their type.
            if !is_one_json_object(line) {
                return Err(malformed_json(line, "not a single JSON object"));
            }
            return Ok(LineFact::Nothing);
        };
        let parsed = match used {
            UsedType::Patient => extract_patient(line),
            UsedType::Condition => extract_condition(line),
            UsedType::MedicationRequest => extract_medication_request(line),
            UsedType::MedicationDispense => extract_medication_dispense(line),
            UsedType::MedicationStatement => extract_medication_statement(line),
            UsedType::MedicationAdministration => extract_medication_administration(line),
            UsedType::Observation => extract_phq9(line),
        }
        .map_err(|error| MalformedLine {
            reason: format!("invalid {}: {}", used_name(used), describe_json_error(&error)),
        })?;
        Ok(match parsed {
            LineFact::Drug { event, .. } if event.date > as_of => LineFact::Nothing,
            LineFact::Diagnoses { date, .. } | LineFact::Phq9 { date, .. } if date > as_of => LineFact::Nothing,
            other => other,
        })
    }
}

/// A serde_json error without its message, which can quote a value from the line (patient data):
/// only the kind of error and the column.
pub fn describe_json_error(error: &serde_json::Error) -> String {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value or type",
        serde_json::error::Category::Eof => "unexpected end of line",
    };
    format!("{kind} at column {}", error.column())
}

fn malformed_json(line: &[u8], fallback: &str) -> MalformedLine {
    match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
        Err(error) => MalformedLine { reason: format!("invalid JSON: {}", describe_json_error(&error)) },
        Ok(_) => MalformedLine { reason: fallback.to_string() },
    }
}

fn used_type(resource_type: &[u8]) -> Option<UsedType> {
    Some(match resource_type {
        b"Patient" => UsedType::Patient,
        b"Condition" => UsedType::Condition,
        b"MedicationRequest" => UsedType::MedicationRequest,
        b"MedicationDispense" => UsedType::MedicationDispense,
        b"MedicationStatement" => UsedType::MedicationStatement,
        b"MedicationAdministration" => UsedType::MedicationAdministration,
        b"Observation" => UsedType::Observation,
        _ => return None,
    })
}

fn used_name(used: UsedType) -> &'static str {
    match used {
        UsedType::Patient => "Patient",
        UsedType::Condition => "Condition",
        UsedType::MedicationRequest => "MedicationRequest",
        UsedType::MedicationDispense => "MedicationDispense",
        UsedType::MedicationStatement => "MedicationStatement",
        UsedType::MedicationAdministration => "MedicationAdministration",
        UsedType::Observation => "Observation",
    }
}

// ---- Borrowed FHIR shapes: only the fields the screen reads; serde skips the rest. ----

#[derive(Deserialize, Default)]
struct Coding<'a> {
    #[serde(borrow, default)]
    system: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    display: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct CodeableConcept<'a> {
    #[serde(borrow, default)]
    coding: Vec<Coding<'a>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Reference<'a> {
    #[serde(borrow, default)]
    reference: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Period<'a> {
    #[serde(borrow, default)]
    start: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    end: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Quantity<'a> {
    #[serde(default)]
    value: Option<f64>,
    #[serde(borrow, default)]
    unit: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ContainedResource<'a> {
    #[serde(borrow, default, rename = "resourceType")]
    resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<CodeableConcept<'a>>,
}

#[derive(Deserialize, Default)]
struct TimingRepeat<'a> {
    #[serde(default)]
    frequency: Option<f64>,
    #[serde(default)]
    period: Option<f64>,
    #[serde(borrow, default, rename = "periodUnit")]
    period_unit: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct Timing<'a> {
    #[serde(borrow, default)]
    repeat: Option<TimingRepeat<'a>>,
}

#[derive(Deserialize, Default)]
struct DoseAndRate<'a> {
    #[serde(borrow, default, rename = "doseQuantity")]
    dose_quantity: Option<Quantity<'a>>,
}

#[derive(Deserialize, Default)]
struct Dosage<'a> {
    #[serde(borrow, default)]
    timing: Option<Timing<'a>>,
    #[serde(borrow, default, rename = "doseAndRate")]
    dose_and_rate: Vec<DoseAndRate<'a>>,
}

/// The medication fields shared by the four medication resources.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MedicationResource<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subject: Option<Reference<'a>>,
    #[serde(borrow, default)]
    medication_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    medication_reference: Option<Reference<'a>>,
    #[serde(borrow, default)]
    contained: Vec<ContainedResource<'a>>,
    #[serde(borrow, default)]
    dosage_instruction: Vec<Dosage<'a>>,
    // MedicationRequest
    #[serde(borrow, default)]
    authored_on: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dispense_request: Option<DispenseRequest<'a>>,
    // MedicationDispense
    #[serde(borrow, default)]
    when_handed_over: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    when_prepared: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    days_supply: Option<Quantity<'a>>,
    // MedicationStatement, MedicationAdministration
    #[serde(borrow, default)]
    effective_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    effective_period: Option<Period<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DispenseRequest<'a> {
    #[serde(borrow, default)]
    expected_supply_duration: Option<Quantity<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatientResource<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    birth_date: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConditionResource<'a> {
    #[serde(borrow, default)]
    subject: Option<Reference<'a>>,
    #[serde(borrow, default)]
    code: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    verification_status: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    onset_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    recorded_date: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObservationResource<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subject: Option<Reference<'a>>,
    #[serde(borrow, default)]
    code: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    value_quantity: Option<Quantity<'a>>,
    #[serde(default)]
    value_integer: Option<f64>,
    #[serde(borrow, default)]
    effective_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    effective_period: Option<Period<'a>>,
    #[serde(borrow, default)]
    issued: Option<Cow<'a, str>>,
}

/// `Patient/123` → `123`; `urn:uuid:abc` → `abc`; anything else as written.
pub fn patient_id_from_reference(reference: &str) -> &str {
    if let Some(rest) = reference.strip_prefix("urn:uuid:") {
        return rest;
    }
    match reference.rfind("Patient/") {
        Some(at) => {
            let rest = &reference[at + "Patient/".len()..];
            rest.split('/').next().unwrap_or(rest)
        }
        None => reference,
    }
}

/// The patient id of a `subject`, borrowed from the line unless the reference had JSON escapes.
fn subject_id<'a>(subject: &Option<Reference<'a>>) -> Option<Cow<'a, str>> {
    match subject.as_ref()?.reference.as_ref()? {
        Cow::Borrowed(text) => Some(Cow::Borrowed(patient_id_from_reference(text))),
        Cow::Owned(text) => Some(Cow::Owned(patient_id_from_reference(text).to_string())),
    }
}

fn extract_patient(line: &[u8]) -> Result<LineFact<'_>, serde_json::Error> {
    let patient: PatientResource = serde_json::from_slice(line)?;
    Ok(LineFact::Patient { birth_date: patient.birth_date.as_deref().and_then(parse_date_prefix), id: patient.id })
}

/// ICD-10-CM families (contract "From resources to dated drug events"; reading 13).
pub fn classify_icd10cm(code: &str) -> Option<DiagnosisKind> {
    let mut normalized = [0u8; 8];
    let mut length = 0;
    for byte in code.bytes().filter(|byte| *byte != b'.') {
        if length == normalized.len() {
            return None;
        }
        normalized[length] = byte.to_ascii_uppercase();
        length += 1;
    }
    let code = &normalized[..length];
    match code {
        b"F320" | b"F321" | b"F322" | b"F323" | b"F324" | b"F325" | b"F329" => {
            Some(DiagnosisKind::MajorDepressiveDisorder)
        }
        b"F330" | b"F331" | b"F332" | b"F333" | b"F338" | b"F339" => Some(DiagnosisKind::MajorDepressiveDisorder),
        _ if code.starts_with(b"F334") => Some(DiagnosisKind::MajorDepressiveDisorder),
        _ if code.starts_with(b"F31") => Some(DiagnosisKind::Bipolar),
        [b'F', b'2', digit, ..] if digit.is_ascii_digit() => Some(DiagnosisKind::Psychosis),
        [b'F', b'0', b'0'..=b'3', ..] => Some(DiagnosisKind::Dementia),
        _ if code.starts_with(b"G30") => Some(DiagnosisKind::Dementia),
        _ => None,
    }
}

fn extract_condition(line: &[u8]) -> Result<LineFact<'_>, serde_json::Error> {
    let condition: ConditionResource = serde_json::from_slice(line)?;
    let entered_in_error = condition
        .verification_status
        .as_ref()
        .is_some_and(|status| status.coding.iter().any(|coding| coding.code.as_deref() == Some("entered-in-error")));
    if entered_in_error {
        return Ok(LineFact::Nothing);
    }
    let Some(patient) = subject_id(&condition.subject) else { return Ok(LineFact::Nothing) };
    let Some(date) =
        condition.onset_date_time.as_deref().or(condition.recorded_date.as_deref()).and_then(parse_date_prefix)
    else {
        return Ok(LineFact::Nothing);
    };
    let mut kinds = Vec::new();
    for coding in condition.code.iter().flat_map(|code| code.coding.iter()) {
        let (Some(system), Some(code)) = (coding.system.as_deref(), coding.code.as_deref()) else { continue };
        let kind = match system {
            ICD10CM_SYSTEM => classify_icd10cm(code),
            SNOMED_SYSTEM if MDD_SNOMED_CODES.contains(&code) => Some(DiagnosisKind::MajorDepressiveDisorder),
            _ => None,
        };
        if let Some(kind) = kind.filter(|kind| !kinds.contains(kind)) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Ok(LineFact::Nothing);
    }
    Ok(LineFact::Diagnoses { patient, date, kinds })
}

/// A medication resolved against the knowledge base.
struct ResolvedMedication {
    drug: &'static DrugEntry,
    formulation_minimum_mg: Option<f32>,
}

/// The knowledge-base drug a medication concept names: by RxNorm code first, then by name in its
/// `text` or any coding's `display` (reading 14); and the formulation's minimum dose where the names give one.
fn drug_of_concept(concept: &CodeableConcept) -> Option<ResolvedMedication> {
    let by_code = concept.coding.iter().find_map(|coding| {
        if coding.system.as_deref() == Some(RXNORM_SYSTEM) {
            coding.code.as_deref().and_then(drug_by_rxcui)
        } else {
            None
        }
    });
    let names = || concept.text.iter().chain(concept.coding.iter().filter_map(|coding| coding.display.as_ref()));
    let drug = by_code.or_else(|| names().find_map(|name| drug_named_in_text(name)))?;
    let formulation_minimum_mg = names()
        .filter_map(|name| minimum_dose_in_text(drug, name))
        .filter(|minimum| Some(*minimum) != drug.min_daily_dose_mg)
        .max()
        .and_then(|minimum| minimum.to_f32());
    Some(ResolvedMedication { drug, formulation_minimum_mg })
}

fn drug_of_medication(resource: &MedicationResource) -> Option<ResolvedMedication> {
    if let Some(concept) = &resource.medication_codeable_concept {
        return drug_of_concept(concept);
    }
    let reference = resource.medication_reference.as_ref()?.reference.as_deref()?;
    let contained_id = reference.strip_prefix('#')?;
    let contained = resource.contained.iter().find(|contained| {
        contained.id.as_deref() == Some(contained_id) && contained.resource_type.as_deref() == Some("Medication")
    })?;
    drug_of_concept(contained.code.as_ref()?)
}

/// Days in a FHIR `Duration` (UCUM `d`, `wk`, `mo`, `a`; plain-word units too).
fn duration_in_days(quantity: &Quantity) -> Option<i32> {
    let value = quantity.value?;
    let unit = quantity.code.as_deref().or(quantity.unit.as_deref()).unwrap_or("d");
    let factor = match unit.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => 1.0,
        "wk" | "week" | "weeks" => 7.0,
        "mo" | "month" | "months" => 30.0,
        "a" | "year" | "years" => 365.0,
        _ => return None,
    };
    let days = (value * factor).round();
    (0.0..100_000.0).contains(&days).then_some(days as i32)
}

/// Daily dose in mg: `dosageInstruction[0].doseAndRate[0].doseQuantity` (mg, g or µg) times the daily
/// frequency of `timing.repeat` (`frequency` per `period` `periodUnit`); once a day when no timing is given.
fn daily_dose_mg(dosages: &[Dosage]) -> Option<f32> {
    let dosage = dosages.first()?;
    let quantity = dosage.dose_and_rate.first()?.dose_quantity.as_ref()?;
    let value = quantity.value?;
    let unit = quantity.code.as_deref().or(quantity.unit.as_deref())?;
    let milligrams = match unit.to_ascii_lowercase().as_str() {
        "mg" | "milligram" | "milligrams" => value,
        "g" | "gram" | "grams" => value * 1000.0,
        "ug" | "mcg" | "µg" | "microgram" | "micrograms" => value / 1000.0,
        _ => return None,
    };
    let per_day = match dosage.timing.as_ref().and_then(|timing| timing.repeat.as_ref()) {
        None => 1.0,
        Some(repeat) => {
            let frequency = repeat.frequency.unwrap_or(1.0);
            let period = repeat.period.unwrap_or(1.0);
            let period_in_days = match repeat.period_unit.as_deref().unwrap_or("d") {
                "s" => period / 86_400.0,
                "min" => period / 1440.0,
                "h" => period / 24.0,
                "d" => period,
                "wk" => period * 7.0,
                "mo" => period * 30.0,
                "a" => period * 365.0,
                _ => return None,
            };
            if period_in_days <= 0.0 {
                return None;
            }
            frequency / period_in_days
        }
    };
    let daily = milligrams * per_day;
    (daily.is_finite() && daily >= 0.0).then_some(daily as f32)
}

fn drug_fact<'a>(
    patient: Option<Cow<'a, str>>,
    medication: Option<ResolvedMedication>,
    date: Option<DayNumber>,
    days_covered: Option<i32>,
    daily_dose_mg: Option<f32>,
) -> LineFact<'a> {
    match (patient, medication, date) {
        (Some(patient), Some(medication), Some(date)) => LineFact::Drug {
            patient,
            event: DrugEvent {
                date,
                days_covered,
                daily_dose_mg,
                formulation_minimum_mg: medication.formulation_minimum_mg,
                drug: drug_index(medication.drug) as u16,
            },
        },
        _ => LineFact::Nothing,
    }
}

fn extract_medication_request(line: &[u8]) -> Result<LineFact<'_>, serde_json::Error> {
    let request: MedicationResource = serde_json::from_slice(line)?;
    if matches!(request.status.as_deref(), Some("entered-in-error" | "cancelled")) {
        return Ok(LineFact::Nothing);
    }
    let days = request.dispense_request.as_ref().and_then(|dispense| dispense.expected_supply_duration.as_ref());
    Ok(drug_fact(
        subject_id(&request.subject),
        drug_of_medication(&request),
        request.authored_on.as_deref().and_then(parse_date_prefix),
        days.and_then(duration_in_days),
        daily_dose_mg(&request.dosage_instruction),
    ))
}

fn extract_medication_dispense(line: &[u8]) -> Result<LineFact<'_>, serde_json::Error> {
    let dispense: MedicationResource = serde_json::from_slice(line)?;
    if matches!(dispense.status.as_deref(), Some("entered-in-error" | "cancelled" | "declined")) {
        return Ok(LineFact::Nothing);
    }
    let date = dispense.when_handed_over.as_deref().or(dispense.when_prepared.as_deref()).and_then(parse_date_prefix);
    let days = dispense.days_supply.as_ref().and_then(|quantity| quantity.value).map(|days| days.round() as i32);
    Ok(drug_fact(
        subject_id(&dispense.subject),
        drug_of_medication(&dispense),
        date,
        days.filter(|days| *days >= 0),
        daily_dose_mg(&dispense.dosage_instruction),
    ))
}

fn extract_medication_statement(line: &[u8]) -> Result<LineFact<'_>, serde_json::Error> {
    let statement: MedicationResource = serde_json::from_slice(line)?;
    // The contract names request and dispense statuses; an entered-in-error statement is equally void.
    if statement.status.as_deref() == Some("entered-in-error") {
        return Ok(LineFact::Nothing);
    }
    let period = statement.effective_period.as_ref();
    let start = statement
        .effective_date_time
        .as_deref()
        .or(period.and_then(|period| period.start.as_deref()))
        .and_then(parse_date_prefix);
    let end = period.and_then(|period| period.end.as_deref()).and_then(parse_date_prefix);
    // Reading 2: the period covers [start date, end date); at least the start day itself.
    let days = match (start, end) {
        (Some(start), Some(end)) => Some((end - start).max(1)),
        _ => None,
    };
    // Reading 12: no dose from MedicationStatement.
    Ok(drug_fact(subject_id(&statement.subject), drug_of_medication(&statement), start, days, None))
}

fn extract_medication_administration(line: &[u8]) -> Result<LineFact<'_>, serde_json::Error> {
    let administration: MedicationResource = serde_json::from_slice(line)?;
    if administration.status.as_deref() == Some("entered-in-error") {
        return Ok(LineFact::Nothing);
    }
    let date = administration
        .effective_date_time
        .as_deref()
        .or(administration.effective_period.as_ref().and_then(|period| period.start.as_deref()))
        .and_then(parse_date_prefix);
    // The contract reads administrations for ketamine / esketamine history only; other drugs given in
    // hospital are not antidepressant events (the event dates of the contract do not include them).
    let ketamine = drug_of_medication(&administration).filter(|medication| medication.drug.role == DrugRole::Ketamine);
    Ok(drug_fact(subject_id(&administration.subject), ketamine, date, Some(1), None))
}

fn extract_phq9(line: &[u8]) -> Result<LineFact<'_>, serde_json::Error> {
    let observation: ObservationResource = serde_json::from_slice(line)?;
    if matches!(observation.status.as_deref(), Some("entered-in-error" | "cancelled")) {
        return Ok(LineFact::Nothing);
    }
    let is_phq9 = observation
        .code
        .as_ref()
        .is_some_and(|code| code.coding.iter().any(|coding| coding.code.as_deref() == Some(PHQ9_TOTAL_LOINC)));
    let Some(patient) = subject_id(&observation.subject) else { return Ok(LineFact::Nothing) };
    let total = observation.value_quantity.as_ref().and_then(|quantity| quantity.value).or(observation.value_integer);
    let date = observation
        .effective_date_time
        .as_deref()
        .or(observation.effective_period.as_ref().and_then(|period| period.start.as_deref()))
        .or(observation.issued.as_deref())
        .and_then(parse_date_prefix);
    Ok(match (is_phq9, total, date) {
        (true, Some(total), Some(date)) => LineFact::Phq9 { patient, date, total: total as f32 },
        _ => LineFact::Nothing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_icd(code: &str, expected: Option<DiagnosisKind>) {
        assert_eq!(classify_icd10cm(code), expected, "{code}");
    }

    #[test]
    fn icd10cm_codes_classify_per_reading_13() {
        use DiagnosisKind::*;
        for code in ["F32.0", "F32.5", "F32.9", "F33.0", "F33.3", "F33.40", "F33.42", "F33.8", "F33.9", "f329"] {
            check_icd(code, Some(MajorDepressiveDisorder));
        }
        for code in ["F32.A", "F32.81", "F32.89", "F34.1", "F41.1", "F33.5"] {
            check_icd(code, None);
        }
        check_icd("F31.9", Some(Bipolar));
        check_icd("F20.0", Some(Psychosis));
        check_icd("F29", Some(Psychosis));
        check_icd("F03.90", Some(Dementia));
        check_icd("G30.9", Some(Dementia));
        check_icd("F04", None);
    }

    #[test]
    fn references_resolve_to_patient_ids() {
        assert_eq!(patient_id_from_reference("Patient/123"), "123");
        assert_eq!(patient_id_from_reference("https://x.org/fhir/Patient/abc/_history/2"), "abc");
        assert_eq!(patient_id_from_reference("urn:uuid:f00"), "f00");
        assert_eq!(patient_id_from_reference("123"), "123");
    }

    fn extract(line: &str) -> LineFact<'_> {
        LineScanner::default().extract(line.as_bytes(), i32::MAX).unwrap()
    }

    /// Lines whose meaning the byte scan once read differently from a JSON parse (fuzz target
    /// `screen_line_vs_serde`, fuzz/regressions/screen_line_vs_serde): `"resourceType"` as a value
    /// before the key, escapes in the key or its value, and an escaped PHQ-9 code.
    #[test]
    fn the_resource_type_and_the_phq9_code_mean_what_json_says() {
        let patient = LineFact::Patient { id: Cow::Borrowed("p1"), birth_date: None };
        for line in [
            r#"{"status":"resourceType","resourceType":"Patient","id":"p1"}"#,
            r#"{"resourceType":"Pat\u0069ent","id":"p1"}"#,
            r#"{"resource\u0054ype":"Patient","id":"p1"}"#,
        ] {
            assert_eq!(extract(line), patient, "{line}");
            assert!(!LineScanner::default().is_skipped_by_prescan(line.as_bytes()), "{line}");
        }
        let escaped_code = r#"{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/p1"},"code":{"coding":[{"code":"44261\u002d6"}]},"valueInteger":12,"effectiveDateTime":"2025-01-01"}"#;
        let LineFact::Phq9 { patient, total, .. } = extract(escaped_code) else { panic!("no PHQ-9 total") };
        assert_eq!((patient.as_ref(), total), ("p1", 12.0));
        // Not a resource type at all: a value, an escaped key with a number, a type that is not read.
        let scanner = LineScanner::default();
        assert!(scanner.extract(br#"{"status":"resourceType"}"#, i32::MAX).is_err());
        assert!(scanner.extract(br#"{"resource\u0054ype":5}"#, i32::MAX).is_err());
        assert_eq!(scanner.extract(br#"{"resourceType":"Enc\u006funter"}"#, i32::MAX), Ok(LineFact::Nothing));
        // An array is no resource, whatever it holds.
        assert!(scanner.extract(br#"["Patient"]"#, i32::MAX).is_err());
        assert!(scanner.extract(b"[\n\"Patient\"\n]", i32::MAX).is_err());
        assert!(scanner.extract(br#"[{"resourceType":"Patient","id":"p1"}]"#, i32::MAX).is_err());
    }

    #[test]
    fn doses_and_supplies_are_read() {
        let line = r#"{"resourceType":"MedicationRequest","status":"active","subject":{"reference":"Patient/p1"},"authoredOn":"2020-01-02T10:00:00+01:00","medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"36437"}]},"dosageInstruction":[{"timing":{"repeat":{"frequency":2,"period":1,"periodUnit":"d"}},"doseAndRate":[{"doseQuantity":{"value":25,"unit":"mg"}}]}],"dispenseRequest":{"expectedSupplyDuration":{"value":4,"code":"wk"}}}"#;
        let LineFact::Drug { patient, event } = extract(line) else { panic!("no drug event") };
        assert_eq!(patient, "p1");
        assert_eq!(event.entry().ingredient, "sertraline");
        assert_eq!(event.days_covered, Some(28));
        assert_eq!(event.daily_dose_mg, Some(50.0));
        assert_eq!(crate::dates::format_date(event.date), "2020-01-02");
    }

    #[test]
    fn contained_medications_and_display_names_resolve() {
        let line = r##"{"resourceType":"MedicationDispense","status":"completed","contained":[{"resourceType":"Medication","id":"m1","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"999999","display":"Wellbutrin XL 300 MG"}]}}],"medicationReference":{"reference":"#m1"},"subject":{"reference":"Patient/p2"},"whenHandedOver":"2021-03-04","daysSupply":{"value":90}}"##;
        let LineFact::Drug { event, .. } = extract(line) else { panic!("no drug event") };
        assert_eq!(event.entry().ingredient, "bupropion");
        assert_eq!(event.days_covered, Some(90));
        assert_eq!(event.daily_dose_mg, None);
    }

    /// The ingredient a request's medication text resolves to: read by the core's one drug-name reader
    /// (`ketacare_core::drug_names`), with other words around the name allowed (reading 14).
    fn check_medication_text(text: &str, expected: Option<&str>) {
        let line = format!(
            r#"{{"resourceType":"MedicationRequest","status":"active","subject":{{"reference":"Patient/p"}},"authoredOn":"2020-01-01","medicationCodeableConcept":{{"text":"{text}"}}}}"#
        );
        let ingredient = match extract(&line) {
            LineFact::Drug { event, .. } => Some(event.entry().ingredient),
            _ => None,
        };
        assert_eq!(ingredient, expected, "{text}");
    }

    #[test]
    fn medication_text_is_read_as_case_trials_are() {
        check_medication_text("sertraline 50 MG Oral Tablet", Some("sertraline"));
        check_medication_text("Remeron SolTab 15 mg", Some("mirtazapine"));
        check_medication_text("escitalopram (as oxalate) 10 mg", Some("escitalopram"));
        check_medication_text("Emsam 6 mg/24 hr transdermal system", Some("selegiline"));
        check_medication_text(
            "24 HR desvenlafaxine 50 MG Extended Release Oral Tablet [Pristiq]",
            Some("desvenlafaxine"),
        );
        check_medication_text("sertraline for sleep", Some("sertraline"));
        check_medication_text("sertralinex 50 mg", None);
        check_medication_text("olanzapine and fluoxetine", None);
        check_medication_text("Celexa (escitalopram)", None);
        check_medication_text("levo-milnacipran 40 mg", None);
        check_medication_text("dextromethorphan-bupropion ER tablet", None);
    }

    #[test]
    fn skipped_types_and_statuses_yield_nothing() {
        for line in [
            r#"{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p1"}}"#,
            r#"{"resourceType":"Observation","code":{"coding":[{"code":"8480-6"}]},"subject":{"reference":"Patient/p1"}}"#,
            r#"{"resourceType":"MedicationRequest","status":"entered-in-error","subject":{"reference":"Patient/p1"},"authoredOn":"2020-01-01","medicationCodeableConcept":{"text":"sertraline"}}"#,
            r#"{"resourceType":"MedicationDispense","status":"declined","subject":{"reference":"Patient/p1"},"whenHandedOver":"2020-01-01","medicationCodeableConcept":{"text":"sertraline"}}"#,
            r#"{"resourceType":"Condition","verificationStatus":{"coding":[{"code":"entered-in-error"}]},"subject":{"reference":"Patient/p1"},"onsetDateTime":"2020-01-01","code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F31.9"}]}}"#,
        ] {
            assert_eq!(extract(line), LineFact::Nothing, "{line}");
        }
    }

    #[test]
    fn the_resource_type_is_read_at_the_top_level_only() {
        let contained_first = r##"{"contained":[{"resourceType":"Medication","id":"m","code":{"text":"sertraline"}}],"medicationReference":{"reference":"#m"},"resourceType":"MedicationRequest","status":"active","subject":{"reference":"Patient/p"},"authoredOn":"2020-01-01"}"##;
        let LineFact::Drug { event, .. } = extract(contained_first) else { panic!("no drug event") };
        assert_eq!(event.entry().ingredient, "sertraline");
        let in_a_string = r#"{"id":"x","note":"a \"resourceType\": \"Patient\" in text","resourceType":"Encounter"}"#;
        assert_eq!(extract(in_a_string), LineFact::Nothing);
    }

    #[test]
    fn administrations_give_ketamine_history_only() {
        let administration = |drug: &str| {
            format!(
                r#"{{"resourceType":"MedicationAdministration","status":"completed","medicationCodeableConcept":{{"text":"{drug}"}},"subject":{{"reference":"Patient/p"}},"effectiveDateTime":"2024-03-01T10:00:00Z"}}"#
            )
        };
        let spravato = administration("Spravato 56 mg");
        let LineFact::Drug { event, .. } = extract(&spravato) else { panic!("no ketamine event") };
        assert_eq!(event.entry().ingredient, "esketamine");
        assert_eq!(extract(&administration("sertraline 50 mg")), LineFact::Nothing);
    }

    #[test]
    fn malformed_line_reasons_do_not_quote_values() {
        let line = r#"{"resourceType":"MedicationDispense","subject":{"reference":"Patient/p"},"daysSupply":{"value":"Jane Doe"}}"#;
        let reason = LineScanner::default().extract(line.as_bytes(), i32::MAX).unwrap_err().reason;
        assert!(!reason.contains("Jane"), "{reason}");
        assert!(reason.starts_with("invalid MedicationDispense: unexpected value or type at column"), "{reason}");
    }

    #[test]
    fn malformed_lines_are_errors() {
        let scanner = LineScanner::default();
        let blood_pressure = r#"{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"subject":{"reference":"Patient/p"},"valueQuantity":{"value":120}}"#;
        let encounter = r#"{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p"},"period":{"start":"2020-01-01"}}"#;
        let mut failures = Vec::new();
        for line in [
            r#"{"resourceType":"Condition","code":"#,
            "not json",
            r#"{"id":"x"}"#,
            r#"{"resourceType":"Encounter","id":"e1","subject":{"refer"#,
            // Dropped lines (an unused type, an Observation that is not PHQ-9) cut anywhere, even
            // right after an inner object's closing brace, or glued to the next line.
            &blood_pressure[..blood_pressure.len() - 1],
            &blood_pressure[..blood_pressure.len() - 20],
            &blood_pressure[..blood_pressure.find(r#"}]}"#).unwrap() + 1],
            &encounter[..encounter.find(r#"},"period""#).unwrap() + 1],
            &encounter[..encounter.len() - 1],
            &format!("{encounter}{blood_pressure}"),
            &format!("{blood_pressure}}}"),
        ] {
            if scanner.extract(line.as_bytes(), i32::MAX).is_ok() {
                failures.push(line.to_string());
            }
        }
        assert!(failures.is_empty(), "accepted as well-formed: {failures:#?}");
        for whole in [blood_pressure, encounter] {
            assert_eq!(scanner.extract(whole.as_bytes(), i32::MAX), Ok(LineFact::Nothing), "{whole}");
        }
    }
}
