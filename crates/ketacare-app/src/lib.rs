//! Use cases of ketacare: load, decide with the core, write with the store, and audit every read and
//! write of patient data. This is the only crate where `ketacare-core` and `ketacare-store` meet; the
//! web layer calls it and never the store. Authorisation is decided here too ([`policy`]), so no caller
//! can forget it, and every use case takes the [`Actor`] asking.

mod accounts;
mod after_care;
mod assessments;
mod audit_log;
mod bulk_export;
mod chart;
mod chart_vocabulary;
mod clinic_calendar;
mod consents;
mod controlled_substances;
mod credential_flood;
mod fhir_export;
mod fhir_import;
mod live_updates;
mod login_throttle;
mod measurement_markings;
mod operations;
mod outcomes_report;
mod password_policy;
mod password_work;
mod patients;
pub mod policy;
mod secrets;
mod self_reports;
mod session_notes;
mod session_safety;
mod session_scales;
mod site_protocol;
mod symptom_course;
mod treatment;
mod worklist;

use std::sync::Arc;

use jiff::Timestamp;
use ketacare_core::protocol::Protocol;
use ketacare_store::{AuditEvent, Store, StoreError};

pub use accounts::{NewAccount, Principal, SessionPolicy, SignedIn, TokenCreated, UserChangeInput, UserView};
pub use after_care::AfterCareContacts;
pub use assessments::{AssessmentStatusInput, AssessmentView};
pub use audit_log::{AuditLogPage, AuditQuery};
pub use bulk_export::{
    BULK_EXPORT_LIFETIME_DEFAULT, BULK_EXPORT_POLL_SECONDS, BulkExportOutput, BulkExportRequest, BulkExportStatus,
};
pub use chart::{ChartEvaluationView, ChartRecordView, ChartSection, ChartWriteView, EvaluationQuery};
pub use chart_vocabulary::{DrugNameSuggestion, concomitant_classes, drug_name_suggestions, history_codes};
pub use clinic_calendar::{ClinicCalendarView, ClinicHolidayView};
pub use consents::{ConsentFormView, ConsentView, ModalityConsentView, PatientConsentsView};
pub use controlled_substances::{
    StockEntryView, StockLotSummary, StockLotView, StockOverview, StockReport, StockReportQuery, stock_report_csv,
};
pub use fhir_import::{FhirImportError, FhirImportReport, ImportedDecision, PatientImportResult};
/// The one strict JSON reader (ketacare-case), for the web crate's request bodies: every body is read
/// the way the clinical documents are.
pub use ketacare_case::{InvalidJson, read_json_document, read_utf8_text};
pub use ketacare_core::cohort::{Checkpoint, CheckpointStanding, CohortReport};
pub use ketacare_fhir::import::{ImportIssue, ImportPolicy};
pub use ketacare_store::{
    AUDIT_KEY_MIN_BYTES, AuditChainReport, AuditKey, AuditRecord, Backend, OpenStoreError, Role, SqliteFileCheck,
    sqlite_path_of_url,
};
pub use ketacare_store::{Amendment, ApiTokenSummary};
/// The kinds of notes and signatures the session-note views carry.
pub use ketacare_store::{NoteKind, SignatureKind};
pub use live_updates::{SessionChange, SessionChangeKind, SessionChangeWatch, WatchedSessionChange};
pub use login_throttle::{LoginThrottle, ThrottlePolicy};
pub use measurement_markings::MeasurementMarkingView;
pub use operations::check_sqlite_backup;
pub use outcomes_report::{OutcomesQuery, OutcomesReports, report_json};
pub use password_work::{PasswordWorkLimits, PasswordWorkStats};
pub use patients::{
    DeIdentifiedPatient, PatientAmendmentInput, PatientInput, PatientListQuery, PatientListView, PatientView,
};
pub use policy::Permission;
pub use secrets::sha256_hex;
pub use self_reports::{
    SELF_REPORT_LINK_EXPIRED, SELF_REPORT_LINK_USED, SELF_REPORT_SCALES, SelfReportForm, SelfReportLinkCreated,
    SelfReportLinkStatus, SelfReportLinkView, SelfReportReceipt,
};
pub use session_notes::{
    NOTE_TEXT_MAX_BYTES, NoteAwaitingCosignatureView, NoteSignatureView, NoteStatus, NoteView, SessionNotesView,
    generated_note_text,
};
pub use session_safety::{DOSE_DIFFERS_FROM_ORDER, OrderView};
pub use session_scales::{SESSION_SCALES, SessionScaleInput};
pub use site_protocol::{ProtocolSetting, SiteProtocolView};
pub use symptom_course::{SymptomCourseView, SymptomSeries};
pub use treatment::{PlanView, SessionSummary, SessionView};
pub use worklist::{
    WorklistAlert, WorklistPatient, WorklistQuery, WorklistRemsForm, WorklistSelfReport, WorklistSelfReportAlert,
    WorklistSession, WorklistView,
};

