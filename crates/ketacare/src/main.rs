//! The `ketacare` binary: command-line tools (and, later, the clinic server).
//! Each subcommand lives in `<name>_command.rs` with an `Args` struct and a `run` function.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod screen_command;
mod synth_command;

#[derive(Debug, Parser)]
#[command(name = "ketacare", version, about = "Clinical decision support for ketamine/esketamine therapy in TRD")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Screen a FHIR bulk export for treatment-resistant depression.
    Screen(screen_command::Args),
    /// Write a seeded synthetic FHIR bulk export with its truth.csv.
    Synth(synth_command::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Screen(args) => screen_command::run(args),
        Command::Synth(args) => synth_command::run(args),
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}
