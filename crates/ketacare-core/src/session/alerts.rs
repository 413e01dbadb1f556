//! The session alert engine: every new observation is evaluated against the timeline before it and the
//! protocol's `[alerts]` thresholds (KNOWLEDGE §4.4). An alert is identified by its rule and an episode
//! number; it is raised once, then escalated, de-escalated or resolved, never repeated on every entry.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::observation::{AdverseEvent, Observation, TimedObservation, Timeline};
use crate::protocol::{InvalidProtocol, SectionReader, Setting};

/// How urgent an alert is, in increasing order (CDS Hooks card indicator, plus emergency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertLevel {
    Info,
    Warning,
    Critical,
    Emergency,
}

impl AlertLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Info => "info",
            AlertLevel::Warning => "warning",
            AlertLevel::Critical => "critical",
            AlertLevel::Emergency => "emergency",
        }
    }
}

/// One family of alert rules; an alert escalates within its family (a BP warning becomes a BP critical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertRule {
    BpRiseFromBaseline,
    BpHigh,
    HypertensiveCrisisSymptoms,
    HeartRate,
    Spo2,
    RespiratoryRate,
    Sedation,
    Dissociation,
    Psychotomimetic,
    Emesis,
    Suicidality,
}

impl AlertRule {
    /// Every alert rule, in the order the engine evaluates them.
    pub const ALL: [AlertRule; 11] = [
        AlertRule::BpRiseFromBaseline,
        AlertRule::BpHigh,
        AlertRule::HypertensiveCrisisSymptoms,
        AlertRule::HeartRate,
        AlertRule::Spo2,
        AlertRule::RespiratoryRate,
        AlertRule::Sedation,
        AlertRule::Dissociation,
        AlertRule::Psychotomimetic,
        AlertRule::Emesis,
        AlertRule::Suicidality,
    ];

    pub fn id(self) -> &'static str {
        match self {
            AlertRule::BpRiseFromBaseline => "BP_RISE_FROM_BASELINE",
            AlertRule::BpHigh => "BP_HIGH",
            AlertRule::HypertensiveCrisisSymptoms => "HYPERTENSIVE_CRISIS_SYMPTOMS",
            AlertRule::HeartRate => "HEART_RATE",
            AlertRule::Spo2 => "SPO2",
            AlertRule::RespiratoryRate => "RESPIRATORY_RATE",
            AlertRule::Sedation => "SEDATION",
            AlertRule::Dissociation => "DISSOCIATION",
            AlertRule::Psychotomimetic => "PSYCHOTOMIMETIC",
            AlertRule::Emesis => "EMESIS",
            AlertRule::Suicidality => "SUICIDALITY",
        }
    }
}

/// An alert's identity: its rule and which episode of that rule in the session (1, 2, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertId {
    pub rule: AlertRule,
    pub episode: u32,
}

impl std::fmt::Display for AlertId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}#{}", self.rule.id(), self.episode)
    }
}

/// An alert in the CDS Hooks card shape: level, summary, detail, recommended action and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: AlertId,
    pub level: AlertLevel,
    pub summary: String,
    pub detail: String,
    pub recommended_action: String,
    pub source: String,
    pub raised_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What happened to an alert on a new observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChangeKind {
    Raised,
    Escalated,
    DeEscalated,
    Resolved,
}

impl AlertChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertChangeKind::Raised => "raised",
            AlertChangeKind::Escalated => "escalated",
            AlertChangeKind::DeEscalated => "de_escalated",
            AlertChangeKind::Resolved => "resolved",
        }
    }
}

/// One change, with the alert as it stands after the change (for `Resolved`, as it stood when resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertChange {
    pub kind: AlertChangeKind,
    pub alert: Alert,
}

/// The result of evaluating one new observation: what changed, and every alert active afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertChanges {
    pub at: Timestamp,
    pub changes: Vec<AlertChange>,
    pub active: Vec<Alert>,
}

