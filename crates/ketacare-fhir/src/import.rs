//! From a FHIR R4 Bundle (`transaction`, `collection`, or the `searchset` our own export writes) to
//! ketacare's chart: each Patient with the records of its chart, each record as the body the chart API
//! takes for its section (docs/api.md), with the FHIRPath of the element every chart field came from, so
//! a refusal by the chart's own readers names the FHIR element. Pure: the bundle comes in as a JSON value
//! (read by ketacare-case's strict reader), nothing is stored here. Strict: an element outside the
//! profile of docs/fhir.md, a code no table here knows, a reference to a resource the bundle does not
//! hold, a duplicate identifier or id is an error naming its element; every resource is read, so every
//! rejected one is reported. Drugs resolve through the core's knowledge base as the engine resolves them
//! (RxNorm, ATC, names); a name it does not resolve is kept as written and reported, never guessed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ketacare_core::drugs::{DRUGS, DrugEntry, drug_by_rxcui, resolve_drug_name};
use serde_json::{Map, Number, Value};

use crate::codes::{self, KETACARE, loinc};
use crate::export::TREATMENT_SESSION_EXTENSION;
use crate::resources::{OperationOutcome, OperationOutcomeIssue};

mod prescriptions;

pub use prescriptions::{COURSE_PRESET, CourseSpan};

/// The most entries one Bundle may hold: a larger import goes through bulk NDJSON.
pub const MAX_BUNDLE_ENTRIES: usize = 10_000;
/// The longest string (in bytes) any element may hold: no element ketacare reads needs more.
pub const MAX_STRING_BYTES: usize = 65_536;
/// The most issues one OperationOutcome lists; the rest are counted in a last issue.
pub const MAX_ISSUES: usize = 1_000;

/// How bad an issue is (FHIR `issue-severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IssueSeverity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl IssueSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueSeverity::Fatal => "fatal",
            IssueSeverity::Error => "error",
            IssueSeverity::Warning => "warning",
            IssueSeverity::Information => "information",
        }
    }
}

/// What kind of issue (FHIR `issue-type`, the codes ketacare uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueCode {
    /// Not the structure FHIR or ketacare's profile says: a wrong JSON type, an unknown element.
    Structure,
    Required,
    /// A value outside what the element allows (a range, a date).
    Value,
    /// A code no table ketacare reads knows.
    CodeInvalid,
    /// A reference to a resource the bundle does not hold.
    NotFound,
    Duplicate,
    TooLong,
    TooCostly,
    NotSupported,
    /// The bundle disagrees with what the database holds.
    Conflict,
    /// A clinical or business rule refuses it.
    BusinessRule,
    Forbidden,
    Login,
    /// Too many requests (a throttle, or too many jobs): try again later.
    Throttled,
    Exception,
    Informational,
}

impl IssueCode {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::CodeInvalid => "code-invalid",
            IssueCode::NotFound => "not-found",
            IssueCode::Duplicate => "duplicate",
            IssueCode::TooLong => "too-long",
            IssueCode::TooCostly => "too-costly",
            IssueCode::NotSupported => "not-supported",
            IssueCode::Conflict => "conflict",
            IssueCode::BusinessRule => "business-rule",
            IssueCode::Forbidden => "forbidden",
            IssueCode::Login => "login",
            IssueCode::Throttled => "throttled",
            IssueCode::Exception => "exception",
            IssueCode::Informational => "informational",
        }
    }
}

/// One finding about an import: an error refuses the import, a warning or information does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportIssue {
    pub severity: IssueSeverity,
    pub code: IssueCode,
    /// The FHIRPath of the element (`Bundle.entry[3].resource.dosage[0].doseAndRate[0].doseQuantity.value`).
    pub expression: Option<String>,
    pub diagnostics: String,
}

impl ImportIssue {
    pub fn error(code: IssueCode, expression: impl Into<String>, diagnostics: impl Into<String>) -> ImportIssue {
        ImportIssue {
            severity: IssueSeverity::Error,
            code,
            expression: Some(expression.into()),
            diagnostics: diagnostics.into(),
        }
    }

    pub fn warning(code: IssueCode, expression: impl Into<String>, diagnostics: impl Into<String>) -> ImportIssue {
        ImportIssue { severity: IssueSeverity::Warning, ..ImportIssue::error(code, expression, diagnostics) }
    }

    pub fn information(diagnostics: impl Into<String>, expression: Option<String>) -> ImportIssue {
        ImportIssue {
            severity: IssueSeverity::Information,
            code: IssueCode::Informational,
            expression,
            diagnostics: diagnostics.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity <= IssueSeverity::Error
    }
}

impl fmt::Display for ImportIssue {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expression {
            Some(expression) => write!(formatter, "{} {}: {}", self.severity.as_str(), expression, self.diagnostics),
            None => write!(formatter, "{}: {}", self.severity.as_str(), self.diagnostics),
        }
    }
}

/// The issues as an OperationOutcome (at most [`MAX_ISSUES`], errors first, then a count of the rest).
pub fn import_outcome(issues: &[ImportIssue]) -> OperationOutcome {
    let mut sorted: Vec<&ImportIssue> = issues.iter().collect();
    sorted.sort_by_key(|issue| issue.severity);
    let mut issue: Vec<OperationOutcomeIssue> = sorted
        .iter()
        .take(MAX_ISSUES)
        .map(|issue| OperationOutcomeIssue {
            severity: issue.severity.as_str().to_owned(),
            code: issue.code.as_str().to_owned(),
            diagnostics: Some(issue.diagnostics.clone()),
            expression: issue.expression.iter().cloned().collect(),
        })
        .collect();
    if sorted.len() > MAX_ISSUES {
        issue.push(OperationOutcomeIssue {
            severity: "information".to_owned(),
            code: "informational".to_owned(),
            diagnostics: Some(format!("{} more issues are not listed", sorted.len() - MAX_ISSUES)),
            expression: Vec::new(),
        });
    }
    if issue.is_empty() {
        issue.push(OperationOutcomeIssue {
            severity: "information".to_owned(),
            code: "informational".to_owned(),
            diagnostics: Some("nothing to report".to_owned()),
            expression: Vec::new(),
        });
    }
    OperationOutcome { issue }
}

/// How strictly import treats what ketacare does not chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPolicy {
    /// A Bundle sent to import (`POST /fhir/r4`, `ketacare import BUNDLE.json`): an element outside the
    /// profile, a resource type or code ketacare does not chart is an error.
    Strict,
    /// A bulk export from an EHR (`ketacare import --ndjson`): resource types, codes and statuses ketacare
    /// does not chart are left out, and elements outside the profile ignored, each counted; what it charts
    /// is read exactly as strictly (values, units, references, drug codes), and a patient with an error
    /// is refused whole.
    BulkExport,
}

/// The diagnostics prefix of a warning for an element ignored under [`ImportPolicy::BulkExport`].
const IGNORED: &str = "ignored: ";

/// The kinds of Bundle import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    Transaction,
    Collection,
    /// What `Patient/{id}/$everything` answers: an export imports as it is.
    Searchset,
}

/// Where a resource is in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceLocation {
    pub entry_index: usize,
    pub full_url: Option<String>,
    pub resource_type: String,
    pub id: Option<String>,
}

impl ResourceLocation {
    /// `Bundle.entry[3].resource`.
    pub fn expression(&self) -> String {
        format!("Bundle.entry[{}].resource", self.entry_index)
    }

    /// `Bundle.entry[3].resource.{element}` (the resource itself for an empty element).
    pub fn element(&self, element: &str) -> String {
        if element.is_empty() { self.expression() } else { format!("{}.{element}", self.expression()) }
    }

    /// How a person finds it: `Bundle.entry[3] (MedicationStatement/abc, fullUrl urn:uuid:…)`.
    pub fn label(&self) -> String {
        let id =
            self.id.as_deref().map_or_else(|| self.resource_type.clone(), |id| format!("{}/{id}", self.resource_type));
        match &self.full_url {
            Some(full_url) => format!("Bundle.entry[{}] ({id}, fullUrl {full_url})", self.entry_index),
            None => format!("Bundle.entry[{}] ({id})", self.entry_index),
        }
    }
}

/// The chart sections import writes (docs/api.md), scales included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ImportSection {
    Episodes,
    History,
    Concomitant,
    Trials,
    Scales,
    Measurements,
    BloodPressures,
}

impl ImportSection {
    /// The chart section's name (`blood_pressures`).
    pub fn as_str(self) -> &'static str {
        match self {
            ImportSection::Episodes => "episodes",
            ImportSection::History => "history",
            ImportSection::Concomitant => "concomitant",
            ImportSection::Trials => "trials",
            ImportSection::Scales => "scales",
            ImportSection::Measurements => "measurements",
            ImportSection::BloodPressures => "blood_pressures",
        }
    }
}

/// Which episode a trial belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpisodeLink {
    /// The episode Condition at this entry index of the bundle (`reasonReference`).
    Entry(usize),
    /// No reference, and `trial-in-current-episode` true or absent: the episode the chart's assembly
    /// takes as current.
    Current,
    /// A course read from prescriptions or dispenses: the chart's depressive episode (of the bundle or
    /// already charted) with the latest onset on or before this day (`YYYY-MM-DD`), the course's first.
    OnsetOnOrBefore(String),
}

/// One chart record read from one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRecord {
    pub location: ResourceLocation,
    pub section: ImportSection,
    /// The body the chart API takes for the section (a trial's without `episode_id`).
    pub body: Map<String, Value>,
    /// Trials only.
    pub episode: Option<EpisodeLink>,
    pub entered_in_error: bool,
    /// A scale's stated total beside its items (`valueQuantity.value`): it must be the items' score.
    pub stated_total: Option<i64>,
    /// Each chart field (`daily_dose_mg`, `items[3]`) and the element of the resource it came from.
    pub elements: Vec<(String, String)>,
    /// A trial read from prescriptions or dispenses: the course's span, whose weeks the app counts up to
    /// its today.
    pub course: Option<CourseSpan>,
}

impl ImportedRecord {
    /// The FHIRPath of the element a chart field (as the chart's readers name it) came from: the field
    /// itself, else its first segment, else the resource.
    pub fn expression_of_field(&self, field: &str) -> String {
        let first = field.split(['.', '[']).next().unwrap_or(field);
        let element = self
            .elements
            .iter()
            .find(|(name, _)| name == field)
            .or_else(|| self.elements.iter().find(|(name, _)| name == first))
            .map_or("", |(_, element)| element.as_str());
        // A record merged from several resources names each field's element in full.
        if element.starts_with("Bundle.") { element.to_owned() } else { self.location.element(element) }
    }
}

/// Merges the measurement records of a patient taken on the same day (and with the same status) into
/// one, as the chart keeps a day's height, weight, pregnancy and breastfeeding together (and as our
/// export splits them): a value given twice on one day stays a record of its own.
fn merge_measurements_by_day(records: Vec<ImportedRecord>) -> Vec<ImportedRecord> {
    let mut merged: Vec<ImportedRecord> = Vec::with_capacity(records.len());
    for mut record in records {
        if record.section == ImportSection::Measurements {
            let day = record.body.get("measured_on").cloned();
            let target = merged.iter_mut().find(|earlier| {
                earlier.section == ImportSection::Measurements
                    && earlier.entered_in_error == record.entered_in_error
                    && earlier.body.get("measured_on") == day.as_ref()
                    && record.body.keys().all(|key| key == "measured_on" || !earlier.body.contains_key(key))
            });
            if let Some(earlier) = target {
                let absolute = |location: &ResourceLocation, element: &str| {
                    if element.starts_with("Bundle.") { element.to_owned() } else { location.element(element) }
                };
                for (_, element) in &mut earlier.elements {
                    *element = absolute(&earlier.location, element);
                }
                for (field, element) in record.elements.drain(..) {
                    if field != "measured_on" {
                        let element = absolute(&record.location, &element);
                        earlier.elements.push((field, element));
                    }
                }
                for (key, value) in std::mem::take(&mut record.body) {
                    earlier.body.entry(key).or_insert(value);
                }
                continue;
            }
        }
        merged.push(record);
    }
    merged
}

