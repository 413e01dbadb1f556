//! QIDS-SR16 (KNOWLEDGE §5.3): sixteen self-report items scored 0–3, folded into nine domain scores
//! (three of them the highest of a group of items) whose sum is the 0–27 total; plus the item-12 flag.
//! The sixteen items are never summed.

use super::{
    InvalidScaleAnswers, Scale, ScalesSettings, Severity, SeverityBands, SuicideItemFlag, band_of, expect_count,
    required_items,
};

/// KNOWLEDGE §5.3: 16 items.
pub const QIDS_SR16_ITEM_COUNT: usize = 16;
/// KNOWLEDGE §5.3: each item 0–3.
pub const QIDS_SR16_ITEM_MAX: u8 = 3;

/// KNOWLEDGE §5.3: 0–5 none, 6–10 mild, 11–15 moderate, 16–20 severe, 21–27 very severe.
pub const QIDS_SR16_BANDS: &SeverityBands = &[
    (0, Severity::None),
    (6, Severity::Mild),
    (11, Severity::Moderate),
    (16, Severity::Severe),
    (21, Severity::VerySevere),
];

/// The nine domain scores (KNOWLEDGE §5.3), each 0–3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QidsSr16Domains {
    /// Highest of items 1–4 (sleep onset, mid-nocturnal, early waking, hypersomnia).
    pub sleep: u8,
    /// Item 5.
    pub sad_mood: u8,
    /// Highest of items 6–9 (appetite down or up, weight down or up).
    pub appetite_weight: u8,
    /// Item 10.
    pub concentration: u8,
    /// Item 11.
    pub self_view: u8,
    /// Item 12.
    pub suicidal_ideation: u8,
    /// Item 13.
    pub interest: u8,
    /// Item 14.
    pub energy: u8,
    /// Highest of items 15–16 (slowed, restless).
    pub psychomotor: u8,
}

impl QidsSr16Domains {
    /// The domains in form order with their machine names.
    pub fn named(&self) -> [(&'static str, u8); 9] {
        [
            ("sleep", self.sleep),
            ("sad_mood", self.sad_mood),
            ("appetite_weight", self.appetite_weight),
            ("concentration", self.concentration),
            ("self_view", self.self_view),
            ("suicidal_ideation", self.suicidal_ideation),
            ("interest", self.interest),
            ("energy", self.energy),
            ("psychomotor", self.psychomotor),
        ]
    }

    fn sum(&self) -> u8 {
        self.named().iter().map(|(_, score)| score).sum()
    }
}

/// A scored QIDS-SR16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QidsSr16Score {
    pub domains: QidsSr16Domains,
    /// Sum of the nine domains, 0–27.
    pub total: u8,
    pub severity: Severity,
    /// Item 12 (suicidal ideation) against the protocol's screen threshold (KNOWLEDGE §5.3 PROJECT DEFAULT).
    pub item12: SuicideItemFlag,
}

impl QidsSr16Score {
    /// Whether a C-SSRS screen is required before dosing (item 12 at or above the threshold).
    pub fn suicide_screen_required(&self) -> bool {
        self.item12.screen_required()
    }
}

