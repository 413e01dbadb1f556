//! Trials from an EHR's prescriptions and dispenses (docs/fhir.md "Trials from prescriptions and
//! dispenses"). A `MedicationRequest` (other than a ketacare dose order) or `MedicationDispense` of an
//! antidepressant or augmentation agent is one dated drug event; a patient's events become courses by the
//! screen's own rule (contracts/screen.md "Courses", with the `label` preset's refill gap and default
//! days' supply), and each course becomes one trial of the chart. Its weeks are counted by the app up to
//! the server's today (a course still running has lasted only until today), and its episode is the
//! chart's depressive episode that began on or before the course's first day. What an EHR cannot say
//! (adherence, the improvement) stays unrecorded, so the engine reports it missing: never guessed.
//! The events are read as strictly as the rest of import, and the screen's extractor reads the same
//! resource as the same event (tests/screen_agreement.rs).

use ketacare_core::drugs::{DrugRole, drug_index, minimum_dose_in_text, resolve_drug_name};
use ketacare_screen::dates::{DayNumber, format_date, parse_date_prefix};
use ketacare_screen::extract::DrugEvent;
use ketacare_screen::params::{Preset, ScreenParameters};
use ketacare_screen::rules::build_courses;
use std::cmp::Ordering;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::*;

/// The screen preset whose course rule (refill gap, default days' supply) import uses: the Spravato
/// label population's, the definition closest to the chart's.
pub const COURSE_PRESET: Preset = Preset::Label;

/// One prescription or dispense read as a dated drug event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PrescriptionEvent {
    location: ResourceLocation,
    /// The drug as written (or its ingredient, when only a code named it).
    written: String,
    drug_element: String,
    date_element: String,
    /// The daily dose in mg when the resource gives one, with its element.
    daily_dose_mg: Option<(Decimal, String)>,
    /// The event as the screen's course rule takes it.
    event: DrugEvent,
}

/// The days' supply of a course as the chart's trial needs it, for the app to count in weeks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSpan {
    /// The first day of the course (`YYYY-MM-DD`).
    pub start: String,
    /// The first day its supply no longer covers.
    pub end: String,
    /// The latest event's date and element: an event dated after the server's today is refused.
    pub latest_event_on: String,
    pub latest_event_element: String,
    /// The element of the first event's date, named when the course itself is refused.
    pub start_element: String,
}

/// Statuses of a MedicationRequest read as a drug event, and those read as void (as the screen reads them).
const REQUEST_EVENT_STATUSES: [&str; 4] = ["active", "completed", "stopped", "on-hold"];
const REQUEST_VOID_STATUSES: [&str; 3] = ["entered-in-error", "cancelled", "draft"];
/// `intent` values that are a prescription (a proposal or plan is not).
const REQUEST_ORDER_INTENTS: [&str; 5] = ["order", "original-order", "reflex-order", "filler-order", "instance-order"];
const DISPENSE_EVENT_STATUSES: [&str; 6] = ["preparation", "in-progress", "on-hold", "completed", "stopped", "unknown"];
const DISPENSE_VOID_STATUSES: [&str; 3] = ["entered-in-error", "cancelled", "declined"];

