//! Rating scales (KNOWLEDGE §5.1–§5.9): one module per scale validates that scale's answers and scores
//! them; this module names the scales, holds what they share, and scores any scale from a list of answers.
//!
//! Answers arrive as `Option<u8>` per item, so a missing answer is expressible. Only the PHQ-9 has a
//! rule for missing items (KNOWLEDGE §5.1, a protocol setting); every other scale needs each item it
//! sums, and a missing one is an [`InvalidScaleAnswers::Missing`] error naming the item.

pub mod bprs_positive;
pub mod cadss;
pub mod cssrs;
pub mod gad7;
pub mod hamd17;
pub mod madrs;
pub mod moaas;
pub mod phq9;
pub mod qids_sr16;

use std::fmt;
use std::str::FromStr;

use crate::protocol::{InvalidProtocol, SectionReader, Setting};

pub use bprs_positive::{BprsPositiveScore, score_bprs_positive};
pub use cadss::{Cadss6Score, Cadss23Score, score_cadss6, score_cadss23};
pub use cssrs::{CssrsAnswers, CssrsResponses, CssrsScreen, ScreenedRisk, SuicideRisk, assess_cssrs, score_cssrs};
pub use gad7::{Gad7Score, score_gad7};
pub use hamd17::{Hamd17Score, Hamd17SeverityBands, score_hamd17};
pub use madrs::{MadrsScore, score_madrs};
pub use moaas::{MoaasScore, score_moaas};
pub use phq9::{Phq9MissingItemRule, Phq9Score, Phq9Total, score_phq9};
pub use qids_sr16::{QidsSr16Domains, QidsSr16Score, score_qids_sr16};

/// The scales ketacare scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scale {
    Phq9,
    Gad7,
    Madrs,
    QidsSr16,
    Hamd17,
    Cadss23,
    Cadss6,
    BprsPositive,
    Moaas,
    Cssrs,
}

impl Scale {
    /// Every scale, in the order the documentation lists them.
    pub const ALL: [Scale; 10] = [
        Scale::Phq9,
        Scale::Gad7,
        Scale::Madrs,
        Scale::QidsSr16,
        Scale::Hamd17,
        Scale::Cadss23,
        Scale::Cadss6,
        Scale::BprsPositive,
        Scale::Moaas,
        Scale::Cssrs,
    ];

