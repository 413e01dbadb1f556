//! `ketacare demo`: seeds a fresh database with synthetic patients (the vignettes, each with its
//! assessment), prints the address and a one-time admin password, then serves.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use ketacare_app::{Actor, App, NewAccount, PatientInput, Role};

use crate::server_args::{ServeOptions, init_logging, open_app, runtime, serve};

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    options: ServeOptions,
}

/// The vignette cases, built in: synthetic patients across the assessment step of the pathway.
const VIGNETTES: &[(&str, &str)] = &[
    ("V1", include_str!("../../../vignettes/V1.case.json")),
    ("V2", include_str!("../../../vignettes/V2.case.json")),
    ("V3", include_str!("../../../vignettes/V3.case.json")),
    ("V4", include_str!("../../../vignettes/V4.case.json")),
    ("V5", include_str!("../../../vignettes/V5.case.json")),
    ("V6", include_str!("../../../vignettes/V6.case.json")),
    ("V7", include_str!("../../../vignettes/V7.case.json")),
    ("V8", include_str!("../../../vignettes/V8.case.json")),
    ("V9", include_str!("../../../vignettes/V9.case.json")),
    ("V10", include_str!("../../../vignettes/V10.case.json")),
    ("V11", include_str!("../../../vignettes/V11.case.json")),
    ("V11-EU", include_str!("../../../vignettes/V11-EU.case.json")),
    ("V12", include_str!("../../../vignettes/V12.case.json")),
];

/// Synthetic names, one per vignette; no real person.
const GIVEN_NAMES: &[&str] = &[
    "Avery", "Blake", "Casey", "Dana", "Emery", "Finley", "Gray", "Harper", "Indigo", "Jules", "Kai", "Lane", "Morgan",
];

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    runtime()?.block_on(async {
        let app = open_app(&args.options.database, args.options.protocol.as_deref()).await?;
        if app.has_users().await? {
            bail!("the demo needs a fresh database, and this one has accounts; pass another --database");
        }
        let password = seed(&app).await?;
        println!("demo data: {} synthetic patients, each with an assessment", VIGNETTES.len());
        println!("log in as user `admin` with the one-time password: {password}");
        serve(app, &args.options).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the admin (returning its one-time password), a demo prescriber, and the vignette patients.
async fn seed(app: &App) -> anyhow::Result<String> {
    let password = app.bootstrap_admin("admin").await?;
    // The seeding clinician's password is random and thrown away: the account only signs the seed data.
    let seeder_password = app.bootstrap_password();
    let account = NewAccount {
        username: "demo.prescriber".to_owned(),
        password: seeder_password,
        role: Role::Prescriber,
        must_change_password: true,
    };
    let user_id = app.create_user(None, &account).await?;
    let actor = Actor { user_id, role: Role::Prescriber, request_id: "demo-seed".to_owned() };
    for ((name, case), given_name) in VIGNETTES.iter().zip(GIVEN_NAMES) {
        let case_value: serde_json::Value = serde_json::from_str(case).with_context(|| format!("vignette {name}"))?;
        let patient = &case_value["patient"];
        let input = PatientInput {
            mrn: Some(format!("DEMO-{name}")),
            given_name: (*given_name).to_owned(),
            family_name: format!("Vignette {name}"),
            birth_date: patient["birth_date"].as_str().unwrap_or("1980-01-01").to_owned(),
            sex_at_birth: patient["sex_at_birth"].as_str().unwrap_or("female").to_owned(),
        };
        let created = app.create_patient(&actor, &input, None).await?;
        app.record_assessment(&actor, &created.resource_id, case, None).await?;
    }
    Ok(password)
}