/// Reads a `MedicationRequest` or `MedicationDispense` (`kind`) as a drug event of its patient.
pub(super) fn read_prescription(
    read: &EntryRead<'_>,
    references: &References<'_>,
    patient_of_entry: &BTreeMap<usize, usize>,
    warnings: &mut Vec<ImportIssue>,
) -> Result<Outcome, Vec<ImportIssue>> {
    let resource = &read.resource;
    let is_request = read.location.resource_type == "MedicationRequest";
    let specific: &[&str] = if is_request {
        &[
            "identifier",
            "status",
            "statusReason",
            "intent",
            "category",
            "priority",
            "medicationCodeableConcept",
            "medicationReference",
            "contained",
            "subject",
            "encounter",
            "authoredOn",
            "requester",
            "recorder",
            "reasonCode",
            "reasonReference",
            "courseOfTherapyType",
            "dosageInstruction",
            "dispenseRequest",
            "substitution",
        ]
    } else {
        &[
            "identifier",
            "status",
            "statusReasonCodeableConcept",
            "category",
            "medicationCodeableConcept",
            "medicationReference",
            "contained",
            "subject",
            "context",
            "performer",
            "authorizingPrescription",
            "type",
            "quantity",
            "daysSupply",
            "whenPrepared",
            "whenHandedOver",
            "dosageInstruction",
            "substitution",
        ]
    };
    check_elements(resource, &with_common(specific), &read.location.resource_type, references.policy, warnings)?;
    read_meta_source(resource).map_err(one)?;
    let patient = subject_patient(resource, references, patient_of_entry).map_err(one)?;

    let (event_statuses, void_statuses): (&[&str], &[&str]) = if is_request {
        (&REQUEST_EVENT_STATUSES, &REQUEST_VOID_STATUSES)
    } else {
        (&DISPENSE_EVENT_STATUSES, &DISPENSE_VOID_STATUSES)
    };
    let (status_value, status_path) = resource.require("status", "the prescription's status").map_err(one)?;
    let status = string(status_value, &status_path).map_err(one)?;
    if void_statuses.contains(&status) {
        return Ok(Outcome::LeftOut(ImportIssue::information(
            format!("a {status} {} is no drug event: not read", read.location.resource_type),
            Some(status_path),
        )));
    }
    if !event_statuses.contains(&status) {
        return Err(one(value_issue(
            &status_path,
            format!(
                "ketacare reads a {} with status {} (or leaves out {}), got \"{status}\"",
                read.location.resource_type,
                event_statuses.join(", "),
                void_statuses.join(", ")
            ),
        )));
    }
    if is_request {
        let (intent, intent_path) = resource.require("intent", "order").map_err(one)?;
        let intent = string(intent, &intent_path).map_err(one)?;
        if !REQUEST_ORDER_INTENTS.contains(&intent) {
            return not_charted(
                references.policy,
                value_issue(
                    &intent_path,
                    format!("a MedicationRequest with intent \"{intent}\" is not a prescription"),
                ),
            );
        }
    }

    let drug = match course_drug(read, references.policy, warnings)? {
        Ok(drug) => drug,
        Err(outcome) => return Ok(outcome),
    };

    // Its date and the days it covers.
    let date_key = if is_request {
        "authoredOn"
    } else if resource.get("whenHandedOver").is_some() {
        "whenHandedOver"
    } else {
        "whenPrepared"
    };
    let (date_value, date_path) =
        resource.require(date_key, "the day it was prescribed or handed over").map_err(one)?;
    let day = fhir_day(date_value, &date_path).map_err(one)?;
    let date = parse_date_prefix(&day).ok_or_else(|| one(value_issue(&date_path, "must be a calendar date")))?;
    let days_covered = if is_request {
        match resource.child("dispenseRequest").map_err(one)? {
            Some(request) => {
                if let Some(issue) = request
                    .only(
                        &[
                            "initialFill",
                            "dispenseInterval",
                            "validityPeriod",
                            "numberOfRepeatsAllowed",
                            "quantity",
                            "expectedSupplyDuration",
                            "performer",
                        ],
                        "MedicationRequest.dispenseRequest",
                    )
                    .into_iter()
                    .next()
                {
                    return Err(one(issue));
                }
                match request.child("expectedSupplyDuration").map_err(one)? {
                    Some(duration) => Some(read_duration_days(&duration).map_err(one)?),
                    None => None,
                }
            }
            None => None,
        }
    } else {
        match resource.child("daysSupply").map_err(one)? {
            Some(supply) => Some(read_duration_days(&supply).map_err(one)?),
            None => None,
        }
    };

    let daily_dose_mg = course_daily_dose(resource, "dosageInstruction", references.policy, warnings)?;
    Ok(Outcome::Prescription(patient, drug.event(read, date, date_path, days_covered, daily_dose_mg)))
}

