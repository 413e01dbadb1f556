//! The SPRAVATO REMS Patient Monitoring Form, assembled from the session by form edition (11/2021, and the
//! later edition with respiratory items), with completeness checking and the 7-day submission deadline
//! (KNOWLEDGE §4.1, §4.2).

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::alerts::{self, AlertRule};
use super::discharge::{DischargeFacts, assess_discharge};
use super::observation::{BloodPressure, TimedObservation};
use super::{CareSetting, Modality, Session};
use crate::protocol::Protocol;

/// Which printed edition of the form to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemsFormEdition {
    /// The 11/2021 form (KNOWLEDGE §4.2).
    November2021,
    /// A later edition that adds respiratory items: opioids and other sedating drugs, and respiratory
    /// depression among the adverse effects (KNOWLEDGE §4.2).
    WithRespiratoryItems,
}

impl RemsFormEdition {
    pub fn as_str(self) -> &'static str {
        match self {
            RemsFormEdition::November2021 => "2021-11",
            RemsFormEdition::WithRespiratoryItems => "respiratory",
        }
    }

    pub fn parse(word: &str) -> Option<RemsFormEdition> {
        match word {
            "2021-11" => Some(RemsFormEdition::November2021),
            "respiratory" => Some(RemsFormEdition::WithRespiratoryItems),
            _ => None,
        }
    }
}

/// What the form asks that the session does not hold. `None` means "not recorded".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemsContext {
    pub patient_first_name: Option<String>,
    pub patient_last_name: Option<String>,
    pub patient_birth_date: Option<Date>,
    pub patient_sex: Option<String>,
    pub first_treatment: Option<bool>,
    pub patient_enrolled: Option<bool>,
    pub takes_benzodiazepines: Option<bool>,
    pub takes_non_benzodiazepine_sedative_hypnotics: Option<bool>,
    pub takes_psychostimulants: Option<bool>,
    pub takes_maois: Option<bool>,
    pub takes_opioids: Option<bool>,
    pub takes_other_sedating_drugs: Option<bool>,
    pub monitoring_hcp_name: Option<String>,
    pub monitoring_hcp_phone: Option<String>,
    pub monitoring_hcp_email: Option<String>,
    pub setting_name: Option<String>,
    pub setting_address: Option<String>,
    /// Clinician's answer; when absent the form proposes one from the timeline.
    pub vitals_acceptable_before_administration: Option<bool>,
    pub vitals_acceptable_before_completion: Option<bool>,
    pub sedation_occurred: Option<bool>,
    pub dissociation_occurred: Option<bool>,
    pub respiratory_depression_occurred: Option<bool>,
    /// Details of serious adverse events, or "none".
    pub serious_adverse_events: Option<String>,
    pub submitted_on: Option<Date>,
}

/// Where a field's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOrigin {
    /// Entered by the clinic.
    Recorded,
    /// Proposed from the session timeline; the clinician confirms it when signing.
    Derived,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemsField {
    pub name: &'static str,
    pub value: Option<String>,
    pub origin: FieldOrigin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionStatus {
    Submitted,
    Due,
    Overdue,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Submitted => "submitted",
            SubmissionStatus::Due => "due",
            SubmissionStatus::Overdue => "overdue",
        }
    }
}

/// The assembled form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemsForm {
    pub edition: RemsFormEdition,
    pub fields: Vec<RemsField>,
    /// Required fields without a value, in form order.
    pub missing: Vec<&'static str>,
    /// Values present but not acceptable (for example, monitoring shorter than the REMS minimum).
    pub problems: Vec<String>,
    /// The last clinic-local date to submit (KNOWLEDGE §4.1: within 7 days).
    pub submit_by: Option<Date>,
    pub submission: SubmissionStatus,
    pub source: &'static str,
}

impl RemsForm {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.problems.is_empty()
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|field| field.name == name).and_then(|field| field.value.as_deref())
    }
}

/// Whether this session needs a form at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemsFormOutcome {
    NotRequired { reason: &'static str },
    Required(RemsForm),
}

const SOURCE: &str = "clinical-reference §4.1 / §4.2: outpatient Patient Monitoring Form after every session, submitted within 7 days [REMS-PMF]";

struct Builder {
    fields: Vec<RemsField>,
}

impl Builder {
    fn recorded(&mut self, name: &'static str, value: Option<String>) {
        self.fields.push(RemsField { name, value, origin: FieldOrigin::Recorded });
    }

    fn flag(&mut self, name: &'static str, value: Option<bool>) {
        self.recorded(name, value.map(yes_no));
    }

    /// The clinician's answer if recorded, else the proposal from the timeline.
    fn answer(&mut self, name: &'static str, recorded: Option<bool>, derived: Option<bool>) {
        match recorded {
            Some(value) => self.flag(name, Some(value)),
            None => self.fields.push(RemsField { name, value: derived.map(yes_no), origin: FieldOrigin::Derived }),
        }
    }