/// A Patient of the bundle with the records that refer to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPatient {
    pub location: ResourceLocation,
    /// `meta.source` of the Patient (or of the Bundle), reported back.
    pub source: Option<String>,
    /// The medical record number: how a re-import finds the patient.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: String,
    /// `female` or `male`.
    pub sex_at_birth: String,
    /// `active: false`.
    pub entered_in_error: bool,
    /// Patient fields (`given_name`, `birth_date`, `mrn`) and their elements.
    pub elements: Vec<(String, String)>,
    pub records: Vec<ImportedRecord>,
}

impl ImportedPatient {
    pub fn expression_of_field(&self, field: &str) -> String {
        let element = self.elements.iter().find(|(name, _)| name == field).map_or("", |(_, element)| element.as_str());
        self.location.element(element)
    }
}

/// What a bundle holds for import: its patients with their records, and every issue found. Any error
/// among `issues` refuses the whole import.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleImport {
    pub kind: Option<BundleKind>,
    pub patients: Vec<ImportedPatient>,
    /// Resources read and deliberately left out (session records, the TRD determination): each has a
    /// warning or information issue.
    pub left_out: usize,
    /// Under [`ImportPolicy::BulkExport`]: how many resources were left out, by what (`Encounter`,
    /// `Condition: not a code ketacare charts`), instead of an issue each.
    pub left_out_by_kind: BTreeMap<String, usize>,
    /// Under [`ImportPolicy::BulkExport`]: elements ignored, by resource type and element (`Patient.telecom`).
    pub ignored_elements: BTreeMap<String, usize>,
    pub issues: Vec<ImportIssue>,
}

impl BundleImport {
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(ImportIssue::is_error)
    }
}

// ---- reading JSON elements with their paths ----

type Read<T> = Result<T, ImportIssue>;

fn structure(path: &str, problem: impl Into<String>) -> ImportIssue {
    ImportIssue::error(IssueCode::Structure, path, problem)
}

fn value_issue(path: &str, problem: impl Into<String>) -> ImportIssue {
    ImportIssue::error(IssueCode::Value, path, problem)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Read<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| structure(path, format!("must be an object, got {}", json_type(value))))
}

fn array<'a>(value: &'a Value, path: &str) -> Read<&'a [Value]> {
    match value {
        Value::Array(items) if items.is_empty() => Err(structure(path, "must not be an empty array (FHIR omits it)")),
        Value::Array(items) => Ok(items),
        other => Err(structure(path, format!("must be an array, got {}", json_type(other)))),
    }
}

fn string<'a>(value: &'a Value, path: &str) -> Read<&'a str> {
    match value {
        Value::String(text) if text.trim().is_empty() => {
            Err(value_issue(path, "must not be empty or white space (FHIR omits it)"))
        }
        Value::String(text) => Ok(text),
        other => Err(structure(path, format!("must be a string, got {}", json_type(other)))),
    }
}

fn boolean(value: &Value, path: &str) -> Read<bool> {
    value.as_bool().ok_or_else(|| structure(path, format!("must be true or false, got {}", json_type(value))))
}

fn number<'a>(value: &'a Value, path: &str) -> Read<&'a Number> {
    match value {
        Value::Number(number) => Ok(number),
        other => Err(structure(path, format!("must be a number, got {}", json_type(other)))),
    }
}

fn integer(value: &Value, path: &str) -> Read<i64> {
    let number = number(value, path)?;
    let text = number.as_str();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(structure(path, format!("must be a whole number, got {text}")));
    }
    text.parse().map_err(|_| value_issue(path, format!("must be a whole number ketacare can hold, got {text}")))
}

/// A resource (or element) object with its path, reading its elements once each.
struct Element<'a> {
    object: &'a Map<String, Value>,
    path: String,
}

impl<'a> Element<'a> {
    fn new(value: &'a Value, path: String) -> Read<Element<'a>> {
        Ok(Element { object: object(value, &path)?, path })
    }

    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn get(&self, key: &str) -> Option<(&'a Value, String)> {
        self.object.get(key).map(|value| (value, self.at(key)))
    }

    fn require(&self, key: &str, what: &str) -> Read<(&'a Value, String)> {
        self.get(key)
            .ok_or_else(|| ImportIssue::error(IssueCode::Required, self.at(key), format!("is required: {what}")))
    }

    fn string(&self, key: &str) -> Read<Option<&'a str>> {
        self.get(key).map(|(value, path)| string(value, &path)).transpose()
    }

    fn child(&self, key: &str) -> Read<Option<Element<'a>>> {
        self.get(key).map(|(value, path)| Element::new(value, path)).transpose()
    }

    /// Every element of the object must be one of `allowed`; `modifierExtension` and `implicitRules`
    /// (which change the meaning of what ketacare would read) are refused by name.
    fn only(&self, allowed: &[&str], what: &str) -> Vec<ImportIssue> {
        self.object
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .map(|key| match key.as_str() {
                "modifierExtension" => ImportIssue::error(
                    IssueCode::NotSupported,
                    self.at(key),
                    "a modifier extension changes the meaning of the resource, and ketacare knows none: refused",
                ),
                "implicitRules" => ImportIssue::error(
                    IssueCode::NotSupported,
                    self.at(key),
                    "implicit rules change the meaning of the resource, and ketacare knows none: refused",
                ),
                _ if key.starts_with('_') => ImportIssue::error(
                    IssueCode::NotSupported,
                    self.at(key),
                    "primitive extensions are not read by ketacare's import (docs/fhir.md)",
                ),
                _ => ImportIssue::error(
                    IssueCode::Structure,
                    self.at(key),
                    format!("is not an element ketacare imports for {what} (docs/fhir.md lists them)"),
                ),
            })
            .collect()
    }
}

/// One coding of a CodeableConcept.
struct CodingRead<'a> {
    system: Option<&'a str>,
    code: Option<&'a str>,
    display: Option<&'a str>,
    path: String,
}

/// A CodeableConcept's codings and text.
struct ConceptRead<'a> {
    codings: Vec<CodingRead<'a>>,
    text: Option<&'a str>,
    path: String,
}

impl ConceptRead<'_> {
    fn code_in(&self, system: &str) -> Option<(&str, &str)> {
        self.codings
            .iter()
            .find(|coding| coding.system == Some(system))
            .and_then(|coding| coding.code.map(|code| (code, coding.path.as_str())))
    }
}

fn concept<'a>(value: &'a Value, path: String) -> Read<ConceptRead<'a>> {
    let element = Element::new(value, path)?;
    if let Some(issue) = element.only(&["coding", "text"], "a CodeableConcept").into_iter().next() {
        return Err(issue);
    }
    let mut codings = Vec::new();
    if let Some((items, items_path)) = element.get("coding") {
        for (index, item) in array(items, &items_path)?.iter().enumerate() {
            let coding = Element::new(item, format!("{items_path}[{index}]"))?;
            if let Some(issue) =
                coding.only(&["system", "code", "display", "version", "userSelected"], "a Coding").into_iter().next()
            {
                return Err(issue);
            }
            if let Some((display, display_path)) = coding.get("display") {
                string(display, &display_path)?;
            }
            codings.push(CodingRead {
                system: coding.string("system")?,
                code: coding.string("code")?,
                display: coding.string("display")?,
                path: coding.path,
            });
        }
    }
    let text = element.string("text")?;
    if codings.is_empty() && text.is_none() {
        return Err(ImportIssue::error(IssueCode::Required, element.path, "needs a coding or a text"));
    }
    Ok(ConceptRead { codings, text, path: element.path })
}

/// A FHIR date or dateTime as the day it names (`2026-11-28`, `2026-11-28T09:50:00-05:00` → `2026-11-28`,
/// the day as written, in its own offset); a year or a month alone is refused (the chart keeps days).
fn fhir_day(value: &Value, path: &str) -> Read<String> {
    let text = string(value, path)?;
    let bytes = text.as_bytes();
    let is_day = |day: &[u8]| {
        day.len() == 10
            && day
                .iter()
                .enumerate()
                .all(|(index, byte)| if index == 4 || index == 7 { *byte == b'-' } else { byte.is_ascii_digit() })
    };
    match bytes.len() {
        10 if is_day(bytes) => Ok(text.to_owned()),
        4 | 7 => {
            Err(value_issue(path, format!("must be a full date (YYYY-MM-DD): ketacare charts days, got \"{text}\"")))
        }
        length if length > 10 && is_day(&bytes[..10]) && bytes[10] == b'T' => {
            let time = &text[11..];
            let zoned = time.ends_with('Z') || time.rfind(['+', '-']).is_some_and(|at| time.len() - at == 6);
            if !zoned {
                return Err(value_issue(
                    path,
                    format!("a dateTime with a time must give its offset (FHIR), got \"{text}\""),
                ));
            }
            Ok(text[..10].to_owned())
        }
        _ => Err(value_issue(path, format!("must be a FHIR date (YYYY-MM-DD) or dateTime, got \"{text}\""))),
    }
}

// ---- the bundle ----

/// The elements of each resource type import reads, beside `resourceType`, `id`, `meta`, `text`, `language`.
const COMMON_ELEMENTS: [&str; 5] = ["resourceType", "id", "meta", "text", "language"];

