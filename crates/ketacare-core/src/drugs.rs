//! The antidepressant knowledge base, as data: ingredients, classes, codes, minimum adequate doses,
//! and the salts, formulations and brand names that resolve to each ingredient (KNOWLEDGE §1.3, §1.4).
//!
//! Every minimum dose here is the KNOWLEDGE §1.3 column, which KNOWLEDGE itself marks UNCONFIRMED
//! against ATHF-SF / MGH-ATRQ: clinician review is required before clinical use.

use rust_decimal::Decimal;

use crate::drug_names::{DrugNameReading, read_drug_name};

/// The fine pharmacological class used by the distinct-classes TRD test (KNOWLEDGE §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DrugClass {
    Ssri,
    Snri,
    Ndri,
    Nassa,
    Sari,
    Sms,
    Spari,
    Tca,
    /// Tetracyclics. KNOWLEDGE §1.4: "TCA and TECA count as the same class" for the distinct-class test.
    Teca,
    Maoi,
    Rima,
    Melatonergic,
    NmdaAntagonist,
    /// Lithium, thyroid hormone and atypical antipsychotics used to augment an antidepressant.
    Augmentation,
}

impl DrugClass {
    /// The label shown in reports (`SSRI`, `SNRI`, …).
    pub fn label(self) -> &'static str {
        match self {
            DrugClass::Ssri => "SSRI",
            DrugClass::Snri => "SNRI",
            DrugClass::Ndri => "NDRI",
            DrugClass::Nassa => "NASSA",
            DrugClass::Sari => "SARI",
            DrugClass::Sms => "SMS",
            DrugClass::Spari => "SPARI",
            DrugClass::Tca => "TCA",
            DrugClass::Teca => "TECA",
            DrugClass::Maoi => "MAOI",
            DrugClass::Rima => "RIMA",
            DrugClass::Melatonergic => "MELATONERGIC",
            DrugClass::NmdaAntagonist => "NMDA_ANTAGONIST",
            DrugClass::Augmentation => "AUGMENTATION",
        }
    }

    /// The class as counted by the distinct-classes test: KNOWLEDGE §1.4 folds TECA into TCA.
    pub fn distinct_class_group(self) -> DrugClass {
        match self {
            DrugClass::Teca => DrugClass::Tca,
            other => other,
        }
    }

    /// The coarse Thase–Rush group (contract reading 9: TCA with TECA; MAOI; SSRI; SNRI; other).
    pub fn thase_rush_group(self) -> ThaseRushGroup {
        match self {
            DrugClass::Tca | DrugClass::Teca => ThaseRushGroup::Tca,
            DrugClass::Maoi => ThaseRushGroup::Maoi,
            DrugClass::Ssri => ThaseRushGroup::Ssri,
            DrugClass::Snri => ThaseRushGroup::Snri,
            _ => ThaseRushGroup::Other,
        }
    }
}

/// The five Thase–Rush drug groups (KNOWLEDGE §1.5.2; assess contract reading 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ThaseRushGroup {
    Tca,
    Maoi,
    Ssri,
    Snri,
    Other,
}

/// What a drug is for, in TRD counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrugRole {
    Antidepressant,
    Augmentation,
    /// Ketamine and esketamine: the treatment this system manages, recorded as history.
    Ketamine,
}

/// One ingredient of the knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub struct DrugEntry {
    /// RxNorm-style ingredient name, lower case.
    pub ingredient: &'static str,
    pub class: DrugClass,
    pub role: DrugRole,
    pub atc: Option<&'static str>,
    /// RxNorm ingredient (TTY=IN) code where KNOWLEDGE §1.4 lists one (many are marked "verify").
    pub rxcui_ingredient: Option<&'static str>,
    /// Product-level RxNorm codes KNOWLEDGE §1.4 lists (not ingredients; used by the screen only).
    pub rxcui_products: &'static [&'static str],
    /// Minimum adequate daily dose in mg (KNOWLEDGE §1.3); `None` where KNOWLEDGE gives none.
    pub min_daily_dose_mg: Option<Decimal>,
    /// Brand and other names that resolve to this ingredient, lower case. A name may have several words
    /// (`prozac weekly`, `s-ketamine`); `drug_names.rs` matches them word for word, never by part of a word.
    pub other_names: &'static [&'static str],
}

