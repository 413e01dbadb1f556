//! MADRS (KNOWLEDGE §5.2): ten clinician-rated items scored 0–6, summed to 0–60, with Snaith's bands.

use super::{InvalidScaleAnswers, Scale, Severity, SeverityBands, band_of, expect_count, required_items, sum_items};

/// KNOWLEDGE §5.2: 10 items.
pub const MADRS_ITEM_COUNT: usize = 10;
/// KNOWLEDGE §5.2: each item 0–6 (even numbers anchored, odd numbers between anchors).
pub const MADRS_ITEM_MAX: u8 = 6;

/// KNOWLEDGE §5.2 (Snaith et al.): 0–6 absent, 7–19 mild, 20–34 moderate, 35–60 severe.
pub const MADRS_BANDS: &SeverityBands =
    &[(0, Severity::Absent), (7, Severity::Mild), (20, Severity::Moderate), (35, Severity::Severe)];

/// A scored MADRS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MadrsScore {
    pub total: u8,
    pub severity: Severity,
}

/// Scores a MADRS from its 10 answers; every item is needed.
pub fn score_madrs(answers: &[Option<u8>]) -> Result<MadrsScore, InvalidScaleAnswers> {
    expect_count(Scale::Madrs, answers, &[MADRS_ITEM_COUNT], "10 answers")?;
    let items = required_items(Scale::Madrs, answers, 0, MADRS_ITEM_MAX)?;
    let total = sum_items(&items);
    Ok(MadrsScore { total, severity: band_of(total, MADRS_BANDS) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `answers`: one digit per item, `-` for missing.
    fn check(answers: &str, expected: &str) {
        let answers: Vec<Option<u8>> =
            answers.chars().map(|answer| answer.to_digit(10).map(|digit| digit as u8)).collect();
        let got = match score_madrs(&answers) {
            Ok(score) => format!("{}/{}", score.total, score.severity.as_str()),
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected, "{answers:?}");
    }

    #[test]
    fn snaith_band_boundaries() {
        check("0000000000", "0/absent");
        check("6000000000", "6/absent");
        check("6100000000", "7/mild");
        check("6666100000", "25/moderate");
        check("6666000000", "24/moderate");
        check("6660100000", "19/mild");
        check("6660200000", "20/moderate");
        check("6666640000", "34/moderate");
        check("6666650000", "35/severe");
        check("6666666666", "60/severe");
    }

    #[test]
    fn vignette_madrs_totals_fall_in_the_stated_bands() {
        // VIGNETTES V1 (32), V5 (36, severe), V11 (34, top of moderate).
        check("6666620000", "32/moderate");
        check("6666660000", "36/severe");
        check("6666640000", "34/moderate");
    }

    #[test]
    fn bad_answers_are_named() {
        check("0000000700", "item 8: must be 0-6, got 7");
        check("000000000-", "item 10: is missing; every madrs item is needed for a total");
        check("000000000", "madrs: expected 10 answers, got 9");
    }
}
