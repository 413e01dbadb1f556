//! `ketacare demo`: seeds a fresh database with synthetic patients (the vignettes, each with its
//! chart entered record by record), prints the address and a one-time admin password, then serves.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use jiff::civil::Date;
use ketacare_app::{Actor, App, NewAccount, PatientInput, Role};
use serde_json::{Value, json};

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
        jiff::tz::TimeZone::get(&args.options.time_zone).context("--time-zone")?;
        if app.has_users().await? {
            // A second run serves the demo database it made before, with a new one-time admin password (the
            // first run's may be lost); a database that is not a demo's is never touched.
            let (Some(_), Some(admin)) = (app.user_id_of("demo.nurse").await?, app.user_id_of("admin").await?) else {
                bail!(
                    "this database has accounts and is not a ketacare demo database; pass another --database \
                     (e.g. --database sqlite://demo.db)"
                );
            };
            let password = app.reset_password(None, &admin).await?;
            println!("serving the existing demo database; to start afresh, stop and delete it (and its -wal and -shm files) or pass --database sqlite://another.db");
            println!("log in as user `admin` with the new one-time password: {password}");
            return serve(app, &args.options).await;
        }
        let password = seed(&app, &args.options.time_zone).await?;
        println!("demo data: {} synthetic patients, each with a chart and its decisions", VIGNETTES.len());
        println!(
            "today ({}): an esketamine session in progress with open alerts, an IV plan starting",
            args.options.time_zone
        );
        println!("log in as user `admin` with the one-time password: {password}");
        serve(app, &args.options).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the admin (returning its one-time password), a demo prescriber and nurse, and the vignette
/// patients, each with a chart entered record by record (which stores each distinct decision it leads to).
async fn seed(app: &App, time_zone: &str) -> anyhow::Result<String> {
    let password = app.bootstrap_admin("admin").await?;
    let prescriber = seeding_actor(app, "demo.prescriber", Role::Prescriber).await?;
    let nurse = seeding_actor(app, "demo.nurse", Role::Nurse).await?;
    let mut patient_ids = std::collections::HashMap::new();
    for ((name, case), given_name) in VIGNETTES.iter().zip(GIVEN_NAMES) {
        let case = ketacare_case::read_json_document(case.as_bytes()).with_context(|| format!("vignette {name}"))?;
        let case = with_birth_date(case)?;
        let patient = &case["patient"];
        let input = PatientInput {
            mrn: Some(format!("DEMO-{name}")),
            given_name: (*given_name).to_owned(),
            family_name: format!("Vignette {name}"),
            birth_date: patient["birth_date"].as_str().unwrap_or("1980-01-01").to_owned(),
            sex_at_birth: patient["sex_at_birth"].as_str().unwrap_or("female").to_owned(),
        };
        let created = app.create_patient(&nurse, &input, None).await?;
        enter_case_into_chart(app, &nurse, &prescriber, &created.resource_id, &case)
            .await
            .with_context(|| format!("the chart of vignette {name}"))?;
        patient_ids.insert(*name, created.resource_id);
    }
    let treated = &patient_ids["V5"];
    let planned = &patient_ids["V1"];
    seed_consents(app, &nurse, treated, planned).await.context("the demo's consent forms and consents")?;
    seed_treatment(app, &nurse, &prescriber, treated, planned, time_zone)
        .await
        .context("the demo's treatment sessions")?;
    Ok(password)
}

/// The starter consent forms (docs/consent-forms, which a clinic adapts in the admin pages) and the signed
/// consents of the patients treated: `treated` (V5) to esketamine, `planned` (V1) to IV ketamine, each a
/// month ago, witnessed by the demo prescriber.
async fn seed_consents(app: &App, nurse: &Actor, treated: &str, planned: &str) -> anyhow::Result<()> {
    let admin = app.user_id_of("admin").await?.context("the demo admin exists")?;
    let admin = Actor { user_id: admin, role: Role::Admin, request_id: "demo-seed".to_owned() };
    let forms = [
        (
            "esketamine-treatment",
            "esketamine",
            "Esketamine nasal spray (SPRAVATO): consent to treatment",
            include_str!("../../../docs/consent-forms/esketamine-treatment.txt"),
        ),
        (
            "iv-ketamine-treatment",
            "iv_racemic_ketamine",
            "IV ketamine infusion (off-label): consent to treatment",
            include_str!("../../../docs/consent-forms/iv-ketamine-treatment.txt"),
        ),
    ];
    for (form_id, modality, title, text) in forms {
        let form = json!({ "form_id": form_id, "modality": modality, "title": title, "body_text": text,
                           "valid_for_days": 365 });
        app.create_consent_form_version(&admin, &form.to_string()).await?;
    }
    let signed_on =
        app.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date().checked_sub(jiff::Span::new().days(30))?;
    for (patient, form_id, signer) in [
        (treated, "esketamine-treatment", "Emery Vignette V5"),
        (planned, "iv-ketamine-treatment", "Avery Vignette V1"),
    ] {
        let consent = json!({ "form_id": form_id, "signed_on": signed_on.to_string(), "signer_name": signer,
                              "signer_relationship": "patient", "witness_username": "demo.prescriber" });
        app.record_consent(nurse, patient, &consent.to_string(), None).await?;
    }
    Ok(())
}

