//! The asynchronous FHIR Bulk Data export (`$export`, HL7 Bulk Data Access IG): a kick-off starts a job
//! that writes every patient's record as NDJSON, one file per resource type, into a folder of its own; its
//! owner polls the job, downloads the files and may cancel it; a cancelled or expired job's files are
//! deleted. Admins get the records in full; analysts get them de-identified (no name, MRN or free text,
//! the birth year only and dates moved by a per-patient offset). Each patient exported is audited as a
//! read of that patient by the requester. An admin's export also carries the audit log, up to the
//! kick-off, as `AuditEvent`s (audited as `audit.read`): the trail leaves with the records. Jobs live in the server's memory: a restart ends them (their
//! status URLs then answer 404), and files a killed process left are deleted a day later.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan as _};
use ketacare_core::drugs::resolve_drug_name;
use ketacare_fhir::PatientRecord;
use ketacare_fhir::resources::Resource;
use serde_json::Value;

use crate::policy::{Permission, de_identified_only, require};
use crate::secrets::{new_id, random_hex};
use crate::{Actor, App, AppError};

/// How long a finished job's files stay downloadable.
pub const BULK_EXPORT_LIFETIME_DEFAULT: Duration = Duration::from_secs(60 * 60);
/// Jobs running at once on one server; another kick-off gets 429 with Retry-After.
pub const BULK_EXPORTS_RUNNING_AT_MOST: usize = 2;
/// What a poll's `Retry-After` suggests while a job runs, in seconds.
pub const BULK_EXPORT_POLL_SECONDS: u64 = 2;
/// Patients read (and audited) per step of a job; a step's lines are written before the next is read.
const PATIENTS_PER_STEP: i64 = 64;
/// Analysts' dates move by a whole number of days in ±this range (never 0), one offset per patient and
/// job: intervals within a patient's record are kept, calendar dates are not (HIPAA Safe Harbor's dates).
const DATE_SHIFT_DAYS_AT_MOST: i64 = 182;
/// A patient of this age or more has no birth year in a de-identified export (HIPAA Safe Harbor ages).
const DE_IDENTIFIED_AGE_LIMIT_YEARS: i64 = 90;
/// The name an unresolved (free-text) drug gets in a de-identified export: free text may identify.
const WITHHELD_FREE_TEXT: &str = "free text withheld";
/// The audit log's resource type in an admin's export (after every patient's types).
const AUDIT_EVENT_TYPE: &str = "AuditEvent";
/// Audit events read per step of a job.
const AUDIT_EVENTS_PER_STEP: i64 = 1_000;

/// What a kick-off asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkExportRequest {
    /// `_type`: the resource types wanted (`None`: all the export writes).
    pub resource_types: Option<Vec<String>>,
    /// The kick-off's full URL, repeated in the manifest.
    pub request_url: String,
}

/// One file of a finished job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkExportOutput {
    pub resource_type: String,
    /// `Observation.ndjson`.
    pub file_name: String,
    /// Resources (lines) in the file.
    pub count: u64,
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkExportStatus {
    InProgress {
        patients_done: u64,
        patients_total: u64,
    },
    Complete {
        /// When the export started: it holds what the database held then (and whatever was written after
        /// it to patients not yet read).
        transaction_time: Timestamp,
        request_url: String,
        /// Whether the files are de-identified (analysts).
        de_identified: bool,
        outputs: Vec<BulkExportOutput>,
        /// The files are deleted then, and the status URL answers 404.
        expires_at: Timestamp,
    },
    Failed {
        /// What went wrong, without patient data.
        message: String,
    },
}

/// A job's state while it exists.
#[derive(Debug)]
enum JobState {
    Running,
    Complete { outputs: Vec<BulkExportOutput>, completed_at: Timestamp },
    Failed { message: String, completed_at: Timestamp },
}

