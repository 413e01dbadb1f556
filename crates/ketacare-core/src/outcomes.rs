//! Treatment outcomes over a dated series of one scale's totals (KNOWLEDGE §5.10): the baseline,
//! percent change, response / partial response / non-response, remission, sustained remission, relapse,
//! and the days to first response and first remission. Exact decimal arithmetic throughout.
//!
//! Missing data never becomes a guess: whatever cannot be decided is [`Determination::Indeterminate`],
//! naming what is missing.
//!
//! Rules this module fixes (each documented where it is applied):
//! - **Baseline**: the latest result dated on or before the first treatment date (the value closest to
//!   the first dose, as trials define baseline); if there is none (or no treatment date is known), the
//!   earliest result. Only assessments with a total are results.
//! - **Follow-up**: every assessment dated after the baseline.
//! - **Days to an event**: counted from the first treatment date when known, else from the baseline date.

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::protocol::{InvalidProtocol, SectionReader, Setting};
use crate::scales::Scale;

/// The scales KNOWLEDGE §5.10 defines remission on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeScale {
    Madrs,
    Phq9,
    QidsSr16,
    Hamd17,
}

impl OutcomeScale {
    pub const ALL: [OutcomeScale; 4] =
        [OutcomeScale::Madrs, OutcomeScale::Phq9, OutcomeScale::QidsSr16, OutcomeScale::Hamd17];

    pub fn scale(self) -> Scale {
        match self {
            OutcomeScale::Madrs => Scale::Madrs,
            OutcomeScale::Phq9 => Scale::Phq9,
            OutcomeScale::QidsSr16 => Scale::QidsSr16,
            OutcomeScale::Hamd17 => Scale::Hamd17,
        }
    }

    /// The word used in protocols, plan documents and reports.
    pub fn code(self) -> &'static str {
        match self {
            OutcomeScale::Madrs => "madrs",
            OutcomeScale::Phq9 => "phq9",
            OutcomeScale::QidsSr16 => "qids_sr16",
            OutcomeScale::Hamd17 => "hamd17",
        }
    }

    /// The outcome scale for `scale`, if KNOWLEDGE §5.10 defines outcomes on it.
    pub fn from_scale(scale: Scale) -> Option<OutcomeScale> {
        OutcomeScale::ALL.into_iter().find(|outcome_scale| outcome_scale.scale() == scale)
    }

    /// The highest possible total (KNOWLEDGE §5.2: 60; §5.1: 27; §5.3: 27; §5.4: 52).
    pub fn max_total(self) -> u8 {
        match self {
            OutcomeScale::Madrs => 60,
            OutcomeScale::Phq9 | OutcomeScale::QidsSr16 => 27,
            OutcomeScale::Hamd17 => 52,
        }
    }
}

impl std::str::FromStr for OutcomeScale {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        OutcomeScale::ALL.into_iter().find(|scale| scale.code() == word).ok_or(())
    }
}

/// One dated assessment; `total` is `None` when it was done but gave no total (or was missed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub date: Date,
    pub total: Option<u8>,
}

/// A series that cannot be used; names the assessment's date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidScoreSeries {
    #[error("assessment on {date}: total must be 0-{max} for {scale}, got {got}")]
    TotalOutOfRange { date: Date, scale: Scale, max: u8, got: u8 },
    #[error("assessment on {date}: appears twice; one {scale} assessment per date is expected")]
    DuplicateDate { date: Date, scale: Scale },
}

/// The assessments of one scale, sorted by date, one per date, each total within the scale's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreSeries {
    scale: OutcomeScale,
    assessments: Vec<Assessment>,
}

impl ScoreSeries {
    pub fn new(scale: OutcomeScale, mut assessments: Vec<Assessment>) -> Result<ScoreSeries, InvalidScoreSeries> {
        assessments.sort_by_key(|assessment| assessment.date);
        for assessment in &assessments {
            if let Some(got) = assessment.total.filter(|total| *total > scale.max_total()) {
                let (date, max) = (assessment.date, scale.max_total());
                return Err(InvalidScoreSeries::TotalOutOfRange { date, scale: scale.scale(), max, got });
            }
        }
        if let Some(pair) = assessments.windows(2).find(|pair| pair[0].date == pair[1].date) {
            return Err(InvalidScoreSeries::DuplicateDate { date: pair[0].date, scale: scale.scale() });
        }
        Ok(ScoreSeries { scale, assessments })
    }

    pub fn scale(&self) -> OutcomeScale {
        self.scale
    }

    /// The assessments in date order.
    pub fn assessments(&self) -> &[Assessment] {
        &self.assessments
    }
}

/// A finding that could be decided, or the facts whose absence stops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Determination<T> {
    Determined(T),
    Indeterminate { missing: Vec<String> },
}

impl<T> Determination<T> {
    fn missing(what: impl Into<String>) -> Self {
        Determination::Indeterminate { missing: vec![what.into()] }
    }

    /// The value, if determined.
    pub fn determined(&self) -> Option<&T> {
        match self {
            Determination::Determined(value) => Some(value),
            Determination::Indeterminate { .. } => None,
        }
    }
}

/// Where a series stands against the response thresholds (KNOWLEDGE §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResponseStatus {
    /// Reduction below the partial-response threshold.
    NonResponse,
    /// KNOWLEDGE §5.10 PROJECT DEFAULT: 25–49 % reduction.
    PartialResponse,
    /// KNOWLEDGE §5.10: ≥50 % reduction from baseline.
    Response,
}

impl ResponseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::NonResponse => "non_response",
            ResponseStatus::PartialResponse => "partial_response",
            ResponseStatus::Response => "response",
        }
    }
}

