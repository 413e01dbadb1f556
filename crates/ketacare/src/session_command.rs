//! `ketacare session check SESSION.json [--format json|text]`: the pre-dose gate, the alert sequence,
//! discharge readiness and REMS form completeness of one session. The session file format and the JSON
//! output are ketacare-case's (`session_format`, shared with the HTTP API); this file owns the text output.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;
use ketacare_case::session_format::{
    SessionInput, SessionReport, check_session, local, parse_session_json, session_report_json,
};
use ketacare_core::session::discharge::CriterionStatus;
use ketacare_core::session::gate::GateStatus;
use ketacare_core::session::rems::{RemsForm, RemsFormOutcome};

/// Exit status for a session file that cannot be used (the status clap uses for bad arguments).
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(subcommand)]
    pub action: SessionAction,
}

#[derive(Debug, Subcommand)]
pub enum SessionAction {
    /// Check a session file: gate, alerts, discharge readiness and the REMS form
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The session file (JSON; see docs/sessions.md)
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// A site protocol file (default: the protocol shipped with this build).
    #[arg(long, value_name = "FILE")]
    pub protocol: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

pub fn run(args: SessionArgs) -> anyhow::Result<ExitCode> {
    let SessionAction::Check(args) = args.action;
    let protocol = crate::protocol_file::load_protocol(args.protocol.as_deref())?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let input = match parse_session_json(&bytes) {
        Ok(input) => input,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let now = input.now.unwrap_or_else(Timestamp::now);
    let report = check_session(&input, &protocol, now);
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&session_report_json(&input, &report, &protocol, now))?)
        }
        OutputFormat::Text => print!("{}", render_text(&input, &report, now)),
    }
    Ok(ExitCode::SUCCESS)
}

fn hhmm(input: &SessionInput, instant: Timestamp) -> String {
    instant.to_zoned_datetime(input.session.time_zone().clone()).strftime("%H:%M").to_string()
}

fn render_text(input: &SessionInput, report: &SessionReport, now: Timestamp) -> String {
    let mut text = String::new();
    let zone_name = input.session.time_zone().iana_name().unwrap_or("clinic time");
    text.push_str(&format!(
        "{} session, checked at {} ({zone_name})\n\n",
        input.session.modality().as_str(),
        local(input, now)
    ));
    text.push_str(&format!("Pre-dose gate: {}\n", report.gate.outcome().as_str()));
    for item in &report.gate.items {
        let status = match &item.status {
            GateStatus::Pass => "pass".to_owned(),
            GateStatus::Hold { overridable: true } => "hold (prescriber may override)".to_owned(),
            GateStatus::Hold { overridable: false } => "hold".to_owned(),
            GateStatus::Indeterminate { missing } => format!("missing {}", missing.join(", ")),
        };
        text.push_str(&format!("  {:<20} {status}: {}\n", item.item.as_str(), item.reason));
    }
    let change_count: usize = report.alerts.iter().map(|step| step.changes.len()).sum();
    let active = report.alerts.last().map(|step| step.active.as_slice()).unwrap_or_default();
    text.push_str(&format!("\nAlerts: {change_count} changes, {} active\n", active.len()));
    for step in &report.alerts {
        for change in &step.changes {
            let alert = &change.alert;
            text.push_str(&format!(
                "  {} {:<12} {} {}: {}",
                hhmm(input, step.at),
                change.kind.as_str(),
                alert.id,
                alert.level.as_str(),
                alert.summary
            ));
            if change.kind != ketacare_core::session::alerts::AlertChangeKind::Resolved {
                text.push_str(&format!(" -> {}", alert.recommended_action));
            }
            text.push('\n');
        }
    }
    for alert in active {
        text.push_str(&format!(
            "  ACTIVE {} {}: {} ({})\n",
            alert.id,
            alert.level.as_str(),
            alert.summary,
            alert.detail
        ));
    }
    let discharge = &report.discharge;
    text.push_str(&format!("\nDischarge: {}", discharge.status.as_str()));
    if let Some(earliest) = discharge.earliest_at {
        text.push_str(&format!(", earliest {}", hhmm(input, earliest)));
    }
    if let Some(ready) = discharge.clinically_ready_at {
        text.push_str(&format!(", clinically ready since {}", hhmm(input, ready)));
    }
    text.push('\n');
    for criterion in &discharge.criteria {
        let status = match &criterion.status {
            CriterionStatus::Indeterminate { missing } => format!("missing {}", missing.join(", ")),
            other => other.as_str().to_owned(),
        };
        text.push_str(&format!("  {:<32} {status}: {}\n", criterion.id.as_str(), criterion.reason));
    }
    match &report.rems {
        RemsFormOutcome::NotRequired { reason } => text.push_str(&format!("\nREMS form: not required ({reason})\n")),
        RemsFormOutcome::Required(form) => text.push_str(&rems_text(form)),
    }
    text
}

fn rems_text(form: &RemsForm) -> String {
    let mut text = format!(
        "\nREMS Patient Monitoring Form ({} edition): {}, submit by {} ({})\n",
        form.edition.as_str(),
        if form.is_complete() { "complete" } else { "incomplete" },
        form.submit_by.map(|date| date.to_string()).unwrap_or_else(|| "unknown".to_owned()),
        form.submission.as_str()
    );
    if !form.missing.is_empty() {
        text.push_str(&format!("  missing: {}\n", form.missing.join(", ")));
    }
    for problem in &form.problems {
        text.push_str(&format!("  problem: {problem}\n"));
    }
    for name in [
        "session.duration_min",
        "session.ready_to_leave_min",
        "bp.before_administration",
        "bp.post_administration_40_min",
        "bp.before_completion",
    ] {
        text.push_str(&format!("  {name}: {}\n", form.value(name).unwrap_or("-")));
    }
    text
}
