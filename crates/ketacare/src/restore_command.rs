//! `ketacare restore --input FILE`: puts a backup in place of the SQLite database of `--database`. The
//! backup is checked first (integrity check, audit chain); a database that is not empty is only replaced
//! with `--force`; the copy is written beside the target, synced, and renamed over it (so the target is
//! either the old file or the whole backup, never half of one), after removing the old `-wal` and `-shm`,
//! which belong to the old file. The restored database is migrated and the restore audited in it.
//! Stop the server first. PostgreSQL is refused with a pointer to docs/operations.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use ketacare_app::{check_sqlite_backup, sqlite_path_of_url};

use crate::backup_command::{EXIT_CHECK_FAILED, POSTGRES_REFUSAL, report, sync_file_and_directory};
use crate::server_args::{DatabaseArgs, open_app, runtime};

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file (made by `ketacare backup`).
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Replace a database that already holds data.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    database: DatabaseArgs,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub fn run(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let Some(target) = sqlite_path_of_url(&args.database.url) else {
        if args.database.url.starts_with("postgres") {
            bail!(POSTGRES_REFUSAL);
        }
        bail!("--database: expected sqlite://FILE");
    };
    if std::fs::metadata(with_suffix(&args.input, "-wal")).is_ok_and(|wal| wal.len() > 0) {
        bail!(
            "{} has a -wal file beside it, so it is a live database rather than a backup; make one with ketacare backup",
            args.input.display()
        );
    }
    runtime()?.block_on(async {
        let check = match check_sqlite_backup(&args.input, args.database.audit_key()?).await {
            Ok(check) => check,
            Err(error) => {
                eprintln!("error: {} is not a readable SQLite database: {error}", args.input.display());
                eprintln!("error: refusing to restore a backup that fails its checks");
                return Ok(ExitCode::from(EXIT_CHECK_FAILED));
            }
        };
        let checked = report(&args.input, &check);
        if !check.passed() {
            eprintln!("error: refusing to restore a backup that fails its checks");
            return Ok(checked);
        }
        let target_has_data = std::fs::metadata(&target).is_ok_and(|file| file.len() > 0);
        if target_has_data && !args.force {
            bail!("{} is not empty; pass --force to replace it (stop the server first)", target.display());
        }
        let beside = with_suffix(&target, &format!(".restore-{}", std::process::id()));
        std::fs::copy(&args.input, &beside)
            .with_context(|| format!("copying {} to {}", args.input.display(), beside.display()))?;
        sync_file_and_directory(&beside)?;
        for stale in ["-wal", "-shm"] {
            let path = with_suffix(&target, stale);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error).with_context(|| format!("removing {}", path.display())),
            }
        }
        std::fs::rename(&beside, &target)
            .with_context(|| format!("renaming {} to {}", beside.display(), target.display()))?;
        sync_file_and_directory(&target)?;
        let app = open_app(&args.database, None).await?;
        app.audit_restore(&args.input, &format!("restore-{}", std::process::id())).await?;
        app.close().await;
        println!("restored {} into {}", args.input.display(), target.display());
        Ok(ExitCode::SUCCESS)
    })
}