/// A clinic-local minute `minutes_from_now` away from `now`, as the session and plan documents write it.
fn local_minute(zone_name: &str, now: jiff::Timestamp, minutes_from_now: i64) -> anyhow::Result<String> {
    let zone = jiff::tz::TimeZone::get(zone_name)?;
    let at = now.checked_add(jiff::Span::new().minutes(minutes_from_now))?;
    Ok(at.to_zoned_datetime(zone).strftime("%Y-%m-%dT%H:%M").to_string())
}

/// The treatment steps of the pathway, relative to now so the worklist has something on it whatever the
/// day: `treated` (V5) is in an esketamine session that started 100 minutes ago, with sedation,
/// blood-pressure and dissociation alerts nobody has acknowledged and a REMS form still missing the monitoring
/// nurse's e-mail; `planned` (V1) has an IV induction plan starting in an hour.
async fn seed_treatment(
    app: &App,
    nurse: &Actor,
    prescriber: &Actor,
    treated: &str,
    planned: &str,
    time_zone: &str,
) -> anyhow::Result<()> {
    let now = app.now();
    let zone = time_zone;
    let at = |minutes: i64| local_minute(zone, now, minutes);
    let plan = json!({ "template": "esketamine_trd", "time_zone": zone, "first_session": at(-90)? });
    let plan = app.create_plan(prescriber, treated, &plan.to_string(), None).await?;
    // The prescriber's order the nurse gives, signed before any session.
    let order = json!({ "modality": "esketamine", "dose_mg": 56, "plan_id": plan.resource_id });
    let order = app.create_order(prescriber, treated, &order.to_string(), None).await?.resource_id;
    seed_signed_session(app, nurse, prescriber, treated, &order, zone).await?;
    let facts = json!({
        "modality": "esketamine", "care_setting": "outpatient", "time_zone": zone, "order_id": order,
        "fulfils": { "plan_id": plan.resource_id, "position": 0 },
        "dose": { "planned_mg": 56, "planned_at": at(-90)? },
        "pre_dose": { "phq9_item9": 0, "can_become_pregnant": false, "last_food_at": at(-300)?,
                      "last_liquid_at": at(-200)?, "escort_arranged": true, "rems_patient_enrolled": true },
        "rems": {
            "edition": "respiratory",
            "patient": { "first_name": "Emery", "last_name": "Vignette V5", "birth_date": "1968-03-14", "sex": "female",
                         "first_treatment": true, "enrolled": true },
            "medication": { "benzodiazepines": false, "non_benzodiazepine_sedative_hypnotics": false,
                            "psychostimulants": false, "maois": false, "opioids": false, "other_sedating_drugs": false },
            "monitoring_hcp": { "name": "demo.nurse", "phone": "555-0100" },
            "setting": { "name": "ketacare demo clinic", "address": "1 Example Street" },
            "serious_adverse_events": "none"
        }
    });
    let session = app.start_session(nurse, treated, &facts.to_string(), None).await?.resource_id;
    let observations = [
        json!({ "at": at(-100)?, "systolic_mmhg": 128, "diastolic_mmhg": 78, "heart_rate_bpm": 72, "spo2_percent": 98,
                "respiratory_rate_per_min": 14, "moaas": 5, "cadss_total": 0, "crisis_symptoms": [] }),
        json!({ "at": at(-94)?, "systolic_mmhg": 126, "diastolic_mmhg": 80 }),
        json!({ "at": at(-75)?, "moaas": 4, "spo2_percent": 97 }),
        json!({ "at": at(-60)?, "moaas": 3, "spo2_percent": 97, "adverse_events": ["nausea"] }),
        json!({ "at": at(-50)?, "systolic_mmhg": 162, "diastolic_mmhg": 92, "heart_rate_bpm": 88, "spo2_percent": 97,
                "cadss_total": 18, "crisis_symptoms": [] }),
    ];
    let administration = json!({ "drug": "esketamine", "dose_mg": 56, "lot_number": "DEMO-ESK-0001",
                                 "started_at": at(-90)?, "device_count": 2 });
    // The two pre-dose readings come first: the gate allows no dose without them.
    let [pre_dose @ .., _, _, _] = &observations;
    for observation in pre_dose {
        app.record_observation(nurse, treated, &session, &observation.to_string(), None).await?;
    }
    app.record_administration(nurse, treated, &session, &administration.to_string(), None).await?;
    for observation in &observations[pre_dose.len()..] {
        app.record_observation(nurse, treated, &session, &observation.to_string(), None).await?;
    }
    let plan = json!({ "template": "induction_2x_week_3w", "time_zone": zone, "first_session": at(60)? });
    app.create_plan(prescriber, planned, &plan.to_string(), None).await?;
    Ok(())
}

