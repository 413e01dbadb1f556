//! The pre-dose gate: blood pressure on two readings, the suicidality screen, pregnancy-test policy,
//! fasting, escort, REMS patient enrolment and informed consent, each pass / hold / indeterminate with its
//! reason and source (KNOWLEDGE §2.1, §2.2, §2.4, §3.5, §4.1, §4.5, §5.1, §5.3, §5.9, §7).

use jiff::{SignedDuration, Timestamp};

use super::observation::{BloodPressure, Phq9Item9, QidsItem12};
use super::{CareSetting, Modality, PregnancyTestPolicy, Session};
use crate::eligibility::{BloodPressureBand, RuleClass, blood_pressure_band_mmhg};
use crate::protocol::Protocol;

/// C-SSRS screener risk (KNOWLEDGE §5.9), as `scales::cssrs` reads it from the screener's answers.
pub use crate::scales::cssrs::SuicideRisk as CssrsRisk;

/// A pregnancy test result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PregnancyTest {
    Negative,
    Positive,
}

/// The patient's informed consent to the session's modality, as the consent records show it at the time
/// of the check (a server derives it from the records; a session document states it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InformedConsent {
    /// Signed, not expired and not withdrawn.
    Current,
    /// The latest consent for the modality has passed its expiry date.
    Expired,
    /// The patient withdrew consent.
    Withdrawn,
    /// No consent for the modality is on file.
    NotOnFile,
}

impl InformedConsent {
    pub const ALL: [InformedConsent; 4] =
        [InformedConsent::Current, InformedConsent::Expired, InformedConsent::Withdrawn, InformedConsent::NotOnFile];

    /// The word of the session document (`pre_dose.informed_consent`).
    pub fn as_str(self) -> &'static str {
        match self {
            InformedConsent::Current => "current",
            InformedConsent::Expired => "expired",
            InformedConsent::Withdrawn => "withdrawn",
            InformedConsent::NotOnFile => "not_on_file",
        }
    }
}

/// A consent to one modality as the records hold it: when it was signed, the last day it holds (`None`:
/// until withdrawn) and when it was withdrawn. Entries in error are left out by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentOnFile {
    pub signed_on: jiff::civil::Date,
    pub valid_until: Option<jiff::civil::Date>,
    pub withdrawn_on: Option<jiff::civil::Date>,
}

/// The patient's informed consent on `day` from the consents to one modality: the latest one signed on or
/// before `day` decides (a newer signature supersedes an older one, and a withdrawal withdraws consent to
/// the modality until a new one is signed); among consents signed the same day, the last in `consents` (the
/// caller lists them in the order recorded). A consent is current from its signature through `valid_until`.
pub fn informed_consent_on(day: jiff::civil::Date, consents: &[ConsentOnFile]) -> InformedConsent {
    let latest = consents.iter().filter(|consent| consent.signed_on <= day).max_by_key(|consent| consent.signed_on);
    match latest {
        None => InformedConsent::NotOnFile,
        Some(consent) if consent.withdrawn_on.is_some_and(|withdrawn| withdrawn <= day) => InformedConsent::Withdrawn,
        Some(consent) if consent.valid_until.is_some_and(|until| until < day) => InformedConsent::Expired,
        Some(_) => InformedConsent::Current,
    }
}

/// What the gate needs beyond the session itself. `None` means "not recorded".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreDoseFacts {
    pub phq9_item9: Option<Phq9Item9>,
    pub qids_item12: Option<QidsItem12>,
    pub cssrs_risk: Option<CssrsRisk>,
    pub can_become_pregnant: Option<bool>,
    pub pregnancy_test: Option<PregnancyTest>,
    pub last_food_at: Option<Timestamp>,
    pub last_liquid_at: Option<Timestamp>,
    pub escort_arranged: Option<bool>,
    pub rems_patient_enrolled: Option<bool>,
    pub informed_consent: Option<InformedConsent>,
}

/// The items the gate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GateItemId {
    BloodPressure,
    SuicidalityScreen,
    Pregnancy,
    Fasting,
    Escort,
    RemsEnrolment,
    InformedConsent,
}

