//! `ketacare import BUNDLE.json --as USERNAME`: imports a FHIR R4 transaction, collection or searchset
//! Bundle into patients' charts, as `POST /fhir/r4` does (docs/fhir.md), as the named prescriber or
//! nurse (the records are theirs, their role is checked, the audit trail names them). Prints
//! what each patient received and the decision on its chart, or every issue of a refused bundle (exit
//! 2: nothing was written). `ketacare import --ndjson DIR --as USERNAME` imports a bulk export
//! (`bulk_ndjson.rs`), patient by patient: a refused patient is reported (exit 2) and the others imported.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use ketacare_app::{FhirImportError, FhirImportReport};

use crate::server_args::{DatabaseArgs, open_app, runtime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// Lines for a person.
    Text,
    /// The OperationOutcome `POST /fhir/r4` answers.
    Json,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The Bundle (JSON) to import, or `-` for standard input.
    #[arg(value_name = "BUNDLE.json", required_unless_present = "ndjson", conflicts_with = "ndjson")]
    bundle: Option<PathBuf>,
    /// A folder of bulk FHIR NDJSON files (one per resource type, as `ketacare export --ndjson` or
    /// `ketacare synth` write them) to import patient by patient, leaving out what ketacare does not chart.
    #[arg(long, value_name = "DIR")]
    ndjson: Option<PathBuf>,
    /// The account (a prescriber or nurse) the imported records are recorded by.
    #[arg(long = "as", value_name = "USERNAME")]
    account: String,
    /// Site protocol TOML the imported charts are decided under (default: the shipped protocol).
    #[arg(long)]
    protocol: Option<PathBuf>,
    /// An identifier system whose value is the patient's MRN (the EHR's own MRN namespace, e.g.
    /// `urn:oid:2.16.840.1.113883.3.1234` or a URL), beside ketacare's and identifiers typed MR; repeat it,
    /// or give a comma-separated list in the environment.
    #[arg(long = "mrn-system", env = "KETACARE_MRN_SYSTEMS", value_delimiter = ',', value_name = "URI")]
    mrn_systems: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: ImportFormat,
    #[command(flatten)]
    database: DatabaseArgs,
}

fn read_bundle(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().lock().read_to_end(&mut bytes).context("reading the Bundle from standard input")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn print_report(report: &FhirImportReport, out: &mut impl std::io::Write) -> std::io::Result<()> {
    for patient in &report.patients {
        let what = if patient.changed_nothing() {
            format!("unchanged ({} records already in the chart)", patient.records_unchanged)
        } else {
            format!(
                "{}{} records added, {} already in the chart",
                if patient.created_patient { "new patient, " } else { "" },
                patient.records_added,
                patient.records_unchanged
            )
        };
        writeln!(out, "Patient/{} ({}): {what}", patient.patient_id, patient.bundle_entry)?;
        if let Some(decision) = &patient.decision {
            writeln!(out, "  {}", decision.summary())?;
        }
    }
    for issue in &report.issues {
        writeln!(out, "{issue}")?;
    }
    if report.changed_nothing() {
        writeln!(out, "nothing changed: everything in the bundle was already in the database")?;
    }
    Ok(())
}

pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(directory) = &args.ndjson {
        return runtime()?.block_on(async {
            let app = open_app(&args.database, args.protocol.as_deref())
                .await?
                .with_mrn_identifier_systems(args.mrn_systems.clone());
            let imported = async {
                let actor = app.console_actor(&args.account, "cli-import-ndjson").await?;
                crate::bulk_ndjson::import_ndjson(&app, &actor, directory).await
            }
            .await;
            app.close().await;
            Ok(if imported?.refused > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
        });
    }
    let bundle = read_bundle(args.bundle.as_ref().expect("clap requires a bundle without --ndjson"))?;
    runtime()?.block_on(async {
        let app = open_app(&args.database, args.protocol.as_deref())
            .await?
            .with_mrn_identifier_systems(args.mrn_systems.clone());
        let imported = app.import_fhir_bundle_as_account(&args.account, &bundle, "cli-import").await;
        app.close().await;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let code = match &imported {
            Ok(report) => {
                match args.format {
                    ImportFormat::Json => serde_json::to_writer_pretty(&mut out, &report.outcome())?,
                    ImportFormat::Text => print_report(report, &mut out)?,
                }
                ExitCode::SUCCESS
            }
            Err(FhirImportError::Refused(issues)) => {
                match args.format {
                    ImportFormat::Json => {
                        serde_json::to_writer_pretty(&mut out, &imported.as_ref().unwrap_err().outcome())?
                    }
                    ImportFormat::Text => {
                        let mut errors = std::io::stderr().lock();
                        writeln!(errors, "the bundle is refused; nothing was imported:")?;
                        for issue in issues {
                            writeln!(errors, "  {issue}")?;
                        }
                    }
                }
                ExitCode::from(2)
            }
            Err(FhirImportError::App(error)) => return Err(anyhow::anyhow!("{error}")),
        };
        if args.format == ImportFormat::Json {
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(code)
    })
}
