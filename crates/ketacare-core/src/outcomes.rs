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
    /// The definition is on MADRS totals; this series is another scale.
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
                relapse: if series.scale == OutcomeScale::Madrs {
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

/// KNOWLEDGE §5.10 (UNCONFIRMED): MADRS at or above `relapse_madrs_from` on two consecutive assessments
/// `relapse_min_days_apart`–`relapse_max_days_apart` days apart, after response or remission.
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
    if scale != OutcomeScale::Madrs {
        return Determination::Determined(RelapseStatus::NotDefinedForScale);
    }
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
    let from = settings.relapse_madrs_from.value;
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
    /// … on 2 consecutive assessments 5–15 days apart.
    pub relapse_min_days_apart: Setting<i64>,
    pub relapse_max_days_apart: Setting<i64>,
    /// KNOWLEDGE §5.10 UNCONFIRMED: sustained remission = remission at ≥3 of the last 4 assessments.
    pub sustained_remission_window: Setting<i64>,
    pub sustained_remission_min_remitted: Setting<i64>,
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
            relapse_min_days_apart: section.take_integer_in("relapse_min_days_apart", 1, 365)?,
            relapse_max_days_apart: section.take_integer_in("relapse_max_days_apart", 1, 365)?,
            sustained_remission_window: section.take_integer_in("sustained_remission_window", 1, 52)?,
            sustained_remission_min_remitted: section.take_integer_in("sustained_remission_min_remitted", 1, 52)?,
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
