//! Parsing an assess case (contracts/assess.md "Input: the case") into [`CaseFacts`].
//! Every value is checked; the first problem is returned with its field path, and nothing is guessed.

use std::collections::BTreeSet;

use jiff::civil::Date;
use ketacare_core::assess::{CaseFacts, ScaleEntry};
use ketacare_core::eligibility::{ConcomitantMedicine, HistoryCondition, Override, rule_id};
use ketacare_core::patient::{AgeYears, BloodPressure, HeightCm, Jurisdiction, Modality, SexAtBirth, WeightKg};
use ketacare_core::scales::hamd17::hamd17_item_max;
use ketacare_core::scales::{CssrsAnswers, CssrsResponses, Scale};
use ketacare_core::staging::{EpisodeDurationMonths, EpisodeSeverity};
use ketacare_core::trd::{Adherence, ImprovementPct, TrialFacts, TrialQuantity, TrialRole};
use serde_json::Value;

use crate::json_reader::{ObjectReader, describe};
use crate::strict_json::read_json_document;

/// A malformed case: the field path and what was wrong (`trials[1].daily_dose_mg: must be a positive number, got -5`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct InvalidCase {
    pub path: String,
    pub problem: String,
}

impl InvalidCase {
    pub(crate) fn new(path: &str, problem: impl std::fmt::Display) -> Self {
        InvalidCase { path: path.to_owned(), problem: problem.to_string() }
    }
}

/// Parses a case from JSON text, read by the strict reader ([`read_json_document`]: a key given twice
/// is malformed). `today` is the default `as_of`.
pub fn parse_case_json(text: &str, today: Date) -> Result<CaseFacts, InvalidCase> {
    parse_case_bytes(text.as_bytes(), today)
}

/// Parses a case from bytes that should be UTF-8 JSON text (a file or one line of a batch, as read).
pub fn parse_case_bytes(bytes: &[u8], today: Date) -> Result<CaseFacts, InvalidCase> {
    let value = read_json_document(bytes).map_err(|error| error.into_invalid_case("(case)"))?;
    parse_case(&value, today)
}

/// Parses an already-decoded case. `today` is the default `as_of`.
pub fn parse_case(value: &Value, today: Date) -> Result<CaseFacts, InvalidCase> {
    let mut root = ObjectReader::new(String::new(), value)?;
    let as_of = root.date("as_of")?.unwrap_or(today);
    let modality = root.choice("modality", &[("both", 0u8), ("iv_ketamine", 1), ("esketamine", 2)])?.unwrap_or(0);
    let modalities: BTreeSet<Modality> = match modality {
        1 => [Modality::IvKetamine].into(),
        2 => [Modality::Esketamine].into(),
        _ => Modality::ALL.into(),
    };
    let jurisdiction =
        root.choice("jurisdiction", &[("US", Jurisdiction::Us), ("EU", Jurisdiction::Eu)])?.unwrap_or(Jurisdiction::Us);

    let mut case = empty_case(as_of, modalities, jurisdiction);

    if let Some(patient) = root.object("patient")? {
        read_patient(patient, &mut case)?;
    }
    if let Some(episode) = root.object("episode")? {
        read_episode(episode, &mut case)?;
    }
    if let Some(history) = root.array("history")? {
        for (index, item) in history.iter().enumerate() {
            case.history.insert(read_history_code(&format!("history[{index}]"), item)?);
        }
    }
    if let Some(concomitant) = root.array("concomitant")? {
        for (index, item) in concomitant.iter().enumerate() {
            case.concomitant.insert(read_concomitant_class(&format!("concomitant[{index}]"), item)?);
        }
    }
    if let Some(trials) = root.array("trials")? {
        for (index, item) in trials.iter().enumerate() {
            case.trials.push(read_trial(ObjectReader::new(format!("trials[{index}]"), item)?)?);
        }
    }
    if let Some(ect) = root.object("ect")? {
        read_ect(ect, &mut case)?;
    }
    if let Some(readings) = root.array("bp")? {
        for (index, item) in readings.iter().enumerate() {
            case.bp_readings.push(read_bp(ObjectReader::new(format!("bp[{index}]"), item)?)?);
        }
    }
    if let Some(scales) = root.object("scales")? {
        read_scales(scales, &mut case)?;
    }
    if let Some(cssrs) = root.object("cssrs")? {
        case.cssrs = Some(read_cssrs(cssrs)?);
    }
    if let Some(overrides) = root.array("overrides")? {
        for (index, item) in overrides.iter().enumerate() {
            case.overrides.push(read_override(ObjectReader::new(format!("overrides[{index}]"), item)?)?);
        }
    }
    root.finish()?;
    Ok(case)
}