/// Percent change from `baseline_total` to `current_total`, exact: negative means improvement
/// (a fall in the total). Indeterminate for a baseline of 0, where a percentage has no meaning.
pub fn percent_change(baseline_total: u8, current_total: u8) -> Determination<Decimal> {
    if baseline_total == 0 {
        return Determination::missing("a baseline total above 0 (a percent change from 0 is undefined)");
    }
    let difference = Decimal::from(i16::from(current_total) - i16::from(baseline_total));
    Determination::Determined(difference * Decimal::ONE_HUNDRED / Decimal::from(baseline_total))
}

/// Whether the fall from `baseline_total` to `current_total` is at least `min_reduction_pct` percent of
/// the baseline. Compared by cross-multiplying so no division rounds at the boundary.
fn reduction_at_least(baseline_total: u8, current_total: u8, min_reduction_pct: Decimal) -> bool {
    let reduction = Decimal::from(i16::from(baseline_total) - i16::from(current_total));
    reduction * Decimal::ONE_HUNDRED >= min_reduction_pct * Decimal::from(baseline_total)
}

/// Response, partial response or non-response of `current_total` against `baseline_total`
/// (KNOWLEDGE §5.10; thresholds from the protocol). Indeterminate for a baseline of 0.
pub fn classify_response(
    baseline_total: u8,
    current_total: u8,
    settings: &OutcomeSettings,
) -> Determination<ResponseStatus> {
    if baseline_total == 0 {
        return Determination::missing("a baseline total above 0 (a reduction from 0 is undefined)");
    }
    let status = if reduction_at_least(baseline_total, current_total, settings.response_min_reduction_pct.value) {
        ResponseStatus::Response
    } else if reduction_at_least(baseline_total, current_total, settings.partial_response_min_reduction_pct.value) {
        ResponseStatus::PartialResponse
    } else {
        ResponseStatus::NonResponse
    };
    Determination::Determined(status)
}

/// The remission threshold (highest remitted total) of `scale` under the protocol (KNOWLEDGE §5.10).
pub fn remission_at_most(scale: OutcomeScale, settings: &OutcomeSettings) -> u8 {
    let setting = match scale {
        OutcomeScale::Madrs => &settings.madrs_remission_at_most,
        OutcomeScale::Phq9 => &settings.phq9_remission_at_most,
        OutcomeScale::QidsSr16 => &settings.qids_sr16_remission_at_most,
        OutcomeScale::Hamd17 => &settings.hamd17_remission_at_most,
    };
    u8::try_from(setting.value).expect("checked against the scale range when the protocol was read")
}

/// Whether `total` is in remission on `scale`.
pub fn is_remitted(scale: OutcomeScale, total: u8, settings: &OutcomeSettings) -> bool {
    total <= remission_at_most(scale, settings)
}

/// Remission of one total, with the alternative MADRS threshold also reported (KNOWLEDGE §5.2 CONFLICT:
/// ≤10 default, ≤12 also reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemissionStatus {
    pub remitted: bool,
    pub threshold_at_most: u8,
    /// MADRS only: remission under the alternative threshold.
    pub alternative: Option<AlternativeRemission>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlternativeRemission {
    pub remitted: bool,
    pub threshold_at_most: u8,
}

pub fn remission_status(scale: OutcomeScale, total: u8, settings: &OutcomeSettings) -> RemissionStatus {
    let threshold_at_most = remission_at_most(scale, settings);
    let alternative = (scale == OutcomeScale::Madrs).then(|| {
        let threshold_at_most =
            u8::try_from(settings.madrs_remission_alternative_at_most.value).expect("checked as 0-60");
        AlternativeRemission { remitted: total <= threshold_at_most, threshold_at_most }
    });
    RemissionStatus { remitted: total <= threshold_at_most, threshold_at_most, alternative }
}

/// How the baseline was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineRule {
    /// The latest result on or before the first treatment date.
    LatestOnOrBeforeFirstTreatment,
    /// No result on or before the first treatment date (or no treatment date): the earliest result.
    EarliestResult,
}

/// The baseline result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub date: Date,
    pub total: u8,
    pub rule: BaselineRule,
}

/// Chooses the baseline: the latest result dated on or before `first_treatment_date`, else the earliest
/// result. Assessments without a total are not results and are passed over.
pub fn choose_baseline(series: &ScoreSeries, first_treatment_date: Option<Date>) -> Determination<Baseline> {
    let results = || series.assessments.iter().filter_map(|assessment| Some((assessment.date, assessment.total?)));
    let before_treatment = first_treatment_date.and_then(|first_dose| results().rfind(|(date, _)| *date <= first_dose));
    match (before_treatment, results().next()) {
        (Some((date, total)), _) => {
            Determination::Determined(Baseline { date, total, rule: BaselineRule::LatestOnOrBeforeFirstTreatment })
        }
        (None, Some((date, total))) => {
            Determination::Determined(Baseline { date, total, rule: BaselineRule::EarliestResult })
        }
        (None, None) => {
            Determination::missing(format!("a {} total to serve as baseline", series.scale.scale().title()))
        }
    }
}

/// The first date an event was observed, and the days from the start of treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Milestone {
    pub date: Date,
    pub days: i32,
}

/// The latest follow-up result against the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestOutcome {
    pub date: Date,
    pub total: u8,
    pub percent_change: Determination<Decimal>,
    pub response: Determination<ResponseStatus>,
    pub remission: RemissionStatus,
}

/// Relapse as KNOWLEDGE §5.10 defines it for the esketamine programme (UNCONFIRMED; protocol settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelapseStatus {
    /// The protocol defines no relapse threshold on this scale (HAM-D17).
    NotDefinedForScale,
    /// Neither response nor remission has been reached yet, so there is nothing to relapse from.
    NoResponseOrRemissionYet,
    NoRelapse,
    /// The first pair of consecutive qualifying assessments found.
    Relapsed {
        first_date: Date,
        confirming_date: Date,
    },
}

