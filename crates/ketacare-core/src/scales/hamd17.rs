//! HAM-D17 (KNOWLEDGE §5.4): seventeen clinician-rated items, nine scored 0–4 and eight scored 0–2,
//! summed to 0–52, with Zimmerman 2013 bands by default and the IDS/QIDS linking bands selectable.

use std::str::FromStr;

use super::{
    InvalidScaleAnswers, Scale, ScalesSettings, Severity, SeverityBands, band_of, expect_count, item_number,
    required_answer, sum_items,
};

/// KNOWLEDGE §5.4: 17 items.
pub const HAMD17_ITEM_COUNT: usize = 17;

/// KNOWLEDGE §5.4: items scored 0–4 (depressed mood, guilt, suicide, work and activities, retardation,
/// agitation, psychic anxiety, somatic anxiety, hypochondriasis); all others are scored 0–2.
pub const HAMD17_ITEMS_SCORED_0_TO_4: [u8; 9] = [1, 2, 3, 7, 8, 9, 10, 11, 15];

/// The highest score of item `number` (1–17). KNOWLEDGE §5.4: 4 for the items above, else 2.
pub fn hamd17_item_max(number: u8) -> u8 {
    if HAMD17_ITEMS_SCORED_0_TO_4.contains(&number) { 4 } else { 2 }
}

/// KNOWLEDGE §5.4 (b), Zimmerman 2013: ≤7 none, 8–16 mild, 17–23 moderate, ≥24 severe.
pub const HAMD17_ZIMMERMAN_2013_BANDS: &SeverityBands =
    &[(0, Severity::None), (8, Severity::Mild), (17, Severity::Moderate), (24, Severity::Severe)];

/// KNOWLEDGE §5.4 (a), IDS/QIDS linking table: 0–7 none, 8–13 mild, 14–19 moderate, 20–25 severe,
/// ≥26 very severe.
pub const HAMD17_IDS_QIDS_BANDS: &SeverityBands = &[
    (0, Severity::None),
    (8, Severity::Mild),
    (14, Severity::Moderate),
    (20, Severity::Severe),
    (26, Severity::VerySevere),
];

/// Which HAM-D17 severity bands the site reports (KNOWLEDGE §5.4 CONFLICT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hamd17SeverityBands {
    /// Zimmerman 2013 empirical cut-offs (PROJECT DEFAULT).
    Zimmerman2013,
    /// The IDS/QIDS linking table.
    IdsQids,
}

impl Hamd17SeverityBands {
    pub fn as_str(self) -> &'static str {
        match self {
            Hamd17SeverityBands::Zimmerman2013 => "zimmerman_2013",
            Hamd17SeverityBands::IdsQids => "ids_qids",
        }
    }

    pub fn bands(self) -> &'static SeverityBands {
        match self {
            Hamd17SeverityBands::Zimmerman2013 => HAMD17_ZIMMERMAN_2013_BANDS,
            Hamd17SeverityBands::IdsQids => HAMD17_IDS_QIDS_BANDS,
        }
    }
}

impl FromStr for Hamd17SeverityBands {
    type Err = ();
    fn from_str(word: &str) -> Result<Self, ()> {
        match word {
            "zimmerman_2013" => Ok(Hamd17SeverityBands::Zimmerman2013),
            "ids_qids" => Ok(Hamd17SeverityBands::IdsQids),
            _ => Err(()),
        }
    }
}

/// A scored HAM-D17.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hamd17Score {
    pub total: u8,
    pub severity: Severity,
    /// The band table the severity was read from.
    pub bands: Hamd17SeverityBands,
}

