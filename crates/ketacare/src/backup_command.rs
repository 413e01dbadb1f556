//! `ketacare backup --output FILE`: an online, consistent copy of a SQLite database while the server
//! runs (`VACUUM INTO`, one read transaction; see ketacare-store's operations.rs for why), synced to disk,
//! then checked (integrity check and audit chain) and reported. PostgreSQL is refused with a pointer to
//! the pg_dump procedure in docs/operations.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use ketacare_app::{Backend, SqliteFileCheck};

use crate::server_args::{DatabaseArgs, open_app, runtime};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write; it must not exist.
    #[arg(long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Exit status when a backup (or the file given to restore) fails its checks.
pub const EXIT_CHECK_FAILED: u8 = 3;

/// The message for PostgreSQL, whose backups are made with its own tools.
pub const POSTGRES_REFUSAL: &str = "backup and restore copy SQLite databases; for PostgreSQL use pg_dump and \
     pg_restore as described in docs/operations.md";

pub fn run(args: BackupArgs) -> anyhow::Result<ExitCode> {
    if args.output.exists() {
        bail!("{} already exists; choose a new file for the backup", args.output.display());
    }
    runtime()?.block_on(async {
        let app = open_app(&args.database, None).await?;
        if app.backend() != Backend::Sqlite {
            app.close().await;
            bail!(POSTGRES_REFUSAL);
        }
        let request_id = format!("backup-{}", std::process::id());
        let check = app.backup_sqlite(&args.output, &request_id).await;
        app.close().await;
        let check = check.with_context(|| format!("backing up to {}", args.output.display()))?;
        sync_file_and_directory(&args.output)?;
        Ok(report(&args.output, &check))
    })
}

/// Prints the check of a backup file; the exit code says whether it passed.
pub fn report(path: &Path, check: &SqliteFileCheck) -> ExitCode {
    if check.passed() {
        println!(
            "{}: integrity ok, audit chain intact: {} events, head seq {} hash {}",
            path.display(),
            check.audit.events_checked,
            check.audit.head_seq,
            check.audit.head_hash
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {}: integrity check: {}", path.display(), check.integrity);
        for line in check.audit.problem_lines() {
            eprintln!("error: {}: {line}", path.display());
        }
        ExitCode::from(EXIT_CHECK_FAILED)
    }
}

/// Flushes `path` and its directory entry to disk, so the file survives a power cut once reported.
pub fn sync_file_and_directory(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("syncing {}", path.display()))?;
    let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Directories can be synced on Unix; elsewhere opening one may fail, and the rename is durable anyway.
    if let Ok(directory) = std::fs::File::open(directory) {
        let _ = directory.sync_all();
    }
    Ok(())
}
