//! The REMS Patient Monitoring Form: assembly from the replayed esketamine session, completeness by
//! edition, the monitoring-duration check and the 7-day deadline (KNOWLEDGE §4.1, §4.2).

// Table rows read better with owned values.
#![allow(clippy::needless_pass_by_value)]

#[path = "common/session_support.rs"]
mod session_support;

#[path = "common/session_data.rs"]
mod data;

use jiff::civil::date;
use ketacare_core::protocol::Protocol;
use ketacare_core::session::rems::{RemsContext, RemsForm, RemsFormEdition, RemsFormOutcome, assemble_rems_form};
use ketacare_core::session::{CareSetting, Modality, Session};
use session_support::*;

fn full_context() -> RemsContext {
    let text = |value: &str| Some(value.to_owned());
    RemsContext {
        patient_first_name: text("Alex"),
        patient_last_name: text("Doe"),
        patient_birth_date: Some(date(1980, 4, 2)),
        patient_sex: text("female"),
        first_treatment: Some(false),
        takes_benzodiazepines: Some(false),
        takes_non_benzodiazepine_sedative_hypnotics: Some(false),
        takes_psychostimulants: Some(false),
        takes_maois: Some(false),
        takes_opioids: Some(false),
        takes_other_sedating_drugs: Some(false),
        monitoring_hcp_name: text("R. Nurse"),
        monitoring_hcp_phone: text("555-0100"),
        monitoring_hcp_email: text("nurse@example.org"),
        setting_name: text("Example Clinic"),
        setting_address: text("1 Main St"),
        serious_adverse_events: text("none"),
        ..RemsContext::default()
    }
}

fn esketamine_session(monitoring_end_minute: i64) -> Session {
    let base = session(Modality::Esketamine, Some(10), None, data::esketamine_session_entries());
    Session::new(
        Modality::Esketamine,
        CareSetting::Outpatient,
        clinic_zone(),
        base.dose().clone(),
        base.timeline().clone(),
        Some(at(monitoring_end_minute)),
    )
    .unwrap()
}

fn form(session: &Session, context: &RemsContext, edition: RemsFormEdition, now_minute: i64) -> RemsForm {
    match assemble_rems_form(session, context, edition, &Protocol::shipped(), at(now_minute)) {
        RemsFormOutcome::Required(form) => form,
        other => panic!("expected a form, got {other:?}"),
    }
}

fn check(form: &RemsForm, expected: &[(&str, Option<&str>)]) {
    for (name, value) in expected {
        assert_eq!(form.value(name), *value, "field {name}");
    }
}

#[test]
fn the_form_is_assembled_from_the_session() {
    let form = form(&esketamine_session(130), &full_context(), RemsFormEdition::WithRespiratoryItems, 140);
    check(
        &form,
        &[
            ("session.treatment_date", Some("2026-11-28")),
            ("session.dose_mg", Some("56")),
            ("session.lot_number", Some("LOT-1")),
            ("session.duration_min", Some("120")),
            ("session.ready_to_leave_min", Some("90")),
            ("bp.before_administration", Some("126/80")),
            ("bp.post_administration_40_min", Some("162/92")),
            ("bp.before_completion", Some("130/80")),
            ("vitals.acceptable_before_administration", Some("yes")),
            ("vitals.acceptable_before_completion", Some("yes")),
            ("adverse.sedation", Some("yes")),
            ("adverse.dissociation", Some("yes")),
            ("adverse.respiratory_depression", Some("no")),
        ],
    );
    assert!(form.is_complete(), "missing {:?}, problems {:?}", form.missing, form.problems);
    assert_eq!(form.submit_by, Some(date(2026, 12, 5)));
}

#[test]
fn completeness_names_the_missing_fields_by_edition() {
    let session = esketamine_session(130);
    let context = RemsContext { monitoring_hcp_email: None, takes_opioids: None, ..full_context() };
    assert_eq!(form(&session, &context, RemsFormEdition::November2021, 140).missing, ["monitoring_hcp.email"]);
    assert_eq!(
        form(&session, &context, RemsFormEdition::WithRespiratoryItems, 140).missing,
        ["medication.opioids", "monitoring_hcp.email"]
    );
    let first = RemsContext { first_treatment: Some(true), ..full_context() };
    assert_eq!(form(&session, &first, RemsFormEdition::November2021, 140).missing, ["patient.enrolled"]);
    assert!(
        form(&session, &full_context(), RemsFormEdition::November2021, 140)
            .value("adverse.respiratory_depression")
            .is_none()
    );
}

#[test]
fn monitoring_shorter_than_two_hours_is_a_problem() {
    let form = form(&esketamine_session(110), &full_context(), RemsFormEdition::November2021, 140);
    assert_eq!(form.problems, ["session.duration_min: 100 min is below the REMS minimum of 120 min"]);
}

#[test]
fn the_form_is_due_within_seven_days() {
    let session = esketamine_session(130);
    let minutes_per_day = 24 * 60;
    let status = |days: i64, context: &RemsContext| {
        form(&session, context, RemsFormEdition::November2021, 130 + days * minutes_per_day).submission.as_str()
    };
    assert_eq!(status(7, &full_context()), "due");
    assert_eq!(status(8, &full_context()), "overdue");
    let submitted = RemsContext { submitted_on: Some(date(2026, 12, 1)), ..full_context() };
    assert_eq!(status(8, &submitted), "submitted");
}

#[test]
fn iv_and_inpatient_sessions_need_no_form() {
    let iv = session(Modality::IvRacemicKetamine, Some(250), Some(290), data::iv_session_entries());
    let outcome =
        assemble_rems_form(&iv, &full_context(), RemsFormEdition::November2021, &Protocol::shipped(), at(400));
    assert!(matches!(outcome, RemsFormOutcome::NotRequired { .. }));
}