/// The `[alerts]` section of the site protocol (KNOWLEDGE §4.4).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub bp_rise_systolic_mmhg: Setting<i64>,
    pub bp_rise_diastolic_mmhg: Setting<i64>,
    pub bp_warning_systolic_from: Setting<i64>,
    pub bp_warning_diastolic_from: Setting<i64>,
    pub bp_critical_systolic_from: Setting<i64>,
    pub bp_critical_diastolic_from: Setting<i64>,
    pub bp_critical_confirm_min: Setting<i64>,
    pub bp_critical_any_systolic_from: Setting<i64>,
    pub bp_critical_any_diastolic_from: Setting<i64>,
    pub hr_high_above_bpm: Setting<i64>,
    pub hr_high_sustained_min: Setting<i64>,
    pub hr_low_below_bpm: Setting<i64>,
    pub spo2_warning_below_percent: Setting<i64>,
    pub spo2_critical_at_or_below_percent: Setting<i64>,
    pub spo2_drop_from_baseline_points: Setting<i64>,
    pub rr_low_below_per_min: Setting<i64>,
    pub rr_high_above_per_min: Setting<i64>,
    pub moaas_warning_at_or_below: Setting<i64>,
    pub moaas_critical_at_or_below: Setting<i64>,
    pub cadss_warning_from: Setting<i64>,
    pub bprs_positive_rise_warning_from: Setting<i64>,
}

impl AlertSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = AlertSettings {
            bp_rise_systolic_mmhg: section.take_integer_in("bp_rise_systolic_mmhg", 5, 100)?,
            bp_rise_diastolic_mmhg: section.take_integer_in("bp_rise_diastolic_mmhg", 5, 80)?,
            bp_warning_systolic_from: section.take_integer_in("bp_warning_systolic_from", 120, 260)?,
            bp_warning_diastolic_from: section.take_integer_in("bp_warning_diastolic_from", 70, 160)?,
            bp_critical_systolic_from: section.take_integer_in("bp_critical_systolic_from", 120, 260)?,
            bp_critical_diastolic_from: section.take_integer_in("bp_critical_diastolic_from", 70, 160)?,
            bp_critical_confirm_min: section.take_integer_in("bp_critical_confirm_min", 1, 60)?,
            bp_critical_any_systolic_from: section.take_integer_in("bp_critical_any_systolic_from", 120, 300)?,
            bp_critical_any_diastolic_from: section.take_integer_in("bp_critical_any_diastolic_from", 70, 200)?,
            hr_high_above_bpm: section.take_integer_in("hr_high_above_bpm", 80, 220)?,
            hr_high_sustained_min: section.take_integer_in("hr_high_sustained_min", 0, 60)?,
            hr_low_below_bpm: section.take_integer_in("hr_low_below_bpm", 20, 80)?,
            spo2_warning_below_percent: section.take_integer_in("spo2_warning_below_percent", 80, 100)?,
            spo2_critical_at_or_below_percent: section.take_integer_in("spo2_critical_at_or_below_percent", 70, 99)?,
            spo2_drop_from_baseline_points: section.take_integer_in("spo2_drop_from_baseline_points", 1, 20)?,
            rr_low_below_per_min: section.take_integer_in("rr_low_below_per_min", 1, 20)?,
            rr_high_above_per_min: section.take_integer_in("rr_high_above_per_min", 12, 60)?,
            moaas_warning_at_or_below: section.take_integer_in("moaas_warning_at_or_below", 0, 4)?,
            moaas_critical_at_or_below: section.take_integer_in("moaas_critical_at_or_below", 0, 4)?,
            cadss_warning_from: section.take_integer_in("cadss_warning_from", 1, 92)?,
            bprs_positive_rise_warning_from: section.take_integer_in("bprs_positive_rise_warning_from", 1, 24)?,
        };
        section.finish()?;
        let ordered = |lower: &Setting<i64>, higher: &Setting<i64>, path: &str, problem: &str| {
            if lower.value > higher.value { Err(InvalidProtocol::new(path, problem)) } else { Ok(()) }
        };
        ordered(
            &settings.bp_warning_systolic_from,
            &settings.bp_critical_systolic_from,
            "alerts.bp_warning_systolic_from",
            "must not exceed alerts.bp_critical_systolic_from",
        )?;
        ordered(
            &settings.bp_critical_systolic_from,
            &settings.bp_critical_any_systolic_from,
            "alerts.bp_critical_systolic_from",
            "must not exceed alerts.bp_critical_any_systolic_from",
        )?;
        ordered(
            &settings.bp_warning_diastolic_from,
            &settings.bp_critical_diastolic_from,
            "alerts.bp_warning_diastolic_from",
            "must not exceed alerts.bp_critical_diastolic_from",
        )?;
        ordered(
            &settings.bp_critical_diastolic_from,
            &settings.bp_critical_any_diastolic_from,
            "alerts.bp_critical_diastolic_from",
            "must not exceed alerts.bp_critical_any_diastolic_from",
        )?;
        ordered(
            &settings.spo2_critical_at_or_below_percent,
            &settings.spo2_warning_below_percent,
            "alerts.spo2_critical_at_or_below_percent",
            "must not exceed alerts.spo2_warning_below_percent",
        )?;
        ordered(
            &settings.moaas_critical_at_or_below,
            &settings.moaas_warning_at_or_below,
            "alerts.moaas_critical_at_or_below",
            "must not exceed alerts.moaas_warning_at_or_below",
        )?;
        Ok(settings)
    }
}

