//! Discharge readiness: the esketamine REMS minimum (≥2 h from the first device, sedation, dissociation and
//! respiratory depression resolved, vital signs acceptable) and the IV ketamine rule (time after infusion end,
//! MOAA/S 5, CADSS near baseline, modified Aldrete or PADSS), each criterion met / not met / indeterminate
//! with the time it was or could be met (KNOWLEDGE §4.1, §4.5, §4.6).

use jiff::{SignedDuration, Timestamp};

use super::alerts::{self, AlertLevel, AlertRule, AlertSettings};
use super::observation::{InvalidObservation, Observation, TimedObservation};
use super::{Modality, Session};
use crate::protocol::{InvalidProtocol, Protocol, SectionReader, Setting};

/// The `[discharge]` section of the site protocol (also holds the REMS form settings).
#[derive(Debug, Clone, PartialEq)]
pub struct DischargeSettings {
    pub esketamine_min_observation_min: Setting<i64>,
    pub iv_min_after_infusion_end_min: Setting<i64>,
    pub cadss_max_above_baseline: Setting<i64>,
    pub aldrete_min_total: Setting<i64>,
    pub padss_min_total: Setting<i64>,
    pub rems_submit_within_days: Setting<i64>,
    pub rems_bp_post_dose_min: Setting<i64>,
    pub rems_bp_post_dose_window_min: Setting<i64>,
}

impl DischargeSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = DischargeSettings {
            // KNOWLEDGE §4.1: the REMS minimum is 2 h; a clinic may observe longer, never shorter.
            esketamine_min_observation_min: section.take_integer_in("esketamine_min_observation_min", 120, 480)?,
            iv_min_after_infusion_end_min: section.take_integer_in("iv_min_after_infusion_end_min", 0, 480)?,
            cadss_max_above_baseline: section.take_integer_in("cadss_max_above_baseline", 0, 92)?,
            aldrete_min_total: section.take_integer_in("aldrete_min_total", 0, 10)?,
            padss_min_total: section.take_integer_in("padss_min_total", 0, 10)?,
            rems_submit_within_days: section.take_integer_in("rems_submit_within_days", 1, 30)?,
            rems_bp_post_dose_min: section.take_integer_in("rems_bp_post_dose_min", 1, 240)?,
            rems_bp_post_dose_window_min: section.take_integer_in("rems_bp_post_dose_window_min", 0, 60)?,
        };
        section.finish()?;
        Ok(settings)
    }
}

fn score_item(field: &'static str, value: i64) -> Result<i64, InvalidObservation> {
    if (0..=2).contains(&value) { Ok(value) } else { Err(InvalidObservation { field, value, min: 0, max: 2 }) }
}

/// Modified Aldrete score (KNOWLEDGE §4.5 [ALDRETE]): five items 0–2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AldreteScore {
    activity: i64,
    respiration: i64,
    circulation: i64,
    consciousness: i64,
    spo2: i64,
}

impl AldreteScore {
    pub fn new(
        activity: i64,
        respiration: i64,
        circulation: i64,
        consciousness: i64,
        spo2: i64,
    ) -> Result<Self, InvalidObservation> {
        Ok(AldreteScore {
            activity: score_item("aldrete.activity", activity)?,
            respiration: score_item("aldrete.respiration", respiration)?,
            circulation: score_item("aldrete.circulation", circulation)?,
            consciousness: score_item("aldrete.consciousness", consciousness)?,
            spo2: score_item("aldrete.spo2", spo2)?,
        })
    }

    pub fn total(self) -> i64 {
        self.activity + self.respiration + self.circulation + self.consciousness + self.spo2
    }
}

/// Post-anaesthetic discharge scoring system (KNOWLEDGE §4.5 [PADSS]): five items 0–2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PadssScore {
    total: i64,
}

impl PadssScore {
    pub fn new(
        vital_signs: i64,
        ambulation: i64,
        nausea_vomiting: i64,
        pain: i64,
        bleeding: i64,
    ) -> Result<Self, InvalidObservation> {
        Ok(PadssScore {
            total: score_item("padss.vital_signs", vital_signs)?
                + score_item("padss.ambulation", ambulation)?
                + score_item("padss.nausea_vomiting", nausea_vomiting)?
                + score_item("padss.pain", pain)?
                + score_item("padss.bleeding", bleeding)?,
        })
    }