pub(crate) fn empty_case(as_of: Date, modalities: BTreeSet<Modality>, jurisdiction: Jurisdiction) -> CaseFacts {
    CaseFacts {
        patient_id: None,
        as_of,
        modalities,
        jurisdiction,
        age: None,
        sex_at_birth: None,
        height: None,
        weight: None,
        pregnant: None,
        breastfeeding: None,
        diagnosis: None,
        episode_duration: None,
        severity: None,
        psychotic_features: None,
        history: BTreeSet::new(),
        concomitant: BTreeSet::new(),
        trials: Vec::new(),
        ect_failed_courses: 0,
        ect_bilateral: false,
        bp_readings: Vec::new(),
        scales: Vec::new(),
        cssrs: None,
        overrides: Vec::new(),
    }
}

pub(crate) fn read_history_code(path: &str, item: &Value) -> Result<HistoryCondition, InvalidCase> {
    let code = item.as_str().ok_or_else(|| InvalidCase::new(path, "must be a string"))?;
    HistoryCondition::parse(code).ok_or_else(|| {
        let known: Vec<&str> = HistoryCondition::ALL.iter().map(|condition| condition.code()).collect();
        InvalidCase::new(path, format!("unknown history code \"{code}\" (known: {})", known.join(", ")))
    })
}

pub(crate) fn read_concomitant_class(path: &str, item: &Value) -> Result<ConcomitantMedicine, InvalidCase> {
    let code = item.as_str().ok_or_else(|| InvalidCase::new(path, "must be a string"))?;
    ConcomitantMedicine::parse(code).ok_or_else(|| {
        let known: Vec<&str> = ConcomitantMedicine::ALL.iter().map(|medicine| medicine.code()).collect();
        InvalidCase::new(path, format!("unknown concomitant class \"{code}\" (known: {})", known.join(", ")))
    })
}

pub(crate) fn read_ect(mut ect: ObjectReader<'_>, case: &mut CaseFacts) -> Result<(), InvalidCase> {
    if let Some(courses) = ect.integer("failed_courses")? {
        if !(0..=100).contains(&courses) {
            return Err(ect.error("failed_courses", format!("must be a whole number from 0 to 100, got {courses}")));
        }
        case.ect_failed_courses = courses as u32;
    }
    case.ect_bilateral = ect.bool("bilateral")?.unwrap_or(false);
    ect.finish()
}

pub(crate) fn read_bp(mut reading: ObjectReader<'_>) -> Result<BloodPressure, InvalidCase> {
    let systolic = reading.integer("systolic")?.ok_or_else(|| reading.error("systolic", "is required"))?;
    let diastolic = reading.integer("diastolic")?.ok_or_else(|| reading.error("diastolic", "is required"))?;
    let parsed = BloodPressure::parse(systolic, diastolic).map_err(|error| reading.whole_error(error))?;
    reading.finish()?;
    Ok(parsed)
}

pub(crate) fn read_override(mut entry: ObjectReader<'_>) -> Result<Override, InvalidCase> {
    let written_rule = entry.non_empty_string("rule")?.ok_or_else(|| entry.error("rule", "is required"))?;
    let rule =
        rule_id(written_rule).ok_or_else(|| entry.error("rule", format!("unknown rule id \"{written_rule}\"")))?;
    let by = entry.non_empty_string("by")?.ok_or_else(|| entry.error("by", "is required"))?.to_owned();
    let reason = entry.non_empty_string("reason")?.ok_or_else(|| entry.error("reason", "is required"))?.to_owned();
    entry.finish()?;
    Ok(Override { rule, by, reason })
}