impl GateItemId {
    /// Every gate item, in the order the gate checks them.
    pub const ALL: [GateItemId; 7] = [
        GateItemId::BloodPressure,
        GateItemId::SuicidalityScreen,
        GateItemId::Pregnancy,
        GateItemId::Fasting,
        GateItemId::Escort,
        GateItemId::RemsEnrolment,
        GateItemId::InformedConsent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GateItemId::BloodPressure => "BP",
            GateItemId::SuicidalityScreen => "SUICIDALITY_SCREEN",
            GateItemId::Pregnancy => "PREGNANCY",
            GateItemId::Fasting => "FASTING",
            GateItemId::Escort => "ESCORT",
            GateItemId::RemsEnrolment => "REMS_ENROLMENT",
            GateItemId::InformedConsent => "INFORMED_CONSENT",
        }
    }
}

/// The outcome of one gate item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateStatus {
    Pass,
    /// Do not dose yet. `overridable` holds can proceed once a prescriber records a reason
    /// (`BLOCKING_RELATIVE`); the others cannot be overridden this session.
    Hold {
        overridable: bool,
    },
    Indeterminate {
        missing: Vec<&'static str>,
    },
}

impl GateStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            GateStatus::Pass => "pass",
            GateStatus::Hold { .. } => "hold",
            GateStatus::Indeterminate { .. } => "indeterminate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateItem {
    pub item: GateItemId,
    pub status: GateStatus,
    pub reason: String,
    pub source: String,
}

/// The whole gate: one item per check, and the overall status (hold over indeterminate over pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub items: Vec<GateItem>,
}

/// Overall gate outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateOutcome {
    Proceed,
    Hold,
    Indeterminate,
}

impl GateOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            GateOutcome::Proceed => "proceed",
            GateOutcome::Hold => "hold",
            GateOutcome::Indeterminate => "indeterminate",
        }
    }
}

impl Gate {
    pub fn outcome(&self) -> GateOutcome {
        if self.items.iter().any(|item| matches!(item.status, GateStatus::Hold { .. })) {
            GateOutcome::Hold
        } else if self.items.iter().any(|item| matches!(item.status, GateStatus::Indeterminate { .. })) {
            GateOutcome::Indeterminate
        } else {
            GateOutcome::Proceed
        }
    }
}

fn item(item: GateItemId, status: GateStatus, reason: impl Into<String>, source: impl Into<String>) -> GateItem {
    GateItem { item, status, reason: reason.into(), source: source.into() }
}

fn bp_band(reading: BloodPressure, protocol: &Protocol) -> BloodPressureBand {
    blood_pressure_band_mmhg(reading.systolic_mmhg(), reading.diastolic_mmhg(), &protocol.eligibility)
}

fn check_blood_pressure(session: &Session, protocol: &Protocol) -> GateItem {
    let dose_at = session.dose().started_at.unwrap_or(session.dose().planned_at);
    let readings: Vec<(Timestamp, BloodPressure)> = session
        .timeline()
        .entries()
        .iter()
        .filter(|entry| entry.at <= dose_at)
        .filter_map(|entry| entry.observation.blood_pressure.map(|bp| (entry.at, bp)))
        .collect();
    let apart_min = protocol.session.bp_gate_readings_min_apart_min.value;
    let source = "clinical-reference §2.4 PROJECT DEFAULT: two seated readings >=5 min apart, classified on the lower of the two";
    let [.., (first_at, first), (second_at, second)] = readings[..] else {
        return item(
            GateItemId::BloodPressure,
            GateStatus::Indeterminate { missing: vec!["pre_dose_blood_pressure_readings"] },
            format!("{} pre-dose BP reading(s); two are needed", readings.len()),
            source,
        );
    };
    if second_at.duration_since(first_at) < SignedDuration::from_mins(apart_min) {
        return item(
            GateItemId::BloodPressure,
            GateStatus::Indeterminate { missing: vec!["pre_dose_blood_pressure_readings"] },
            format!("the last two pre-dose readings are less than {apart_min} min apart; repeat the reading"),
            &protocol.session.bp_gate_readings_min_apart_min.source,
        );
    }
    // KNOWLEDGE §2.4: classify on the less severe of the two readings.
    let (band, reading) = [(bp_band(first, protocol), first), (bp_band(second, protocol), second)]
        .into_iter()
        .min_by_key(|(band, _)| *band)
        .expect("two readings");
    let shown = format!("{}/{} mmHg", reading.systolic_mmhg(), reading.diastolic_mmhg());
    let settings = &protocol.eligibility;
    match band {
        BloodPressureBand::Proceed => item(
            GateItemId::BloodPressure,
            GateStatus::Pass,
            format!(
                "{shown} (less severe of the last two readings) is within {}/{}",
                settings.bp_elevated_systolic_above.value, settings.bp_elevated_diastolic_above.value
            ),
            &settings.bp_elevated_systolic_above.source,
        ),
        BloodPressureBand::Elevated => item(
            GateItemId::BloodPressure,
            GateStatus::Hold { overridable: true },
            format!(
                "{shown} is above {}/{}: the prescriber must confirm benefit outweighs risk, or reschedule",
                settings.bp_elevated_systolic_above.value, settings.bp_elevated_diastolic_above.value
            ),
            &settings.bp_elevated_systolic_above.source,
        ),
        BloodPressureBand::Severe => item(
            GateItemId::BloodPressure,
            GateStatus::Hold { overridable: false },
            format!(
                "{shown} is at or above {}/{}: do not dose this session; refer for BP management",
                settings.bp_severe_systolic_from.value, settings.bp_severe_diastolic_from.value
            ),
            &settings.bp_severe_systolic_from.source,
        ),
    }
}