fn with_common(specific: &[&'static str]) -> Vec<&'static str> {
    COMMON_ELEMENTS.iter().chain(specific).copied().collect()
}

/// Reads a Bundle for import. Never fails: what is wrong is in [`BundleImport::issues`].
pub fn read_import_bundle(bundle: &Value) -> BundleImport {
    read_import_bundle_with(bundle, ImportPolicy::Strict, &[])
}

/// Reads a Bundle for import under `policy`. A Patient's MRN is its identifier of ketacare's MRN system,
/// one typed MR, or one of `mrn_systems` (the EHR's own MRN namespaces, as the site configures them).
/// Never fails: what is wrong is in [`BundleImport::issues`].
pub fn read_import_bundle_with(bundle: &Value, policy: ImportPolicy, mrn_systems: &[String]) -> BundleImport {
    let mut import = BundleImport {
        kind: None,
        patients: Vec::new(),
        left_out: 0,
        left_out_by_kind: BTreeMap::new(),
        ignored_elements: BTreeMap::new(),
        issues: Vec::new(),
    };
    if let Err(issue) = read_bundle(bundle, &mut import, policy, mrn_systems) {
        import.issues.push(issue);
    }
    if policy == ImportPolicy::BulkExport {
        // One count per ignored element instead of a warning per resource.
        let mut kept = Vec::with_capacity(import.issues.len());
        for issue in std::mem::take(&mut import.issues) {
            match issue.diagnostics.strip_prefix(IGNORED) {
                Some(element) if !issue.is_error() => {
                    *import.ignored_elements.entry(element.to_owned()).or_default() += 1
                }
                _ => kept.push(issue),
            }
        }
        import.issues = kept;
    }
    if import.has_errors() {
        import.patients.clear();
    }
    import
}

/// An entry with what the first pass learnt of it.
struct EntryRead<'a> {
    resource: Element<'a>,
    location: ResourceLocation,
}

fn read_bundle(bundle: &Value, import: &mut BundleImport, policy: ImportPolicy, mrn_systems: &[String]) -> Read<()> {
    let root = Element::new(bundle, "Bundle".to_owned())?;
    match root.get("resourceType") {
        Some((Value::String(kind), _)) if kind == "Bundle" => {}
        Some((other, path)) => return Err(value_issue(&path, format!("must be \"Bundle\", got {other}"))),
        None => return Err(ImportIssue::error(IssueCode::Required, "Bundle.resourceType", "is required: \"Bundle\"")),
    }
    // Sizes first: nothing else is read of a bundle that is too large.
    let mut too_long = Vec::new();
    // Paths are built only when a string is too long: building one per element is most of a walk's cost.
    if holds_a_long_string(bundle) {
        long_strings(bundle, "Bundle", &mut too_long);
    }
    if !too_long.is_empty() {
        import.issues.extend(too_long);
        return Ok(());
    }
    if let Some((Value::Array(entries), path)) = root.get("entry")
        && entries.len() > MAX_BUNDLE_ENTRIES
    {
        return Err(ImportIssue::error(
            IssueCode::TooCostly,
            path,
            format!(
                "holds {} entries; a Bundle may hold at most {MAX_BUNDLE_ENTRIES} (import more with `ketacare import --ndjson`)",
                entries.len()
            ),
        ));
    }
    import.issues.extend(root.only(
        &["resourceType", "id", "meta", "identifier", "type", "timestamp", "total", "link", "entry", "language"],
        "a Bundle",
    ));
    let (kind_value, kind_path) = root.require("type", "transaction, collection or searchset")?;
    let kind = match string(kind_value, &kind_path)? {
        "transaction" => BundleKind::Transaction,
        "collection" => BundleKind::Collection,
        "searchset" => BundleKind::Searchset,
        other => {
            return Err(ImportIssue::error(
                IssueCode::NotSupported,
                kind_path,
                format!("ketacare imports a transaction, collection or searchset Bundle, got \"{other}\""),
            ));
        }
    };
    import.kind = Some(kind);
    let bundle_source = root.child("meta")?.map(|meta| meta.string("source")).transpose()?.flatten();
    let Some((entries, entries_path)) = root.get("entry") else {
        return Err(ImportIssue::error(
            IssueCode::Required,
            "Bundle.entry",
            "is required: a Bundle to import holds a Patient",
        ));
    };
    let entries = array(entries, &entries_path)?;

    // First pass: each entry's resource, its fullUrl and Type/id, for references.
    let mut read_entries: Vec<Option<EntryRead<'_>>> = Vec::with_capacity(entries.len());
    let mut by_full_url: HashMap<&str, usize> = HashMap::new();
    let mut by_type_and_id: HashMap<String, usize> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        match read_entry(entry, index, kind) {
            Ok((read, full_url)) => {
                if let Some(full_url) = full_url
                    && let Some(first) = by_full_url.insert(full_url, index)
                {
                    import.issues.push(ImportIssue::error(
                        IssueCode::Duplicate,
                        format!("Bundle.entry[{index}].fullUrl"),
                        format!("\"{full_url}\" is also the fullUrl of Bundle.entry[{first}]"),
                    ));
                }
                if let Some(id) = &read.location.id {
                    let key = format!("{}/{id}", read.location.resource_type);
                    if let Some(first) = by_type_and_id.insert(key.clone(), index) {
                        import.issues.push(ImportIssue::error(
                            IssueCode::Duplicate,
                            read.location.element("id"),
                            format!("{key} is also Bundle.entry[{first}]"),
                        ));
                    }
                }
                read_entries.push(Some(read));
            }
            Err(issue) => {
                import.issues.push(issue);
                read_entries.push(None);
            }
        }
    }
    let references = References { by_full_url: &by_full_url, by_type_and_id: &by_type_and_id, policy };

    // Patients first, so every other resource finds its own.
    let mut patient_of_entry: BTreeMap<usize, usize> = BTreeMap::new();
    let mut mrn_entries: HashMap<String, usize> = HashMap::new();
    for read in read_entries.iter().flatten().filter(|read| read.location.resource_type == "Patient") {
        match read_patient(read, bundle_source, policy, mrn_systems, &mut import.issues) {
            Ok(patient) => {
                if let Some(first) = mrn_entries.insert(patient.mrn.clone(), read.location.entry_index) {
                    import.issues.push(ImportIssue::error(
                        IssueCode::Duplicate,
                        patient.expression_of_field("mrn"),
                        format!("the same MRN identifies Bundle.entry[{first}]: one patient, one Patient resource"),
                    ));
                    continue;
                }
                patient_of_entry.insert(read.location.entry_index, import.patients.len());
                import.patients.push(patient);
            }
            Err(issues) => import.issues.extend(issues),
        }
    }
    if import.patients.is_empty() && !import.has_errors() {
        return Err(ImportIssue::error(IssueCode::Required, "Bundle.entry", "holds no Patient: nothing to import"));
    }

    // Then every other resource, each in its patient's chart.
    let mut episodes: HashMap<usize, usize> = HashMap::new();
    let mut trials: Vec<(usize, usize)> = Vec::new();
    let mut prescriptions_of_patient: BTreeMap<usize, Vec<prescriptions::PrescriptionEvent>> = BTreeMap::new();
    for read in read_entries.iter().flatten().filter(|read| read.location.resource_type != "Patient") {
        match read_chart_resource(read, &references, &patient_of_entry, &mut import.issues) {
            Ok(Outcome::Prescription(patient, event)) => {
                prescriptions_of_patient.entry(patient).or_default().push(event);
            }
            Ok(Outcome::Records(patient, records)) => {
                for record in records {
                    let patient_records = &mut import.patients[patient].records;
                    if record.section == ImportSection::Episodes {
                        episodes.insert(record.location.entry_index, patient);
                    }
                    if record.section == ImportSection::Trials {
                        trials.push((patient, patient_records.len()));
                    }
                    patient_records.push(record);
                }
            }
            Ok(Outcome::LeftOut(issue)) => {
                import.left_out += 1;
                match policy {
                    ImportPolicy::Strict => import.issues.push(issue),
                    ImportPolicy::BulkExport => {
                        // Counted by kind: the element and issue type where an element is named (so a count
                        // is per kind of problem, not per code or value), else the reason.
                        let element = issue.expression.as_deref().and_then(|expression| {
                            expression.split_once("].resource.").map(|(_, element)| without_indices(element))
                        });
                        let kind = match element {
                            Some(element) => {
                                format!("{}.{element}: {}", read.location.resource_type, issue.code.as_str())
                            }
                            None => format!("{}: {}", read.location.resource_type, issue.diagnostics),
                        };
                        *import.left_out_by_kind.entry(kind).or_default() += 1;
                    }
                }
            }
            Err(issues) => import.issues.extend(issues),
        }
    }
    // A trial's episode must be an episode of the same patient.
    for (patient, record_index) in trials {
        let record = &import.patients[patient].records[record_index];
        if let Some(EpisodeLink::Entry(entry)) = record.episode
            && episodes.get(&entry) != Some(&patient)
        {
            import.issues.push(ImportIssue::error(
                IssueCode::NotFound,
                record.location.element("reasonReference[0].reference"),
                format!("Bundle.entry[{entry}] is not a depressive-episode Condition of this trial's patient"),
            ));
        }
    }
    // Each patient's prescriptions and dispenses, as courses: one trial each.
    for (patient, events) in prescriptions_of_patient {
        import.patients[patient].records.extend(prescriptions::courses_as_trials(events));
    }
    for patient in &mut import.patients {
        patient.records = merge_measurements_by_day(std::mem::take(&mut patient.records));
    }
    Ok(())
}

/// An element path without its indices (`coding[0].code` → `coding.code`).
fn without_indices(path: &str) -> String {
    let mut plain = String::with_capacity(path.len());
    let mut in_index = false;
    for character in path.chars() {
        match character {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if !in_index => plain.push(character),
            _ => {}
        }
    }
    plain
}

/// Whether any string or key of `value` is longer than [`MAX_STRING_BYTES`].
fn holds_a_long_string(value: &Value) -> bool {
    match value {
        Value::String(text) => text.len() > MAX_STRING_BYTES,
        Value::Array(items) => items.iter().any(holds_a_long_string),
        Value::Object(object) => {
            object.iter().any(|(key, item)| key.len() > MAX_STRING_BYTES || holds_a_long_string(item))
        }
        _ => false,
    }
}

/// Every string longer than [`MAX_STRING_BYTES`], by path (at most 10).
fn long_strings(value: &Value, path: &str, found: &mut Vec<ImportIssue>) {
    if found.len() >= 10 {
        return;
    }
    match value {
        Value::String(text) if text.len() > MAX_STRING_BYTES => found.push(ImportIssue::error(
            IssueCode::TooLong,
            path,
            format!("is {} bytes long; no element ketacare imports may exceed {MAX_STRING_BYTES}", text.len()),
        )),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                long_strings(item, &format!("{path}[{index}]"), found);
            }
        }
        Value::Object(object) => {
            for (key, item) in object {
                if key.len() > MAX_STRING_BYTES {
                    found.push(ImportIssue::error(
                        IssueCode::TooLong,
                        path,
                        "holds a key longer than any FHIR element name",
                    ));
                    return;
                }
                long_strings(item, &format!("{path}.{key}"), found);
            }
        }
        _ => {}
    }
}

fn read_entry(entry: &Value, index: usize, kind: BundleKind) -> Read<(EntryRead<'_>, Option<&str>)> {
    let path = format!("Bundle.entry[{index}]");
    let element = Element::new(entry, path.clone())?;
    let allowed: &[&str] = match kind {
        BundleKind::Transaction => &["fullUrl", "resource", "request"],
        BundleKind::Collection => &["fullUrl", "resource"],
        BundleKind::Searchset => &["fullUrl", "resource", "search"],
    };
    if let Some(issue) = element.only(allowed, "a Bundle entry of this type").into_iter().next() {
        return Err(issue);
    }
    let full_url = element.string("fullUrl")?;
    let (resource_value, resource_path) = element.require("resource", "the resource to import")?;
    let resource = Element::new(resource_value, resource_path)?;
    let resource_type = match resource.get("resourceType") {
        Some((value, type_path)) => string(value, &type_path)?.to_owned(),
        None => return Err(ImportIssue::error(IssueCode::Required, resource.at("resourceType"), "is required")),
    };
    let id = match resource.get("id") {
        Some((value, id_path)) => {
            let id = string(value, &id_path)?;
            let valid =
                id.len() <= 64 && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.');
            if !valid {
                return Err(value_issue(&id_path, "must be 1 to 64 letters, digits, '-' or '.' (FHIR id)"));
            }
            Some(id.to_owned())
        }
        None => None,
    };
    if kind == BundleKind::Transaction {
        let request = element.child("request")?.ok_or_else(|| {
            ImportIssue::error(IssueCode::Required, format!("{path}.request"), "a transaction entry needs its request")
        })?;
        if let Some(issue) = request.only(&["method", "url"], "a transaction request").into_iter().next() {
            return Err(issue);
        }
        let (method, method_path) = request.require("method", "POST or PUT")?;
        let (url, url_path) = request.require("url", "the resource type (POST) or Type/id (PUT)")?;
        let url = string(url, &url_path)?;
        match string(method, &method_path)? {
            "POST" if url == resource_type => {}
            "PUT" if id.as_ref().is_some_and(|id| url == format!("{resource_type}/{id}")) => {}
            "POST" | "PUT" => {
                return Err(value_issue(
                    &url_path,
                    format!("\"{url}\" does not name this {resource_type} (Type for POST, Type/id for PUT)"),
                ));
            }
            other => {
                return Err(ImportIssue::error(
                    IssueCode::NotSupported,
                    method_path,
                    format!("ketacare's import creates records (POST or PUT), got {other}"),
                ));
            }
        }
    }
    let location = ResourceLocation { entry_index: index, full_url: full_url.map(str::to_owned), resource_type, id };
    Ok((EntryRead { resource, location }, full_url))
}

/// The resources of the bundle by fullUrl and by `Type/id`.
struct References<'a> {
    by_full_url: &'a HashMap<&'a str, usize>,
    by_type_and_id: &'a HashMap<String, usize>,
    /// How strictly the bundle is read (carried here because every resource reader has it).
    policy: ImportPolicy,
}

impl References<'_> {
    /// The entry a `Reference` element points to, which must be of `resource_type`.
    fn resolve(&self, value: &Value, path: &str, resource_type: &str) -> Read<usize> {
        let element = Element::new(value, path.to_owned())?;
        if let Some(issue) = element.only(&["reference", "display", "type"], "a Reference").into_iter().next() {
            return Err(issue);
        }
        let (reference, reference_path) = element.require("reference", "a reference to a resource of this bundle")?;
        let reference = string(reference, &reference_path)?;
        let found = self.by_full_url.get(reference).copied().or_else(|| {
            // A relative reference, or an absolute URL ending in Type/id, names a resource by type and id.
            let mut parts = reference.rsplit('/');
            let id = parts.next()?;
            let kind = parts.next()?;
            self.by_type_and_id.get(&format!("{kind}/{id}")).copied()
        });
        let Some(entry) = found else {
            return Err(ImportIssue::error(
                IssueCode::NotFound,
                reference_path,
                format!("\"{reference}\" is not a resource of this bundle (by fullUrl or {resource_type}/id)"),
            ));
        };
        let names_type = reference.starts_with("urn:") || reference.split('/').any(|part| part == resource_type);
        if !names_type {
            return Err(value_issue(&reference_path, format!("must refer to a {resource_type}, got \"{reference}\"")));
        }
        Ok(entry)
    }
}