/// Scores a QIDS-SR16 from its 16 answers; every item is needed.
pub fn score_qids_sr16(
    answers: &[Option<u8>],
    settings: &ScalesSettings,
) -> Result<QidsSr16Score, InvalidScaleAnswers> {
    expect_count(Scale::QidsSr16, answers, &[QIDS_SR16_ITEM_COUNT], "16 answers")?;
    let items = required_items(Scale::QidsSr16, answers, 0, QIDS_SR16_ITEM_MAX)?;
    // `item(n)` is item n as numbered on the form.
    let item = |number: usize| items[number - 1];
    let highest = |numbers: std::ops::RangeInclusive<usize>| numbers.map(item).max().expect("non-empty range");
    // KNOWLEDGE §5.3: sleep = max(1–4); appetite/weight = max(6–9); psychomotor = max(15–16).
    let domains = QidsSr16Domains {
        sleep: highest(1..=4),
        sad_mood: item(5),
        appetite_weight: highest(6..=9),
        concentration: item(10),
        self_view: item(11),
        suicidal_ideation: item(12),
        interest: item(13),
        energy: item(14),
        psychomotor: highest(15..=16),
    };
    let total = domains.sum();
    Ok(QidsSr16Score {
        domains,
        total,
        severity: band_of(total, QIDS_SR16_BANDS),
        item12: SuicideItemFlag::read(Some(item(12)), settings.qids_sr16_item12_screen_from.value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    /// `answers`: 16 digits in form order (spaces allowed for reading); `expected`:
    /// the nine domains as digits, then `total/band`, then `screen` or `clear` for item 12.
    fn check(answers: &str, expected: &str) {
        let answers: Vec<Option<u8>> = answers
            .chars()
            .filter(|character| !character.is_whitespace())
            .map(|answer| answer.to_digit(10).map(|digit| digit as u8))
            .collect();
        let got = match score_qids_sr16(&answers, &Protocol::shipped().scales) {
            Ok(score) => {
                let domains: String = score.domains.named().iter().map(|(_, value)| value.to_string()).collect();
                let flag = if score.suicide_screen_required() { "screen" } else { "clear" };
                format!("{domains} {}/{} {flag}", score.total, score.severity.as_str())
            }
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn domain_maxima() {
        //      sleep  5 appetite 10 11 12 13 14 psycho
        check("0000 0 0000 0 0 0 0 0 00", "000000000 0/none clear");
        // Sleep is the highest of items 1–4, wherever it sits.
        check("3000 0 0000 0 0 0 0 0 00", "300000000 3/none clear");
        check("0300 0 0000 0 0 0 0 0 00", "300000000 3/none clear");
        check("0030 0 0000 0 0 0 0 0 00", "300000000 3/none clear");
        check("0003 0 0000 0 0 0 0 0 00", "300000000 3/none clear");
        check("1232 0 0000 0 0 0 0 0 00", "300000000 3/none clear");
        // Appetite/weight is the highest of items 6–9.
        check("0000 0 2000 0 0 0 0 0 00", "002000000 2/none clear");
        check("0000 0 0200 0 0 0 0 0 00", "002000000 2/none clear");
        check("0000 0 0020 0 0 0 0 0 00", "002000000 2/none clear");
        check("0000 0 1112 0 0 0 0 0 00", "002000000 2/none clear");
        // Psychomotor is the highest of items 15–16.
        check("0000 0 0000 0 0 0 0 0 10", "000000001 1/none clear");
        check("0000 0 0000 0 0 0 0 0 13", "000000003 3/none clear");
        // The single-item domains.
        check("0000 1 0000 2 3 0 1 2 00", "010230120 9/mild clear");
    }

    #[test]
    fn the_16_items_are_never_summed() {
        // All 16 items at 3 sum to 48; the domain total is 27.
        check("3333 3 3333 3 3 3 3 3 33", "333333333 27/very_severe screen");
        check("1111 1 1111 1 1 1 1 1 11", "111111111 9/mild screen");
    }

    #[test]
    fn band_boundaries() {
        check("3000 2 0000 0 0 0 0 0 00", "320000000 5/none clear");
        check("3000 3 0000 0 0 0 0 0 00", "330000000 6/mild clear");
        check("3000 3 3000 1 0 0 0 0 00", "333100000 10/mild clear");
        check("3000 3 3000 2 0 0 0 0 00", "333200000 11/moderate clear");
        check("3000 3 3000 3 3 0 0 0 00", "333330000 15/moderate clear");
        check("3000 3 3000 3 3 0 1 0 00", "333330100 16/severe clear");
        check("3000 3 3000 3 3 0 3 2 00", "333330320 20/severe clear");
        check("3000 3 3000 3 3 0 3 3 00", "333330330 21/very_severe clear");
    }

    #[test]
    fn item_12_flags_the_suicide_screen() {
        check("0000 0 0000 0 0 1 0 0 00", "000001000 1/none screen");
        check("0000 0 0000 0 0 3 0 0 00", "000003000 3/none screen");
    }

    #[test]
    fn bad_answers_are_named() {
        check("0000 0 0000 0 0 4 0 0 00", "item 12: must be 0-3, got 4");
        check("0000 0 000- 0 0 0 0 0 00", "item 9: is missing; every qids_sr16 item is needed for the domain scores");
        check("0000 0 0000 0 0 0 0 0 0", "qids_sr16: expected 16 answers, got 15");
    }
}
