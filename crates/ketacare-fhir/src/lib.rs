//! FHIR R4 (4.0.1) for ketacare: the resources we write, as a typed subset (`resources`), the codes of
//! the clinical reference and ketacare's own CodeSystem (`codes`), the mapping from a patient's record to
//! those resources and the `$everything` Bundle (`export`), from an imported Bundle back to chart records
//! (`import`), the audit log as AuditEvents (`audit_event`), and the CapabilityStatement (`capability`).
//! This crate alone knows FHIR's JSON; it is pure (no I/O), like the core it maps from.

pub mod audit_event;
pub mod capability;
pub mod codes;
pub mod export;
pub mod import;
pub mod resources;

pub use capability::{FHIR_JSON, FHIR_VERSION, capability_statement, operation_outcome};
pub use export::{
    AdministrationFacts, BloodPressureFacts, ConcomitantFacts, ConsentFacts, DefinitionResult, EpisodeFacts,
    HistoryFacts, MeasurementFacts, OrderFacts, PatientFacts, PatientRecord, PlanFacts, PlannedSessionFacts,
    ScaleFacts, SessionFacts, TrdDetermination, TrialFacts, TrialJudgement, VitalSignsFacts, patient_everything_bundle,
    patient_resources,
};