/// What one rule concluded about the new observation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RuleOutcome {
    /// The observation does not carry the signal this rule looks at: leave the alert as it is.
    NotAssessed,
    /// The signal was measured and is acceptable: resolve any active alert.
    Clear,
    Active(Finding),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    level: AlertLevel,
    summary: String,
    detail: String,
    recommended_action: &'static str,
    source: String,
}

fn finding(
    level: AlertLevel,
    summary: String,
    detail: String,
    recommended_action: &'static str,
    source: &str,
) -> RuleOutcome {
    RuleOutcome::Active(Finding { level, summary, detail, recommended_action, source: source.to_owned() })
}

const ACTION_REPEAT_BP: &str = "repeat BP in 5 minutes; inform the prescriber if it persists";
const ACTION_PAUSE_AND_NOTIFY: &str = "pause infusion, notify prescriber";
const ACTION_PAUSE_NOTIFY_AIRWAY: &str = "pause infusion, notify prescriber, check airway and breathing";
const ACTION_EMERGENCY: &str =
    "stop dosing, call the prescriber now and refer urgently per the local emergency protocol";
const ACTION_OBSERVE: &str = "observe more closely and reassess; inform the prescriber if it persists or worsens";
const ACTION_RECHECK: &str = "recheck and keep observing";
const ACTION_SUICIDALITY: &str = "notify the prescriber now and follow the local crisis protocol";

/// The first value of a signal on the timeline before the new observation: the session's baseline.
fn baseline<T>(history: &[TimedObservation], signal: impl Fn(&Observation) -> Option<T>) -> Option<T> {
    history.iter().find_map(|entry| signal(&entry.observation))
}

/// How long the signal has met `condition` without interruption, up to and including the new observation:
/// from the earliest reading of the unbroken run of qualifying readings to the new one. Readings without
/// the signal neither extend nor break the run.
fn sustained_for<T: Copy>(
    history: &[TimedObservation],
    new: &TimedObservation,
    signal: impl Fn(&Observation) -> Option<T>,
    condition: impl Fn(T) -> bool,
) -> SignedDuration {
    let mut run_start = new.at;
    for entry in history.iter().rev() {
        match signal(&entry.observation) {
            Some(value) if condition(value) => run_start = entry.at,
            Some(_) => break,
            None => {}
        }
    }
    new.at.duration_since(run_start)
}

fn minutes(count: i64) -> SignedDuration {
    SignedDuration::from_mins(count)
}