    pub fn total(self) -> i64 {
        self.total
    }
}

/// What discharge needs beyond the session timeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DischargeFacts {
    pub escort_present: Option<bool>,
    pub aldrete: Option<(Timestamp, AldreteScore)>,
    pub padss: Option<(Timestamp, PadssScore)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CriterionId {
    MinimumObservation,
    MinimumAfterInfusionEnd,
    SedationResolved,
    DissociationResolved,
    RespiratoryDepressionResolved,
    VitalSignsAcceptable,
    RecoveryScore,
    Escort,
}

impl CriterionId {
    /// Every discharge criterion of either modality.
    pub const ALL: [CriterionId; 8] = [
        CriterionId::MinimumObservation,
        CriterionId::MinimumAfterInfusionEnd,
        CriterionId::SedationResolved,
        CriterionId::DissociationResolved,
        CriterionId::RespiratoryDepressionResolved,
        CriterionId::VitalSignsAcceptable,
        CriterionId::RecoveryScore,
        CriterionId::Escort,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CriterionId::MinimumObservation => "MINIMUM_OBSERVATION",
            CriterionId::MinimumAfterInfusionEnd => "MINIMUM_AFTER_INFUSION_END",
            CriterionId::SedationResolved => "SEDATION_RESOLVED",
            CriterionId::DissociationResolved => "DISSOCIATION_RESOLVED",
            CriterionId::RespiratoryDepressionResolved => "RESPIRATORY_DEPRESSION_RESOLVED",
            CriterionId::VitalSignsAcceptable => "VITAL_SIGNS_ACCEPTABLE",
            CriterionId::RecoveryScore => "RECOVERY_SCORE",
            CriterionId::Escort => "ESCORT",
        }
    }

    /// Criteria that depend only on the clock or on logistics, not on the patient's state.
    fn is_clinical(self) -> bool {
        !matches!(self, CriterionId::MinimumObservation | CriterionId::MinimumAfterInfusionEnd | CriterionId::Escort)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CriterionStatus {
    Met,
    NotMet,
    Indeterminate { missing: Vec<&'static str> },
}

impl CriterionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CriterionStatus::Met => "met",
            CriterionStatus::NotMet => "not_met",
            CriterionStatus::Indeterminate { .. } => "indeterminate",
        }
    }
}

/// One discharge criterion. `met_at` is the instant since which it has held (when met) or, for a
/// clock criterion, the instant it will hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    pub id: CriterionId,
    pub status: CriterionStatus,
    pub reason: String,
    pub source: String,
    pub met_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DischargeStatus {
    Ready,
    NotReady,
    Indeterminate,
}

impl DischargeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DischargeStatus::Ready => "ready",
            DischargeStatus::NotReady => "not_ready",
            DischargeStatus::Indeterminate => "indeterminate",
        }
    }
}

/// Discharge readiness at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DischargeReadiness {
    pub status: DischargeStatus,
    pub criteria: Vec<Criterion>,
    /// When every criterion holds: the instant they all first held together. Otherwise, the earliest instant
    /// the clock criteria allow, if every other criterion is already met; else `None`.
    pub earliest_at: Option<Timestamp>,
    /// When the clinical criteria (everything but the clock and the escort) all held: the answer to the REMS
    /// form's question "when would the patient have been ready to leave without the 2-hour minimum?".
    pub clinically_ready_at: Option<Timestamp>,
}

fn criterion(
    id: CriterionId,
    status: CriterionStatus,
    reason: impl Into<String>,
    source: impl Into<String>,
    met_at: Option<Timestamp>,
) -> Criterion {
    Criterion { id, status, reason: reason.into(), source: source.into(), met_at }
}

fn clock_criterion(
    id: CriterionId,
    from: Option<Timestamp>,
    missing_field: &'static str,
    setting: &Setting<i64>,
    now: Timestamp,
    what: &str,
) -> Criterion {
    let Some(from) = from else {
        return criterion(
            id,
            CriterionStatus::Indeterminate { missing: vec![missing_field] },
            format!("{what} not recorded"),
            &setting.source,
            None,
        );
    };
    // Past the last instant jiff holds (late on 9999-12-30 UTC) the mark is that instant: never met early,
    // and no panic on a document dated at the end of the calendar.
    let at = from.checked_add(SignedDuration::from_mins(setting.value)).unwrap_or(Timestamp::MAX);
    let status = if now >= at { CriterionStatus::Met } else { CriterionStatus::NotMet };
    criterion(id, status, format!("{} min after {what}", setting.value), &setting.source, Some(at))
}

