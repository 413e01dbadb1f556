//! One observation on a session's timeline: vital signs, sedation and dissociation totals, adverse events
//! and symptoms, each a small validated type, at an instant shown in the clinic's time zone
//! (KNOWLEDGE §4.3, §4.4, §5.6–§5.8).

use jiff::Timestamp;

/// A measured value outside what the field can hold; names the field, the value and the accepted range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be between {min} and {max}, got {value}")]
pub struct InvalidObservation {
    pub field: &'static str,
    pub value: i64,
    pub min: i64,
    pub max: i64,
}

macro_rules! bounded_integer {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            /// The field name used in errors and reports.
            pub const FIELD: &'static str = $field;
            pub const MIN: i64 = $min;
            pub const MAX: i64 = $max;

            pub fn new(value: i64) -> Result<Self, InvalidObservation> {
                if (Self::MIN..=Self::MAX).contains(&value) {
                    Ok($name(value))
                } else {
                    Err(InvalidObservation { field: $field, value, min: Self::MIN, max: Self::MAX })
                }
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }
    };
}

bounded_integer!(
    /// Systolic blood pressure; the range is what a cuff can physically report.
    SystolicMmhg, "systolic_mmhg", 40, 300
);
bounded_integer!(
    /// Diastolic blood pressure.
    DiastolicMmhg, "diastolic_mmhg", 20, 200
);
bounded_integer!(
    /// Heart rate.
    HeartRateBpm, "heart_rate_bpm", 20, 250
);
bounded_integer!(
    /// Peripheral oxygen saturation.
    Spo2Percent, "spo2_percent", 50, 100
);
bounded_integer!(
    /// Respiratory rate (0 is apnoea, a real and dangerous value).
    RespiratoryRatePerMin, "respiratory_rate_per_min", 0, 80
);
bounded_integer!(
    /// MOAA/S, 5 = alert, 0 = no response to painful stimulus (KNOWLEDGE §5.8, label usage).
    Moaas, "moaas", 0, 5
);
bounded_integer!(
    /// CADSS-23 subjective total (KNOWLEDGE §5.6: 23 items 0–4, total 0–92).
    CadssTotal, "cadss_total", 0, 92
);
bounded_integer!(
    /// BPRS positive-symptom subscale, 4 items rated 1–7 (KNOWLEDGE §5.7: range 4–28, UNCONFIRMED item list).
    BprsPositiveTotal, "bprs_positive_total", 4, 28
);
bounded_integer!(
    /// PHQ-9 item 9 (thoughts of being better off dead or of self-harm), 0–3 (KNOWLEDGE §5.1).
    Phq9Item9, "phq9_item9", 0, 3
);
bounded_integer!(
    /// QIDS-SR16 item 12 (suicidal ideation), 0–3 (KNOWLEDGE §5.3).
    QidsItem12, "qids_item12", 0, 3
);

/// A blood-pressure reading: systolic above diastolic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BloodPressure {
    systolic: SystolicMmhg,
    diastolic: DiastolicMmhg,
}

/// A reading whose diastolic value is not below its systolic value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blood pressure {systolic_mmhg}/{diastolic_mmhg}: systolic must be above diastolic")]
pub struct InvalidBloodPressure {
    pub systolic_mmhg: i64,
    pub diastolic_mmhg: i64,
}

impl BloodPressure {
    pub fn new(systolic: SystolicMmhg, diastolic: DiastolicMmhg) -> Result<Self, InvalidBloodPressure> {
        if systolic.get() <= diastolic.get() {
            return Err(InvalidBloodPressure { systolic_mmhg: systolic.get(), diastolic_mmhg: diastolic.get() });
        }
        Ok(BloodPressure { systolic, diastolic })
    }

    pub fn systolic_mmhg(self) -> i64 {
        self.systolic.get()
    }

    pub fn diastolic_mmhg(self) -> i64 {
        self.diastolic.get()
    }
}

/// Adverse events the session records (KNOWLEDGE §7 AE checklist; §4.4 emesis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdverseEvent {
    Nausea,
    Vomiting,
    Dizziness,
    Vertigo,
    Dysgeusia,
    Headache,
    Anxiety,
    Other,
}

impl AdverseEvent {
    pub const ALL: [AdverseEvent; 8] = [
        AdverseEvent::Nausea,
        AdverseEvent::Vomiting,
        AdverseEvent::Dizziness,
        AdverseEvent::Vertigo,
        AdverseEvent::Dysgeusia,
        AdverseEvent::Headache,
        AdverseEvent::Anxiety,
        AdverseEvent::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdverseEvent::Nausea => "nausea",
            AdverseEvent::Vomiting => "vomiting",
            AdverseEvent::Dizziness => "dizziness",
            AdverseEvent::Vertigo => "vertigo",
            AdverseEvent::Dysgeusia => "dysgeusia",
            AdverseEvent::Headache => "headache",
            AdverseEvent::Anxiety => "anxiety",
            AdverseEvent::Other => "other",
        }
    }

    pub fn parse(word: &str) -> Option<AdverseEvent> {
        AdverseEvent::ALL.into_iter().find(|event| event.as_str() == word)
    }
}

/// Symptoms that may signal a hypertensive crisis (KNOWLEDGE §4.4 emergency row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CrisisSymptom {
    ChestPain,
    Dyspnoea,
    SevereHeadache,
    VisualChange,
    Confusion,
    FocalDeficit,
    Seizure,
}

