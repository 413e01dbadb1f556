//! The case and report formats of `contracts/assess.md`: parse a case JSON into core types, and
//! render the core's report as JSON or as text for a person. This crate owns that format.
