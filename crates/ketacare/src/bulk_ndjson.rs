//! Bulk FHIR NDJSON, both ways, one patient at a time: `ketacare export --ndjson DIR` writes one file per
//! resource type (`Patient.ndjson`, `Condition.ndjson`, …), patient after patient in the same order in
//! every file; `ketacare import --ndjson DIR` reads such files in step, gathering each patient's
//! resources from every file as it goes, and imports each patient as its own collection Bundle under
//! the bulk-export policy (what ketacare does not chart is left out and counted). Memory holds the
//! patients' ids and the patients in flight, never a whole file. A progress bar and a summary go to
//! standard error; nothing of a resource's content is printed, only files, lines, paths and codes.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ketacare_app::{Actor, App, FhirImportError, ImportIssue, ImportPolicy};
use serde_json::{Value, json};

/// How many patients are imported or exported at once (the store's writer batches their commits).
const PATIENTS_IN_FLIGHT: usize = 16;

/// Resource types import never charts: their files are counted, not parsed.
const NOT_CHARTED_TYPES: &[&str] = &[
    "Encounter",
    "Procedure",
    "Practitioner",
    "Organization",
    "Location",
    "Device",
    "DiagnosticReport",
    "Immunization",
    "AllergyIntolerance",
    "CarePlan",
    "Claim",
    "ExplanationOfBenefit",
];

fn progress_bar(total: Option<u64>, unit: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}}");
    bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

/// The resource type a bulk file holds, from its name (`Observation.000.ndjson` → `Observation`).
fn resource_type_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if !name.ends_with(".ndjson") && !name.ends_with(".ndjson.gz") {
        return None;
    }
    name.split('.').next().filter(|kind| !kind.is_empty()).map(str::to_owned)
}

/// A file's lines as text: a `.ndjson.gz` file is read through gzip (every member, as bulk exports
/// concatenate them), any other as it is.
fn open_ndjson(path: &Path) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let gzipped = path.extension().is_some_and(|extension| extension == "gz");
    Ok(if gzipped {
        Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, file))
    })
}

