//! ketacare's clinical engine: rating scales, outcomes, TRD, staging, eligibility, dosing, sessions
//! (gate, alerts, discharge, REMS form), care plans and course evaluation, and the site protocol.
//! Pure: the facts, the protocol and the date come in as arguments, values go out.
//! No files, no clock, no environment, no async, no randomness.

pub mod assess;
pub mod cohort;
pub mod controlled_substances;
pub mod course;
pub mod dosing;
pub mod drug_names;
pub mod drugs;
pub mod eligibility;
pub mod notes;
pub mod outcomes;
pub mod patient;
pub mod plan;
pub mod protocol;
pub mod scales;
pub mod self_report;
pub mod session;
pub mod staging;
pub mod trd;

/// The version of the rules in this build; recorded with every decision beside the protocol SHA-256.
pub const RULES_VERSION: &str = concat!("ketacare-rules/", env!("CARGO_PKG_VERSION"));