fn assess_bp_rise(history: &[TimedObservation], new: &TimedObservation, settings: &AlertSettings) -> RuleOutcome {
    let Some(reading) = new.observation.blood_pressure else { return RuleOutcome::NotAssessed };
    let Some(base) = baseline(history, |observation| observation.blood_pressure) else { return RuleOutcome::Clear };
    let systolic_rise = reading.systolic_mmhg() - base.systolic_mmhg();
    let diastolic_rise = reading.diastolic_mmhg() - base.diastolic_mmhg();
    // KNOWLEDGE §4.4: ΔSBP ≥40 or ΔDBP ≥25 from baseline is a warning (label metric [USMED-ISI]).
    let detail = format!(
        "BP {}/{} mmHg against baseline {}/{}: systolic {:+}, diastolic {:+} mmHg",
        reading.systolic_mmhg(),
        reading.diastolic_mmhg(),
        base.systolic_mmhg(),
        base.diastolic_mmhg(),
        systolic_rise,
        diastolic_rise
    );
    if systolic_rise >= settings.bp_rise_systolic_mmhg.value {
        let summary = format!("systolic BP {systolic_rise:+} mmHg from baseline");
        return finding(AlertLevel::Warning, summary, detail, ACTION_REPEAT_BP, &settings.bp_rise_systolic_mmhg.source);
    }
    if diastolic_rise >= settings.bp_rise_diastolic_mmhg.value {
        let summary = format!("diastolic BP {diastolic_rise:+} mmHg from baseline");
        return finding(
            AlertLevel::Warning,
            summary,
            detail,
            ACTION_REPEAT_BP,
            &settings.bp_rise_diastolic_mmhg.source,
        );
    }
    RuleOutcome::Clear
}

fn assess_bp_high(history: &[TimedObservation], new: &TimedObservation, settings: &AlertSettings) -> RuleOutcome {
    let Some(reading) = new.observation.blood_pressure else { return RuleOutcome::NotAssessed };
    let (systolic, diastolic) = (reading.systolic_mmhg(), reading.diastolic_mmhg());
    let shown = format!("{systolic}/{diastolic} mmHg");
    // KNOWLEDGE §4.4: any single SBP ≥200 or DBP ≥120 is critical.
    if systolic >= settings.bp_critical_any_systolic_from.value
        || diastolic >= settings.bp_critical_any_diastolic_from.value
    {
        let source = if systolic >= settings.bp_critical_any_systolic_from.value {
            &settings.bp_critical_any_systolic_from.source
        } else {
            &settings.bp_critical_any_diastolic_from.source
        };
        let detail = format!(
            "a single reading with SBP >={} or DBP >={} mmHg is critical",
            settings.bp_critical_any_systolic_from.value, settings.bp_critical_any_diastolic_from.value
        );
        return finding(AlertLevel::Critical, format!("BP {shown}"), detail, ACTION_PAUSE_AND_NOTIFY, source);
    }
    let severe = |systolic: i64, diastolic: i64| {
        systolic >= settings.bp_critical_systolic_from.value || diastolic >= settings.bp_critical_diastolic_from.value
    };
    if severe(systolic, diastolic) {
        // KNOWLEDGE §4.4: SBP ≥180 or DBP ≥110 on two readings 5 minutes apart is critical.
        let sustained = sustained_for(
            history,
            new,
            |observation| observation.blood_pressure,
            |bp| severe(bp.systolic_mmhg(), bp.diastolic_mmhg()),
        );
        let confirm = minutes(settings.bp_critical_confirm_min.value);
        let threshold = format!(
            "SBP >={} or DBP >={} mmHg",
            settings.bp_critical_systolic_from.value, settings.bp_critical_diastolic_from.value
        );
        if sustained >= confirm {
            let detail = format!(
                "{threshold} on readings {} min apart (confirmation needs {} min)",
                sustained.as_secs() / 60,
                settings.bp_critical_confirm_min.value
            );
            return finding(
                AlertLevel::Critical,
                format!("BP {shown} confirmed"),
                detail,
                ACTION_PAUSE_AND_NOTIFY,
                &settings.bp_critical_systolic_from.source,
            );
        }
        let detail = format!(
            "{threshold}, not yet confirmed: critical if a reading at least {} min after the first is still in \
             this range",
            settings.bp_critical_confirm_min.value
        );
        return finding(
            AlertLevel::Warning,
            format!("BP {shown}"),
            detail,
            ACTION_REPEAT_BP,
            &settings.bp_critical_systolic_from.source,
        );
    }
    // KNOWLEDGE §4.4 PROJECT DEFAULT: SBP ≥160 or DBP ≥100 is a warning.
    if systolic >= settings.bp_warning_systolic_from.value || diastolic >= settings.bp_warning_diastolic_from.value {
        let detail = format!(
            "SBP >={} or DBP >={} mmHg",
            settings.bp_warning_systolic_from.value, settings.bp_warning_diastolic_from.value
        );
        return finding(
            AlertLevel::Warning,
            format!("BP {shown}"),
            detail,
            ACTION_REPEAT_BP,
            &settings.bp_warning_systolic_from.source,
        );
    }
    RuleOutcome::Clear
}

