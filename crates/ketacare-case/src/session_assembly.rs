//! Assembling a session document of docs/sessions.md from what a server keeps of a session: its facts, the
//! administrations that record what was given, the REMS submission, the observations not entered in error,
//! and what the chart already knows for the pre-dose gate. This crate owns the document's JSON, so the
//! server's session is built here and then read by the same `parse_session` as `ketacare session check`.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use crate::parse::InvalidCase;
use crate::strict_json::exact_decimal;

/// A stored session, as plain facts.
#[derive(Debug, Clone, Default)]
pub struct StoredSessionFacts {
    /// The session document without `observations` and `now`.
    pub facts: Map<String, Value>,
    /// The administrations still standing (not entered in error), in the order recorded.
    pub administrations: Vec<Value>,
    pub rems_submitted_at: Option<Timestamp>,
    /// The observations not entered in error, with their sequence numbers of entry, in any order.
    pub observations: Vec<(i64, Value)>,
}

/// Observations in time order (entry order among equal times). Times are clinic-local minutes, which sort
/// as text, since a time that is ambiguous in the clinic's zone is refused when it is entered.
pub fn in_time_order(mut observations: Vec<(i64, Value)>) -> Vec<(i64, Value)> {
    observations.sort_by(|(a_sequence, a), (b_sequence, b)| {
        a["at"].as_str().cmp(&b["at"].as_str()).then(a_sequence.cmp(b_sequence))
    });
    observations
}

/// The session document: the chart's pre-dose values fill what the session has not recorded (the
/// session's newer values win); the administrations set the dose's given amount, lots and times (first
/// device or infusion start, last device or infusion end); the REMS submission date is clinic-local; the
/// observations are in time order.
pub fn assemble_session_document(
    stored: StoredSessionFacts,
    chart_pre_dose: &Map<String, Value>,
) -> Result<Value, InvalidCase> {
    let StoredSessionFacts { mut facts, administrations, rems_submitted_at, observations } = stored;
    let zone_name = facts.get("time_zone").and_then(Value::as_str).unwrap_or_default().to_owned();
    let zone = TimeZone::get(&zone_name).map_err(|_| InvalidCase::new("time_zone", "is not an IANA time zone name"))?;
    if !chart_pre_dose.is_empty() {
        let pre_dose = facts.entry("pre_dose").or_insert_with(|| json!({}));
        if let Some(pre_dose) = pre_dose.as_object_mut() {
            for (key, value) in chart_pre_dose {
                if pre_dose.get(key).is_none_or(Value::is_null) {
                    pre_dose.insert(key.clone(), value.clone());
                }
            }
        }
    }
    if !administrations.is_empty() {
        let mut given_mg = Decimal::ZERO;
        let mut lots: Vec<&str> = Vec::new();
        let mut started: Option<&str> = None;
        let mut ended: Option<&str> = None;
        for (index, administration) in administrations.iter().enumerate() {
            given_mg += administration["dose_mg"]
                .as_number()
                .and_then(|number| exact_decimal(number).ok())
                .ok_or_else(|| InvalidCase::new(&format!("administrations[{index}].dose_mg"), "is not a number"))?;
            if let Some(lot) = administration["lot_number"].as_str()
                && !lots.contains(&lot)
            {
                lots.push(lot);
            }
            let start = administration["started_at"].as_str();
            let end = administration["ended_at"].as_str().or(start);
            started = match (started, start) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            ended = match (ended, end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        let dose = facts.entry("dose").or_insert_with(|| json!({}));
        dose["given_mg"] = serde_json::from_str(&given_mg.normalize().to_string())
            .map_err(|_| InvalidCase::new("dose.given_mg", "is not a number"))?;
        dose["lot_number"] = json!(lots.join(", "));
        dose["started_at"] = json!(started);
        dose["ended_at"] = json!(ended);
    }
    if let Some(submitted_at) = rems_submitted_at {
        let rems = facts.entry("rems").or_insert_with(|| json!({}));
        rems["submitted_on"] = json!(submitted_at.to_zoned_datetime(zone).date().to_string());
    }
    let observations: Vec<Value> =
        in_time_order(observations).into_iter().map(|(_, observation)| observation).collect();
    facts.insert("observations".to_owned(), Value::Array(observations));
    Ok(Value::Object(facts))
}