/// A MedicationStatement of an antidepressant or augmentation agent dated by `effectiveDateTime` or
/// `effectivePeriod` (and without ketacare's trial extensions): a drug event like a prescription, its
/// days the period's (at least its first day; reading 2 of contracts/screen.md), its dose from `dosage`
/// when given (the screen, after its reading 12, takes no dose from a statement; a clinic's referral
/// often states one). Its status was read by the caller: `completed`, `active` or `stopped`.
pub(super) fn read_dated_statement(
    read: &EntryRead<'_>,
    references: &References<'_>,
    patient_of_entry: &BTreeMap<usize, usize>,
    warnings: &mut Vec<ImportIssue>,
) -> Result<Outcome, Vec<ImportIssue>> {
    let resource = &read.resource;
    let patient = subject_patient(resource, references, patient_of_entry).map_err(one)?;
    let drug = match course_drug(read, references.policy, warnings)? {
        Ok(drug) => drug,
        Err(outcome) => return Ok(outcome),
    };
    let period = resource.child("effectivePeriod").map_err(one)?;
    if let Some(period) = &period
        && let Some(issue) = period.only(&["start", "end"], "a Period").into_iter().next()
    {
        return Err(one(issue));
    }
    let (start_value, date_path) = match (resource.get("effectiveDateTime"), &period) {
        (Some(date), None) => date,
        (None, Some(period)) => period.require("start", "the day the medicine was started").map_err(one)?,
        _ => {
            return Err(one(structure(
                &read.location.element("effectiveDateTime"),
                "a statement is dated by effectiveDateTime or effectivePeriod, not both",
            )));
        }
    };
    let start_day = fhir_day(start_value, &date_path).map_err(one)?;
    let date = parse_date_prefix(&start_day).ok_or_else(|| one(value_issue(&date_path, "must be a calendar date")))?;
    let days_covered = match period.as_ref().and_then(|period| period.get("end")) {
        Some((end_value, end_path)) => {
            let end_day = fhir_day(end_value, &end_path).map_err(one)?;
            let end =
                parse_date_prefix(&end_day).ok_or_else(|| one(value_issue(&end_path, "must be a calendar date")))?;
            if end < date {
                return Err(one(value_issue(&end_path, format!("is before the period's start ({start_day})"))));
            }
            Some((end - date).max(1))
        }
        None => None,
    };
    let daily_dose_mg = course_daily_dose(resource, "dosage", references.policy, warnings)?;
    Ok(Outcome::Prescription(patient, drug.event(read, date, date_path, days_covered, daily_dose_mg)))
}

/// The drug of a course's event, resolved.
struct CourseDrug {
    resolved: ResolvedMedication,
    drug: ketacare_core::drugs::ResolvedDrug,
}

impl CourseDrug {
    fn event(
        self,
        read: &EntryRead<'_>,
        date: DayNumber,
        date_element: String,
        days_covered: Option<i32>,
        daily_dose_mg: Option<(Decimal, String)>,
    ) -> PrescriptionEvent {
        let formulation_minimum_mg = minimum_dose_in_text(self.drug.entry, &self.resolved.written)
            .filter(|minimum| Some(*minimum) != self.drug.entry.min_daily_dose_mg)
            .and_then(|minimum| minimum.to_f32());
        let event = DrugEvent {
            date,
            days_covered,
            daily_dose_mg: daily_dose_mg.as_ref().and_then(|(dose, _)| dose.to_f32()),
            formulation_minimum_mg,
            drug: drug_index(self.drug.entry) as u16,
        };
        PrescriptionEvent {
            location: read.location.clone(),
            written: self.resolved.written,
            drug_element: self.resolved.element,
            date_element,
            daily_dose_mg,
            event,
        }
    }
}