/// The start of the unbroken run of observations, up to `now`, whose signal satisfies `ok`.
/// Returns the latest value and, when it satisfies `ok`, the run start.
fn latest_run<T: Copy>(
    entries: &[TimedObservation],
    signal: impl Fn(&Observation) -> Option<T>,
    ok: impl Fn(T) -> bool,
) -> Option<(T, Option<Timestamp>)> {
    let mut readings =
        entries.iter().filter_map(|entry| signal(&entry.observation).map(|value| (entry.at, value))).rev();
    let (latest_at, latest) = readings.next()?;
    if !ok(latest) {
        return Some((latest, None));
    }
    let mut since = latest_at;
    for (at, value) in readings {
        if ok(value) {
            since = at;
        } else {
            break;
        }
    }
    Some((latest, Some(since)))
}

/// Whether the rules in `rules` have no active alert (at `minimum` level or above) after the last entry, and
/// since when they have had none.
fn alerts_clear_since(
    post_dose_start: usize,
    entries: &[TimedObservation],
    rules: &[AlertRule],
    minimum: AlertLevel,
    settings: &AlertSettings,
) -> (bool, Option<Timestamp>) {
    let mut since = None;
    for (index, changes) in alerts::replay_entries(entries, settings).into_iter().enumerate() {
        let blocking = changes.active.iter().any(|alert| rules.contains(&alert.id.rule) && alert.level >= minimum);
        if blocking {
            since = None;
        } else if since.is_none() && index >= post_dose_start {
            since = Some(changes.at);
        }
    }
    (since.is_some(), since)
}

fn sedation(post_dose: &[TimedObservation], source: &str) -> Criterion {
    match latest_run(post_dose, |observation| observation.moaas, |score| score.get() == 5) {
        None => criterion(
            CriterionId::SedationResolved,
            CriterionStatus::Indeterminate { missing: vec!["moaas"] },
            "no MOAA/S recorded after the dose",
            source,
            None,
        ),
        Some((_, Some(since))) => {
            criterion(CriterionId::SedationResolved, CriterionStatus::Met, "MOAA/S 5 (alert)", source, Some(since))
        }
        Some((score, None)) => criterion(
            CriterionId::SedationResolved,
            CriterionStatus::NotMet,
            format!("latest MOAA/S {}; needs 5", score.get()),
            source,
            None,
        ),
    }
}

fn dissociation(
    before_dose: &[TimedObservation],
    post_dose: &[TimedObservation],
    settings: &DischargeSettings,
) -> Criterion {
    let baseline = before_dose.iter().rev().find_map(|entry| entry.observation.cadss_total);
    let (baseline_value, baseline_note) = match baseline {
        Some(total) => (total.get(), format!("pre-dose CADSS {}", total.get())),
        // The lowest possible baseline is the strictest: no guess that could discharge early.
        None => (0, "no pre-dose CADSS, so baseline taken as 0 (the strictest)".to_owned()),
    };
    let limit = baseline_value + settings.cadss_max_above_baseline.value;
    let source = &settings.cadss_max_above_baseline.source;
    match latest_run(post_dose, |observation| observation.cadss_total, |total| total.get() <= limit) {
        None => criterion(
            CriterionId::DissociationResolved,
            CriterionStatus::Indeterminate { missing: vec!["cadss_total"] },
            "no CADSS recorded after the dose",
            source,
            None,
        ),
        Some((total, Some(since))) => criterion(
            CriterionId::DissociationResolved,
            CriterionStatus::Met,
            format!(
                "CADSS {} is within {limit} ({baseline_note} + {})",
                total.get(),
                settings.cadss_max_above_baseline.value
            ),
            source,
            Some(since),
        ),
        Some((total, None)) => criterion(
            CriterionId::DissociationResolved,
            CriterionStatus::NotMet,
            format!(
                "CADSS {} is above {limit} ({baseline_note} + {})",
                total.get(),
                settings.cadss_max_above_baseline.value
            ),
            source,
            None,
        ),
    }
}