/// A drug name resolved against the knowledge base.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedDrug {
    pub entry: &'static DrugEntry,
    /// The minimum adequate daily dose for this formulation or salt (reading 7 of the assess contract).
    pub min_daily_dose_mg: Option<Decimal>,
}

const fn mg(whole: i64) -> Option<Decimal> {
    Some(Decimal::from_parts(whole as u32, 0, 0, false, 0))
}

macro_rules! drug {
    ($ingredient:literal, $class:ident, $role:ident, $atc:expr, $rxcui:expr, $min:expr, [$($name:literal),*]) => {
        DrugEntry {
            ingredient: $ingredient,
            class: DrugClass::$class,
            role: DrugRole::$role,
            atc: $atc,
            rxcui_ingredient: $rxcui,
            rxcui_products: &[],
            min_daily_dose_mg: $min,
            other_names: &[$($name),*],
        }
    };
}

/// The knowledge base. KNOWLEDGE §1.3 (minimum doses) and §1.4 (classes, ATC, RXCUI).
pub static DRUGS: &[DrugEntry] = &[
    // SSRI — KNOWLEDGE §1.3/§1.4
    drug!("citalopram", Ssri, Antidepressant, Some("N06AB04"), Some("2556"), mg(20), ["celexa", "cipramil"]),
    drug!(
        "escitalopram",
        Ssri,
        Antidepressant,
        Some("N06AB10"),
        Some("321988"),
        mg(10),
        ["lexapro", "cipralex", "s-citalopram"]
    ),
    drug!(
        "fluoxetine",
        Ssri,
        Antidepressant,
        Some("N06AB03"),
        Some("4493"),
        mg(20),
        ["prozac", "sarafem", "prozac weekly"]
    ),
    // KNOWLEDGE §1.3: fluvoxamine 100 is a PROJECT DEFAULT (UTD lower bound 50 equals the start dose).
    drug!("fluvoxamine", Ssri, Antidepressant, Some("N06AB08"), Some("42355"), mg(100), ["luvox", "faverin"]),
    // KNOWLEDGE §1.3: paroxetine IR 20; CR/ER 25 (see `formulation_minimum`).
    drug!(
        "paroxetine",
        Ssri,
        Antidepressant,
        Some("N06AB05"),
        Some("32937"),
        mg(20),
        ["paxil", "pexeva", "seroxat", "brisdelle"]
    ),
    drug!("sertraline", Ssri, Antidepressant, Some("N06AB06"), Some("36437"), mg(50), ["zoloft", "lustral"]),
    // SNRI
    drug!("venlafaxine", Snri, Antidepressant, Some("N06AX16"), Some("39786"), mg(75), ["effexor", "efexor"]),
    drug!(
        "desvenlafaxine",
        Snri,
        Antidepressant,
        Some("N06AX23"),
        Some("734064"),
        mg(50),
        ["pristiq", "khedezla", "o-desmethylvenlafaxine", "o-desmethyl-venlafaxine"]
    ),
    drug!(
        "duloxetine",
        Snri,
        Antidepressant,
        Some("N06AX21"),
        Some("72625"),
        mg(60),
        ["cymbalta", "drizalma", "irenka"]
    ),
    drug!("levomilnacipran", Snri, Antidepressant, Some("N06AX28"), None, mg(40), ["fetzima"]),
    drug!("milnacipran", Snri, Antidepressant, Some("N06AX17"), None, mg(100), ["savella", "ixel"]),
    // NDRI — bupropion 300; hydrobromide salt 348 (see `formulation_minimum`).
    drug!(
        "bupropion",
        Ndri,
        Antidepressant,
        Some("N06AX12"),
        Some("42347"),
        mg(300),
        ["wellbutrin", "aplenzin", "forfivo", "zyban", "budeprion", "elontril"]
    ),
    // NaSSA
    drug!(
        "mirtazapine",
        Nassa,
        Antidepressant,
        Some("N06AX11"),
        Some("15996"),
        mg(15),
        ["remeron", "remeronsoltab", "zispin"]
    ),
    // KNOWLEDGE §1.4 lists mianserin without a minimum dose in §1.3: adequacy by dose stays open.
    drug!("mianserin", Nassa, Antidepressant, Some("N06AX03"), None, None, ["tolvon"]),
    // SARI
    drug!(
        "trazodone",
        Sari,
        Antidepressant,
        Some("N06AX05"),
        Some("10737"),
        mg(200),
        ["desyrel", "oleptro", "molipaxin", "trittico"]
    ),
    drug!("nefazodone", Sari, Antidepressant, Some("N06AX06"), Some("31565"), mg(300), ["serzone"]),
    // Multimodal: vortioxetine 10 is a PROJECT DEFAULT; vilazodone 20 UNCONFIRMED (KNOWLEDGE §1.3).
    drug!("vortioxetine", Sms, Antidepressant, Some("N06AX26"), None, mg(10), ["trintellix", "brintellix"]),
    drug!("vilazodone", Spari, Antidepressant, Some("N06AX24"), None, mg(20), ["viibryd"]),
    // TCA
    drug!("amitriptyline", Tca, Antidepressant, Some("N06AA09"), Some("704"), mg(150), ["elavil", "endep"]),
    drug!("clomipramine", Tca, Antidepressant, Some("N06AA04"), Some("2597"), mg(100), ["anafranil"]),
    drug!("desipramine", Tca, Antidepressant, Some("N06AA01"), Some("3247"), mg(150), ["norpramin"]),
    drug!("doxepin", Tca, Antidepressant, Some("N06AA12"), Some("3638"), mg(100), ["sinequan", "silenor"]),
    drug!("imipramine", Tca, Antidepressant, Some("N06AA02"), Some("5691"), mg(150), ["tofranil", "tofranil-pm"]),
    // KNOWLEDGE §1.3: nortriptyline 50 mg (or a therapeutic plasma level, which a clinician may attest).
    drug!("nortriptyline", Tca, Antidepressant, Some("N06AA10"), Some("7531"), mg(50), ["pamelor", "aventyl"]),
    drug!("protriptyline", Tca, Antidepressant, Some("N06AA11"), Some("8886"), mg(15), ["vivactil"]),
    drug!("trimipramine", Tca, Antidepressant, Some("N06AA06"), Some("10834"), mg(150), ["surmontil"]),
    drug!("amoxapine", Tca, Antidepressant, Some("N06AA17"), Some("722"), mg(200), ["asendin"]),
    drug!("maprotiline", Teca, Antidepressant, Some("N06AA21"), Some("6646"), mg(100), ["ludiomil"]),
    // MAOI — phenelzine 45 PROJECT DEFAULT; isocarboxazid 30 PROJECT DEFAULT, UNCONFIRMED (KNOWLEDGE §1.3).
    drug!("phenelzine", Maoi, Antidepressant, Some("N06AF03"), Some("8123"), mg(45), ["nardil"]),
    drug!("tranylcypromine", Maoi, Antidepressant, Some("N06AF04"), Some("10734"), mg(30), ["parnate"]),
    drug!("isocarboxazid", Maoi, Antidepressant, Some("N06AF01"), Some("6011"), mg(30), ["marplan"]),
    // Selegiline transdermal 6 mg/24 h (KNOWLEDGE §1.3); ATC files it under anti-Parkinson drugs.
    drug!("selegiline", Maoi, Antidepressant, Some("N04BD01"), Some("9639"), mg(6), ["emsam"]),
    // Non-US: moclobemide 300 UNCONFIRMED; agomelatine 25 (KNOWLEDGE §1.3).
    drug!("moclobemide", Rima, Antidepressant, Some("N06AG02"), None, mg(300), ["aurorix", "manerix"]),
    drug!("agomelatine", Melatonergic, Antidepressant, Some("N06AX22"), None, mg(25), ["valdoxan"]),
    // NMDA antagonists: the treatments ketacare manages (KNOWLEDGE §1.4).
    drug!("esketamine", NmdaAntagonist, Ketamine, Some("N06AX27"), None, None, ["spravato", "s-ketamine"]),
    DrugEntry {
        ingredient: "ketamine",
        class: DrugClass::NmdaAntagonist,
        role: DrugRole::Ketamine,
        atc: Some("N01AX03"),
        rxcui_ingredient: Some("6130"),
        // KNOWLEDGE §1.4: ketamine injection product RXCUIs (generic and Ketalar).
        rxcui_products: &["238082", "238083", "238084", "206967", "206970", "206972"],
        min_daily_dose_mg: None,
        other_names: &["ketalar"],
    },
    // Augmentation agents (KNOWLEDGE §1.2, §1.4): never an antidepressant failure.
    drug!(
        "lithium",
        Augmentation,
        Augmentation,
        Some("N05AN01"),
        Some("6448"),
        None,
        ["lithobid", "eskalith", "priadel", "camcolit"]
    ),
    drug!("aripiprazole", Augmentation, Augmentation, None, Some("89013"), None, ["abilify"]),
    drug!("quetiapine", Augmentation, Augmentation, None, Some("51272"), None, ["seroquel"]),
    drug!("brexpiprazole", Augmentation, Augmentation, None, None, None, ["rexulti"]),
    drug!("olanzapine", Augmentation, Augmentation, None, Some("61381"), None, ["zyprexa"]),
    drug!("cariprazine", Augmentation, Augmentation, None, None, None, ["vraylar"]),
    drug!("liothyronine", Augmentation, Augmentation, None, None, None, ["cytomel", "t3"]),
];

