//! The contract's output: one row per patient, sorted by `patient_id`, as CSV (with a header) or NDJSON.

use std::io::{self, Write};

use crate::cardinal::class_label_of;
use crate::dates::format_date;
use crate::rules::PatientResult;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Ndjson,
}

/// One output row: the patient's id, the verdict with its evidence, and the preset column.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenRow {
    pub patient_id: String,
    pub result: PatientResult,
}

/// The CSV header, in the contract's column order.
pub const CSV_HEADER: &str =
    "patient_id,status,trd_date,episode_start,courses,agents,classes,exclusions,latest_phq9,latest_phq9_date,preset";

fn optional_date(date: Option<i32>) -> String {
    date.map(format_date).unwrap_or_default()
}

fn format_score(total: f32) -> String {
    if total.fract() == 0.0 { format!("{}", total as i64) } else { format!("{total}") }
}

/// The `agents` and `classes` columns: ingredients in start order; classes sorted and unique.
fn agents_and_classes(result: &PatientResult) -> (Vec<&'static str>, Vec<&'static str>) {
    let agents: Vec<&'static str> = match &result.cardinal {
        Some(evidence) => vec![evidence.drug_a, evidence.drug_b],
        None => result.counted_courses.iter().map(|course| course.ingredient()).collect(),
    };
    let mut classes: Vec<&'static str> = agents.iter().map(|agent| class_label_of(agent)).collect();
    classes.sort_unstable();
    classes.dedup();
    (agents, classes)
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// Writes the rows (already sorted) in `format`.
pub fn write_rows(
    rows: &[ScreenRow],
    preset_column: &str,
    format: OutputFormat,
    writer: &mut dyn Write,
) -> io::Result<()> {
    if format == OutputFormat::Csv {
        writeln!(writer, "{CSV_HEADER}")?;
    }
    for row in rows {
        let result = &row.result;
        let (agents, classes) = agents_and_classes(result);
        match format {
            OutputFormat::Csv => writeln!(
                writer,
                "{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&row.patient_id),
                result.status.code(),
                optional_date(result.trd_date),
                optional_date(result.episode_start),
                agents.len(),
                agents.join(";"),
                classes.join(";"),
                result.exclusions.join(";"),
                result.latest_phq9.map(|(_, total)| format_score(total)).unwrap_or_default(),
                optional_date(result.latest_phq9.map(|(date, _)| date)),
                csv_field(preset_column),
            )?,
            OutputFormat::Ndjson => {
                let mut object = serde_json::Map::new();
                let date_value = |date: Option<i32>| date.map(format_date).map_or(serde_json::Value::Null, Into::into);
                object.insert("patient_id".into(), row.patient_id.clone().into());
                object.insert("status".into(), result.status.code().into());
                object.insert("trd_date".into(), date_value(result.trd_date));
                object.insert("episode_start".into(), date_value(result.episode_start));
                object.insert("courses".into(), agents.len().into());
                object.insert("agents".into(), agents.clone().into());
                object.insert("classes".into(), classes.into());
                object.insert("exclusions".into(), result.exclusions.clone().into());
                object.insert(
                    "latest_phq9".into(),
                    result.latest_phq9.and_then(|(_, total)| serde_json::Number::from_f64(f64::from(total))).map_or(
                        serde_json::Value::Null,
                        |number| {
                            number
                                .as_f64()
                                .filter(|value| value.fract() == 0.0)
                                .map_or(number.clone().into(), |value| (value as i64).into())
                        },
                    ),
                );
                object.insert("latest_phq9_date".into(), date_value(result.latest_phq9.map(|(date, _)| date)));
                object.insert("preset".into(), preset_column.into());
                if let Some(evidence) = &result.cardinal {
                    object.insert("drug_a".into(), evidence.drug_a.into());
                    object.insert("a1".into(), format_date(evidence.a1).into());
                    object.insert("a2".into(), format_date(evidence.a2).into());
                    object.insert("drug_b".into(), evidence.drug_b.into());
                    object.insert("b2".into(), format_date(evidence.b2).into());
                    object.insert("expect_response_by".into(), format_date(evidence.expect_response_by).into());
                }
                serde_json::to_writer(&mut *writer, &object)?;
                writeln!(writer)?;
            }
        }
    }
    Ok(())
}
