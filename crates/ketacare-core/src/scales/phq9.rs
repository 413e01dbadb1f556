//! PHQ-9 (KNOWLEDGE §5.1): nine items scored 0–3 summed to 0–27, an optional tenth difficulty answer
//! kept outside the total, the item-9 suicide-screen flag, and the protocol's missing-item rule.

use std::str::FromStr;

use super::{
    InvalidScaleAnswers, ItemName, Scale, ScalesSettings, Severity, SeverityBands, SuicideItemFlag, band_of,
    checked_answer, expect_count, item_number,
};

/// Number of scored items. KNOWLEDGE §5.1: 9 DSM symptom items.
pub const PHQ9_ITEM_COUNT: usize = 9;
/// Highest score of one item and of the difficulty answer. KNOWLEDGE §5.1: 0 not at all … 3 nearly every day.
pub const PHQ9_ITEM_MAX: u8 = 3;

/// KNOWLEDGE §5.1: 0–4 minimal/none, 5–9 mild, 10–14 moderate, 15–19 moderately severe, 20–27 severe.
pub const PHQ9_BANDS: &SeverityBands = &[
    (0, Severity::Minimal),
    (5, Severity::Mild),
    (10, Severity::Moderate),
    (15, Severity::ModeratelySevere),
    (20, Severity::Severe),
];

/// What to do when PHQ-9 items are missing (a protocol setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phq9MissingItemRule {
    /// KNOWLEDGE §5.1 PROJECT DEFAULT (UNCONFIRMED as an official rule): with exactly one item missing,
    /// the total is the mean of the other eight times nine, rounded half up, and flagged as prorated;
    /// with more than one missing there is no total.
    ProrateOne,
    /// No total whenever any item is missing.
    NoTotal,
}

impl Phq9MissingItemRule {
    pub fn as_str(self) -> &'static str {
        match self {
            Phq9MissingItemRule::ProrateOne => "prorate_one",
            Phq9MissingItemRule::NoTotal => "no_total",
        }
    }
}

impl FromStr for Phq9MissingItemRule {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "prorate_one" => Ok(Phq9MissingItemRule::ProrateOne),
            "no_total" => Ok(Phq9MissingItemRule::NoTotal),
            _ => Err(()),
        }
    }
}

/// The PHQ-9 total, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phq9Total {
    /// All nine items answered: the plain sum.
    Complete { total: u8, severity: Severity },
    /// One item missing, prorated under [`Phq9MissingItemRule::ProrateOne`].
    Prorated { total: u8, severity: Severity, missing_item: u8 },
    /// Too many items missing for the protocol's rule: the numbers of the missing items.
    Indeterminate { missing: Vec<u8> },
}

impl Phq9Total {
    pub fn total(&self) -> Option<u8> {
        match self {
            Phq9Total::Complete { total, .. } | Phq9Total::Prorated { total, .. } => Some(*total),
            Phq9Total::Indeterminate { .. } => None,
        }
    }

    pub fn severity(&self) -> Option<Severity> {
        match self {
            Phq9Total::Complete { severity, .. } | Phq9Total::Prorated { severity, .. } => Some(*severity),
            Phq9Total::Indeterminate { .. } => None,
        }
    }

    pub fn is_prorated(&self) -> bool {
        matches!(self, Phq9Total::Prorated { .. })
    }
}

/// A scored PHQ-9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phq9Score {
    /// Items 1–9 as answered.
    pub items: [Option<u8>; PHQ9_ITEM_COUNT],
    pub total: Phq9Total,
    /// Item 9 (thoughts of being better off dead or of self-harm) against the protocol's screen threshold.
    pub item9: SuicideItemFlag,
    /// The difficulty answer (0 not difficult at all … 3 extremely difficult); never part of the total.
    pub difficulty: Option<u8>,
}

impl Phq9Score {
    /// Whether a C-SSRS screen is required before dosing (item 9 positive or missing; KNOWLEDGE §5.1).
    pub fn suicide_screen_required(&self) -> bool {
        self.item9.screen_required()
    }
}

/// The words of the difficulty answer (KNOWLEDGE §5.1, paraphrased).
pub fn phq9_difficulty_label(difficulty: u8) -> &'static str {
    match difficulty {
        0 => "not difficult at all",
        1 => "somewhat difficult",
        2 => "very difficult",
        _ => "extremely difficult",
    }
}

