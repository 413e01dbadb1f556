//! `ketacare screen`: screens a FHIR bulk export for TRD (contracts/screen.md) and writes one
//! evidence row per patient, with a progress bar and an end summary on standard error.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ketacare_screen::dates::{DayNumber, parse_date_prefix};
use ketacare_screen::reader::{ReadMode, ReadOptions, export_files, read_export};
use ketacare_screen::{OutputFormat, Preset, ScreenParameters, Status, screen_export, write_rows};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder holding the export's `*.ndjson` / `*.ndjson.gz` files (searched recursively).
    export_dir: PathBuf,
    /// TRD definition: label, optum, fabbri, cardinal or ohdsi.
    #[arg(long, default_value = "label")]
    preset: String,
    /// Override a preset parameter, e.g. `--set min_course_days=56` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Output file; `.ndjson` writes NDJSON, anything else CSV. Standard output (CSV) when absent.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Screening date (YYYY-MM-DD): facts dated later are ignored. Default: today (UTC).
    #[arg(long)]
    as_of: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar and no summary.
    #[arg(long)]
    quiet: bool,
    /// Exit with status 2 at the first malformed line.
    #[arg(long)]
    strict: bool,
    /// Benchmark ceiling: only parse every line as JSON, write nothing.
    #[arg(long, hide = true)]
    parse_only: bool,
}

fn today() -> DayNumber {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    (seconds / 86_400) as DayNumber
}

pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let preset: Preset = args.preset.parse()?;
    let mut parameters = ScreenParameters::for_preset(preset);
    for assignment in std::mem::take(&mut args.set) {
        parameters.set(&assignment)?;
    }
    let as_of = match &args.as_of {
        Some(text) if text.len() == 10 => {
            parse_date_prefix(text).with_context(|| format!("--as-of expects YYYY-MM-DD, got {text:?}"))?
        }
        Some(text) => bail!("--as-of expects YYYY-MM-DD, got {text:?}"),
        None => today(),
    };
    if !args.export_dir.is_dir() {
        bail!("{} is not a folder", args.export_dir.display());
    }
    let files = export_files(&args.export_dir)?;
    if files.is_empty() {
        eprintln!("error: no *.ndjson or *.ndjson.gz file found under {}", args.export_dir.display());
        return Ok(ExitCode::from(2));
    }
    // A bad output path fails now, not after reading the whole export.
    let mut output = match &args.out {
        Some(path) if !args.parse_only => match OutputFile::open(path) {
            Ok(output) => Some(output),
            Err(error) => {
                eprintln!("error: cannot write {}: {error}", path.display());
                return Ok(ExitCode::from(2));
            }
        },
        _ => None,
    };
    let threads = args.threads.unwrap_or(0);
    let pool = rayon_pool(threads)?;

    let total_bytes: u64 =
        files.iter().map(|path| std::fs::metadata(path).map(|metadata| metadata.len()).unwrap_or(0)).sum();
    let show_progress = !args.quiet && io::stderr().is_terminal();
    let bar = if show_progress {
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let consumed = AtomicU64::new(0);
    let progress = |bytes: u64| {
        let total = consumed.fetch_add(bytes, Ordering::Relaxed) + bytes;
        bar.set_position(total);
    };
    let started = Instant::now();

    if args.parse_only {
        let facts = pool.install(|| {
            read_export(
                &args.export_dir,
                ReadOptions { strict: args.strict, mode: ReadMode::ParseOnly, ..ReadOptions::screen(as_of) },
                &progress,
            )
        })?;
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "parse-only: {} lines, {} malformed, {:.1} MB NDJSON in {:.3} s: {:.1} MB/s",
            facts.lines,
            facts.malformed_lines.len(),
            facts.ndjson_bytes as f64 / 1e6,
            seconds,
            facts.ndjson_bytes as f64 / 1e6 / seconds
        );
        return Ok(ExitCode::SUCCESS);
    }

    let report = pool.install(|| {
        screen_export(
            &args.export_dir,
            &parameters,
            ReadOptions { strict: args.strict, ..ReadOptions::screen(as_of) },
            &progress,
        )
    })?;
    bar.finish_and_clear();
    let facts = &report.facts_summary;
    // Malformed lines: file and line number, never the line's content (it may hold patient data).
    for malformed in &facts.malformed_lines {
        eprintln!("skipped {}:{}: {}", malformed.file.display(), malformed.line_number, malformed.reason);
    }
    if args.strict && !facts.malformed_lines.is_empty() {
        eprintln!("error: malformed line with --strict; no output written");
        return Ok(ExitCode::from(2));
    }

    let format = match &args.out {
        Some(path) if path.extension().is_some_and(|extension| extension == "ndjson") => OutputFormat::Ndjson,
        _ => OutputFormat::Csv,
    };
    let preset_column = parameters.preset_column();
    match &mut output {
        Some(output) => {
            let path = output.path.clone();
            let writing = || format!("writing {}", path.display());
            let mut writer = BufWriter::new(output.for_writing().with_context(writing)?);
            write_rows(&report.rows, &preset_column, format, &mut writer).with_context(writing)?;
            writer.flush().with_context(writing)?;
        }
        None => {
            let stdout = io::stdout();
            let mut writer = BufWriter::new(stdout.lock());
            write_rows(&report.rows, &preset_column, format, &mut writer)?;
            writer.flush()?;
        }
    }

    if !args.quiet {
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        let counts: Vec<String> =
            Status::ALL.iter().map(|status| format!("{} {}", status.code(), report.count(*status))).collect();
        eprintln!(
            "screened {} patients ({}) with preset {}; {} lines in {} files, {} skipped as malformed",
            report.rows.len(),
            counts.join(", "),
            preset_column,
            facts.lines,
            facts.files,
            facts.malformed_lines.len()
        );
        eprintln!(
            "{:.1} MB read ({:.1} MB NDJSON) in {:.2} s: {:.1} MB/s, {:.0} patients/s",
            facts.file_bytes as f64 / 1e6,
            facts.ndjson_bytes as f64 / 1e6,
            seconds,
            facts.ndjson_bytes as f64 / 1e6 / seconds,
            report.rows.len() as f64 / seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--out` file, opened for writing before the export is read, so that a bad path fails at once.
/// An existing file keeps its content until the rows are written; a file this run created is removed
/// again if the run ends without writing rows (a malformed line under `--strict`, a read error).
#[derive(Debug)]
struct OutputFile {
    path: PathBuf,
    file: Option<File>,
    created: bool,
}

impl OutputFile {
    fn open(path: &Path) -> io::Result<OutputFile> {
        let existed = path.exists();
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
        Ok(OutputFile { path: path.to_path_buf(), file: Some(file), created: !existed })
    }

    /// The file, emptied (when it is a regular file, not `/dev/stdout` or a pipe), to write the rows into.
    fn for_writing(&mut self) -> io::Result<File> {
        let file = self.file.take().ok_or_else(|| io::Error::other("output already written"))?;
        if file.metadata()?.is_file() {
            file.set_len(0)?;
        }
        Ok(file)
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some(file) = self.file.take()
            && self.created
        {
            drop(file);
            // Best effort: an empty file left behind would be harmless.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn rayon_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("starting the worker threads")
}