/// Fixed combinations that contain a knowledge-base ingredient, and the partners they pair it with.
/// KNOWLEDGE §1.2 counts one ingredient per trial and says nothing of combinations, so a name that
/// mentions one of these resolves to nothing rather than to one of its parts (PROJECT DEFAULT).
pub const COMBINATION_NAMES: &[&str] = &[
    // olanzapine and fluoxetine
    "symbyax",
    // dextromethorphan and bupropion
    "auvelity",
    "dextromethorphan",
    // naltrexone and bupropion (for weight)
    "contrave",
    "mysimba",
    "naltrexone",
    // chlordiazepoxide and amitriptyline
    "limbitrol",
    "chlordiazepoxide",
    // perphenazine and amitriptyline
    "triavil",
    "etrafon",
    "perphenazine",
    // olanzapine and samidorphan
    "lybalvi",
    "samidorphan",
];

/// Resolves a drug as written by a clinician or an EHR ("Lexapro", "venlafaxine XR",
/// "sertraline 50mg tabs", "escitalopram (as oxalate)", "sertraline 50 MG Oral Tablet [Zoloft]") to its
/// ingredient, or `None` when it names no knowledge-base ingredient, names two, or carries a word that
/// is not a strength, a dose form, a salt or a brand (see `drug_names.rs`).
pub fn resolve_drug_name(written: &str) -> Option<ResolvedDrug> {
    let reading = read_drug_name(written);
    let entry = reading.ingredient_of_name()?;
    Some(ResolvedDrug { entry, min_daily_dose_mg: formulation_minimum(entry, &reading) })
}

