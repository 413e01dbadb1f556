//! Reading a drug name as clinicians, EHRs and RxNorm write it ("sertraline 50mg tabs",
//! "Remeron SolTab", "24 HR venlafaxine 75 MG Extended Release Oral Capsule [Effexor]") down to the one
//! knowledge-base ingredient it names, the way RxNorm normalises names: strengths, units, dose forms,
//! salts, brands, case and punctuation fall away; any other word keeps the name unresolved.
//!
//! KNOWLEDGE §1.2: one trial is one ingredient (RxNorm IN); IR/SR/XR formulations and salts of the same
//! ingredient collapse to one agent. Never across ingredients: names are matched as whole words, so
//! escitalopram is never citalopram, and a name that mentions two ingredients, a molecule related to one
//! (`R-ketamine`, `levo-milnacipran`) or a combination partner resolves to nothing.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use crate::drugs::{COMBINATION_NAMES, DRUGS, DrugEntry};

/// Units of a strength or a dose (`50 mg`, `0.5 mg/mL`, `6 mg/24 hr`, `8 mEq/5 mL`, `0.5 mg/kg`):
/// dropped only after a number, or after `per` / `in` within a strength.
const UNITS: &[&str] = &[
    "mg",
    "milligram",
    "milligrams",
    "mcg",
    "ug",
    "µg",
    "μg",
    "microgram",
    "micrograms",
    "g",
    "gm",
    "gram",
    "grams",
    "ml",
    "mls",
    "milliliter",
    "milliliters",
    "millilitre",
    "millilitres",
    "l",
    "meq",
    "kg",
    "hr",
    "hrs",
    "h",
    "hour",
    "hours",
    "d",
    "day",
    "days",
];

/// Words joining two quantities of one strength (`28 mg per 0.2 mL`, `150 mg in 5 mL`).
const STRENGTH_CONNECTORS: &[&str] = &["per", "in"];

/// Dose forms, routes and release profiles with the abbreviations pharmacy systems and letters use
/// (RxNorm dose forms "Oral Tablet", "Disintegrating Oral Tablet", "Transdermal System", …).
const DOSE_FORM_WORDS: &[&str] = &[
    "tab",
    "tabs",
    "tablet",
    "tablets",
    "cap",
    "caps",
    "capsule",
    "capsules",
    "odt",
    "orally",
    "disintegrating",
    "dissolving",
    "dispersible",
    "chewable",
    "film",
    "coated",
    "fc",
    "ec",
    "enteric",
    "soltab",
    "soltabs",
    "zydis",
    "sprinkle",
    "pellets",
    "oral",
    "po",
    "solution",
    "soln",
    "suspension",
    "susp",
    "liquid",
    "concentrate",
    "conc",
    "syrup",
    "elixir",
    "drops",
    "patch",
    "patches",
    "transdermal",
    "system",
    "td",
    "nasal",
    "intranasal",
    "spray",
    "device",
    "injection",
    "injectable",
    "inj",
    "infusion",
    "intravenous",
    "iv",
    "intramuscular",
    "im",
    "vial",
    "ampule",
    "ampoule",
    "powder",
    "kit",
    "pack",
    "usp",
    "ir",
    "sr",
    "xr",
    "xl",
    "er",
    "cr",
    "la",
    "dr",
    "cd",
    "pr",
    "mr",
    "extended",
    "controlled",
    "sustained",
    "modified",
    "prolonged",
    "immediate",
    "delayed",
    "release",
    "released",
    "releasing",
];

/// Salts and hydrates that RxNorm folds into the ingredient (`sertraline hydrochloride`,
/// `escitalopram (as oxalate)`, `paroxetine hydrochloride hemihydrate`).
const SALT_WORDS: &[&str] = &[
    "hydrochloride",
    "hydrochlorid",
    "hcl",
    "hydrobromide",
    "hbr",
    "oxalate",
    "succinate",
    "besylate",
    "mesylate",
    "maleate",
    "sodium",
    "citrate",
    "tartrate",
    "fumarate",
    "hemifumarate",
    "sulfate",
    "sulphate",
    "carbonate",
    "pamoate",
    "monohydrate",
    "hemihydrate",
    "dihydrate",
    "anhydrous",
    "base",
];

