//! `ketacare audit verify` walks the audit log's hash chain and names the first broken link;
//! `ketacare audit export` writes the log as NDJSON, one event per line, for archiving or review.

use std::process::ExitCode;

use std::io::Write as _;

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
    /// Write the audit events as NDJSON to standard output, in chain order.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Export only events after this sequence number (to continue an earlier export).
    #[arg(long, default_value_t = 0)]
    after: i64,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Exit status when the chain is broken (1 is any other error, 2 a malformed input elsewhere).
const EXIT_CHAIN_BROKEN: u8 = 3;

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify(verify) => run_verify(verify),
        AuditCommand::Export(export) => run_export(export),
    }
}

/// Events read per round trip while exporting.
const EXPORT_PAGE_EVENTS: i64 = 1000;

fn run_export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let app = open_app(&args.database, None).await?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut after = args.after;
        loop {
            let page = app.export_audit_events(after, EXPORT_PAGE_EVENTS).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in &page {
                serde_json::to_writer(&mut out, event)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
        app.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn run_verify(verify: VerifyArgs) -> anyhow::Result<ExitCode> {
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
