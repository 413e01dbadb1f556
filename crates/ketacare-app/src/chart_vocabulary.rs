//! The closed vocabularies a chart record takes, for the forms that enter one: the history codes, the
//! concomitant medicine classes, and the drug names the knowledge base accepts for a trial (ingredients,
//! brands and other names, and common formulation spellings), each with the ingredient and class it
//! resolves to. Data only: no patient data, nothing audited; the chart's own readers still judge what
//! is sent.

use ketacare_core::drugs::{DRUGS, DrugRole, resolve_drug_name};
use ketacare_core::eligibility::{ConcomitantMedicine, HistoryCondition};

/// One drug name a trial may be written with, and what the knowledge base resolves it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrugNameSuggestion {
    /// As a clinician would write it (`sertraline`, `Zoloft`, `venlafaxine XR`).
    pub name: String,
    pub ingredient: &'static str,
    /// The class label of the reports (`SSRI`, `AUGMENTATION`).
    pub class: &'static str,
    /// `antidepressant` or `augmentation`: the trial's `role` this drug is usually recorded with.
    pub role: &'static str,
}

/// Formulation and salt spellings clinicians write, each resolving to one ingredient (the reader's
/// release-profile and salt words, `docs/case-format.md`); the two formulations whose minimum dose
/// differs (clinical-reference §1.3: paroxetine CR, bupropion hydrobromide) among them.
const FORMULATION_SPELLINGS: [&str; 16] = [
    "venlafaxine XR",
    "Effexor XR",
    "desvenlafaxine ER",
    "paroxetine CR",
    "Paxil CR",
    "bupropion SR",
    "bupropion XL",
    "Wellbutrin XL",
    "bupropion hydrobromide",
    "fluvoxamine CR",
    "Remeron SolTab",
    "escitalopram oxalate",
    "sertraline hydrochloride",
    "trazodone ER",
    "quetiapine XR",
    "lithium carbonate",
];

/// The history codes of the case format, in the knowledge base's order.
pub fn history_codes() -> Vec<&'static str> {
    HistoryCondition::ALL.iter().map(|condition| condition.code()).collect()
}

/// The concomitant medicine classes of the case format.
pub fn concomitant_classes() -> Vec<&'static str> {
    ConcomitantMedicine::ALL.iter().map(|medicine| medicine.code()).collect()
}

/// Every name of an antidepressant or augmentation agent the knowledge base resolves, with its
/// ingredient and class, sorted by name (ketamine and esketamine, the treatments ketacare manages, are
/// not trials). Each name is checked through the same reader a trial's `drug` goes through.
pub fn drug_name_suggestions() -> Vec<DrugNameSuggestion> {
    let written = DRUGS
        .iter()
        .filter(|entry| entry.role != DrugRole::Ketamine)
        .flat_map(|entry| {
            std::iter::once(entry.ingredient.to_owned()).chain(entry.other_names.iter().map(|name| brand_case(name)))
        })
        .chain(FORMULATION_SPELLINGS.iter().map(|name| (*name).to_owned()));
    let mut suggestions: Vec<DrugNameSuggestion> = written
        .filter_map(|name| {
            let resolved = resolve_drug_name(&name)?;
            let role = match resolved.entry.role {
                DrugRole::Antidepressant => "antidepressant",
                DrugRole::Augmentation => "augmentation",
                DrugRole::Ketamine => return None,
            };
            Some(DrugNameSuggestion {
                name,
                ingredient: resolved.entry.ingredient,
                class: resolved.entry.class.label(),
                role,
            })
        })
        .collect();
    suggestions.sort_by_key(|suggestion| suggestion.name.to_lowercase());
    suggestions.dedup_by(|a, b| a.name.eq_ignore_ascii_case(&b.name));
    suggestions
}

/// A brand as it is printed (`zoloft` → `Zoloft`, `tofranil-pm` → `Tofranil-pm`); the reader ignores case.
fn brand_case(name: &str) -> String {
    let mut characters = name.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suggestion_resolves_to_its_ingredient_and_every_agent_is_offered() {
        let suggestions = drug_name_suggestions();
        for suggestion in &suggestions {
            let resolved = resolve_drug_name(&suggestion.name).expect("a suggestion resolves");
            assert_eq!(resolved.entry.ingredient, suggestion.ingredient, "{}", suggestion.name);
        }
        for spelling in FORMULATION_SPELLINGS {
            assert!(suggestions.iter().any(|suggestion| suggestion.name == spelling), "{spelling} resolves");
        }
        for entry in DRUGS.iter().filter(|entry| entry.role != DrugRole::Ketamine) {
            assert!(suggestions.iter().any(|suggestion| suggestion.name == entry.ingredient), "{}", entry.ingredient);
        }
        assert!(!suggestions.iter().any(|suggestion| suggestion.ingredient.contains("ketamine")));
        let zoloft = suggestions.iter().find(|suggestion| suggestion.name == "Zoloft").unwrap();
        assert_eq!((zoloft.ingredient, zoloft.class, zoloft.role), ("sertraline", "SSRI", "antidepressant"));
        let lithium = suggestions.iter().find(|suggestion| suggestion.name == "lithium").unwrap();
        assert_eq!(lithium.role, "augmentation");
    }

    #[test]
    fn the_checklists_are_the_case_formats_codes() {
        assert_eq!(history_codes().len(), 14);
        assert!(history_codes().contains(&"bipolar_disorder"));
        assert_eq!(
            concomitant_classes(),
            ["maoi", "psychostimulant", "benzodiazepine", "opioid", "other_cns_depressant"]
        );
    }
}