fn assess_crisis_symptoms(new: &TimedObservation) -> RuleOutcome {
    match &new.observation.crisis_symptoms {
        None => RuleOutcome::NotAssessed,
        Some(symptoms) if symptoms.is_empty() => RuleOutcome::Clear,
        Some(symptoms) => {
            let names: Vec<&str> = symptoms.iter().map(|symptom| symptom.as_str()).collect();
            // KNOWLEDGE §4.4: any symptom of hypertensive crisis is an emergency (PROJECT DEFAULT).
            finding(
                AlertLevel::Emergency,
                "symptoms of a hypertensive crisis".to_owned(),
                format!("reported: {}", names.join(", ")),
                ACTION_EMERGENCY,
                "clinical-reference §4.4 PROJECT DEFAULT: hypertensive-crisis symptoms are an emergency; refer urgently (label wording UNCONFIRMED)",
            )
        }
    }
}

fn assess_heart_rate(history: &[TimedObservation], new: &TimedObservation, settings: &AlertSettings) -> RuleOutcome {
    let Some(rate) = new.observation.heart_rate else { return RuleOutcome::NotAssessed };
    let bpm = rate.get();
    // KNOWLEDGE §4.4: HR <50/min is critical.
    if bpm < settings.hr_low_below_bpm.value {
        return finding(
            AlertLevel::Critical,
            format!("heart rate {bpm}/min"),
            format!("below {}/min", settings.hr_low_below_bpm.value),
            ACTION_PAUSE_AND_NOTIFY,
            &settings.hr_low_below_bpm.source,
        );
    }
    let high = settings.hr_high_above_bpm.value;
    if bpm > high {
        // KNOWLEDGE §4.4: HR >120/min sustained 5 min is critical.
        let sustained = sustained_for(history, new, |observation| observation.heart_rate, |rate| rate.get() > high);
        if sustained >= minutes(settings.hr_high_sustained_min.value) {
            return finding(
                AlertLevel::Critical,
                format!("heart rate {bpm}/min sustained"),
                format!("above {high}/min for {} min", sustained.as_secs() / 60),
                ACTION_PAUSE_AND_NOTIFY,
                &settings.hr_high_above_bpm.source,
            );
        }
        return finding(
            AlertLevel::Info,
            format!("heart rate {bpm}/min"),
            format!("above {high}/min; critical if sustained {} min", settings.hr_high_sustained_min.value),
            ACTION_RECHECK,
            &settings.hr_high_sustained_min.source,
        );
    }
    RuleOutcome::Clear
}

