//! The shipped clinical reference (`docs/clinical-reference.md`) covers what the program uses: every rule
//! id, trial reason, intake code, gate item, alert rule, discharge criterion and dose hard stop, every
//! setting of the shipped protocol, and every section that a source string (in the protocol or in the
//! code) cites; every protocol source cites it, and no source cites KNOWLEDGE (which a clone of the
//! repository does not have). Each test reports everything missing at once, not just the first gap.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ketacare_core::dosing::{DOSE_HARD_STOP_RULE_IDS, esketamine_hard_stops, iv_hard_stops};
use ketacare_core::eligibility::{ConcomitantMedicine, HistoryCondition, PROTOCOL_CLASSED_RULES, RULE_IDS};
use ketacare_core::protocol::{Protocol, SHIPPED_PROTOCOL_TOML, protocol_entries};
use ketacare_core::session::alerts::AlertRule;
use ketacare_core::session::discharge::CriterionId;
use ketacare_core::session::gate::GateItemId;
use ketacare_core::trd::TrialReason;
use rust_decimal::Decimal;

/// What sources call the shipped reference, followed by ` §N.N`.
const CITATION: &str = "clinical-reference";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> String {
    std::fs::read_to_string(workspace().join("docs/clinical-reference.md")).expect("docs/clinical-reference.md")
}

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "));
}

/// The section number right after a `§` at `chars[start]` (`5.10` in `§5.10.`), if any.
fn section_number_at(chars: &[char], start: usize) -> Option<String> {
    let mut end = start;
    while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
        end += 1;
    }
    let number: String = chars[start..end].iter().collect();
    let number = number.trim_end_matches('.');
    (!number.is_empty() && number.split('.').all(|part| !part.is_empty())).then(|| number.to_owned())
}

/// Every `§N.N` in `text` that refers to the reference. A number right after a bibliographic key
/// (`[USPI-SPR-2019] §5.10`) is a section of that document, not of the reference (clinical-reference §0).
fn cited_sections(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut sections = Vec::new();
    for (index, character) in chars.iter().enumerate() {
        if *character != '§' {
            continue;
        }
        let after_key = index >= 2 && chars[index - 1] == ' ' && chars[index - 2] == ']';
        if let Some(number) = section_number_at(&chars, index + 1)
            && !after_key
        {
            sections.push(number);
        }
    }
    sections
}

/// The numbered headings of the reference; a problem for each without its `<a id="sN.N"></a>` anchor or
/// given twice.
fn reference_sections(text: &str, problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut sections = BTreeSet::new();
    for line in text.lines().filter(|line| line.starts_with('#')) {
        let Some(position) = line.find('§') else { continue };
        let chars: Vec<char> = line[position..].chars().collect();
        let Some(number) = section_number_at(&chars, 1) else { continue };
        if !line.contains(&format!("<a id=\"s{number}\"></a>")) {
            problems.push(format!("heading §{number} has no anchor <a id=\"s{number}\"></a>: {line}"));
        }
        if !sections.insert(number.clone()) {
            problems.push(format!("heading §{number} appears twice"));
        }
    }
    sections
}