/// A session three days ago under the same order, from the pre-dose checks to discharge, sign-off and the
/// submitted REMS form: what a finished session looks like.
async fn seed_signed_session(
    app: &App,
    nurse: &Actor,
    prescriber: &Actor,
    treated: &str,
    order: &str,
    zone: &str,
) -> anyhow::Result<()> {
    let now = app.now();
    let days_ago = 3 * 24 * 60;
    let at = |minutes: i64| local_minute(zone, now, minutes - days_ago);
    let facts = json!({
        "modality": "esketamine", "care_setting": "outpatient", "time_zone": zone, "order_id": order,
        "dose": { "planned_at": at(0)? },
        "pre_dose": { "phq9_item9": 0, "cssrs_risk": "none", "can_become_pregnant": false, "last_food_at": at(-300)?,
                      "last_liquid_at": at(-200)?, "escort_arranged": true, "rems_patient_enrolled": true },
        "discharge": { "escort_present": true },
        "rems": {
            "edition": "respiratory",
            "patient": { "first_name": "Emery", "last_name": "Vignette V5", "birth_date": "1968-03-14", "sex": "female",
                         "first_treatment": true, "enrolled": true },
            "medication": { "benzodiazepines": false, "non_benzodiazepine_sedative_hypnotics": false,
                            "psychostimulants": false, "maois": false, "opioids": false, "other_sedating_drugs": false },
            "monitoring_hcp": { "name": "demo.nurse", "phone": "555-0100", "email": "nurse@clinic.example" },
            "setting": { "name": "ketacare demo clinic", "address": "1 Example Street" },
            "serious_adverse_events": "none"
        }
    });
    let session = app.start_session(nurse, treated, &facts.to_string(), None).await?.resource_id;
    let observe = |minutes: i64, values: Value| -> anyhow::Result<String> {
        let mut observation = values;
        observation["at"] = json!(at(minutes)?);
        Ok(observation.to_string())
    };
    for (minutes, values) in [
        (
            -12,
            json!({ "systolic_mmhg": 124, "diastolic_mmhg": 78, "heart_rate_bpm": 70, "spo2_percent": 98,
                      "respiratory_rate_per_min": 14, "moaas": 5, "cadss_total": 0, "crisis_symptoms": [] }),
        ),
        (-5, json!({ "systolic_mmhg": 122, "diastolic_mmhg": 76 })),
    ] {
        app.record_observation(nurse, treated, &session, &observe(minutes, values)?, None).await?;
    }
    let administration = json!({ "drug": "esketamine", "dose_mg": 56, "lot_number": "DEMO-ESK-0001",
                                 "started_at": at(0)?, "device_count": 2 });
    app.record_administration(nurse, treated, &session, &administration.to_string(), None).await?;
    for (minutes, values) in [
        (
            40,
            json!({ "systolic_mmhg": 138, "diastolic_mmhg": 84, "heart_rate_bpm": 80, "spo2_percent": 97,
                     "respiratory_rate_per_min": 14, "moaas": 4, "cadss_total": 8, "crisis_symptoms": [] }),
        ),
        (
            90,
            json!({ "systolic_mmhg": 128, "diastolic_mmhg": 80, "heart_rate_bpm": 74, "spo2_percent": 98,
                     "respiratory_rate_per_min": 14, "moaas": 5, "cadss_total": 2, "crisis_symptoms": [] }),
        ),
        (
            120,
            json!({ "systolic_mmhg": 126, "diastolic_mmhg": 78, "heart_rate_bpm": 72, "spo2_percent": 98,
                      "respiratory_rate_per_min": 14, "moaas": 5, "cadss_total": 0, "crisis_symptoms": [] }),
        ),
    ] {
        app.record_observation(nurse, treated, &session, &observe(minutes, values)?, None).await?;
    }
    let update = json!({ "monitoring_ended_at": at(125)? });
    let version = app.get_session(nurse, treated, &session).await?.version;
    let view = app.update_session(nurse, treated, &session, version, &update.to_string()).await?;
    let view = app.discharge_session(nurse, treated, &session, view.version).await?;
    let view = app.sign_session(prescriber, treated, &session, view.version).await?;
    app.submit_rems_form(nurse, treated, &session, view.version).await?;
    Ok(())
}