/// Release words after which paroxetine's minimum is 25 mg (assess contract reading 7).
const EXTENDED_RELEASE_WORDS: &[&str] = &["cr", "er", "xr", "xl", "extended", "controlled"];

/// Words naming the bupropion hydrobromide salt, after which its minimum is 348 mg (reading 7).
const HYDROBROMIDE_WORDS: &[&str] = &["hydrobromide", "hbr", "aplenzin"];

/// Words that, written before an ingredient, name another molecule: an enantiomer (`R-ketamine`,
/// `levo-milnacipran`, `es citalopram`) or a metabolite (`N-desmethylvenlafaxine`, `nor-fluoxetine`).
/// KNOWLEDGE §1.2 counts enantiomers and metabolites as distinct agents: such a name resolves to nothing.
const RELATED_MOLECULE_PREFIXES: &[&str] =
    &["s", "r", "es", "ar", "l", "d", "levo", "dextro", "dex", "des", "desmethyl", "nor", "o", "n", "hydroxy"];

/// The part a vocabulary word plays in a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoiseKind {
    Unit,
    StrengthConnector,
    DoseForm,
    Salt,
    /// `as`, as in `escitalopram (as oxalate)`.
    As,
}

/// What a knowledge-base name stands for.
#[derive(Debug, Clone, Copy)]
enum NameMeaning {
    Ingredient(&'static DrugEntry),
    /// A fixed combination or its non-antidepressant partner (`Symbyax`, `dextromethorphan`).
    Combination,
}

/// One knowledge-base name, by the words after its first.
#[derive(Debug)]
struct LexiconName {
    rest: Vec<String>,
    meaning: NameMeaning,
}

/// Everything the reader knows about one lower-cased word.
#[derive(Debug, Default)]
struct LexiconWord {
    noise: Option<NoiseKind>,
    /// The names that start with this word, longest first.
    names: Vec<LexiconName>,
    extended_release: bool,
    hydrobromide: bool,
    related_molecule_prefix: bool,
}

/// FNV-1a: a fixed hash, so the lexicon has no random state (the core has no randomness) and short
/// words hash fast.
#[derive(Debug)]
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type Lexicon = HashMap<String, LexiconWord, BuildHasherDefault<Fnv1a>>;

/// The knowledge base's names (tokenised like the text they are matched in) and the vocabulary of
/// strengths, dose forms and salts, in one table: one look-up per word.
static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let mut lexicon = Lexicon::default();
    let vocabularies = [
        (UNITS, NoiseKind::Unit),
        (STRENGTH_CONNECTORS, NoiseKind::StrengthConnector),
        (DOSE_FORM_WORDS, NoiseKind::DoseForm),
        (SALT_WORDS, NoiseKind::Salt),
        (&["as"][..], NoiseKind::As),
    ];
    for (words, kind) in vocabularies {
        for word in words {
            lexicon.entry((*word).to_owned()).or_default().noise = Some(kind);
        }
    }
    for word in EXTENDED_RELEASE_WORDS {
        lexicon.entry((*word).to_owned()).or_default().extended_release = true;
    }
    for word in HYDROBROMIDE_WORDS {
        lexicon.entry((*word).to_owned()).or_default().hydrobromide = true;
    }
    for word in RELATED_MOLECULE_PREFIXES {
        lexicon.entry((*word).to_owned()).or_default().related_molecule_prefix = true;
    }
    let ingredient_names = DRUGS.iter().flat_map(|entry| {
        std::iter::once(entry.ingredient)
            .chain(entry.other_names.iter().copied())
            .map(move |name| (name, NameMeaning::Ingredient(entry)))
    });
    let combination_names = COMBINATION_NAMES.iter().map(|name| (*name, NameMeaning::Combination));
    for (name, meaning) in ingredient_names.chain(combination_names) {
        let mut words = name_tokens(name).into_iter();
        let Some(first) = words.next() else { continue };
        let names = &mut lexicon.entry(first).or_default().names;
        names.push(LexiconName { rest: words.collect(), meaning });
        names.sort_by_key(|candidate| std::cmp::Reverse(candidate.rest.len()));
    }
    lexicon
});

/// One token of a name: a run of letters, or a run of digits with its decimal marks;
/// with what the lexicon knows of it.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    is_number: bool,
    word: Option<&'static LexiconWord>,
}

