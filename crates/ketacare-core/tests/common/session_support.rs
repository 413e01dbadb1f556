//! Shared builders for the session tests: observations at minutes after a clinic-local start time.

#![allow(dead_code)]

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ketacare_core::session::observation::*;
use ketacare_core::session::{CareSetting, DoseMg, DoseRecord, Modality, Session};
use rust_decimal::Decimal;

pub fn clinic_zone() -> TimeZone {
    TimeZone::get("America/New_York").expect("the tz database has America/New_York")
}

/// The clinic-local instant `hh:mm` on 2026-11-28.
pub fn local(hour: i8, minute: i8) -> Timestamp {
    clinic_zone().to_timestamp(DateTime::new(2026, 11, 28, hour, minute, 0, 0).unwrap()).unwrap()
}

/// `minutes` after 09:00 clinic time.
pub fn at(minutes: i64) -> Timestamp {
    local(9, 0) + SignedDuration::from_mins(minutes)
}

#[derive(Debug, Default, Clone)]
pub struct Obs(pub Observation);

pub fn obs() -> Obs {
    Obs::default()
}

impl Obs {
    pub fn bp(mut self, systolic: i64, diastolic: i64) -> Self {
        self.0.blood_pressure = Some(
            BloodPressure::new(SystolicMmhg::new(systolic).unwrap(), DiastolicMmhg::new(diastolic).unwrap()).unwrap(),
        );
        self
    }
    pub fn hr(mut self, bpm: i64) -> Self {
        self.0.heart_rate = Some(HeartRateBpm::new(bpm).unwrap());
        self
    }
    pub fn spo2(mut self, percent: i64) -> Self {
        self.0.spo2 = Some(Spo2Percent::new(percent).unwrap());
        self
    }
    pub fn rr(mut self, per_min: i64) -> Self {
        self.0.respiratory_rate = Some(RespiratoryRatePerMin::new(per_min).unwrap());
        self
    }
    pub fn moaas(mut self, score: i64) -> Self {
        self.0.moaas = Some(Moaas::new(score).unwrap());
        self
    }
    pub fn cadss(mut self, total: i64) -> Self {
        self.0.cadss_total = Some(CadssTotal::new(total).unwrap());
        self
    }
    pub fn bprs(mut self, total: i64) -> Self {
        self.0.bprs_positive_total = Some(BprsPositiveTotal::new(total).unwrap());
        self
    }
    pub fn event(mut self, event: AdverseEvent) -> Self {
        self.0.adverse_events.push(event);
        self
    }
    pub fn crisis(mut self, symptoms: &[CrisisSymptom]) -> Self {
        self.0.crisis_symptoms = Some(symptoms.to_vec());
        self
    }
    pub fn item9(mut self, score: i64) -> Self {
        self.0.phq9_item9 = Some(Phq9Item9::new(score).unwrap());
        self
    }
    pub fn cssrs_active(mut self, yes: bool) -> Self {
        self.0.cssrs_active_ideation = Some(yes);
        self
    }
    pub fn at(self, minutes: i64) -> TimedObservation {
        TimedObservation { at: at(minutes), observation: self.0 }
    }
}

pub fn timeline(entries: Vec<TimedObservation>) -> Timeline {
    Timeline::new(entries).unwrap()
}

pub fn session(
    modality: Modality,
    started_minute: Option<i64>,
    ended_minute: Option<i64>,
    entries: Vec<TimedObservation>,
) -> Session {
    let dose = DoseRecord {
        planned_mg: DoseMg::new("dose.planned_mg", Decimal::from(56)).unwrap(),
        planned_at: at(started_minute.unwrap_or(10)),
        given_mg: started_minute.map(|_| DoseMg::new("dose.given_mg", Decimal::from(56)).unwrap()),
        lot_number: Some("LOT-1".to_owned()),
        started_at: started_minute.map(at),
        ended_at: ended_minute.map(at),
    };
    Session::new(modality, CareSetting::Outpatient, clinic_zone(), dose, timeline(entries), None).unwrap()
}
