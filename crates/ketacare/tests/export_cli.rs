//! `ketacare export --fhir-bundle PATIENT_ID`: prints the Bundle the API's `$everything` answers (the
//! same resources; only the Bundle's own id and timestamp differ), and an unknown patient fails.

use std::process::{Command, Output};

use ketacare_app::{Actor, App, NewAccount, PatientInput, Role};
use ketacare_core::protocol::Protocol;
use serde_json::{Value, json};

fn ketacare(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ketacare")).args(arguments).env_remove("KETACARE_DATABASE_URL").output().unwrap()
}

fn without_bundle_identity(mut bundle: Value) -> Value {
    let object = bundle.as_object_mut().unwrap();
    object.remove("id");
    object.remove("timestamp");
    bundle
}

#[test]
fn the_cli_prints_the_bundle_the_api_gives() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("export.db").display());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (patient_id, from_the_api) = runtime.block_on(async {
        let app = App::open(&url, Protocol::shipped()).await.unwrap();
        let account = NewAccount {
            username: "nurse".to_owned(),
            password: "correct horse battery nurse".to_owned(),
            role: Role::Nurse,
            must_change_password: false,
        };
        let user_id = app.create_user(None, &account).await.unwrap();
        let nurse = Actor { user_id, role: Role::Nurse, request_id: "test".to_owned() };
        let input = PatientInput {
            mrn: Some("MRN-7".to_owned()),
            given_name: "Ada".to_owned(),
            family_name: "Lovelace".to_owned(),
            birth_date: "1984-05-02".to_owned(),
            sex_at_birth: "female".to_owned(),
        };
        let patient_id = app.create_patient(&nurse, &input, None).await.unwrap().resource_id;
        let episode = json!({ "diagnosis": "F33.2", "onset_date": "2026-01-28", "severity": "moderate", "psychotic_features": false });
        let created = app.create_chart_record(&nurse, &patient_id, "episodes", &episode, None).await.unwrap();
        let episode_id = created.body["record"]["record_id"].as_str().unwrap().to_owned();
        let trial = json!({ "episode_id": episode_id, "drug": "sertraline", "daily_dose_mg": 150, "weeks": 8, "improvement_pct": 10 });
        app.create_chart_record(&nurse, &patient_id, "trials", &trial, None).await.unwrap();
        let phq9 = json!({ "scale": "phq9", "administered_on": "2026-11-20", "items": [2, 2, 2, 2, 2, 2, 2, 2, 1] });
        app.create_chart_record(&nurse, &patient_id, "scales", &phq9, None).await.unwrap();
        let bundle = app.fhir_patient_everything(&nurse, &patient_id).await.unwrap();
        app.close().await;
        (patient_id, serde_json::to_value(bundle).unwrap())
    });
    let output = ketacare(&["export", "--fhir-bundle", &patient_id, "--database", &url]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["resourceType"], "Bundle");
    assert_eq!(without_bundle_identity(printed), without_bundle_identity(from_the_api));

    let missing = ketacare(&["export", "--fhir-bundle", "no-such-patient", "--database", &url]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no-such-patient"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
