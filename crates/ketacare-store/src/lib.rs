//! Persistence of ketacare: one [`Store`] over SQLite (the default, one file, WAL) or PostgreSQL, chosen
//! by the URL scheme; one set of migrations per backend, applied on open; the hash-chained audit log.
//! Queries are checked at run time (no sqlx macros), written once with `$N` parameters, which both
//! backends accept, and run through [`on_pool!`]/[`write_tx!`] so that each is compiled for each backend.

mod audit;
mod audit_verify;
mod chart;
mod clinic_calendar;
mod consents;
mod controlled_substances;
mod fhir_import;
mod login_failures;
mod measurement_markings;
mod migrate;
mod operations;
mod patients;
pub mod row_versions;
mod rows;
mod self_reports;
mod session_notes;
mod session_safety;
#[cfg(feature = "test-support")]
pub mod test_support;
mod treatment;
mod users;
mod worklist;
mod writer;

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use audit::{
    AUDIT_KEY_MIN_BYTES, AuditActionMatch, AuditEvent, AuditEventFilter, AuditKey, AuditRecord, GENESIS_HASH,
    HashAlgorithm,
};
pub use audit_verify::{
    AuditChainReport, BrokenLink, MAX_LISTED_ROW_PROBLEMS, RowProblem, RowProblemKind, SHIPPED_TRIGGERS_POSTGRES,
    SHIPPED_TRIGGERS_SQLITE, trigger_fingerprints,
};
pub use chart::{
    ChartEvaluation, ChartRecord, ChartRecordChanges, ChartWrite, NewChartRecord, ScaleResultChanges, chart_stamp,
};
pub use clinic_calendar::{ClinicCalendarSettings, ClinicHoliday};
pub use consents::{ConsentChange, ConsentForm, ConsentModality, PatientConsent, SignerRelationship};
pub use controlled_substances::{
    AdministrationOfStock, StockDiscrepancyResolution, StockEntryCorrection, StockEntryFilter, StockEntryLot,
    StockEntryRow, StockLotRow,
};
pub use fhir_import::{ImportedChartRecord, ImportedPatientRow, ImportedScaleResult, PatientChartImport};
pub use login_failures::{AttemptReservation, LoginFailures, ThrottleCounter};
pub use measurement_markings::MeasurementNotApplicable;
pub use migrate::Migration;
pub use operations::{SqliteFileCheck, check_sqlite_file, sqlite_path_of_url};
pub use patients::{
    Amendment, AmendmentMeta, IDEMPOTENCY_KEY_LIFETIME_HOURS, IdempotentResponse, NewAssessment, NewPatient,
    NewScaleResult, Patient, PatientChanges, PatientListing, PatientPage, PatientSearch, RecordStatus,
    StoredAssessment, StoredScaleResult,
};
pub use self_reports::{SelfReportLink, SelfReportUse};
pub use session_notes::{NoteAwaitingCosignature, NoteKind, NoteSignature, SignatureKind, StoredSessionNote};
pub use session_safety::{ObservationCorrectionWrite, SessionDischarge, StoredDoseOrder, StoredSessionOverride};
pub use treatment::{
    AdministrationStatusChange, NewTreatmentPlan, NewTreatmentSession, ObservationCorrection, ObservationWrite,
    ScheduledSessionRow, SessionFactsChange, SessionStage, StoredAcknowledgement, StoredAdministration,
    StoredAlertChange, StoredObservation, StoredTreatmentPlan, StoredTreatmentSession, TreatmentPlanChange,
    TreatmentSessionRecord,
};
pub use users::{ApiTokenRecord, ApiTokenSummary, NewApiToken, NewSession, NewUser, Role, SessionRecord, UserRecord};
pub use worklist::{OpenAlert, PatientRecordId, ScheduledSessionOfDay};
pub use writer::WriteStats;

/// The database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One handle to the clinic's database; cheap to clone (it holds a connection pool and the queue to
/// its writer task).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    writer: Writer,
    counters: Arc<writer::Counters>,
    /// The key of the audit chain's HMAC, when the deployment has one: new events are keyed with it and
    /// `audit verify` checks keyed events with it.
    audit_key: Option<AuditKey>,
}