fn read_meta_source<'a>(resource: &Element<'a>) -> Read<Option<&'a str>> {
    let Some(meta) = resource.child("meta")? else { return Ok(None) };
    if let Some(issue) =
        meta.only(&["source", "lastUpdated", "versionId", "profile", "tag", "security"], "meta").into_iter().next()
    {
        return Err(issue);
    }
    meta.string("source")
}

/// Checks a resource's elements: under [`ImportPolicy::Strict`] one outside `allowed` is an error; under
/// [`ImportPolicy::BulkExport`] it is ignored and counted, except those that change the meaning of the
/// resource (`modifierExtension`, `implicitRules`), which are errors either way.
fn check_elements(
    resource: &Element<'_>,
    allowed: &[&str],
    what: &str,
    policy: ImportPolicy,
    warnings: &mut Vec<ImportIssue>,
) -> Result<(), Vec<ImportIssue>> {
    let mut errors = Vec::new();
    for issue in resource.only(allowed, what) {
        if policy == ImportPolicy::BulkExport && issue.code == IssueCode::Structure {
            let element = issue.expression.as_deref().and_then(|path| path.rsplit('.').next()).unwrap_or_default();
            warnings.push(ImportIssue::warning(
                IssueCode::Informational,
                resource.path.clone(),
                format!("{IGNORED}{what}.{element}"),
            ));
        } else {
            errors.push(issue);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// What ketacare does not chart: an error under [`ImportPolicy::Strict`], a resource left out (and
/// counted) under [`ImportPolicy::BulkExport`].
fn not_charted(policy: ImportPolicy, issue: ImportIssue) -> Result<Outcome, Vec<ImportIssue>> {
    match policy {
        ImportPolicy::Strict => Err(vec![issue]),
        ImportPolicy::BulkExport => Ok(Outcome::LeftOut(ImportIssue { severity: IssueSeverity::Information, ..issue })),
    }
}

/// An issue list from one issue.
fn one(issue: ImportIssue) -> Vec<ImportIssue> {
    vec![issue]
}

// ---- Patient ----

fn read_patient(
    read: &EntryRead<'_>,
    bundle_source: Option<&str>,
    policy: ImportPolicy,
    mrn_systems: &[String],
    warnings: &mut Vec<ImportIssue>,
) -> Result<ImportedPatient, Vec<ImportIssue>> {
    let resource = &read.resource;
    check_elements(
        resource,
        &with_common(&["identifier", "active", "name", "gender", "birthDate"]),
        "Patient",
        policy,
        warnings,
    )?;
    let source = read_meta_source(resource).map_err(one)?.or(bundle_source).map(str::to_owned);
    let mut elements = Vec::new();
    // The MRN: an identifier of ketacare's MRN system, one typed MR (HL7 v2 table 0203), or one of the
    // site's configured MRN systems.
    let mut mrn = None;
    let mut other_identifiers = Vec::new();
    if let Some((identifiers, path)) = resource.get("identifier") {
        for (index, identifier) in array(identifiers, &path).map_err(one)?.iter().enumerate() {
            let identifier = Element::new(identifier, format!("{path}[{index}]")).map_err(one)?;
            if let Some(issue) =
                identifier.only(&["system", "value", "type", "use"], "an Identifier").into_iter().next()
            {
                return Err(one(issue));
            }
            let system = identifier.string("system").map_err(one)?;
            let typed_mr = match identifier.get("type") {
                Some((value, type_path)) => {
                    let kind = concept(value, type_path).map_err(one)?;
                    kind.code_in("http://terminology.hl7.org/CodeSystem/v2-0203").is_some_and(|(code, _)| code == "MR")
                }
                None => false,
            };
            let value = identifier.string("value").map_err(one)?;
            let configured = system.is_some_and(|system| mrn_systems.iter().any(|mrn_system| mrn_system == system));
            if system == Some(codes::KETACARE_MRN) || typed_mr || configured {
                let value = value.ok_or_else(|| {
                    one(ImportIssue::error(IssueCode::Required, identifier.at("value"), "the MRN's value is required"))
                })?;
                if mrn.is_some() {
                    return Err(one(ImportIssue::error(
                        IssueCode::Duplicate,
                        identifier.at("value"),
                        "a second MRN: ketacare keeps one medical record number per patient",
                    )));
                }
                mrn = Some(value.to_owned());
                elements.push(("mrn".to_owned(), format!("identifier[{index}].value")));
            } else {
                other_identifiers.push(identifier.path.clone());
            }
        }
    }
    let Some(mrn) = mrn else {
        return Err(one(ImportIssue::error(
            IssueCode::Required,
            read.location.element("identifier"),
            format!(
                "an imported Patient needs its MRN (an identifier with system {}, type MR, or a system the site names with --mrn-system): it is how a re-import finds the patient",
                codes::KETACARE_MRN
            ),
        )));
    };
    let mut issues: Vec<ImportIssue> = other_identifiers
        .into_iter()
        .map(|path| ImportIssue::warning(IssueCode::Informational, path, "not kept: ketacare keeps the MRN only"))
        .collect();
    let entered_in_error = match resource.get("active") {
        Some((value, path)) => !boolean(value, &path).map_err(one)?,
        None => false,
    };
    let (names, names_path) = resource.require("name", "the patient's official name").map_err(one)?;
    let names = array(names, &names_path).map_err(one)?;
    // The official name, else the first.
    let mut chosen = 0;
    for (index, name) in names.iter().enumerate() {
        if name.get("use").and_then(Value::as_str) == Some("official") {
            chosen = index;
            break;
        }
    }
    let name = Element::new(&names[chosen], format!("{names_path}[{chosen}]")).map_err(one)?;
    if let Some(issue) =
        name.only(&["use", "family", "given", "text", "prefix", "suffix"], "a HumanName").into_iter().next()
    {
        return Err(one(issue));
    }
    let (family, family_path) = name.require("family", "the family name").map_err(one)?;
    let family_name = string(family, &family_path).map_err(one)?.to_owned();
    elements.push(("family_name".to_owned(), format!("name[{chosen}].family")));
    let (given, given_path) = name.require("given", "the given name").map_err(one)?;
    let given_names: Vec<&str> = array(given, &given_path)
        .map_err(one)?
        .iter()
        .enumerate()
        .map(|(index, part)| string(part, &format!("{given_path}[{index}]")))
        .collect::<Read<_>>()
        .map_err(one)?;
    elements.push(("given_name".to_owned(), format!("name[{chosen}].given[0]")));
    let (gender, gender_path) =
        resource.require("gender", "female or male: the sex at birth ketacare doses by").map_err(one)?;
    let sex_at_birth = match string(gender, &gender_path).map_err(one)? {
        word @ ("female" | "male") => word.to_owned(),
        other => {
            return Err(one(value_issue(
                &gender_path,
                format!("ketacare doses by sex at birth and needs female or male, got \"{other}\""),
            )));
        }
    };
    elements.push(("sex_at_birth".to_owned(), "gender".to_owned()));
    let (birth, birth_path) = resource.require("birthDate", "the birth date").map_err(one)?;
    let birth_date = fhir_day(birth, &birth_path).map_err(one)?;
    elements.push(("birth_date".to_owned(), "birthDate".to_owned()));
    if names.len() > 1 {
        issues.push(ImportIssue::warning(
            IssueCode::Informational,
            names_path,
            format!("not kept: ketacare keeps one name, name[{chosen}]"),
        ));
    }
    // Warnings do not refuse a patient; they are reported with the result.
    warnings.extend(issues);
    Ok(ImportedPatient {
        location: read.location.clone(),
        source,
        mrn,
        given_name: given_names.join(" "),
        family_name,
        birth_date,
        sex_at_birth,
        entered_in_error,
        elements,
        records: Vec::new(),
    })
}

// ---- chart resources ----

/// What one non-Patient resource gives.
enum Outcome {
    /// Records for the patient at this index.
    Records(usize, Vec<ImportedRecord>),
    /// Read and deliberately not imported, with the issue saying so.
    LeftOut(ImportIssue),
    /// A prescription or dispense of the patient at this index: a drug event of a course.
    Prescription(usize, prescriptions::PrescriptionEvent),
}

/// A record under construction: its body and the element of each field.
struct RecordBuilder {
    body: Map<String, Value>,
    elements: Vec<(String, String)>,
}

impl RecordBuilder {
    fn new() -> RecordBuilder {
        RecordBuilder { body: Map::new(), elements: Vec::new() }
    }

    fn set(&mut self, field: &str, value: Value, element: &str, resource: &Element<'_>) {
        self.body.insert(field.to_owned(), value);
        let relative = element.strip_prefix(&format!("{}.", resource.path)).unwrap_or(element);
        self.elements.push((field.to_owned(), relative.to_owned()));
    }

    fn finish(self, read: &EntryRead<'_>, section: ImportSection, entered_in_error: bool) -> ImportedRecord {
        ImportedRecord {
            location: read.location.clone(),
            section,
            body: self.body,
            episode: None,
            entered_in_error,
            stated_total: None,
            elements: self.elements,
            course: None,
        }
    }
}

fn subject_patient(
    resource: &Element<'_>,
    references: &References<'_>,
    patient_of_entry: &BTreeMap<usize, usize>,
) -> Read<usize> {
    // A Consent names its patient in `patient`; every other resource read here in `subject`.
    let element = if resource.object.get("resourceType").and_then(Value::as_str) == Some("Consent") {
        "patient"
    } else {
        "subject"
    };
    let (subject, path) = resource.require(element, "the Patient of this bundle it is about")?;
    let entry = references.resolve(subject, &path, "Patient")?;
    patient_of_entry.get(&entry).copied().ok_or_else(|| {
        ImportIssue::error(
            IssueCode::NotFound,
            format!("{path}.reference"),
            format!("Bundle.entry[{entry}] is a Patient refused for the issue reported at it"),
        )
    })
}

/// The ketacare extensions of a resource, by name; an unknown extension is reported and ignored.
struct Extensions<'a> {
    by_name: HashMap<&'a str, (&'a Map<String, Value>, String)>,
}

impl<'a> Extensions<'a> {
    fn read(resource: &Element<'a>, known: &[&str], warnings: &mut Vec<ImportIssue>) -> Read<Extensions<'a>> {
        let mut by_name = HashMap::new();
        if let Some((list, path)) = resource.get("extension") {
            for (index, item) in array(list, &path)?.iter().enumerate() {
                let extension = Element::new(item, format!("{path}[{index}]"))?;
                let (url, url_path) = extension.require("url", "the extension's URL")?;
                let url = string(url, &url_path)?;
                let name = url.strip_prefix(codes::KETACARE_EXTENSION_BASE).and_then(|rest| rest.strip_prefix('/'));
                match name {
                    Some(name) if known.contains(&name) => {
                        if by_name.insert(name, (extension.object, extension.path.clone())).is_some() {
                            return Err(ImportIssue::error(
                                IssueCode::Duplicate,
                                extension.path,
                                format!("{url} is given twice"),
                            ));
                        }
                    }
                    _ => warnings.push(ImportIssue::warning(
                        IssueCode::Informational,
                        extension.path,
                        format!("extension {url} is not read by ketacare's import: ignored"),
                    )),
                }
            }
        }
        Ok(Extensions { by_name })
    }

    fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The `value[x]` of extension `name`, which must be `value_key` (`valueDecimal`).
    fn value(&self, name: &str, value_key: &str) -> Read<Option<(&'a Value, String)>> {
        let Some((object, path)) = self.by_name.get(name) else { return Ok(None) };
        let values: Vec<&String> = object.keys().filter(|key| key.starts_with("value")).collect();
        match values.as_slice() {
            [key] if *key == value_key => Ok(Some((&object[value_key], format!("{path}.{value_key}")))),
            _ => Err(structure(path, format!("the {name} extension takes {value_key}"))),
        }
    }
}

fn read_chart_resource(
    read: &EntryRead<'_>,
    references: &References<'_>,
    patient_of_entry: &BTreeMap<usize, usize>,
    warnings: &mut Vec<ImportIssue>,
) -> Result<Outcome, Vec<ImportIssue>> {
    let resource = &read.resource;
    match read.location.resource_type.as_str() {
        "Condition" => read_condition(read, references, patient_of_entry, warnings),
        "MedicationStatement" => read_medication_statement(read, references, patient_of_entry, warnings),
        "Observation" => read_observation(read, references, patient_of_entry, warnings),
        "MedicationRequest" if !is_ketamine_order(resource) => {
            prescriptions::read_prescription(read, references, patient_of_entry, warnings)
        }
        "MedicationDispense" => prescriptions::read_prescription(read, references, patient_of_entry, warnings),
        kind => {
            // ketacare's own records that are made only through their workflows: read (their patient must
            // be in the bundle) and left out, each with why.
            let (code, why) = match kind {
                "MedicationAdministration" => (
                    IssueCode::NotSupported,
                    "not imported: a dose is recorded only in a treatment session, through the session workflow",
                ),
                "QuestionnaireResponse" => (
                    IssueCode::Informational,
                    "read from the scale's Observation instead: its components carry the same answers",
                ),
                "CarePlan" if is_treatment_session(resource) => (
                    IssueCode::NotSupported,
                    "not imported: a treatment plan is prescribed only through the plan workflow",
                ),
                "MedicationRequest" if is_ketamine_order(resource) => (
                    IssueCode::NotSupported,
                    "not imported: a dose order is signed only through the order workflow, against the chart it is computed on",
                ),
                "Consent" => (
                    IssueCode::NotSupported,
                    "not imported: a consent is recorded by a clinician with the signed form in hand, on a form version of this clinic (docs/consent.md)",
                ),
                "Encounter" | "Procedure" if is_treatment_session(resource) => (
                    IssueCode::NotSupported,
                    "not imported: a treatment session is recorded only through the session workflow",
                ),
                other => return not_charted_type(references.policy, read, other),
            };
            subject_patient(resource, references, patient_of_entry).map_err(one)?;
            Ok(Outcome::LeftOut(ImportIssue::warning(code, read.location.expression(), why)))
        }
    }
}

/// A resource type ketacare neither charts nor reads: refused, or counted under the bulk policy.
fn not_charted_type(policy: ImportPolicy, read: &EntryRead<'_>, other: &str) -> Result<Outcome, Vec<ImportIssue>> {
    not_charted(
        policy,
        ImportIssue::error(
            IssueCode::NotSupported,
            read.location.element("resourceType"),
            format!(
                "ketacare imports Patient, Condition, MedicationStatement, MedicationRequest, MedicationDispense and Observation (and reads ketacare's own MedicationAdministration, CarePlan, Encounter, Procedure and Consent), not {other}"
            ),
        ),
    )
}

/// Whether an Encounter, Procedure or CarePlan is a ketacare treatment session's or course's (typed or
/// coded with ketacare's `treatment-session-*` codes): those are read and left out; any other is not charted.
fn is_treatment_session(resource: &Element<'_>) -> bool {
    let mut concepts: Vec<&Value> = Vec::new();
    concepts.extend(resource.object.get("code"));
    concepts.extend(resource.object.get("type").and_then(Value::as_array).into_iter().flatten());
    concepts.extend(
        resource
            .object
            .get("activity")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|activity| activity.get("detail")?.get("code")),
    );
    concepts.iter().filter_map(|concept| concept.get("coding")?.as_array()).flatten().any(|coding| {
        coding.get("system").and_then(Value::as_str) == Some(KETACARE)
            && coding.get("code").and_then(Value::as_str).is_some_and(|code| code.starts_with("treatment-session-"))
    })
}

/// Whether a MedicationRequest is an order (`intent` `order`) for ketamine or esketamine: a dose order,
/// read and left out; any other MedicationRequest is a prescription, read as a drug event of a course.
fn is_ketamine_order(resource: &Element<'_>) -> bool {
    let ordered = resource.object.get("intent").and_then(Value::as_str) == Some("order");
    let text = resource
        .object
        .get("medicationCodeableConcept")
        .and_then(|concept| concept.get("text"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    ordered && matches!(text, "ketamine" | "esketamine")
}

fn status_of(resource: &Element<'_>, allowed: &[&str], what: &str) -> Read<(String, String)> {
    let (value, path) = resource.require("status", what)?;
    let status = string(value, &path)?;
    if !allowed.contains(&status) {
        return Err(value_issue(
            &path,
            format!("ketacare imports {what} with status {}, got \"{status}\"", allowed.join(", ")),
        ));
    }
    Ok((status.to_owned(), path))
}

// ---- Condition: an episode or a history finding ----

const EPISODE_EXTENSIONS: [&str; 4] =
    ["psychotic-features", "episode-duration-months", "ect-failed-courses", "ect-bilateral"];

fn read_condition(
    read: &EntryRead<'_>,
    references: &References<'_>,
    patient_of_entry: &BTreeMap<usize, usize>,
    warnings: &mut Vec<ImportIssue>,
) -> Result<Outcome, Vec<ImportIssue>> {
    let resource = &read.resource;
    check_elements(
        resource,
        &with_common(&[
            "extension",
            "clinicalStatus",
            "verificationStatus",
            "category",
            "severity",
            "code",
            "subject",
            "onsetDateTime",
            "recordedDate",
        ]),
        "Condition",
        references.policy,
        warnings,
    )?;
    read_meta_source(resource).map_err(one)?;
    let patient = subject_patient(resource, references, patient_of_entry).map_err(one)?;
    let entered_in_error = match resource.get("verificationStatus") {
        Some((value, path)) => {
            let status = concept(value, path).map_err(one)?;
            match status.code_in(codes::CONDITION_VERIFICATION) {
                Some(("confirmed", _)) => false,
                Some(("entered-in-error", _)) => true,
                Some((other, path)) => {
                    let problem =
                        format!("ketacare charts confirmed conditions (or entered-in-error), got \"{other}\"");
                    return not_charted(references.policy, value_issue(path, problem));
                }
                None => {
                    return Err(one(structure(
                        &status.path,
                        format!("needs a coding of {}", codes::CONDITION_VERIFICATION),
                    )));
                }
            }
        }
        None => false,
    };
    let clinical_status = match resource.get("clinicalStatus") {
        Some((value, path)) => {
            let status = concept(value, path).map_err(one)?;
            match status.code_in(codes::CONDITION_CLINICAL) {
                Some((code @ ("active" | "resolved"), path)) => Some((code.to_owned(), path.to_owned())),
                Some((other, path)) => {
                    let problem = format!("ketacare charts active or resolved conditions, got \"{other}\"");
                    return not_charted(references.policy, value_issue(path, problem));
                }
                None => {
                    return Err(one(structure(
                        &status.path,
                        format!("needs a coding of {}", codes::CONDITION_CLINICAL),
                    )));
                }
            }
        }
        None => None,
    };
    if let Some((value, path)) = resource.get("category") {
        for (index, item) in array(value, &path).map_err(one)?.iter().enumerate() {
            concept(item, format!("{path}[{index}]")).map_err(one)?;
        }
    }
    if let Some((value, path)) = resource.get("recordedDate") {
        // The day ketacare records it is its own; the given one is only checked.
        fhir_day(value, &path).map_err(one)?;
    }
    let (code_value, code_path) =
        resource.require("code", "an ICD-10-CM depressive-episode code or a ketacare history code").map_err(one)?;
    let code = concept(code_value, code_path.clone()).map_err(one)?;
    let extensions = Extensions::read(resource, &EPISODE_EXTENSIONS, warnings).map_err(one)?;
    let mut record = RecordBuilder::new();
    let onset = resource
        .get("onsetDateTime")
        .map(|(value, path)| fhir_day(value, &path).map(|day| (day, path)))
        .transpose()
        .map_err(one)?;
    if let Some((icd10, icd_path)) = code.code_in(codes::ICD10CM) {
        let normalized = icd10.to_ascii_uppercase();
        if !(normalized.starts_with("F32") || normalized.starts_with("F33")) {
            let problem = format!("ketacare charts depressive episodes (ICD-10-CM F32, F33), got \"{icd10}\"");
            return not_charted(references.policy, ImportIssue::error(IssueCode::CodeInvalid, icd_path, problem));
        }
        if clinical_status.as_ref().is_some_and(|(status, _)| status == "resolved") {
            let path = clinical_status.as_ref().map(|(_, path)| path.clone()).unwrap_or_default();
            let problem = "ketacare charts a depressive episode as active; a resolved episode is not imported";
            return not_charted(references.policy, value_issue(&path, problem));
        }
        record.set("diagnosis", Value::String(icd10.to_owned()), icd_path, resource);
        if let Some((day, path)) = onset {
            record.set("onset_date", Value::String(day), &path, resource);
        }
        if let Some((value, path)) = resource.get("severity") {
            let severity = concept(value, path).map_err(one)?;
            let word = severity
                .code_in(KETACARE)
                .and_then(|(code, path)| code.strip_prefix("severity-").map(|word| (word, path)))
                .ok_or_else(|| {
                    one(ImportIssue::error(
                        IssueCode::CodeInvalid,
                        severity.path.clone(),
                        format!("needs a {KETACARE} severity-{{mild, moderate, severe, subsyndromal}} coding"),
                    ))
                })?;
            record.set("severity", Value::String(word.0.to_owned()), word.1, resource);
        }
        if let Some((value, path)) = extensions.value("psychotic-features", "valueBoolean").map_err(one)? {
            record.set("psychotic_features", Value::Bool(boolean(value, &path).map_err(one)?), &path, resource);
        }
        if let Some((value, path)) = extensions.value("episode-duration-months", "valueDecimal").map_err(one)? {
            record.set("duration_months", Value::Number(number(value, &path).map_err(one)?.clone()), &path, resource);
        }
        let mut ect = Map::new();
        if let Some((value, path)) = extensions.value("ect-failed-courses", "valueInteger").map_err(one)? {
            ect.insert("failed_courses".to_owned(), Value::from(integer(value, &path).map_err(one)?));
            record.elements.push((
                "ect.failed_courses".to_owned(),
                path.strip_prefix(&format!("{}.", resource.path)).unwrap_or(&path).to_owned(),
            ));
        }
        if let Some((value, path)) = extensions.value("ect-bilateral", "valueBoolean").map_err(one)? {
            ect.insert("bilateral".to_owned(), Value::Bool(boolean(value, &path).map_err(one)?));
            record.elements.push((
                "ect.bilateral".to_owned(),
                path.strip_prefix(&format!("{}.", resource.path)).unwrap_or(&path).to_owned(),
            ));
        }
        if !ect.is_empty() {
            record.body.insert("ect".to_owned(), Value::Object(ect));
        }
        // A SNOMED CT coding beside the ICD-10-CM code is derived from it (KNOWLEDGE §8.2): not kept.
        let mut imported = record.finish(read, ImportSection::Episodes, entered_in_error);
        imported.elements.push(("(body)".to_owned(), "code".to_owned()));
        return Ok(Outcome::Records(patient, vec![imported]));
    }
    if let Some((code_text, path)) = code.code_in(KETACARE) {
        let Some(finding) = code_text.strip_prefix("history-") else {
            return Err(one(ImportIssue::error(
                IssueCode::CodeInvalid,
                path,
                format!("\"{code_text}\" is not a ketacare history code (history-*)"),
            )));
        };
        for name in EPISODE_EXTENSIONS {
            if extensions.has(name) {
                return Err(one(structure(
                    &read.location.element("extension"),
                    format!("the {name} extension belongs to a depressive episode"),
                )));
            }
        }
        record.set("code", Value::String(finding.to_owned()), path, resource);
        if let Some((status, path)) = &clinical_status {
            record.set("clinical_status", Value::String(status.clone()), path, resource);
        }
        if let Some((day, path)) = onset {
            record.set("noted_on", Value::String(day), &path, resource);
        }
        if resource.get("severity").is_some() {
            return Err(one(structure(
                &resource.at("severity"),
                "a history finding has no severity in ketacare's chart",
            )));
        }
        return Ok(Outcome::Records(patient, vec![record.finish(read, ImportSection::History, entered_in_error)]));
    }
    let problem = format!(
        "ketacare imports a depressive episode (an ICD-10-CM F32/F33 coding) or a history finding ({KETACARE} history-*); this Condition has neither"
    );
    not_charted(references.policy, ImportIssue::error(IssueCode::CodeInvalid, code.path, problem))
}

// ---- MedicationStatement: a trial or a concomitant medicine ----

const TRIAL_EXTENSIONS: [&str; 5] =
    ["trial-weeks", "trial-improvement-pct", "trial-adherence", "trial-role", "trial-in-current-episode"];

fn read_medication_statement(
    read: &EntryRead<'_>,
    references: &References<'_>,
    patient_of_entry: &BTreeMap<usize, usize>,
    warnings: &mut Vec<ImportIssue>,
) -> Result<Outcome, Vec<ImportIssue>> {
    let resource = &read.resource;
    check_elements(
        resource,
        &with_common(&[
            "extension",
            "status",
            "statusReason",
            "category",
            "medicationCodeableConcept",
            "medicationReference",
            "contained",
            "subject",
            "effectiveDateTime",
            "effectivePeriod",
            "dateAsserted",
            "informationSource",
            "reasonReference",
            "dosage",
        ]),
        "MedicationStatement",
        references.policy,
        warnings,
    )?;
    read_meta_source(resource).map_err(one)?;
    let patient = subject_patient(resource, references, patient_of_entry).map_err(one)?;
    if let Some((value, path)) = resource.get("dateAsserted") {
        fhir_day(value, &path).map_err(one)?;
    }
    if let Some((value, path)) = resource.get("category") {
        concept(value, path).map_err(one)?;
    }
    let (medication, medication_path) = medication_of_statement(resource).map_err(one)?;
    let medication = concept(medication, medication_path).map_err(one)?;
    let mut record = RecordBuilder::new();

    if let Some((code, code_path)) = medication.code_in(KETACARE) {
        let class = code.strip_prefix("concomitant-").ok_or_else(|| {
            one(ImportIssue::error(
                IssueCode::CodeInvalid,
                code_path,
                format!("\"{code}\" is not a ketacare concomitant class (concomitant-*)"),
            ))
        })?;
        let (status, status_path) =
            status_of(resource, &["active", "stopped", "completed", "entered-in-error"], "a concomitant medicine")
                .map_err(one)?;
        for key in ["dosage", "statusReason", "reasonReference", "extension"] {
            if resource.get(key).is_some() {
                return Err(one(structure(
                    &resource.at(key),
                    "is not read for a concomitant medicine recorded by class",
                )));
            }
        }
        record.set("class", Value::String(class.to_owned()), code_path, resource);
        let clinical_status = match status.as_str() {
            "stopped" | "completed" => Some("stopped"),
            _ => None,
        };
        if let Some(word) = clinical_status {
            record.set("clinical_status", Value::String(word.to_owned()), &status_path, resource);
        }
        if let Some((value, path)) = resource.get("effectiveDateTime") {
            record.set("noted_on", Value::String(fhir_day(value, &path).map_err(one)?), &path, resource);
        }
        let entered_in_error = status == "entered-in-error";
        return Ok(Outcome::Records(patient, vec![record.finish(read, ImportSection::Concomitant, entered_in_error)]));
    }

    // An antidepressant or augmentation trial.
    let (status, _) =
        match status_of(resource, &["completed", "active", "stopped", "entered-in-error"], "a medication trial") {
            Ok(status) => status,
            Err(issue) if issue.code == IssueCode::Value => return not_charted(references.policy, issue),
            Err(issue) => return Err(one(issue)),
        };
    // A dated statement without ketacare's trial extensions (an EHR's, a referral's) is a drug event of a
    // course, as a prescription is; one with them is ketacare's own trial, whose weeks are its extension.
    let date_key = ["effectiveDateTime", "effectivePeriod"].into_iter().find(|key| resource.get(key).is_some());
    let has_trial_extension = resource.object.get("extension").and_then(Value::as_array).is_some_and(|extensions| {
        extensions.iter().filter_map(|extension| extension.get("url").and_then(Value::as_str)).any(|url| {
            url.strip_prefix(codes::KETACARE_EXTENSION_BASE)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| TRIAL_EXTENSIONS.contains(&name))
        })
    });
    match (date_key, has_trial_extension) {
        (Some(_), false) if status == "entered-in-error" => {
            return Ok(Outcome::LeftOut(ImportIssue::information(
                "an entered-in-error MedicationStatement is no drug event: not read",
                Some(read.location.element("status")),
            )));
        }
        (Some(_), false) => return prescriptions::read_dated_statement(read, references, patient_of_entry, warnings),
        (Some(key), true) if references.policy == ImportPolicy::Strict => {
            return Err(one(ImportIssue::error(
                IssueCode::NotSupported,
                read.location.element(key),
                "a trial given with ketacare's trial extensions is charted by its weeks (trial-weeks), not dated: give one or the other",
            )));
        }
        _ => {}
    }
    let drug = match resolve_medication(&medication, warnings) {
        Ok(drug) => drug,
        // Under a bulk export, a drug the knowledge base does not know is no antidepressant trial of ours.
        Err(issue) if issue.code == IssueCode::CodeInvalid => return not_charted(references.policy, issue),
        Err(issue) => return Err(one(issue)),
    };
    record.set("drug", Value::String(drug.written), &drug.element, resource);
    if let Some((value, path)) = resource.get("statusReason") {
        let reasons = array(value, &path).map_err(one)?;
        if reasons.len() > 1 {
            return Err(one(structure(&path, "ketacare keeps one stop reason")));
        }
        let reason = concept(&reasons[0], format!("{path}[0]")).map_err(one)?;
        let text = reason.text.ok_or_else(|| {
            one(ImportIssue::error(
                IssueCode::Required,
                format!("{path}[0].text"),
                "the stop reason's text is required",
            ))
        })?;
        record.set("stop_reason", Value::String(text.to_owned()), &format!("{path}[0].text"), resource);
    }
    if let Some((value, path)) = resource.get("dosage") {
        let daily = read_daily_dose(value, &path).map_err(one)?;
        record.set("daily_dose_mg", Value::Number(daily.0), &daily.1, resource);
    }
    let extensions = Extensions::read(resource, &TRIAL_EXTENSIONS, warnings).map_err(one)?;
    if let Some((value, path)) = extensions.value("trial-weeks", "valueDecimal").map_err(one)? {
        record.set("weeks", Value::Number(number(value, &path).map_err(one)?.clone()), &path, resource);
    }
    if let Some((value, path)) = extensions.value("trial-improvement-pct", "valueDecimal").map_err(one)? {
        record.set("improvement_pct", Value::Number(number(value, &path).map_err(one)?.clone()), &path, resource);
    }
    if let Some((value, path)) = extensions.value("trial-adherence", "valueCode").map_err(one)? {
        record.set("adherence", Value::String(string(value, &path).map_err(one)?.to_owned()), &path, resource);
    }
    if let Some((value, path)) = extensions.value("trial-role", "valueCode").map_err(one)? {
        record.set("role", Value::String(string(value, &path).map_err(one)?.to_owned()), &path, resource);
    }
    let in_current_episode = match extensions.value("trial-in-current-episode", "valueBoolean").map_err(one)? {
        Some((value, path)) => Some(boolean(value, &path).map_err(one)?),
        None => None,
    };
    let episode = match resource.get("reasonReference") {
        Some((value, path)) => {
            let reasons = array(value, &path).map_err(one)?;
            if reasons.len() > 1 {
                return Err(one(structure(&path, "a trial belongs to one depressive episode")));
            }
            EpisodeLink::Entry(references.resolve(&reasons[0], &format!("{path}[0]"), "Condition").map_err(one)?)
        }
        None if in_current_episode == Some(false) => {
            return Err(one(ImportIssue::error(
                IssueCode::Required,
                read.location.element("reasonReference"),
                "a trial outside the current episode needs reasonReference to its depressive-episode Condition",
            )));
        }
        None => EpisodeLink::Current,
    };
    record.elements.push(("episode_id".to_owned(), "reasonReference[0]".to_owned()));
    let mut imported = record.finish(read, ImportSection::Trials, status == "entered-in-error");
    imported.episode = Some(episode);
    Ok(Outcome::Records(patient, vec![imported]))
}

/// A statement's drug: `medicationCodeableConcept`, or `medicationReference` to a Medication contained in
/// the statement (`#med1`), whose `code` is the drug.
fn medication_of_statement<'a>(resource: &Element<'a>) -> Read<(&'a Value, String)> {
    let Some((reference, reference_path)) = resource.get("medicationReference") else {
        if let Some((_, path)) = resource.get("contained") {
            return Err(structure(&path, "contained resources are read only as the Medication of medicationReference"));
        }
        return resource.require("medicationCodeableConcept", "the drug (RxNorm, ATC or its name)");
    };
    if let Some((_, path)) = resource.get("medicationCodeableConcept") {
        return Err(structure(
            &path,
            "a statement names its drug once: medicationCodeableConcept or medicationReference",
        ));
    }
    let reference = Element::new(reference, reference_path)?;
    let (target, target_path) = reference.require("reference", "#id of a contained Medication")?;
    let target = string(target, &target_path)?;
    let Some(id) = target.strip_prefix('#') else {
        return Err(ImportIssue::error(
            IssueCode::NotSupported,
            target_path,
            "ketacare reads a medicationReference to a contained Medication (#id) only",
        ));
    };
    let (contained, contained_path) = resource.require("contained", "the Medication the reference names")?;
    for (index, item) in array(contained, &contained_path)?.iter().enumerate() {
        let medication = Element::new(item, format!("{contained_path}[{index}]"))?;
        if medication.object.get("resourceType").and_then(Value::as_str) != Some("Medication") {
            return Err(structure(&medication.at("resourceType"), "contained resources are read only as a Medication"));
        }
        if medication.object.get("id").and_then(Value::as_str) == Some(id) {
            if let Some(issue) = medication
                .only(&["resourceType", "id", "code", "form", "text"], "a contained Medication")
                .into_iter()
                .next()
            {
                return Err(issue);
            }
            return medication.require("code", "the Medication's code (RxNorm, ATC or its name)");
        }
    }
    Err(ImportIssue::error(IssueCode::NotFound, target_path, format!("no contained Medication has the id \"{id}\"")))
}

/// A drug as the chart keeps it: the name as written when it resolves (it may name a formulation), else
/// the ingredient of its RxNorm or ATC code; and the element it came from.
struct ResolvedMedication {
    written: String,
    element: String,
}

fn atc_entry(code: &str) -> Option<&'static DrugEntry> {
    DRUGS.iter().find(|entry| entry.atc == Some(code))
}

