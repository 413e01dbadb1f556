//! The case and report formats of `contracts/assess.md`: parse a case JSON into core types, and
//! render the core's report as JSON or as text for a person. This crate owns that format; the CLI
//! and (later) the HTTP API both go through it, so they cannot drift apart.

mod batch;
mod chart_case;
mod containment;
mod json_reader;
mod parse;
mod plan_format;
mod render;
mod sections;
pub mod session_assembly;
pub mod session_format;
mod strict_json;

pub use batch::{BatchSummary, assess_batch};
pub use chart_case::{ChartPatientFacts, ChartRecordFacts, ChartScaleFacts, assemble_case_from_chart, current_episode};
pub use containment::json_contains;
pub use json_reader::{PLAUSIBLE_YEARS, read_calendar_date, read_local_date_time};
pub use parse::{InvalidCase, parse_case, parse_case_bytes, parse_case_json};
pub use plan_format::{CourseInput, PlanInput, parse_plan, parse_plan_json, plan_report_json};
pub use render::{report_json, report_text, write_report_json, write_report_json_pretty};
pub use sections::{
    parse_bp_entry, parse_concomitant_entry, parse_cssrs_section, parse_ect_section, parse_episode_section,
    parse_history_entry, parse_override_entry, parse_patient_section, parse_scales_section, parse_trial_entry,
};
pub use strict_json::{InexactNumber, InvalidJson, exact_decimal, read_json_document, read_utf8_text};