fn class_hold(protocol: &Protocol, rule: &str) -> (GateStatus, String) {
    let setting = &protocol.eligibility.rule_class[rule];
    let status = match setting.value {
        RuleClass::Absolute => GateStatus::Hold { overridable: false },
        RuleClass::BlockingRelative => GateStatus::Hold { overridable: true },
        RuleClass::Warning => GateStatus::Pass,
    };
    (status, setting.source.clone())
}

fn check_suicidality(facts: &PreDoseFacts, protocol: &Protocol) -> GateItem {
    let item9 = facts.phq9_item9.map(Phq9Item9::get);
    let item12 = facts.qids_item12.map(QidsItem12::get);
    let scales = &protocol.scales;
    let screen_source = "clinical-reference §5.1 / §5.3 PROJECT DEFAULT: PHQ-9 item 9 or QIDS item 12 at or above the [scales] \
                         threshold (1) requires a C-SSRS screen before dosing";
    let item9_from = scales.phq9_item9_screen_from.value;
    let item12_from = scales.qids_sr16_item12_screen_from.value;
    let positive = item9.is_some_and(|score| score >= item9_from) || item12.is_some_and(|score| score >= item12_from);
    let trigger = match (item9, item12) {
        (Some(score), _) if score >= item9_from => format!("PHQ-9 item 9 = {score}; "),
        (_, Some(score)) if score >= item12_from => format!("QIDS item 12 = {score}; "),
        _ => String::new(),
    };
    // KNOWLEDGE §5.9 PROJECT DEFAULT: a recorded C-SSRS risk counts whatever PHQ-9 item 9 says: high risk blocks
    // the session start, moderate risk needs prescriber review before dosing (classes from the protocol).
    match facts.cssrs_risk {
        Some(CssrsRisk::High) => {
            let (status, source) = class_hold(protocol, "SUICIDE_RISK_HIGH");
            return item(
                GateItemId::SuicidalityScreen,
                status,
                format!(
                    "{trigger}C-SSRS high risk: do not start, page the prescriber, follow the local crisis protocol"
                ),
                source,
            );
        }
        Some(CssrsRisk::Moderate) => {
            let (status, source) = class_hold(protocol, "SUICIDE_RISK_MODERATE");
            return item(
                GateItemId::SuicidalityScreen,
                status,
                format!("{trigger}C-SSRS moderate risk: prescriber review before dosing"),
                source,
            );
        }
        Some(risk) => {
            return item(
                GateItemId::SuicidalityScreen,
                GateStatus::Pass,
                format!("{trigger}C-SSRS {} risk", risk.as_str()),
                "clinical-reference §5.9: low risk does not block dosing",
            );
        }
        None => {}
    }
    if positive {
        return item(
            GateItemId::SuicidalityScreen,
            GateStatus::Indeterminate { missing: vec!["cssrs_risk"] },
            format!("{}: a C-SSRS screen is needed before dosing", trigger.trim_end_matches("; ")),
            screen_source,
        );
    }
    if item9.is_none() && item12.is_none() {
        return item(
            GateItemId::SuicidalityScreen,
            GateStatus::Indeterminate { missing: vec!["phq9_item9"] },
            "neither PHQ-9 item 9 nor QIDS item 12 nor a C-SSRS is recorded for this session",
            screen_source,
        );
    }
    item(
        GateItemId::SuicidalityScreen,
        GateStatus::Pass,
        "suicidal-ideation item below the screening threshold",
        screen_source,
    )
}

