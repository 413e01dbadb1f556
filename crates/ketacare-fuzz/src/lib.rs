//! What each fuzz target of `fuzz/` checks, as plain functions of the input bytes. The cargo-fuzz
//! targets (nightly, libFuzzer) call these, and `tests/regressions.rs` replays every committed crash
//! input of `fuzz/regressions/<target>/` through the same function on stable, so a fixed crash stays
//! fixed without nightly. A check panics when the product panics or when two paths that must agree
//! disagree; every other answer (a refusal included) is fine.

pub mod api;
pub mod documents;
pub mod screen;

/// A fuzz target: its name (the folder of its corpus and regressions) and its check.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("assess_case", documents::assess_case),
    ("assess_batch", documents::assess_batch_lines),
    ("assess_single_vs_batch", documents::assess_single_vs_batch),
    ("chart_record", documents::chart_record),
    ("session_document", documents::session_document),
    ("session_observation", documents::session_observation),
    ("plan_document", documents::plan_document),
    ("protocol_toml", documents::protocol_toml),
    ("api_body", api::api_body),
    ("screen_line", screen::screen_line),
    ("screen_line_vs_serde", screen::screen_line_vs_serde),
    ("screen_patient", |data| screen::screen_resource("Patient", data)),
    ("screen_condition", |data| screen::screen_resource("Condition", data)),
    ("screen_medication_request", |data| screen::screen_resource("MedicationRequest", data)),
    ("screen_medication_dispense", |data| screen::screen_resource("MedicationDispense", data)),
    ("screen_medication_statement", |data| screen::screen_resource("MedicationStatement", data)),
    ("screen_medication_administration", |data| screen::screen_resource("MedicationAdministration", data)),
    ("screen_observation", |data| screen::screen_resource("Observation", data)),
    ("screen_export", screen::screen_export_framing),
    ("screen_gzip", screen::screen_gzip_bytes),
];

/// The check of the target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(target, _)| *target == name).map(|(_, check)| *check)
}