/// The drug of a prescription, dispense or dated statement: one of the knowledge base's antidepressants
/// or augmentation agents (`Ok(Ok)`); a drug it does not know is not charted and ketamine is given only
/// through ketacare's own workflows (`Ok(Err(outcome))`).
fn course_drug(
    read: &EntryRead<'_>,
    policy: ImportPolicy,
    warnings: &mut Vec<ImportIssue>,
) -> Result<Result<CourseDrug, Outcome>, Vec<ImportIssue>> {
    let (medication, medication_path) = medication_of_statement(&read.resource).map_err(one)?;
    let medication = concept(medication, medication_path).map_err(one)?;
    let mut drug_warnings = Vec::new();
    let resolved = match resolve_medication(&medication, &mut drug_warnings) {
        Ok(resolved) => resolved,
        Err(issue) if issue.code == IssueCode::CodeInvalid => return not_charted(policy, issue).map(Err),
        Err(issue) => return Err(one(issue)),
    };
    let Some(drug) = resolve_drug_name(&resolved.written) else {
        let issue = ImportIssue::error(
            IssueCode::CodeInvalid,
            resolved.element,
            format!(
                "\"{}\" is not a drug of ketacare's knowledge base: a record of it is no antidepressant trial",
                resolved.written
            ),
        );
        return not_charted(policy, issue).map(Err);
    };
    warnings.extend(drug_warnings);
    if drug.entry.role == DrugRole::Ketamine {
        return Ok(Err(Outcome::LeftOut(ImportIssue::warning(
            IssueCode::NotSupported,
            read.location.expression(),
            "not imported: ketamine and esketamine are given through ketacare's order and session workflows, not charted as trials",
        ))));
    }
    Ok(Ok(CourseDrug { resolved, drug }))
}

/// A course event's daily dose from `key` (`dosageInstruction`, `dosage`), when it gives one in a form
/// ketacare reads; under the bulk policy an EHR's other dosing forms leave the dose unknown, reported.
fn course_daily_dose(
    resource: &Element<'_>,
    key: &str,
    policy: ImportPolicy,
    warnings: &mut Vec<ImportIssue>,
) -> Result<Option<(Decimal, String)>, Vec<ImportIssue>> {
    let Some((value, path)) = resource.get(key) else { return Ok(None) };
    match read_daily_dose(value, &path) {
        Ok((dose, dose_path)) => {
            let dose = dose
                .as_str()
                .parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(dose.as_str()))
                .map_err(|_| one(value_issue(&dose_path, "must be a decimal ketacare can hold")))?;
            Ok(Some((dose, dose_path)))
        }
        Err(issue) if policy == ImportPolicy::BulkExport => {
            warnings.push(ImportIssue::warning(
                IssueCode::Informational,
                issue.expression.clone().unwrap_or(path),
                format!("the daily dose is not read ({}): the course's dose is unknown", issue.diagnostics),
            ));
            Ok(None)
        }
        Err(issue) => Err(one(issue)),
    }
}

/// Days in a `Duration` (UCUM `d`, `wk`, `mo` as 30 days, `a` as 365, as the screen counts them), or in a
/// dispense's `daysSupply` (days).
fn read_duration_days(duration: &Element<'_>) -> Read<i32> {
    if let Some(issue) = duration.only(&["value", "unit", "system", "code"], "a Duration").into_iter().next() {
        return Err(issue);
    }
    let (value, value_path) = duration.require("value", "the number of days")?;
    let value: Decimal = number(value, &value_path)?
        .as_str()
        .parse()
        .map_err(|_| value_issue(&value_path, "must be a decimal ketacare can hold"))?;
    let unit = duration.string("code")?.or(duration.string("unit")?).unwrap_or("d");
    let days_per_unit = match unit.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => 1,
        "wk" | "week" | "weeks" => 7,
        "mo" | "month" | "months" => 30,
        "a" | "year" | "years" => 365,
        _ => {
            return Err(value_issue(
                &duration.at("code"),
                format!("must be a duration in d, wk, mo or a (UCUM), got \"{unit}\""),
            ));
        }
    };
    let days = (value * Decimal::from(days_per_unit)).round();
    match days.to_i32() {
        Some(days) if (0..100_000).contains(&days) => Ok(days),
        _ => Err(value_issue(&value_path, "must be 0 to 100,000 days")),
    }
}