#[derive(Debug)]
struct BulkExportJob {
    id: String,
    owner_user_id: String,
    de_identified: bool,
    resource_types: Vec<String>,
    request_url: String,
    transaction_time: Timestamp,
    directory: PathBuf,
    cancelled: AtomicBool,
    patients_done: AtomicU64,
    patients_total: AtomicU64,
    state: Mutex<JobState>,
}

/// The server's export jobs and the folder their files go to (one sub-folder per job). The folder is this
/// process's own (`<parent>/ketacare-bulk-export-<random>`), deleted when the application is dropped;
/// when it is first created, the folders of earlier processes under `parent` unchanged for a day are deleted.
#[derive(Debug)]
pub(crate) struct BulkExports {
    directory: PathBuf,
    lifetime: Duration,
    jobs: Mutex<HashMap<String, Arc<BulkExportJob>>>,
}

impl BulkExports {
    /// Jobs whose files go under `parent` (created when the first job starts).
    pub(crate) fn new(parent: &Path, lifetime: Duration) -> BulkExports {
        BulkExports {
            directory: parent.join(format!("{BULK_EXPORT_FOLDER_PREFIX}{}", random_hex(8))),
            lifetime,
            jobs: Mutex::default(),
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<BulkExportJob>>> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes jobs finished more than the lifetime before `now`, returning their folders to delete.
    fn take_expired(&self, now: Timestamp) -> Vec<PathBuf> {
        let lifetime = jiff::SignedDuration::try_from(self.lifetime).unwrap_or(jiff::SignedDuration::MAX);
        let mut jobs = self.jobs();
        let expired: Vec<String> = jobs
            .iter()
            .filter(|(_, job)| match &*job.state() {
                JobState::Running => false,
                JobState::Complete { completed_at, .. } | JobState::Failed { completed_at, .. } => {
                    completed_at.saturating_add(lifetime).is_ok_and(|expires| expires <= now)
                }
            })
            .map(|(id, _)| id.clone())
            .collect();
        expired.iter().filter_map(|id| jobs.remove(id)).map(|job| job.directory.clone()).collect()
    }
}

/// The prefix of a process's export folder, by which leftovers of other processes are found.
const BULK_EXPORT_FOLDER_PREFIX: &str = "ketacare-bulk-export-";

impl Drop for BulkExports {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

impl BulkExportJob {
    fn state(&self) -> std::sync::MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Deletes folders (off the async workers).
async fn delete_folders(folders: Vec<PathBuf>) {
    if folders.is_empty() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || {
        for folder in folders {
            let _ = std::fs::remove_dir_all(folder);
        }
    })
    .await;
}

/// Deletes the export folders other processes left in `parent` (unchanged for a day more than a job's
/// lifetime: a running server's folder changes with each job), keeping `own`.
fn delete_leftover_folders(parent: &Path, own: &Path, lifetime: Duration) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    let stale_after = lifetime.saturating_add(Duration::from_secs(24 * 60 * 60));
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > stale_after));
        let leftover = path != own
            && stale
            && entry.file_name().to_str().is_some_and(|name| name.starts_with(BULK_EXPORT_FOLDER_PREFIX))
            && entry.file_type().is_ok_and(|kind| kind.is_dir());
        if leftover {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Creates a folder readable by this user only (it holds patient data).
fn create_private_folder(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

impl App {
    /// The same application writing export files under `parent` (default: the system's temporary folder)
    /// and keeping finished jobs for `lifetime`.
    pub fn with_bulk_export_settings(mut self, parent: &Path, lifetime: Duration) -> App {
        self.bulk_exports = Arc::new(BulkExports::new(parent, lifetime));
        self
    }

    /// Starts an export of every patient's record for `actor` (admins in full, analysts de-identified);
    /// returns the job's id. Audited as `fhir.bulk_export.start`.
    pub async fn start_bulk_export(&self, actor: &Actor, request: BulkExportRequest) -> Result<String, AppError> {
        let job_id = new_id();
        let event = self.audit_event(actor, "fhir.bulk_export.start", format!("fhir/r4/$export/{job_id}"), None);
        let job = match self.new_bulk_export_job(actor, &job_id, request).await {
            Ok(job) => job,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        self.store.append_audit(&event).await?;
        self.bulk_exports.jobs().insert(job_id.clone(), Arc::clone(&job));
        let app = self.clone();
        let actor = actor.clone();
        tokio::spawn(async move { app.run_bulk_export(actor, job).await });
        Ok(job_id)
    }

    async fn new_bulk_export_job(
        &self,
        actor: &Actor,
        job_id: &str,
        request: BulkExportRequest,
    ) -> Result<Arc<BulkExportJob>, AppError> {
        require(actor, Permission::ExportInBulk)?;
        // Admins get the audit log too; analysts, whose export is de-identified, never (it names accounts).
        let de_identified = de_identified_only(actor.role);
        let exportable: Vec<&str> =
            Resource::TYPES.iter().copied().chain((!de_identified).then_some(AUDIT_EVENT_TYPE)).collect();
        let resource_types = match request.resource_types {
            None => exportable.iter().map(|kind| (*kind).to_owned()).collect(),
            Some(kinds) => {
                if let Some(unknown) = kinds.iter().find(|kind| !exportable.contains(&kind.as_str())) {
                    let detail = if unknown == AUDIT_EVENT_TYPE {
                        "AuditEvent (the audit log) is exported to admins only".to_owned()
                    } else {
                        format!("{unknown:?} is not a type this server exports ({})", exportable.join(", "))
                    };
                    return Err(AppError::invalid("_type", detail));
                }
                kinds
            }
        };
        let now = self.now();
        let expired = self.bulk_exports.take_expired(now);
        delete_folders(expired).await;
        let running =
            self.bulk_exports.jobs().values().filter(|job| matches!(&*job.state(), JobState::Running)).count();
        if running >= BULK_EXPORTS_RUNNING_AT_MOST {
            return Err(AppError::TooManyJobs { retry_after_seconds: 30 });
        }
        let own = self.bulk_exports.directory.clone();
        let lifetime = self.bulk_exports.lifetime;
        let directory = own.join(job_id);
        let created = tokio::task::spawn_blocking(move || {
            if !own.exists()
                && let Some(parent) = own.parent()
            {
                delete_leftover_folders(parent, &own, lifetime);
            }
            create_private_folder(&directory).map(|()| directory)
        })
        .await
        .map_err(|error| AppError::Files(std::io::Error::other(error)))?;
        let directory = created.map_err(AppError::Files)?;
        Ok(Arc::new(BulkExportJob {
            id: job_id.to_owned(),
            owner_user_id: actor.user_id.clone(),
            de_identified,
            resource_types,
            request_url: request.request_url,
            transaction_time: now,
            directory,
            cancelled: AtomicBool::new(false),
            patients_done: AtomicU64::new(0),
            patients_total: AtomicU64::new(0),
            state: Mutex::new(JobState::Running),
        }))
    }

    /// Runs a job to its end: complete, failed, or cancelled (then its folder is deleted).
    async fn run_bulk_export(&self, actor: Actor, job: Arc<BulkExportJob>) {
        let result = self.write_bulk_export(&actor, &job).await;
        let completed_at = self.now();
        if job.cancelled.load(Ordering::SeqCst) {
            delete_folders(vec![job.directory.clone()]).await;
            return;
        }
        *job.state() = match result {
            Ok(outputs) => JobState::Complete { outputs, completed_at },
            Err(error) => {
                tracing::error!(error = %error, "a bulk export failed");
                JobState::Failed {
                    message: "the export failed; the server's log has the cause".to_owned(),
                    completed_at,
                }
            }
        };
    }

    /// Writes every patient's record into the job's files, a step of patients at a time.
    async fn write_bulk_export(&self, actor: &Actor, job: &BulkExportJob) -> Result<Vec<BulkExportOutput>, AppError> {
        let mut files = BulkExportFiles::new(job.directory.clone(), job.resource_types.clone());
        let mut after: Option<String> = None;
        loop {
            if job.cancelled.load(Ordering::SeqCst) {
                return Ok(Vec::new());
            }
            let search = ketacare_store::PatientSearch {
                query: None,
                listing: ketacare_store::PatientListing::ByName,
                include_entered_in_error: true,
                limit: PATIENTS_PER_STEP,
                offset: 0,
            };
            let page = self.store.search_patients_after(&search, after.as_deref()).await?;
            job.patients_total.store(u64::try_from(page.total).unwrap_or(0), Ordering::Relaxed);
            let Some(last) = page.patients.last().map(|patient| patient.patient_id.clone()) else { break };
            let mut lines: Vec<(String, String)> = Vec::new();
            for patient in page.patients {
                let event = self.audit_event(
                    actor,
                    "patient.read",
                    format!("patient/{}/fhir/$export/{}", patient.patient_id, job.id),
                    Some(&patient.patient_id),
                );
                let mut record = self.fhir_record(&patient).await?;
                if job.de_identified {
                    de_identify_record(&mut record, &patient.pseudonym, self.today());
                }
                let bundle = ketacare_fhir::patient_everything_bundle(&record, "bulk", None);
                let shift_days = job.de_identified.then(random_date_shift_days);
                for entry in bundle.entry {
                    let kind = entry.resource.resource_type();
                    if !job.resource_types.iter().any(|wanted| wanted == kind) {
                        continue;
                    }
                    let mut value =
                        serde_json::to_value(&entry.resource).map_err(|error| AppError::Files(error.into()))?;
                    if let Some(days) = shift_days {
                        de_identify_resource(&mut value, days);
                    }
                    lines.push((kind.to_owned(), value.to_string()));
                }
                self.store.append_audit(&event).await?;
                job.patients_done.fetch_add(1, Ordering::Relaxed);
            }
            files = tokio::task::spawn_blocking(move || files.append(&lines).map(|()| files))
                .await
                .map_err(|error| AppError::Files(std::io::Error::other(error)))?
                .map_err(AppError::Files)?;
            if !page.more {
                break;
            }
            after = Some(last);
        }
        if job.resource_types.iter().any(|kind| kind == AUDIT_EVENT_TYPE) {
            files = self.write_audit_events(actor, job, files).await?;
        }
        tokio::task::spawn_blocking(move || files.finish())
            .await
            .map_err(|error| AppError::Files(std::io::Error::other(error)))?
            .map_err(AppError::Files)
    }

    /// Writes the audit log up to the job's kick-off as `AuditEvent`s, a page at a time; the read is
    /// audited as `audit.read` (after the pages are written, so it is not among them).
    async fn write_audit_events(
        &self,
        actor: &Actor,
        job: &BulkExportJob,
        mut files: BulkExportFiles,
    ) -> Result<BulkExportFiles, AppError> {
        let event = self.audit_event(actor, "audit.read", format!("fhir/r4/$export/{}/AuditEvent", job.id), None);
        let mut after_seq = 0;
        loop {
            if job.cancelled.load(Ordering::SeqCst) {
                return Ok(files);
            }
            let records = self.store.audit_events(after_seq, AUDIT_EVENTS_PER_STEP).await?;
            let Some(last) = records.last().map(|record| record.seq) else { break };
            let mut lines = Vec::with_capacity(records.len());
            let mut reached_kick_off = false;
            for record in &records {
                let occurred_at: Timestamp = record.occurred_at.parse().map_err(|error: jiff::Error| {
                    AppError::Files(std::io::Error::other(format!("audit event {}: {error}", record.seq)))
                })?;
                if occurred_at > job.transaction_time {
                    reached_kick_off = true;
                    break;
                }
                let facts = ketacare_fhir::audit_event::AuditEventFacts {
                    seq: record.seq,
                    occurred_at: record.occurred_at.clone(),
                    actor_id: record.actor_id.clone(),
                    actor_role: record.actor_role.clone(),
                    action: record.action.clone(),
                    resource: record.resource.clone(),
                    patient_id: record.patient_id.clone(),
                    patients_shown: record.patients_shown.clone(),
                    outcome: record.outcome.clone(),
                    hash_algorithm: record.hash_algorithm.as_str().to_owned(),
                    hash: record.hash.clone(),
                    prev_hash: record.prev_hash.clone(),
                };
                let resource = ketacare_fhir::audit_event::audit_event_resource(&facts);
                let line = serde_json::to_string(&resource).map_err(|error| AppError::Files(error.into()))?;
                lines.push((AUDIT_EVENT_TYPE.to_owned(), line));
            }
            files = tokio::task::spawn_blocking(move || files.append(&lines).map(|()| files))
                .await
                .map_err(|error| AppError::Files(std::io::Error::other(error)))?
                .map_err(AppError::Files)?;
            if reached_kick_off || records.len() < usize::try_from(AUDIT_EVENTS_PER_STEP).unwrap_or(usize::MAX) {
                break;
            }
            after_seq = last;
        }
        self.store.append_audit(&event).await?;
        Ok(files)
    }

    /// The job `job_id` if `actor` started it and it has not expired (another user's job is not found:
    /// its existence is not told).
    fn own_bulk_export(&self, actor: &Actor, job_id: &str) -> Result<Arc<BulkExportJob>, AppError> {
        let not_found = || AppError::NotFound { resource: "export job", id: job_id.to_owned() };
        let job = self.bulk_exports.jobs().get(job_id).cloned().ok_or_else(not_found)?;
        if job.owner_user_id != actor.user_id {
            return Err(not_found());
        }
        Ok(job)
    }

    /// Where the job stands, for its owner.
    pub async fn bulk_export_status(&self, actor: &Actor, job_id: &str) -> Result<BulkExportStatus, AppError> {
        if let Err(error) = require(actor, Permission::ExportInBulk) {
            let event = self.audit_event(actor, "fhir.bulk_export.status", format!("fhir/r4/$export/{job_id}"), None);
            return Err(self.audit_failure(event, error).await);
        }
        delete_folders(self.bulk_exports.take_expired(self.now())).await;
        let job = self.own_bulk_export(actor, job_id)?;
        let lifetime = jiff::SignedDuration::try_from(self.bulk_exports.lifetime).unwrap_or(jiff::SignedDuration::MAX);
        let status = match &*job.state() {
            JobState::Running => BulkExportStatus::InProgress {
                patients_done: job.patients_done.load(Ordering::Relaxed),
                patients_total: job.patients_total.load(Ordering::Relaxed),
            },
            JobState::Complete { outputs, completed_at } => BulkExportStatus::Complete {
                transaction_time: job.transaction_time,
                request_url: job.request_url.clone(),
                de_identified: job.de_identified,
                outputs: outputs.clone(),
                expires_at: completed_at.saturating_add(lifetime).unwrap_or(Timestamp::MAX),
            },
            JobState::Failed { message, .. } => BulkExportStatus::Failed { message: message.clone() },
        };
        Ok(status)
    }

    /// Cancels the job (running or finished) and deletes its files. Audited as `fhir.bulk_export.cancel`.
    pub async fn cancel_bulk_export(&self, actor: &Actor, job_id: &str) -> Result<(), AppError> {
        let event = self.audit_event(actor, "fhir.bulk_export.cancel", format!("fhir/r4/$export/{job_id}"), None);
        let job = match require(actor, Permission::ExportInBulk).and_then(|()| self.own_bulk_export(actor, job_id)) {
            Ok(job) => job,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        job.cancelled.store(true, Ordering::SeqCst);
        self.bulk_exports.jobs().remove(job_id);
        if !matches!(&*job.state(), JobState::Running) {
            delete_folders(vec![job.directory.clone()]).await;
        }
        self.store.append_audit(&event).await?;
        Ok(())
    }

    /// The path of one file of the owner's finished job, to send. Audited as `fhir.bulk_export.download`
    /// (the file holds many patients: the event names the job and the file, each patient's read was
    /// audited when the job ran).
    pub async fn bulk_export_file(&self, actor: &Actor, job_id: &str, file_name: &str) -> Result<PathBuf, AppError> {
        let event =
            self.audit_event(actor, "fhir.bulk_export.download", format!("fhir/r4/$export/{job_id}/{file_name}"), None);
        let path = require(actor, Permission::ExportInBulk).and_then(|()| {
            let job = self.own_bulk_export(actor, job_id)?;
            let state = job.state();
            let JobState::Complete { outputs, .. } = &*state else {
                return Err(AppError::NotFound { resource: "export file", id: file_name.to_owned() });
            };
            outputs
                .iter()
                .find(|output| output.file_name == file_name)
                .map(|output| job.directory.join(&output.file_name))
                .ok_or_else(|| AppError::NotFound { resource: "export file", id: file_name.to_owned() })
        });
        match path {
            Ok(path) => {
                self.store.append_audit(&event).await?;
                Ok(path)
            }
            Err(error) => Err(self.audit_failure(event, error).await),
        }
    }
}

/// The files of a running job, one per resource type, created as their first line comes.
struct BulkExportFiles {
    directory: PathBuf,
    resource_types: Vec<String>,
    writers: BTreeMap<String, BufWriter<File>>,
    counts: BTreeMap<String, u64>,
}

impl BulkExportFiles {
    fn new(directory: PathBuf, resource_types: Vec<String>) -> BulkExportFiles {
        BulkExportFiles { directory, resource_types, writers: BTreeMap::new(), counts: BTreeMap::new() }
    }

    fn append(&mut self, lines: &[(String, String)]) -> std::io::Result<()> {
        for (kind, line) in lines {
            let writer = match self.writers.get_mut(kind) {
                Some(writer) => writer,
                None => {
                    let file = File::create(self.directory.join(format!("{kind}.ndjson")))?;
                    self.writers.entry(kind.clone()).or_insert(BufWriter::with_capacity(1 << 16, file))
                }
            };
            writer.write_all(line.as_bytes())?;
            writer.write_all(b"\n")?;
            *self.counts.entry(kind.clone()).or_default() += 1;
        }
        Ok(())
    }

    /// Flushes every file; the outputs in the order of [`Resource::TYPES`] (types with no resource have
    /// no file, as the IG allows).
    fn finish(self) -> std::io::Result<Vec<BulkExportOutput>> {
        for (_, mut writer) in self.writers {
            writer.flush()?;
            writer.get_ref().sync_all()?;
        }
        Ok(self
            .resource_types
            .iter()
            .filter_map(|kind| {
                let count = *self.counts.get(kind)?;
                Some(BulkExportOutput { resource_type: kind.clone(), file_name: format!("{kind}.ndjson"), count })
            })
            .collect())
    }
}

/// A random whole number of days in ±[`DATE_SHIFT_DAYS_AT_MOST`], never 0.
fn random_date_shift_days() -> i64 {
    let random = u64::from_str_radix(&random_hex(8), 16).unwrap_or(1);
    let span = u64::try_from(DATE_SHIFT_DAYS_AT_MOST).unwrap_or(1);
    let magnitude = i64::try_from(random % span).unwrap_or(0) + 1;
    if random & (1 << 63) == 0 { magnitude } else { -magnitude }
}

/// The record without what identifies the patient: the pseudonym as id (so references follow), no MRN
/// and no names (nor consent signers), the birth year only (none from age 90), no stop reasons, free-text
/// drug names withheld.
fn de_identify_record(record: &mut PatientRecord, pseudonym: &str, today: Date) {
    record.patient.id = pseudonym.to_owned();
    record.patient.mrn = None;
    record.patient.given_name.clear();
    record.patient.family_name.clear();
    let birth_year: Option<i64> = record.patient.birth_date.get(..4).and_then(|year| year.parse().ok());
    record.patient.birth_date = match birth_year {
        Some(year) if i64::from(today.year()) - year < DE_IDENTIFIED_AGE_LIMIT_YEARS => format!("{year:04}"),
        _ => String::new(),
    };
    for trial in &mut record.trials {
        trial.stop_reason = None;
        if resolve_drug_name(&trial.drug).is_none() {
            WITHHELD_FREE_TEXT.clone_into(&mut trial.drug);
        }
    }
    for consent in &mut record.consents {
        consent.signer_name.clear();
    }
    if let Some(trd) = &mut record.trd {
        for trial in &mut trd.trials {
            if resolve_drug_name(&trial.drug).is_none() {
                WITHHELD_FREE_TEXT.clone_into(&mut trial.drug);
            }
        }
    }
}

/// The resource as an analyst gets it: no names or identifiers, an empty birth date left out, and every
/// date and dateTime moved by `shift_days` (the birth year excepted).
fn de_identify_resource(resource: &mut Value, shift_days: i64) {
    if let Some(object) = resource.as_object_mut()
        && object.get("resourceType").and_then(Value::as_str) == Some("Patient")
    {
        object.remove("name");
        object.remove("identifier");
        if object.get("birthDate").and_then(Value::as_str).is_some_and(str::is_empty) {
            object.remove("birthDate");
        }
    }
    shift_dates(resource, shift_days);
}

/// Moves every `YYYY-MM-DD` date and the date of every `YYYY-MM-DDThh:mm…` dateTime by `shift_days`,
/// except `birthDate` (already a year) and `meta`.
fn shift_dates(value: &mut Value, shift_days: i64) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key != "birthDate" && key != "meta" {
                    shift_dates(child, shift_days);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| shift_dates(item, shift_days)),
        Value::String(text) => {
            if let Some(shifted) = shifted_date_text(text, shift_days) {
                *text = shifted;
            }
        }
        _ => {}
    }
}

fn shifted_date_text(text: &str, shift_days: i64) -> Option<String> {
    let (day, rest) = match text.len() {
        10 => (text, ""),
        length if length > 10 && text.as_bytes()[10] == b'T' => text.split_at(10),
        _ => return None,
    };
    let bytes = day.as_bytes();
    let shaped = bytes[4] == b'-' && bytes[7] == b'-' && day.bytes().filter(u8::is_ascii_digit).count() == 8;
    if !shaped {
        return None;
    }
    let date: Date = day.parse().ok()?;
    let moved = date.checked_add(shift_days.days()).ok()?;
    Some(format!("{moved}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_date_times_move_by_whole_days_and_nothing_else_does() {
        let mut resource = serde_json::json!({
            "resourceType": "Observation",
            "effectiveDateTime": "2026-03-01T09:30:00-05:00",
            "issued": "2026-12-31",
            "meta": { "lastUpdated": "2026-03-01T00:00:00Z" },
            "valueString": "2026",
            "code": { "text": "2026-03-01 was the day" },
            "component": [{ "valueDateTime": "2024-02-28" }]
        });
        shift_dates(&mut resource, 2);
        assert_eq!(resource["effectiveDateTime"], "2026-03-03T09:30:00-05:00");
        assert_eq!(resource["issued"], "2027-01-02");
        assert_eq!(resource["meta"]["lastUpdated"], "2026-03-01T00:00:00Z");
        assert_eq!(resource["valueString"], "2026");
        assert_eq!(resource["code"]["text"], "2026-03-01 was the day");
        assert_eq!(resource["component"][0]["valueDateTime"], "2024-03-01");
    }

    #[test]
    fn the_shift_is_never_zero_and_within_its_range() {
        for _ in 0..2000 {
            let days = random_date_shift_days();
            assert!(days != 0 && days.abs() <= DATE_SHIFT_DAYS_AT_MOST, "{days}");
        }
    }
}
