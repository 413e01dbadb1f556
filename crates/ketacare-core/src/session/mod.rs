//! A treatment session, IV racemic ketamine or esketamine: the dose record, the observation timeline in
//! the clinic's time zone, and the decisions made on it — the pre-dose gate, alerts, discharge readiness
//! and the REMS Patient Monitoring Form (KNOWLEDGE §2.4, §3.5, §4, §5.8–§5.10; PRODUCT step 4).

pub mod alerts;
pub mod discharge;
pub mod gate;
pub mod observation;
pub mod rems;

use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;

use crate::protocol::{InvalidProtocol, SectionReader, Setting};
use observation::Timeline;

/// Which treatment the session gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modality {
    /// IV racemic ketamine infusion (off-label, KNOWLEDGE §2.2, §3.1).
    IvRacemicKetamine,
    /// Esketamine nasal spray under the SPRAVATO REMS (KNOWLEDGE §3.5, §4.1).
    Esketamine,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::IvRacemicKetamine => "iv_racemic_ketamine",
            Modality::Esketamine => "esketamine",
        }
    }

    /// The name a clinician reads.
    pub fn display_name(self) -> &'static str {
        match self {
            Modality::IvRacemicKetamine => "IV racemic ketamine",
            Modality::Esketamine => "esketamine",
        }
    }
}

impl FromStr for Modality {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "iv_racemic_ketamine" => Ok(Modality::IvRacemicKetamine),
            "esketamine" => Ok(Modality::Esketamine),
            _ => Err(()),
        }
    }
}

/// Outpatient settings enrol patients in the REMS and file the monitoring form; inpatient ones do not
/// (KNOWLEDGE §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CareSetting {
    Outpatient,
    Inpatient,
}

/// A dose in milligrams: positive, at most 1000 mg (well above any dose this system plans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DoseMg(Decimal);

/// A dose that is not a positive number of milligrams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be more than 0 and at most 1000 mg, got {value}")]
pub struct InvalidDose {
    pub field: &'static str,
    pub value: Decimal,
}

impl DoseMg {
    pub fn new(field: &'static str, value: Decimal) -> Result<Self, InvalidDose> {
        if value <= Decimal::ZERO || value > Decimal::from(1000) {
            return Err(InvalidDose { field, value });
        }
        Ok(DoseMg(value))
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

/// The dose as planned and as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoseRecord {
    pub planned_mg: DoseMg,
    pub planned_at: Timestamp,
    pub given_mg: Option<DoseMg>,
    pub lot_number: Option<String>,
    /// The first esketamine device, or the start of the IV infusion.
    pub started_at: Option<Timestamp>,
    /// The end of the IV infusion (or the last esketamine device).
    pub ended_at: Option<Timestamp>,
}

/// A session whose parts do not fit together; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidSession {
    pub field: &'static str,
    pub problem: String,
}

/// A validated session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    modality: Modality,
    care_setting: CareSetting,
    time_zone: TimeZone,
    dose: DoseRecord,
    timeline: Timeline,
    monitoring_ended_at: Option<Timestamp>,
}

impl Session {
    pub fn new(
        modality: Modality,
        care_setting: CareSetting,
        time_zone: TimeZone,
        dose: DoseRecord,
        timeline: Timeline,
        monitoring_ended_at: Option<Timestamp>,
    ) -> Result<Self, InvalidSession> {
        let invalid = |field, problem: &str| Err(InvalidSession { field, problem: problem.to_owned() });
        if let Some(lot) = &dose.lot_number
            && lot.trim().is_empty()
        {
            return invalid("dose.lot_number", "must not be empty when given");
        }
        if dose.given_mg.is_some() && dose.started_at.is_none() {
            return invalid("dose.started_at", "is required when a dose was given");
        }
        if let (Some(started), Some(ended)) = (dose.started_at, dose.ended_at)
            && ended < started
        {
            return invalid("dose.ended_at", "must not be before dose.started_at");
        }
        if dose.ended_at.is_some() && dose.started_at.is_none() {
            return invalid("dose.started_at", "is required when dose.ended_at is given");
        }
        if let (Some(started), Some(ended)) = (dose.started_at, monitoring_ended_at)
            && ended < started
        {
            return invalid("monitoring_ended_at", "must not be before dose.started_at");
        }
        Ok(Session { modality, care_setting, time_zone, dose, timeline, monitoring_ended_at })
    }

    pub fn modality(&self) -> Modality {
        self.modality
    }

    pub fn care_setting(&self) -> CareSetting {
        self.care_setting
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    pub fn dose(&self) -> &DoseRecord {
        &self.dose
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    pub fn monitoring_ended_at(&self) -> Option<Timestamp> {
        self.monitoring_ended_at
    }
}

/// What the clinic requires of a pregnancy test before dosing (KNOWLEDGE §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PregnancyTestPolicy {
    RequiredIfCanBecomePregnant,
    NotRequired,
}

impl FromStr for PregnancyTestPolicy {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "required_if_can_become_pregnant" => Ok(PregnancyTestPolicy::RequiredIfCanBecomePregnant),
            "not_required" => Ok(PregnancyTestPolicy::NotRequired),
            _ => Err(()),
        }
    }
}

/// The `[session]` section of the site protocol: the pre-dose gate.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    pub bp_gate_readings_min_apart_min: Setting<i64>,
    pub esketamine_no_food_min: Setting<i64>,
    pub esketamine_no_liquids_min: Setting<i64>,
    pub iv_fasting_required: Setting<bool>,
    pub pregnancy_test_policy: Setting<PregnancyTestPolicy>,
    pub escort_required: Setting<bool>,
    /// How far after the server's clock a clinical time may be (device clocks drift); later is refused.
    pub max_clock_skew_min: Setting<i64>,
    /// How old a chart PHQ-9 item 9 or C-SSRS may be for the gate to use it (days before the dose).
    pub chart_screen_max_age_days: Setting<i64>,
    /// Whether the gate holds a dose without a current informed consent to the session's modality.
    pub consent_required_before_dose: Setting<bool>,
}

impl SessionSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = SessionSettings {
            bp_gate_readings_min_apart_min: section.take_integer_in("bp_gate_readings_min_apart_min", 0, 60)?,
            esketamine_no_food_min: section.take_integer_in("esketamine_no_food_min", 0, 24 * 60)?,
            esketamine_no_liquids_min: section.take_integer_in("esketamine_no_liquids_min", 0, 24 * 60)?,
            iv_fasting_required: section.take_bool("iv_fasting_required")?,
            pregnancy_test_policy: section
                .take_choice("pregnancy_test_policy", &["required_if_can_become_pregnant", "not_required"])?,
            escort_required: section.take_bool("escort_required")?,
            max_clock_skew_min: section.take_integer_in("max_clock_skew_min", 0, 15)?,
            chart_screen_max_age_days: section.take_integer_in("chart_screen_max_age_days", 0, 90)?,
            consent_required_before_dose: section.take_bool("consent_required_before_dose")?,
        };
        section.finish()?;
        Ok(settings)
    }
}
