//! Alert rules at, just below and just above each threshold, alert identity (raise once, escalate,
//! resolve, new episode), two session replays, and monotonicity properties (KNOWLEDGE §4.4).

// Table rows read better with owned values.
#![allow(clippy::needless_pass_by_value)]

#[path = "common/session_support.rs"]
mod session_support;

#[path = "common/session_data.rs"]
mod data;

use data::{esketamine_session_entries, iv_session_entries};

use ketacare_core::protocol::Protocol;
use ketacare_core::session::alerts::{AlertChanges, AlertLevel, evaluate, replay};
use ketacare_core::session::observation::{AdverseEvent, CrisisSymptom, TimedObservation};
use proptest::prelude::*;
use session_support::*;

/// Evaluates `new` after `history` and checks the level of `rule` among the active alerts.
fn check(history: Vec<TimedObservation>, new: TimedObservation, rule: &str, expected: Option<&str>) {
    let protocol = Protocol::shipped();
    let changes = evaluate(&timeline(history.clone()), &new, &protocol.alerts);
    let level = changes.active.iter().find(|alert| alert.id.rule.id() == rule).map(|alert| alert.level.as_str());
    assert_eq!(level, expected, "rule {rule} after {history:?} then {new:?}");
}

fn first(new: TimedObservation, rule: &str, expected: Option<&str>) {
    check(vec![], new, rule, expected);
}

#[test]
fn bp_rise_from_baseline() {
    let baseline = || vec![obs().bp(110, 70).at(0)];
    check(baseline(), obs().bp(149, 70).at(20), "BP_RISE_FROM_BASELINE", None);
    check(baseline(), obs().bp(150, 70).at(20), "BP_RISE_FROM_BASELINE", Some("warning"));
    check(baseline(), obs().bp(151, 70).at(20), "BP_RISE_FROM_BASELINE", Some("warning"));
    check(baseline(), obs().bp(120, 94).at(20), "BP_RISE_FROM_BASELINE", None);
    check(baseline(), obs().bp(120, 95).at(20), "BP_RISE_FROM_BASELINE", Some("warning"));
    check(baseline(), obs().bp(120, 96).at(20), "BP_RISE_FROM_BASELINE", Some("warning"));
    // The baseline is the first reading of the session, not the previous one.
    check(
        vec![obs().bp(110, 70).at(0), obs().bp(140, 80).at(10)],
        obs().bp(150, 80).at(20),
        "BP_RISE_FROM_BASELINE",
        Some("warning"),
    );
    // The first reading is the baseline itself.
    first(obs().bp(190, 100).at(0), "BP_RISE_FROM_BASELINE", None);
}

#[test]
fn bp_absolute_warning() {
    first(obs().bp(159, 80).at(0), "BP_HIGH", None);
    first(obs().bp(160, 80).at(0), "BP_HIGH", Some("warning"));
    first(obs().bp(161, 80).at(0), "BP_HIGH", Some("warning"));
    first(obs().bp(140, 99).at(0), "BP_HIGH", None);
    first(obs().bp(140, 100).at(0), "BP_HIGH", Some("warning"));
    first(obs().bp(140, 101).at(0), "BP_HIGH", Some("warning"));
}

#[test]
fn bp_critical_needs_two_readings_five_minutes_apart() {
    let severe_at_0 = || vec![obs().bp(180, 90).at(0)];
    // A single reading at 180 is only a warning until confirmed.
    first(obs().bp(180, 90).at(0), "BP_HIGH", Some("warning"));
    check(severe_at_0(), obs().bp(180, 90).at(4), "BP_HIGH", Some("warning"));
    check(severe_at_0(), obs().bp(180, 90).at(5), "BP_HIGH", Some("critical"));
    check(severe_at_0(), obs().bp(181, 90).at(6), "BP_HIGH", Some("critical"));
    check(vec![obs().bp(179, 90).at(0)], obs().bp(179, 90).at(5), "BP_HIGH", Some("warning"));
    check(vec![obs().bp(150, 109).at(0)], obs().bp(150, 109).at(5), "BP_HIGH", Some("warning"));
    check(vec![obs().bp(150, 110).at(0)], obs().bp(150, 110).at(5), "BP_HIGH", Some("critical"));
    check(vec![obs().bp(150, 111).at(0)], obs().bp(150, 111).at(5), "BP_HIGH", Some("critical"));
    // A reading below the range in between breaks the run.
    check(vec![obs().bp(185, 90).at(0), obs().bp(170, 90).at(3)], obs().bp(185, 90).at(6), "BP_HIGH", Some("warning"));
    // Observations without BP neither break nor extend the run.
    check(vec![obs().bp(185, 90).at(0), obs().hr(80).at(3)], obs().bp(185, 90).at(6), "BP_HIGH", Some("critical"));
}