/// The string literals of a Rust source file with their line numbers; comments (which cite KNOWLEDGE
/// for developers), char literals and lifetimes are skipped.
fn string_literals(source: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let is_ident = |character: char| character.is_alphanumeric() || character == '_';
    let line_at = |index: usize| 1 + chars[..index].iter().filter(|character| **character == '\n').count();
    let mut literals = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let rest = &chars[index..];
        let starts_token = index == 0 || !is_ident(chars[index - 1]);
        if rest.starts_with(&['/', '/']) {
            while index < chars.len() && chars[index] != '\n' {
                index += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            let mut depth = 0;
            while index < chars.len() {
                if chars[index..].starts_with(&['/', '*']) {
                    depth += 1;
                    index += 2;
                } else if chars[index..].starts_with(&['*', '/']) {
                    depth -= 1;
                    index += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    index += 1;
                }
            }
        } else if starts_token
            && (rest.starts_with(&['r', '"']) || rest.starts_with(&['r', '#']) || rest.starts_with(&['b', 'r']))
        {
            // A raw string: r"…", r#"…"#, br"…".
            let mut cursor = index + if rest[0] == 'b' { 2 } else { 1 };
            let hashes = chars[cursor..].iter().take_while(|character| **character == '#').count();
            cursor += hashes;
            if chars.get(cursor) != Some(&'"') {
                index += 1;
                continue;
            }
            let start = cursor + 1;
            let mut end = start;
            while end < chars.len()
                && !(chars[end] == '"' && chars[end + 1..].iter().take(hashes).filter(|c| **c == '#').count() == hashes)
            {
                end += 1;
            }
            literals.push((line_at(start), chars[start..end].iter().collect()));
            index = end + 1 + hashes;
        } else if rest[0] == '"' || (starts_token && rest.starts_with(&['b', '"'])) {
            let start = index + if rest[0] == 'b' { 2 } else { 1 };
            let mut end = start;
            while end < chars.len() && chars[end] != '"' {
                end += if chars[end] == '\\' { 2 } else { 1 };
            }
            literals.push((line_at(start), chars[start..end].iter().collect()));
            index = end + 1;
        } else if rest[0] == '\'' {
            // A char literal ('a', '"', '\'', '\u{a7}') or a lifetime ('a).
            if rest.get(1) == Some(&'\\') {
                index += 3;
                while index < chars.len() && chars[index] != '\'' {
                    index += 1;
                }
                index += 1;
            } else if rest.get(2) == Some(&'\'') {
                index += 3;
            } else {
                index += 1;
            }
        } else {
            index += 1;
        }
    }
    literals
}

fn rust_sources(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// Every string literal in the program's sources (`crates/*/src`) that names a source section, with
/// where it is: the strings reports, alerts, plans and CLI output carry as their sources.
fn program_strings_citing_sections() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let source_dir = entry.unwrap().path().join("src");
        if source_dir.is_dir() {
            rust_sources(&source_dir, &mut files);
        }
    }
    assert!(files.len() > 50, "found only {} source files under crates/*/src", files.len());
    files.sort();
    let mut strings = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(workspace()).unwrap_or(&file).display().to_string();
        for (line, literal) in string_literals(&text) {
            if literal.contains('§') || literal.contains("KNOWLEDGE") {
                strings.push((format!("{shown}:{line}"), literal));
            }
        }
    }
    strings
}

#[test]
fn the_string_reader_finds_literals_and_skips_comments() {
    let source = r##"
        // "a comment §1.1"
        /* "a block §1.2" /* nested */ "still a comment" */
        let a = "plain §2.1 \" quoted";
        let b = r#"raw "§2.2""#;
        let c: &'static str = "after a lifetime §2.3";
        let d = ['"', '\'', '§'];
        let e = "continued \
                 §2.4";
    "##;
    let literals: Vec<String> = string_literals(source).into_iter().map(|(_, literal)| literal).collect();
    let sections: Vec<String> = literals.iter().flat_map(|literal| cited_sections(literal)).collect();
    assert_eq!(sections, ["2.1", "2.2", "2.3", "2.4"], "{literals:?}");
    assert_eq!(cited_sections("label [USPI-SPR-2019] §17; see §5.10 and §3.1-§3.3."), ["5.10", "3.1", "3.3"]);
}