impl CrisisSymptom {
    pub const ALL: [CrisisSymptom; 7] = [
        CrisisSymptom::ChestPain,
        CrisisSymptom::Dyspnoea,
        CrisisSymptom::SevereHeadache,
        CrisisSymptom::VisualChange,
        CrisisSymptom::Confusion,
        CrisisSymptom::FocalDeficit,
        CrisisSymptom::Seizure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CrisisSymptom::ChestPain => "chest_pain",
            CrisisSymptom::Dyspnoea => "dyspnoea",
            CrisisSymptom::SevereHeadache => "severe_headache",
            CrisisSymptom::VisualChange => "visual_change",
            CrisisSymptom::Confusion => "confusion",
            CrisisSymptom::FocalDeficit => "focal_deficit",
            CrisisSymptom::Seizure => "seizure",
        }
    }

    pub fn parse(word: &str) -> Option<CrisisSymptom> {
        CrisisSymptom::ALL.into_iter().find(|symptom| symptom.as_str() == word)
    }
}

/// Everything recorded at one instant. Every measurement is optional: a nurse enters what was measured.
///
/// `crisis_symptoms` is `None` when nobody asked, `Some(empty)` when the patient was asked and had none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observation {
    pub blood_pressure: Option<BloodPressure>,
    pub heart_rate: Option<HeartRateBpm>,
    pub spo2: Option<Spo2Percent>,
    pub respiratory_rate: Option<RespiratoryRatePerMin>,
    pub moaas: Option<Moaas>,
    pub cadss_total: Option<CadssTotal>,
    pub bprs_positive_total: Option<BprsPositiveTotal>,
    pub adverse_events: Vec<AdverseEvent>,
    pub crisis_symptoms: Option<Vec<CrisisSymptom>>,
    /// PHQ-9 item 9 asked during the session (KNOWLEDGE §4.4 suicidality row).
    pub phq9_item9: Option<Phq9Item9>,
    /// C-SSRS questions 3–5 answered during the session: true when any is "yes" (new active ideation).
    pub cssrs_active_ideation: Option<bool>,
}

/// An observation with the instant it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedObservation {
    pub at: Timestamp,
    pub observation: Observation,
}

/// The session's observations in time order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    entries: Vec<TimedObservation>,
}

/// An observation that would put the timeline out of order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("observation at {at} is earlier than the previous observation at {previous}")]
pub struct InvalidTimeline {
    pub at: Timestamp,
    pub previous: Timestamp,
}

impl Timeline {
    pub fn new(entries: Vec<TimedObservation>) -> Result<Self, InvalidTimeline> {
        let mut timeline = Timeline::default();
        for entry in entries {
            timeline.push(entry)?;
        }
        Ok(timeline)
    }

    /// Appends an observation taken at or after the last one.
    pub fn push(&mut self, entry: TimedObservation) -> Result<(), InvalidTimeline> {
        if let Some(last) = self.entries.last()
            && entry.at < last.at
        {
            return Err(InvalidTimeline { at: entry.at, previous: last.at });
        }
        self.entries.push(entry);
        Ok(())
    }

    pub fn entries(&self) -> &[TimedObservation] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The observations taken at or before `at`.
    pub fn until(&self, at: Timestamp) -> &[TimedObservation] {
        let end = self.entries.partition_point(|entry| entry.at <= at);
        &self.entries[..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(result: Result<i64, InvalidObservation>, expected: &str) {
        match result {
            Ok(value) => assert_eq!(value.to_string(), expected),
            Err(error) => assert_eq!(error.to_string(), expected),
        }
    }

    #[test]
    fn impossible_values_are_rejected_with_the_field_named() {
        check(Moaas::new(5).map(Moaas::get), "5");
        check(Moaas::new(6).map(Moaas::get), "moaas must be between 0 and 5, got 6");
        check(CadssTotal::new(92).map(CadssTotal::get), "92");
        check(CadssTotal::new(93).map(CadssTotal::get), "cadss_total must be between 0 and 92, got 93");
        check(
            BprsPositiveTotal::new(3).map(BprsPositiveTotal::get),
            "bprs_positive_total must be between 4 and 28, got 3",
        );
        check(Spo2Percent::new(101).map(Spo2Percent::get), "spo2_percent must be between 50 and 100, got 101");
        check(HeartRateBpm::new(0).map(HeartRateBpm::get), "heart_rate_bpm must be between 20 and 250, got 0");
        check(SystolicMmhg::new(301).map(SystolicMmhg::get), "systolic_mmhg must be between 40 and 300, got 301");
        check(
            RespiratoryRatePerMin::new(-1).map(RespiratoryRatePerMin::get),
            "respiratory_rate_per_min must be between 0 and 80, got -1",
        );
    }

    #[test]
    fn systolic_must_exceed_diastolic() {
        let error = BloodPressure::new(SystolicMmhg::new(80).unwrap(), DiastolicMmhg::new(90).unwrap()).unwrap_err();
        assert_eq!(error.to_string(), "blood pressure 80/90: systolic must be above diastolic");
    }

    #[test]
    fn a_timeline_keeps_time_order() {
        let at = |seconds| Timestamp::from_second(seconds).unwrap();
        let entry = |seconds| TimedObservation { at: at(seconds), observation: Observation::default() };
        let error = Timeline::new(vec![entry(100), entry(50)]).unwrap_err();
        assert!(error.to_string().contains("is earlier than the previous observation"));
        let timeline = Timeline::new(vec![entry(0), entry(100), entry(200)]).unwrap();
        assert_eq!(timeline.until(at(100)).len(), 2);
    }
}