#[test]
fn bp_critical_on_any_single_very_high_reading() {
    first(obs().bp(199, 90).at(0), "BP_HIGH", Some("warning"));
    first(obs().bp(200, 90).at(0), "BP_HIGH", Some("critical"));
    first(obs().bp(201, 90).at(0), "BP_HIGH", Some("critical"));
    first(obs().bp(170, 119).at(0), "BP_HIGH", Some("warning"));
    first(obs().bp(170, 120).at(0), "BP_HIGH", Some("critical"));
    first(obs().bp(170, 121).at(0), "BP_HIGH", Some("critical"));
}

#[test]
fn hypertensive_crisis_symptoms_are_an_emergency() {
    first(obs().crisis(&[CrisisSymptom::ChestPain]).at(0), "HYPERTENSIVE_CRISIS_SYMPTOMS", Some("emergency"));
    first(obs().crisis(&[]).at(0), "HYPERTENSIVE_CRISIS_SYMPTOMS", None);
    check(
        vec![obs().crisis(&[CrisisSymptom::SevereHeadache]).at(0)],
        obs().bp(130, 80).at(5),
        "HYPERTENSIVE_CRISIS_SYMPTOMS",
        Some("emergency"),
    );
}

#[test]
fn heart_rate() {
    first(obs().hr(51).at(0), "HEART_RATE", None);
    first(obs().hr(50).at(0), "HEART_RATE", None);
    first(obs().hr(49).at(0), "HEART_RATE", Some("critical"));
    first(obs().hr(120).at(0), "HEART_RATE", None);
    first(obs().hr(121).at(0), "HEART_RATE", Some("info"));
    check(vec![obs().hr(120).at(0)], obs().hr(120).at(10), "HEART_RATE", None);
    check(vec![obs().hr(121).at(0)], obs().hr(121).at(4), "HEART_RATE", Some("info"));
    check(vec![obs().hr(121).at(0)], obs().hr(121).at(5), "HEART_RATE", Some("critical"));
    check(vec![obs().hr(121).at(0)], obs().hr(122).at(6), "HEART_RATE", Some("critical"));
    check(vec![obs().hr(121).at(0), obs().hr(110).at(2)], obs().hr(125).at(6), "HEART_RATE", Some("info"));
}

#[test]
fn oxygen_saturation() {
    first(obs().spo2(95).at(0), "SPO2", None);
    first(obs().spo2(94).at(0), "SPO2", None);
    first(obs().spo2(93).at(0), "SPO2", Some("warning"));
    first(obs().spo2(92).at(0), "SPO2", Some("critical"));
    first(obs().spo2(91).at(0), "SPO2", Some("critical"));
    let baseline = || vec![obs().spo2(99).at(0)];
    check(baseline(), obs().spo2(96).at(10), "SPO2", None);
    check(baseline(), obs().spo2(95).at(10), "SPO2", Some("warning"));
    check(baseline(), obs().spo2(94).at(10), "SPO2", Some("warning"));
}

#[test]
fn respiratory_rate() {
    first(obs().rr(11).at(0), "RESPIRATORY_RATE", None);
    first(obs().rr(10).at(0), "RESPIRATORY_RATE", None);
    first(obs().rr(9).at(0), "RESPIRATORY_RATE", Some("critical"));
    first(obs().rr(23).at(0), "RESPIRATORY_RATE", None);
    first(obs().rr(24).at(0), "RESPIRATORY_RATE", None);
    first(obs().rr(25).at(0), "RESPIRATORY_RATE", Some("critical"));
}

#[test]
fn sedation() {
    first(obs().moaas(5).at(0), "SEDATION", None);
    first(obs().moaas(4).at(0), "SEDATION", None);
    first(obs().moaas(3).at(0), "SEDATION", Some("warning"));
    first(obs().moaas(2).at(0), "SEDATION", Some("warning"));
    first(obs().moaas(1).at(0), "SEDATION", Some("critical"));
    first(obs().moaas(0).at(0), "SEDATION", Some("critical"));
}

