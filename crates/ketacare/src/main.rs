//! The `ketacare` binary: command-line tools (and, later, the clinic server).
//! Each subcommand lives in `<name>_command.rs` with an `Args` struct and a `run` function.

mod input;
mod plan_command;
mod score_command;
mod session_command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ketacare", version, about = "Clinical decision support for ketamine and esketamine in TRD")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score a rating scale from its answers
    Score(score_command::ScoreArgs),
    /// Check a treatment session: gate, alerts, discharge readiness, REMS form
    Session(session_command::SessionArgs),
    /// Generate a care plan's schedule and measurement plan
    Plan(plan_command::PlanArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Score(args) => score_command::run(args),
        Command::Session(args) => session_command::run(args),
        Command::Plan(args) => plan_command::run(args),
    }
}
