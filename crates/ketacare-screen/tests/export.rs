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

/// The malformed lines' numbers as `read_export` reports them, and the read amplification.
fn read_with_chunks(folder: &Path, chunk_bytes: u64, mode: ReadMode) -> (Vec<u64>, f64, ketacare_screen::ExportFacts) {
    let options = ReadOptions { chunk_bytes, mode, ..ReadOptions::screen(as_of()) };
    let facts = read_export(folder, options, &|_| {}).unwrap();
    let numbers = facts.malformed_lines.iter().map(|line| line.line_number).collect();
    let amplification = facts.stored_bytes_read as f64 / facts.file_bytes as f64;
    (numbers, amplification, facts)
}

/// A line much longer than a chunk is read by the chunk where it starts and scanned once by each chunk
/// it spans, not read again to its end by every one of them (which made a 1 GiB line take 22 s).
#[test]
fn a_line_longer_than_many_chunks_is_not_read_again_by_each() {
    let folder = tempfile::tempdir().unwrap();
    let long_note = "n".repeat(300_000);
    let lines = [
        common::patient("p", "1980-01-01"),
        format!(r#"{{"resourceType":"Encounter","subject":{{"reference":"Patient/p"}},"note":"{long_note}"}}"#),
        common::phq9("p", 10, 17),
        "{oops".to_string(),                                            // line 4
        format!(r#"{{"resourceType":"Encounter","note":"{long_note}"#), // line 5, truncated
        common::phq9("p", 20, 11),
    ];
    common::write_export(folder.path(), &lines);
    let mut failures = Vec::new();
    for chunk_bytes in [1_000, 4_096, 70_000, 1_000_000] {
        for mode in [ReadMode::Screen, ReadMode::ParseOnly] {
            let (numbers, amplification, facts) = read_with_chunks(folder.path(), chunk_bytes, mode);
            if numbers != [4, 5] || facts.lines != 6 {
                failures.push(format!("chunk {chunk_bytes} {mode:?}: malformed {numbers:?}, {} lines", facts.lines));
            }
            if amplification > 2.5 {
                failures.push(format!("chunk {chunk_bytes} {mode:?}: read {amplification:.1} times the file"));
            }
            let latest_phq9 = facts.patients.get("p").and_then(|record| record.latest_phq9);
            if mode == ReadMode::Screen && latest_phq9.map(|(date, _)| format_date(date)) != Some(common::at(20)) {
                failures.push(format!("chunk {chunk_bytes}: the PHQ-9 total after the long lines was not read"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Numbering malformed lines spread over many chunks uses the line counts of the parallel pass: each
/// file is read about once, not again from its start for every chunk holding a malformed line.
#[test]
fn numbering_many_malformed_lines_does_not_reread_the_file() {
    let folder = tempfile::tempdir().unwrap();
    let mut lines = vec![common::patient("p", "1980-01-01")];
    let mut expected = Vec::new();
    for index in 0..3_000 {
        if index % 7 == 3 {
            lines.push(r#"{"resourceType":"Encounter","subject":{"reference":"Patient/p"}"#.to_string());
            expected.push(lines.len() as u64);
        } else if index % 11 == 5 {
            lines.push(String::new()); // blank lines count in the numbering
        } else {
            lines.push(common::phq9("p", index % 400, 9));
        }
    }
    common::write_export(folder.path(), &lines);
    let mut failures = Vec::new();
    for chunk_bytes in [300, 1_000, 64_000, 16 << 20] {
        for mode in [ReadMode::Screen, ReadMode::ParseOnly] {
            let (numbers, amplification, _) = read_with_chunks(folder.path(), chunk_bytes, mode);
            if numbers != expected {
                let wrong = numbers.iter().zip(&expected).find(|(got, expected)| got != expected);
                failures.push(format!(
                    "chunk {chunk_bytes} {mode:?}: {} numbers for {} malformed lines, first wrong {wrong:?}",
                    numbers.len(),
                    expected.len()
                ));
            }
            if amplification > 2.5 {
                failures.push(format!("chunk {chunk_bytes} {mode:?}: read {amplification:.1} times the file"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// With --strict the read stops early, so some chunks are never counted: the numbers must still be right.
#[test]
fn strict_numbers_the_malformed_lines_it_finds_correctly() {
    let folder = tempfile::tempdir().unwrap();
    let mut lines = vec![common::patient("p", "1980-01-01")];
    let mut malformed_numbers = Vec::new();
    for index in 0..2_000 {
        if index % 400 == 399 {
            lines.push("{oops".to_string());
            malformed_numbers.push(lines.len() as u64);
        } else {
            lines.push(common::phq9("p", index % 400, 9));
        }
    }
    common::write_export(folder.path(), &lines);
    let mut failures = Vec::new();
    for chunk_bytes in [500, 5_000, 50_000] {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let options = ReadOptions { strict: true, chunk_bytes, ..ReadOptions::screen(as_of()) };
            let facts = pool.install(|| read_export(folder.path(), options, &|_| {})).unwrap();
            let numbers: Vec<u64> = facts.malformed_lines.iter().map(|line| line.line_number).collect();
            if numbers.is_empty() || !numbers.iter().all(|number| malformed_numbers.contains(number)) {
                failures.push(format!(
                    "chunk {chunk_bytes}, {threads} threads: {numbers:?} not among {malformed_numbers:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A UTF-8 byte-order mark at the start of a file is ignored (RFC 8259 §8.1), plain or gzip, whatever
/// the chunk size; anywhere else it is not JSON.
#[test]
fn a_byte_order_mark_at_the_start_of_a_file_is_ignored() {
    use std::io::Write;
    const BYTE_ORDER_MARK: &str = "\u{feff}";
    let lines = [common::patient("p", "1980-01-01"), common::phq9("p", 10, 17)];
    let cases = [
        ("at the start", format!("{BYTE_ORDER_MARK}{}\n{}\n", lines[0], lines[1]), vec![]),
        ("at the start of line 2", format!("{}\n{BYTE_ORDER_MARK}{}\n", lines[0], lines[1]), vec![2]),
        ("alone", BYTE_ORDER_MARK.to_string(), vec![]),
    ];
    let mut failures = Vec::new();
    for (name, text, expected_malformed) in &cases {
        for gzip in [false, true] {
            let folder = tempfile::tempdir().unwrap();
            if gzip {
                let file = std::fs::File::create(folder.path().join("export.ndjson.gz")).unwrap();
                let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
                encoder.write_all(text.as_bytes()).unwrap();
                encoder.finish().unwrap();
            } else {
                std::fs::write(folder.path().join("export.ndjson"), text).unwrap();
            }
            for chunk_bytes in [1, 2, 3, 4, 50, 1_000_000] {
                let (numbers, _, facts) = read_with_chunks(folder.path(), chunk_bytes, ReadMode::Screen);
                let patient_read = facts.patients.get("p").is_some_and(|record| record.has_patient_resource);
                if &numbers != expected_malformed || patient_read != (*name != "alone") {
                    failures.push(format!(
                        "{name}, gzip {gzip}, chunk {chunk_bytes}: malformed {numbers:?}, patient read {patient_read}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
