//! `ketacare protocol show` (print a protocol and the settings that need a medical director's sign-off)
//! and `ketacare protocol check FILE`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ketacare_core::protocol::{Protocol, ProtocolEntry, SHIPPED_PROTOCOL_TOML};

#[derive(Debug, Args)]
pub struct ProtocolArgs {
    #[command(subcommand)]
    action: ProtocolAction,
}

#[derive(Debug, Subcommand)]
enum ProtocolAction {
    /// Print the shipped protocol (the PROJECT DEFAULTs of docs/clinical-reference.md) on standard output,
    /// and on standard error the settings whose source says UNCONFIRMED, which a medical director must sign
    /// off before clinical use. Save standard output to start a site's own protocol.
    Show {
        /// Print only the UNCONFIRMED settings, with their values and sources, on standard output.
        #[arg(long)]
        unconfirmed: bool,
        /// Show this protocol file instead of the shipped one; it is checked first (exit 2 when invalid).
        #[arg(long, value_name = "FILE")]
        protocol: Option<PathBuf>,
    },
    /// Validate a protocol file; prints its SHA-256 when valid, exits 2 naming the bad key when not.
    Check { file: PathBuf },
}

pub fn run(args: ProtocolArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        ProtocolAction::Show { unconfirmed, protocol } => {
            let text = match &protocol {
                None => SHIPPED_PROTOCOL_TOML.to_owned(),
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("reading protocol {}", path.display()))?
                }
            };
            let parsed = match Protocol::parse(&text) {
                Ok(parsed) => parsed,
                Err(error) => {
                    let shown = protocol
                        .as_ref()
                        .map_or_else(|| "(shipped protocol)".to_owned(), |path| path.display().to_string());
                    eprintln!("error: {shown}: {error}");
                    return Ok(ExitCode::from(2));
                }
            };
            let list = sign_off_list(&parsed);
            let mut stdout = std::io::stdout().lock();
            if unconfirmed {
                stdout.write_all(list.as_bytes())?;
            } else {
                stdout.write_all(text.as_bytes())?;
                stdout.flush()?;
                std::io::stderr().lock().write_all(list.as_bytes())?;
            }
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

/// The settings of `protocol` whose source says UNCONFIRMED, each with its value and source, for a
/// medical director's sign-off. Every line is a TOML comment, so the list may follow the protocol text
/// into one file without making it invalid.
fn sign_off_list(protocol: &Protocol) -> String {
    let unconfirmed: Vec<&ProtocolEntry> = protocol.entries.iter().filter(|entry| entry.is_unconfirmed()).collect();
    let mut list = format!(
        "# Sign-off: {} setting(s) of protocol \"{}\" (sha256 {}) rest on UNCONFIRMED sources.\n",
        unconfirmed.len(),
        protocol.name,
        protocol.sha256
    );
    if !unconfirmed.is_empty() {
        list.push_str("# A medical director must review and sign off each before clinical use:\n");
    }
    for entry in unconfirmed {
        list.push_str(&format!("#   {} = {}\n#       source: {}\n", entry.path, entry.value, entry.source));
    }
    list.push_str(
        "# Unconfirmed facts built into the program rather than set here: clinical-reference §10 \
         (docs/clinical-reference.md#s10).\n",
    );
    list
}