/// The queue to the writer task that commits audited writes in batches (`writer.rs`).
#[derive(Debug, Clone)]
enum Writer {
    Sqlite(writer::Queue<sqlx::SqliteConnection>),
    Postgres(writer::Queue<sqlx::PgConnection>),
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Opening the database, or bringing its schema up to date, failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    #[error("database URL {url:?} is not supported: expected sqlite://FILE or postgres://…")]
    UnsupportedUrl { url: String },
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migration {version} ({name}) failed: {source}")]
    Migrate { version: i64, name: &'static str, source: sqlx::Error },
    #[error(
        "migration {version} ({name}) was applied with a different text (SHA-256 {applied}); released migrations are never edited"
    )]
    MigrationEdited { version: i64, name: &'static str, applied: String },
    #[error("the database has migration {version}, which this build of ketacare does not know; upgrade ketacare")]
    UnknownMigration { version: i64 },
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    /// Optimistic concurrency: the row changed since the caller read it.
    #[error("{resource} {id} is at version {current}, not {expected}")]
    StaleVersion { resource: &'static str, id: String, expected: i64, current: i64 },
    /// A unique value (username, pseudonym, idempotency key) is already taken.
    #[error("{what} already exists")]
    Duplicate { what: &'static str },
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The operation is not available on this backend.
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` as one job of the writer task (see `writer.rs`), with `$tx` bound to the connection of
/// the batch's transaction inside the job's own SAVEPOINT; evaluates to the body's value once the batch
/// is committed. A `?` or `return Err(…)` in the body fails this job alone (its savepoint is rolled back).
/// The job outlives the caller's borrows as far as the compiler knows, so the borrowed values the body
/// uses are listed in `[…]` and copied into it. Write transactions are serialised, because each appends
/// to the audit chain, whose next link depends on the last one: SQLite by `BEGIN IMMEDIATE`, PostgreSQL
/// by an advisory transaction lock.
macro_rules! write_tx {
    ($store:expr, [$($owned:ident),* $(,)?], $tx:ident => $body:expr) => {{
        $(let $owned = $crate::JobOwned::job_owned(&$owned);)*
        match &$store.writer {
            $crate::Writer::Sqlite(queue) => {
                queue
                    .submit(move |$tx| {
                        // A fresh copy per run: a batch in which a job fails is run again.
                        $(let $owned = ::std::clone::Clone::clone(&$owned);)*
                        Box::pin(async move { Ok::<_, $crate::StoreError>($body) })
                    })
                    .await?
            }
            $crate::Writer::Postgres(queue) => {
                queue
                    .submit(move |$tx| {
                        $(let $owned = ::std::clone::Clone::clone(&$owned);)*
                        Box::pin(async move { Ok::<_, $crate::StoreError>($body) })
                    })
                    .await?
            }
        }
    }};
}
pub(crate) use write_tx;

/// An owned copy of a borrowed argument, to move into a writer job.
pub(crate) trait JobOwned {
    type Owned: Send + Clone + 'static;
    fn job_owned(&self) -> Self::Owned;
}

impl<T: ?Sized + ToOwned> JobOwned for &T
where
    T::Owned: Send + Clone + 'static,
{
    type Owned = T::Owned;
    fn job_owned(&self) -> T::Owned {
        (**self).to_owned()
    }
}

impl<T: ?Sized + ToOwned> JobOwned for Option<&T>
where
    T::Owned: Send + Clone + 'static,
{
    type Owned = Option<T::Owned>;
    fn job_owned(&self) -> Option<T::Owned> {
        self.map(ToOwned::to_owned)
    }
}

impl JobOwned for String {
    type Owned = String;
    fn job_owned(&self) -> String {
        self.clone()
    }
}

/// The PostgreSQL advisory lock that serialises writers of the audit chain ("ketacare" in ASCII).
pub(crate) const WRITE_LOCK_KEY: i64 = 0x6b65_7461_6361_7265;

impl Store {
    /// Opens the database at `url` (`sqlite://FILE`, created if missing, or `postgres://…`) and applies
    /// the migrations it lacks.
    pub async fn open(url: &str) -> Result<Store, OpenStoreError> {
        Store::open_with_audit_key(url, None).await
    }

    /// [`Store::open`], keying the audit chain's new events with `audit_key` (HMAC-SHA-256) when given.
    pub async fn open_with_audit_key(url: &str, audit_key: Option<AuditKey>) -> Result<Store, OpenStoreError> {
        let store = Store::connect_with_audit_key(url, audit_key).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(url: &str) -> Result<Store, OpenStoreError> {
        Store::connect_with_audit_key(url, None).await
    }

    /// [`Store::connect`] with the audit key of [`Store::open_with_audit_key`].
    pub async fn connect_with_audit_key(url: &str, audit_key: Option<AuditKey>) -> Result<Store, OpenStoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(OpenStoreError::Connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before it is acknowledged, even across power loss.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .map_err(OpenStoreError::Connect)?;
            let counters = Arc::new(writer::Counters::default());
            let writer = Writer::Sqlite(writer::spawn_sqlite(pool.clone(), Arc::clone(&counters), audit_key.clone()));
            Ok(Store { pool: Pool::Sqlite(pool), writer, counters, audit_key })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(OpenStoreError::Connect)?;
            let counters = Arc::new(writer::Counters::default());
            let writer =
                Writer::Postgres(writer::spawn_postgres(pool.clone(), Arc::clone(&counters), audit_key.clone()));
            Ok(Store { pool: Pool::Postgres(pool), writer, counters, audit_key })
        } else {
            Err(OpenStoreError::UnsupportedUrl { url: redact_url(url) })
        }
    }

    /// The key new audit events are keyed with (HMAC-SHA-256), if any.
    pub fn audit_key(&self) -> Option<AuditKey> {
        self.audit_key.clone()
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// How many write transactions the writer task committed, and how many jobs they carried.
    pub fn write_stats(&self) -> WriteStats {
        self.counters.snapshot()
    }

    /// Answers whether the database takes a query now (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}

/// A URL fit for an error message: the password, if any, replaced by `***`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &credentials[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The current time as stored: RFC 3339 UTC with six fractional digits, so text order is time order.
pub fn format_time(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_error_messages() {
        assert_eq!(redact_url("mysql://u:secret@host/db"), "mysql://u:***@host/db");
        assert_eq!(redact_url("mysql://host/db"), "mysql://host/db");
    }

    #[test]
    fn stored_times_have_a_fixed_width() {
        let at: jiff::Timestamp = "2026-11-28T19:20:31Z".parse().unwrap();
        assert_eq!(format_time(at), "2026-11-28T19:20:31.000000Z");
    }
}
