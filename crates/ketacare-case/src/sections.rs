//! One section of a case at a time, for callers that keep a case as separate records (the chart of
//! `ketacare-app`): each function runs the very reader `parse_case` uses for that section, so a
//! record is accepted exactly when the same value inside a case would be. Error paths are relative to
//! the value given (`daily_dose_mg: must be a positive number, got -5`), prefixed by `path` if any.

use std::collections::BTreeSet;

use jiff::civil::Date;
use ketacare_core::assess::ScaleEntry;
use ketacare_core::eligibility::{ConcomitantMedicine, HistoryCondition, Override};
use ketacare_core::patient::{BloodPressure, Jurisdiction, Modality};
use ketacare_core::scales::{CssrsAnswers, Scale};
use ketacare_core::trd::TrialFacts;
use serde_json::Value;

use crate::json_reader::ObjectReader;
use crate::parse::{
    InvalidCase, empty_case, read_bp, read_concomitant_class, read_cssrs, read_ect, read_episode, read_history_code,
    read_override, read_patient, read_scales, read_trial,
};

fn reader<'a>(path: &str, value: &'a Value) -> Result<ObjectReader<'a>, InvalidCase> {
    ObjectReader::new(path.to_owned(), value)
}

/// The case's `patient` object, read as of `as_of` (its `birth_date` must not be after it).
pub fn parse_patient_section(path: &str, value: &Value, as_of: Date) -> Result<(), InvalidCase> {
    let mut case = empty_case(as_of, BTreeSet::from(Modality::ALL), Jurisdiction::Us);
    read_patient(reader(path, value)?, &mut case)
}

/// The case's `episode` object, read as of `as_of` (its `onset_date` must not be after it).
pub fn parse_episode_section(path: &str, value: &Value, as_of: Date) -> Result<(), InvalidCase> {
    let mut case = empty_case(as_of, BTreeSet::from(Modality::ALL), Jurisdiction::Us);
    read_episode(reader(path, value)?, &mut case)
}

/// The case's `ect` object: `failed_courses` and `bilateral`.
pub fn parse_ect_section(path: &str, value: &Value) -> Result<(u32, bool), InvalidCase> {
    let mut case = empty_case(Date::constant(2000, 1, 1), BTreeSet::new(), Jurisdiction::Us);
    read_ect(reader(path, value)?, &mut case)?;
    Ok((case.ect_failed_courses, case.ect_bilateral))
}

/// One code of the case's `history[]`.
pub fn parse_history_entry(path: &str, value: &Value) -> Result<HistoryCondition, InvalidCase> {
    read_history_code(path, value)
}

/// One class of the case's `concomitant[]`.
pub fn parse_concomitant_entry(path: &str, value: &Value) -> Result<ConcomitantMedicine, InvalidCase> {
    read_concomitant_class(path, value)
}

/// One entry of the case's `trials[]`.
pub fn parse_trial_entry(path: &str, value: &Value) -> Result<TrialFacts, InvalidCase> {
    read_trial(reader(path, value)?)
}

/// One reading of the case's `bp[]`.
pub fn parse_bp_entry(path: &str, value: &Value) -> Result<BloodPressure, InvalidCase> {
    read_bp(reader(path, value)?)
}

/// The case's `scales` object (`madrs`, `phq9`, `qids_sr16`, `hamd17`, `gad7`: a total or item answers).
pub fn parse_scales_section(path: &str, value: &Value) -> Result<Vec<(Scale, ScaleEntry)>, InvalidCase> {
    let mut case = empty_case(Date::constant(2000, 1, 1), BTreeSet::new(), Jurisdiction::Us);
    read_scales(reader(path, value)?, &mut case)?;
    Ok(case.scales)
}

/// The case's `cssrs` object (the C-SSRS screener answers).
pub fn parse_cssrs_section(path: &str, value: &Value) -> Result<CssrsAnswers, InvalidCase> {
    read_cssrs(reader(path, value)?)
}

/// One entry of the case's `overrides[]`: `rule`, `by`, `reason`.
pub fn parse_override_entry(path: &str, value: &Value) -> Result<Override, InvalidCase> {
    read_override(reader(path, value)?)
}
