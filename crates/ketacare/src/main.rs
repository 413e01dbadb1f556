//! The `ketacare` binary: command-line tools (and, later, the clinic server).
//! Each subcommand lives in `<name>_command.rs` with an `Args` struct and a `run` function.

mod score_command;

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
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Score(args) => score_command::run(args),
    }
}
