//! `ketacare protocol show` (print the shipped protocol) and `ketacare protocol check FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ketacare_core::protocol::{Protocol, SHIPPED_PROTOCOL_TOML};

#[derive(Debug, Args)]
pub struct ProtocolArgs {
    #[command(subcommand)]
    action: ProtocolAction,
}

#[derive(Debug, Subcommand)]
enum ProtocolAction {
    /// Print the shipped protocol (KNOWLEDGE's PROJECT DEFAULTs); save it to start a site's own.
    Show,
    /// Validate a protocol file; prints its SHA-256 when valid, exits 2 naming the bad key when not.
    Check { file: PathBuf },
}

pub fn run(args: ProtocolArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        ProtocolAction::Show => {
            print!("{SHIPPED_PROTOCOL_TOML}");
            Ok(ExitCode::SUCCESS)
        }
        ProtocolAction::Check { file } => {
            let text = std::fs::read_to_string(&file)?;
            match Protocol::parse(&text) {
                Ok(protocol) => {
                    println!("ok: {} ({}), sha256 {}", file.display(), protocol.name, protocol.sha256);
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("error: {}: {error}", file.display());
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}