fn assess_spo2(history: &[TimedObservation], new: &TimedObservation, settings: &AlertSettings) -> RuleOutcome {
    let Some(saturation) = new.observation.spo2 else { return RuleOutcome::NotAssessed };
    let percent = saturation.get();
    // KNOWLEDGE §4.4: SpO2 ≤92 % critical, <94 % warning, drop ≥4 points from baseline warning.
    if percent <= settings.spo2_critical_at_or_below_percent.value {
        return finding(
            AlertLevel::Critical,
            format!("SpO2 {percent} %"),
            format!("at or below {} %", settings.spo2_critical_at_or_below_percent.value),
            ACTION_PAUSE_NOTIFY_AIRWAY,
            &settings.spo2_critical_at_or_below_percent.source,
        );
    }
    if percent < settings.spo2_warning_below_percent.value {
        return finding(
            AlertLevel::Warning,
            format!("SpO2 {percent} %"),
            format!("below {} %", settings.spo2_warning_below_percent.value),
            ACTION_OBSERVE,
            &settings.spo2_warning_below_percent.source,
        );
    }
    if let Some(base) = baseline(history, |observation| observation.spo2) {
        let drop = base.get() - percent;
        if drop >= settings.spo2_drop_from_baseline_points.value {
            return finding(
                AlertLevel::Warning,
                format!("SpO2 down {drop} points from baseline"),
                format!("{percent} % against a baseline of {} %", base.get()),
                ACTION_OBSERVE,
                &settings.spo2_drop_from_baseline_points.source,
            );
        }
    }
    RuleOutcome::Clear
}

fn assess_respiratory_rate(new: &TimedObservation, settings: &AlertSettings) -> RuleOutcome {
    let Some(rate) = new.observation.respiratory_rate else { return RuleOutcome::NotAssessed };
    let per_min = rate.get();
    // KNOWLEDGE §4.4 PROJECT DEFAULT: RR <10 or >24 /min is critical.
    if per_min < settings.rr_low_below_per_min.value {
        return finding(
            AlertLevel::Critical,
            format!("respiratory rate {per_min}/min"),
            format!("below {}/min", settings.rr_low_below_per_min.value),
            ACTION_PAUSE_NOTIFY_AIRWAY,
            &settings.rr_low_below_per_min.source,
        );
    }
    if per_min > settings.rr_high_above_per_min.value {
        return finding(
            AlertLevel::Critical,
            format!("respiratory rate {per_min}/min"),
            format!("above {}/min", settings.rr_high_above_per_min.value),
            ACTION_PAUSE_NOTIFY_AIRWAY,
            &settings.rr_high_above_per_min.source,
        );
    }
    RuleOutcome::Clear
}

fn assess_sedation(new: &TimedObservation, settings: &AlertSettings) -> RuleOutcome {
    let Some(score) = new.observation.moaas else { return RuleOutcome::NotAssessed };
    let value = score.get();
    // KNOWLEDGE §4.4 / §5.8: MOAA/S ≤1 critical, ≤3 warning.
    if value <= settings.moaas_critical_at_or_below.value {
        return finding(
            AlertLevel::Critical,
            format!("MOAA/S {value}: deep sedation"),
            format!("at or below {}; 0 is loss of consciousness", settings.moaas_critical_at_or_below.value),
            ACTION_PAUSE_NOTIFY_AIRWAY,
            &settings.moaas_critical_at_or_below.source,
        );
    }
    if value <= settings.moaas_warning_at_or_below.value {
        return finding(
            AlertLevel::Warning,
            format!("MOAA/S {value}: sedation"),
            format!("at or below {}", settings.moaas_warning_at_or_below.value),
            ACTION_OBSERVE,
            &settings.moaas_warning_at_or_below.source,
        );
    }
    RuleOutcome::Clear
}

fn assess_dissociation(new: &TimedObservation, settings: &AlertSettings) -> RuleOutcome {
    let Some(total) = new.observation.cadss_total else { return RuleOutcome::NotAssessed };
    // KNOWLEDGE §4.4: CADSS total at or above the clinic threshold is a warning (UNCONFIRMED threshold).
    if total.get() >= settings.cadss_warning_from.value {
        return finding(
            AlertLevel::Warning,
            format!("CADSS total {}: dissociation", total.get()),
            format!("at or above the clinic threshold of {}", settings.cadss_warning_from.value),
            ACTION_OBSERVE,
            &settings.cadss_warning_from.source,
        );
    }
    RuleOutcome::Clear
}

