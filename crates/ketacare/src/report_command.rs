//! `ketacare report outcomes --database URL [--modality M] [--from D] [--to D] [--format json|csv]`: the
//! clinic's cohort outcomes report (docs/outcomes.md), as `GET /api/v1/reports/outcomes` answers it,
//! audited as `report.outcomes` by the actor `ketacare-cli`.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use ketacare_app::OutcomesQuery;

use crate::server_args::{DatabaseArgs, open_app, runtime};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    report: Report,
}

#[derive(Debug, Subcommand)]
enum Report {
    /// Response and remission by week, time to response, sessions, measurement adherence, alert rates and
    /// REMS forms on time, over the plans started in a period (pseudonyms and weeks only).
    Outcomes(OutcomesArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Csv,
}

#[derive(Debug, Args)]
struct OutcomesArgs {
    /// `iv_ketamine` or `esketamine`; both when absent.
    #[arg(long)]
    modality: Option<String>,
    /// First plan start counted (YYYY-MM-DD); default a year before --to.
    #[arg(long)]
    from: Option<String>,
    /// Last plan start counted (YYYY-MM-DD); default today (UTC).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    #[command(flatten)]
    database: DatabaseArgs,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let Report::Outcomes(args) = args.report;
    runtime()?.block_on(async {
        let app = open_app(&args.database, None).await?;
        let query = OutcomesQuery { modality: args.modality, from: args.from, to: args.to, format: None };
        let reports = app.outcomes_report_at_console(&query, "cli-report-outcomes").await;
        app.close().await;
        let reports = reports?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        match args.format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, &reports.to_json())?;
                out.write_all(b"\n")?;
            }
            Format::Csv => out.write_all(reports.to_csv().as_bytes())?,
        }
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}