/// Scores a HAM-D17 from its 17 answers; every item is needed.
pub fn score_hamd17(answers: &[Option<u8>], settings: &ScalesSettings) -> Result<Hamd17Score, InvalidScaleAnswers> {
    expect_count(Scale::Hamd17, answers, &[HAMD17_ITEM_COUNT], "17 answers")?;
    let items = answers
        .iter()
        .enumerate()
        .map(|(index, answer)| {
            let number = u8::try_from(index + 1).expect("17 items");
            required_answer(*answer, item_number(index), 0, hamd17_item_max(number), Scale::Hamd17)
        })
        .collect::<Result<Vec<u8>, _>>()?;
    let total = sum_items(&items);
    let bands = settings.hamd17_severity_bands.value;
    Ok(Hamd17Score { total, severity: band_of(total, bands.bands()), bands })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Protocol, Setting};

    fn settings(bands: Hamd17SeverityBands) -> ScalesSettings {
        let mut settings = Protocol::shipped().scales;
        settings.hamd17_severity_bands = Setting { value: bands, source: "test".to_owned() };
        settings
    }

    /// Answers all 0 except item `number` set to `value`.
    fn one_item(number: usize, value: u8) -> Vec<Option<u8>> {
        let mut answers = vec![Some(0); HAMD17_ITEM_COUNT];
        answers[number - 1] = Some(value);
        answers
    }

    #[test]
    fn each_item_accepts_its_maximum_and_rejects_one_above() {
        // KNOWLEDGE §5.4: 0–4 items and 0–2 items, written out here independently of the code's list.
        let expected_max: [(usize, u8); 17] = [
            (1, 4),
            (2, 4),
            (3, 4),
            (4, 2),
            (5, 2),
            (6, 2),
            (7, 4),
            (8, 4),
            (9, 4),
            (10, 4),
            (11, 4),
            (12, 2),
            (13, 2),
            (14, 2),
            (15, 4),
            (16, 2),
            (17, 2),
        ];
        let settings = Protocol::shipped().scales;
        for (number, max) in expected_max {
            let at_max = score_hamd17(&one_item(number, max), &settings).map(|score| score.total);
            assert_eq!(at_max, Ok(max), "item {number} at its maximum {max}");
            let above = score_hamd17(&one_item(number, max + 1), &settings).map_err(|error| error.to_string());
            assert_eq!(above, Err(format!("item {number}: must be 0-{max}, got {}", max + 1)));
        }
    }

    #[test]
    fn the_total_runs_to_52() {
        let answers: Vec<Option<u8>> = (1..=17).map(|number| Some(hamd17_item_max(number))).collect();
        assert_eq!(score_hamd17(&answers, &Protocol::shipped().scales).map(|score| score.total), Ok(52));
    }

    fn check(bands: Hamd17SeverityBands, total: u8, expected: Severity) {
        // Spread `total` over the items, each up to its maximum.
        let mut rest = total;
        let answers: Vec<Option<u8>> = (1..=17)
            .map(|number| {
                let value = rest.min(hamd17_item_max(number));
                rest -= value;
                Some(value)
            })
            .collect();
        let score = score_hamd17(&answers, &settings(bands)).unwrap();
        assert_eq!((score.total, score.severity, score.bands), (total, expected, bands));
    }

    #[test]
    fn zimmerman_2013_bands_are_the_default() {
        assert_eq!(Protocol::shipped().scales.hamd17_severity_bands.value, Hamd17SeverityBands::Zimmerman2013);
        let zimmerman = Hamd17SeverityBands::Zimmerman2013;
        check(zimmerman, 0, Severity::None);
        check(zimmerman, 7, Severity::None);
        check(zimmerman, 8, Severity::Mild);
        check(zimmerman, 16, Severity::Mild);
        check(zimmerman, 17, Severity::Moderate);
        check(zimmerman, 23, Severity::Moderate);
        check(zimmerman, 24, Severity::Severe);
        check(zimmerman, 52, Severity::Severe);
    }

    #[test]
    fn ids_qids_bands_are_selectable() {
        let ids_qids = Hamd17SeverityBands::IdsQids;
        check(ids_qids, 7, Severity::None);
        check(ids_qids, 8, Severity::Mild);
        check(ids_qids, 13, Severity::Mild);
        check(ids_qids, 14, Severity::Moderate);
        check(ids_qids, 19, Severity::Moderate);
        check(ids_qids, 20, Severity::Severe);
        check(ids_qids, 25, Severity::Severe);
        check(ids_qids, 26, Severity::VerySevere);
        check(ids_qids, 52, Severity::VerySevere);
    }
}
