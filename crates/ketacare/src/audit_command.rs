//! `ketacare audit verify` walks the audit log's hash chain and names the first broken link, then names
//! every covered row that is not as the chain says and every trigger or migration that is not the shipped
//! one; `ketacare audit export` writes the log as NDJSON, one event per line, for archiving or review.

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
    /// Verify the hash chain, the rows against it and the shipped triggers; exit 3 naming what is wrong.
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
    /// A head printed by an earlier verify, `SEQ:HASH`, kept outside the database: the row must still
    /// be there with that hash, which detects a truncated or rewritten log.
    #[arg(long, value_name = "SEQ:HASH")]
    anchor: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Parses `SEQ:HASH`.
fn parse_anchor(text: &str) -> anyhow::Result<(i64, String)> {
    let (seq, hash) =
        text.split_once(':').ok_or_else(|| anyhow::anyhow!("--anchor: expected SEQ:HASH, got {text:?}"))?;
    let seq: i64 = seq.parse().map_err(|_| anyhow::anyhow!("--anchor: {seq:?} is not a sequence number"))?;
    if seq < 1 || hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        anyhow::bail!("--anchor: expected a sequence number from 1 and a 64-digit hex hash");
    }
    Ok((seq, hash.to_ascii_lowercase()))
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
    let anchor = verify.anchor.as_deref().map(parse_anchor).transpose()?;
    runtime()?.block_on(async {
        let app = open_app(&verify.database, None).await?;
        let report = app.verify_audit_chain(None).await?;
        let anchored_row = match &anchor {
            Some((seq, _)) => app.export_audit_events(seq - 1, 1).await?.into_iter().next(),
            None => None,
        };
        app.close().await;
        if report.first_broken.is_none()
            && let Some((seq, hash)) = &anchor
            && !anchored_row.is_some_and(|row| row.seq == *seq && row.hash == *hash)
        {
            eprintln!(
                "error: audit chain broken at seq {seq}: the anchored row is missing or differs: the log was \
                 truncated or rewritten ({} events verified)",
                report.events_checked
            );
            return Ok(ExitCode::from(EXIT_CHAIN_BROKEN));
        }
        if report.keyed_events_unchecked > 0 {
            eprintln!(
                "warning: {} keyed events (HMAC-SHA-256) were checked for their links only: give the audit key \
                 (--audit-key-file or KETACARE_AUDIT_KEY) to check their hashes",
                report.keyed_events_unchecked
            );
        }
        if report.intact() {
            println!(
                "audit chain intact: {} events, head seq {} hash {}",
                report.events_checked, report.head_seq, report.head_hash
            );
            if let Some(seq) = report.keyed_from_seq {
                println!("keyed (HMAC-SHA-256) from seq {seq}");
            }
            println!("{} rows as the chain says; triggers and migrations as shipped", report.rows_checked);
            Ok(ExitCode::SUCCESS)
        } else {
            for line in report.problem_lines() {
                eprintln!("error: {line}");
            }
            Ok(ExitCode::from(EXIT_CHAIN_BROKEN))
        }
    })
}
