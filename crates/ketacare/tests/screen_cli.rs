//! End to end through the binary: `ketacare synth` then `ketacare screen`, in CSV and NDJSON, with
//! `--set`, `--threads`, `--quiet`, `--strict` and bad arguments.

use std::path::Path;
use std::process::{Command, Output};

fn ketacare(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ketacare")).args(arguments).output().expect("run ketacare")
}

fn path(path: &Path) -> &str {
    path.to_str().expect("utf-8 temporary path")
}

fn check_success(output: &Output) {
    assert!(output.status.success(), "status {:?}, stderr: {}", output.status, String::from_utf8_lossy(&output.stderr));
}

#[test]
fn synth_then_screen_writes_the_truth() {
    let folder = tempfile::tempdir().unwrap();
    let export = folder.path().join("export");
    let synth = ketacare(&[
        "synth",
        "--patients",
        "300",
        "--seed",
        "3",
        "--out",
        path(&export),
        "--gzip",
        "--unrelated-scale",
        "0.1",
    ]);
    check_success(&synth);
    assert!(export.join("Observation.000.ndjson.gz").exists());

    let csv = folder.path().join("rows.csv");
    let screen = ketacare(&["screen", path(&export), "--as-of", "2025-12-31", "--out", path(&csv), "--threads", "2"]);
    check_success(&screen);
    let summary = String::from_utf8_lossy(&screen.stderr);
    assert!(summary.contains("screened 300 patients"), "{summary}");
    assert!(summary.contains("MB/s") && summary.contains("patients/s"), "{summary}");

    let written = std::fs::read_to_string(&csv).unwrap();
    let mut lines = written.lines();
    assert_eq!(
        lines.next(),
        Some(
            "patient_id,status,trd_date,episode_start,courses,agents,classes,exclusions,latest_phq9,latest_phq9_date,preset"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    let truth = std::fs::read_to_string(export.join("truth.csv")).unwrap();
    let expected: Vec<Vec<&str>> = truth.lines().skip(1).map(|line| line.split(',').collect()).collect();
    assert_eq!(rows.len(), expected.len());
    for (row, truth_row) in rows.iter().zip(&expected) {
        assert_eq!(&row[..3], &truth_row[..3]);
        assert_eq!(row[10], "label");
    }
}

#[test]
fn ndjson_output_overrides_and_cardinal_evidence() {
    let folder = tempfile::tempdir().unwrap();
    let export = folder.path().join("export");
    check_success(&ketacare(&[
        "synth",
        "--patients",
        "200",
        "--seed",
        "4",
        "--out",
        path(&export),
        "--unrelated-scale",
        "0.1",
    ]));
    let out = folder.path().join("rows.ndjson");
    let screen = ketacare(&[
        "screen",
        path(&export),
        "--preset",
        "cardinal",
        "--set",
        "course_length_days=21",
        "--out",
        path(&out),
        "--as-of",
        "2025-12-31",
        "--quiet",
    ]);
    check_success(&screen);
    assert!(screen.stderr.is_empty(), "--quiet printed {}", String::from_utf8_lossy(&screen.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(rows.len(), 200);
    assert!(rows.iter().all(|row| row["preset"] == "cardinal;course_length_days=21"));
    let trd = rows.iter().find(|row| row["status"] == "trd").expect("a cardinal trd patient");
    for field in ["drug_a", "a1", "a2", "drug_b", "b2", "expect_response_by"] {
        assert!(trd[field].is_string(), "{field} missing in {trd}");
    }
    let ids: Vec<&str> = rows.iter().map(|row| row["patient_id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
}

#[test]
fn strict_exits_2_on_a_malformed_line_and_bad_arguments_fail() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("Patient.ndjson"), "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n{oops\n")
        .unwrap();
    let lenient = ketacare(&["screen", path(folder.path()), "--as-of", "2025-12-31"]);
    check_success(&lenient);
    let stderr = String::from_utf8_lossy(&lenient.stderr);
    assert!(stderr.contains("Patient.ndjson:2"), "{stderr}");
    assert!(stderr.contains("1 skipped as malformed"), "{stderr}");
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("a,insufficient_data"));

    let strict = ketacare(&["screen", path(folder.path()), "--strict", "--as-of", "2025-12-31"]);
    assert_eq!(strict.status.code(), Some(2));

    for bad in [
        vec!["screen", path(folder.path()), "--preset", "nonsense"],
        vec!["screen", path(folder.path()), "--set", "min_course_days=soon"],
        vec!["screen", path(folder.path()), "--as-of", "31/12/2025"],
    ] {
        let output = ketacare(&bad);
        assert_eq!(output.status.code(), Some(1), "{bad:?}");
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error:"), "{bad:?}");
    }
}

const BLOOD_PRESSURE: &str = r#"{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"subject":{"reference":"Patient/a"},"valueQuantity":{"value":120}}"#;

/// An export whose line 2 is a blood-pressure Observation (which the screen drops unparsed) cut
/// right after an inner object.
fn export_with_a_truncated_dropped_line(folder: &Path) {
    let cut = &BLOOD_PRESSURE[..BLOOD_PRESSURE.find("}]}").unwrap() + 1];
    let text = format!("{{\"resourceType\":\"Patient\",\"id\":\"a\"}}\n{cut}\n{BLOOD_PRESSURE}\n");
    std::fs::write(folder.join("Observation.ndjson"), text).unwrap();
}

#[test]
fn a_truncated_line_of_a_dropped_type_is_counted_and_fails_strict() {
    let folder = tempfile::tempdir().unwrap();
    export_with_a_truncated_dropped_line(folder.path());
    let lenient = ketacare(&["screen", path(folder.path()), "--as-of", "2025-12-31"]);
    check_success(&lenient);
    let stderr = String::from_utf8_lossy(&lenient.stderr);
    assert!(stderr.contains("Observation.ndjson:2: "), "{stderr}");
    assert!(stderr.contains("1 skipped as malformed"), "{stderr}");
    let strict = ketacare(&["screen", path(folder.path()), "--strict", "--as-of", "2025-12-31"]);
    assert_eq!(strict.status.code(), Some(2), "{}", String::from_utf8_lossy(&strict.stderr));
}

#[test]
fn a_folder_without_export_files_fails_with_status_2() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("notes.txt"), "not an export").unwrap();
    std::fs::write(folder.path().join("Patient.json"), "{}").unwrap();
    std::fs::create_dir(folder.path().join("empty")).unwrap();
    let output = ketacare(&["screen", path(folder.path()), "--as-of", "2025-12-31"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no *.ndjson or *.ndjson.gz file found under"), "{stderr}");
    assert!(output.stdout.is_empty(), "wrote {}", String::from_utf8_lossy(&output.stdout));
}

/// `--out` is opened before the export is read: a bad path fails at once (the export's malformed line
/// is never reported), with status 2 and the path named.
#[test]
fn a_bad_out_path_fails_before_the_export_is_read() {
    let folder = tempfile::tempdir().unwrap();
    let export = folder.path().join("export");
    std::fs::create_dir(&export).unwrap();
    export_with_a_truncated_dropped_line(&export);
    let missing_folder = folder.path().join("missing").join("rows.csv");
    let a_folder = folder.path().to_path_buf();
    let mut failures = Vec::new();
    for out in [&missing_folder, &a_folder] {
        let output = ketacare(&["screen", path(&export), "--as-of", "2025-12-31", "--out", path(out)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let named = stderr.contains(&format!("error: cannot write {}", out.display()));
        if output.status.code() != Some(2) || !named || stderr.contains("skipped") {
            failures.push(format!("--out {}: status {:?}, stderr {stderr}", out.display(), output.status.code()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A run that stops at a malformed line under --strict writes no output: a new `--out` file is not
/// left behind and an existing one keeps its content.
#[test]
fn strict_failure_leaves_the_out_file_as_it_was() {
    let folder = tempfile::tempdir().unwrap();
    let export = folder.path().join("export");
    std::fs::create_dir(&export).unwrap();
    export_with_a_truncated_dropped_line(&export);
    let new_file = folder.path().join("new.csv");
    let existing_file = folder.path().join("existing.csv");
    std::fs::write(&existing_file, "earlier rows\n").unwrap();
    for out in [&new_file, &existing_file] {
        let output = ketacare(&["screen", path(&export), "--as-of", "2025-12-31", "--strict", "--out", path(out)]);
        assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert!(!new_file.exists(), "{} left behind", new_file.display());
    assert_eq!(std::fs::read_to_string(&existing_file).unwrap(), "earlier rows\n");

    let lenient = ketacare(&["screen", path(&export), "--as-of", "2025-12-31", "--out", path(&existing_file)]);
    check_success(&lenient);
    let written = std::fs::read_to_string(&existing_file).unwrap();
    assert!(written.starts_with("patient_id,status,") && written.contains("\na,insufficient_data,"), "{written}");
}

/// `--out` may name a pipe or a terminal (`/dev/stdout`), which cannot be truncated.
#[test]
fn out_may_be_standard_output() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("Patient.ndjson"), "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n").unwrap();
    let output = ketacare(&["screen", path(folder.path()), "--as-of", "2025-12-31", "--quiet", "--out", "/dev/stdout"]);
    check_success(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("\na,insufficient_data,"));
}