/// The minimum adequate daily dose of `entry` in the formulation a reading names: the
/// formulation-specific minimum where KNOWLEDGE §1.3 gives one (assess contract reading 7), else the
/// ingredient's.
pub fn formulation_minimum(entry: &DrugEntry, reading: &DrugNameReading) -> Option<Decimal> {
    match entry.ingredient {
        // KNOWLEDGE §1.3: paroxetine CR 25 mg (brand "Paxil CR" included).
        "paroxetine" if reading.extended_release => mg(25),
        // KNOWLEDGE §1.3: bupropion hydrobromide 348 mg (Aplenzin is the HBr salt).
        "bupropion" if reading.hydrobromide => mg(348),
        _ => entry.min_daily_dose_mg,
    }
}

/// The minimum adequate daily dose of `entry` as named in free text ("Paxil CR 25 mg tablet",
/// "bupropion hydrobromide 174 MG"): the formulation-specific minimum where KNOWLEDGE §1.3 gives one
/// (assess contract reading 7), else the ingredient's.
pub fn minimum_dose_in_text(entry: &DrugEntry, text: &str) -> Option<Decimal> {
    // Only these ingredients have formulation-specific minimums (see `formulation_minimum`).
    if !matches!(entry.ingredient, "paroxetine" | "bupropion") {
        return entry.min_daily_dose_mg;
    }
    formulation_minimum(entry, &read_drug_name(text))
}