/// A criterion that holds while none of `rules` has an active alert.
struct AlertCriterion {
    id: CriterionId,
    field: &'static str,
    has_signal: fn(&Observation) -> bool,
    rules: &'static [AlertRule],
    reason_ok: &'static str,
    source: &'static str,
}

fn alert_criterion(
    spec: &AlertCriterion,
    entries: &[TimedObservation],
    post_dose_start: usize,
    settings: &AlertSettings,
) -> Criterion {
    if !entries[post_dose_start..].iter().any(|entry| (spec.has_signal)(&entry.observation)) {
        return criterion(
            spec.id,
            CriterionStatus::Indeterminate { missing: vec![spec.field] },
            format!("no {} recorded after the dose", spec.field),
            spec.source,
            None,
        );
    }
    let (clear, since) = alerts_clear_since(post_dose_start, entries, spec.rules, AlertLevel::Warning, settings);
    if clear {
        criterion(spec.id, CriterionStatus::Met, spec.reason_ok, spec.source, since)
    } else {
        let names: Vec<&str> = spec.rules.iter().map(|rule| rule.id()).collect();
        criterion(
            spec.id,
            CriterionStatus::NotMet,
            format!("an alert is still active ({})", names.join(", ")),
            spec.source,
            None,
        )
    }
}

fn escort(facts: &DischargeFacts) -> Criterion {
    let source = "clinical-reference §4.5 / §4.6: responsible adult escort, no driving until the next day after sleep";
    match facts.escort_present {
        Some(true) => criterion(CriterionId::Escort, CriterionStatus::Met, "escort present", source, None),
        Some(false) => criterion(CriterionId::Escort, CriterionStatus::NotMet, "no escort present", source, None),
        None => criterion(
            CriterionId::Escort,
            CriterionStatus::Indeterminate { missing: vec!["escort_present"] },
            "escort not recorded",
            source,
            None,
        ),
    }
}

fn recovery_score(
    facts: &DischargeFacts,
    ended_at: Option<Timestamp>,
    now: Timestamp,
    settings: &DischargeSettings,
) -> Criterion {
    let after_end = |at: Timestamp| at <= now && ended_at.is_none_or(|end| at >= end);
    let mut reasons = Vec::new();
    if let Some((at, score)) = facts.aldrete.filter(|(at, _)| after_end(*at)) {
        // KNOWLEDGE §4.5 PROJECT DEFAULT: Aldrete ≥9 with respiration = 2 and SpO2 = 2.
        if score.total() >= settings.aldrete_min_total.value && score.respiration == 2 && score.spo2 == 2 {
            return criterion(
                CriterionId::RecoveryScore,
                CriterionStatus::Met,
                format!("modified Aldrete {} with respiration 2 and SpO2 2", score.total()),
                &settings.aldrete_min_total.source,
                Some(at),
            );
        }
        reasons.push(format!(
            "modified Aldrete {} (respiration {}, SpO2 {}) needs >={} with both 2",
            score.total(),
            score.respiration,
            score.spo2,
            settings.aldrete_min_total.value
        ));
    }
    if let Some((at, score)) = facts.padss.filter(|(at, _)| after_end(*at)) {
        if score.total() >= settings.padss_min_total.value {
            return criterion(
                CriterionId::RecoveryScore,
                CriterionStatus::Met,
                format!("PADSS {}", score.total()),
                &settings.padss_min_total.source,
                Some(at),
            );
        }
        reasons.push(format!("PADSS {} needs >={}", score.total(), settings.padss_min_total.value));
    }
    if reasons.is_empty() {
        return criterion(
            CriterionId::RecoveryScore,
            CriterionStatus::Indeterminate { missing: vec!["aldrete"] },
            "no modified Aldrete or PADSS after the infusion",
            &settings.aldrete_min_total.source,
            None,
        );
    }
    criterion(
        CriterionId::RecoveryScore,
        CriterionStatus::NotMet,
        reasons.join("; "),
        &settings.aldrete_min_total.source,
        None,
    )
}

fn has_spo2(observation: &Observation) -> bool {
    observation.spo2.is_some()
}

fn has_bp(observation: &Observation) -> bool {
    observation.blood_pressure.is_some()
}

const RESPIRATORY_DEPRESSION: AlertCriterion = AlertCriterion {
    id: CriterionId::RespiratoryDepressionResolved,
    field: "spo2_percent",
    has_signal: has_spo2,
    rules: &[AlertRule::Spo2, AlertRule::RespiratoryRate],
    reason_ok: "no SpO2 or respiratory-rate alert active",
    source: "clinical-reference §4.5: respiratory depression resolved [REMS-FDA]; thresholds §4.4",
};