pub(crate) fn read_patient(mut patient: ObjectReader<'_>, case: &mut CaseFacts) -> Result<(), InvalidCase> {
    case.patient_id = patient.non_empty_string("id")?.map(str::to_owned);
    let from_birth_date = match patient.date("birth_date")? {
        Some(birth_date) => Some(
            AgeYears::from_birth_date(birth_date, case.as_of).map_err(|error| patient.error("birth_date", error))?,
        ),
        None => None,
    };
    let from_age = match patient.integer("age_years")? {
        Some(years) => Some(AgeYears::parse(years).map_err(|error| patient.error("age_years", error))?),
        None => None,
    };
    case.age = match (from_birth_date, from_age) {
        (Some(by_date), Some(given)) if by_date != given => {
            return Err(patient.error(
                "age_years",
                format!("is {} but birth_date gives {} on {}", given.years(), by_date.years(), case.as_of),
            ));
        }
        (by_date, given) => by_date.or(given),
    };
    case.sex_at_birth =
        patient.choice("sex_at_birth", &[("female", SexAtBirth::Female), ("male", SexAtBirth::Male)])?;
    case.height = match patient.decimal("height_cm")? {
        Some(cm) => Some(HeightCm::parse(cm).map_err(|error| patient.error("height_cm", error))?),
        None => None,
    };
    case.weight = match patient.decimal("weight_kg")? {
        Some(kg) => Some(WeightKg::parse(kg).map_err(|error| patient.error("weight_kg", error))?),
        None => None,
    };
    case.pregnant = patient.bool("pregnant")?;
    case.breastfeeding = patient.bool("breastfeeding")?;
    if case.pregnant == Some(true) && case.sex_at_birth == Some(SexAtBirth::Male) {
        return Err(patient.error("pregnant", "is true but sex_at_birth is male"));
    }
    patient.finish()
}

pub(crate) fn read_episode(mut episode: ObjectReader<'_>, case: &mut CaseFacts) -> Result<(), InvalidCase> {
    case.diagnosis = episode.non_empty_string("diagnosis")?.map(str::to_owned);
    if let Some(code) = &case.diagnosis {
        if !looks_like_icd10(code) {
            return Err(episode.error("diagnosis", format!("must be an ICD-10-CM code such as F33.2, got \"{code}\"")));
        }
        // KNOWLEDGE §8.2: F31.x is bipolar disorder. A current bipolar diagnosis is that history, so the
        // BIPOLAR_DISORDER finding cannot be lost because the history list forgot it.
        if code.starts_with("F31") {
            case.history.insert(HistoryCondition::BipolarDisorder);
        }
    }
    let from_onset = match episode.date("onset_date")? {
        Some(onset) if onset > case.as_of => {
            return Err(episode.error("onset_date", format!("must be on or before as_of {}, got {onset}", case.as_of)));
        }
        Some(onset) => Some(
            EpisodeDurationMonths::from_onset(onset, case.as_of).map_err(|error| episode.error("onset_date", error))?,
        ),
        None => None,
    };
    let given = match episode.decimal("duration_months")? {
        Some(months) => {
            Some(EpisodeDurationMonths::parse(months).map_err(|error| episode.error("duration_months", error))?)
        }
        None => None,
    };
    // The onset date is the more precise fact; a stated duration is used only without one.
    case.episode_duration = from_onset.or(given);
    case.severity = episode.choice(
        "severity",
        &[
            ("subsyndromal", EpisodeSeverity::Subsyndromal),
            ("mild", EpisodeSeverity::Mild),
            ("moderate", EpisodeSeverity::Moderate),
            ("severe", EpisodeSeverity::Severe),
        ],
    )?;
    case.psychotic_features = episode.bool("psychotic_features")?;
    // KNOWLEDGE §8.2: F32.3 and F33.3 are episodes with psychotic features; a case saying otherwise
    // contradicts itself, and which half is wrong cannot be guessed.
    if let (Some(code), Some(false)) = (&case.diagnosis, case.psychotic_features)
        && (code == "F32.3" || code == "F33.3")
    {
        return Err(episode.error(
            "psychotic_features",
            format!("is false but diagnosis {code} is a depressive episode with psychotic features"),
        ));
    }
    episode.finish()
}

