//! `ketacare export --fhir-bundle PATIENT_ID`: prints the patient's record as the FHIR R4 `searchset`
//! Bundle that `GET /fhir/r4/Patient/{id}/$everything` answers (docs/fhir.md), audited as a read of the
//! patient by `ketacare-cli`.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;

use crate::server_args::{DatabaseArgs, open_app, runtime};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The patient whose record to print as a FHIR R4 Bundle (application/fhir+json).
    #[arg(long = "fhir-bundle", value_name = "PATIENT_ID")]
    fhir_bundle: String,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let app = open_app(&args.database, None).await?;
        let bundle = app.fhir_patient_everything_at_console(&args.fhir_bundle, "cli-export").await;
        app.close().await;
        let bundle = bundle?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, &bundle)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}
