//! GAD-7 (KNOWLEDGE §5.5): seven anxiety items scored 0–3 like the PHQ-9, summed to 0–21, with bands.

use super::{InvalidScaleAnswers, Scale, Severity, SeverityBands, band_of, expect_count, required_items, sum_items};

/// KNOWLEDGE §5.5: 7 items.
pub const GAD7_ITEM_COUNT: usize = 7;
/// KNOWLEDGE §5.5: each item 0–3 (the PHQ-9 anchors).
pub const GAD7_ITEM_MAX: u8 = 3;

/// KNOWLEDGE §5.5 (Spitzer 2006): 0–4 minimal, 5–9 mild, 10–14 moderate, 15–21 severe.
pub const GAD7_BANDS: &SeverityBands =
    &[(0, Severity::Minimal), (5, Severity::Mild), (10, Severity::Moderate), (15, Severity::Severe)];

/// A scored GAD-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gad7Score {
    pub total: u8,
    pub severity: Severity,
}

/// Scores a GAD-7 from its 7 answers; every item is needed.
pub fn score_gad7(answers: &[Option<u8>]) -> Result<Gad7Score, InvalidScaleAnswers> {
    expect_count(Scale::Gad7, answers, &[GAD7_ITEM_COUNT], "7 answers")?;
    let items = required_items(Scale::Gad7, answers, 0, GAD7_ITEM_MAX)?;
    let total = sum_items(&items);
    Ok(Gad7Score { total, severity: band_of(total, GAD7_BANDS) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn independent_band(total: u32) -> Severity {
        match total {
            0..=4 => Severity::Minimal,
            5..=9 => Severity::Mild,
            10..=14 => Severity::Moderate,
            15..=21 => Severity::Severe,
            _ => unreachable!("a GAD-7 total is at most 21"),
        }
    }

    #[test]
    fn every_one_of_the_4_pow_7_answer_vectors_scores_as_defined() {
        let mut answers = [Some(0u8); GAD7_ITEM_COUNT];
        for code in 0..4u32.pow(7) {
            let mut rest = code;
            for answer in &mut answers {
                *answer = Some((rest % 4) as u8);
                rest /= 4;
            }
            let expected_total: u32 = answers.iter().map(|answer| u32::from(answer.unwrap())).sum();
            let expected = Gad7Score { total: expected_total as u8, severity: independent_band(expected_total) };
            assert_eq!(score_gad7(&answers), Ok(expected), "{answers:?}");
        }
    }

    fn check(answers: &[Option<u8>], expected: &str) {
        let got = match score_gad7(answers) {
            Ok(score) => format!("{}/{}", score.total, score.severity.as_str()),
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected, "{answers:?}");
    }

    #[test]
    fn bad_answers_are_named() {
        check(&[Some(0), Some(0), Some(0), Some(0), Some(0), Some(4), Some(0)], "item 6: must be 0-3, got 4");
        check(
            &[Some(0), None, Some(0), Some(0), Some(0), Some(0), Some(0)],
            "item 2: is missing; every gad7 item is needed for a total",
        );
        check(&[Some(0); 6], "gad7: expected 7 answers, got 6");
        check(&[Some(3); 7], "21/severe");
    }
}