fn check_pregnancy(facts: &PreDoseFacts, protocol: &Protocol) -> GateItem {
    let policy = &protocol.session.pregnancy_test_policy;
    match (facts.can_become_pregnant, facts.pregnancy_test) {
        (_, Some(PregnancyTest::Positive)) => item(
            GateItemId::Pregnancy,
            GateStatus::Hold { overridable: true },
            "positive pregnancy test: not recommended in pregnancy (blocking-relative)",
            "clinical-reference §2.1 / §2.3: pregnancy not recommended [USPI-SPR-2019] §5.10; BLOCKING_RELATIVE",
        ),
        (Some(false), _) => {
            item(GateItemId::Pregnancy, GateStatus::Pass, "cannot become pregnant", policy.source.clone())
        }
        (None, _) => item(
            GateItemId::Pregnancy,
            GateStatus::Indeterminate { missing: vec!["can_become_pregnant"] },
            "whether the patient can become pregnant is not recorded",
            policy.source.clone(),
        ),
        (Some(true), Some(PregnancyTest::Negative)) => {
            item(GateItemId::Pregnancy, GateStatus::Pass, "negative pregnancy test", policy.source.clone())
        }
        (Some(true), None) => match policy.value {
            PregnancyTestPolicy::RequiredIfCanBecomePregnant => item(
                GateItemId::Pregnancy,
                GateStatus::Indeterminate { missing: vec!["pregnancy_test"] },
                "the protocol requires a pregnancy test for people who can become pregnant",
                policy.source.clone(),
            ),
            PregnancyTestPolicy::NotRequired => item(
                GateItemId::Pregnancy,
                GateStatus::Pass,
                "the protocol does not require a pregnancy test",
                policy.source.clone(),
            ),
        },
    }
}

fn check_fasting(session: &Session, facts: &PreDoseFacts, protocol: &Protocol) -> GateItem {
    let settings = &protocol.session;
    if session.modality() == Modality::IvRacemicKetamine && !settings.iv_fasting_required.value {
        return item(
            GateItemId::Fasting,
            GateStatus::Pass,
            "no pre-dose intake rule for IV ketamine in this protocol",
            settings.iv_fasting_required.source.clone(),
        );
    }
    let dose_at = session.dose().started_at.unwrap_or(session.dose().planned_at);
    let mut missing = Vec::new();
    let mut problems = Vec::new();
    let mut check = |last: Option<Timestamp>, field: &'static str, what: &str, minimum: i64| match last {
        None => missing.push(field),
        Some(last) => {
            let gap = dose_at.duration_since(last).as_secs() / 60;
            if gap < minimum {
                problems.push(format!("{what} {gap} min before the dose (needs {minimum})"));
            }
        }
    };
    check(facts.last_food_at, "last_food_at", "food", settings.esketamine_no_food_min.value);
    check(facts.last_liquid_at, "last_liquid_at", "liquids", settings.esketamine_no_liquids_min.value);
    let source = format!("{}; {}", settings.esketamine_no_food_min.source, settings.esketamine_no_liquids_min.source);
    if !problems.is_empty() {
        return item(
            GateItemId::Fasting,
            GateStatus::Hold { overridable: true },
            format!("{}: delay the dose (nausea and vomiting risk)", problems.join("; ")),
            source,
        );
    }
    if !missing.is_empty() {
        return item(
            GateItemId::Fasting,
            GateStatus::Indeterminate { missing },
            "time of the last food or liquids not recorded",
            source,
        );
    }
    item(
        GateItemId::Fasting,
        GateStatus::Pass,
        format!(
            "no food for {} min and no liquids for {} min before the dose",
            settings.esketamine_no_food_min.value, settings.esketamine_no_liquids_min.value
        ),
        source,
    )
}