impl Token<'_> {
    fn noise(&self) -> Option<NoiseKind> {
        self.word.and_then(|word| word.noise)
    }

    fn is_quantity_part(&self) -> bool {
        self.is_number || self.noise() == Some(NoiseKind::Unit)
    }
}

/// Splits lower-cased text into words: runs of letters, and runs of digits with the `.` or `,` between
/// two digits (`0.5`, `1,000`); everything else separates (spaces, brackets, commas, hyphens, slashes).
/// Yields each word with whether it is a number.
fn split_words(lowered: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = lowered;
    std::iter::from_fn(move || {
        loop {
            let character = rest.chars().next()?;
            let (length, is_number) = if character.is_ascii_digit() {
                let bytes = rest.as_bytes();
                let mut end = 1;
                while end < bytes.len()
                    && (bytes[end].is_ascii_digit()
                        || (matches!(bytes[end], b'.' | b',') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)))
                {
                    end += 1;
                }
                (end, true)
            } else if character.is_alphabetic() {
                (rest.find(|next: char| !next.is_alphabetic()).unwrap_or(rest.len()), false)
            } else {
                rest = &rest[character.len_utf8()..];
                continue;
            };
            let (word, after) = rest.split_at(length);
            rest = after;
            return Some((word, is_number));
        }
    })
}

/// The words of text that is ASCII or already lower-cased, each with what the lexicon knows of it.
fn tokens(text: &str) -> Vec<Token<'_>> {
    let lexicon: &'static Lexicon = &LEXICON;
    let mut found = Vec::with_capacity(12);
    found.extend(split_words(text).map(|(text, is_number)| Token {
        text,
        is_number,
        word: if is_number { None } else { look_up(lexicon, text) },
    }));
    found
}

/// Looks a word up case-insensitively, lower-casing ASCII on the stack rather than allocating.
fn look_up(lexicon: &'static Lexicon, word: &str) -> Option<&'static LexiconWord> {
    if !word.bytes().any(|byte| byte.is_ascii_uppercase()) {
        return lexicon.get(word);
    }
    let mut buffer = [0u8; 32];
    let Some(lowered) = buffer.get_mut(..word.len()) else {
        return lexicon.get(word.to_ascii_lowercase().as_str());
    };
    lowered.copy_from_slice(word.as_bytes());
    lowered.make_ascii_lowercase();
    lexicon.get(std::str::from_utf8(lowered).ok()?)
}

/// The words of a knowledge-base name as the reader sees them.
fn name_tokens(name: &str) -> Vec<String> {
    split_words(&name.to_lowercase()).map(|(word, _)| word.to_owned()).collect()
}

/// The longest knowledge-base name at the start of `tokens`, with the number of tokens it spans.
fn name_at(tokens: &[Token<'_>]) -> Option<(NameMeaning, usize)> {
    let first = tokens.first()?.word?;
    first.names.iter().find_map(|candidate| {
        let following = tokens.get(1..=candidate.rest.len())?;
        let matches = following.iter().zip(&candidate.rest).all(|(token, word)| token.text.eq_ignore_ascii_case(word));
        matches.then_some((candidate.meaning, 1 + candidate.rest.len()))
    })
}

/// The index after the strength that starts with the number at `start`: numbers and units
/// (`50 mg`, `0.5 mg/mL`, `20mg/24hr`, `24 HR`), joined by `per` / `in` (`28 mg per 0.2 mL`).
fn end_of_strength(tokens: &[Token<'_>], start: usize) -> usize {
    let mut index = start + 1;
    while let Some(token) = tokens.get(index) {
        if token.is_quantity_part() {
            index += 1;
        } else if token.noise() == Some(NoiseKind::StrengthConnector)
            && tokens.get(index + 1).is_some_and(Token::is_quantity_part)
        {
            index += 2;
        } else {
            break;
        }
    }
    index
}

/// A drug name read word by word against the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DrugNameReading {
    /// The first ingredient named.
    pub ingredient: Option<&'static DrugEntry>,
    /// A second, different ingredient is named too (`olanzapine and fluoxetine`, `Celexa (escitalopram)`).
    pub names_two_ingredients: bool,
    /// A word that is not a name, a strength, a unit, a dose form or a salt (`daily`, `sertralinex`).
    pub has_unrecognised_words: bool,
    /// An enantiomer or metabolite prefix stands before a name (`R-ketamine`, `des-venlafaxine`).
    pub names_related_molecule: bool,
    /// A fixed combination or a combination partner is named (`Symbyax`, `dextromethorphan`).
    pub names_combination: bool,
    /// A release word that changes paroxetine's minimum dose (assess contract reading 7).
    pub extended_release: bool,
    /// The bupropion hydrobromide salt (`hydrobromide`, `HBr`, or its brand Aplenzin; reading 7).
    pub hydrobromide: bool,
}

impl DrugNameReading {
    /// The one ingredient named in text that may hold other words (the screen's `text` and `display`
    /// fields, screen contract reading 14): none for two ingredients, a related molecule or a combination.
    pub fn ingredient_in_text(&self) -> Option<&'static DrugEntry> {
        self.ingredient
            .filter(|_| !self.names_two_ingredients && !self.names_related_molecule && !self.names_combination)
    }

    /// The one ingredient the whole text names: as [`Self::ingredient_in_text`], and every other word is
    /// a strength, a unit, a dose form, a salt or a brand of the same ingredient.
    pub fn ingredient_of_name(&self) -> Option<&'static DrugEntry> {
        self.ingredient_in_text().filter(|_| !self.has_unrecognised_words)
    }
}

