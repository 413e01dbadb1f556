//! Discharge readiness for both modalities, with the replayed sessions' discharge times, and the property
//! that an esketamine patient is never ready before the REMS minimum (KNOWLEDGE §4.1, §4.5).

// Table rows read better with owned values.
#![allow(clippy::needless_pass_by_value)]

#[path = "common/session_support.rs"]
mod session_support;

#[path = "common/session_data.rs"]
mod data;

use ketacare_core::protocol::Protocol;
use ketacare_core::session::Modality;
use ketacare_core::session::discharge::{AldreteScore, DischargeFacts, DischargeStatus, PadssScore, assess_discharge};
use proptest::prelude::*;
use session_support::*;

fn escort() -> DischargeFacts {
    DischargeFacts { escort_present: Some(true), ..DischargeFacts::default() }
}

/// Checks status and earliest discharge time (clinic-local hh:mm) of a session at minute `now`.
fn check(
    modality: Modality,
    started: i64,
    ended: Option<i64>,
    entries: Vec<ketacare_core::session::observation::TimedObservation>,
    facts: &DischargeFacts,
    now: i64,
    expected: (&str, Option<&str>),
) {
    let session = session(modality, Some(started), ended, entries);
    let readiness = assess_discharge(&session, facts, &Protocol::shipped(), at(now));
    let earliest =
        readiness.earliest_at.map(|instant| instant.to_zoned_datetime(clinic_zone()).strftime("%H:%M").to_string());
    let details: Vec<String> =
        readiness.criteria.iter().map(|c| format!("{} {} {}", c.id.as_str(), c.status.as_str(), c.reason)).collect();
    assert_eq!((readiness.status.as_str(), earliest.as_deref()), expected, "{details:#?}");
}

#[test]
fn esketamine_session_is_ready_at_the_two_hour_minimum() {
    let entries = data::esketamine_session_entries;
    // First device 09:10: clinically ready at 10:40, but not before 11:10.
    check(Modality::Esketamine, 10, None, entries(), &escort(), 129, ("not_ready", Some("11:10")));
    check(Modality::Esketamine, 10, None, entries(), &escort(), 130, ("ready", Some("11:10")));
    check(Modality::Esketamine, 10, None, entries(), &DischargeFacts::default(), 130, ("indeterminate", None));
    // At 09:55, sedation has just resolved but dissociation and BP have not.
    check(Modality::Esketamine, 10, None, entries()[..6].to_vec(), &escort(), 55, ("not_ready", None));
    let session = session(Modality::Esketamine, Some(10), None, entries());
    let readiness = assess_discharge(&session, &escort(), &Protocol::shipped(), at(130));
    assert_eq!(readiness.clinically_ready_at, Some(at(100)));
}

#[test]
fn iv_session_is_ready_thirty_minutes_after_the_infusion() {
    let entries = data::iv_session_entries;
    let aldrete = |minute, respiration, spo2| DischargeFacts {
        aldrete: Some((at(minute), AldreteScore::new(2, respiration, 2, 2, spo2).unwrap())),
        ..escort()
    };
    // Infusion 13:10–13:50; the BP surge settled at 14:05; Aldrete 10 at 14:20.
    check(Modality::IvRacemicKetamine, 250, Some(290), entries(), &aldrete(320, 2, 2), 320, ("ready", Some("14:20")));
    check(Modality::IvRacemicKetamine, 250, Some(290), entries(), &aldrete(320, 2, 2), 319, ("not_ready", None));
    // Aldrete 9 with respiration 1 does not pass (KNOWLEDGE §4.5 PROJECT DEFAULT).
    check(Modality::IvRacemicKetamine, 250, Some(290), entries(), &aldrete(320, 1, 2), 320, ("not_ready", None));
    check(Modality::IvRacemicKetamine, 250, Some(290), entries(), &aldrete(320, 2, 1), 320, ("not_ready", None));
    let padss = |total_minus: i64| DischargeFacts {
        padss: Some((at(320), PadssScore::new(2, 2 - total_minus, 2, 2, 2).unwrap())),
        ..escort()
    };
    check(Modality::IvRacemicKetamine, 250, Some(290), entries(), &padss(1), 320, ("ready", Some("14:20")));
    check(Modality::IvRacemicKetamine, 250, Some(290), entries(), &padss(2), 320, ("not_ready", None));
    // 30 minutes after infusion end is 14:20; at 14:19 the clock is not met.
    let early = DischargeFacts { aldrete: Some((at(318), AldreteScore::new(2, 2, 2, 2, 2).unwrap())), ..escort() };
    check(
        Modality::IvRacemicKetamine,
        250,
        Some(290),
        entries()[..8].to_vec(),
        &early,
        319,
        ("not_ready", Some("14:20")),
    );
    check(Modality::IvRacemicKetamine, 250, None, entries(), &aldrete(320, 2, 2), 320, ("indeterminate", None));
}

#[test]
fn scores_reject_impossible_items() {
    assert_eq!(
        AldreteScore::new(2, 3, 2, 2, 2).unwrap_err().to_string(),
        "aldrete.respiration must be between 0 and 2, got 3"
    );
    assert_eq!(
        PadssScore::new(2, 2, -1, 2, 2).unwrap_err().to_string(),
        "padss.nausea_vomiting must be between 0 and 2, got -1"
    );
}

fn observation_strategy() -> impl Strategy<Value = (i64, i64, i64, i64, i64)> {
    (0i64..200, 90i64..200, 85i64..=100, 0i64..=5, 0i64..30)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn esketamine_discharge_is_never_ready_before_the_rems_minimum(
        readings in prop::collection::vec(observation_strategy(), 0..12),
        now in 0i64..300,
        escort_present in any::<bool>(),
    ) {
        let mut readings = readings;
        readings.sort();
        let entries = readings
            .into_iter()
            .map(|(minute, systolic, spo2, moaas, cadss)| obs().bp(systolic, 60).spo2(spo2).moaas(moaas).cadss(cadss).hr(80).rr(14).at(minute))
            .collect();
        let session = session(Modality::Esketamine, Some(10), None, entries);
        let facts = DischargeFacts { escort_present: Some(escort_present), ..DischargeFacts::default() };
        let readiness = assess_discharge(&session, &facts, &Protocol::shipped(), at(now));
        if readiness.status == DischargeStatus::Ready {
            prop_assert!(now >= 130);
        }
        if let Some(earliest) = readiness.earliest_at {
            prop_assert!(earliest >= at(130));
        }
    }
}
