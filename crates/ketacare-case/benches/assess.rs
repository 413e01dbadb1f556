//! Benchmark of one assessment: parse the case JSON, assess it, render the report JSON.
//! Reported against a reference measured in the same process on the same bytes: a serde_json
//! round trip (parse to a `Value`, write it back), the least any JSON-in/JSON-out tool must do.
//! Run with `cargo bench -p ketacare-case --bench assess`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use jiff::civil::date;
use ketacare_case::{parse_case_json, report_json};
use ketacare_core::assess::assess_case;
use ketacare_core::protocol::Protocol;

fn vignette_cases() -> Vec<String> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vignettes");
    let mut paths: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".case.json"))
        .collect();
    paths.sort();
    paths.iter().map(|path| std::fs::read_to_string(path).unwrap()).collect()
}

/// Median time per case of `work` over `rounds` rounds of every case.
fn median_per_case(cases: &[String], rounds: usize, mut work: impl FnMut(&str)) -> Duration {
    let mut per_round = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..50 {
            for case in cases {
                work(case);
            }
        }
        per_round.push(start.elapsed() / (50 * cases.len() as u32));
    }
    per_round.sort();
    per_round[rounds / 2]
}

fn main() {
    let cases = vignette_cases();
    let protocol = Protocol::shipped();
    let today = date(2026, 11, 28);
    let parsed: Vec<_> = cases.iter().map(|case| parse_case_json(case, today).unwrap()).collect();
    let rounds = 31;

    // Warm up caches and the allocator.
    median_per_case(&cases, 3, |case| {
        black_box(report_json(&assess_case(&parse_case_json(case, today).unwrap(), &protocol)).to_string());
    });

    let reference = median_per_case(&cases, rounds, |case| {
        let value: serde_json::Value = serde_json::from_str(case).unwrap();
        black_box(value.to_string());
    });
    let full = median_per_case(&cases, rounds, |case| {
        let report = assess_case(&parse_case_json(case, today).unwrap(), &protocol);
        let mut buffer = Vec::with_capacity(4096);
        ketacare_case::write_report_json(&report, &mut buffer).unwrap();
        black_box(buffer);
    });
    let parse_only = median_per_case(&cases, rounds, |case| {
        black_box(parse_case_json(case, today).unwrap());
    });
    let reports: Vec<_> = parsed.iter().map(|case| assess_case(case, &protocol)).collect();
    let mut report_index = 0;
    let render_only = median_per_case(&cases, rounds, |_| {
        report_index = (report_index + 1) % reports.len();
        let mut buffer = Vec::with_capacity(4096);
        ketacare_case::write_report_json(&reports[report_index], &mut buffer).unwrap();
        black_box(buffer);
    });
    let mut index = 0;
    let mut core_only = || {
        index = (index + 1) % parsed.len();
        black_box(assess_case(&parsed[index], &protocol));
    };
    let start = Instant::now();
    let core_iterations = 200_000u32;
    for _ in 0..core_iterations {
        core_only();
    }
    let core = start.elapsed() / core_iterations;

    println!("assess benchmark over the {} vignette cases (median of {rounds} rounds, one thread)", cases.len());
    println!("  reference: serde_json round trip of the case   {:>8.2} µs/case", reference.as_secs_f64() * 1e6);
    println!("  core only: assess_case on a parsed case          {:>8.2} µs/case", core.as_secs_f64() * 1e6);
    println!("  parse:     case JSON to core facts               {:>8.2} µs/case", parse_only.as_secs_f64() * 1e6);
    println!("  render:    report to JSON text                   {:>8.2} µs/case", render_only.as_secs_f64() * 1e6);
    println!(
        "  full:      parse + assess + render JSON          {:>8.2} µs/case = {:.0} cases/s per core",
        full.as_secs_f64() * 1e6,
        1.0 / full.as_secs_f64()
    );
    println!("  ratio full / reference: {:.2}", full.as_secs_f64() / reference.as_secs_f64());
    println!(
        "  target (PRODUCT.md): one case under 50 µs -> {}",
        if full < Duration::from_micros(50) { "met" } else { "NOT met" }
    );
}