fn check_escort(facts: &PreDoseFacts, protocol: &Protocol) -> GateItem {
    let setting = &protocol.session.escort_required;
    if !setting.value {
        return item(GateItemId::Escort, GateStatus::Pass, "the protocol does not require an escort", &setting.source);
    }
    match facts.escort_arranged {
        Some(true) => item(GateItemId::Escort, GateStatus::Pass, "escort home arranged", &setting.source),
        Some(false) => item(
            GateItemId::Escort,
            GateStatus::Hold { overridable: false },
            "no escort arranged: the patient must not drive until the next day after sleep",
            &setting.source,
        ),
        None => item(
            GateItemId::Escort,
            GateStatus::Indeterminate { missing: vec!["escort_arranged"] },
            "escort not recorded",
            &setting.source,
        ),
    }
}

fn check_rems_enrolment(session: &Session, facts: &PreDoseFacts) -> Option<GateItem> {
    if session.modality() != Modality::Esketamine {
        return None;
    }
    let source = "clinical-reference §4.1: outpatient settings enrol each patient in the SPRAVATO REMS before the first treatment [REMS-SITE-OUT]";
    if session.care_setting() == CareSetting::Inpatient {
        return Some(item(
            GateItemId::RemsEnrolment,
            GateStatus::Pass,
            "inpatient setting: patients are not enrolled",
            "clinical-reference §4.1: inpatient settings do not enrol patients [REMS-SITE-IN]",
        ));
    }
    Some(match facts.rems_patient_enrolled {
        Some(true) => item(GateItemId::RemsEnrolment, GateStatus::Pass, "patient enrolled in the REMS", source),
        Some(false) => item(
            GateItemId::RemsEnrolment,
            GateStatus::Hold { overridable: false },
            "patient not enrolled in the REMS: complete the Patient Enrollment Form before treatment",
            source,
        ),
        None => item(
            GateItemId::RemsEnrolment,
            GateStatus::Indeterminate { missing: vec!["rems_patient_enrolled"] },
            "REMS enrolment not recorded",
            source,
        ),
    })
}

fn check_informed_consent(session: &Session, facts: &PreDoseFacts, protocol: &Protocol) -> GateItem {
    let setting = &protocol.session.consent_required_before_dose;
    let id = GateItemId::InformedConsent;
    if !setting.value {
        return item(id, GateStatus::Pass, "the protocol does not require a recorded consent", &setting.source);
    }
    let modality = session.modality().display_name();
    // Not overridable: a prescriber cannot consent for the patient; the consent is recorded first.
    let hold = GateStatus::Hold { overridable: false };
    match facts.informed_consent {
        Some(InformedConsent::Current) => {
            item(id, GateStatus::Pass, format!("current informed consent to {modality} on file"), &setting.source)
        }
        Some(InformedConsent::Expired) => item(
            id,
            hold,
            format!("the patient's consent to {modality} has expired: record a new consent before the dose"),
            &setting.source,
        ),
        Some(InformedConsent::Withdrawn) => item(
            id,
            hold,
            format!("the patient withdrew consent to {modality}: no dose unless a new consent is recorded"),
            &setting.source,
        ),
        Some(InformedConsent::NotOnFile) => item(
            id,
            hold,
            format!("no informed consent to {modality} on file: record the patient's consent before the dose"),
            &setting.source,
        ),
        None => item(
            id,
            GateStatus::Indeterminate { missing: vec!["informed_consent"] },
            "informed consent not recorded",
            &setting.source,
        ),
    }
}

/// Runs every pre-dose check for the session.
pub fn check_gate(session: &Session, facts: &PreDoseFacts, protocol: &Protocol) -> Gate {
    let mut items = vec![
        check_blood_pressure(session, protocol),
        check_suicidality(facts, protocol),
        check_pregnancy(facts, protocol),
        check_fasting(session, facts, protocol),
        check_escort(facts, protocol),
    ];
    items.extend(check_rems_enrolment(session, facts));
    items.push(check_informed_consent(session, facts, protocol));
    Gate { items }
}
