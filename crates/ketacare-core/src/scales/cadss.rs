//! CADSS (KNOWLEDGE §5.6): the 23-item subjective version used in ketamine studies, items scored 0–4
//! and summed to 0–92, and the CADSS-6 short form (original items 1, 2, 6, 7, 15 and 22), scored either
//! from all 23 answers or from its own six.

use super::{
    InvalidScaleAnswers, ItemName, Scale, checked_answer, expect_count, item_number, required_answer, required_items,
    sum_items,
};

/// KNOWLEDGE §5.6: the 23-item subjective version.
pub const CADSS23_ITEM_COUNT: usize = 23;
/// KNOWLEDGE §5.6: each item 0 (not at all) to 4 (extremely) — UNCONFIRMED in retrieved text, standard usage.
pub const CADSS_ITEM_MAX: u8 = 4;
/// KNOWLEDGE §5.6 [RODRIGUES-2021]: CADSS-6 = original items 1, 2, 6, 7, 15, 22.
pub const CADSS6_ITEMS: [u8; 6] = [1, 2, 6, 7, 15, 22];

/// A scored CADSS-23 (0–92).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadss23Score {
    pub total: u8,
}

/// A scored CADSS-6 (0–24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadss6Score {
    pub total: u8,
    /// Whether it was read out of a full 23-item answer set.
    pub from_full_scale: bool,
}

/// Scores the CADSS-23 from its 23 answers; every item is needed.
pub fn score_cadss23(answers: &[Option<u8>]) -> Result<Cadss23Score, InvalidScaleAnswers> {
    expect_count(Scale::Cadss23, answers, &[CADSS23_ITEM_COUNT], "23 answers")?;
    let items = required_items(Scale::Cadss23, answers, 0, CADSS_ITEM_MAX)?;
    Ok(Cadss23Score { total: sum_items(&items) })
}

/// Scores the CADSS-6 from either all 23 CADSS answers (every answer given is range-checked; only the
/// six short-form items must be present and are summed) or
/// the six short-form answers in order. Errors name the original item number (`item 15`).
pub fn score_cadss6(answers: &[Option<u8>]) -> Result<Cadss6Score, InvalidScaleAnswers> {
    expect_count(Scale::Cadss6, answers, &[CADSS6_ITEMS.len(), CADSS23_ITEM_COUNT], "6 or 23 answers")?;
    if answers.len() == CADSS23_ITEM_COUNT {
        // Every answer given must be in range; only the six short-form items must be present.
        for (index, answer) in answers.iter().enumerate() {
            checked_answer(*answer, item_number(index), 0, CADSS_ITEM_MAX)?;
        }
        let total = CADSS6_ITEMS
            .iter()
            .map(|number| {
                let answer = answers[usize::from(*number) - 1];
                required_answer(answer, ItemName::Item(*number), 0, CADSS_ITEM_MAX, Scale::Cadss6)
            })
            .sum::<Result<u8, _>>()?;
        return Ok(Cadss6Score { total, from_full_scale: true });
    }
    let items = answers
        .iter()
        .zip(CADSS6_ITEMS)
        .map(|(answer, number)| required_answer(*answer, ItemName::Item(number), 0, CADSS_ITEM_MAX, Scale::Cadss6))
        .collect::<Result<Vec<u8>, _>>()?;
    Ok(Cadss6Score { total: sum_items(&items), from_full_scale: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(answers: &str) -> Vec<Option<u8>> {
        answers
            .chars()
            .filter(|character| !character.is_whitespace())
            .map(|answer| answer.to_digit(10).map(|digit| digit as u8))
            .collect()
    }

    fn check23(answers: &str, expected: &str) {
        let got = match score_cadss23(&parse(answers)) {
            Ok(score) => score.total.to_string(),
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected, "{answers}");
    }

    fn check6(answers: &str, expected: &str) {
        let got = match score_cadss6(&parse(answers)) {
            Ok(score) => format!("{} from {}", score.total, if score.from_full_scale { 23 } else { 6 }),
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected, "{answers}");
    }

    #[test]
    fn cadss23_totals() {
        check23("00000 00000 00000 00000 000", "0");
        check23("44444 44444 44444 44444 444", "92");
        check23("12340 00000 00000 00000 001", "11");
        check23("00000 00000 00000 00000 005", "item 23: must be 0-4, got 5");
        check23("00000 00000 -0000 00000 000", "item 11: is missing; every cadss23 item is needed for a total");
        check23("00000 0", "cadss23: expected 23 answers, got 6");
    }

    #[test]
    fn cadss6_reads_items_1_2_6_7_15_22_out_of_the_full_scale() {
        //       1-5   6-10  11-15 16-20 21-23
        check6("11000 11000 00001 00000 010", "6 from 23");
        // Items outside the short form do not count.
        check6("00444 00444 44440 44444 404", "0 from 23");
        check6("44444 44444 44444 44444 444", "24 from 23");
        // All 23 answers are checked, even those the short form does not sum.
        check6("00500 00000 00000 00000 000", "item 3: must be 0-4, got 5");
        // Items outside the short form may be missing; the short-form items may not.
        check6("11-00 11000 00001 00000 010", "6 from 23");
        check6("11000 11000 00001 00000 0-0", "item 22: is missing; every cadss6 item given is needed for a total");
    }

    #[test]
    fn cadss6_from_its_own_six_answers_names_the_original_items() {
        check6("123401", "11 from 6");
        check6("000050", "item 15: must be 0-4, got 5");
        check6("00000-", "item 22: is missing; every cadss6 item given is needed for a total");
        check6("0000000", "cadss6: expected 6 or 23 answers, got 7");
    }
}