/// An account that signs the seed data. Its password is random and thrown away (and must be changed
/// before use), so nobody can log in as it.
async fn seeding_actor(app: &App, username: &str, role: Role) -> anyhow::Result<Actor> {
    let account = NewAccount {
        username: username.to_owned(),
        password: app.bootstrap_password(),
        role,
        must_change_password: true,
    };
    let user_id = app.create_user(None, &account).await?;
    Ok(Actor { user_id, role, request_id: "demo-seed".to_owned() })
}

/// The case with its patient's birth date stated (a chart keeps the birth date, not an age):
/// `age_years` becomes the birth date giving that age on the case's `as_of`.
fn with_birth_date(mut case: Value) -> anyhow::Result<Value> {
    if let Some(age_years) = case["patient"]["age_years"].as_i64() {
        let as_of: Date = case["as_of"].as_str().context("a vignette with an age has as_of")?.parse()?;
        let birth = as_of.checked_sub(jiff::Span::new().years(age_years))?;
        let patient = case["patient"].as_object_mut().context("patient is an object")?;
        patient.remove("age_years");
        patient.insert("birth_date".to_owned(), json!(birth.to_string()));
    }
    Ok(case)
}

/// Enters a case (in the assess format) into the patient's chart, one record per section entry, as a
/// clinic would at intake: the nurse records the history, the prescriber the overrides. Records are
/// dated before the case's `as_of`, so the chart evaluated as of that date is the case.
async fn enter_case_into_chart(
    app: &App,
    nurse: &Actor,
    prescriber: &Actor,
    patient_id: &str,
    case: &Value,
) -> anyhow::Result<()> {
    let as_of: Date = case["as_of"].as_str().unwrap_or("2026-11-28").parse()?;
    let intake = as_of.checked_sub(jiff::Span::new().days(27))?.to_string();
    let screening = as_of.checked_sub(jiff::Span::new().days(8))?.to_string();
    let record = |actor: &Actor, section: &'static str, body: Value| {
        let actor = actor.clone();
        async move { app.create_chart_record(&actor, patient_id, section, &body, None).await }
    };
    let mut episode = case["episode"].clone();
    if let Some(ect) = case.get("ect") {
        episode["ect"] = ect.clone();
    }
    let episode_id = record(nurse, "episodes", episode).await?.resource_id;
    for code in case["history"].as_array().into_iter().flatten() {
        record(nurse, "history", json!({ "code": code, "noted_on": intake })).await?;
    }
    for class in case["concomitant"].as_array().into_iter().flatten() {
        record(nurse, "concomitant", json!({ "class": class })).await?;
    }
    for trial in case["trials"].as_array().into_iter().flatten() {
        let mut trial = trial.clone();
        trial["episode_id"] = json!(episode_id);
        record(nurse, "trials", trial).await?;
    }
    let mut measurement = json!({ "measured_on": intake });
    for key in ["height_cm", "weight_kg", "pregnant", "breastfeeding"] {
        if let Some(value) = case["patient"].get(key) {
            measurement[key] = value.clone();
        }
    }
    record(nurse, "measurements", measurement).await?;
    for reading in case["bp"].as_array().into_iter().flatten() {
        let reading =
            json!({ "measured_on": screening, "systolic": reading["systolic"], "diastolic": reading["diastolic"] });
        record(nurse, "blood_pressures", reading).await?;
    }
    for (scale, entry) in case["scales"].as_object().into_iter().flatten() {
        let kind = if entry.is_array() { "items" } else { "total" };
        record(nurse, "scales", json!({ "scale": scale, "administered_on": screening, kind: entry })).await?;
    }
    if let Some(answers) = case.get("cssrs") {
        record(nurse, "scales", json!({ "scale": "cssrs", "administered_on": screening, "answers": answers })).await?;
    }
    for entry in case["overrides"].as_array().into_iter().flatten() {
        record(prescriber, "overrides", json!({ "rule": entry["rule"], "reason": entry["reason"] })).await?;
    }
    Ok(())
}
