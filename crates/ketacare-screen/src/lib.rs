//! Population screening of FHIR R4 bulk exports for treatment-resistant depression
//! (contracts/screen.md): NDJSON lines → dated drug events, diagnoses and PHQ-9 totals → courses →
//! episodes → the definition of a preset → one evidence row per patient. Also the seeded synthetic
//! export generator (`synth`) whose `truth.csv` tests the screen.
//!
//! The bulk NDJSON reading lives here rather than in a `ketacare-fhir` crate: it reads only a handful
//! of fields through borrowed, hot-path structs that no other crate needs.

pub mod cardinal;
pub mod dates;
pub mod extract;
pub mod json_shape;
pub mod output;
pub mod params;
pub mod reader;
pub mod rules;
pub mod screen;
pub mod synth;

pub use output::{OutputFormat, ScreenRow, write_rows};
pub use params::{Preset, ScreenParameters};
pub use reader::{ExportFacts, ReadExportError, ReadMode, ReadOptions, read_export};
pub use rules::{PatientRecord, PatientResult, Status};
pub use screen::{ScreenReport, screen_export};