/// Where the current time comes from: the system clock in service, a fixed one in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Who is asking, for authorisation and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub role: Role,
    /// Correlates the audit rows of one HTTP request (or CLI run).
    pub request_id: String,
}

/// The result of a creating request: the body to send, and whether it was replayed for a retry that
/// reused an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub resource_id: String,
    pub body: serde_json::Value,
    pub replayed: bool,
}

/// A use case did not do what was asked. Clinical outcomes (ineligible, indeterminate) are not errors:
/// they are values in the report.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("the {role} role may not {action}")]
    Forbidden { role: &'static str, action: &'static str },
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    /// Bad input: names the offending field (a JSON path, a query parameter or a header).
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    /// Optimistic concurrency: the record is at `current_version`, not the version the caller read.
    #[error("{resource} {id} changed since it was read: now at version {current_version}")]
    StaleVersion { resource: &'static str, id: String, current_version: i64 },
    #[error("Idempotency-Key {key:?} was used before with a different request")]
    IdempotencyKeyReused { key: String },
    #[error("{what} already exists")]
    Duplicate { what: &'static str },
    /// A clinical rule refuses the write (a hold of the pre-dose gate, a dose hard stop, a time after the
    /// server's clock): names the field and the rule.
    #[error("{field}: {problem} ({rule_id})")]
    Refused { field: String, rule_id: String, problem: String },
    #[error("too many failed logins; try again in {retry_after_seconds} s")]
    Throttled { retry_after_seconds: u64 },
    /// Too many password checks are waiting for their turn (see `password_work.rs`); nothing was decided.
    #[error("the server is busy checking passwords; try again in {retry_after_seconds} s")]
    Busy { retry_after_seconds: u64 },
    /// Too many jobs of this kind run already (bulk exports); nothing was started.
    #[error("too many jobs are running; try again in {retry_after_seconds} s")]
    TooManyJobs { retry_after_seconds: u64 },
    #[error("storage failed: {0}")]
    Storage(#[source] StoreError),
    /// Reading or writing the files of a job (a bulk export) failed.
    #[error("files failed: {0}")]
    Files(#[source] std::io::Error),
}

impl AppError {
    pub(crate) fn invalid(field: &str, problem: impl std::fmt::Display) -> AppError {
        AppError::Invalid { field: field.to_owned(), problem: problem.to_string() }
    }

    /// The audit outcome this error stands for.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            AppError::Unauthenticated | AppError::Forbidden { .. } | AppError::Throttled { .. } => "denied",
            AppError::NotFound { .. } => "not_found",
            AppError::Invalid { .. } | AppError::IdempotencyKeyReused { .. } => "invalid",
            AppError::Refused { .. } => "refused",
            AppError::StaleVersion { .. } | AppError::Duplicate { .. } => "conflict",
            AppError::Storage(_) | AppError::Files(_) | AppError::Busy { .. } | AppError::TooManyJobs { .. } => {
                "failure"
            }
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> AppError {
        match error {
            StoreError::NotFound { resource, id } => AppError::NotFound { resource, id },
            StoreError::StaleVersion { resource, id, current, .. } => {
                AppError::StaleVersion { resource, id, current_version: current }
            }
            StoreError::Duplicate { what } => AppError::Duplicate { what },
            other => AppError::Storage(other),
        }
    }
}

/// The application: the store, the site protocol decisions are made under, and the clock.
#[derive(Clone)]
pub struct App {
    store: Store,
    protocol: Arc<Protocol>,
    clock: Clock,
    sessions: SessionPolicy,
    throttle: Arc<LoginThrottle>,
    password_work: Arc<password_work::PasswordWork>,
    credential_flood: Arc<credential_flood::CredentialFlood>,
    /// The clinic's IANA time zone: the worklist's day when a request names none.
    clinic_time_zone: String,
    /// The live feed of session changes for open screens (ids only).
    live: Arc<live_updates::LiveUpdates>,
    /// The running and finished `$export` jobs.
    bulk_exports: Arc<bulk_export::BulkExports>,
    /// Identifier systems whose values are MRNs in imported Patients, beside ketacare's own and type MR
    /// (an EHR's MRN namespace, `--mrn-system`).
    mrn_identifier_systems: Arc<[String]>,
    /// Whom the after-care sheet tells the patient to call.
    after_care: Arc<AfterCareContacts>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("App")
            .field("backend", &self.store.backend())
            .field("protocol_sha256", &self.protocol.sha256)
            .finish_non_exhaustive()
    }
}

impl App {
    /// An application on `store` deciding under `protocol`, with the system clock.
    pub fn new(store: Store, protocol: Protocol) -> App {
        App {
            store,
            protocol: Arc::new(protocol),
            clock: Arc::new(Timestamp::now),
            sessions: SessionPolicy::default(),
            throttle: Arc::new(LoginThrottle::new(ThrottlePolicy::default())),
            password_work: Arc::new(password_work::PasswordWork::new(PasswordWorkLimits::default())),
            credential_flood: Arc::default(),
            clinic_time_zone: "UTC".to_owned(),
            live: Arc::default(),
            bulk_exports: Arc::new(bulk_export::BulkExports::new(&std::env::temp_dir(), BULK_EXPORT_LIFETIME_DEFAULT)),
            mrn_identifier_systems: Arc::new([]),
            after_care: Arc::default(),
        }
    }

    /// The same application reading an imported Patient's identifier of any of `systems` as its MRN
    /// (an EHR's own MRN namespace, e.g. `urn:oid:…` or a URL), beside ketacare's and type MR.
    pub fn with_mrn_identifier_systems(mut self, systems: Vec<String>) -> App {
        self.mrn_identifier_systems = systems.into();
        self
    }

    /// The same application reading time from `clock` (tests fake only the clock).
    pub fn with_clock(mut self, clock: Clock) -> App {
        self.clock = clock;
        self
    }

    /// The same application in the clinic's IANA time zone (`America/New_York`); an unknown name is
    /// [`AppError::Invalid`].
    pub fn with_clinic_time_zone(mut self, name: &str) -> Result<App, AppError> {
        jiff::tz::TimeZone::get(name)
            .map_err(|_| AppError::invalid("time_zone", format!("is not an IANA time zone name, got {name:?}")))?;
        self.clinic_time_zone = name.to_owned();
        Ok(self)
    }

    /// The clinic's IANA time zone.
    pub fn clinic_time_zone(&self) -> &str {
        &self.clinic_time_zone
    }

    pub fn with_session_policy(mut self, sessions: SessionPolicy) -> App {
        self.sessions = sessions;
        self
    }

    /// The same application throttling logins under `policy`.
    pub fn with_throttle_policy(mut self, policy: ThrottlePolicy) -> App {
        self.throttle = Arc::new(LoginThrottle::new(policy));
        self
    }

    /// The same application running its password hashing within `limits`.
    pub fn with_password_work_limits(mut self, limits: PasswordWorkLimits) -> App {
        self.password_work = Arc::new(password_work::PasswordWork::new(limits));
        self
    }

    /// What the password hashing is doing now, and how many verifications it has run.
    pub fn password_work_stats(&self) -> PasswordWorkStats {
        self.password_work.stats()
    }

    pub fn throttle_policy(&self) -> ThrottlePolicy {
        self.throttle.policy()
    }

    /// Connects to the database at `url` without migrating it (for `ketacare migrate`, which reports).
    pub async fn connect(url: &str, protocol: Protocol) -> Result<App, OpenStoreError> {
        Ok(App::new(Store::connect(url).await?, protocol))
    }

    /// Opens the database at `url` (migrating it) and returns the application on it.
    pub async fn open(url: &str, protocol: Protocol) -> Result<App, OpenStoreError> {
        App::open_with_audit_key(url, protocol, None).await
    }

    /// [`App::open`], keying new audit events with `audit_key` (HMAC-SHA-256) when given.
    pub async fn open_with_audit_key(
        url: &str,
        protocol: Protocol,
        audit_key: Option<AuditKey>,
    ) -> Result<App, OpenStoreError> {
        Ok(App::new(Store::open_with_audit_key(url, audit_key).await?, protocol))
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    pub fn session_policy(&self) -> SessionPolicy {
        self.sessions
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }

    /// Waits for the database connections in use to be returned, then closes them.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Brings the schema up to date; returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>, OpenStoreError> {
        self.store.migrate().await
    }

    fn audit_event(&self, actor: &Actor, action: &str, resource: String, patient_id: Option<&str>) -> AuditEvent {
        AuditEvent {
            occurred_at: self.now(),
            actor_id: Some(actor.user_id.clone()),
            actor_role: Some(actor.role.as_str().to_owned()),
            action: action.to_owned(),
            resource,
            patient_id: patient_id.map(str::to_owned),
            request_id: Some(actor.request_id.clone()),
            outcome: "success".to_owned(),
        }
    }

    /// Records a use case that failed (denied, not found, invalid …) and passes its error on.
    /// Refuses, audited as `action` on `resource`, a caller whose role lacks `permission`: the web layer
    /// calls it before it reads anything of a request (body, query, `If-Match`, `Idempotency-Key`), so a role
    /// without the permission always gets 403, never a validation error. The use case checks again.
    pub async fn authorize(
        &self,
        actor: &Actor,
        permission: Permission,
        action: &str,
        resource: String,
        patient_id: Option<&str>,
    ) -> Result<(), AppError> {
        match policy::require(actor, permission) {
            Ok(()) => Ok(()),
            Err(error) => {
                let event = self.audit_event(actor, action, resource, patient_id);
                Err(self.audit_failure(event, error).await)
            }
        }
    }

    /// The audit event of a use case (`action` on `resource`), once `actor` is found to hold `permission`;
    /// a refusal is audited with it and returned. The one preamble of the use cases that check a permission
    /// before anything else.
    pub(crate) async fn permitted_event(
        &self,
        actor: &Actor,
        permission: Permission,
        action: &str,
        resource: String,
        patient_id: Option<&str>,
    ) -> Result<AuditEvent, AppError> {
        let event = self.audit_event(actor, action, resource, patient_id);
        match policy::require(actor, permission) {
            Ok(()) => Ok(event),
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }

    async fn audit_failure(&self, mut event: AuditEvent, error: AppError) -> AppError {
        event.outcome = error.outcome().to_owned();
        if let Err(store_error) = self.store.append_audit(&event).await {
            tracing::error!(action = %event.action, error = %store_error, "could not audit a failed request");
        }
        error
    }
}