/// Everything [`evaluate_outcomes`] finds in one series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeReport {
    pub scale: OutcomeScale,
    pub baseline: Determination<Baseline>,
    pub latest: Determination<LatestOutcome>,
    /// `Determined(None)`: not reached in any follow-up.
    pub first_response: Determination<Option<Milestone>>,
    pub first_remission: Determination<Option<Milestone>>,
    pub sustained_remission: Determination<bool>,
    pub relapse: Determination<RelapseStatus>,
}

/// Evaluates a series of one scale (KNOWLEDGE §5.10) given the first treatment date, if known.
pub fn evaluate_outcomes(
    series: &ScoreSeries,
    first_treatment_date: Option<Date>,
    settings: &OutcomeSettings,
) -> OutcomeReport {
    let baseline = choose_baseline(series, first_treatment_date);
    let found_baseline = match &baseline {
        Determination::Determined(found) => *found,
        Determination::Indeterminate { missing } => {
            fn same<T>(missing: &[String]) -> Determination<T> {
                Determination::Indeterminate { missing: missing.to_vec() }
            }
            return OutcomeReport {
                scale: series.scale,
                latest: same(missing),
                first_response: same(missing),
                first_remission: same(missing),
                sustained_remission: same(missing),
                relapse: if relapse_from(series.scale, settings).is_some() {
                    same(missing)
                } else {
                    Determination::Determined(RelapseStatus::NotDefinedForScale)
                },
                baseline: baseline.clone(),
            };
        }
    };
    let follow_up: Vec<Assessment> =
        series.assessments.iter().copied().filter(|assessment| assessment.date > found_baseline.date).collect();
    let start_date = first_treatment_date.unwrap_or(found_baseline.date);
    let scale = series.scale;
    let responded = |total: u8| {
        classify_response(found_baseline.total, total, settings)
            .determined()
            .map(|status| *status == ResponseStatus::Response)
    };
    OutcomeReport {
        scale,
        latest: latest_outcome(scale, &found_baseline, &follow_up, settings),
        first_response: first_event(scale, &follow_up, start_date, "response", responded),
        first_remission: first_event(scale, &follow_up, start_date, "remission", |total| {
            Some(is_remitted(scale, total, settings))
        }),
        sustained_remission: sustained_remission(scale, &follow_up, settings),
        relapse: relapse(scale, &follow_up, settings, |total| {
            responded(total).unwrap_or(false) || is_remitted(scale, total, settings)
        }),
        baseline,
    }
}

fn total_missing_on(scale: OutcomeScale, date: Date) -> String {
    format!("the {} total of {date}", scale.scale().title())
}

fn latest_outcome(
    scale: OutcomeScale,
    baseline: &Baseline,
    follow_up: &[Assessment],
    settings: &OutcomeSettings,
) -> Determination<LatestOutcome> {
    // The latest follow-up that has a total; its date is reported, so an older value cannot pass as today's.
    let Some((date, total)) = follow_up.iter().rev().find_map(|assessment| Some((assessment.date, assessment.total?)))
    else {
        return Determination::missing(format!(
            "a {} total after the baseline of {}",
            scale.scale().title(),
            baseline.date
        ));
    };
    Determination::Determined(LatestOutcome {
        date,
        total,
        percent_change: percent_change(baseline.total, total),
        response: classify_response(baseline.total, total, settings),
        remission: remission_status(scale, total, settings),
    })
}

/// The first follow-up at which `reached` holds. A missing total before it (or anywhere, when the event
/// was never observed) makes the answer indeterminate: the event may have happened on that date.
fn first_event(
    scale: OutcomeScale,
    follow_up: &[Assessment],
    start_date: Date,
    event: &str,
    reached: impl Fn(u8) -> Option<bool>,
) -> Determination<Option<Milestone>> {
    let mut missing = Vec::new();
    for assessment in follow_up {
        let Some(total) = assessment.total else {
            missing.push(total_missing_on(scale, assessment.date));
            continue;
        };
        match reached(total) {
            None => return Determination::missing(format!("a baseline total above 0 (needed to judge {event})")),
            Some(true) if missing.is_empty() => {
                let days = (assessment.date - start_date).get_days();
                return Determination::Determined(Some(Milestone { date: assessment.date, days }));
            }
            Some(true) => return Determination::Indeterminate { missing },
            Some(false) => {}
        }
    }
    if missing.is_empty() { Determination::Determined(None) } else { Determination::Indeterminate { missing } }
}

/// KNOWLEDGE §5.10 (UNCONFIRMED wording): remission at ≥3 of the last 4 assessments (both numbers are
/// protocol settings). Counts the last `window` follow-up assessments; a missing total counts as unknown.
fn sustained_remission(
    scale: OutcomeScale,
    follow_up: &[Assessment],
    settings: &OutcomeSettings,
) -> Determination<bool> {
    let window = usize::try_from(settings.sustained_remission_window.value).expect("checked as 1-52");
    let needed = usize::try_from(settings.sustained_remission_min_remitted.value).expect("checked as 1-window");
    if follow_up.len() < window {
        return Determination::missing(format!(
            "{} more {} assessment(s) after baseline (sustained remission looks at the last {window}, found {})",
            window - follow_up.len(),
            scale.scale().title(),
            follow_up.len()
        ));
    }
    let last = &follow_up[follow_up.len() - window..];
    let remitted = last
        .iter()
        .filter(|assessment| assessment.total.is_some_and(|total| is_remitted(scale, total, settings)))
        .count();
    let unknown: Vec<String> = last
        .iter()
        .filter(|assessment| assessment.total.is_none())
        .map(|assessment| total_missing_on(scale, assessment.date))
        .collect();
    if remitted >= needed {
        Determination::Determined(true)
    } else if remitted + unknown.len() < needed {
        Determination::Determined(false)
    } else {
        Determination::Indeterminate { missing: unknown }
    }
}

