//! MOAA/S (KNOWLEDGE §5.8): a single observer score 0–5 with its meaning; 0 is loss of consciousness,
//! and scores below the protocol's threshold count as sedation.

use super::{InvalidScaleAnswers, ItemName, Scale, ScalesSettings, expect_count, required_answer};

/// KNOWLEDGE §5.8: scores 0–5 (the label's usage; a 0–6 variant exists and is not accepted here).
pub const MOAAS_MAX: u8 = 5;

/// A MOAA/S score with its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoaasScore {
    pub score: u8,
    /// What the score means, paraphrased from KNOWLEDGE §5.8.
    pub meaning: &'static str,
    /// Score 0: no response to a painful trapezius squeeze (KNOWLEDGE §5.8: 0 = loss of consciousness).
    pub loss_of_consciousness: bool,
    /// Below the protocol's `moaas_sedated_below` (KNOWLEDGE §5.8, UNCONFIRMED: any score below 5).
    pub sedated: bool,
}

/// The meaning of each score (KNOWLEDGE §5.8 table, in our words).
pub fn moaas_meaning(score: u8) -> &'static str {
    match score {
        5 => "alert: answers readily to their name spoken in a normal tone",
        4 => "lethargic response to their name spoken in a normal tone",
        3 => "responds only when their name is called loudly and/or repeatedly",
        2 => "responds only after mild prodding or shaking",
        1 => "responds only after a painful trapezius squeeze",
        _ => "no response to a painful trapezius squeeze: loss of consciousness",
    }
}

/// Scores a MOAA/S from its one answer.
pub fn score_moaas(answers: &[Option<u8>], settings: &ScalesSettings) -> Result<MoaasScore, InvalidScaleAnswers> {
    expect_count(Scale::Moaas, answers, &[1], "1 answer")?;
    let score = required_answer(answers[0], ItemName::Item(1), 0, MOAAS_MAX, Scale::Moaas)?;
    Ok(MoaasScore {
        score,
        meaning: moaas_meaning(score),
        loss_of_consciousness: score == 0,
        sedated: i64::from(score) < settings.moaas_sedated_below.value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    fn check(answer: Option<u8>, expected: &str) {
        let got = match score_moaas(&[answer], &Protocol::shipped().scales) {
            Ok(score) => format!(
                "{}{}{}: {}",
                score.score,
                if score.sedated { " sedated" } else { "" },
                if score.loss_of_consciousness { " LOC" } else { "" },
                score.meaning
            ),
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn each_score_has_its_meaning() {
        check(Some(5), "5: alert: answers readily to their name spoken in a normal tone");
        check(Some(4), "4 sedated: lethargic response to their name spoken in a normal tone");
        check(Some(3), "3 sedated: responds only when their name is called loudly and/or repeatedly");
        check(Some(2), "2 sedated: responds only after mild prodding or shaking");
        check(Some(1), "1 sedated: responds only after a painful trapezius squeeze");
        check(Some(0), "0 sedated LOC: no response to a painful trapezius squeeze: loss of consciousness");
        check(Some(6), "item 1: must be 0-5, got 6");
        check(None, "item 1: is missing; the moaas score is the only answer");
    }
}