#[test]
fn dissociation_and_psychotomimetic_symptoms() {
    first(obs().cadss(4).at(0), "DISSOCIATION", None);
    first(obs().cadss(5).at(0), "DISSOCIATION", Some("warning"));
    first(obs().cadss(6).at(0), "DISSOCIATION", Some("warning"));
    let baseline = || vec![obs().bprs(5).at(0)];
    check(baseline(), obs().bprs(5).at(40), "PSYCHOTOMIMETIC", None);
    check(baseline(), obs().bprs(6).at(40), "PSYCHOTOMIMETIC", Some("warning"));
    check(baseline(), obs().bprs(7).at(40), "PSYCHOTOMIMETIC", Some("warning"));
    first(obs().bprs(12).at(0), "PSYCHOTOMIMETIC", None);
}

#[test]
fn emesis_and_suicidality() {
    first(obs().event(AdverseEvent::Vomiting).at(0), "EMESIS", Some("info"));
    first(obs().event(AdverseEvent::Nausea).at(0), "EMESIS", None);
    first(obs().item9(0).at(0), "SUICIDALITY", None);
    first(obs().item9(1).at(0), "SUICIDALITY", Some("critical"));
    first(obs().cssrs_active(true).at(0), "SUICIDALITY", Some("critical"));
    first(obs().cssrs_active(false).at(0), "SUICIDALITY", None);
}

/// `(clinic-local hh:mm, change, alert id, level)` for every change of a replay.
fn sequence(replayed: &[AlertChanges]) -> Vec<String> {
    let zone = clinic_zone();
    replayed
        .iter()
        .flat_map(|step| {
            step.changes.iter().map(|change| {
                format!(
                    "{} {} {} {}",
                    step.at.to_zoned_datetime(zone.clone()).strftime("%H:%M"),
                    change.kind.as_str(),
                    change.alert.id,
                    change.alert.level.as_str()
                )
            })
        })
        .collect()
}

#[test]
fn an_alert_is_raised_once_escalated_resolved_and_reopened_as_a_new_episode() {
    let protocol = Protocol::shipped();
    let replayed = replay(
        &timeline(vec![
            obs().bp(120, 80).at(0),
            obs().bp(165, 85).at(10),
            obs().bp(166, 85).at(15),
            obs().bp(185, 85).at(20),
            obs().bp(186, 85).at(25),
            obs().bp(130, 80).at(40),
            obs().bp(162, 80).at(50),
        ]),
        &protocol.alerts,
    );
    assert_eq!(
        sequence(&replayed),
        [
            "09:10 raised BP_RISE_FROM_BASELINE#1 warning",
            "09:10 raised BP_HIGH#1 warning",
            "09:25 escalated BP_HIGH#1 critical",
            "09:40 resolved BP_RISE_FROM_BASELINE#1 warning",
            "09:40 resolved BP_HIGH#1 critical",
            "09:50 raised BP_RISE_FROM_BASELINE#2 warning",
            "09:50 raised BP_HIGH#2 warning",
        ]
    );
    let escalated = &replayed[4].changes[0].alert;
    assert_eq!(replayed[4].changes[0].kind.as_str(), "escalated");
    assert_eq!(escalated.recommended_action, "pause infusion, notify prescriber");
    assert!(escalated.source.starts_with("clinical-reference §4.4"), "{}", escalated.source);
    assert_eq!(escalated.raised_at, at(10));
    assert!(replayed[2].changes.is_empty(), "a repeated warning is not raised again");
    assert_eq!(replayed[2].active.len(), 2);
}

#[test]
fn replay_of_a_two_hour_esketamine_session() {
    let protocol = Protocol::shipped();
    let replayed = replay(&timeline(esketamine_session_entries()), &protocol.alerts);
    assert_eq!(
        sequence(&replayed),
        [
            "09:40 raised SEDATION#1 warning",
            "09:50 raised BP_HIGH#1 warning",
            "09:50 raised DISSOCIATION#1 warning",
            "09:55 resolved SEDATION#1 warning",
            "10:10 resolved BP_HIGH#1 warning",
            "10:40 resolved DISSOCIATION#1 warning",
        ]
    );
    assert!(replayed.last().unwrap().active.is_empty());
}

