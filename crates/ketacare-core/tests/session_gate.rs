//! The pre-dose gate, one table per item (KNOWLEDGE §2.1, §2.4, §4.1, §5.9, §7).

// Table rows read better with owned values.
#![allow(clippy::needless_pass_by_value)]

#[path = "common/session_support.rs"]
mod session_support;

use ketacare_core::protocol::Protocol;
use ketacare_core::session::gate::{
    CssrsRisk, GateItemId, GateOutcome, InformedConsent, PreDoseFacts, PregnancyTest, check_gate,
};
use ketacare_core::session::observation::{Phq9Item9, QidsItem12, TimedObservation};
use ketacare_core::session::{CareSetting, Modality, Session};
use session_support::*;

fn all_clear() -> PreDoseFacts {
    PreDoseFacts {
        phq9_item9: Some(Phq9Item9::new(0).unwrap()),
        can_become_pregnant: Some(false),
        last_food_at: Some(at(-180)),
        last_liquid_at: Some(at(-60)),
        escort_arranged: Some(true),
        rems_patient_enrolled: Some(true),
        informed_consent: Some(InformedConsent::Current),
        ..PreDoseFacts::default()
    }
}

fn normal_bp() -> Vec<TimedObservation> {
    vec![obs().bp(128, 78).at(0), obs().bp(126, 80).at(6)]
}

/// Runs the gate (dose at minute 10) and checks one item's status word and, for holds, whether overridable.
fn check(modality: Modality, entries: Vec<TimedObservation>, facts: PreDoseFacts, item: GateItemId, expected: &str) {
    let session = session(modality, Some(10), None, entries);
    check_session(&session, &facts, item, expected);
}

fn check_session(session: &Session, facts: &PreDoseFacts, item: GateItemId, expected: &str) {
    let gate = check_gate(session, facts, &Protocol::shipped());
    let found = gate.items.iter().find(|candidate| candidate.item == item).expect("item present");
    let shown = match &found.status {
        ketacare_core::session::gate::GateStatus::Hold { overridable: true } => "hold (overridable)".to_owned(),
        ketacare_core::session::gate::GateStatus::Hold { overridable: false } => "hold".to_owned(),
        ketacare_core::session::gate::GateStatus::Indeterminate { missing } => format!("missing {}", missing.join(",")),
        other => other.as_str().to_owned(),
    };
    assert_eq!(shown, expected, "{item:?}: {}", found.reason);
    assert!(
        found.source.contains("clinical-reference") || found.source.contains("PROJECT DEFAULT"),
        "{}",
        found.source
    );
}

#[test]
fn blood_pressure_on_the_less_severe_of_two_readings() {
    let readings = |first: (i64, i64), second: (i64, i64), gap: i64| {
        vec![obs().bp(first.0, first.1).at(0), obs().bp(second.0, second.1).at(gap)]
    };
    let esk = Modality::Esketamine;
    let bp = GateItemId::BloodPressure;
    check(esk, readings((140, 90), (140, 90), 5), all_clear(), bp, "pass");
    check(esk, readings((141, 90), (141, 90), 5), all_clear(), bp, "hold (overridable)");
    check(esk, readings((140, 91), (140, 91), 5), all_clear(), bp, "hold (overridable)");
    check(esk, readings((179, 109), (179, 109), 5), all_clear(), bp, "hold (overridable)");
    check(esk, readings((180, 100), (180, 100), 5), all_clear(), bp, "hold");
    check(esk, readings((150, 110), (150, 110), 5), all_clear(), bp, "hold");
    // Classified on the less severe reading.
    check(esk, readings((185, 100), (150, 88), 5), all_clear(), bp, "hold (overridable)");
    check(esk, readings((150, 95), (135, 85), 6), all_clear(), bp, "pass");
    // Two readings are needed, at least 5 minutes apart.
    check(esk, vec![obs().bp(120, 80).at(0)], all_clear(), bp, "missing pre_dose_blood_pressure_readings");
    check(esk, readings((120, 80), (120, 80), 4), all_clear(), bp, "missing pre_dose_blood_pressure_readings");
    // Readings after the first device are not pre-dose readings.
    check(
        esk,
        vec![obs().bp(120, 80).at(0), obs().bp(120, 80).at(12)],
        all_clear(),
        bp,
        "missing pre_dose_blood_pressure_readings",
    );
}