/// Resolves a medication concept through the core's knowledge base: its RxNorm code, its ATC code, its
/// name; the codes and the name must agree. A code the knowledge base does not know is refused; a name
/// alone that it does not resolve is kept as written, with a warning (the engine then reports the trial's
/// drug as unknown): never guessed.
fn resolve_medication(medication: &ConceptRead<'_>, warnings: &mut Vec<ImportIssue>) -> Read<ResolvedMedication> {
    // The drug each code names: (entry, the element that named it, the drug as written for the chart).
    let mut coded: Option<(&'static DrugEntry, String, String)> = None;
    for coding in &medication.codings {
        let (Some(system), Some(code)) = (coding.system, coding.code) else {
            return Err(ImportIssue::error(
                IssueCode::Required,
                coding.path.clone(),
                "a drug coding needs its system and code",
            ));
        };
        let code_path = format!("{}.code", coding.path);
        let (entry, element, written) = match system {
            codes::RXNORM => match drug_by_rxcui(code) {
                Some(entry) => (entry, code_path, entry.ingredient.to_owned()),
                // An RxNorm code of a product (SCD, SBD, …) rather than an ingredient: its display is
                // RxNorm's own name of that product, resolved as the engine resolves names.
                None => match coding
                    .display
                    .and_then(|display| resolve_drug_name(display).map(|named| (display, named)))
                {
                    Some((display, named)) => {
                        warnings.push(ImportIssue::warning(
                            IssueCode::Informational,
                            code_path,
                            format!(
                                "RxNorm {code} is not an ingredient of ketacare's drug knowledge base; its display \"{display}\" names {}",
                                named.entry.ingredient
                            ),
                        ));
                        (named.entry, format!("{}.display", coding.path), display.to_owned())
                    }
                    None => {
                        return Err(ImportIssue::error(
                            IssueCode::CodeInvalid,
                            code_path,
                            format!("RxNorm {code} is not in ketacare's drug knowledge base (clinical-reference §1.4)"),
                        ));
                    }
                },
            },
            codes::ATC => match atc_entry(code) {
                Some(entry) => (entry, code_path, entry.ingredient.to_owned()),
                None => {
                    return Err(ImportIssue::error(
                        IssueCode::CodeInvalid,
                        code_path,
                        format!("ATC {code} is not in ketacare's drug knowledge base (clinical-reference §1.4)"),
                    ));
                }
            },
            other => {
                warnings.push(ImportIssue::warning(
                    IssueCode::Informational,
                    coding.path.clone(),
                    format!("codes of {other} are not read; the drug is resolved from RxNorm, ATC or its name"),
                ));
                continue;
            }
        };
        match &coded {
            Some((first, first_path, _)) if first.ingredient != entry.ingredient => {
                return Err(ImportIssue::error(
                    IssueCode::Conflict,
                    element,
                    format!("names {} but {first_path} names {}", entry.ingredient, first.ingredient),
                ));
            }
            Some(_) => {}
            None => coded = Some((entry, element, written)),
        }
    }
    let text_path = format!("{}.text", medication.path);
    match (medication.text, coded) {
        (Some(text), coded) => match (resolve_drug_name(text), coded) {
            (Some(named), Some((entry, code_path, _))) if named.entry.ingredient != entry.ingredient => {
                Err(ImportIssue::error(
                    IssueCode::Conflict,
                    text_path,
                    format!("\"{text}\" names {} but {code_path} names {}", named.entry.ingredient, entry.ingredient),
                ))
            }
            (Some(_), _) => Ok(ResolvedMedication { written: text.to_owned(), element: text_path }),
            (None, Some((entry, code_path, written))) => {
                warnings.push(ImportIssue::warning(
                    IssueCode::Informational,
                    text_path,
                    format!(
                        "\"{text}\" does not resolve to one drug; the trial is charted as {} from {code_path}",
                        entry.ingredient
                    ),
                ));
                Ok(ResolvedMedication { written, element: code_path })
            }
            (None, None) => {
                warnings.push(ImportIssue::warning(
                    IssueCode::CodeInvalid,
                    text_path.clone(),
                    format!(
                        "\"{text}\" is not a drug of ketacare's knowledge base and has no RxNorm code: kept as written, and the engine judges the trial UNKNOWN_DRUG"
                    ),
                ));
                Ok(ResolvedMedication { written: text.to_owned(), element: text_path })
            }
        },
        (None, Some((_, code_path, written))) => Ok(ResolvedMedication { written, element: code_path }),
        (None, None) => Err(ImportIssue::error(
            IssueCode::Required,
            medication.path.clone(),
            "the drug needs an RxNorm or ATC code of ketacare's knowledge base, or its name in text",
        )),
    }
}

/// The daily dose in mg from `dosage[0]`: `doseAndRate[0].doseQuantity` in mg, taken `timing.repeat`
/// `frequency` times a day (once when no timing is given).
fn read_daily_dose(value: &Value, path: &str) -> Read<(Number, String)> {
    let dosages = array(value, path)?;
    if dosages.len() > 1 {
        return Err(ImportIssue::error(IssueCode::NotSupported, path, "ketacare charts one daily dose per trial"));
    }
    let dosage = Element::new(&dosages[0], format!("{path}[0]"))?;
    if let Some(issue) = dosage
        .only(&["text", "timing", "doseAndRate", "route", "sequence", "asNeededBoolean"], "a Dosage")
        .into_iter()
        .next()
    {
        return Err(issue);
    }
    if let Some((value, as_needed_path)) = dosage.get("asNeededBoolean")
        && boolean(value, &as_needed_path)?
    {
        return Err(ImportIssue::error(
            IssueCode::NotSupported,
            as_needed_path,
            "a dose taken as needed is not a daily dose",
        ));
    }
    let mut frequency = 1;
    if let Some(timing) = dosage.child("timing")? {
        if let Some(issue) = timing.only(&["repeat"], "a Timing").into_iter().next() {
            return Err(issue);
        }
        if let Some(repeat) = timing.child("repeat")? {
            if let Some(issue) = repeat.only(&["frequency", "period", "periodUnit"], "Timing.repeat").into_iter().next()
            {
                return Err(issue);
            }
            if let Some((value, frequency_path)) = repeat.get("frequency") {
                frequency = integer(value, &frequency_path)?;
                if !(1..=24).contains(&frequency) {
                    return Err(value_issue(&frequency_path, format!("must be 1 to 24 times a day, got {frequency}")));
                }
            }
            if let Some((value, period_path)) = repeat.get("period")
                && number(value, &period_path)?.as_str() != "1"
            {
                return Err(ImportIssue::error(
                    IssueCode::NotSupported,
                    period_path,
                    "ketacare reads daily doses: period 1 d",
                ));
            }
            match repeat.string("periodUnit")? {
                None | Some("d") => {}
                Some(_) => {
                    return Err(ImportIssue::error(
                        IssueCode::NotSupported,
                        repeat.at("periodUnit"),
                        "ketacare reads daily doses: periodUnit d",
                    ));
                }
            }
        }
    }
    let (rates, rates_path) = dosage.require("doseAndRate", "the dose in mg")?;
    let rates = array(rates, &rates_path)?;
    if rates.len() > 1 {
        return Err(ImportIssue::error(IssueCode::NotSupported, rates_path, "ketacare charts one dose per trial"));
    }
    let rate = Element::new(&rates[0], format!("{rates_path}[0]"))?;
    if let Some(issue) = rate.only(&["doseQuantity", "type"], "Dosage.doseAndRate").into_iter().next() {
        return Err(issue);
    }
    let quantity = rate.child("doseQuantity")?.ok_or_else(|| {
        ImportIssue::error(IssueCode::Required, rate.at("doseQuantity"), "the dose is required, in mg")
    })?;
    let (value, value_path) = read_quantity(&quantity, "mg")?;
    if frequency == 1 {
        return Ok((value.clone(), value_path));
    }
    let dose: rust_decimal::Decimal = value
        .as_str()
        .parse()
        .or_else(|_| rust_decimal::Decimal::from_scientific(value.as_str()))
        .map_err(|_| value_issue(&value_path, "must be a decimal ketacare can hold"))?;
    let daily = dose
        .checked_mul(rust_decimal::Decimal::from(frequency))
        .ok_or_else(|| value_issue(&value_path, "the daily dose is too large"))?;
    Ok((crate::export::decimal_number(daily), value_path))
}

/// A Quantity's value, which must be in the UCUM `unit` given.
fn read_quantity(quantity: &Element<'_>, unit: &str) -> Read<(Number, String)> {
    if let Some(issue) =
        quantity.only(&["value", "unit", "system", "code", "comparator"], "a Quantity").into_iter().next()
    {
        return Err(issue);
    }
    if let Some((_, path)) = quantity.get("comparator") {
        return Err(ImportIssue::error(IssueCode::NotSupported, path, "ketacare reads exact values, not < or >"));
    }
    let code = quantity.string("code")?.or(quantity.string("unit")?);
    if code != Some(unit) {
        return Err(value_issue(
            &quantity.at("code"),
            format!(
                "must be in {unit} (UCUM), got {}",
                code.map_or("no unit".to_owned(), |code| format!("\"{code}\""))
            ),
        ));
    }
    if let Some(system) = quantity.string("system")?
        && system != codes::UCUM
    {
        return Err(value_issue(&quantity.at("system"), format!("must be {} (UCUM), got \"{system}\"", codes::UCUM)));
    }
    let (value, path) = quantity.require("value", "the quantity's value")?;
    Ok((number(value, &path)?.clone(), path))
}

// ---- Observation ----

/// What an Observation's code makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObservationKind {
    ScaleTotal(&'static str),
    Cssrs,
    Weight,
    Height,
    Pregnancy,
    Breastfeeding,
    BloodPressure,
    /// Known, not kept by the chart (session vital signs and scores).
    NotCharted(&'static str),
    TrdDetermination,
}

fn observation_kind(code: &ConceptRead<'_>) -> Option<(ObservationKind, String)> {
    for coding in &code.codings {
        let (Some(system), Some(value)) = (coding.system, coding.code) else { continue };
        let kind = match (system, value) {
            (codes::LOINC, loinc::PHQ9_TOTAL) => ObservationKind::ScaleTotal("phq9"),
            (codes::LOINC, loinc::GAD7_TOTAL) => ObservationKind::ScaleTotal("gad7"),
            (codes::LOINC, loinc::BODY_WEIGHT) => ObservationKind::Weight,
            (codes::LOINC, loinc::BODY_HEIGHT) => ObservationKind::Height,
            (codes::LOINC, loinc::BP_PANEL) => ObservationKind::BloodPressure,
            (codes::LOINC, loinc::HEART_RATE) => ObservationKind::NotCharted("a heart rate"),
            (codes::LOINC, loinc::RESPIRATORY_RATE) => ObservationKind::NotCharted("a respiratory rate"),
            (codes::LOINC, loinc::SPO2_ARTERIAL | loinc::SPO2_PULSE_OXIMETRY) => ObservationKind::NotCharted("an SpO2"),
            (KETACARE, "madrs-total") => ObservationKind::ScaleTotal("madrs"),
            (KETACARE, "qids-sr16-total") => ObservationKind::ScaleTotal("qids_sr16"),
            (KETACARE, "hamd17-total") => ObservationKind::ScaleTotal("hamd17"),
            (KETACARE, "cssrs-screen") => ObservationKind::Cssrs,
            (KETACARE, "pregnancy-status") => ObservationKind::Pregnancy,
            (KETACARE, "breastfeeding-status") => ObservationKind::Breastfeeding,
            (KETACARE, "moaas") => ObservationKind::NotCharted("a MOAA/S score"),
            (KETACARE, "cadss-total") => ObservationKind::NotCharted("a CADSS total"),
            (KETACARE, "bprs-positive-total") => ObservationKind::NotCharted("a BPRS positive total"),
            (KETACARE, "trd-determination") => ObservationKind::TrdDetermination,
            _ => continue,
        };
        return Some((kind, format!("{}.code", coding.path)));
    }
    None
}

/// The item codes of a scale in questionnaire order (PHQ-9 with its difficulty question; GAD-7).
fn item_codes(scale: &str) -> Vec<&'static str> {
    match scale {
        "phq9" => loinc::PHQ9_ITEMS.iter().copied().chain([loinc::PHQ9_DIFFICULTY]).collect(),
        "gad7" => loinc::GAD7_ITEMS.to_vec(),
        _ => Vec::new(),
    }
}

fn read_observation(
    read: &EntryRead<'_>,
    references: &References<'_>,
    patient_of_entry: &BTreeMap<usize, usize>,
    warnings: &mut Vec<ImportIssue>,
) -> Result<Outcome, Vec<ImportIssue>> {
    let resource = &read.resource;
    check_elements(
        resource,
        &with_common(&[
            "extension",
            "status",
            "category",
            "code",
            "subject",
            "effectiveDateTime",
            "issued",
            "valueQuantity",
            "valueInteger",
            "valueBoolean",
            "valueString",
            "valueCodeableConcept",
            "dataAbsentReason",
            "note",
            "derivedFrom",
            "component",
        ]),
        "Observation",
        references.policy,
        warnings,
    )?;
    read_meta_source(resource).map_err(one)?;
    let patient = subject_patient(resource, references, patient_of_entry).map_err(one)?;
    let extensions = Extensions::read(resource, &[TREATMENT_SESSION_EXTENSION], warnings).map_err(one)?;
    if extensions.has(TREATMENT_SESSION_EXTENSION) {
        return Ok(Outcome::LeftOut(ImportIssue::warning(
            IssueCode::NotSupported,
            read.location.expression(),
            "not imported: recorded in a treatment session, which only the session workflow records",
        )));
    }
    let (status, _) =
        match status_of(resource, &["final", "amended", "corrected", "entered-in-error"], "an Observation") {
            Ok(status) => status,
            Err(issue) if issue.code == IssueCode::Value => return not_charted(references.policy, issue),
            Err(issue) => return Err(one(issue)),
        };
    let entered_in_error = status == "entered-in-error";
    let (code_value, code_path) = resource.require("code", "a LOINC or ketacare code ketacare charts").map_err(one)?;
    let code = concept(code_value, code_path).map_err(one)?;
    let Some((kind, kind_path)) = observation_kind(&code) else {
        return not_charted(
            references.policy,
            ImportIssue::error(
                IssueCode::CodeInvalid,
                code.path,
                "no coding ketacare charts: PHQ-9 and GAD-7 totals, body weight and height, the blood pressure panel (LOINC), or a ketacare scale, pregnancy or breastfeeding code (docs/fhir.md)",
            ),
        );
    };
    match kind {
        ObservationKind::TrdDetermination => {
            return Ok(Outcome::LeftOut(ImportIssue::information(
                "not imported: the TRD determination is decided again by the engine on the imported chart",
                Some(read.location.expression()),
            )));
        }
        ObservationKind::NotCharted(what) => {
            return Ok(Outcome::LeftOut(ImportIssue::warning(
                IssueCode::NotSupported,
                kind_path,
                format!("not imported: {what} is kept only in a treatment session"),
            )));
        }
        _ => {}
    }
    let (effective, effective_path) =
        resource.require("effectiveDateTime", "the day it was measured or administered").map_err(one)?;
    let day = fhir_day(effective, &effective_path).map_err(one)?;
    let mut record = RecordBuilder::new();
    let value_keys: Vec<&str> =
        resource.object.keys().filter(|key| key.starts_with("value")).map(String::as_str).collect();
    let expect_value = |wanted: &str| -> Read<(&Value, String)> {
        match value_keys.as_slice() {
            [key] if *key == wanted => Ok((&resource.object[wanted], resource.at(wanted))),
            [] => Err(ImportIssue::error(IssueCode::Required, resource.at(wanted), "is required")),
            [key, ..] => Err(structure(&resource.at(key), format!("this Observation takes {wanted}"))),
        }
    };
    let components = match resource.get("component") {
        Some((value, path)) => array(value, &path)
            .map_err(one)?
            .iter()
            .enumerate()
            .map(|(index, item)| Element::new(item, format!("{path}[{index}]")))
            .collect::<Read<Vec<_>>>()
            .map_err(one)?,
        None => Vec::new(),
    };
    let section = match kind {
        ObservationKind::ScaleTotal(scale) => {
            record.set("scale", Value::String(scale.to_owned()), &kind_path, resource);
            record.set("administered_on", Value::String(day), &effective_path, resource);
            let stated = match value_keys.as_slice() {
                [] => None,
                _ => {
                    let (value, path) = expect_value("valueQuantity").map_err(one)?;
                    let quantity = Element::new(value, path).map_err(one)?;
                    let (number, number_path) = read_quantity(&quantity, "{score}").map_err(one)?;
                    Some((integer(&Value::Number(number), &number_path).map_err(one)?, number_path))
                }
            };
            let codes = item_codes(scale);
            if components.is_empty() {
                let Some((total, path)) = &stated else {
                    return Err(one(ImportIssue::error(
                        IssueCode::Required,
                        resource.at("valueQuantity"),
                        "a scale result needs its total (valueQuantity) or its items (component)",
                    )));
                };
                record.set("total", Value::from(*total), path, resource);
            } else {
                if codes.is_empty() {
                    return Err(one(structure(
                        &resource.at("component"),
                        "this scale's items have no codes: give its total only",
                    )));
                }
                let mut items: Vec<Option<Value>> = vec![None; codes.len()];
                let mut elements = Vec::new();
                for component in &components {
                    let (position, value) = read_item_component(component, &codes).map_err(one)?;
                    if items[position].is_some() || elements.iter().any(|(at, _)| *at == position) {
                        return Err(one(ImportIssue::error(
                            IssueCode::Duplicate,
                            component.at("code"),
                            "this item is given twice",
                        )));
                    }
                    items[position] = value;
                    elements.push((position, component.path.clone()));
                }
                // PHQ-9's difficulty question is the tenth answer only when given.
                let answered =
                    if scale == "phq9" && !elements.iter().any(|(at, _)| *at == 9) { 9 } else { codes.len() };
                let array: Vec<Value> =
                    items.into_iter().take(answered).map(|item| item.unwrap_or(Value::Null)).collect();
                record.body.insert("items".to_owned(), Value::Array(array));
                record.elements.push(("items".to_owned(), "component".to_owned()));
                for (position, path) in elements {
                    let relative = path.strip_prefix(&format!("{}.", resource.path)).unwrap_or(&path).to_owned();
                    record.elements.push((format!("items[{position}]"), format!("{relative}.valueInteger")));
                }
                if let Some((_, path)) = &stated {
                    record.elements.push((
                        "total".to_owned(),
                        path.strip_prefix(&format!("{}.", resource.path)).unwrap_or(path).to_owned(),
                    ));
                }
            }
            let mut imported = record.finish(read, ImportSection::Scales, entered_in_error);
            if !components.is_empty() {
                imported.stated_total = stated.map(|(total, _)| total);
            }
            return Ok(Outcome::Records(patient, vec![imported]));
        }
        ObservationKind::Cssrs => {
            record.set("scale", Value::String("cssrs".to_owned()), &kind_path, resource);
            record.set("administered_on", Value::String(day), &effective_path, resource);
            let mut answers = Map::new();
            for component in &components {
                if let Some(issue) =
                    component.only(&["code", "valueBoolean", "dataAbsentReason"], "a C-SSRS answer").into_iter().next()
                {
                    return Err(one(issue));
                }
                let (code_value, code_path) =
                    component.require("code", "the question (ketacare cssrs-q1 …)").map_err(one)?;
                let question_code = concept(code_value, code_path).map_err(one)?;
                let question = question_code
                    .code_in(KETACARE)
                    .and_then(|(code, _)| code.strip_prefix("cssrs-"))
                    .map(|question| question.replace('-', "_"))
                    .ok_or_else(|| {
                        one(ImportIssue::error(
                            IssueCode::CodeInvalid,
                            question_code.path.clone(),
                            "needs a ketacare cssrs-q* code",
                        ))
                    })?;
                let answer = match component.get("valueBoolean") {
                    Some((value, path)) => Value::Bool(boolean(value, &path).map_err(one)?),
                    None => Value::Null,
                };
                if answers.insert(question.clone(), answer).is_some() {
                    return Err(one(ImportIssue::error(
                        IssueCode::Duplicate,
                        component.at("code"),
                        "this question is answered twice",
                    )));
                }
                let relative =
                    component.path.strip_prefix(&format!("{}.", resource.path)).unwrap_or(&component.path).to_owned();
                record.elements.push((format!("answers.{question}"), format!("{relative}.valueBoolean")));
            }
            record.body.insert("answers".to_owned(), Value::Object(answers));
            record.elements.push(("answers".to_owned(), "component".to_owned()));
            ImportSection::Scales
        }
        ObservationKind::Weight | ObservationKind::Height => {
            let (field, unit) = if kind == ObservationKind::Weight { ("weight_kg", "kg") } else { ("height_cm", "cm") };
            let (value, path) = expect_value("valueQuantity").map_err(one)?;
            let quantity = Element::new(value, path).map_err(one)?;
            let (number, number_path) = read_quantity(&quantity, unit).map_err(one)?;
            record.set("measured_on", Value::String(day), &effective_path, resource);
            record.set(field, Value::Number(number), &number_path, resource);
            ImportSection::Measurements
        }
        ObservationKind::Pregnancy | ObservationKind::Breastfeeding => {
            let field = if kind == ObservationKind::Pregnancy { "pregnant" } else { "breastfeeding" };
            let (value, path) = expect_value("valueBoolean").map_err(one)?;
            record.set("measured_on", Value::String(day), &effective_path, resource);
            record.set(field, Value::Bool(boolean(value, &path).map_err(one)?), &path, resource);
            ImportSection::Measurements
        }
        ObservationKind::BloodPressure => {
            if let Some(key) = value_keys.first() {
                return Err(one(structure(&resource.at(key), "a blood pressure panel has its values in components")));
            }
            record.set("measured_on", Value::String(day), &effective_path, resource);
            for component in &components {
                if let Some(issue) =
                    component.only(&["code", "valueQuantity"], "a blood pressure component").into_iter().next()
                {
                    return Err(one(issue));
                }
                let (code_value, code_path) =
                    component.require("code", "systolic 8480-6 or diastolic 8462-4").map_err(one)?;
                let part = concept(code_value, code_path).map_err(one)?;
                let field = match part.code_in(codes::LOINC) {
                    Some((loinc::SYSTOLIC, _)) => "systolic",
                    Some((loinc::DIASTOLIC, _)) => "diastolic",
                    _ => {
                        return Err(one(ImportIssue::error(
                            IssueCode::CodeInvalid,
                            part.path,
                            "needs LOINC 8480-6 (systolic) or 8462-4 (diastolic)",
                        )));
                    }
                };
                if record.body.contains_key(field) {
                    return Err(one(ImportIssue::error(
                        IssueCode::Duplicate,
                        component.at("code"),
                        format!("the {field} pressure is given twice"),
                    )));
                }
                let quantity = component.child("valueQuantity").map_err(one)?.ok_or_else(|| {
                    one(ImportIssue::error(
                        IssueCode::Required,
                        component.at("valueQuantity"),
                        "is required, in mm[Hg]",
                    ))
                })?;
                let (number, number_path) = read_quantity(&quantity, "mm[Hg]").map_err(one)?;
                record.set(field, Value::Number(number), &number_path, resource);
            }
            for field in ["systolic", "diastolic"] {
                if !record.body.contains_key(field) {
                    return Err(one(ImportIssue::error(
                        IssueCode::Required,
                        resource.at("component"),
                        format!(
                            "the {field} pressure is required (LOINC {})",
                            if field == "systolic" { loinc::SYSTOLIC } else { loinc::DIASTOLIC }
                        ),
                    )));
                }
            }
            ImportSection::BloodPressures
        }
        ObservationKind::TrdDetermination | ObservationKind::NotCharted(_) => unreachable!("handled above"),
    };
    Ok(Outcome::Records(patient, vec![record.finish(read, section, entered_in_error)]))
}

/// One item of a PHQ-9 or GAD-7 Observation: its position (by LOINC code) and its answer, or null for
/// an item with a `dataAbsentReason`.
fn read_item_component(component: &Element<'_>, codes: &[&str]) -> Read<(usize, Option<Value>)> {
    if let Some(issue) =
        component.only(&["code", "valueInteger", "dataAbsentReason"], "a scale item").into_iter().next()
    {
        return Err(issue);
    }
    let (code_value, code_path) = component.require("code", "the item's LOINC code")?;
    let item = concept(code_value, code_path)?;
    let position = item
        .code_in(codes::LOINC)
        .and_then(|(code, _)| codes.iter().position(|known| *known == code))
        .ok_or_else(|| {
            ImportIssue::error(
                IssueCode::CodeInvalid,
                item.path.clone(),
                "is not an item code of this scale (clinical-reference §5.1, §5.5)",
            )
        })?;
    match (component.get("valueInteger"), component.get("dataAbsentReason")) {
        (Some((value, path)), None) => Ok((position, Some(Value::from(integer(value, &path)?)))),
        (None, Some((value, path))) => {
            concept(value, path)?;
            Ok((position, None))
        }
        (Some(_), Some(_)) => Err(structure(&component.path, "an item has a value or a dataAbsentReason, not both")),
        (None, None) => Err(ImportIssue::error(
            IssueCode::Required,
            component.at("valueInteger"),
            "the item's answer (or a dataAbsentReason) is required",
        )),
    }
}