/// The NDJSON files of `directory` with their resource types, in name order.
fn ndjson_files(directory: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).with_context(|| format!("reading {}", directory.display()))? {
        let path = entry?.path();
        if let Some(kind) = resource_type_of(&path) {
            files.push((kind, path));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// One line of a file, read as strict JSON.
struct Line {
    number: usize,
    resource: Result<Value, String>,
}

/// A file read line by line, with one line of look-ahead.
struct FileCursor {
    name: String,
    lines: io::Lines<Box<dyn BufRead + Send>>,
    number: usize,
    peeked: Option<Line>,
}

impl FileCursor {
    fn open(path: &Path) -> anyhow::Result<FileCursor> {
        let name =
            path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned());
        Ok(FileCursor { name, lines: open_ndjson(path)?.lines(), number: 0, peeked: None })
    }

    fn peek(&mut self) -> anyhow::Result<Option<&Line>> {
        while self.peeked.is_none() {
            let Some(text) = self.lines.next() else { return Ok(None) };
            let text = text.with_context(|| format!("reading {}", self.name))?;
            self.number += 1;
            if text.trim().is_empty() {
                continue;
            }
            let resource = ketacare_case::read_json_document(text.as_bytes()).map_err(|error| error.to_string());
            self.peeked = Some(Line { number: self.number, resource });
        }
        Ok(self.peeked.as_ref())
    }

    fn take(&mut self) -> Option<Line> {
        self.peeked.take()
    }
}

/// The id of the Patient a resource is about (`subject.reference` `Patient/{id}`, or `patient`).
fn subject_id(resource: &Value) -> Option<&str> {
    let reference = resource["subject"]["reference"].as_str().or(resource["patient"]["reference"].as_str())?;
    reference.strip_prefix("Patient/").or_else(|| reference.rsplit_once("/Patient/").map(|(_, id)| id))
}

/// Where each entry of a patient's Bundle came from, to name it in a refusal.
struct EntrySources(Vec<(String, usize, String)>);

impl EntrySources {
    /// `Bundle.entry[3].resource.code` → `Condition.000.ndjson:17 Condition.code`.
    fn locate(&self, expression: &str) -> String {
        let Some(rest) = expression.strip_prefix("Bundle.entry[") else { return expression.to_owned() };
        let Some((index, rest)) = rest.split_once(']') else { return expression.to_owned() };
        let Some((file, line, kind)) = index.parse::<usize>().ok().and_then(|index| self.0.get(index)) else {
            return expression.to_owned();
        };
        let element = rest.strip_prefix(".resource").unwrap_or(rest);
        format!("{file}:{line} {kind}{element}")
    }
}

/// What the bulk import did, in all.
#[derive(Default)]
struct ImportTotals {
    patients_read: usize,
    patients_created: usize,
    patients_updated: usize,
    patients_unchanged: usize,
    patients_refused: usize,
    records_added: usize,
    records_unchanged: usize,
    left_out: BTreeMap<String, usize>,
    ignored_elements: BTreeMap<String, usize>,
    malformed_lines: Vec<(String, usize, String)>,
    /// Refusals printed (the first few in full), as lines.
    refusals: Vec<String>,
}

/// How many refused patients are described in full; the rest are counted.
const REFUSALS_SHOWN: usize = 20;

/// The summary of a bulk import.
pub struct NdjsonImportSummary {
    pub refused: usize,
}

/// Imports every patient of the NDJSON files in `directory` as `actor`.
pub async fn import_ndjson(app: &App, actor: &Actor, directory: &Path) -> anyhow::Result<NdjsonImportSummary> {
    let started = Instant::now();
    let files = ndjson_files(directory)?;
    let patient_files: Vec<&PathBuf> =
        files.iter().filter(|(kind, _)| kind == "Patient").map(|(_, path)| path).collect();
    anyhow::ensure!(!patient_files.is_empty(), "{} holds no Patient*.ndjson file", directory.display());
    let mut totals = ImportTotals::default();

    // Pass 1: the patients' ids in file order (how each resource finds its place).
    let mut order: HashMap<String, usize> = HashMap::new();
    for path in &patient_files {
        let mut cursor = FileCursor::open(path)?;
        while cursor.peek()?.is_some() {
            let line = cursor.take().expect("peeked");
            if let Ok(resource) = &line.resource
                && let Some(id) = resource["id"].as_str()
            {
                let next = order.len();
                order.entry(id.to_owned()).or_insert(next);
            }
        }
    }
    let bar = progress_bar(Some(order.len() as u64), "patients");

    // Files of resource types never charted are counted, not parsed.
    let mut cursors = Vec::new();
    for (kind, path) in files.iter().filter(|(kind, _)| kind != "Patient") {
        if NOT_CHARTED_TYPES.contains(&kind.as_str()) {
            let lines = open_ndjson(path)?
                .lines()
                .filter(|line| line.as_ref().is_ok_and(|text| !text.trim().is_empty()))
                .count();
            *totals.left_out.entry(format!("{kind}: not a resource type ketacare charts")).or_default() += lines;
            continue;
        }
        cursors.push(FileCursor::open(path)?);
    }

    // Pass 2: patient after patient, its resources gathered from every file in step.
    let mut in_flight = tokio::task::JoinSet::new();
    let mut position = 0;
    for path in &patient_files {
        let mut patients = FileCursor::open(path)?;
        while patients.peek()?.is_some() {
            let line = patients.take().expect("peeked");
            let file_name = patients.name.clone();
            let resource = match line.resource {
                Ok(resource) => resource,
                Err(problem) => {
                    totals.malformed_lines.push((file_name, line.number, problem));
                    continue;
                }
            };
            let Some(id) = resource["id"].as_str().map(str::to_owned) else {
                totals.malformed_lines.push((file_name, line.number, "a Patient without an id".to_owned()));
                continue;
            };
            if order.get(&id) != Some(&position) {
                // The same id given twice: only its first line is the patient.
                totals.malformed_lines.push((file_name, line.number, "a Patient id given twice".to_owned()));
                continue;
            }
            position += 1;
            let mut entries = vec![json!({ "resource": resource })];
            let mut sources = vec![(file_name, line.number, "Patient".to_owned())];
            for cursor in &mut cursors {
                loop {
                    let Some(peeked) = cursor.peek()? else { break };
                    let belongs = match &peeked.resource {
                        Err(_) => None,
                        Ok(resource) => Some(subject_id(resource).and_then(|subject| order.get(subject).copied())),
                    };
                    match belongs {
                        // A later patient's: the file waits for it.
                        Some(Some(index)) if index > position - 1 => break,
                        Some(Some(index)) if index == position - 1 => {
                            let line = cursor.take().expect("peeked");
                            let resource = line.resource.expect("parsed");
                            let kind = resource["resourceType"].as_str().unwrap_or("?").to_owned();
                            sources.push((cursor.name.clone(), line.number, kind));
                            entries.push(json!({ "resource": resource }));
                        }
                        Some(Some(_)) => {
                            cursor.take();
                            let what = format!(
                                "{}: not grouped with its patient (files must list patients in Patient's order)",
                                cursor.name
                            );
                            *totals.left_out.entry(what).or_default() += 1;
                        }
                        Some(None) => {
                            cursor.take();
                            *totals
                                .left_out
                                .entry(format!("{}: no Patient of the export", cursor.name))
                                .or_default() += 1;
                        }
                        None => {
                            let line = cursor.take().expect("peeked");
                            let problem = line.resource.err().unwrap_or_default();
                            totals.malformed_lines.push((cursor.name.clone(), line.number, problem));
                        }
                    }
                }
            }
            totals.patients_read += 1;
            let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": entries });
            let app = app.clone();
            let actor = actor.clone();
            in_flight.spawn(async move {
                let result = app.import_fhir_bundle_value(&actor, &bundle, ImportPolicy::BulkExport).await;
                (result, EntrySources(sources))
            });
            while in_flight.len() >= PATIENTS_IN_FLIGHT {
                let done = in_flight.join_next().await.expect("a task in flight").context("an import task failed")?;
                record_result(&mut totals, done)?;
                bar.inc(1);
            }
        }
    }
    while let Some(done) = in_flight.join_next().await {
        record_result(&mut totals, done.context("an import task failed")?)?;
        bar.inc(1);
    }
    // What is left in the files belongs to no patient read.
    for cursor in &mut cursors {
        while let Some(peeked) = cursor.peek()? {
            let orphan = peeked.resource.is_ok();
            let line = cursor.take().expect("peeked");
            if orphan {
                *totals.left_out.entry(format!("{}: no Patient of the export", cursor.name)).or_default() += 1;
            } else {
                totals.malformed_lines.push((
                    cursor.name.clone(),
                    line.number,
                    line.resource.err().unwrap_or_default(),
                ));
            }
        }
    }
    bar.finish_and_clear();
    print_import_summary(&totals, started.elapsed().as_secs_f64());
    Ok(NdjsonImportSummary { refused: totals.patients_refused })
}

fn record_result(
    totals: &mut ImportTotals,
    (result, sources): (Result<ketacare_app::FhirImportReport, FhirImportError>, EntrySources),
) -> anyhow::Result<()> {
    match result {
        Ok(report) => {
            for patient in &report.patients {
                if patient.created_patient {
                    totals.patients_created += 1;
                } else if patient.records_added > 0 {
                    totals.patients_updated += 1;
                } else {
                    totals.patients_unchanged += 1;
                }
                totals.records_added += patient.records_added;
                totals.records_unchanged += patient.records_unchanged;
            }
            for (kind, count) in report.left_out_by_kind {
                *totals.left_out.entry(kind).or_default() += count;
            }
            for (element, count) in report.ignored_elements {
                *totals.ignored_elements.entry(element).or_default() += count;
            }
        }
        Err(FhirImportError::Refused(issues)) => {
            totals.patients_refused += 1;
            if totals.refusals.len() < REFUSALS_SHOWN {
                let described: Vec<String> = issues
                    .iter()
                    .filter(|issue| issue.is_error())
                    .take(3)
                    .map(|issue| describe(issue, &sources))
                    .collect();
                totals.refusals.push(format!(
                    "{}: refused: {}",
                    sources.locate("Bundle.entry[0]"),
                    described.join("; ")
                ));
            }
        }
        Err(FhirImportError::App(error)) => return Err(anyhow::anyhow!("{error}")),
    }
    Ok(())
}

fn describe(issue: &ImportIssue, sources: &EntrySources) -> String {
    let at = issue.expression.as_deref().map_or_else(String::new, |expression| sources.locate(expression));
    format!("{} {at}: {}", issue.code.as_str(), issue.diagnostics)
}

fn print_import_summary(totals: &ImportTotals, seconds: f64) {
    let mut out = io::stderr().lock();
    for refusal in &totals.refusals {
        let _ = writeln!(out, "{refusal}");
    }
    if totals.patients_refused > totals.refusals.len() {
        let _ = writeln!(out, "… and {} more refused patients", totals.patients_refused - totals.refusals.len());
    }
    for (file, line, problem) in totals.malformed_lines.iter().take(REFUSALS_SHOWN) {
        let _ = writeln!(out, "skipped {file}:{line}: {problem}");
    }
    let _ = writeln!(
        out,
        "{} patients read in {seconds:.1} s ({:.0} patients/s): {} new, {} with new records, {} unchanged, {} refused; {} records added, {} already charted; {} malformed lines",
        totals.patients_read,
        totals.patients_read as f64 / seconds.max(1e-9),
        totals.patients_created,
        totals.patients_updated,
        totals.patients_unchanged,
        totals.patients_refused,
        totals.records_added,
        totals.records_unchanged,
        totals.malformed_lines.len()
    );
    for (kind, count) in &totals.left_out {
        let _ = writeln!(out, "left out {count}: {kind}");
    }
    for (element, count) in &totals.ignored_elements {
        let _ = writeln!(out, "ignored {count}: {element}");
    }
}

/// Exports every patient's record as NDJSON files in `directory`, one per resource type, patient after
/// patient, audited as the console's reads; returns how many patients.
pub async fn export_ndjson(app: &App, directory: &Path) -> anyhow::Result<usize> {
    let started = Instant::now();
    std::fs::create_dir_all(directory).with_context(|| format!("creating {}", directory.display()))?;
    let mut writers: BTreeMap<String, BufWriter<File>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let bar = progress_bar(None, "patients");
    let mut after: Option<String> = None;
    let mut patients = 0;
    loop {
        let page = app.patient_ids_for_export(after.as_deref(), 256).await?;
        let Some(last) = page.last().cloned() else { break };
        // A page at a time, PATIENTS_IN_FLIGHT at once, written in page order.
        for chunk in page.chunks(PATIENTS_IN_FLIGHT) {
            let mut tasks = tokio::task::JoinSet::new();
            for (index, patient_id) in chunk.iter().enumerate() {
                let app = app.clone();
                let patient_id = patient_id.clone();
                tasks.spawn(async move {
                    (index, app.fhir_patient_everything_at_console(&patient_id, "cli-export-ndjson").await)
                });
            }
            let mut bundles = Vec::with_capacity(chunk.len());
            while let Some(done) = tasks.join_next().await {
                let (index, bundle) = done.context("an export task failed")?;
                bundles.push((index, bundle?));
            }
            bundles.sort_by_key(|(index, _)| *index);
            for (_, bundle) in bundles {
                for entry in bundle.entry {
                    let kind = entry.resource.resource_type().to_owned();
                    let writer = match writers.get_mut(&kind) {
                        Some(writer) => writer,
                        None => {
                            let path = directory.join(format!("{kind}.ndjson"));
                            let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                            writers.entry(kind.clone()).or_insert(BufWriter::with_capacity(1 << 20, file))
                        }
                    };
                    serde_json::to_writer(&mut *writer, &entry.resource)?;
                    writer.write_all(b"\n")?;
                    *counts.entry(kind).or_default() += 1;
                }
                patients += 1;
                bar.inc(1);
            }
        }
        after = Some(last);
    }
    for (kind, mut writer) in writers {
        writer.flush().with_context(|| format!("writing {kind}.ndjson"))?;
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let files: Vec<String> = counts.iter().map(|(kind, count)| format!("{kind}.ndjson {count}")).collect();
    eprintln!(
        "{patients} patients exported in {seconds:.1} s ({:.0} patients/s) to {}: {}",
        patients as f64 / seconds.max(1e-9),
        directory.display(),
        files.join(", ")
    );
    Ok(patients)
}