/// A letter, two characters, and an optional dot with up to four more (F33.2, F32.A, F33.41).
fn looks_like_icd10(code: &str) -> bool {
    let bytes = code.as_bytes();
    let head_ok = bytes.len() >= 3
        && bytes[0].is_ascii_uppercase()
        && bytes[1].is_ascii_digit()
        && (bytes[2].is_ascii_digit() || bytes[2].is_ascii_uppercase());
    // Bytes, not a `str` slice: the third byte may sit inside a character (`F\u{feff}33.3`, found by
    // the assess_case fuzz target), where slicing the text panics.
    let tail_ok = match &bytes[3.min(bytes.len())..] {
        [] => true,
        [b'.', rest @ ..] => {
            (1..=4).contains(&rest.len()) && rest.iter().all(|byte| byte.is_ascii_digit() || byte.is_ascii_uppercase())
        }
        _ => false,
    };
    head_ok && tail_ok
}

pub(crate) fn read_trial(mut trial: ObjectReader<'_>) -> Result<TrialFacts, InvalidCase> {
    let drug = trial.non_empty_string("drug")?.ok_or_else(|| trial.error("drug", "is required"))?.to_owned();
    let daily_dose_mg = match trial.decimal("daily_dose_mg")? {
        Some(dose) => {
            Some(TrialQuantity::parse_daily_dose_mg(dose).map_err(|error| trial.error("daily_dose_mg", error))?)
        }
        None => None,
    };
    let weeks_at_dose = match trial.decimal("weeks")? {
        Some(weeks) => Some(TrialQuantity::parse_weeks(weeks).map_err(|error| trial.error("weeks", error))?),
        None => None,
    };
    let improvement_pct = match trial.decimal("improvement_pct")? {
        Some(pct) => Some(ImprovementPct::parse(pct).map_err(|error| trial.error("improvement_pct", error))?),
        None => None,
    };
    let adherence = trial
        .choice(
            "adherence",
            &[
                ("adequate", Adherence::Adequate),
                ("inadequate", Adherence::Inadequate),
                ("unknown", Adherence::Unknown),
            ],
        )?
        .unwrap_or(Adherence::Adequate);
    let role = trial
        .choice("role", &[("antidepressant", TrialRole::Antidepressant), ("augmentation", TrialRole::Augmentation)])?
        .unwrap_or(TrialRole::Antidepressant);
    let in_current_episode = trial.bool("in_current_episode")?.unwrap_or(true);
    let stop_reason = trial.string("stop_reason")?.map(str::to_owned);
    trial.finish()?;
    Ok(TrialFacts {
        drug_as_written: drug,
        daily_dose_mg,
        weeks_at_dose,
        improvement_pct,
        adherence,
        role,
        in_current_episode,
        stop_reason,
    })
}

/// Item answers of one scale: `Some` per answered item, `None` for a `null` item where the scale allows it.
fn read_items(
    path: &str,
    items: &[Value],
    counts: &[usize],
    max_per_item: &dyn Fn(usize) -> u8,
    allows_missing: bool,
) -> Result<Vec<Option<u8>>, InvalidCase> {
    if !counts.contains(&items.len()) {
        let expected: Vec<String> = counts.iter().map(ToString::to_string).collect();
        return Err(InvalidCase::new(path, format!("must have {} items, got {}", expected.join(" or "), items.len())));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let item_path = format!("{path}[{index}]");
            let maximum = max_per_item(index);
            match item {
                Value::Null if allows_missing => Ok(None),
                Value::Number(number) => match number.as_u64() {
                    Some(answer) if answer <= u64::from(maximum) => Ok(Some(answer as u8)),
                    _ => Err(InvalidCase::new(
                        &item_path,
                        format!("must be a whole number from 0 to {maximum}, got {number}"),
                    )),
                },
                other => Err(InvalidCase::new(
                    &item_path,
                    format!("must be a whole number from 0 to {maximum}, got {}", describe(other)),
                )),
            }
        })
        .collect()
}

/// How the case format accepts one scale: its total's maximum, item counts, per-item maximum.
struct ScaleShape {
    scale: Scale,
    key: &'static str,
    max_total: u8,
    item_counts: &'static [usize],
    max_per_item: fn(usize) -> u8,
    allows_missing_items: bool,
}