#[test]
fn replay_of_a_forty_minute_iv_session_with_a_bp_surge() {
    let protocol = Protocol::shipped();
    let replayed = replay(&timeline(iv_session_entries()), &protocol.alerts);
    assert_eq!(
        sequence(&replayed),
        [
            "13:30 raised BP_RISE_FROM_BASELINE#1 warning",
            "13:30 raised BP_HIGH#1 warning",
            "13:45 escalated BP_HIGH#1 critical",
            "13:50 de_escalated BP_HIGH#1 warning",
            "13:50 raised DISSOCIATION#1 warning",
            "14:05 resolved BP_RISE_FROM_BASELINE#1 warning",
            "14:05 resolved BP_HIGH#1 warning",
            "14:20 resolved DISSOCIATION#1 warning",
        ]
    );
}

fn worst_level(history: &[(i64, i64, i64)], new: TimedObservation) -> Option<AlertLevel> {
    let protocol = Protocol::shipped();
    let entries =
        history.iter().map(|(minute, systolic, diastolic)| obs().bp(*systolic, *diastolic).at(*minute)).collect();
    let changes = evaluate(&timeline(entries), &new, &protocol.alerts);
    changes.active.iter().map(|alert| alert.level).max()
}

fn history_strategy() -> impl Strategy<Value = Vec<(i64, i64, i64)>> {
    prop::collection::vec((0i64..30, 90i64..230, 50i64..85), 0..6).prop_map(|mut readings| {
        readings.sort();
        readings
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn alerts_never_get_milder_as_systolic_rises(history in history_strategy(), low in 90i64..300, high in 90i64..300) {
        let (low, high) = (low.min(high), low.max(high));
        prop_assert!(worst_level(&history, obs().bp(low, 80).at(40)) <= worst_level(&history, obs().bp(high, 80).at(40)));
    }

    #[test]
    fn alerts_never_get_milder_as_diastolic_rises(history in history_strategy(), low in 40i64..140, high in 40i64..140) {
        let (low, high) = (low.min(high), low.max(high));
        prop_assert!(worst_level(&history, obs().bp(150, low).at(40)) <= worst_level(&history, obs().bp(150, high).at(40)));
    }

    #[test]
    fn alerts_never_get_milder_as_saturation_falls(baseline in 90i64..=100, better in 50i64..=100, worse in 50i64..=100) {
        let (worse, better) = (worse.min(better), worse.max(better));
        let protocol = Protocol::shipped();
        let history = timeline(vec![obs().spo2(baseline).at(0)]);
        let level = |value| evaluate(&history, &obs().spo2(value).at(10), &protocol.alerts).active.iter().map(|alert| alert.level).max();
        prop_assert!(level(better) <= level(worse));
    }

    #[test]
    fn alerts_never_get_milder_as_sedation_deepens(better in 0i64..=5, worse in 0i64..=5) {
        let (worse, better) = (worse.min(better), worse.max(better));
        let protocol = Protocol::shipped();
        let level = |value| evaluate(&timeline(vec![]), &obs().moaas(value).at(10), &protocol.alerts).active.iter().map(|alert| alert.level).max();
        prop_assert!(level(better) <= level(worse));
    }

    #[test]
    fn alerts_never_get_milder_as_tachycardia_rises(previous in 60i64..200, low in 60i64..250, high in 60i64..250, gap in 0i64..10) {
        let (low, high) = (low.min(high), low.max(high));
        let protocol = Protocol::shipped();
        let history = timeline(vec![obs().hr(previous).at(0)]);
        let level = |value| evaluate(&history, &obs().hr(value).at(gap), &protocol.alerts).active.iter().map(|alert| alert.level).max();
        prop_assert!(level(low) <= level(high));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Evaluating observations one at a time gives exactly the replay of the whole timeline.
    #[test]
    fn evaluate_one_by_one_matches_the_replay(
        readings in prop::collection::vec((0i64..5, 90i64..230, 50i64..85, 40i64..150, 85i64..=100, 0i64..=5), 1..10),
    ) {
        let protocol = Protocol::shipped();
        let mut minute = 0;
        let entries: Vec<TimedObservation> = readings
            .into_iter()
            .map(|(gap, systolic, diastolic, heart_rate, spo2, moaas)| {
                minute += gap;
                obs().bp(systolic, diastolic).hr(heart_rate).spo2(spo2).moaas(moaas).at(minute)
            })
            .collect();
        let replayed = replay(&timeline(entries.clone()), &protocol.alerts);
        for (index, entry) in entries.iter().enumerate() {
            let one = evaluate(&timeline(entries[..index].to_vec()), entry, &protocol.alerts);
            prop_assert_eq!(&one, &replayed[index]);
        }
    }
}
