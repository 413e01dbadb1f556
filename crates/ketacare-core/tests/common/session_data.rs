//! The two replayed sessions shared by the alert and discharge tests.

use ketacare_core::session::observation::TimedObservation;

use super::session_support::*;

/// A 56 mg esketamine session: pre-dose readings at 09:00 and 09:06, first device at 09:10.
pub fn esketamine_session_entries() -> Vec<TimedObservation> {
    vec![
        obs().bp(128, 78).hr(72).spo2(98).rr(14).moaas(5).cadss(0).crisis(&[]).at(0),
        obs().bp(126, 80).at(6),
        obs().moaas(4).spo2(97).at(25),
        obs().moaas(3).spo2(97).at(40),
        obs().bp(162, 92).hr(88).spo2(97).cadss(18).at(50),
        obs().moaas(4).at(55),
        obs().bp(148, 88).moaas(5).spo2(98).at(70),
        obs().bp(134, 82).moaas(5).cadss(3).spo2(98).at(100),
        obs().bp(130, 80).hr(74).spo2(98).rr(14).moaas(5).at(130),
    ]
}

/// IV ketamine 0.5 mg/kg over 40 min: infusion 13:10–13:50; times are minutes after 09:00.
pub fn iv_session_entries() -> Vec<TimedObservation> {
    vec![
        obs().bp(124, 76).hr(70).spo2(98).rr(14).moaas(5).cadss(2).at(240),
        obs().bp(122, 78).at(246),
        obs().bp(150, 90).hr(84).spo2(98).moaas(5).at(260),
        obs().bp(168, 98).hr(92).at(270),
        obs().bp(184, 104).at(280),
        obs().bp(186, 106).at(285),
        obs().bp(172, 96).cadss(14).moaas(4).at(290),
        obs().bp(150, 88).moaas(5).cadss(5).at(305),
        obs().bp(136, 82).moaas(5).cadss(4).spo2(98).at(320),
    ]
}