const VITAL_SIGNS: AlertCriterion = AlertCriterion {
    id: CriterionId::VitalSignsAcceptable,
    field: "blood_pressure",
    has_signal: has_bp,
    rules: &[
        AlertRule::BpHigh,
        AlertRule::BpRiseFromBaseline,
        AlertRule::HeartRate,
        AlertRule::HypertensiveCrisisSymptoms,
    ],
    reason_ok: "no BP, heart-rate or crisis alert active",
    source: "clinical-reference §4.5: vital signs acceptable, BP clinically stable [REMS-FDA], [MIMS-PH]; thresholds §4.4",
};

/// Discharge readiness of the session at `now`, from the observations taken up to `now`.
pub fn assess_discharge(
    session: &Session,
    facts: &DischargeFacts,
    protocol: &Protocol,
    now: Timestamp,
) -> DischargeReadiness {
    let settings = &protocol.discharge;
    let alert_settings = &protocol.alerts;
    let entries = session.timeline().until(now);
    let dose = session.dose();
    let post_dose_start = match dose.started_at {
        Some(started) => entries.partition_point(|entry| entry.at < started),
        None => entries.len(),
    };
    let (before_dose, post_dose) = entries.split_at(post_dose_start);
    let mut criteria = Vec::new();
    match session.modality() {
        Modality::Esketamine => {
            criteria.push(clock_criterion(
                CriterionId::MinimumObservation,
                dose.started_at,
                "dose.started_at",
                &settings.esketamine_min_observation_min,
                now,
                "the first device",
            ));
            criteria.push(sedation(
                post_dose,
                "clinical-reference §4.5: sedation resolved [REMS-FDA]; MOAA/S 5 = alert (§5.8)",
            ));
            criteria.push(dissociation(before_dose, post_dose, settings));
            criteria.push(alert_criterion(&RESPIRATORY_DEPRESSION, entries, post_dose_start, alert_settings));
            criteria.push(alert_criterion(&VITAL_SIGNS, entries, post_dose_start, alert_settings));
        }
        Modality::IvRacemicKetamine => {
            criteria.push(clock_criterion(
                CriterionId::MinimumAfterInfusionEnd,
                dose.ended_at,
                "dose.ended_at",
                &settings.iv_min_after_infusion_end_min,
                now,
                "the end of the infusion",
            ));
            criteria.push(sedation(post_dose, "clinical-reference §4.5 PROJECT DEFAULT IV rule: MOAA/S = 5"));
            criteria.push(dissociation(before_dose, post_dose, settings));
            criteria.push(recovery_score(facts, dose.ended_at, now, settings));
            // KNOWLEDGE §4.3 / §4.5: BP and heart rate back within safe limits after the infusion; only a
            // post-dose blood pressure counts.
            criteria.push(alert_criterion(&VITAL_SIGNS, entries, post_dose_start, alert_settings));
        }
    }
    criteria.push(escort(facts));

    let all_met = criteria.iter().all(|criterion| criterion.status == CriterionStatus::Met);
    let status = if all_met {
        DischargeStatus::Ready
    } else if criteria.iter().any(|criterion| criterion.status == CriterionStatus::NotMet) {
        DischargeStatus::NotReady
    } else {
        DischargeStatus::Indeterminate
    };
    let clinical: Vec<&Criterion> = criteria.iter().filter(|criterion| criterion.id.is_clinical()).collect();
    let clinically_ready_at = if clinical.iter().all(|criterion| criterion.status == CriterionStatus::Met) {
        clinical.iter().filter_map(|criterion| criterion.met_at).max()
    } else {
        None
    };
    // Every criterion other than the clock must already hold for the earliest time to be known.
    let others_met = criteria.iter().all(|criterion| {
        criterion.status == CriterionStatus::Met
            || (matches!(criterion.id, CriterionId::MinimumObservation | CriterionId::MinimumAfterInfusionEnd)
                && criterion.met_at.is_some())
    });
    let earliest_at = if others_met { criteria.iter().filter_map(|criterion| criterion.met_at).max() } else { None };
    DischargeReadiness { status, criteria, earliest_at, clinically_ready_at }
}
