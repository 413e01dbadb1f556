//! `ketacare export --fhir-bundle PATIENT_ID`: prints the patient's record as the FHIR R4 `searchset`
//! Bundle that `GET /fhir/r4/Patient/{id}/$everything` answers (docs/fhir.md), audited as a read of the
//! patient by `ketacare-cli`. `ketacare export --ndjson DIR` writes every patient's record as bulk NDJSON,
//! one file per resource type (`bulk_ndjson.rs`), each patient audited the same way.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;

use crate::server_args::{DatabaseArgs, open_app, runtime};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The patient whose record to print as a FHIR R4 Bundle (application/fhir+json).
    #[arg(
        long = "fhir-bundle",
        value_name = "PATIENT_ID",
        required_unless_present = "ndjson",
        conflicts_with = "ndjson"
    )]
    fhir_bundle: Option<String>,
    /// Write every patient's record as bulk FHIR NDJSON into this folder, one file per resource type.
    #[arg(long, value_name = "DIR")]
    ndjson: Option<std::path::PathBuf>,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let app = open_app(&args.database, None).await?;
        if let Some(directory) = &args.ndjson {
            let exported = crate::bulk_ndjson::export_ndjson(&app, directory).await;
            app.close().await;
            exported?;
            return Ok(ExitCode::SUCCESS);
        }
        let patient_id = args.fhir_bundle.as_deref().expect("clap requires a patient without --ndjson");
        let bundle = app.fhir_patient_everything_at_console(patient_id, "cli-export").await;
        app.close().await;
        let bundle = bundle?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, &bundle)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}