#[test]
fn suicidality_screen_when_item_9_or_item_12_is_positive() {
    let with = |item9: Option<i64>, item12: Option<i64>, risk: Option<CssrsRisk>| PreDoseFacts {
        phq9_item9: item9.map(|score| Phq9Item9::new(score).unwrap()),
        qids_item12: item12.map(|score| QidsItem12::new(score).unwrap()),
        cssrs_risk: risk,
        ..all_clear()
    };
    let item = GateItemId::SuicidalityScreen;
    let esk = Modality::Esketamine;
    check(esk, normal_bp(), with(Some(0), None, None), item, "pass");
    check(esk, normal_bp(), with(None, Some(0), None), item, "pass");
    check(esk, normal_bp(), with(None, None, None), item, "missing phq9_item9");
    check(esk, normal_bp(), with(Some(1), None, None), item, "missing cssrs_risk");
    check(esk, normal_bp(), with(None, Some(2), None), item, "missing cssrs_risk");
    check(esk, normal_bp(), with(Some(1), None, Some(CssrsRisk::Low)), item, "pass");
    check(esk, normal_bp(), with(Some(1), None, Some(CssrsRisk::Moderate)), item, "hold (overridable)");
    check(esk, normal_bp(), with(Some(3), None, Some(CssrsRisk::High)), item, "hold");
}

#[test]
fn pregnancy_fasting_escort_rems_enrolment_and_informed_consent() {
    let esk = Modality::Esketamine;
    let iv = Modality::IvRacemicKetamine;
    let pregnancy = |can: Option<bool>, test: Option<PregnancyTest>| PreDoseFacts {
        can_become_pregnant: can,
        pregnancy_test: test,
        ..all_clear()
    };
    check(esk, normal_bp(), pregnancy(Some(false), None), GateItemId::Pregnancy, "pass");
    check(esk, normal_bp(), pregnancy(None, None), GateItemId::Pregnancy, "missing can_become_pregnant");
    check(esk, normal_bp(), pregnancy(Some(true), None), GateItemId::Pregnancy, "missing pregnancy_test");
    check(esk, normal_bp(), pregnancy(Some(true), Some(PregnancyTest::Negative)), GateItemId::Pregnancy, "pass");
    check(
        esk,
        normal_bp(),
        pregnancy(Some(true), Some(PregnancyTest::Positive)),
        GateItemId::Pregnancy,
        "hold (overridable)",
    );

    // Dose at minute 10: food needs 120 min, liquids 30 min (KNOWLEDGE §2.1).
    let fasting = |food: Option<i64>, liquid: Option<i64>| PreDoseFacts {
        last_food_at: food.map(at),
        last_liquid_at: liquid.map(at),
        ..all_clear()
    };
    check(esk, normal_bp(), fasting(Some(-110), Some(-20)), GateItemId::Fasting, "pass");
    check(esk, normal_bp(), fasting(Some(-109), Some(-20)), GateItemId::Fasting, "hold (overridable)");
    check(esk, normal_bp(), fasting(Some(-110), Some(-19)), GateItemId::Fasting, "hold (overridable)");
    check(esk, normal_bp(), fasting(None, Some(-60)), GateItemId::Fasting, "missing last_food_at");
    check(iv, normal_bp(), fasting(None, None), GateItemId::Fasting, "pass");

    let escort = |arranged| PreDoseFacts { escort_arranged: arranged, ..all_clear() };
    check(esk, normal_bp(), escort(Some(true)), GateItemId::Escort, "pass");
    check(esk, normal_bp(), escort(Some(false)), GateItemId::Escort, "hold");
    check(esk, normal_bp(), escort(None), GateItemId::Escort, "missing escort_arranged");

    let enrolled = |value| PreDoseFacts { rems_patient_enrolled: value, ..all_clear() };
    check(esk, normal_bp(), enrolled(Some(false)), GateItemId::RemsEnrolment, "hold");
    check(esk, normal_bp(), enrolled(None), GateItemId::RemsEnrolment, "missing rems_patient_enrolled");

    // Informed consent (PROJECT DEFAULT, session.consent_required_before_dose): only a current one passes,
    // and no prescriber can override its absence.
    let consent = |value| PreDoseFacts { informed_consent: value, ..all_clear() };
    for modality in [esk, iv] {
        check(modality, normal_bp(), consent(Some(InformedConsent::Current)), GateItemId::InformedConsent, "pass");
        for missing in [InformedConsent::Expired, InformedConsent::Withdrawn, InformedConsent::NotOnFile] {
            check(modality, normal_bp(), consent(Some(missing)), GateItemId::InformedConsent, "hold");
        }
        check(modality, normal_bp(), consent(None), GateItemId::InformedConsent, "missing informed_consent");
    }
    let inpatient = Session::new(
        esk,
        CareSetting::Inpatient,
        clinic_zone(),
        session(esk, Some(10), None, vec![]).dose().clone(),
        timeline(normal_bp()),
        None,
    )
    .unwrap();
    check_session(&inpatient, &enrolled(None), GateItemId::RemsEnrolment, "pass");
    let iv_gate = check_gate(&session(iv, Some(10), None, normal_bp()), &all_clear(), &Protocol::shipped());
    assert!(iv_gate.items.iter().all(|item| item.item != GateItemId::RemsEnrolment));
}