/// The total from which an assessment counts toward relapse on `scale`, if the protocol defines one:
/// MADRS `relapse_madrs_from` (KNOWLEDGE §5.10, UNCONFIRMED), PHQ-9 `relapse_phq9_from` and QIDS-SR16
/// `relapse_qids_sr16_from` (PROJECT DEFAULTS: the start of each scale's moderate band, where MADRS 22
/// sits in MADRS's); none on HAM-D17.
pub fn relapse_from(scale: OutcomeScale, settings: &OutcomeSettings) -> Option<i64> {
    match scale {
        OutcomeScale::Madrs => Some(settings.relapse_madrs_from.value),
        OutcomeScale::Phq9 => Some(settings.relapse_phq9_from.value),
        OutcomeScale::QidsSr16 => Some(settings.relapse_qids_sr16_from.value),
        OutcomeScale::Hamd17 => None,
    }
}

/// KNOWLEDGE §5.10 (UNCONFIRMED): a total at or above the scale's [`relapse_from`] (MADRS 22) on two
/// consecutive assessments `relapse_min_days_apart`–`relapse_max_days_apart` days apart, after response
/// or remission.
/// Both assessments of the pair come after the first one at which response or remission was observed.
/// A missing total before that one leaves open an earlier response, so a pair that would qualify after
/// such an earlier response makes the answer indeterminate unless a certain relapse is found.
/// The other relapse events KNOWLEDGE lists (hospitalisation, suicide attempt) are not scale data and
/// are not judged here.
fn relapse(
    scale: OutcomeScale,
    follow_up: &[Assessment],
    settings: &OutcomeSettings,
    responded_or_remitted: impl Fn(u8) -> bool,
) -> Determination<RelapseStatus> {
    let Some(from) = relapse_from(scale, settings) else {
        return Determination::Determined(RelapseStatus::NotDefinedForScale);
    };
    let missing_totals = |assessments: &[Assessment]| -> Vec<String> {
        assessments
            .iter()
            .filter(|assessment| assessment.total.is_none())
            .map(|assessment| total_missing_on(scale, assessment.date))
            .collect()
    };
    let certain_start = follow_up.iter().position(|assessment| assessment.total.is_some_and(&responded_or_remitted));
    let Some(certain_start) = certain_start else {
        let missing = missing_totals(follow_up);
        return if missing.is_empty() {
            Determination::Determined(RelapseStatus::NoResponseOrRemissionYet)
        } else {
            Determination::Indeterminate { missing }
        };
    };
    let possible_start = follow_up
        .iter()
        .position(|assessment| assessment.total.is_none_or(&responded_or_remitted))
        .expect("the certain start is a possible start");
    let missing_before_response = missing_totals(&follow_up[..certain_start]);
    let (min_days, max_days) = (settings.relapse_min_days_apart.value, settings.relapse_max_days_apart.value);
    let mut missing: Vec<String> = Vec::new();
    for first in possible_start + 1..follow_up.len().saturating_sub(1) {
        let pair = &follow_up[first..first + 2];
        let days_apart = i64::from((pair[1].date - pair[0].date).get_days());
        if days_apart < min_days || days_apart > max_days {
            continue;
        }
        let at_or_above = |assessment: &Assessment| assessment.total.map(|total| i64::from(total) >= from);
        let qualifies = match (at_or_above(&pair[0]), at_or_above(&pair[1])) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        };
        match qualifies {
            Some(false) => {}
            Some(true) if first > certain_start => {
                return Determination::Determined(RelapseStatus::Relapsed {
                    first_date: pair[0].date,
                    confirming_date: pair[1].date,
                });
            }
            _ => {
                let mut unknown = missing_totals(pair);
                if first <= certain_start {
                    unknown.extend(missing_before_response.iter().cloned());
                }
                for what in unknown {
                    if !missing.contains(&what) {
                        missing.push(what);
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        Determination::Determined(RelapseStatus::NoRelapse)
    } else {
        Determination::Indeterminate { missing }
    }
}

/// The `[outcomes]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeSettings {
    /// KNOWLEDGE §5.10: response = ≥50 % reduction from baseline.
    pub response_min_reduction_pct: Setting<Decimal>,
    /// KNOWLEDGE §5.10 PROJECT DEFAULT: partial response = 25–49 % reduction.
    pub partial_response_min_reduction_pct: Setting<Decimal>,
    /// KNOWLEDGE §5.2 CONFLICT: MADRS ≤10 (default).
    pub madrs_remission_at_most: Setting<i64>,
    /// KNOWLEDGE §5.2 CONFLICT: MADRS ≤12, also reported.
    pub madrs_remission_alternative_at_most: Setting<i64>,
    /// KNOWLEDGE §5.1: PHQ-9 <5, i.e. at most 4.
    pub phq9_remission_at_most: Setting<i64>,
    /// KNOWLEDGE §5.3: QIDS-SR16 ≤5.
    pub qids_sr16_remission_at_most: Setting<i64>,
    /// KNOWLEDGE §5.4: HAM-D17 ≤7.
    pub hamd17_remission_at_most: Setting<i64>,
    /// KNOWLEDGE §5.10 UNCONFIRMED: relapse at MADRS ≥22 …
    pub relapse_madrs_from: Setting<i64>,
    /// PROJECT DEFAULT (UNCONFIRMED): relapse on PHQ-9 from 10, the start of its moderate band (§5.1) …
    pub relapse_phq9_from: Setting<i64>,
    /// … and on QIDS-SR16 from 11, the start of its moderate band (§5.3).
    pub relapse_qids_sr16_from: Setting<i64>,
    /// … on 2 consecutive assessments 5–15 days apart.
    pub relapse_min_days_apart: Setting<i64>,
    pub relapse_max_days_apart: Setting<i64>,
    /// KNOWLEDGE §5.10 UNCONFIRMED: sustained remission = remission at ≥3 of the last 4 assessments.
    pub sustained_remission_window: Setting<i64>,
    pub sustained_remission_min_remitted: Setting<i64>,
    /// The scale that decides a plan's course when it has what it needs (the others are reported beside
    /// it and decide only when it cannot): PROJECT DEFAULT MADRS, the scale of KNOWLEDGE §5.10's trials.
    pub primary_scale: Setting<OutcomeScale>,
}

impl OutcomeSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let percent =
            |section: &mut SectionReader, key: &str| section.take_decimal_in(key, Decimal::ONE, Decimal::ONE_HUNDRED);
        let settings = OutcomeSettings {
            response_min_reduction_pct: percent(&mut section, "response_min_reduction_pct")?,
            partial_response_min_reduction_pct: percent(&mut section, "partial_response_min_reduction_pct")?,
            // Each remission threshold lies within its scale's total range (KNOWLEDGE §5.1–§5.4).
            madrs_remission_at_most: section.take_integer_in("madrs_remission_at_most", 0, 60)?,
            madrs_remission_alternative_at_most: section.take_integer_in(
                "madrs_remission_alternative_at_most",
                0,
                60,
            )?,
            phq9_remission_at_most: section.take_integer_in("phq9_remission_at_most", 0, 27)?,
            qids_sr16_remission_at_most: section.take_integer_in("qids_sr16_remission_at_most", 0, 27)?,
            hamd17_remission_at_most: section.take_integer_in("hamd17_remission_at_most", 0, 52)?,
            relapse_madrs_from: section.take_integer_in("relapse_madrs_from", 0, 60)?,
            relapse_phq9_from: section.take_integer_in("relapse_phq9_from", 0, 27)?,
            relapse_qids_sr16_from: section.take_integer_in("relapse_qids_sr16_from", 0, 27)?,
            relapse_min_days_apart: section.take_integer_in("relapse_min_days_apart", 1, 365)?,
            relapse_max_days_apart: section.take_integer_in("relapse_max_days_apart", 1, 365)?,
            sustained_remission_window: section.take_integer_in("sustained_remission_window", 1, 52)?,
            sustained_remission_min_remitted: section.take_integer_in("sustained_remission_min_remitted", 1, 52)?,
            primary_scale: section.take_choice("primary_scale", &["madrs", "phq9", "qids_sr16", "hamd17"])?,
        };
        if settings.partial_response_min_reduction_pct.value >= settings.response_min_reduction_pct.value {
            return Err(InvalidProtocol::new(
                "outcomes.partial_response_min_reduction_pct",
                "must be below outcomes.response_min_reduction_pct",
            ));
        }
        if settings.relapse_min_days_apart.value > settings.relapse_max_days_apart.value {
            return Err(InvalidProtocol::new(
                "outcomes.relapse_min_days_apart",
                "must not exceed outcomes.relapse_max_days_apart",
            ));
        }
        if settings.sustained_remission_min_remitted.value > settings.sustained_remission_window.value {
            return Err(InvalidProtocol::new(
                "outcomes.sustained_remission_min_remitted",
                "must not exceed outcomes.sustained_remission_window",
            ));
        }
        section.finish()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use jiff::ToSpan;
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::Protocol;

    fn settings() -> OutcomeSettings {
        Protocol::shipped().outcomes
    }

    /// Day `offset` counted from 2026-01-05 (a Monday), so series read as `d0`, `d7`, `d14`.
    fn day(offset: i32) -> Date {
        jiff::civil::date(2026, 1, 5) + offset.days()
    }

    /// `written`: space-separated `day=total` with `-` for a missing total, e.g. `0=30 7=- 14=12`.
    fn series(scale: OutcomeScale, written: &str) -> ScoreSeries {
        let assessments = written
            .split_whitespace()
            .map(|entry| {
                let (offset, total) = entry.split_once('=').unwrap();
                Assessment { date: day(offset.parse().unwrap()), total: total.parse().ok() }
            })
            .collect();
        ScoreSeries::new(scale, assessments).unwrap()
    }

    fn offset_of(date: Date) -> i32 {
        (date - day(0)).get_days()
    }

    fn show<T>(determination: &Determination<T>, show_value: impl Fn(&T) -> String) -> String {
        match determination {
            Determination::Determined(value) => show_value(value),
            Determination::Indeterminate { missing } => format!("? {}", missing.join("; ")),
        }
    }

    fn show_milestone(milestone: &Option<Milestone>) -> String {
        match milestone {
            Some(milestone) => format!("d{} ({} days)", offset_of(milestone.date), milestone.days),
            None => "never".to_owned(),
        }
    }

    /// Renders one field of the report: `baseline`, `latest`, `response`, `remission`, `sustained`, `relapse`.
    fn check(scale: OutcomeScale, written: &str, first_treatment_day: Option<i32>, field: &str, expected: &str) {
        let report = evaluate_outcomes(&series(scale, written), first_treatment_day.map(day), &settings());
        let got = match field {
            "baseline" => show(&report.baseline, |baseline| {
                let rule = match baseline.rule {
                    BaselineRule::LatestOnOrBeforeFirstTreatment => "before treatment",
                    BaselineRule::EarliestResult => "earliest",
                };
                format!("d{}={} {rule}", offset_of(baseline.date), baseline.total)
            }),
            "latest" => show(&report.latest, |latest| {
                let alternative = latest
                    .remission
                    .alternative
                    .map(|alternative| format!(" alt {}", if alternative.remitted { "remitted" } else { "not" }))
                    .unwrap_or_default();
                format!(
                    "d{}={} {}% {} {}{alternative}",
                    offset_of(latest.date),
                    latest.total,
                    show(&latest.percent_change, |change| change.round_dp(1).normalize().to_string()),
                    show(&latest.response, |status| status.as_str().to_owned()),
                    if latest.remission.remitted { "remitted" } else { "not" },
                )
            }),
            "response" => show(&report.first_response, show_milestone),
            "remission" => show(&report.first_remission, show_milestone),
            "sustained" => show(&report.sustained_remission, |sustained| sustained.to_string()),
            "relapse" => show(&report.relapse, |relapse| match relapse {
                RelapseStatus::NotDefinedForScale => "not defined for scale".to_owned(),
                RelapseStatus::NoResponseOrRemissionYet => "no response or remission yet".to_owned(),
                RelapseStatus::NoRelapse => "no relapse".to_owned(),
                RelapseStatus::Relapsed { first_date, confirming_date } => {
                    format!("relapsed d{} confirmed d{}", offset_of(*first_date), offset_of(*confirming_date))
                }
            }),
            other => panic!("unknown field {other}"),
        };
        assert_eq!(got, expected, "{scale:?} {written} {field}");
    }

    use OutcomeScale::{Hamd17, Madrs, Phq9, QidsSr16};

    #[test]
    fn percent_change_is_exact() {
        let cases: [(u8, u8, &str); 6] = [
            (30, 15, "-50"),
            (30, 30, "0"),
            (30, 45, "50"),
            (20, 15, "-25"),
            (3, 2, "-33.333333333333333333333333333"),
            (8, 1, "-87.5"),
        ];
        for (baseline, current, expected) in cases {
            let got = show(&percent_change(baseline, current), |change| change.normalize().to_string());
            assert_eq!(got, expected, "{baseline} -> {current}");
        }
        assert_eq!(
            percent_change(0, 5),
            Determination::Indeterminate {
                missing: vec!["a baseline total above 0 (a percent change from 0 is undefined)".to_owned()]
            }
        );
    }

    #[test]
    fn response_bands_at_their_boundaries() {
        let cases: [(u8, u8, &str); 10] = [
            (20, 10, "response"), // exactly 50 %
            (20, 11, "partial_response"),
            (20, 15, "partial_response"), // exactly 25 %
            (20, 16, "non_response"),
            (30, 15, "response"),
            (30, 16, "partial_response"),
            (30, 22, "partial_response"), // 26.7 %
            (30, 23, "non_response"),     // 23.3 %
            (30, 40, "non_response"),     // worse
            (1, 0, "response"),
        ];
        for (baseline, current, expected) in cases {
            let got = show(&classify_response(baseline, current, &settings()), |status| status.as_str().to_owned());
            assert_eq!(got, expected, "{baseline} -> {current}");
        }
        assert!(classify_response(0, 0, &settings()).determined().is_none());
    }

    #[test]
    fn remission_thresholds_per_scale() {
        // (scale, total, remitted, MADRS alternative ≤12)
        let cases: [(OutcomeScale, u8, bool, Option<bool>); 12] = [
            (Madrs, 10, true, Some(true)),
            (Madrs, 11, false, Some(true)),
            (Madrs, 12, false, Some(true)),
            (Madrs, 13, false, Some(false)),
            (Phq9, 4, true, None),
            (Phq9, 5, false, None),
            (QidsSr16, 5, true, None),
            (QidsSr16, 6, false, None),
            (Hamd17, 7, true, None),
            (Hamd17, 8, false, None),
            (Madrs, 0, true, Some(true)),
            (Hamd17, 52, false, None),
        ];
        for (scale, total, remitted, alternative) in cases {
            let status = remission_status(scale, total, &settings());
            assert_eq!(
                (status.remitted, status.alternative.map(|alternative| alternative.remitted)),
                (remitted, alternative),
                "{scale:?} {total}"
            );
        }
    }

    #[test]
    fn baseline_choice() {
        check(Madrs, "0=30 7=34 14=20", Some(7), "baseline", "d7=34 before treatment");
        check(Madrs, "0=30 7=34 14=20", Some(10), "baseline", "d7=34 before treatment");
        check(Madrs, "0=30 7=34 14=20", Some(3), "baseline", "d0=30 before treatment");
        check(Madrs, "7=34 14=20", Some(3), "baseline", "d7=34 earliest");
        check(Madrs, "7=34 14=20", None, "baseline", "d7=34 earliest");
        // An assessment without a total is not a result.
        check(Madrs, "0=30 7=- 14=20", Some(7), "baseline", "d0=30 before treatment");
        check(Madrs, "0=- 7=-", Some(7), "baseline", "? a MADRS total to serve as baseline");
        check(Madrs, "", None, "baseline", "? a MADRS total to serve as baseline");
        check(Madrs, "", None, "latest", "? a MADRS total to serve as baseline");
        check(Phq9, "", None, "relapse", "? a PHQ-9 total to serve as baseline");
        check(Hamd17, "", None, "relapse", "not defined for scale");
    }

    #[test]
    fn latest_outcome_against_baseline() {
        check(Madrs, "0=30 7=20 14=12", Some(0), "latest", "d14=12 -60% response not alt remitted");
        check(Madrs, "0=30 7=20 14=10", Some(0), "latest", "d14=10 -66.7% response remitted alt remitted");
        check(Madrs, "0=30 7=20", Some(0), "latest", "d7=20 -33.3% partial_response not alt not");
        // The latest assessment with a total is used, and its date is shown.
        check(Madrs, "0=30 7=20 14=-", Some(0), "latest", "d7=20 -33.3% partial_response not alt not");
        check(Phq9, "0=20 7=4", Some(0), "latest", "d7=4 -80% response remitted");
        check(
            Phq9,
            "0=0 7=4",
            Some(0),
            "latest",
            "d7=4 ? a baseline total above 0 (a percent change from 0 is undefined)% ? a baseline total above 0 (a reduction from 0 is undefined) remitted",
        );
        check(Madrs, "0=30", Some(0), "latest", "? a MADRS total after the baseline of 2026-01-05");
    }

    #[test]
    fn time_to_first_response_and_remission() {
        let written = "-7=40 0=36 7=30 14=18 21=10 28=9";
        check(Madrs, written, Some(0), "response", "d14 (14 days)");
        check(Madrs, written, Some(0), "remission", "d21 (21 days)");
        // Counted from the first treatment date when it is later than the baseline.
        check(Madrs, written, Some(2), "response", "d14 (12 days)");
        // Without a treatment date: the earliest result is baseline and the clock starts there.
        check(Madrs, written, None, "response", "d14 (21 days)");
        check(Madrs, "0=36 7=30 14=28", Some(0), "response", "never");
        check(Madrs, "0=36 7=30 14=28", Some(0), "remission", "never");
        // A missing total before the first observed event could have been the event.
        check(Madrs, "0=36 7=- 14=18", Some(0), "response", "? the MADRS total of 2026-01-12");
        check(Madrs, "0=36 7=- 14=30", Some(0), "response", "? the MADRS total of 2026-01-12");
        check(Madrs, "0=36 7=18 14=-", Some(0), "response", "d7 (7 days)");
        check(Phq9, "0=0 7=4", Some(0), "response", "? a baseline total above 0 (needed to judge response)");
        check(Phq9, "0=0 7=4", Some(0), "remission", "d7 (7 days)");
        check(QidsSr16, "0=16 14=5", Some(0), "remission", "d14 (14 days)");
        check(Hamd17, "0=24 14=8 21=7", Some(0), "remission", "d21 (21 days)");
    }

    #[test]
    fn sustained_remission_over_the_last_four_assessments() {
        check(Madrs, "0=36 7=10 14=9 21=12 28=8", Some(0), "sustained", "true");
        check(Madrs, "0=36 7=10 14=9 21=8 28=8", Some(0), "sustained", "true");
        check(Madrs, "0=36 7=10 14=14 21=12 28=8", Some(0), "sustained", "false");
        // Only the last four count.
        check(Madrs, "0=36 7=30 14=10 21=9 28=8 35=20", Some(0), "sustained", "true");
        check(Madrs, "0=36 7=10 14=9 21=8 28=20 35=20", Some(0), "sustained", "false");
        // A missing total is unknown: it decides only when it could tip the count.
        check(Madrs, "0=36 7=10 14=9 21=- 28=20", Some(0), "sustained", "? the MADRS total of 2026-01-26");
        check(Madrs, "0=36 7=10 14=9 21=- 28=8", Some(0), "sustained", "true");
        check(Madrs, "0=36 7=20 14=20 21=- 28=8", Some(0), "sustained", "false");
        check(
            Madrs,
            "0=36 7=10 14=9",
            Some(0),
            "sustained",
            "? 2 more MADRS assessment(s) after baseline (sustained remission looks at the last 4, found 2)",
        );
        check(Phq9, "0=20 7=4 14=3 21=4 28=2", Some(0), "sustained", "true");
    }

    #[test]
    fn relapse_after_response_on_madrs() {
        // Response at d14 (36 → 16), then 22 and 24 seven days apart.
        check(Madrs, "0=36 14=16 21=22 28=24", Some(0), "relapse", "relapsed d21 confirmed d28");
        // Exactly 5 and exactly 15 days apart qualify; 4 and 16 do not.
        check(Madrs, "0=36 14=16 21=22 26=24", Some(0), "relapse", "relapsed d21 confirmed d26");
        check(Madrs, "0=36 14=16 21=22 36=24", Some(0), "relapse", "relapsed d21 confirmed d36");
        check(Madrs, "0=36 14=16 21=22 25=24", Some(0), "relapse", "no relapse");
        check(Madrs, "0=36 14=16 21=22 37=24", Some(0), "relapse", "no relapse");
        // Only consecutive assessments pair up.
        check(Madrs, "0=36 14=16 21=22 28=12 35=25", Some(0), "relapse", "no relapse");
        check(Madrs, "0=36 14=16 21=21 28=30", Some(0), "relapse", "no relapse");
        // Remission without a 50 % fall also opens the window (baseline 20 → 10 is both here).
        check(Madrs, "0=20 14=10 21=22 28=22", Some(0), "relapse", "relapsed d21 confirmed d28");
        // Never responded or remitted: nothing to relapse from, however high the totals.
        check(Madrs, "0=36 14=30 21=32 28=34", Some(0), "relapse", "no response or remission yet");
        // The response assessment itself does not start the pair.
        check(Madrs, "0=50 14=24 21=25", Some(0), "relapse", "no relapse");
        // PHQ-9 from 10 and QIDS-SR16 from 11 (PROJECT DEFAULTS), on the same pairing rule.
        check(Phq9, "0=20 7=4 14=10 21=12", Some(0), "relapse", "relapsed d14 confirmed d21");
        check(Phq9, "0=20 7=4 14=9 21=12", Some(0), "relapse", "no relapse");
        check(QidsSr16, "0=18 7=5 14=11 21=11", Some(0), "relapse", "relapsed d14 confirmed d21");
        check(QidsSr16, "0=18 7=5 14=10 21=11", Some(0), "relapse", "no relapse");
        check(Hamd17, "0=24 7=4 14=24 21=24", Some(0), "relapse", "not defined for scale");
    }

    #[test]
    fn relapse_with_missing_totals() {
        check(Madrs, "0=36 14=16 21=22 28=-", Some(0), "relapse", "? the MADRS total of 2026-02-02");
        // A low total in the pair settles it whatever the missing one was.
        check(Madrs, "0=36 14=16 21=12 28=-", Some(0), "relapse", "no relapse");
        check(Madrs, "0=36 14=- 21=30", Some(0), "relapse", "? the MADRS total of 2026-01-19");
        // A missing total before the response leaves an earlier response possible, which would make
        // the pair d14–d21 a relapse.
        check(Madrs, "0=36 7=- 14=30 21=30 28=16", Some(0), "relapse", "? the MADRS total of 2026-01-12");
        check(Madrs, "0=36 7=- 14=30 21=30 28=16 35=25 42=26", Some(0), "relapse", "relapsed d35 confirmed d42");
    }

    #[test]
    fn bad_series_are_rejected_with_the_date_named() {
        let too_high = ScoreSeries::new(Phq9, vec![Assessment { date: day(0), total: Some(28) }]);
        assert_eq!(too_high.unwrap_err().to_string(), "assessment on 2026-01-05: total must be 0-27 for phq9, got 28");
        let twice = ScoreSeries::new(
            Madrs,
            vec![Assessment { date: day(7), total: Some(20) }, Assessment { date: day(7), total: Some(21) }],
        );
        assert_eq!(
            twice.unwrap_err().to_string(),
            "assessment on 2026-01-12: appears twice; one madrs assessment per date is expected"
        );
        // Out-of-order input is sorted.
        let unordered = ScoreSeries::new(
            Madrs,
            vec![Assessment { date: day(7), total: Some(20) }, Assessment { date: day(0), total: Some(30) }],
        )
        .unwrap();
        assert_eq!(unordered.assessments()[0].date, day(0));
    }

    fn outcome_scale() -> impl Strategy<Value = OutcomeScale> {
        prop::sample::select(OutcomeScale::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn percent_change_of_equal_totals_is_zero(total in 1u8..=60) {
            prop_assert_eq!(percent_change(total, total), Determination::Determined(Decimal::ZERO));
        }

        #[test]
        fn percent_change_falls_exactly_when_the_total_falls(baseline in 1u8..=60, current in 0u8..=60) {
            let change = *percent_change(baseline, current).determined().unwrap();
            prop_assert_eq!(change < Decimal::ZERO, current < baseline);
            prop_assert_eq!(change > Decimal::ZERO, current > baseline);
            prop_assert!(change >= Decimal::from(-100));
        }

        #[test]
        fn response_implies_the_partial_response_threshold_is_passed(baseline in 1u8..=60, current in 0u8..=60) {
            let settings = settings();
            let status = *classify_response(baseline, current, &settings).determined().unwrap();
            let reduction = -*percent_change(baseline, current).determined().unwrap();
            if status == ResponseStatus::Response {
                prop_assert!(reduction >= settings.partial_response_min_reduction_pct.value);
                prop_assert!(reduction >= settings.response_min_reduction_pct.value);
            }
            // Independent integer statement of the default bands: response iff 2 × current ≤ baseline,
            // at least partial iff 4 × current ≤ 3 × baseline.
            let expected = if 2 * u32::from(current) <= u32::from(baseline) {
                ResponseStatus::Response
            } else if 4 * u32::from(current) <= 3 * u32::from(baseline) {
                ResponseStatus::PartialResponse
            } else {
                ResponseStatus::NonResponse
            };
            prop_assert_eq!(status, expected);
        }

        #[test]
        fn response_status_never_worsens_as_the_total_falls(baseline in 1u8..=60, lower in 0u8..=60, higher in 0u8..=60) {
            prop_assume!(lower <= higher);
            let settings = settings();
            let at_lower = *classify_response(baseline, lower, &settings).determined().unwrap();
            let at_higher = *classify_response(baseline, higher, &settings).determined().unwrap();
            prop_assert!(at_lower >= at_higher);
        }

        #[test]
        fn remission_is_monotone_in_the_total(scale in outcome_scale(), lower in 0u8..=60, higher in 0u8..=60) {
            prop_assume!(lower <= higher && higher <= scale.max_total());
            let settings = settings();
            if is_remitted(scale, higher, &settings) {
                prop_assert!(is_remitted(scale, lower, &settings));
            }
        }

        #[test]
        fn series_findings_are_consistent(
            scale in outcome_scale(),
            totals in prop::collection::vec(prop::option::weighted(0.9, 0u8..=27), 0..10),
            gaps in prop::collection::vec(1i32..=14, 10),
        ) {
            let mut offset = 0;
            let assessments: Vec<Assessment> = totals
                .iter()
                .zip(&gaps)
                .map(|(total, gap)| {
                    offset += gap;
                    Assessment { date: day(offset), total: *total }
                })
                .collect();
            let series = ScoreSeries::new(scale, assessments.clone()).unwrap();
            let settings = settings();
            let report = evaluate_outcomes(&series, Some(day(0)), &settings);
            // No result at all ⇔ no baseline.
            prop_assert_eq!(report.baseline.determined().is_none(), assessments.iter().all(|a| a.total.is_none()));
            // Events happen after the start of treatment, on a follow-up whose total qualifies.
            if let Determination::Determined(Some(milestone)) = &report.first_remission {
                prop_assert!(milestone.days > 0);
                let total = assessments.iter().find(|a| a.date == milestone.date).unwrap().total.unwrap();
                prop_assert!(is_remitted(scale, total, &settings));
            }
            if let Determination::Determined(Some(milestone)) = &report.first_response {
                let baseline = report.baseline.determined().unwrap().total;
                let total = assessments.iter().find(|a| a.date == milestone.date).unwrap().total.unwrap();
                prop_assert_eq!(classify_response(baseline, total, &settings), Determination::Determined(ResponseStatus::Response));
            }
            // A relapse needs a prior response or remission.
            if let Determination::Determined(RelapseStatus::Relapsed { first_date, .. }) = report.relapse {
                prop_assert_ne!(scale, Hamd17);
                if let Determination::Determined(Some(first_remission)) = &report.first_remission
                    && let Determination::Determined(Some(first_response)) = &report.first_response {
                        prop_assert!(first_date > first_remission.date.min(first_response.date));
                    }
            }
        }
    }
}