/// Scores a PHQ-9 from 9 answers, or 10 with the difficulty answer last. `None` = not answered.
pub fn score_phq9(answers: &[Option<u8>], settings: &ScalesSettings) -> Result<Phq9Score, InvalidScaleAnswers> {
    expect_count(Scale::Phq9, answers, &[PHQ9_ITEM_COUNT, PHQ9_ITEM_COUNT + 1], "9 or 10 answers")?;
    let mut items = [None; PHQ9_ITEM_COUNT];
    for (index, answer) in answers.iter().take(PHQ9_ITEM_COUNT).enumerate() {
        items[index] = checked_answer(*answer, item_number(index), 0, PHQ9_ITEM_MAX)?;
    }
    let difficulty = match answers.get(PHQ9_ITEM_COUNT) {
        Some(answer) => checked_answer(*answer, ItemName::Item(10), 0, PHQ9_ITEM_MAX)?,
        None => None,
    };
    let answered: Vec<u8> = items.iter().flatten().copied().collect();
    let missing: Vec<u8> = (1..=9u8).filter(|number| items[usize::from(*number) - 1].is_none()).collect();
    let sum: u8 = answered.iter().sum();
    let total = match (missing.as_slice(), settings.phq9_missing_item_rule.value) {
        ([], _) => Phq9Total::Complete { total: sum, severity: band_of(sum, PHQ9_BANDS) },
        ([missing_item], Phq9MissingItemRule::ProrateOne) => {
            // KNOWLEDGE §5.1 PROJECT DEFAULT: mean of the 8 answered items × 9, rounded (half up).
            let prorated = u8::try_from((u16::from(sum) * 9 + 4) / 8).expect("at most 27");
            Phq9Total::Prorated {
                total: prorated,
                severity: band_of(prorated, PHQ9_BANDS),
                missing_item: *missing_item,
            }
        }
        _ => Phq9Total::Indeterminate { missing },
    };
    let item9 = SuicideItemFlag::read(items[8], settings.phq9_item9_screen_from.value);
    Ok(Phq9Score { items, total, item9, difficulty })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Protocol, Setting};

    /// The bands written out independently of [`PHQ9_BANDS`], straight from KNOWLEDGE §5.1.
    fn independent_band(total: u32) -> Severity {
        match total {
            0..=4 => Severity::Minimal,
            5..=9 => Severity::Mild,
            10..=14 => Severity::Moderate,
            15..=19 => Severity::ModeratelySevere,
            20..=27 => Severity::Severe,
            _ => unreachable!("a PHQ-9 total is at most 27"),
        }
    }

    #[test]
    fn every_one_of_the_4_pow_9_answer_vectors_scores_as_defined() {
        let settings = Protocol::shipped().scales;
        let mut answers = [Some(0u8); PHQ9_ITEM_COUNT];
        for code in 0..4u32.pow(9) {
            let mut rest = code;
            for answer in &mut answers {
                *answer = Some((rest % 4) as u8);
                rest /= 4;
            }
            let expected_total: u32 = answers.iter().map(|answer| u32::from(answer.unwrap())).sum();
            let score = score_phq9(&answers, &settings).unwrap();
            assert_eq!(
                score.total,
                Phq9Total::Complete { total: expected_total as u8, severity: independent_band(expected_total) },
                "{answers:?}"
            );
            assert_eq!(score.suicide_screen_required(), answers[8] != Some(0), "{answers:?}");
        }
    }

    #[test]
    fn every_answer_vector_with_one_item_missing_is_prorated_as_defined() {
        // 9 missing positions × 4^8 answer vectors; the independent definition rounds in floating point.
        let settings = Protocol::shipped().scales;
        for missing_position in 0..PHQ9_ITEM_COUNT {
            for code in 0..4u32.pow(8) {
                let mut rest = code;
                let mut answers = [None; PHQ9_ITEM_COUNT];
                for (position, answer) in answers.iter_mut().enumerate() {
                    if position != missing_position {
                        *answer = Some((rest % 4) as u8);
                        rest /= 4;
                    }
                }
                let sum: u32 = answers.iter().flatten().map(|answer| u32::from(*answer)).sum();
                let expected_total = (f64::from(sum) / 8.0 * 9.0 + 0.5).floor() as u32;
                let score = score_phq9(&answers, &settings).unwrap();
                assert_eq!(
                    score.total,
                    Phq9Total::Prorated {
                        total: expected_total as u8,
                        severity: independent_band(expected_total),
                        missing_item: missing_position as u8 + 1,
                    },
                    "{answers:?}"
                );
                let item9_positive_or_missing = answers[8] != Some(0);
                assert_eq!(score.suicide_screen_required(), item9_positive_or_missing, "{answers:?}");
            }
        }
    }

    fn check(answers: &str, expected: Result<&str, &str>) {
        check_with(Phq9MissingItemRule::ProrateOne, answers, expected);
    }

    /// `answers` is a compact string: one character per answer, `-` for missing.
    /// `expected` is `total/band[/prorated item N]/screen|clear|missing[/difficulty D]` or an error message.
    fn check_with(rule: Phq9MissingItemRule, answers: &str, expected: Result<&str, &str>) {
        let mut settings = Protocol::shipped().scales;
        settings.phq9_missing_item_rule = Setting { value: rule, source: "test".to_owned() };
        let answers: Vec<Option<u8>> =
            answers.chars().map(|answer| answer.to_digit(10).map(|digit| digit as u8)).collect();
        let got = score_phq9(&answers, &settings).map_err(|error| error.to_string()).map(|score| {
            let mut parts = vec![match &score.total {
                Phq9Total::Complete { total, severity } => format!("{total}/{}", severity.as_str()),
                Phq9Total::Prorated { total, severity, missing_item } => {
                    format!("{total}/{}/prorated item {missing_item}", severity.as_str())
                }
                Phq9Total::Indeterminate { missing } => format!("no total, missing {missing:?}"),
            }];
            parts.push(
                match score.item9 {
                    SuicideItemFlag::ScreenRequired { .. } => "screen",
                    SuicideItemFlag::Clear { .. } => "clear",
                    SuicideItemFlag::Missing => "missing",
                }
                .to_owned(),
            );
            if let Some(difficulty) = score.difficulty {
                parts.push(format!("difficulty {difficulty}"));
            }
            parts.join("/")
        });
        assert_eq!(got, expected.map(str::to_owned).map_err(str::to_owned), "{answers:?}");
    }

    #[test]
    fn band_boundaries() {
        check("000000000", Ok("0/minimal/clear"));
        check("111100000", Ok("4/minimal/clear"));
        check("111110000", Ok("5/mild/clear"));
        check("333000000", Ok("9/mild/clear"));
        check("333100000", Ok("10/moderate/clear"));
        check("333330000", Ok("15/moderately_severe/clear"));
        check("333332200", Ok("19/moderately_severe/clear"));
        check("333333200", Ok("20/severe/clear"));
        check("333333333", Ok("27/severe/screen"));
    }

    #[test]
    fn vignette_v1_phq9_19_with_item_9_at_1_requires_the_screen() {
        // VIGNETTES V1: PHQ-9 19 with item 9 = 1 → C-SSRS screener required.
        check("333322201", Ok("19/moderately_severe/screen"));
    }

    #[test]
    fn the_difficulty_answer_is_kept_outside_the_total() {
        check("3333333333", Ok("27/severe/screen/difficulty 3"));
        check("1111111110", Ok("9/mild/screen/difficulty 0"));
        check("111111111-", Ok("9/mild/screen"));
        check("1111111114", Err("item 10: must be 0-3, got 4"));
    }

    #[test]
    fn one_missing_item_is_prorated_and_flagged() {
        // 8 answered items summing to 8 → 8 / 8 × 9 = 9.
        check("-11111111", Ok("9/mild/prorated item 1/screen"));
        // sum 4 → 4.5 → rounded half up to 5 (mild, not minimal).
        check("1111-0000", Ok("5/mild/prorated item 5/clear"));
        // sum 12 → 13.5 → 14; sum 20 → 22.5 → 23.
        check("33330000-", Ok("14/moderate/prorated item 9/missing"));
        check("3333331-1", Ok("23/severe/prorated item 8/screen"));
        check("33333333-", Ok("27/severe/prorated item 9/missing"));
    }

    #[test]
    fn more_than_one_missing_item_gives_no_total() {
        check("--1111111", Ok("no total, missing [1, 2]/screen"));
        check("---------", Ok("no total, missing [1, 2, 3, 4, 5, 6, 7, 8, 9]/missing"));
    }

    #[test]
    fn the_no_total_rule_refuses_any_missing_item() {
        check_with(Phq9MissingItemRule::NoTotal, "-11111111", Ok("no total, missing [1]/screen"));
        check_with(Phq9MissingItemRule::NoTotal, "111111111", Ok("9/mild/screen"));
    }

    #[test]
    fn out_of_range_items_are_named() {
        check("004000000", Err("item 3: must be 0-3, got 4"));
        check("000000009", Err("item 9: must be 0-3, got 9"));
        check("00000000", Err("phq9: expected 9 or 10 answers, got 8"));
        check("00000000000", Err("phq9: expected 9 or 10 answers, got 11"));
    }
}