#[test]
fn the_overall_outcome_is_hold_over_indeterminate_over_proceed() {
    let protocol = Protocol::shipped();
    let gate = |facts: PreDoseFacts| {
        check_gate(&session(Modality::Esketamine, Some(10), None, normal_bp()), &facts, &protocol).outcome()
    };
    assert_eq!(gate(all_clear()), GateOutcome::Proceed);
    assert_eq!(gate(PreDoseFacts { escort_arranged: None, ..all_clear() }), GateOutcome::Indeterminate);
    assert_eq!(gate(PreDoseFacts { escort_arranged: Some(false), phq9_item9: None, ..all_clear() }), GateOutcome::Hold);
}

#[test]
fn the_latest_consent_signed_by_the_day_decides_whether_consent_is_current() {
    use ketacare_core::session::gate::{ConsentOnFile, informed_consent_on};
    let day = |text: &str| text.parse::<jiff::civil::Date>().unwrap();
    let signed = |on: &str, until: Option<&str>, withdrawn: Option<&str>| ConsentOnFile {
        signed_on: day(on),
        valid_until: until.map(day),
        withdrawn_on: withdrawn.map(day),
    };
    let cases: Vec<(&str, Vec<ConsentOnFile>, &str, InformedConsent)> = vec![
        ("nothing on file", vec![], "2026-12-01", InformedConsent::NotOnFile),
        ("signed later than the day", vec![signed("2026-12-02", None, None)], "2026-12-01", InformedConsent::NotOnFile),
        ("signed that day", vec![signed("2026-12-01", None, None)], "2026-12-01", InformedConsent::Current),
        (
            "last valid day",
            vec![signed("2026-01-01", Some("2026-12-01"), None)],
            "2026-12-01",
            InformedConsent::Current,
        ),
        (
            "a day past validity",
            vec![signed("2026-01-01", Some("2026-11-30"), None)],
            "2026-12-01",
            InformedConsent::Expired,
        ),
        (
            "withdrawn that day",
            vec![signed("2026-01-01", None, Some("2026-12-01"))],
            "2026-12-01",
            InformedConsent::Withdrawn,
        ),
        (
            "withdrawn after the day",
            vec![signed("2026-01-01", None, Some("2026-12-02"))],
            "2026-12-01",
            InformedConsent::Current,
        ),
        (
            "a new consent after a withdrawal",
            vec![signed("2026-01-01", None, Some("2026-06-01")), signed("2026-07-01", None, None)],
            "2026-12-01",
            InformedConsent::Current,
        ),
        (
            "a withdrawal of the newer consent",
            vec![signed("2026-01-01", None, None), signed("2026-07-01", None, Some("2026-08-01"))],
            "2026-12-01",
            InformedConsent::Withdrawn,
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter(|(_, consents, on, expected)| informed_consent_on(day(on), consents) != *expected)
        .map(|(name, consents, on, expected)| {
            format!("{name}: expected {expected:?}, got {:?}", informed_consent_on(day(on), consents))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}
