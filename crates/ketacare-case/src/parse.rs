//! Parsing an assess case (contracts/assess.md "Input: the case") into [`CaseFacts`].
//! Every value is checked; the first problem is returned with its field path, and nothing is guessed.

use std::collections::BTreeSet;

use jiff::civil::Date;
use ketacare_core::assess::CaseFacts;
use ketacare_core::eligibility::{ConcomitantMedicine, HistoryCondition, Override, SuicideRisk, rule_id};
use ketacare_core::patient::{AgeYears, BloodPressure, HeightCm, Jurisdiction, Modality, SexAtBirth, WeightKg};
use ketacare_core::staging::{EpisodeDurationMonths, EpisodeSeverity};
use ketacare_core::trd::{Adherence, ImprovementPct, TrialFacts, TrialQuantity, TrialRole};
use serde_json::Value;

use crate::json_reader::{ObjectReader, describe};

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

/// Parses a case from JSON text. `today` is the default `as_of`.
pub fn parse_case_json(text: &str, today: Date) -> Result<CaseFacts, InvalidCase> {
    let value: Value = serde_json::from_str(text)
        .map_err(|error| InvalidCase::new("(case)", format!("is not valid JSON: {error}")))?;
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

    let mut case = CaseFacts {
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
        madrs_total: None,
        phq9_item9: None,
        qids_item12: None,
        cssrs_risk: None,
        overrides: Vec::new(),
    };

    if let Some(patient) = root.object("patient")? {
        read_patient(patient, &mut case)?;
    }
    if let Some(episode) = root.object("episode")? {
        read_episode(episode, &mut case)?;
    }
    if let Some(history) = root.array("history")? {
        for (index, item) in history.iter().enumerate() {
            let path = format!("history[{index}]");
            let code = item.as_str().ok_or_else(|| InvalidCase::new(&path, "must be a string"))?;
            let condition = HistoryCondition::parse(code).ok_or_else(|| {
                let known: Vec<&str> = HistoryCondition::ALL.iter().map(|condition| condition.code()).collect();
                InvalidCase::new(&path, format!("unknown history code \"{code}\" (known: {})", known.join(", ")))
            })?;
            case.history.insert(condition);
        }
    }
    if let Some(concomitant) = root.array("concomitant")? {
        for (index, item) in concomitant.iter().enumerate() {
            let path = format!("concomitant[{index}]");
            let code = item.as_str().ok_or_else(|| InvalidCase::new(&path, "must be a string"))?;
            let medicine = ConcomitantMedicine::parse(code).ok_or_else(|| {
                let known: Vec<&str> = ConcomitantMedicine::ALL.iter().map(|medicine| medicine.code()).collect();
                InvalidCase::new(&path, format!("unknown concomitant class \"{code}\" (known: {})", known.join(", ")))
            })?;
            case.concomitant.insert(medicine);
        }
    }
    if let Some(trials) = root.array("trials")? {
        for (index, item) in trials.iter().enumerate() {
            case.trials.push(read_trial(ObjectReader::new(format!("trials[{index}]"), item)?)?);
        }
    }
    if let Some(mut ect) = root.object("ect")? {
        if let Some(courses) = ect.integer("failed_courses")? {
            if !(0..=100).contains(&courses) {
                return Err(ect.error("failed_courses", format!("must be a whole number from 0 to 100, got {courses}")));
            }
            case.ect_failed_courses = courses as u32;
        }
        case.ect_bilateral = ect.bool("bilateral")?.unwrap_or(false);
        ect.finish()?;
    }
    if let Some(readings) = root.array("bp")? {
        for (index, item) in readings.iter().enumerate() {
            let mut reading = ObjectReader::new(format!("bp[{index}]"), item)?;
            let systolic = reading.integer("systolic")?.ok_or_else(|| reading.error("systolic", "is required"))?;
            let diastolic = reading.integer("diastolic")?.ok_or_else(|| reading.error("diastolic", "is required"))?;
            let parsed = BloodPressure::parse(systolic, diastolic)
                .map_err(|error| InvalidCase::new(&format!("bp[{index}]"), error))?;
            reading.finish()?;
            case.bp_readings.push(parsed);
        }
    }
    if let Some(scales) = root.object("scales")? {
        read_scales(scales, &mut case)?;
    }
    if let Some(cssrs) = root.object("cssrs")? {
        case.cssrs_risk = Some(read_cssrs(cssrs)?);
    }
    if let Some(overrides) = root.array("overrides")? {
        for (index, item) in overrides.iter().enumerate() {
            let mut entry = ObjectReader::new(format!("overrides[{index}]"), item)?;
            let written_rule = entry.non_empty_string("rule")?.ok_or_else(|| entry.error("rule", "is required"))?;
            let rule = rule_id(written_rule)
                .ok_or_else(|| entry.error("rule", format!("unknown rule id \"{written_rule}\"")))?;
            let by = entry.non_empty_string("by")?.ok_or_else(|| entry.error("by", "is required"))?.to_owned();
            let reason =
                entry.non_empty_string("reason")?.ok_or_else(|| entry.error("reason", "is required"))?.to_owned();
            entry.finish()?;
            case.overrides.push(Override { rule, by, reason });
        }
    }
    root.finish()?;
    Ok(case)
}