/// Looks an ingredient up by its exact knowledge-base name.
pub fn drug_by_ingredient(ingredient: &str) -> Option<&'static DrugEntry> {
    DRUGS.iter().find(|entry| entry.ingredient == ingredient)
}

/// Looks a drug up by an RxNorm code: ingredient codes, and the product codes the knowledge base lists.
pub fn drug_by_rxcui(code: &str) -> Option<&'static DrugEntry> {
    DRUGS.iter().find(|entry| entry.rxcui_ingredient == Some(code) || entry.rxcui_products.contains(&code))
}

/// The one knowledge-base drug named in `text` as whole words, other words allowed (case-insensitive).
/// Used by the population screen on `text` and `display` fields ("Sertraline 50 MG Oral Tablet" →
/// sertraline; screen contract reading 14). Read by the same reader as [`resolve_drug_name`]: two
/// ingredients, a related molecule (`R-ketamine`) or a combination partner give `None`.
pub fn drug_named_in_text(text: &str) -> Option<&'static DrugEntry> {
    read_drug_name(text).ingredient_in_text()
}

/// The position of `entry` in [`DRUGS`] (a compact handle for per-patient event lists).
pub fn drug_index(entry: &DrugEntry) -> usize {
    DRUGS.iter().position(|candidate| candidate.ingredient == entry.ingredient).unwrap_or(0)
}

/// Pairs of distinct agents KNOWLEDGE §1.2 flags as closely related molecules (enantiomer or metabolite).
pub const CLOSELY_RELATED_PAIRS: &[(&str, &str)] =
    &[("citalopram", "escitalopram"), ("venlafaxine", "desvenlafaxine"), ("milnacipran", "levomilnacipran")];