/// What the previous token turned out to be, for the related-molecule check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenRole {
    Start,
    Recognised,
    Unrecognised,
}

/// Reads `written` word by word: strengths with their units, dose forms, salts, names (the longest
/// that fits); every other word is unrecognised.
pub fn read_drug_name(written: &str) -> DrugNameReading {
    // ASCII is read as written (looked up case-insensitively); anything else is lower-cased first.
    let lowered: Cow<'_, str> =
        if written.is_ascii() { Cow::Borrowed(written) } else { Cow::Owned(written.to_lowercase()) };
    let tokens = tokens(&lowered);
    let mut reading = DrugNameReading::default();
    for word in tokens.iter().filter_map(|token| token.word) {
        reading.extended_release |= word.extended_release;
        reading.hydrobromide |= word.hydrobromide;
    }
    let mut previous = TokenRole::Start;
    let mut index = 0;
    while index < tokens.len() {
        let token = tokens[index];
        let noise = token.noise();
        let role = if token.is_number {
            index = end_of_strength(&tokens, index);
            TokenRole::Recognised
        } else if matches!(noise, Some(NoiseKind::DoseForm | NoiseKind::Salt)) {
            index += 1;
            TokenRole::Recognised
        } else if let Some((meaning, length)) = name_at(&tokens[index..]) {
            let after_prefix = previous == TokenRole::Unrecognised
                && tokens[index - 1].word.is_some_and(|word| word.related_molecule_prefix);
            reading.names_related_molecule |= after_prefix;
            match meaning {
                NameMeaning::Ingredient(entry) => match reading.ingredient {
                    None => reading.ingredient = Some(entry),
                    Some(first) => reading.names_two_ingredients |= first.ingredient != entry.ingredient,
                },
                NameMeaning::Combination => reading.names_combination = true,
            }
            index += length;
            TokenRole::Recognised
        } else if noise == Some(NoiseKind::As)
            && tokens.get(index + 1).is_some_and(|next| starts_salt_or_name(&tokens[index + 1..], next))
        {
            // `escitalopram (as oxalate)`, `escitalopram (as escitalopram oxalate)`.
            index += 1;
            TokenRole::Recognised
        } else {
            reading.has_unrecognised_words = true;
            index += 1;
            TokenRole::Unrecognised
        };
        previous = role;
    }
    reading
}

fn starts_salt_or_name(rest: &[Token<'_>], next: &Token<'_>) -> bool {
    next.noise() == Some(NoiseKind::Salt) || name_at(rest).is_some()
}

/// Whether `word` is a strength unit, a dose form, a salt, or a word joining the parts of a strength:
/// a knowledge-base name must not start with one (tested in `drugs.rs`).
#[cfg(test)]
pub(crate) fn is_noise_word(word: &str) -> bool {
    LEXICON.get(word).is_some_and(|entry| entry.noise.is_some())
}

/// The words of a knowledge-base name as the reader sees them (for the knowledge-base tests).
#[cfg(test)]
pub(crate) fn words_of_name(name: &str) -> Vec<String> {
    name_tokens(name)
}