/// A patient's prescription events as chart trials: one per course (the screen's course rule), with the
/// drug as written where it names a formulation with a minimum dose of its own (the course is judged by
/// it), else its ingredient; the highest daily dose, and the course's span for the app to count its weeks.
pub(super) fn courses_as_trials(mut events: Vec<PrescriptionEvent>) -> Vec<ImportedRecord> {
    let parameters = ScreenParameters::for_preset(COURSE_PRESET);
    events.sort_by_key(|event| (event.event.date, event.location.entry_index));
    let drug_events: Vec<DrugEvent> = events.iter().map(|event| event.event).collect();
    let courses = build_courses(&drug_events, &parameters);
    let mut trials = Vec::with_capacity(courses.len());
    for (index, course) in courses.iter().enumerate() {
        // A course's events: its drug's, from its first day up to the next course of the same drug.
        let next_start: DayNumber = courses[index + 1..]
            .iter()
            .find(|later| later.drug == course.drug)
            .map_or(DayNumber::MAX, |later| later.start);
        let members: Vec<&PrescriptionEvent> = events
            .iter()
            .filter(|event| {
                event.event.drug == course.drug && event.event.date >= course.start && event.event.date < next_start
            })
            .collect();
        let Some(first) = members.first() else { continue };
        let named = members
            .iter()
            .copied()
            .filter(|event| event.event.formulation_minimum_mg.is_some())
            .max_by(|one, other| {
                one.event
                    .formulation_minimum_mg
                    .partial_cmp(&other.event.formulation_minimum_mg)
                    .unwrap_or(Ordering::Equal)
            })
            .unwrap_or(first);
        let highest_dose = members.iter().filter_map(|event| event.daily_dose_mg.as_ref()).fold(
            None::<&(Decimal, String)>,
            |highest, dose| match highest {
                Some(current) if current.0 >= dose.0 => Some(current),
                _ => Some(dose),
            },
        );
        let latest = members.iter().max_by_key(|event| (event.event.date, event.location.entry_index)).unwrap_or(first);

        let mut body = Map::new();
        let mut elements = Vec::new();
        // The ingredient, unless a formulation with a minimum dose of its own was named (paroxetine CR).
        let drug = if named.event.formulation_minimum_mg.is_some() {
            named.written.clone()
        } else {
            named.event.entry().ingredient.to_owned()
        };
        body.insert("drug".to_owned(), Value::String(drug));
        elements.push(("drug".to_owned(), named.drug_element.clone()));
        if let Some((dose, element)) = highest_dose {
            body.insert("daily_dose_mg".to_owned(), Value::Number(crate::export::decimal_number(*dose)));
            elements.push(("daily_dose_mg".to_owned(), element.clone()));
        }
        elements.push(("weeks".to_owned(), first.date_element.clone()));
        elements.push(("episode_id".to_owned(), first.date_element.clone()));
        trials.push(ImportedRecord {
            location: first.location.clone(),
            section: ImportSection::Trials,
            body,
            episode: Some(EpisodeLink::OnsetOnOrBefore(format_date(course.start))),
            entered_in_error: false,
            stated_total: None,
            elements,
            course: Some(CourseSpan {
                start: format_date(course.start),
                end: format_date(course.end),
                latest_event_on: format_date(latest.event.date),
                latest_event_element: latest.date_element.clone(),
                start_element: first.date_element.clone(),
            }),
        });
    }
    trials
}
