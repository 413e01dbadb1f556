//! The `cardinal` preset: the `treatment_resistant_depression` helper of Cardinal's Python library
//! (cardinal_pythonlib, psychiatry/treatment_resistant_depression.py), as its documentation states it
//! (contract "cardinal" and reading 11). It works on dated antidepressant mentions only.

use ketacare_core::drugs::{DRUGS, DrugRole};

use crate::dates::DayNumber;
use crate::extract::DrugEvent;
use crate::params::ScreenParameters;

/// The two courses that make a patient TRD under `cardinal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardinalEvidence {
    pub drug_a: &'static str,
    pub a1: DayNumber,
    pub a2: DayNumber,
    pub drug_b: &'static str,
    pub b1: DayNumber,
    pub b2: DayNumber,
    pub expect_response_by: DayNumber,
}

/// Finds the first B (in mention order) that has a qualifying A; `None` when there is none.
pub fn cardinal_trd(events: &[DrugEvent], parameters: &ScreenParameters) -> Option<CardinalEvidence> {
    // Reading 11: mentions are antidepressant events, sorted by date and then drug name.
    let mut mentions: Vec<(DayNumber, &'static str)> = events
        .iter()
        .filter(|event| event.entry().role == DrugRole::Antidepressant)
        .map(|event| (event.date, event.entry().ingredient))
        .collect();
    mentions.sort_unstable();
    // Each drug's mention dates, ascending, for binary searches.
    let mut dates_by_drug: Vec<(&'static str, Vec<DayNumber>)> = Vec::new();
    for &(date, drug) in &mentions {
        match dates_by_drug.iter_mut().find(|(name, _)| *name == drug) {
            Some((_, dates)) => dates.push(date),
            None => dates_by_drug.push((drug, vec![date])),
        }
    }
    let dates_of = |drug: &str| -> &[DayNumber] {
        dates_by_drug.iter().find(|(name, _)| *name == drug).map(|(_, dates)| dates.as_slice()).unwrap_or(&[])
    };
    let earliest_on_or_after = |dates: &[DayNumber], threshold: DayNumber| -> Option<DayNumber> {
        dates.get(dates.partition_point(|date| *date < threshold)).copied()
    };
    let course_span = parameters.course_length_days - 1;
    for &(b1, drug_b) in mentions.iter().skip(1) {
        let b_dates = dates_of(drug_b);
        let Some(b2) = earliest_on_or_after(b_dates, b1 + course_span) else { continue };
        let found_a = mentions.iter().take_while(|(date, _)| *date <= b1).find_map(|&(a1, drug_a)| {
            if drug_a == drug_b {
                return None;
            }
            let a2 = earliest_on_or_after(dates_of(drug_a), a1 + course_span)?;
            if a2 > b1 {
                return None;
            }
            // B must not be mentioned in [a1, a2).
            let b_in_a_course = earliest_on_or_after(b_dates, a1).is_some_and(|date| date < a2);
            (!b_in_a_course).then_some((drug_a, a1, a2))
        });
        if let Some((drug_a, a1, a2)) = found_a {
            return Some(CardinalEvidence {
                drug_a,
                a1,
                a2,
                drug_b,
                b1,
                b2,
                expect_response_by: b1 + parameters.expect_response_by_days,
            });
        }
    }
    None
}

/// The class label of an ingredient (for the `classes` column).
pub fn class_label_of(ingredient: &str) -> &'static str {
    DRUGS.iter().find(|entry| entry.ingredient == ingredient).map(|entry| entry.class.label()).unwrap_or("")
}
