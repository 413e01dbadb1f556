//! `ketacare migrate`: brings the database schema up to date (the server also does so on start).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use ketacare_app::App;
use ketacare_core::protocol::Protocol;

use crate::server_args::{DatabaseArgs, redacted, runtime};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let url = redacted(&args.database.url);
        let app = App::connect(&args.database.url, Protocol::shipped())
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let applied = app.migrate().await.with_context(|| format!("migrating {url}"))?;
        if applied.is_empty() {
            println!("{url}: schema up to date");
        } else {
            let versions: Vec<String> = applied.iter().map(i64::to_string).collect();
            println!("{url}: applied migration(s) {}", versions.join(", "));
        }
        app.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
