//! `ketacare import BUNDLE.json` through the real binary: the demo's patients (seeded by `ketacare demo`,
//! sessions included), exported with `ketacare export --fhir-bundle` and imported together as one
//! collection Bundle into a fresh database (SQLite, and PostgreSQL when configured), export again as the
//! same resources; a second import changes nothing and says so; a refused bundle exits 2 naming the
//! element and writes nothing. A bulk export no one here wrote (`tests/fixtures/carebundle-mixed-24`,
//! from PyPI's carebundle) imports with the EHR's MRN system named (`--mrn-system`), charting what
//! ketacare charts of it and counting the rest; without it every patient is refused, naming why.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};

use ketacare_store::test_support::each_backend;
use ketacare_store::{PatientListing, PatientSearch, Store};
use serde_json::{Value, json};

#[path = "../../ketacare-fhir/tests/support/round_trip.rs"]
mod round_trip;

fn ketacare(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(arguments)
        .env_remove("KETACARE_DATABASE_URL")
        .env_remove("KETACARE_BIND")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Seeds `url` with `ketacare demo` (stopped once it serves) and returns the patient ids.
async fn seed_demo(url: &str) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ketacare"))
        .args(["demo", "--database", url, "--bind", "127.0.0.1:0", "--time-zone", "America/New_York"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("ketacare is serving on") {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "demo exited early: {printed}");
        printed.push_str(&line);
    }
    // Seeding is committed before it serves: stopping it at once loses nothing.
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    let store = Store::open(url).await.unwrap();
    let search = PatientSearch { listing: PatientListing::ByName, limit: 200, ..PatientSearch::default() };
    let patients = store.search_patients(&search).await.unwrap().patients;
    store.close().await;
    patients.into_iter().map(|patient| patient.patient_id).collect()
}

fn export(patient_id: &str, url: &str) -> Value {
    let output = ketacare(&["export", "--fhir-bundle", patient_id, "--database", url]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `Patient/ID (Bundle.entry[K])` lines of the import's text output, as (K, ID).
fn imported_patients(printed: &str) -> Vec<(usize, String)> {
    printed
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Patient/")?;
            let (id, rest) = rest.split_once(" (Bundle.entry[")?;
            let (entry, _) = rest.split_once(']')?;
            Some((entry.parse().ok()?, id.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn the_demo_round_trips_through_export_and_import_into_a_fresh_database() {
    let directory = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", directory.path().join("demo.db").display());
    let patient_ids = seed_demo(&source).await;
    assert_eq!(patient_ids.len(), 13);
    let exported: Vec<Value> = patient_ids.iter().map(|id| export(id, &source)).collect();
    // One collection Bundle of every demo patient.
    let mut entries = Vec::new();
    let mut patient_entries = Vec::new();
    for bundle in &exported {
        for entry in bundle["entry"].as_array().unwrap() {
            if entry["resource"]["resourceType"] == "Patient" {
                patient_entries.push(entries.len());
            }
            entries.push(json!({ "resource": entry["resource"] }));
        }
    }
    let collection = json!({ "resourceType": "Bundle", "type": "collection", "entry": entries });
    let bundle_path = directory.path().join("demo-bundle.json");
    std::fs::write(&bundle_path, collection.to_string()).unwrap();
    let bundle_path = bundle_path.to_str().unwrap().to_owned();

    each_backend(move |target| {
        let bundle_path = bundle_path.clone();
        let exported = exported.clone();
        let patient_entries = patient_entries.clone();
        async move {
            // The records are an account's: a nurse of the clinic.
            let added = Command::new(env!("CARGO_BIN_EXE_ketacare"))
                .args(["user", "add", "nurse.ines", "--role", "nurse", "--database", &target.url])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let added = added.wait_with_output().unwrap();
            assert!(added.status.success(), "{}", text(&added.stderr));
            let refused = ketacare(&["import", &bundle_path, "--as", "nobody", "--database", &target.url]);
            assert_eq!(refused.status.code(), Some(1), "an unknown account imports nothing");
            let output = ketacare(&["import", &bundle_path, "--as", "nurse.ines", "--database", &target.url]);
            let printed = text(&output.stdout);
            assert_eq!(output.status.code(), Some(0), "{printed}{}", text(&output.stderr));
            let imported = imported_patients(&printed);
            assert_eq!(imported.len(), 13, "{printed}");
            assert!(printed.contains("TRD label definition"), "{printed}");
            // Session records are read and left out, each with a warning.
            assert!(printed.contains("not imported: recorded in a treatment session"), "{printed}");
            let entries_read: Vec<usize> = imported.iter().map(|(entry, _)| *entry).collect();
            assert_eq!(entries_read, patient_entries, "one result per Patient, in bundle order");
            for ((entry, target_id), source_bundle) in imported.iter().zip(&exported) {
                let again = export(target_id, &target.url);
                let (lost, gained) = round_trip::differences(source_bundle, &again);
                assert!(lost.is_empty() && gained.is_empty(), "entry {entry}: lost {lost:#?}\ngained {gained:#?}");
            }
            // A second import changes nothing, and says so.
            let output = ketacare(&["import", &bundle_path, "--as", "nurse.ines", "--database", &target.url]);
            let printed = text(&output.stdout);
            assert_eq!(output.status.code(), Some(0), "{printed}");
            assert!(printed.contains("nothing changed"), "{printed}");
            assert_eq!(imported_patients(&printed), imported, "the same patients");
            // The JSON form is the OperationOutcome of POST /fhir/r4.
            let output = ketacare(&[
                "import",
                &bundle_path,
                "--as",
                "nurse.ines",
                "--database",
                &target.url,
                "--format",
                "json",
            ]);
            let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(outcome["resourceType"], "OperationOutcome");
            // A refused bundle: exit 2, the element named, nothing written.
            let mut broken = exported[0].clone();
            broken["entry"][0]["resource"]["identifier"][0]["value"] = json!("MRN-NEW");
            broken["entry"][1]["resource"]["subject"]["reference"] = json!("Patient/nobody");
            let broken_path = format!("{bundle_path}.broken.json");
            std::fs::write(&broken_path, broken.to_string()).unwrap();
            let output = ketacare(&["import", &broken_path, "--as", "nurse.ines", "--database", &target.url]);
            assert_eq!(output.status.code(), Some(2));
            let complaint = text(&output.stderr);
            assert!(complaint.contains("Bundle.entry[1].resource.subject.reference"), "{complaint}");
            let store = Store::open(&target.url).await.unwrap();
            let search = PatientSearch { listing: PatientListing::ByName, limit: 200, ..PatientSearch::default() };
            assert_eq!(store.search_patients(&search).await.unwrap().total, 13, "nothing written");
            store.close().await;
            let verify = ketacare(&["audit", "verify", "--database", &target.url]);
            assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
        }
    })
    .await;
}

/// Every resource of a bulk NDJSON export, as one Bundle (for the round trip's comparison).
fn ndjson_as_bundle(directory: &std::path::Path) -> Value {
    let mut entries = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(directory).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            entries.push(json!({ "resource": serde_json::from_str::<Value>(line).unwrap() }));
        }
    }
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

#[tokio::test]
async fn the_demo_round_trips_through_bulk_ndjson() {
    let directory = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", directory.path().join("demo.db").display());
    seed_demo(&source).await;
    let exported = directory.path().join("exported");
    let output = ketacare(&["export", "--ndjson", exported.to_str().unwrap(), "--database", &source]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("13 patients exported"), "{}", text(&output.stderr));
    let patients = std::fs::read_to_string(exported.join("Patient.ndjson")).unwrap();
    assert_eq!(patients.lines().count(), 13);
    let exported_path = exported.to_str().unwrap().to_owned();
    let before = ndjson_as_bundle(&exported);

    each_backend(move |target| {
        let exported_path = exported_path.clone();
        let before = before.clone();
        async move {
            let added = Command::new(env!("CARGO_BIN_EXE_ketacare"))
                .args(["user", "add", "nurse.ines", "--role", "nurse", "--database", &target.url])
                .output()
                .unwrap();
            assert!(added.status.success(), "{}", text(&added.stderr));
            let output =
                ketacare(&["import", "--ndjson", &exported_path, "--as", "nurse.ines", "--database", &target.url]);
            let summary = text(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{summary}");
            assert!(summary.contains("13 patients read") && summary.contains("13 new"), "{summary}");
            assert!(summary.contains("left out") && summary.contains("treatment session"), "{summary}");
            let again_dir = tempfile::tempdir().unwrap();
            let output =
                ketacare(&["export", "--ndjson", again_dir.path().to_str().unwrap(), "--database", &target.url]);
            assert!(output.status.success(), "{}", text(&output.stderr));
            let (lost, gained) = round_trip::differences(&before, &ndjson_as_bundle(again_dir.path()));
            assert!(lost.is_empty() && gained.is_empty(), "lost {lost:#?}\ngained {gained:#?}");
            // Imported again: every patient found, nothing added.
            let output =
                ketacare(&["import", "--ndjson", &exported_path, "--as", "nurse.ines", "--database", &target.url]);
            let summary = text(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{summary}");
            assert!(summary.contains("13 unchanged") && summary.contains("0 records added"), "{summary}");
        }
    })
    .await;
}

/// carebundle's issuing organisation's MRN system (its Patients' identifiers carry no type).
const CAREBUNDLE_MRN_SYSTEM: &str = "urn:uuid:6f2a1d3e-9c47-5b8a-a1f0-2d4e6c8b0a17";

#[tokio::test]
async fn an_ehr_shaped_bulk_export_imports_with_its_mrn_system_named() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/carebundle-mixed-24");
    each_backend(move |target| async move {
        let added = ketacare(&["user", "add", "nurse.ines", "--role", "nurse", "--database", &target.url]);
        assert!(added.status.success(), "{}", text(&added.stderr));
        // Without the EHR's MRN system, no Patient has an MRN ketacare can find again: each is refused,
        // naming the element, and nothing is written.
        let output = ketacare(&["import", "--ndjson", fixture, "--as", "nurse.ines", "--database", &target.url]);
        let summary = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{summary}");
        assert!(summary.contains("24 refused") && summary.contains("Patient.identifier"), "{summary}");
        assert!(summary.contains("--mrn-system"), "the refusal says how to name the MRN system: {summary}");

        let import = |database: &str| {
            ketacare(&[
                "import",
                "--ndjson",
                fixture,
                "--as",
                "nurse.ines",
                "--mrn-system",
                CAREBUNDLE_MRN_SYSTEM,
                "--database",
                database,
            ])
        };
        let output = import(&target.url);
        let summary = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{summary}");
        // Each patient's day of weight and height (one record) and its blood pressure panel.
        assert!(summary.contains("24 new") && summary.contains("48 records added"), "{summary}");
        assert!(summary.contains("0 refused") && summary.contains("0 malformed lines"), "{summary}");
        // Its sertraline prescription is read as a course, and left out: the export holds no depressive
        // episode it could be a trial of. Hypertension drugs are no antidepressants: left out, counted.
        assert!(summary.contains("left out 1: drug course: begun before every depressive episode"), "{summary}");
        assert!(summary.contains("MedicationRequest.medicationCodeableConcept.coding.code: code-invalid"), "{summary}");
        // What was charted leaves again as ketacare's own resources, valid for a re-import.
        let exported = tempfile::tempdir().unwrap();
        let output = ketacare(&["export", "--ndjson", exported.path().to_str().unwrap(), "--database", &target.url]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let observations = std::fs::read_to_string(exported.path().join("Observation.ndjson")).unwrap();
        for (loinc, what) in [("85354-9", "blood pressure"), ("29463-7", "body weight"), ("8302-2", "body height")] {
            let count = observations.lines().filter(|line| line.contains(&format!("\"code\":\"{loinc}\""))).count();
            assert_eq!(count, 24, "one {what} per patient: {observations}");
        }
        // Imported again: every patient found by its MRN, nothing added.
        let output = import(&target.url);
        let summary = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{summary}");
        assert!(summary.contains("24 unchanged") && summary.contains("0 records added"), "{summary}");
    })
    .await;
}

/// The import summary without its timing (`… read in 0.1 s (168 patients/s): …`) and the files' `.gz`,
/// its lines sorted (patients are imported 16 at once, so refusals come in any order).
fn summary_without_timing(summary: &str) -> String {
    let mut lines: Vec<String> = summary
        .lines()
        .map(|line| match (line.find(" read in "), line.find("):")) {
            (Some(start), Some(end)) if start < end => format!("{}{}", &line[..start], &line[end + 1..]),
            _ => line.to_owned(),
        })
        .map(|line| line.replace(".ndjson.gz", ".ndjson"))
        .collect();
    lines.sort();
    lines.join("\n")
}

#[test]
fn a_gzipped_bulk_export_imports_as_the_same_files_uncompressed() {
    let directory = tempfile::tempdir().unwrap();
    let mut summaries = Vec::new();
    for gzip in [false, true] {
        let name = if gzip { "gzipped" } else { "plain" };
        let export = directory.path().join(name);
        let mut arguments = vec!["synth", "--patients", "60", "--seed", "3", "--out", export.to_str().unwrap()];
        if gzip {
            arguments.push("--gzip");
        }
        let output = ketacare(&arguments);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let names: Vec<String> = std::fs::read_dir(&export)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.iter().any(|name| name.ends_with(".ndjson.gz")), gzip, "{names:?}");
        let database = format!("sqlite://{}", directory.path().join(format!("{name}.db")).display());
        let added = ketacare(&["user", "add", "nurse.ines", "--role", "nurse", "--database", &database]);
        assert!(added.status.success(), "{}", text(&added.stderr));
        let output =
            ketacare(&["import", "--ndjson", export.to_str().unwrap(), "--as", "nurse.ines", "--database", &database]);
        let summary = text(&output.stderr);
        assert!(summary.contains("60 patients read"), "{summary}");
        summaries.push(summary_without_timing(&summary));
    }
    assert!(summaries[0].contains("records added"), "{}", summaries[0]);
    assert_eq!(summaries[0], summaries[1], "the gzipped export reads as the plain one");
}
