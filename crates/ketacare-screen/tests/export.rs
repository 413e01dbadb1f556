//! Whole-export behaviour: agreement with the generator's truth.csv, determinism of `synth`, gzip and
//! chunked reading giving the same rows, and malformed lines reported with file and line.

mod common;

use std::path::Path;

use common::summary;
use ketacare_screen::dates::{days_from_civil, format_date};
use ketacare_screen::reader::{ReadMode, ReadOptions, read_export};
use ketacare_screen::synth::{SynthOptions, read_truth, write_synthetic_export};
use ketacare_screen::{ScreenParameters, ScreenRow, Status, screen_export};

fn as_of() -> i32 {
    days_from_civil(2025, 12, 31)
}

fn small_export(folder: &Path, patients: usize, seed: u64, gzip: bool) {
    let options =
        SynthOptions { gzip, unrelated_scale: 0.05, patients_per_file: 700, ..SynthOptions::new(patients, seed) };
    write_synthetic_export(folder, &options).expect("synth");
}

fn screen(folder: &Path, preset: &str, options: ReadOptions) -> Vec<ScreenRow> {
    let parameters = ScreenParameters::for_preset(preset.parse().unwrap());
    screen_export(folder, &parameters, options, &|_| {}).expect("screen").rows
}

#[test]
fn screen_agrees_with_truth_for_every_synthetic_patient() {
    let folder = tempfile::tempdir().unwrap();
    small_export(folder.path(), 2000, 20_260_101, false);
    let truth = read_truth(&folder.path().join("truth.csv")).unwrap();
    let rows = screen(folder.path(), "label", ReadOptions::screen(as_of()));
    assert_eq!(rows.len(), truth.len());
    let mut disagreements = Vec::new();
    for (row, (patient_id, status, trd_date)) in rows.iter().zip(&truth) {
        let got = (
            row.patient_id.as_str(),
            row.result.status.code(),
            row.result.trd_date.map(format_date).unwrap_or_default(),
        );
        if got != (patient_id.as_str(), status.as_str(), trd_date.clone()) {
            disagreements.push(format!("{got:?} expected {status} {trd_date}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements, first: {:?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(5)]
    );
    // The export exercises every status.
    for status in Status::ALL {
        assert!(rows.iter().any(|row| row.result.status == status), "no {} patient", status.code());
    }
}

#[test]
fn synth_is_byte_identical_for_a_seed() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let other_seed = tempfile::tempdir().unwrap();
    small_export(first.path(), 150, 9, false);
    small_export(second.path(), 150, 9, false);
    small_export(other_seed.path(), 150, 10, false);
    let files = |folder: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(folder).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        names.sort();
        names.into_iter().map(|name| (name.clone(), std::fs::read(folder.join(name)).unwrap())).collect::<Vec<_>>()
    };
    assert_eq!(files(first.path()), files(second.path()));
    assert_ne!(files(first.path()), files(other_seed.path()));
}

#[test]
fn gzip_and_chunked_reading_give_the_same_rows() {
    let plain = tempfile::tempdir().unwrap();
    let gzipped = tempfile::tempdir().unwrap();
    small_export(plain.path(), 400, 5, false);
    small_export(gzipped.path(), 400, 5, true);
    let whole = screen(plain.path(), "label", ReadOptions::screen(as_of()));
    let chunked = screen(plain.path(), "label", ReadOptions { chunk_bytes: 10_000, ..ReadOptions::screen(as_of()) });
    let from_gzip = screen(gzipped.path(), "label", ReadOptions::screen(as_of()));
    assert_eq!(whole, chunked);
    assert_eq!(whole, from_gzip);
    // Small gzip blocks: lines cross block ends, and lines longer than a block grow it.
    for block_bytes in [10_000, 300] {
        let options = ReadOptions { chunk_bytes: block_bytes, ..ReadOptions::screen(as_of()) };
        assert_eq!(whole, screen(gzipped.path(), "label", options), "gzip block {block_bytes}");
    }
    let cardinal_whole = screen(plain.path(), "cardinal", ReadOptions::screen(as_of()));
    let cardinal_chunked =
        screen(plain.path(), "cardinal", ReadOptions { chunk_bytes: 7_777, ..ReadOptions::screen(as_of()) });
    assert_eq!(cardinal_whole, cardinal_chunked);
}

fn write_with_malformed_lines(folder: &Path) {
    let mut lines = vec![common::patient("p", "1980-01-01")];
    lines.extend(common::monthly_course("p", "sertraline", 0, 3, Some(50.0)));
    lines.insert(2, r#"{"resourceType":"MedicationDispense","status":"#.to_string()); // line 3
    lines.push(String::new()); // a blank line is not malformed
    lines.push("not json at all".to_string()); // line 7
    common::write_export(folder, &lines);
}

#[test]
fn malformed_lines_are_reported_with_file_and_line_and_skipped() {
    let folder = tempfile::tempdir().unwrap();
    write_with_malformed_lines(folder.path());
    for chunk_bytes in [1_000_000, 100, 7] {
        let options = ReadOptions { chunk_bytes, ..ReadOptions::screen(as_of()) };
        let facts = read_export(folder.path(), options, &|_| {}).unwrap();
        let reported: Vec<(String, u64)> = facts
            .malformed_lines
            .iter()
            .map(|line| (line.file.file_name().unwrap().to_string_lossy().into_owned(), line.line_number))
            .collect();
        assert_eq!(
            reported,
            [("export.ndjson".to_string(), 3), ("export.ndjson".to_string(), 7)],
            "chunk {chunk_bytes}"
        );
        assert!(!facts.stopped_early);
    }
    let rows = screen(folder.path(), "label", ReadOptions::screen(as_of()));
    assert_eq!(rows.iter().map(summary).collect::<Vec<_>>(), ["p not_trd courses=0"]);
}

/// Lines the screen drops without parsing them (types it does not read, Observations that are not
/// PHQ-9 totals) are still counted as malformed when truncated or glued together.
#[test]
fn damaged_lines_of_dropped_resources_are_counted_as_malformed() {
    let blood_pressure = r#"{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"subject":{"reference":"Patient/p"},"valueQuantity":{"value":120,"unit":"mm[Hg]"}}"#;
    let encounter = r#"{"resourceType":"Encounter","status":"finished","subject":{"reference":"Patient/p"},"period":{"start":"2020-01-01"}}"#;
    let cut_after = |line: &str, marker: &str| line[..line.find(marker).unwrap() + 1].to_string();
    let damaged = [
        ("Observation cut", blood_pressure[..blood_pressure.len() - 9].to_string()),
        ("Observation cut after an inner brace", cut_after(blood_pressure, "}]}")),
        ("Observation cut before its last brace", blood_pressure[..blood_pressure.len() - 1].to_string()),
        ("Encounter cut after an inner brace", cut_after(encounter, r#"},"period""#)),
        ("Encounter glued to an Observation", format!("{encounter}{blood_pressure}")),
        ("Observation glued to a PHQ-9 total", format!("{blood_pressure}{}", common::phq9("p", 10, 12))),
    ];
    let mut failures = Vec::new();
    for (name, line) in &damaged {
        let folder = tempfile::tempdir().unwrap();
        let lines =
            [common::patient("p", "1980-01-01"), line.clone(), blood_pressure.to_string(), encounter.to_string()];
        common::write_export(folder.path(), &lines);
        for chunk_bytes in [1_000_000, 64] {
            let options = ReadOptions { chunk_bytes, ..ReadOptions::screen(as_of()) };
            let facts = read_export(folder.path(), options, &|_| {}).unwrap();
            let reported: Vec<u64> = facts.malformed_lines.iter().map(|line| line.line_number).collect();
            if reported != [2] {
                failures.push(format!("{name}, chunk {chunk_bytes}: malformed lines {reported:?}, expected [2]"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn malformed_lines_in_gzip_files_are_located_too() {
    use std::io::Write;
    let plain = tempfile::tempdir().unwrap();
    write_with_malformed_lines(plain.path());
    let gzipped = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(gzipped.path().join("export.ndjson.gz")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    encoder.write_all(&std::fs::read(plain.path().join("export.ndjson")).unwrap()).unwrap();
    encoder.finish().unwrap();
    for block_bytes in [1_000_000, 100, 7] {
        let options = ReadOptions { chunk_bytes: block_bytes, ..ReadOptions::screen(as_of()) };
        let facts = read_export(gzipped.path(), options, &|_| {}).unwrap();
        let lines: Vec<u64> = facts.malformed_lines.iter().map(|line| line.line_number).collect();
        assert_eq!(lines, [3, 7], "gzip block {block_bytes}");
    }
}

#[test]
fn strict_stops_at_the_first_malformed_line() {
    let folder = tempfile::tempdir().unwrap();
    write_with_malformed_lines(folder.path());
    let options = ReadOptions { strict: true, ..ReadOptions::screen(as_of()) };
    let facts = read_export(folder.path(), options, &|_| {}).unwrap();
    assert!(facts.stopped_early);
    assert_eq!(facts.malformed_lines.first().map(|line| line.line_number), Some(3));
}

#[test]
fn parse_only_reads_every_line() {
    let folder = tempfile::tempdir().unwrap();
    write_with_malformed_lines(folder.path());
    let options = ReadOptions { mode: ReadMode::ParseOnly, ..ReadOptions::screen(as_of()) };
    let facts = read_export(folder.path(), options, &|_| {}).unwrap();
    assert_eq!((facts.lines, facts.malformed_lines.len(), facts.patients.len()), (6, 2, 0));
}