fn read_patient(mut patient: ObjectReader<'_>, case: &mut CaseFacts) -> Result<(), InvalidCase> {
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

fn read_episode(mut episode: ObjectReader<'_>, case: &mut CaseFacts) -> Result<(), InvalidCase> {
    case.diagnosis = episode.non_empty_string("diagnosis")?.map(str::to_owned);
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
    episode.finish()
}

fn read_trial(mut trial: ObjectReader<'_>) -> Result<TrialFacts, InvalidCase> {
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

/// Item answers of one scale: `Some` per answered item, `None` for a `null` (missing) item.
fn read_items(
    path: &str,
    items: &[Value],
    counts: &[usize],
    max_per_item: &dyn Fn(usize) -> u32,
) -> Result<Vec<Option<u32>>, InvalidCase> {
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
                Value::Null => Ok(None),
                Value::Number(number) => match number.as_u64() {
                    Some(answer) if answer <= u64::from(maximum) => Ok(Some(answer as u32)),
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

/// A scale given as a total (number) or as item answers (list).
enum ScaleEntry {
    Total(u32),
    Items(Vec<Option<u32>>),
}

fn read_scale(
    scales: &mut ObjectReader<'_>,
    key: &'static str,
    max_total: u32,
    counts: &[usize],
    max_per_item: &dyn Fn(usize) -> u32,
) -> Result<Option<ScaleEntry>, InvalidCase> {
    let path = scales.path_of(key);
    match scales.get(key) {
        None => Ok(None),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(total) if total <= u64::from(max_total) => Ok(Some(ScaleEntry::Total(total as u32))),
            _ => Err(InvalidCase::new(
                &path,
                format!("must be a whole-number total from 0 to {max_total}, got {number}"),
            )),
        },
        Some(Value::Array(items)) => Ok(Some(ScaleEntry::Items(read_items(&path, items, counts, max_per_item)?))),
        Some(other) => {
            Err(InvalidCase::new(&path, format!("must be a total or a list of item answers, got {}", describe(other))))
        }
    }
}

fn read_scales(mut scales: ObjectReader<'_>, case: &mut CaseFacts) -> Result<(), InvalidCase> {
    // KNOWLEDGE §5.2: MADRS 10 items 0–6, total 0–60.
    case.madrs_total = match read_scale(&mut scales, "madrs", 60, &[10], &|_| 6)? {
        Some(ScaleEntry::Total(total)) => Some(total),
        Some(ScaleEntry::Items(items)) => items.iter().copied().sum::<Option<u32>>(),
        None => None,
    };
    // KNOWLEDGE §5.1: PHQ-9 items 0–3 with an optional 10th difficulty answer (0–3) outside the total.
    case.phq9_item9 = match read_scale(&mut scales, "phq9", 27, &[9, 10], &|_| 3)? {
        Some(ScaleEntry::Items(items)) => items[8].map(|answer| answer as u8),
        _ => None,
    };
    // KNOWLEDGE §5.3: QIDS-SR16 16 items 0–3; total of domains 0–27; item 12 is suicidal ideation.
    case.qids_item12 = match read_scale(&mut scales, "qids_sr16", 27, &[16], &|_| 3)? {
        Some(ScaleEntry::Items(items)) => items[11].map(|answer| answer as u8),
        _ => None,
    };
    // KNOWLEDGE §5.4: HAM-D17 items 1–3, 7–11, 15 score 0–4; the others 0–2; total 0–52.
    read_scale(&mut scales, "hamd17", 52, &[17], &|index| {
        if [0, 1, 2, 6, 7, 8, 9, 10, 14].contains(&index) { 4 } else { 2 }
    })?;
    // KNOWLEDGE §5.5: GAD-7 7 items 0–3, total 0–21.
    read_scale(&mut scales, "gad7", 21, &[7], &|_| 3)?;
    scales.finish()
}

/// C-SSRS screener risk (KNOWLEDGE §5.9): Q4, Q5 or Q6 within 3 months → high; Q3 or older Q6 →
/// moderate; Q1 or Q2 → low. Q3–Q5 are asked only when Q2 is yes.
fn read_cssrs(mut cssrs: ObjectReader<'_>) -> Result<SuicideRisk, InvalidCase> {
    let q1 = cssrs.bool("q1")?.ok_or_else(|| cssrs.error("q1", "is required in a C-SSRS screener"))?;
    let q2 = cssrs.bool("q2")?.ok_or_else(|| cssrs.error("q2", "is required in a C-SSRS screener"))?;
    let mut follow_up = [false; 3];
    for (slot, key) in follow_up.iter_mut().zip(["q3", "q4", "q5"]) {
        let answer = cssrs.bool(key)?;
        match (q2, answer) {
            (true, Some(answer)) => *slot = answer,
            (true, None) => return Err(cssrs.error(key, "is required when q2 is yes")),
            (false, Some(true)) => return Err(cssrs.error(key, "must not be yes when q2 is no (q3-q5 are skipped)")),
            (false, _) => {}
        }
    }
    let q6 = cssrs.bool("q6")?.ok_or_else(|| cssrs.error("q6", "is required in a C-SSRS screener"))?;
    let q6_recent = cssrs.bool("q6_within_3_months")?;
    if q6 && q6_recent.is_none() {
        return Err(cssrs.error("q6_within_3_months", "is required when q6 is yes"));
    }
    cssrs.finish()?;
    let [q3, q4, q5] = follow_up;
    Ok(if q4 || q5 || (q6 && q6_recent == Some(true)) {
        SuicideRisk::High
    } else if q3 || q6 {
        SuicideRisk::Moderate
    } else if q1 || q2 {
        SuicideRisk::Low
    } else {
        SuicideRisk::None
    })
}