/// The partner of `ingredient` in a closely related pair, if it has one.
pub fn closely_related_partner(ingredient: &str) -> Option<&'static str> {
    CLOSELY_RELATED_PAIRS.iter().find_map(|(first, second)| {
        if *first == ingredient {
            Some(*second)
        } else if *second == ingredient {
            Some(*first)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(written: &str, ingredient: &str, min_mg: Option<i64>) {
        let resolved = resolve_drug_name(written).unwrap_or_else(|| panic!("{written} did not resolve"));
        assert_eq!(resolved.entry.ingredient, ingredient, "{written}");
        assert_eq!(resolved.min_daily_dose_mg, min_mg.map(Decimal::from), "{written}");
    }

    #[test]
    fn names_salts_forms_and_brands_resolve() {
        check("sertraline", "sertraline", Some(50));
        check("Sertraline hydrochloride 50 mg tablet", "sertraline", Some(50));
        check("Lexapro", "escitalopram", Some(10));
        check("venlafaxine XR", "venlafaxine", Some(75));
        check("Effexor XR", "venlafaxine", Some(75));
        check("bupropion XL", "bupropion", Some(300));
        check("bupropion hydrobromide", "bupropion", Some(348));
        check("Aplenzin", "bupropion", Some(348));
        check("bupropion HBr", "bupropion", Some(348));
        check("paroxetine", "paroxetine", Some(20));
        check("paroxetine CR", "paroxetine", Some(25));
        check("Paxil CR", "paroxetine", Some(25));
        check("paroxetine ER", "paroxetine", Some(25));
        check("duloxetine DR", "duloxetine", Some(60));
        check("Emsam", "selegiline", Some(6));
        check("Spravato", "esketamine", None);
    }

    #[test]
    fn unknown_names_do_not_resolve() {
        for written in ["", "XR", "aspirin", "sertralin", "venlafaxine sertraline", "sertraline daily"] {
            assert!(resolve_drug_name(written).is_none(), "{written}");
        }
    }

    #[test]
    fn codes_resolve_and_are_unique() {
        assert_eq!(drug_by_rxcui("36437").map(|entry| entry.ingredient), Some("sertraline"));
        assert_eq!(drug_by_rxcui("238082").map(|entry| entry.ingredient), Some("ketamine"));
        let mut codes: Vec<&str> = DRUGS.iter().filter_map(|entry| entry.rxcui_ingredient).collect();
        let count = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), count, "an RXCUI appears twice in the knowledge base");
    }

    #[test]
    fn names_are_found_as_whole_words_in_text() {
        let check_text = |text: &str, expected: Option<&str>| {
            assert_eq!(drug_named_in_text(text).map(|entry| entry.ingredient), expected, "{text}");
        };
        check_text("Sertraline 50 MG Oral Tablet", Some("sertraline"));
        check_text("24 HR ZOLOFT tab", Some("sertraline"));
        check_text("escitalopram (as oxalate) 10 mg", Some("escitalopram"));
        check_text("Lexapro", Some("escitalopram"));
        check_text("sertralinex 50 mg", None);
        check_text("lisinopril 10 mg", None);
        check_text("", None);
        assert_eq!(DRUGS[drug_index(drug_by_ingredient("bupropion").unwrap())].ingredient, "bupropion");
        let paroxetine = drug_by_ingredient("paroxetine").unwrap();
        assert_eq!(minimum_dose_in_text(paroxetine, "Paxil CR 25 MG tablet"), Some(Decimal::from(25)));
        assert_eq!(minimum_dose_in_text(paroxetine, "paroxetine 20 MG Oral Tablet"), Some(Decimal::from(20)));
    }

    /// Every name of the knowledge base and of its combinations, as the reader tokenises it.
    fn every_name_as_tokens() -> Vec<(String, Vec<String>)> {
        DRUGS
            .iter()
            .flat_map(|entry| std::iter::once(entry.ingredient).chain(entry.other_names.iter().copied()))
            .chain(COMBINATION_NAMES.iter().copied())
            .map(|name| (name.to_owned(), crate::drug_names::words_of_name(name)))
            .collect()
    }

    #[test]
    fn every_name_is_unique_across_the_knowledge_base() {
        let mut names: Vec<Vec<String>> = every_name_as_tokens().into_iter().map(|(_, tokens)| tokens).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "two names read as the same words");
    }

    #[test]
    fn no_name_starts_with_a_number_or_a_strength_form_or_salt_word() {
        for (name, tokens) in every_name_as_tokens() {
            let first = tokens.first().unwrap_or_else(|| panic!("{name:?} has no word"));
            assert!(!first.starts_with(|c: char| c.is_ascii_digit()), "{name} starts with a number");
            assert!(!crate::drug_names::is_noise_word(first), "{name} starts with a noise word");
        }
    }
}
