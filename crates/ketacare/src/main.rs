//! The `ketacare` binary: command-line tools and the clinic server.
//! Each subcommand lives in its own `<name>_command.rs` with its clap arguments and a `run` function.

mod assess_command;
mod audit_command;
mod backup_command;
mod bulk_ndjson;
mod demo_command;
mod dose_command;
mod export_command;
mod import_command;
mod migrate_command;
mod plan_command;
mod protocol_command;
mod protocol_file;
mod report_command;
mod restore_command;
mod score_command;
mod screen_command;
mod serve_command;
mod server_args;
mod session_command;
mod synth_command;
mod user_command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ketacare: clinical decision support for ketamine and esketamine therapy in treatment-resistant depression.
#[derive(Debug, Parser)]
#[command(name = "ketacare", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Assess one patient case (TRD, staging, eligibility, dose): contracts/assess.md.
    Assess(assess_command::AssessArgs),
    /// Compute an IV ketamine or esketamine dose at the bedside.
    Dose(dose_command::DoseArgs),
    /// Show or check a site protocol file.
    Protocol(protocol_command::ProtocolArgs),
    /// Score a rating scale from its answers.
    Score(score_command::ScoreArgs),
    /// Check a treatment session: gate, alerts, discharge readiness, REMS form
    Session(session_command::SessionArgs),
    /// Generate a care plan's schedule and measurement plan
    Plan(plan_command::PlanArgs),
    /// Screen a FHIR bulk export for treatment-resistant depression: contracts/screen.md.
    Screen(screen_command::Args),
    /// Write a seeded synthetic FHIR bulk export with its truth.csv.
    Synth(synth_command::Args),
    /// Serve the clinic's JSON API.
    Serve(serve_command::ServeArgs),
    /// Seed a fresh database with synthetic patients and serve it, printing a one-time admin password.
    Demo(demo_command::DemoArgs),
    /// Bring the database schema up to date.
    Migrate(migrate_command::MigrateArgs),
    /// Manage accounts.
    User(user_command::UserArgs),
    /// Check or export the audit log.
    Audit(audit_command::AuditArgs),
    /// Print a patient's record as a FHIR R4 Bundle (Patient/{id}/$everything), or every record as bulk NDJSON.
    Export(export_command::ExportArgs),
    /// Import a FHIR R4 Bundle into patients' charts (as POST /fhir/r4), or a bulk NDJSON export.
    Import(import_command::ImportArgs),
    /// Clinic reports from the database: `report outcomes` (docs/outcomes.md).
    Report(report_command::ReportArgs),
    /// Write a consistent copy of a SQLite database while it serves, and check it.
    Backup(backup_command::BackupArgs),
    /// Check a backup and put it in place of a SQLite database (stop the server first).
    Restore(restore_command::RestoreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Assess(args) => assess_command::run(args),
        Command::Dose(args) => dose_command::run(args),
        Command::Protocol(args) => protocol_command::run(args),
        Command::Score(args) => score_command::run(args),
        Command::Session(args) => session_command::run(args),
        Command::Plan(args) => plan_command::run(args),
        Command::Screen(args) => screen_command::run(args),
        Command::Synth(args) => synth_command::run(args),
        Command::Serve(args) => serve_command::run(args),
        Command::Demo(args) => demo_command::run(args),
        Command::Export(args) => export_command::run(args),
        Command::Import(args) => import_command::run(args),
        Command::Migrate(args) => migrate_command::run(args),
        Command::User(args) => user_command::run(args),
        Command::Audit(args) => audit_command::run(args),
        Command::Report(args) => report_command::run(args),
        Command::Backup(args) => backup_command::run(args),
        Command::Restore(args) => restore_command::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
