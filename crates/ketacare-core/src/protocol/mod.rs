//! The site protocol: one TOML file holding every threshold and choice the rules use, each value
//! with its source. Parsed and validated into typed settings; its SHA-256 travels with every decision.
//!
//! The shipped file (`protocol/ketacare-protocol.toml` in this crate) holds KNOWLEDGE's PROJECT DEFAULTs;
//! its sources cite the shipped mirror of KNOWLEDGE, `docs/clinical-reference.md`, as `clinical-reference §N.N`.

mod reader;

use std::fmt;

use sha2::{Digest, Sha256};
use toml::{Table, Value};

pub use reader::{SectionReader, Setting};

use crate::dosing::DosingSettings;
use crate::eligibility::EligibilitySettings;
use crate::notes::NoteSettings;
use crate::outcomes::OutcomeSettings;
use crate::plan::ScheduleSettings;
use crate::scales::ScalesSettings;
use crate::self_report::SelfReportSettings;
use crate::session::SessionSettings;
use crate::session::alerts::AlertSettings;
use crate::session::discharge::DischargeSettings;
use crate::staging::StagingSettings;
use crate::trd::TrdSettings;

/// The shipped site protocol, byte for byte.
pub const SHIPPED_PROTOCOL_TOML: &str = include_str!("../../protocol/ketacare-protocol.toml");

/// The protocol format this build reads (`format` at the top of the file).
pub const PROTOCOL_FORMAT: i64 = 1;

/// A validated site protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    /// Lower-case hex SHA-256 of the exact file bytes.
    pub sha256: String,
    /// The clinic's own name for this protocol version (`name` in the file).
    pub name: String,
    pub trd: TrdSettings,
    pub staging: StagingSettings,
    pub eligibility: EligibilitySettings,
    pub dosing: DosingSettings,
    pub session: SessionSettings,
    pub alerts: AlertSettings,
    pub discharge: DischargeSettings,
    pub schedule: ScheduleSettings,
    pub scales: ScalesSettings,
    pub outcomes: OutcomeSettings,
    /// `[notes]`: session notes and their signatures.
    pub notes: NoteSettings,
    /// `[self_report]`: the patients' self-report links (lifetime, crisis text).
    pub self_report: SelfReportSettings,
    /// Every setting as the file writes it, with its source, in file order (what `protocol show` lists
    /// and the staff pages' protocol page shows).
    pub entries: Vec<ProtocolEntry>,
}

/// A protocol file that cannot be used; names the dotted path of the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct InvalidProtocol {
    pub path: String,
    pub problem: String,
}

impl InvalidProtocol {
    pub fn new(path: &str, problem: impl fmt::Display) -> Self {
        InvalidProtocol { path: path.to_owned(), problem: problem.to_string() }
    }
}

impl Protocol {
    /// The protocol shipped with this build (KNOWLEDGE's PROJECT DEFAULTs).
    pub fn shipped() -> Protocol {
        Protocol::parse(SHIPPED_PROTOCOL_TOML).expect("the shipped protocol is valid (checked by a test)")
    }

    /// Parses and validates a protocol file's text. Unknown keys are errors.
    pub fn parse(text: &str) -> Result<Protocol, InvalidProtocol> {
        let mut root: Table =
            text.parse().map_err(|error: toml::de::Error| InvalidProtocol::new("(file)", error.message().trim()))?;
        let entries = entries_of(&root);
        match root.remove("format") {
            Some(Value::Integer(PROTOCOL_FORMAT)) => {}
            Some(other) => {
                return Err(InvalidProtocol::new("format", format!("must be {PROTOCOL_FORMAT}, got {other}")));
            }
            None => return Err(InvalidProtocol::new("format", "is missing")),
        }
        let name = match root.remove("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => name,
            _ => return Err(InvalidProtocol::new("name", "must be a non-empty string")),
        };
        let protocol = Protocol {
            sha256: sha256_hex(text.as_bytes()),
            name,
            trd: TrdSettings::read(SectionReader::take_section(&mut root, "trd")?)?,
            staging: StagingSettings::read(SectionReader::take_section(&mut root, "staging")?)?,
            eligibility: EligibilitySettings::read(SectionReader::take_section(&mut root, "eligibility")?)?,
            dosing: DosingSettings::read(SectionReader::take_section(&mut root, "dosing")?)?,
            session: SessionSettings::read(SectionReader::take_section(&mut root, "session")?)?,
            alerts: AlertSettings::read(SectionReader::take_section(&mut root, "alerts")?)?,
            discharge: DischargeSettings::read(SectionReader::take_section(&mut root, "discharge")?)?,
            schedule: ScheduleSettings::read(SectionReader::take_section(&mut root, "schedule")?)?,
            scales: ScalesSettings::read(SectionReader::take_section(&mut root, "scales")?)?,
            outcomes: OutcomeSettings::read(SectionReader::take_section(&mut root, "outcomes")?)?,
            notes: NoteSettings::read(SectionReader::take_section(&mut root, "notes")?)?,
            self_report: SelfReportSettings::read(SectionReader::take_section(&mut root, "self_report")?)?,
            entries,
        };
        if let Some(key) = root.keys().next() {
            return Err(InvalidProtocol::new(key, "is not a known protocol section"));
        }
        Ok(protocol)
    }
}