/// KNOWLEDGE §5.1–§5.5: the ranges of the baseline scales the case may carry.
const CASE_SCALES: [ScaleShape; 5] = [
    ScaleShape {
        scale: Scale::Madrs,
        key: "madrs",
        max_total: 60,
        item_counts: &[10],
        max_per_item: |_| 6,
        allows_missing_items: false,
    },
    // PHQ-9: 9 items with an optional 10th difficulty answer; one missing item may be prorated.
    ScaleShape {
        scale: Scale::Phq9,
        key: "phq9",
        max_total: 27,
        item_counts: &[9, 10],
        max_per_item: |_| 3,
        allows_missing_items: true,
    },
    ScaleShape {
        scale: Scale::QidsSr16,
        key: "qids_sr16",
        max_total: 27,
        item_counts: &[16],
        max_per_item: |_| 3,
        allows_missing_items: false,
    },
    ScaleShape {
        scale: Scale::Hamd17,
        key: "hamd17",
        max_total: 52,
        item_counts: &[17],
        max_per_item: |index| hamd17_item_max(index as u8 + 1),
        allows_missing_items: false,
    },
    ScaleShape {
        scale: Scale::Gad7,
        key: "gad7",
        max_total: 21,
        item_counts: &[7],
        max_per_item: |_| 3,
        allows_missing_items: false,
    },
];

pub(crate) fn read_scales(mut scales: ObjectReader<'_>, case: &mut CaseFacts) -> Result<(), InvalidCase> {
    for shape in &CASE_SCALES {
        let path = scales.path_of(shape.key);
        let entry = match scales.get(shape.key) {
            None => continue,
            Some(Value::Number(number)) => match number.as_u64() {
                Some(total) if total <= u64::from(shape.max_total) => ScaleEntry::Total(total as u8),
                _ => {
                    return Err(InvalidCase::new(
                        &path,
                        format!("must be a whole-number total from 0 to {}, got {number}", shape.max_total),
                    ));
                }
            },
            Some(Value::Array(items)) => ScaleEntry::Items(read_items(
                &path,
                items,
                shape.item_counts,
                &shape.max_per_item,
                shape.allows_missing_items,
            )?),
            Some(other) => {
                return Err(InvalidCase::new(
                    &path,
                    format!("must be a total or a list of item answers, got {}", describe(other)),
                ));
            }
        };
        case.scales.push((shape.scale, entry));
    }
    scales.finish()
}

/// The C-SSRS screener (KNOWLEDGE §5.9): the flow is checked by the core (a yes to q3–q5 needs q2 not to
/// be no). An unanswered question (absent or `null`) is missing data: the assessment names it.
pub(crate) fn read_cssrs(mut cssrs: ObjectReader<'_>) -> Result<CssrsAnswers, InvalidCase> {
    let responses = CssrsResponses {
        q1: cssrs.bool("q1")?,
        q2: cssrs.bool("q2")?,
        q3: cssrs.bool("q3")?,
        q4: cssrs.bool("q4")?,
        q5: cssrs.bool("q5")?,
        q6: cssrs.bool("q6")?,
        q6_within_3_months: cssrs.bool("q6_within_3_months")?,
    };
    let path = cssrs.path_of("");
    cssrs.finish()?;
    CssrsAnswers::new(responses).map_err(|error| {
        // The core names the question ("q4: …"); the case names its full path ("cssrs.q4: …").
        let message = error.to_string();
        match error.item() {
            Some(item) => {
                let prefix = format!("{item}: ");
                InvalidCase::new(&format!("{path}{item}"), message.strip_prefix(&prefix).unwrap_or(&message))
            }
            None => InvalidCase::new(path.trim_end_matches('.'), message),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_shape() {
        for code in ["F33", "F33.2", "F32.A", "F33.41", "F33.4123"] {
            assert!(looks_like_icd10(code), "{code}");
        }
        // Non-ASCII characters anywhere, at a byte boundary or not (the fuzz input was F U+FEFF 33.3).
        for code in
            ["F\u{feff}33.3", "F3\u{e9}", "\u{e9}33", "F33.\u{e9}", "F33\u{e9}", "F3", "F33.", "F33.12345", "f33"]
        {
            assert!(!looks_like_icd10(code), "{code}");
        }
    }

    #[test]
    fn a_diagnosis_with_a_multibyte_character_is_refused_by_name() {
        let case = "{\"episode\": {\"diagnosis\": \"F\u{feff}33.3\"}}";
        let error = parse_case_json(case, Date::constant(2026, 12, 1)).expect_err("not an ICD-10 code");
        assert_eq!(error.path, "episode.diagnosis");
    }
}
