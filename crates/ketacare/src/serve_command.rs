//! `ketacare serve`: the clinic server (the JSON API) on `--bind`, over `--database`.

use std::process::ExitCode;

use clap::Args;

use crate::server_args::{ServeOptions, init_logging, open_app, runtime, serve};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    options: ServeOptions,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    runtime()?.block_on(async {
        let app = open_app(&args.options.database, args.options.protocol.as_deref()).await?;
        if !app.has_users().await? {
            eprintln!("note: there are no accounts yet; create an admin with `ketacare user add NAME --role admin`");
        }
        serve(app, &args.options).await
    })?;
    Ok(ExitCode::SUCCESS)
}