fn assess_psychotomimetic(
    history: &[TimedObservation],
    new: &TimedObservation,
    settings: &AlertSettings,
) -> RuleOutcome {
    let Some(total) = new.observation.bprs_positive_total else { return RuleOutcome::NotAssessed };
    let Some(base) = baseline(history, |observation| observation.bprs_positive_total) else {
        return RuleOutcome::Clear;
    };
    let rise = total.get() - base.get();
    // KNOWLEDGE §4.4: a BPRS positive-subscale rise at or above the clinic threshold is a warning.
    if rise >= settings.bprs_positive_rise_warning_from.value {
        return finding(
            AlertLevel::Warning,
            format!("BPRS positive subscale {:+} from baseline", rise),
            format!("{} against a baseline of {}", total.get(), base.get()),
            ACTION_OBSERVE,
            &settings.bprs_positive_rise_warning_from.source,
        );
    }
    RuleOutcome::Clear
}

fn assess_emesis(new: &TimedObservation) -> RuleOutcome {
    // KNOWLEDGE §4.4: any emesis is an info alert; it stays for the session once it happened.
    if new.observation.adverse_events.contains(&AdverseEvent::Vomiting) {
        return finding(
            AlertLevel::Info,
            "emesis".to_owned(),
            "vomiting recorded".to_owned(),
            "protect the airway, record in the adverse-event checklist",
            "clinical-reference §4.4: any emesis (common label adverse event)",
        );
    }
    RuleOutcome::NotAssessed
}

fn assess_suicidality(new: &TimedObservation) -> RuleOutcome {
    let item9 = new.observation.phq9_item9.map(|item| item.get());
    let cssrs = new.observation.cssrs_active_ideation;
    let item9_positive = item9.is_some_and(|score| score >= 1);
    // KNOWLEDGE §4.4 / §5.9: new active ideation (C-SSRS Q3–Q5) or PHQ-9 item 9 ≥1 at session is critical.
    if item9_positive || cssrs == Some(true) {
        let mut reasons = Vec::new();
        if cssrs == Some(true) {
            reasons.push("C-SSRS questions 3-5 answered yes".to_owned());
        }
        if let Some(score) = item9.filter(|score| *score >= 1) {
            reasons.push(format!("PHQ-9 item 9 = {score}"));
        }
        return finding(
            AlertLevel::Critical,
            "suicidal ideation reported during the session".to_owned(),
            reasons.join("; "),
            ACTION_SUICIDALITY,
            "clinical-reference §4.4 / §5.9: new active ideation or PHQ-9 item 9 >=1 at session",
        );
    }
    if item9.is_some() || cssrs.is_some() { RuleOutcome::Clear } else { RuleOutcome::NotAssessed }
}

fn assess_all(
    history: &[TimedObservation],
    new: &TimedObservation,
    settings: &AlertSettings,
) -> Vec<(AlertRule, RuleOutcome)> {
    vec![
        (AlertRule::BpRiseFromBaseline, assess_bp_rise(history, new, settings)),
        (AlertRule::BpHigh, assess_bp_high(history, new, settings)),
        (AlertRule::HypertensiveCrisisSymptoms, assess_crisis_symptoms(new)),
        (AlertRule::HeartRate, assess_heart_rate(history, new, settings)),
        (AlertRule::Spo2, assess_spo2(history, new, settings)),
        (AlertRule::RespiratoryRate, assess_respiratory_rate(new, settings)),
        (AlertRule::Sedation, assess_sedation(new, settings)),
        (AlertRule::Dissociation, assess_dissociation(new, settings)),
        (AlertRule::Psychotomimetic, assess_psychotomimetic(history, new, settings)),
        (AlertRule::Emesis, assess_emesis(new)),
        (AlertRule::Suicidality, assess_suicidality(new)),
    ]
}

