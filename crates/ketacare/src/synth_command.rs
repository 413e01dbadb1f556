//! `ketacare synth`: writes a seeded, realistic synthetic FHIR bulk export and its `truth.csv`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use ketacare_screen::synth::{SynthOptions, write_synthetic_export};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of patients.
    #[arg(long)]
    patients: usize,
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Write `*.ndjson.gz` instead of `*.ndjson`.
    #[arg(long)]
    gzip: bool,
    /// Scale of unrelated resources (Observations, Encounters, Procedures); 1.0 is realistic.
    #[arg(long, default_value_t = 1.0, hide = true)]
    unrelated_scale: f64,
    /// Patients per file part.
    #[arg(long, default_value_t = 5000, hide = true)]
    patients_per_file: usize,
}

/// Where the export goes (kept apart so `run` can own its arguments).
struct SynthTarget {
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let Args { patients, seed, out, gzip, unrelated_scale, patients_per_file } = args;
    let options = SynthOptions { patients, seed, gzip, unrelated_scale, patients_per_file };
    let args = SynthTarget { out };
    let summary = write_synthetic_export(&args.out, &options)
        .with_context(|| format!("writing the synthetic export to {}", args.out.display()))?;
    eprintln!(
        "wrote {} patients, {} resources in {} files to {} in {:.1} s",
        summary.patients,
        summary.resources,
        summary.files,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