    fn derived(&mut self, name: &'static str, value: Option<String>) {
        self.fields.push(RemsField { name, value, origin: FieldOrigin::Derived });
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes".to_owned() } else { "no".to_owned() }
}

fn shown(reading: BloodPressure) -> String {
    format!("{}/{}", reading.systolic_mmhg(), reading.diastolic_mmhg())
}

fn bp_readings(entries: &[TimedObservation]) -> impl DoubleEndedIterator<Item = (Timestamp, BloodPressure)> + '_ {
    entries.iter().filter_map(|entry| entry.observation.blood_pressure.map(|reading| (entry.at, reading)))
}

fn minutes_between(from: Timestamp, to: Timestamp) -> i64 {
    to.duration_since(from).as_secs() / 60
}

/// Assembles the form for `session` at `now` (the deadline status depends on the clinic-local date of `now`).
pub fn assemble_rems_form(
    session: &Session,
    context: &RemsContext,
    edition: RemsFormEdition,
    protocol: &Protocol,
    now: Timestamp,
) -> RemsFormOutcome {
    if session.modality() != Modality::Esketamine {
        return RemsFormOutcome::NotRequired { reason: "the REMS form applies to esketamine only" };
    }
    if session.care_setting() == CareSetting::Inpatient {
        return RemsFormOutcome::NotRequired {
            reason: "inpatient settings do not file the form (report suspected adverse events) (clinical-reference §4.1)",
        };
    }
    let settings = &protocol.discharge;
    let zone = session.time_zone();
    let dose = session.dose();
    let entries = session.timeline().entries();
    let end = session.monitoring_ended_at();
    let mut form = Builder { fields: Vec::new() };
    let mut problems = Vec::new();

    form.recorded("patient.first_name", context.patient_first_name.clone());
    form.recorded("patient.last_name", context.patient_last_name.clone());
    form.recorded("patient.birth_date", context.patient_birth_date.map(|date| date.to_string()));
    form.recorded("patient.sex", context.patient_sex.clone());
    form.flag("patient.first_treatment", context.first_treatment);
    if context.first_treatment == Some(true) {
        form.flag("patient.enrolled", context.patient_enrolled);
    }
    form.flag("medication.benzodiazepines", context.takes_benzodiazepines);
    form.flag("medication.non_benzodiazepine_sedative_hypnotics", context.takes_non_benzodiazepine_sedative_hypnotics);
    form.flag("medication.psychostimulants", context.takes_psychostimulants);
    form.flag("medication.maois", context.takes_maois);
    if edition == RemsFormEdition::WithRespiratoryItems {
        form.flag("medication.opioids", context.takes_opioids);
        form.flag("medication.other_sedating_drugs", context.takes_other_sedating_drugs);
    }
    form.recorded("monitoring_hcp.name", context.monitoring_hcp_name.clone());
    form.recorded("monitoring_hcp.phone", context.monitoring_hcp_phone.clone());
    form.recorded("monitoring_hcp.email", context.monitoring_hcp_email.clone());
    form.recorded("setting.name", context.setting_name.clone());
    form.recorded("setting.address", context.setting_address.clone());

    let started = dose.started_at;
    form.derived("session.treatment_date", started.map(|at| at.to_zoned_datetime(zone.clone()).date().to_string()));
    form.derived("session.dose_mg", dose.given_mg.map(|mg| mg.get().normalize().to_string()));
    form.recorded("session.lot_number", dose.lot_number.clone());

    // KNOWLEDGE §4.2: total minutes from the first device to the end of monitoring, at least 120.
    let duration = started.zip(end).map(|(from, to)| minutes_between(from, to));
    if let Some(minutes) = duration
        && minutes < settings.esketamine_min_observation_min.value
    {
        problems.push(format!(
            "session.duration_min: {minutes} min is below the REMS minimum of {} min",
            settings.esketamine_min_observation_min.value
        ));
    }
    form.derived("session.duration_min", duration.map(|minutes| minutes.to_string()));

    // KNOWLEDGE §4.2: "if there were no 2-hour minimum, when would the patient have been ready to leave?"
    let assessed_at = end.unwrap_or(now);
    let readiness = assess_discharge(session, &DischargeFacts::default(), protocol, assessed_at);
    let ready_minutes = started.zip(readiness.clinically_ready_at).map(|(from, to)| minutes_between(from, to));
    form.derived("session.ready_to_leave_min", ready_minutes.map(|minutes| minutes.to_string()));

    let (before_dose, after_dose) = match started {
        Some(at) => entries.split_at(entries.partition_point(|entry| entry.at < at)),
        None => (entries, &entries[entries.len()..]),
    };
    let until_end = match end {
        Some(at) => &after_dose[..after_dose.partition_point(|entry| entry.at <= at)],
        None => after_dose,
    };
    let bp_before = bp_readings(before_dose).next_back();
    let bp_post_dose = started.and_then(|at| {
        // Past the last instant jiff holds, the mark is that instant (no panic at the end of the calendar).
        let mark =
            at.checked_add(SignedDuration::from_mins(settings.rems_bp_post_dose_min.value)).unwrap_or(Timestamp::MAX);
        let window = settings.rems_bp_post_dose_window_min.value;
        bp_readings(after_dose)
            .map(|(taken, reading)| (minutes_between(mark, taken).abs(), reading))
            .filter(|(distance, _)| *distance <= window)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, reading)| reading)
    });
    let bp_at_completion = if end.is_some() { bp_readings(until_end).next_back() } else { None };

    let elevated = |reading: BloodPressure| {
        reading.systolic_mmhg() > protocol.eligibility.bp_elevated_systolic_above.value
            || reading.diastolic_mmhg() > protocol.eligibility.bp_elevated_diastolic_above.value
    };
    form.answer(
        "vitals.acceptable_before_administration",
        context.vitals_acceptable_before_administration,
        bp_before.map(|(_, reading)| !elevated(reading)),
    );
    let vitals_at_end = readiness
        .criteria
        .iter()
        .find(|criterion| criterion.id == super::discharge::CriterionId::VitalSignsAcceptable)
        .and_then(|criterion| match criterion.status {
            super::discharge::CriterionStatus::Met => Some(true),
            super::discharge::CriterionStatus::NotMet => Some(false),
            super::discharge::CriterionStatus::Indeterminate { .. } => None,
        });
    form.answer("vitals.acceptable_before_completion", context.vitals_acceptable_before_completion, vitals_at_end);
    form.derived("bp.before_administration", bp_before.map(|(_, reading)| shown(reading)));
    form.derived("bp.post_administration_40_min", bp_post_dose.map(shown));
    form.derived("bp.before_completion", bp_at_completion.map(|(_, reading)| shown(reading)));

    // Proposals from the timeline: sedation = any MOAA/S below `[scales] moaas_sedated_below` (KNOWLEDGE
    // §5.8, UNCONFIRMED cut-off 5);
    // dissociation and respiratory depression = an alert of that family during the session (§4.4).
    let replayed = alerts::replay_entries(until_end_or_all(entries, end), &protocol.alerts);
    let raised = |rules: &[AlertRule]| {
        replayed.iter().any(|step| step.active.iter().any(|alert| rules.contains(&alert.id.rule)))
    };
    let has_post_dose = !after_dose.is_empty();
    let sedated_below = protocol.scales.moaas_sedated_below.value;
    let sedation =
        after_dose.iter().filter_map(|entry| entry.observation.moaas).any(|score| score.get() < sedated_below);
    form.answer("adverse.sedation", context.sedation_occurred, has_post_dose.then_some(sedation));
    form.answer(
        "adverse.dissociation",
        context.dissociation_occurred,
        has_post_dose.then(|| raised(&[AlertRule::Dissociation])),
    );
    if edition == RemsFormEdition::WithRespiratoryItems {
        form.answer(
            "adverse.respiratory_depression",
            context.respiratory_depression_occurred,
            has_post_dose.then(|| raised(&[AlertRule::Spo2, AlertRule::RespiratoryRate])),
        );
    }
    form.recorded("adverse.serious_adverse_events", context.serious_adverse_events.clone());

    let missing = form.fields.iter().filter(|field| field.value.is_none()).map(|field| field.name).collect();
    // KNOWLEDGE §4.1: submit within 7 days of the session.
    let submit_by = started.map(|at| {
        let date = at.to_zoned_datetime(zone.clone()).date();
        date.checked_add(jiff::Span::new().days(settings.rems_submit_within_days.value)).unwrap_or(date)
    });
    let today = now.to_zoned_datetime(zone.clone()).date();
    let submission = match (context.submitted_on, submit_by) {
        (Some(_), _) => SubmissionStatus::Submitted,
        (None, Some(last_day)) if today > last_day => SubmissionStatus::Overdue,
        _ => SubmissionStatus::Due,
    };
    RemsFormOutcome::Required(RemsForm {
        edition,
        fields: form.fields,
        missing,
        problems,
        submit_by,
        submission,
        source: SOURCE,
    })
}

fn until_end_or_all(entries: &[TimedObservation], end: Option<Timestamp>) -> &[TimedObservation] {
    match end {
        Some(at) => &entries[..entries.partition_point(|entry| entry.at <= at)],
        None => entries,
    }
}