#[test]
fn every_identifier_the_program_reports_is_in_the_reference() {
    let text = reference();
    let mut expected: Vec<(&str, String)> = Vec::new();
    expected.extend(RULE_IDS.iter().map(|id| ("eligibility rule", (*id).to_owned())));
    expected.extend(PROTOCOL_CLASSED_RULES.iter().map(|id| ("protocol-classed rule", (*id).to_owned())));
    expected.extend(TrialReason::ALL.iter().map(|reason| ("trial reason", reason.code().to_owned())));
    expected.extend(HistoryCondition::ALL.iter().map(|condition| ("history code", condition.code().to_owned())));
    expected.extend(ConcomitantMedicine::ALL.iter().map(|medicine| ("concomitant code", medicine.code().to_owned())));
    expected.extend(GateItemId::ALL.iter().map(|item| ("pre-dose gate item", item.as_str().to_owned())));
    expected.extend(AlertRule::ALL.iter().map(|rule| ("alert rule", rule.id().to_owned())));
    expected.extend(CriterionId::ALL.iter().map(|criterion| ("discharge criterion", criterion.as_str().to_owned())));
    expected.extend(DOSE_HARD_STOP_RULE_IDS.iter().map(|id| ("dose hard stop", (*id).to_owned())));
    let problems: Vec<String> = expected
        .iter()
        .filter(|(_, id)| !text.contains(&format!("`{id}`")))
        .map(|(kind, id)| format!("{kind} `{id}` is not in docs/clinical-reference.md"))
        .collect();
    assert_no_problems("identifiers missing from the clinical reference", &problems);
}

#[test]
fn the_hard_stop_list_is_every_hard_stop_the_dose_rules_raise() {
    let settings = &Protocol::shipped().dosing;
    let mut raised: BTreeSet<&str> = BTreeSet::new();
    let iv = iv_hard_stops(Decimal::from(2), Decimal::from(10), settings);
    raised.extend(iv.iter().map(|stop| stop.rule_id));
    for (dose_mg, devices, prior_mg) in [(50, Some(1), Some(56)), (112, None, Some(84)), (84, Some(3), None)] {
        let stops = esketamine_hard_stops(Decimal::from(dose_mg), devices, prior_mg, settings);
        raised.extend(stops.iter().map(|stop| stop.rule_id));
    }
    let listed: BTreeSet<&str> = DOSE_HARD_STOP_RULE_IDS.iter().copied().collect();
    assert_eq!(raised, listed);
}

#[test]
fn every_setting_of_the_shipped_protocol_is_in_the_reference() {
    let text = reference();
    let entries = protocol_entries(SHIPPED_PROTOCOL_TOML).unwrap();
    assert!(entries.len() > 90, "the shipped protocol has {} settings", entries.len());
    let problems: Vec<String> = entries
        .iter()
        .filter(|entry| !text.contains(&format!("`{}`", entry.path)))
        .map(|entry| format!("protocol setting `{}` is not in docs/clinical-reference.md", entry.path))
        .collect();
    assert_no_problems("protocol settings missing from the clinical reference", &problems);
}

#[test]
fn every_section_a_source_cites_is_a_section_of_the_reference() {
    let mut problems = Vec::new();
    let sections = reference_sections(&reference(), &mut problems);
    assert!(sections.len() > 50, "found only {} numbered sections", sections.len());
    let mut sources: Vec<(String, String)> = protocol_entries(SHIPPED_PROTOCOL_TOML)
        .unwrap()
        .into_iter()
        .map(|entry| (format!("protocol {}", entry.path), entry.source))
        .collect();
    // Every setting of the shipped protocol points into the reference.
    for (place, source) in &sources {
        if !source.contains(&format!("{CITATION} §")) {
            problems.push(format!("{place}: its source does not cite {CITATION} §N.N: {source}"));
        }
    }
    sources.extend(program_strings_citing_sections());
    for (place, source) in &sources {
        if source.contains("KNOWLEDGE") {
            problems.push(format!("{place}: cites KNOWLEDGE, which a clone does not have; cite {CITATION}: {source}"));
        }
        let cited = cited_sections(source);
        if !cited.is_empty() && !source.contains(CITATION) {
            problems.push(format!("{place}: cites a section without naming {CITATION}: {source}"));
        }
        for number in cited {
            if !sections.contains(&number) {
                problems.push(format!("{place}: cites §{number}, which docs/clinical-reference.md does not have"));
            }
        }
    }
    assert_no_problems("citations that do not resolve in the clinical reference", &problems);
}
