//! `ketacare assess CASE.json|- [--protocol FILE] [--format json|text]`, and a batch mode
//! (`--batch FILE.ndjson|-`: one case per line in, one report per line out) for high-volume use.

use std::io::{BufRead, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use jiff::ZonedDateTime;
use ketacare_case::{assess_batch, parse_case_bytes, report_text, write_report_json_pretty};
use ketacare_core::assess::assess_case;

use crate::protocol_file::load_protocol;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Text,
}

#[derive(Debug, Args)]
pub struct AssessArgs {
    /// The case file (JSON), or `-` for standard input.
    #[arg(required_unless_present = "batch")]
    case: Option<PathBuf>,
    /// Site protocol TOML (default: the shipped protocol).
    #[arg(long)]
    protocol: Option<PathBuf>,
    /// Output format: `json` for programs, `text` for people.
    #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
    format: OutputFormat,
    /// Assess many cases: an NDJSON file (or `-`) with one case per line; writes one JSON report per
    /// line, or `{"line": N, "error": "…"}` for a malformed case. Exit 2 if any case was malformed.
    #[arg(long, conflicts_with = "case")]
    batch: Option<PathBuf>,
}

/// Exit status for a malformed case (contracts/assess.md).
const EXIT_MALFORMED_CASE: u8 = 2;

pub fn run(args: AssessArgs) -> anyhow::Result<ExitCode> {
    let protocol = load_protocol(args.protocol.as_deref())?;
    let today = ZonedDateTime::now().date();
    if let Some(batch) = &args.batch {
        return run_batch(batch, &protocol, today);
    }
    let path = args.case.expect("clap requires a case without --batch");
    let bytes = read_input(&path)?;
    let case = match parse_case_bytes(&bytes, today) {
        Ok(case) => case,
        Err(error) => {
            eprintln!("error: malformed case: {error}");
            return Ok(ExitCode::from(EXIT_MALFORMED_CASE));
        }
    };
    let report = assess_case(&case, &protocol);
    let mut stdout = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            write_report_json_pretty(&report, &mut stdout)?;
            writeln!(stdout)?;
        }
        OutputFormat::Text => write!(stdout, "{}", report_text(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The case's bytes as they are: whether they are UTF-8 JSON is the case reader's question (exit 2).
fn read_input(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("reading the case from standard input")?;
        Ok(bytes)
    } else {
        std::fs::read(path).with_context(|| format!("reading case {}", path.display()))
    }
}

fn run_batch(
    path: &PathBuf,
    protocol: &ketacare_core::protocol::Protocol,
    today: jiff::civil::Date,
) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("opening batch {}", path.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, file))
    };
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let summary = assess_batch(reader, protocol, today, &mut out)?;
    out.flush()?;
    if summary.malformed > 0 {
        eprintln!("error: {} malformed case(s); see the `error` lines of the output", summary.malformed);
        return Ok(ExitCode::from(EXIT_MALFORMED_CASE));
    }
    Ok(ExitCode::SUCCESS)
}
