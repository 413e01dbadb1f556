//! Drug names as they arrive from EHRs and referral letters (`tests/drug_names.tsv`), each checked
//! against the ingredient it must resolve to, or must not; every failing line is reported at once
//! (KNOWLEDGE §1.2–§1.4; assess contract reading 7; screen contract reading 14).

use ketacare_core::drugs::{CLOSELY_RELATED_PAIRS, DRUGS, drug_named_in_text, resolve_drug_name};
use rust_decimal::Decimal;

const CORPUS: &str = include_str!("drug_names.tsv");

/// What a line of the corpus expects (the header of `drug_names.tsv` explains the notation).
#[derive(Debug)]
enum Expected<'a> {
    Ingredient(&'a str),
    UnknownAsName,
    NothingAnywhere,
    Never(&'a str),
}

#[derive(Debug)]
struct CorpusLine<'a> {
    line_number: usize,
    written: &'a str,
    expected: Expected<'a>,
    minimum_mg: Option<Decimal>,
}

fn corpus_lines() -> Vec<CorpusLine<'static>> {
    CORPUS
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(index, line)| {
            let columns: Vec<&str> = line.split('\t').collect();
            assert!(matches!(columns.len(), 2 | 3), "drug_names.tsv:{}: two or three columns expected", index + 1);
            let expected = match columns[1] {
                "-" => Expected::UnknownAsName,
                "none" => Expected::NothingAnywhere,
                never if never.starts_with('!') => Expected::Never(&never[1..]),
                ingredient => Expected::Ingredient(ingredient),
            };
            let minimum_mg = columns.get(2).map(|minimum| minimum.parse().expect("a minimum dose in mg"));
            CorpusLine { line_number: index + 1, written: columns[0], expected, minimum_mg }
        })
        .collect()
}

/// What the corpus line's form resolves to as a name (case, chart) and inside text (screen), or why not.
fn check(line: &CorpusLine) -> Result<(), String> {
    let as_name = resolve_drug_name(line.written);
    let name_ingredient = as_name.as_ref().map(|resolved| resolved.entry.ingredient);
    let text_ingredient = drug_named_in_text(line.written).map(|entry| entry.ingredient);
    let ok = match line.expected {
        Expected::Ingredient(ingredient) => {
            name_ingredient == Some(ingredient)
                && text_ingredient == Some(ingredient)
                && line.minimum_mg.is_none_or(|minimum| as_name.as_ref().unwrap().min_daily_dose_mg == Some(minimum))
        }
        Expected::UnknownAsName => name_ingredient.is_none(),
        Expected::NothingAnywhere => name_ingredient.is_none() && text_ingredient.is_none(),
        Expected::Never(ingredient) => name_ingredient != Some(ingredient) && text_ingredient != Some(ingredient),
    };
    if ok {
        return Ok(());
    }
    Err(format!(
        "drug_names.tsv:{}: {:?} expected {:?}{}, got as name {:?} (minimum {:?} mg), in text {:?}",
        line.line_number,
        line.written,
        line.expected,
        line.minimum_mg.map(|minimum| format!(" (minimum {minimum} mg)")).unwrap_or_default(),
        name_ingredient,
        as_name.as_ref().and_then(|resolved| resolved.min_daily_dose_mg),
        text_ingredient,
    ))
}

#[test]
fn every_written_form_of_the_corpus_resolves_as_expected() {
    let lines = corpus_lines();
    let failures: Vec<String> = lines.iter().filter_map(|line| check(line).err()).collect();
    let resolving = lines.iter().filter(|line| matches!(line.expected, Expected::Ingredient(_))).count();
    println!("{} written forms: {resolving} resolve, {} stay unresolved", lines.len(), lines.len() - resolving);
    assert!(failures.is_empty(), "{} of {} lines fail:\n{}", failures.len(), lines.len(), failures.join("\n"));
}

/// The corpus covers every ingredient of the knowledge base with several written forms.
#[test]
fn the_corpus_covers_every_ingredient() {
    const FORMS_PER_INGREDIENT: usize = 4;
    let lines = corpus_lines();
    let thin: Vec<String> = DRUGS
        .iter()
        .map(|entry| {
            let forms = lines
                .iter()
                .filter(
                    |line| matches!(line.expected, Expected::Ingredient(ingredient) if ingredient == entry.ingredient),
                )
                .count();
            (entry.ingredient, forms)
        })
        .filter(|(_, forms)| *forms < FORMS_PER_INGREDIENT)
        .map(|(ingredient, forms)| format!("{ingredient}: {forms} forms"))
        .collect();
    assert!(thin.is_empty(), "fewer than {FORMS_PER_INGREDIENT} forms for:\n{}", thin.join("\n"));
    assert!(lines.len() >= 300, "the corpus has {} lines", lines.len());
}

/// Closely related molecules (KNOWLEDGE §1.2), and the pairs that differ by one prefix: every name of
/// one member, alone or with a strength and a form, resolves to that member and never to the other.
#[test]
fn no_name_of_one_related_molecule_resolves_to_the_other() {
    let more_pairs = [("ketamine", "esketamine"), ("amitriptyline", "nortriptyline"), ("imipramine", "desipramine")];
    let mut failures = Vec::new();
    for (first, second) in CLOSELY_RELATED_PAIRS.iter().copied().chain(more_pairs) {
        for (member, other) in [(first, second), (second, first)] {
            let entry = DRUGS.iter().find(|entry| entry.ingredient == member).expect("a knowledge-base ingredient");
            for name in std::iter::once(entry.ingredient).chain(entry.other_names.iter().copied()) {
                for written in [name.to_owned(), format!("{name} 10 mg tablet"), format!("{} ER", name.to_uppercase())]
                {
                    let as_name = resolve_drug_name(&written).map(|resolved| resolved.entry.ingredient);
                    let in_text = drug_named_in_text(&written).map(|entry| entry.ingredient);
                    if as_name != Some(member) || in_text != Some(member) {
                        failures.push(format!("{written:?}: as name {as_name:?}, in text {in_text:?}, not {other}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
