//! Assembling the case of contracts/assess.md from a patient's chart (docs/api.md, "Assembly rules"):
//! this crate alone knows the case's JSON, so the server's chart becomes a case here, from plain facts the
//! app loads, and is then read by the same `parse_case` as a file given to `ketacare assess`.

use jiff::civil::Date;
use serde_json::{Map, Value, json};

/// The patient's demographic facts as the chart keeps them.
#[derive(Debug, Clone, Copy)]
pub struct ChartPatientFacts<'a> {
    pub patient_id: &'a str,
    /// `YYYY-MM-DD`.
    pub birth_date: &'a str,
    pub sex_at_birth: &'a str,
}

/// One active chart record (records entered in error are left out by the caller), in the order recorded.
#[derive(Debug, Clone)]
pub struct ChartRecordFacts {
    pub record_id: String,
    /// `episodes`, `history`, `concomitant`, `trials`, `measurements`, `blood_pressures`, `overrides`.
    pub section: String,
    pub episode_id: Option<String>,
    /// The record's date (`measured_on`, …), `YYYY-MM-DD`.
    pub recorded_on: Option<String>,
    pub body: Map<String, Value>,
}

/// One active scale result.
#[derive(Debug, Clone)]
pub struct ChartScaleFacts {
    /// `phq9`, `madrs`, `qids_sr16`, `hamd17`, `gad7` or `cssrs`.
    pub scale: String,
    /// The items (or the C-SSRS answers) when recorded, else the total alone.
    pub answers: Option<Value>,
    pub total: Option<i64>,
    pub administered_on: String,
}

/// The scales a case's `scales` object holds, by key.
const CASE_SCALE_KEYS: [&str; 5] = ["madrs", "phq9", "qids_sr16", "hamd17", "gad7"];

/// Whether a date text (or none) is on or before `as_of`.
fn on_or_before(date: Option<&str>, as_of: Date) -> bool {
    date.and_then(|text| text.parse::<Date>().ok()).is_none_or(|date| date <= as_of)
}

/// The current episode: the most recently recorded episode whose onset is not after `as_of`.
pub fn current_episode(records: &[ChartRecordFacts], as_of: Date) -> Option<&ChartRecordFacts> {
    records.iter().rev().find(|record| {
        record.section == "episodes" && on_or_before(record.body.get("onset_date").and_then(Value::as_str), as_of)
    })
}

/// The case of a chart as of `as_of`, for `modality` (`both`, `iv_ketamine`, `esketamine`) and
/// `jurisdiction` (`US`, `EU`).
pub fn assemble_case_from_chart(
    patient: ChartPatientFacts,
    records: &[ChartRecordFacts],
    scales: &[ChartScaleFacts],
    as_of: Date,
    modality: &str,
    jurisdiction: &str,
) -> Value {
    let section = |name: &'static str| records.iter().filter(move |record| record.section == name);
    let mut case = Map::new();
    case.insert("as_of".to_owned(), json!(as_of.to_string()));
    case.insert("modality".to_owned(), json!(modality));
    case.insert("jurisdiction".to_owned(), json!(jurisdiction));

    let mut patient_section = Map::new();
    patient_section.insert("id".to_owned(), json!(patient.patient_id));
    patient_section.insert("birth_date".to_owned(), json!(patient.birth_date));
    patient_section.insert("sex_at_birth".to_owned(), json!(patient.sex_at_birth));
    // Each measured value from the latest measurement that gives it (by date, then as recorded).
    let mut measurements: Vec<&ChartRecordFacts> =
        section("measurements").filter(|record| on_or_before(record.recorded_on.as_deref(), as_of)).collect();
    measurements.sort_by(|a, b| a.recorded_on.cmp(&b.recorded_on));
    for key in ["height_cm", "weight_kg", "pregnant", "breastfeeding"] {
        if let Some(value) =
            measurements.iter().rev().find_map(|record| record.body.get(key).filter(|value| !value.is_null()).cloned())
        {
            patient_section.insert(key.to_owned(), value);
        }
    }
    case.insert("patient".to_owned(), Value::Object(patient_section));

    let episode = current_episode(records, as_of);
    if let Some(episode) = episode {
        let mut body = episode.body.clone();
        let ect = body.remove("ect");
        case.insert("episode".to_owned(), Value::Object(body));
        if let Some(ect) = ect.filter(|ect| !ect.is_null()) {
            case.insert("ect".to_owned(), ect);
        }
    }

    let listed = |name: &'static str, key: &str, word_key: &str, current_word: &str| {
        let mut words: Vec<Value> = Vec::new();
        for record in section(name) {
            let current = record.body.get(word_key).and_then(Value::as_str).unwrap_or(current_word) == current_word;
            let noted = on_or_before(record.body.get("noted_on").and_then(Value::as_str), as_of);
            if let Some(word) = record.body.get(key).filter(|_| current && noted)
                && !words.contains(word)
            {
                words.push(word.clone());
            }
        }
        Value::Array(words)
    };
    case.insert("history".to_owned(), listed("history", "code", "clinical_status", "active"));
    case.insert("concomitant".to_owned(), listed("concomitant", "class", "clinical_status", "active"));

    let trials: Vec<Value> = section("trials")
        .map(|record| {
            let mut body = record.body.clone();
            body.remove("episode_id");
            let in_current = episode.is_some_and(|episode| record.episode_id.as_deref() == Some(&episode.record_id));
            body.insert("in_current_episode".to_owned(), json!(in_current));
            Value::Object(body)
        })
        .collect();
    case.insert("trials".to_owned(), Value::Array(trials));

    // The readings of the latest day with any, in the order recorded.
    let readings: Vec<&ChartRecordFacts> =
        section("blood_pressures").filter(|record| on_or_before(record.recorded_on.as_deref(), as_of)).collect();
    let latest_day = readings.iter().filter_map(|record| record.recorded_on.clone()).max();
    let bp: Vec<Value> = readings
        .iter()
        .filter(|record| record.recorded_on == latest_day)
        .map(|record| json!({ "systolic": record.body.get("systolic"), "diastolic": record.body.get("diastolic") }))
        .collect();
    case.insert("bp".to_owned(), Value::Array(bp));

    // The latest result of each scale (by date administered, then as recorded).
    let mut results: Vec<&ChartScaleFacts> =
        scales.iter().filter(|result| on_or_before(Some(&result.administered_on), as_of)).collect();
    results.sort_by(|a, b| a.administered_on.cmp(&b.administered_on));
    let latest = |key: &str| results.iter().rev().find(|result| result.scale == key).copied();
    let mut scale_values = Map::new();
    for key in CASE_SCALE_KEYS {
        if let Some(result) = latest(key) {
            let value = result.answers.clone().unwrap_or_else(|| json!(result.total));
            scale_values.insert(key.to_owned(), value);
        }
    }
    if !scale_values.is_empty() {
        case.insert("scales".to_owned(), Value::Object(scale_values));
    }
    if let Some(answers) = latest("cssrs").and_then(|result| result.answers.clone()) {
        case.insert("cssrs".to_owned(), answers);
    }

    let overrides: Vec<Value> = section("overrides").map(|record| Value::Object(record.body.clone())).collect();
    case.insert("overrides".to_owned(), Value::Array(overrides));
    Value::Object(case)
}
