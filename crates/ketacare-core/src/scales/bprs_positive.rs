//! BPRS positive-symptom subscale (KNOWLEDGE §5.7): four BPRS items rated 1–7, summed to 4–28.
//! The item list is UNCONFIRMED in KNOWLEDGE: conceptual disorganisation, hallucinatory behaviour,
//! suspiciousness, unusual thought content, in that order.

use super::{InvalidScaleAnswers, Scale, expect_count, required_items, sum_items};

/// KNOWLEDGE §5.7: 4 items (UNCONFIRMED list).
pub const BPRS_POSITIVE_ITEM_COUNT: usize = 4;
/// KNOWLEDGE §5.7: BPRS items are rated 1–7.
pub const BPRS_ITEM_MIN: u8 = 1;
pub const BPRS_ITEM_MAX: u8 = 7;
/// The four items in the order the answers are given.
pub const BPRS_POSITIVE_ITEMS: [&str; 4] =
    ["conceptual disorganisation", "hallucinatory behaviour", "suspiciousness", "unusual thought content"];

/// A scored BPRS positive subscale (4–28).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BprsPositiveScore {
    pub total: u8,
}

/// Scores the BPRS positive subscale from its 4 answers; every item is needed.
pub fn score_bprs_positive(answers: &[Option<u8>]) -> Result<BprsPositiveScore, InvalidScaleAnswers> {
    expect_count(Scale::BprsPositive, answers, &[BPRS_POSITIVE_ITEM_COUNT], "4 answers")?;
    let items = required_items(Scale::BprsPositive, answers, BPRS_ITEM_MIN, BPRS_ITEM_MAX)?;
    Ok(BprsPositiveScore { total: sum_items(&items) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(answers: &[Option<u8>], expected: &str) {
        let got = match score_bprs_positive(answers) {
            Ok(score) => score.total.to_string(),
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected, "{answers:?}");
    }

    #[test]
    fn totals_and_ranges() {
        check(&[Some(1), Some(1), Some(1), Some(1)], "4");
        check(&[Some(7), Some(7), Some(7), Some(7)], "28");
        check(&[Some(1), Some(2), Some(3), Some(4)], "10");
        // 0 is not a BPRS rating: the lowest is 1 (not present).
        check(&[Some(1), Some(0), Some(1), Some(1)], "item 2: must be 1-7, got 0");
        check(&[Some(1), Some(1), Some(1), Some(8)], "item 4: must be 1-7, got 8");
        check(&[Some(1), Some(1), None, Some(1)], "item 3: is missing; every bprs_positive item is needed for a total");
        check(&[Some(1); 18], "bprs_positive: expected 4 answers, got 18");
    }
}