/// Active alerts and the episode counters, folded over a timeline.
#[derive(Debug, Clone, Default)]
struct AlertState {
    active: BTreeMap<AlertRule, Alert>,
    episodes: BTreeMap<AlertRule, u32>,
}

impl AlertState {
    fn step(&mut self, history: &[TimedObservation], new: &TimedObservation, settings: &AlertSettings) -> AlertChanges {
        let mut changes = Vec::new();
        for (rule, outcome) in assess_all(history, new, settings) {
            match outcome {
                RuleOutcome::NotAssessed => {}
                RuleOutcome::Clear => {
                    if let Some(mut alert) = self.active.remove(&rule) {
                        alert.updated_at = new.at;
                        changes.push(AlertChange { kind: AlertChangeKind::Resolved, alert });
                    }
                }
                RuleOutcome::Active(found) => match self.active.get_mut(&rule) {
                    Some(alert) => {
                        let kind = if found.level > alert.level {
                            Some(AlertChangeKind::Escalated)
                        } else if found.level < alert.level {
                            Some(AlertChangeKind::DeEscalated)
                        } else {
                            None
                        };
                        alert.level = found.level;
                        alert.summary = found.summary;
                        alert.detail = found.detail;
                        alert.recommended_action = found.recommended_action.to_owned();
                        alert.source = found.source;
                        alert.updated_at = new.at;
                        if let Some(kind) = kind {
                            changes.push(AlertChange { kind, alert: alert.clone() });
                        }
                    }
                    None => {
                        let episode = self.episodes.entry(rule).or_insert(0);
                        *episode += 1;
                        let alert = Alert {
                            id: AlertId { rule, episode: *episode },
                            level: found.level,
                            summary: found.summary,
                            detail: found.detail,
                            recommended_action: found.recommended_action.to_owned(),
                            source: found.source,
                            raised_at: new.at,
                            updated_at: new.at,
                        };
                        changes.push(AlertChange { kind: AlertChangeKind::Raised, alert: alert.clone() });
                        self.active.insert(rule, alert);
                    }
                },
            }
        }
        AlertChanges { at: new.at, changes, active: self.active_sorted() }
    }

    /// Active alerts, most severe first.
    fn active_sorted(&self) -> Vec<Alert> {
        let mut active: Vec<Alert> = self.active.values().cloned().collect();
        active.sort_by(|left, right| right.level.cmp(&left.level).then(left.id.cmp(&right.id)));
        active
    }

    fn fold(entries: &[TimedObservation], settings: &AlertSettings) -> (AlertState, Vec<AlertChanges>) {
        let mut state = AlertState::default();
        let mut all = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            all.push(state.step(&entries[..index], entry, settings));
        }
        (state, all)
    }
}

/// Evaluates one new observation against the timeline before it: the alerts raised, escalated,
/// de-escalated or resolved by it, and every alert active afterwards.
pub fn evaluate(timeline_before: &Timeline, new: &TimedObservation, settings: &AlertSettings) -> AlertChanges {
    let entries = timeline_before.until(new.at);
    let (mut state, _) = AlertState::fold(entries, settings);
    state.step(entries, new, settings)
}

/// Replays a whole timeline, one [`AlertChanges`] per observation, in order.
pub fn replay(timeline: &Timeline, settings: &AlertSettings) -> Vec<AlertChanges> {
    AlertState::fold(timeline.entries(), settings).1
}

/// Replays a slice of observations already in time order, one [`AlertChanges`] per observation.
pub fn replay_entries(entries: &[TimedObservation], settings: &AlertSettings) -> Vec<AlertChanges> {
    AlertState::fold(entries, settings).1
}

/// The alerts active after the last observation of `entries`, most severe first.
pub fn active_after(entries: &[TimedObservation], settings: &AlertSettings) -> Vec<Alert> {
    AlertState::fold(entries, settings).0.active_sorted()
}