    /// The machine name used on the command line and in JSON (`phq9`, `qids_sr16`, …).
    pub fn name(self) -> &'static str {
        match self {
            Scale::Phq9 => "phq9",
            Scale::Gad7 => "gad7",
            Scale::Madrs => "madrs",
            Scale::QidsSr16 => "qids_sr16",
            Scale::Hamd17 => "hamd17",
            Scale::Cadss23 => "cadss23",
            Scale::Cadss6 => "cadss6",
            Scale::BprsPositive => "bprs_positive",
            Scale::Moaas => "moaas",
            Scale::Cssrs => "cssrs",
        }
    }

    /// The name a clinician reads (`PHQ-9`, `QIDS-SR16`, …).
    pub fn title(self) -> &'static str {
        match self {
            Scale::Phq9 => "PHQ-9",
            Scale::Gad7 => "GAD-7",
            Scale::Madrs => "MADRS",
            Scale::QidsSr16 => "QIDS-SR16",
            Scale::Hamd17 => "HAM-D17",
            Scale::Cadss23 => "CADSS-23",
            Scale::Cadss6 => "CADSS-6",
            Scale::BprsPositive => "BPRS positive subscale",
            Scale::Moaas => "MOAA/S",
            Scale::Cssrs => "C-SSRS screener",
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A scale name that is not one of [`Scale::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "scale \"{given}\": must be one of phq9, gad7, madrs, qids_sr16, hamd17, cadss23, cadss6, bprs_positive, moaas, cssrs"
)]
pub struct InvalidScaleName {
    pub given: String,
}

impl FromStr for Scale {
    type Err = InvalidScaleName;
    fn from_str(word: &str) -> Result<Self, InvalidScaleName> {
        Scale::ALL
            .into_iter()
            .find(|scale| scale.name() == word)
            .ok_or_else(|| InvalidScaleName { given: word.to_owned() })
    }
}

/// How an error names the answer it is about: `item 3` for numbered items, `q3` for C-SSRS questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemName {
    /// A numbered item of the scale (1-based, as printed on the form).
    Item(u8),
    /// A named question (C-SSRS `q1`…`q6`, `q6_within_3_months`).
    Question(&'static str),
}

impl fmt::Display for ItemName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemName::Item(number) => write!(formatter, "item {number}"),
            ItemName::Question(name) => formatter.write_str(name),
        }
    }
}

/// Answers that cannot be scored. Each variant but the count names the item it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidScaleAnswers {
    #[error("{scale}: expected {expected}, got {got}")]
    WrongCount { scale: Scale, expected: &'static str, got: usize },
    #[error("{item}: must be {min}-{max}, got {got}")]
    OutOfRange { item: ItemName, min: u8, max: u8, got: u8 },
    #[error("{item}: is missing; {reason}")]
    Missing { item: ItemName, reason: &'static str },
    #[error("{item}: {reason}")]
    Inconsistent { item: ItemName, reason: &'static str },
}

impl InvalidScaleAnswers {
    /// The item the error is about, if it is about one item.
    pub fn item(&self) -> Option<ItemName> {
        match self {
            InvalidScaleAnswers::WrongCount { .. } => None,
            InvalidScaleAnswers::OutOfRange { item, .. }
            | InvalidScaleAnswers::Missing { item, .. }
            | InvalidScaleAnswers::Inconsistent { item, .. } => Some(*item),
        }
    }
}

/// A severity band. Each scale uses its own subset, in the words of its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// MADRS (Snaith): "absent".
    Absent,
    /// QIDS-SR16 and HAM-D17: "none".
    None,
    /// PHQ-9 and GAD-7: "minimal".
    Minimal,
    Mild,
    Moderate,
    /// PHQ-9 only.
    ModeratelySevere,
    Severe,
    /// QIDS-SR16, and HAM-D17 under the IDS/QIDS bands.
    VerySevere,
}

impl Severity {
    /// The machine word used in JSON (`moderately_severe`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Absent => "absent",
            Severity::None => "none",
            Severity::Minimal => "minimal",
            Severity::Mild => "mild",
            Severity::Moderate => "moderate",
            Severity::ModeratelySevere => "moderately_severe",
            Severity::Severe => "severe",
            Severity::VerySevere => "very_severe",
        }
    }

    /// The words a person reads (`moderately severe`).
    pub fn label(self) -> &'static str {
        match self {
            Severity::ModeratelySevere => "moderately severe",
            Severity::VerySevere => "very severe",
            other => other.as_str(),
        }
    }
}

/// A band table: each entry is the lowest total of a band and the band, in rising order from 0.
pub type SeverityBands = [(u8, Severity)];

/// The band `total` falls in: the last band whose lowest total is at most `total`.
pub fn band_of(total: u8, bands: &SeverityBands) -> Severity {
    bands
        .iter()
        .rev()
        .find(|(lowest_total, _)| *lowest_total <= total)
        .map(|(_, band)| *band)
        .expect("bands start at 0")
}

/// The answer of a suicide-related item (PHQ-9 item 9, QIDS-SR16 item 12) read against the
/// protocol's screen threshold (KNOWLEDGE §5.1, §5.3 PROJECT DEFAULT: ≥1 → C-SSRS before dosing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuicideItemFlag {
    /// At or above the threshold: a C-SSRS screen is required before dosing.
    ScreenRequired { score: u8 },
    /// Below the threshold.
    Clear { score: u8 },
    /// Not answered. Treated as requiring the screen: a missing answer cannot rule out suicidal thoughts.
    Missing,
}

impl SuicideItemFlag {
    pub(crate) fn read(answer: Option<u8>, screen_from: i64) -> SuicideItemFlag {
        match answer {
            Some(score) if i64::from(score) >= screen_from => SuicideItemFlag::ScreenRequired { score },
            Some(score) => SuicideItemFlag::Clear { score },
            None => SuicideItemFlag::Missing,
        }
    }

    /// Whether a C-SSRS screen must be done before dosing (true when the item is positive or missing).
    pub fn screen_required(self) -> bool {
        !matches!(self, SuicideItemFlag::Clear { .. })
    }
}

/// Checks the number of answers against the counts the scale accepts.
pub(crate) fn expect_count(
    scale: Scale,
    answers: &[Option<u8>],
    accepted_counts: &[usize],
    expected: &'static str,
) -> Result<(), InvalidScaleAnswers> {
    if accepted_counts.contains(&answers.len()) {
        Ok(())
    } else {
        Err(InvalidScaleAnswers::WrongCount { scale, expected, got: answers.len() })
    }
}

/// Checks one optional answer against its range.
pub(crate) fn checked_answer(
    answer: Option<u8>,
    item: ItemName,
    min: u8,
    max: u8,
) -> Result<Option<u8>, InvalidScaleAnswers> {
    match answer {
        Some(got) if got < min || got > max => Err(InvalidScaleAnswers::OutOfRange { item, min, max, got }),
        other => Ok(other),
    }
}

/// Checks one answer the total needs: present and in range.
pub(crate) fn required_answer(
    answer: Option<u8>,
    item: ItemName,
    min: u8,
    max: u8,
    scale: Scale,
) -> Result<u8, InvalidScaleAnswers> {
    checked_answer(answer, item, min, max)?.ok_or(InvalidScaleAnswers::Missing { item, reason: missing_reason(scale) })
}

fn missing_reason(scale: Scale) -> &'static str {
    match scale {
        Scale::Gad7 => "every gad7 item is needed for a total",
        Scale::Madrs => "every madrs item is needed for a total",
        Scale::QidsSr16 => "every qids_sr16 item is needed for the domain scores",
        Scale::Hamd17 => "every hamd17 item is needed for a total",
        Scale::Cadss23 => "every cadss23 item is needed for a total",
        Scale::Cadss6 => "every cadss6 item given is needed for a total",
        Scale::BprsPositive => "every bprs_positive item is needed for a total",
        Scale::Moaas => "the moaas score is the only answer",
        Scale::Phq9 | Scale::Cssrs => "this answer is needed",
    }
}

/// Checks a list of same-range items numbered from 1, all required.
pub(crate) fn required_items(
    scale: Scale,
    answers: &[Option<u8>],
    min: u8,
    max: u8,
) -> Result<Vec<u8>, InvalidScaleAnswers> {
    answers
        .iter()
        .enumerate()
        .map(|(index, answer)| required_answer(*answer, item_number(index), min, max, scale))
        .collect()
}

/// The 1-based item name of the answer at `index`.
pub(crate) fn item_number(index: usize) -> ItemName {
    ItemName::Item(u8::try_from(index + 1).expect("scales have fewer than 255 items"))
}

/// The name of the answer at `index` (0-based) when `scale` is given `answer_count` answers, as errors
/// name it: `item 3`; `q2` for the C-SSRS; the original item number for a six-answer CADSS-6.
pub fn answer_item_name(scale: Scale, index: usize, answer_count: usize) -> ItemName {
    match scale {
        Scale::Cssrs => cssrs::CSSRS_QUESTIONS.get(index).map_or(item_number(index), |name| ItemName::Question(name)),
        Scale::Cadss6 if answer_count == cadss::CADSS6_ITEMS.len() => ItemName::Item(cadss::CADSS6_ITEMS[index]),
        _ => item_number(index),
    }
}

/// Sum of item scores; every scale's total fits in a `u8` (the largest, CADSS-23, is 92).
pub(crate) fn sum_items(items: &[u8]) -> u8 {
    items.iter().sum()
}

/// A scored scale, whichever it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleScore {
    Phq9(Phq9Score),
    Gad7(Gad7Score),
    Madrs(MadrsScore),
    QidsSr16(QidsSr16Score),
    Hamd17(Hamd17Score),
    Cadss23(Cadss23Score),
    Cadss6(Cadss6Score),
    BprsPositive(BprsPositiveScore),
    Moaas(MoaasScore),
    Cssrs(CssrsScreen),
}

impl ScaleScore {
    pub fn scale(&self) -> Scale {
        match self {
            ScaleScore::Phq9(_) => Scale::Phq9,
            ScaleScore::Gad7(_) => Scale::Gad7,
            ScaleScore::Madrs(_) => Scale::Madrs,
            ScaleScore::QidsSr16(_) => Scale::QidsSr16,
            ScaleScore::Hamd17(_) => Scale::Hamd17,
            ScaleScore::Cadss23(_) => Scale::Cadss23,
            ScaleScore::Cadss6(_) => Scale::Cadss6,
            ScaleScore::BprsPositive(_) => Scale::BprsPositive,
            ScaleScore::Moaas(_) => Scale::Moaas,
            ScaleScore::Cssrs(_) => Scale::Cssrs,
        }
    }

    /// The total (MOAA/S: the single score); `None` for the C-SSRS, which has no total, and for a
    /// PHQ-9 with too many missing items.
    pub fn total(&self) -> Option<u8> {
        match self {
            ScaleScore::Phq9(score) => score.total.total(),
            ScaleScore::Gad7(score) => Some(score.total),
            ScaleScore::Madrs(score) => Some(score.total),
            ScaleScore::QidsSr16(score) => Some(score.total),
            ScaleScore::Hamd17(score) => Some(score.total),
            ScaleScore::Cadss23(score) => Some(score.total),
            ScaleScore::Cadss6(score) => Some(score.total),
            ScaleScore::BprsPositive(score) => Some(score.total),
            ScaleScore::Moaas(score) => Some(score.score),
            ScaleScore::Cssrs(_) => None,
        }
    }

    /// The severity band, for the scales that have one.
    pub fn severity(&self) -> Option<Severity> {
        match self {
            ScaleScore::Phq9(score) => score.total.severity(),
            ScaleScore::Gad7(score) => Some(score.severity),
            ScaleScore::Madrs(score) => Some(score.severity),
            ScaleScore::QidsSr16(score) => Some(score.severity),
            ScaleScore::Hamd17(score) => Some(score.severity),
            _ => None,
        }
    }
}

/// The severity band of a total given without its items, for the scales that have bands.
pub fn severity_of_total(scale: Scale, total: u8, settings: &ScalesSettings) -> Option<Severity> {
    match scale {
        Scale::Phq9 => Some(band_of(total, phq9::PHQ9_BANDS)),
        Scale::Gad7 => Some(band_of(total, gad7::GAD7_BANDS)),
        Scale::Madrs => Some(band_of(total, madrs::MADRS_BANDS)),
        Scale::QidsSr16 => Some(band_of(total, qids_sr16::QIDS_SR16_BANDS)),
        Scale::Hamd17 => Some(band_of(total, settings.hamd17_severity_bands.value.bands())),
        _ => None,
    }
}

/// Scores `scale` from its answers in form order (`None` = not answered), under the protocol's settings.
/// This is the one entry point the command line uses; each scale also has its own `score_*` function.
pub fn score_scale(
    scale: Scale,
    answers: &[Option<u8>],
    settings: &ScalesSettings,
) -> Result<ScaleScore, InvalidScaleAnswers> {
    Ok(match scale {
        Scale::Phq9 => ScaleScore::Phq9(score_phq9(answers, settings)?),
        Scale::Gad7 => ScaleScore::Gad7(score_gad7(answers)?),
        Scale::Madrs => ScaleScore::Madrs(score_madrs(answers)?),
        Scale::QidsSr16 => ScaleScore::QidsSr16(score_qids_sr16(answers, settings)?),
        Scale::Hamd17 => ScaleScore::Hamd17(score_hamd17(answers, settings)?),
        Scale::Cadss23 => ScaleScore::Cadss23(score_cadss23(answers)?),
        Scale::Cadss6 => ScaleScore::Cadss6(score_cadss6(answers)?),
        Scale::BprsPositive => ScaleScore::BprsPositive(score_bprs_positive(answers)?),
        Scale::Moaas => ScaleScore::Moaas(score_moaas(answers, settings)?),
        Scale::Cssrs => ScaleScore::Cssrs(score_cssrs(answers)?),
    })
}

/// The `[scales]` section of the site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalesSettings {
    /// What to do with missing PHQ-9 items (KNOWLEDGE §5.1 PROJECT DEFAULT, UNCONFIRMED).
    pub phq9_missing_item_rule: Setting<Phq9MissingItemRule>,
    /// PHQ-9 item 9 score from which a C-SSRS screen is required (KNOWLEDGE §5.1 PROJECT DEFAULT: 1).
    pub phq9_item9_screen_from: Setting<i64>,
    /// QIDS-SR16 item 12 score from which a C-SSRS screen is required (KNOWLEDGE §5.3 PROJECT DEFAULT: 1).
    pub qids_sr16_item12_screen_from: Setting<i64>,
    /// Which HAM-D17 severity bands to report (KNOWLEDGE §5.4 CONFLICT; default Zimmerman 2013).
    pub hamd17_severity_bands: Setting<Hamd17SeverityBands>,
    /// MOAA/S scores below this count as sedation (KNOWLEDGE §5.8, UNCONFIRMED: <5).
    pub moaas_sedated_below: Setting<i64>,
}

impl ScalesSettings {
    pub(crate) fn read(mut section: SectionReader) -> Result<Self, InvalidProtocol> {
        let settings = ScalesSettings {
            phq9_missing_item_rule: section.take_choice("phq9_missing_item_rule", &["prorate_one", "no_total"])?,
            // KNOWLEDGE §5.1: items score 0–3, so a threshold outside 1–3 would never or always fire.
            phq9_item9_screen_from: section.take_integer_in("phq9_item9_screen_from", 1, 3)?,
            // KNOWLEDGE §5.3: items score 0–3.
            qids_sr16_item12_screen_from: section.take_integer_in("qids_sr16_item12_screen_from", 1, 3)?,
            hamd17_severity_bands: section.take_choice("hamd17_severity_bands", &["zimmerman_2013", "ids_qids"])?,
            // KNOWLEDGE §5.8: scores 0–5.
            moaas_sedated_below: section.take_integer_in("moaas_sedated_below", 1, 5)?,
        };
        section.finish()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn scale_names_round_trip_and_unknown_names_are_rejected() {
        for scale in Scale::ALL {
            assert_eq!(scale.name().parse::<Scale>(), Ok(scale));
        }
        let error = "phq-9".parse::<Scale>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "scale \"phq-9\": must be one of phq9, gad7, madrs, qids_sr16, hamd17, cadss23, cadss6, bprs_positive, moaas, cssrs"
        );
    }

    fn check(scale: &str, answers: &[Option<u8>], expected: Result<(Option<u8>, Option<&str>), &str>) {
        let settings = Protocol::shipped().scales;
        let scale: Scale = scale.parse().unwrap();
        let got = score_scale(scale, answers, &settings)
            .map(|score| (score.total(), score.severity().map(Severity::as_str)))
            .map_err(|error| error.to_string());
        assert_eq!(got, expected.map_err(str::to_owned), "{scale} {answers:?}");
    }

    fn all(count: usize, value: u8) -> Vec<Option<u8>> {
        vec![Some(value); count]
    }

    #[test]
    fn every_scale_scores_through_the_one_entry_point() {
        check("phq9", &all(9, 3), Ok((Some(27), Some("severe"))));
        check("gad7", &all(7, 2), Ok((Some(14), Some("moderate"))));
        check("madrs", &all(10, 6), Ok((Some(60), Some("severe"))));
        check("qids_sr16", &all(16, 3), Ok((Some(27), Some("very_severe"))));
        check("hamd17", &all(17, 2), Ok((Some(34), Some("severe"))));
        check("cadss23", &all(23, 4), Ok((Some(92), None)));
        check("cadss6", &all(6, 4), Ok((Some(24), None)));
        check("bprs_positive", &all(4, 1), Ok((Some(4), None)));
        check("moaas", &[Some(5)], Ok((Some(5), None)));
        check("cssrs", &[Some(1), Some(0), None, None, None, Some(0)], Ok((None, None)));
    }

    #[test]
    fn wrong_counts_name_what_was_expected() {
        check("phq9", &all(8, 0), Err("phq9: expected 9 or 10 answers, got 8"));
        check("gad7", &all(8, 0), Err("gad7: expected 7 answers, got 8"));
        check("madrs", &all(9, 0), Err("madrs: expected 10 answers, got 9"));
        check("qids_sr16", &all(9, 0), Err("qids_sr16: expected 16 answers, got 9"));
        check("hamd17", &all(16, 0), Err("hamd17: expected 17 answers, got 16"));
        check("cadss23", &all(6, 0), Err("cadss23: expected 23 answers, got 6"));
        check("cadss6", &all(7, 0), Err("cadss6: expected 6 or 23 answers, got 7"));
        check("bprs_positive", &all(18, 1), Err("bprs_positive: expected 4 answers, got 18"));
        check("moaas", &[], Err("moaas: expected 1 answer, got 0"));
        check("cssrs", &all(5, 0), Err("cssrs: expected 6 or 7 answers, got 5"));
    }

    #[test]
    fn missing_answers_are_named_on_scales_without_a_missing_item_rule() {
        let mut answers = all(10, 2);
        answers[3] = None;
        check("madrs", &answers, Err("item 4: is missing; every madrs item is needed for a total"));
        check("moaas", &[None], Err("item 1: is missing; the moaas score is the only answer"));
    }

    #[test]
    fn bands_pick_the_last_band_starting_at_or_below_the_total() {
        let bands = [(0, Severity::None), (5, Severity::Mild), (9, Severity::Severe)];
        let got: Vec<Severity> = [0, 4, 5, 8, 9, 200].into_iter().map(|total| band_of(total, &bands)).collect();
        assert_eq!(
            got,
            [Severity::None, Severity::None, Severity::Mild, Severity::Mild, Severity::Severe, Severity::Severe]
        );
    }

    #[test]
    fn a_missing_suicide_item_requires_the_screen() {
        assert!(SuicideItemFlag::read(None, 1).screen_required());
        assert!(SuicideItemFlag::read(Some(1), 1).screen_required());
        assert!(!SuicideItemFlag::read(Some(0), 1).screen_required());
        assert!(!SuicideItemFlag::read(Some(1), 2).screen_required());
    }
}