/// One setting as a protocol file writes it: its dotted path, its value as TOML text and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolEntry {
    pub path: String,
    pub value: String,
    pub source: String,
}

impl ProtocolEntry {
    /// Whether the source says the value rests on an UNCONFIRMED fact: a medical director must sign it off
    /// before clinical use (clinical-reference §0, §10).
    pub fn is_unconfirmed(&self) -> bool {
        self.source.contains("UNCONFIRMED")
    }
}

/// Every `{ value, source }` setting of a protocol file, in file order, sub-tables such as
/// `[eligibility.rule_class]` included. Only walks the file: validate it with [`Protocol::parse`] first.
pub fn protocol_entries(text: &str) -> Result<Vec<ProtocolEntry>, InvalidProtocol> {
    let root: Table =
        text.parse().map_err(|error: toml::de::Error| InvalidProtocol::new("(file)", error.message().trim()))?;
    Ok(entries_of(&root))
}

fn entries_of(root: &Table) -> Vec<ProtocolEntry> {
    let mut entries = Vec::new();
    for (name, value) in root {
        if let Value::Table(section) = value {
            collect_entries(name, section, &mut entries);
        }
    }
    entries
}

fn collect_entries(prefix: &str, table: &Table, entries: &mut Vec<ProtocolEntry>) {
    for (key, value) in table {
        let Value::Table(inner) = value else { continue };
        let path = format!("{prefix}.{key}");
        match (inner.get("value"), inner.get("source")) {
            (Some(value), Some(Value::String(source))) => {
                entries.push(ProtocolEntry { path, value: value.to_string(), source: source.clone() });
            }
            _ => collect_entries(&path, inner, entries),
        }
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_protocol_parses() {
        let protocol = Protocol::parse(SHIPPED_PROTOCOL_TOML).unwrap();
        assert_eq!(protocol.sha256.len(), 64);
    }

    fn check_rejected(from: &str, to: &str, expected_error: &str) {
        assert!(SHIPPED_PROTOCOL_TOML.contains(from), "test edit does not apply: {from}");
        let edited = SHIPPED_PROTOCOL_TOML.replacen(from, to, 1);
        let error = Protocol::parse(&edited).unwrap_err();
        assert_eq!(error.to_string(), expected_error);
    }

    #[test]
    fn bad_files_are_rejected_with_the_path_named() {
        check_rejected("format = 1", "format = 2", "format: must be 1, got 2");
        check_rejected(
            "min_weeks_at_adequate_dose = { value = 6,",
            "min_weeks_at_adequate_dose = { value = 3,",
            "trd.min_weeks_at_adequate_dose: must be between 4 and 8, got 3",
        );
        check_rejected(
            "failure_threshold = { value = \"lt50\"",
            "failure_threshold = { value = \"lt40\"",
            "trd.failure_threshold: must be one of lt50, le25, lt25, got \"lt40\"",
        );
        check_rejected(
            "[trd]",
            "[trd]\nmin_week = { value = 6, source = \"x\" }",
            "trd.min_week: is not a known protocol setting",
        );
        check_rejected("[trd]", "[trdd]\n[trd]", "trdd: is not a known protocol section");
    }

    #[test]
    fn bad_scales_and_outcomes_settings_are_rejected() {
        check_rejected(
            "phq9_missing_item_rule = { value = \"prorate_one\"",
            "phq9_missing_item_rule = { value = \"prorate_two\"",
            "scales.phq9_missing_item_rule: must be one of prorate_one, no_total, got \"prorate_two\"",
        );
        check_rejected(
            "hamd17_severity_bands = { value = \"zimmerman_2013\"",
            "hamd17_severity_bands = { value = \"zimmerman\"",
            "scales.hamd17_severity_bands: must be one of zimmerman_2013, ids_qids, got \"zimmerman\"",
        );
        check_rejected(
            "phq9_item9_screen_from = { value = 1,",
            "phq9_item9_screen_from = { value = 0,",
            "scales.phq9_item9_screen_from: must be between 1 and 3, got 0",
        );
        check_rejected(
            "madrs_remission_at_most = { value = 10,",
            "madrs_remission_at_most = { value = 61,",
            "outcomes.madrs_remission_at_most: must be between 0 and 60, got 61",
        );
        check_rejected(
            "partial_response_min_reduction_pct = { value = 25,",
            "partial_response_min_reduction_pct = { value = 50,",
            "outcomes.partial_response_min_reduction_pct: must be below outcomes.response_min_reduction_pct",
        );
        check_rejected(
            "relapse_min_days_apart = { value = 5,",
            "relapse_min_days_apart = { value = 16,",
            "outcomes.relapse_min_days_apart: must not exceed outcomes.relapse_max_days_apart",
        );
        check_rejected(
            "sustained_remission_min_remitted = { value = 3,",
            "sustained_remission_min_remitted = { value = 5,",
            "outcomes.sustained_remission_min_remitted: must not exceed outcomes.sustained_remission_window",
        );
        check_rejected(
            "[outcomes]",
            "[outcomes]\nremission = { value = 1, source = \"x\" }",
            "outcomes.remission: is not a known protocol setting",
        );
    }

    #[test]
    fn the_shipped_scales_and_outcomes_settings_are_knowledges_defaults() {
        let protocol = Protocol::shipped();
        let values = (
            protocol.scales.phq9_missing_item_rule.value,
            protocol.scales.hamd17_severity_bands.value,
            protocol.outcomes.madrs_remission_at_most.value,
            protocol.outcomes.madrs_remission_alternative_at_most.value,
            protocol.outcomes.phq9_remission_at_most.value,
            protocol.outcomes.qids_sr16_remission_at_most.value,
            protocol.outcomes.hamd17_remission_at_most.value,
            protocol.outcomes.relapse_madrs_from.value,
        );
        assert_eq!(
            values,
            (
                crate::scales::Phq9MissingItemRule::ProrateOne,
                crate::scales::Hamd17SeverityBands::Zimmerman2013,
                10,
                12,
                4,
                5,
                7,
                22
            )
        );
        // KNOWLEDGE marks these UNCONFIRMED; the file must say so next to each.
        for setting in [
            &protocol.scales.phq9_missing_item_rule.source,
            &protocol.scales.moaas_sedated_below.source,
            &protocol.outcomes.relapse_madrs_from.source,
            &protocol.outcomes.relapse_min_days_apart.source,
            &protocol.outcomes.relapse_max_days_apart.source,
            &protocol.outcomes.sustained_remission_window.source,
            &protocol.outcomes.sustained_remission_min_remitted.source,
        ] {
            assert!(setting.contains("UNCONFIRMED"), "{setting}");
        }
    }

    #[test]
    fn session_sections_are_checked() {
        // KNOWLEDGE §4.1: the REMS minimum cannot be shortened by a clinic.
        check_rejected(
            "esketamine_min_observation_min = { value = 120,",
            "esketamine_min_observation_min = { value = 90,",
            "discharge.esketamine_min_observation_min: must be between 120 and 480, got 90",
        );
        check_rejected(
            "bp_warning_systolic_from = { value = 160,",
            "bp_warning_systolic_from = { value = 190,",
            "alerts.bp_warning_systolic_from: must not exceed alerts.bp_critical_systolic_from",
        );
        check_rejected(
            "[alerts]",
            "[alerts]\nhr_high = { value = 120, source = \"x\" }",
            "alerts.hr_high: is not a known protocol setting",
        );
        check_rejected(
            "pregnancy_test_policy = { value = \"required_if_can_become_pregnant\"",
            "pregnancy_test_policy = { value = \"sometimes\"",
            "session.pregnancy_test_policy: must be one of required_if_can_become_pregnant, not_required, got \"sometimes\"",
        );
        check_rejected(
            "esketamine_week9_interval_weeks = { value = 2,",
            "esketamine_week9_interval_weeks = { value = 3,",
            "schedule.esketamine_week9_interval_weeks: must be between 1 and 2, got 3",
        );
    }

    #[test]
    fn a_value_without_a_source_is_rejected() {
        let edited: String = SHIPPED_PROTOCOL_TOML
            .lines()
            .map(|line| {
                if line.starts_with("min_weeks_at_adequate_dose") {
                    "min_weeks_at_adequate_dose = { value = 6 }".to_owned()
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let error = Protocol::parse(&edited).unwrap_err();
        assert_eq!(
            error.to_string(),
            "trd.min_weeks_at_adequate_dose: has no `source`: every value must say where it comes from"
        );
    }

    #[test]
    fn the_hash_follows_the_bytes() {
        let edited = format!("{SHIPPED_PROTOCOL_TOML}\n# a comment\n");
        assert_ne!(Protocol::parse(&edited).unwrap().sha256, Protocol::shipped().sha256);
    }
}
