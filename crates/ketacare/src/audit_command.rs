//! `ketacare audit verify`: walks the audit log's hash chain and names the first broken link.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::server_args::{DatabaseArgs, open_app, runtime};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the hash chain; exit 3 naming the first broken link.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Exit status when the chain is broken (1 is any other error, 2 a malformed input elsewhere).
const EXIT_CHAIN_BROKEN: u8 = 3;

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify(verify) = args.command;
    runtime()?.block_on(async {
        let app = open_app(&verify.database, None).await?;
        let report = app.verify_audit_chain(None).await?;
        app.close().await;
        match report.first_broken {
            None => {
                println!(
                    "audit chain intact: {} events, head seq {} hash {}",
                    report.events_checked, report.head_seq, report.head_hash
                );
                Ok(ExitCode::SUCCESS)
            }
            Some(broken) => {
                eprintln!(
                    "error: audit chain broken at seq {}: {} ({} events verified before it)",
                    broken.seq, broken.problem, report.events_checked
                );
                Ok(ExitCode::from(EXIT_CHAIN_BROKEN))
            }
        }
    })
}
