//! `POST /fhir/r4` through the router, on SQLite and, when configured, PostgreSQL: every vignette entered
//! through the chart API, exported, imported into a fresh database and exported again gives the same
//! resources (ignoring what the server assigns) and the same decision; importing it again changes
//! nothing and says so; malformed bundles are refused with an OperationOutcome naming the element and
//! leave the database as it was; an unresolved drug is kept as written and reported; the import is audited.
//! The Bulk Data `$export` flow over HTTP: kick-off, polling, the manifest, downloads that hold exactly the
//! records `$everything` gives (valid against HL7's schema), analysts' files de-identified, cancel and expiry.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use ketacare_app::{App, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::{WebConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

#[path = "../../ketacare-fhir/tests/support/round_trip.rs"]
mod round_trip;

/// HL7's FHIR R4 JSON Schema and the checks of ketacare-fhir's own tests.
#[path = "../../ketacare-fhir/tests/support/mod.rs"]
mod fhir_support;

struct Reply {
    status: StatusCode,
    body: Value,
}

/// A router with a bearer token per role.
struct Api {
    router: Router,
    tokens: Vec<(Role, String)>,
}

/// An answer with its headers and raw body (an NDJSON file is not one JSON value).
struct RawReply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
}

impl RawReply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&self.bytes)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |value| value.to_str().unwrap())
    }
}

impl Api {
    async fn new(store: ketacare_store::Store) -> Api {
        Api::with_app(App::new(store, Protocol::shipped())).await
    }

    async fn with_app(app: App) -> Api {
        for role in Role::ALL {
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: format!("correct horse battery {}", role.as_str()),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
        }
        let mut api = Api { router: router(app, WebConfig::default()), tokens: Vec::new() };
        for role in Role::ALL {
            let login =
                json!({ "username": role.as_str(), "password": format!("correct horse battery {}", role.as_str()) });
            let request = Request::post("/api/v1/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(login.to_string()))
                .unwrap();
            let response = api.router.clone().oneshot(request).await.unwrap();
            let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let csrf = serde_json::from_slice::<Value>(&bytes).unwrap()["csrf_token"].as_str().unwrap().to_owned();
            let request = Request::post("/api/v1/tokens")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, cookie)
                .header("x-csrf-token", csrf)
                .body(Body::from(r#"{"label":"t"}"#))
                .unwrap();
            let response = api.router.clone().oneshot(request).await.unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let token = serde_json::from_slice::<Value>(&bytes).unwrap()["token"].as_str().unwrap().to_owned();
            api.tokens.push((role, token));
        }
        api
    }

    fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(each, _)| *each == role).unwrap().1
    }

    /// A request as `role` (`None`: no credentials) with `headers`, answered with its headers and bytes.
    async fn raw(&self, method: &str, path: &str, role: Option<Role>, headers: &[(&str, &str)]) -> RawReply {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header("host", "ketacare.test");
        if let Some(role) = role {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", self.token(role)));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        RawReply { status, headers, bytes }
    }

    async fn call(&self, method: &str, path: &str, role: Role, body: Option<String>, content_type: &str) -> Reply {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token(role)));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Body::from(body.unwrap_or_default())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        Reply { status, body }
    }

    async fn get(&self, path: &str) -> Value {
        let reply = self.call("GET", path, Role::Nurse, None, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        reply.body
    }

    async fn import(&self, bundle: &Value) -> Reply {
        self.call("POST", "/fhir/r4", Role::Nurse, Some(bundle.to_string()), "application/fhir+json").await
    }

    async fn record(&self, patient_id: &str, section: &str, body: Value) -> Value {
        let path = format!("/api/v1/patients/{patient_id}/chart/{section}");
        let reply = self.call("POST", &path, Role::Nurse, Some(body.to_string()), "application/json").await;
        assert_eq!(reply.status, StatusCode::CREATED, "{section}: {}", reply.body);
        reply.body
    }

    async fn audit_events(&self) -> Vec<Value> {
        let reply = self.call("GET", "/api/v1/audit/events?limit=1000", Role::Auditor, None, "").await;
        reply.body["events"].as_array().unwrap().clone()
    }

    async fn patient_total(&self) -> i64 {
        self.get("/api/v1/patients?include_entered_in_error=true").await["total"].as_i64().unwrap()
    }
}

/// A fresh SQLite database of its own, as the export's side of a round trip.
async fn fresh_sqlite() -> (ketacare_store::Store, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("source.db").display());
    (ketacare_store::Store::open(&url).await.unwrap(), directory)
}

fn vignettes_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vignettes")
}

fn vignette_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vignettes_dir())
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
        .filter_map(|file| file.strip_suffix(".case.json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The case with a birth date in place of an age (a chart keeps the birth date).
fn vignette(name: &str) -> Value {
    let text = std::fs::read_to_string(vignettes_dir().join(format!("{name}.case.json"))).unwrap();
    let mut case: Value = serde_json::from_str(&text).unwrap();
    if let Some(age) = case["patient"]["age_years"].as_i64() {
        let as_of: jiff::civil::Date = case["as_of"].as_str().unwrap().parse().unwrap();
        let birth = jiff::civil::date(as_of.year() - age as i16, as_of.month(), as_of.day());
        let patient = case["patient"].as_object_mut().unwrap();
        patient.remove("age_years");
        patient.insert("birth_date".to_owned(), json!(birth.to_string()));
    }
    case
}

/// Enters a vignette into a new patient's chart through the API (as chart_api.rs does), with an MRN.
async fn enter_vignette(api: &Api, name: &str, case: &Value) -> String {
    let patient = &case["patient"];
    let body = json!({ "mrn": format!("MRN-{name}"), "given_name": "Vignette", "family_name": name,
        "birth_date": patient["birth_date"], "sex_at_birth": patient["sex_at_birth"] });
    let reply = api.call("POST", "/api/v1/patients", Role::Nurse, Some(body.to_string()), "application/json").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let patient_id = reply.body["patient_id"].as_str().unwrap().to_owned();
    let mut episode = case["episode"].clone();
    if let Some(ect) = case.get("ect") {
        episode["ect"] = ect.clone();
    }
    let episode_id = api.record(&patient_id, "episodes", episode).await["record"]["record_id"].clone();
    for code in case["history"].as_array().into_iter().flatten() {
        api.record(&patient_id, "history", json!({ "code": code, "noted_on": "2026-10-01" })).await;
    }
    for class in case["concomitant"].as_array().into_iter().flatten() {
        api.record(&patient_id, "concomitant", json!({ "class": class })).await;
    }
    for trial in case["trials"].as_array().into_iter().flatten() {
        let mut trial = trial.clone();
        trial["episode_id"] = episode_id.clone();
        api.record(&patient_id, "trials", trial).await;
    }
    let mut measurement = json!({ "measured_on": "2026-11-01" });
    for key in ["height_cm", "weight_kg", "pregnant", "breastfeeding"] {
        if let Some(value) = patient.get(key) {
            measurement[key] = value.clone();
        }
    }
    api.record(&patient_id, "measurements", measurement).await;
    for reading in case["bp"].as_array().into_iter().flatten() {
        let reading =
            json!({ "measured_on": "2026-11-20", "systolic": reading["systolic"], "diastolic": reading["diastolic"] });
        api.record(&patient_id, "blood_pressures", reading).await;
    }
    for (scale, entry) in case["scales"].as_object().into_iter().flatten() {
        let kind = if entry.is_array() { "items" } else { "total" };
        api.record(&patient_id, "scales", json!({ "scale": scale, "administered_on": "2026-11-20", kind: entry }))
            .await;
    }
    if let Some(answers) = case.get("cssrs") {
        api.record(
            &patient_id,
            "scales",
            json!({ "scale": "cssrs", "administered_on": "2026-11-20", "answers": answers }),
        )
        .await;
    }
    patient_id
}

/// The patient id an import's OperationOutcome names for the Patient at `entry`.
fn imported_patient_id(outcome: &Value, entry: usize) -> String {
    let expression = json!(format!("Bundle.entry[{entry}].resource"));
    let issue = outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|issue| issue["severity"] == "information" && issue["expression"][0] == expression)
        .unwrap_or_else(|| panic!("no result for entry {entry}: {outcome}"));
    let text = issue["diagnostics"].as_str().unwrap();
    text.strip_prefix("Patient/").unwrap().split(':').next().unwrap().to_owned()
}

fn diagnostics(outcome: &Value) -> String {
    outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| issue["diagnostics"].as_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_vignette_round_trips_through_import_into_a_fresh_database() {
    each_backend(|target_db| async move {
        let (source_store, _directory) = fresh_sqlite().await;
        let source = Api::new(source_store).await;
        let target = Api::new(target_db.store).await;
        for name in vignette_names() {
            let case = vignette(&name);
            let source_id = enter_vignette(&source, &name, &case).await;
            let exported = source.get(&format!("/fhir/r4/Patient/{source_id}/$everything")).await;
            // Imported back where it came from, the export changes nothing: the patient is found by its
            // MRN and every record by its content.
            let home = source.import(&exported).await;
            assert_eq!(home.status, StatusCode::OK, "{name}: {}", home.body);
            assert!(diagnostics(&home.body).contains("unchanged"), "{name}: {}", home.body);
            assert_eq!(imported_patient_id(&home.body, 0), source_id);

            let reply = target.import(&exported).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
            assert_eq!(reply.body["resourceType"], "OperationOutcome");
            let target_id = imported_patient_id(&reply.body, 0);
            let summary = diagnostics(&reply.body);
            assert!(summary.contains("new patient") && summary.contains("TRD label definition"), "{name}: {summary}");

            let again = target.get(&format!("/fhir/r4/Patient/{target_id}/$everything")).await;
            let (lost, gained) = round_trip::differences(&exported, &again);
            assert!(lost.is_empty() && gained.is_empty(), "{name}: lost {lost:#?}\ngained {gained:#?}");

            // The same decision on both sides, as of the vignette's day.
            let evaluation = |id: &str| {
                format!(
                    "/api/v1/patients/{id}/evaluation?as_of={}&modality={}&jurisdiction={}",
                    case["as_of"].as_str().unwrap(),
                    case["modality"].as_str().unwrap_or("both"),
                    case["jurisdiction"].as_str().unwrap_or("US")
                )
            };
            let mut before = source.get(&evaluation(&source_id)).await["report"].clone();
            let mut after = target.get(&evaluation(&target_id)).await["report"].clone();
            before["patient_id"] = Value::Null;
            after["patient_id"] = Value::Null;
            assert_eq!(before, after, "{name}: the imported chart decides differently");

            // Importing the same bundle again changes nothing, and says so.
            let patients = target.patient_total().await;
            let repeated = target.import(&exported).await;
            assert_eq!(repeated.status, StatusCode::OK, "{name}: {}", repeated.body);
            assert!(diagnostics(&repeated.body).contains("unchanged"), "{name}: {}", repeated.body);
            assert_eq!(imported_patient_id(&repeated.body, 0), target_id);
            assert_eq!(target.patient_total().await, patients);
            let unchanged = target.get(&format!("/fhir/r4/Patient/{target_id}/$everything")).await;
            assert_eq!(
                round_trip::comparable_resources(&unchanged),
                round_trip::comparable_resources(&again),
                "{name}"
            );
            // And the re-export imports as unchanged too: import(export(import(x))) is a fixed point.
            let fixed = target.import(&unchanged).await;
            assert!(diagnostics(&fixed.body).contains("unchanged"), "{name}: {}", fixed.body);
        }
        // Audited as the API's writes: the nurse created each patient and its records.
        let events = target.audit_events().await;
        let by_nurse = |action: &str| {
            events.iter().filter(|event| event["action"] == action && event["actor_role"] == "nurse").count()
        };
        assert_eq!(by_nurse("patient.create"), vignette_names().len());
        assert!(by_nurse("chart.create") >= 5 * vignette_names().len());
        assert!(by_nurse("chart.evaluate") >= vignette_names().len());
    })
    .await;
}

/// A small valid bundle: one patient with an episode and a trial.
fn small_bundle(mrn: &str) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            { "fullUrl": "urn:uuid:7a2c0d8e-0000-4000-8000-000000000001", "request": { "method": "POST", "url": "Patient" },
              "resource": { "resourceType": "Patient",
                "identifier": [{ "system": "https://ketacare.org/fhir/sid/mrn", "value": mrn }],
                "name": [{ "use": "official", "family": "Lovelace", "given": ["Ada"] }],
                "gender": "female", "birthDate": "1984-05-02" } },
            { "fullUrl": "urn:uuid:7a2c0d8e-0000-4000-8000-000000000002", "request": { "method": "POST", "url": "Condition" },
              "resource": { "resourceType": "Condition",
                "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
                "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.2" }] },
                "subject": { "reference": "urn:uuid:7a2c0d8e-0000-4000-8000-000000000001" },
                "onsetDateTime": "2026-01-28" } },
            { "fullUrl": "urn:uuid:7a2c0d8e-0000-4000-8000-000000000003", "request": { "method": "POST", "url": "MedicationStatement" },
              "resource": { "resourceType": "MedicationStatement", "status": "completed",
                "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "36437" }], "text": "sertraline" },
                "subject": { "reference": "urn:uuid:7a2c0d8e-0000-4000-8000-000000000001" },
                "reasonReference": [{ "reference": "urn:uuid:7a2c0d8e-0000-4000-8000-000000000002" }],
                "dosage": [{ "doseAndRate": [{ "doseQuantity": { "value": 150, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg" } }] }],
                "extension": [{ "url": "https://ketacare.org/fhir/StructureDefinition/trial-weeks", "valueDecimal": 8 }] } },
            { "fullUrl": "urn:uuid:7a2c0d8e-0000-4000-8000-000000000004", "request": { "method": "POST", "url": "Observation" },
              "resource": { "resourceType": "Observation", "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "29463-7" }] },
                "subject": { "reference": "urn:uuid:7a2c0d8e-0000-4000-8000-000000000001" },
                "effectiveDateTime": "2026-11-01",
                "valueQuantity": { "value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg" } } }
        ]
    })
}

#[tokio::test]
async fn malformed_imports_are_refused_by_element_and_change_nothing() {
    each_backend(|db| async move {
        let api = Api::new(db.store).await;
        let accepted = api.import(&small_bundle("MRN-OK")).await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
        let patients = api.patient_total().await;
        let exported_before =
            api.get(&format!("/fhir/r4/Patient/{}/$everything", imported_patient_id(&accepted.body, 0))).await;

        // (what is wrong, the bundle, the FHIRPath and issue code the OperationOutcome must name)
        let mut cases: Vec<(&str, Value, String, &str)> = Vec::new();
        let mut bundle = small_bundle("MRN-1");
        bundle["entry"][2]["resource"]["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"] = json!(-150);
        cases.push((
            "a negative dose (the chart's own reader)",
            bundle,
            "Bundle.entry[2].resource.dosage[0].doseAndRate[0].doseQuantity.value".into(),
            "value",
        ));
        let mut bundle = small_bundle("MRN-2");
        bundle["entry"][3]["resource"]["valueQuantity"]["value"] = json!(900);
        cases.push(("an implausible weight", bundle, "Bundle.entry[3].resource.valueQuantity.value".into(), "value"));
        let mut bundle = small_bundle("MRN-3");
        bundle["entry"][1]["resource"]["onsetDateTime"] = json!("2099-01-01");
        cases.push(("an onset after today", bundle, "Bundle.entry[1].resource.onsetDateTime".into(), "value"));
        let mut bundle = small_bundle("MRN-4");
        bundle["entry"][0]["resource"]["birthDate"] = json!("1850-01-01");
        cases.push(("a birth date before 1900", bundle, "Bundle.entry[0].resource.birthDate".into(), "value"));
        let mut bundle = small_bundle("MRN-5");
        bundle["entry"][0]["resource"]["name"][0]["family"] = json!("Love\u{0007}lace");
        cases.push(("a control character", bundle, "Bundle.entry[0].resource.name[0].family".into(), "structure"));
        let mut bundle = small_bundle("MRN-6");
        bundle["entry"][2]["resource"]["subject"]["reference"] = json!("Patient/elsewhere");
        cases.push((
            "a reference to a missing resource",
            bundle,
            "Bundle.entry[2].resource.subject.reference".into(),
            "not-found",
        ));
        let mut bundle = small_bundle("MRN-7");
        bundle["entry"][2]["resource"]["medicationCodeableConcept"]["coding"][0]["code"] = json!("1");
        cases.push((
            "an unknown RxNorm code",
            bundle,
            "Bundle.entry[2].resource.medicationCodeableConcept.coding[0].code".into(),
            "code-invalid",
        ));
        // Two patients, the second wrong: neither is written.
        let mut bundle = small_bundle("MRN-8");
        let mut second = small_bundle("MRN-9")["entry"][0].clone();
        second["fullUrl"] = json!("urn:uuid:7a2c0d8e-0000-4000-8000-000000000009");
        second["resource"]["gender"] = json!("unknown");
        bundle["entry"].as_array_mut().unwrap().push(second);
        cases.push(("a second patient refused", bundle, "Bundle.entry[4].resource.gender".into(), "value"));
        // The MRN of the patient already imported, with another birth date.
        let mut bundle = small_bundle("MRN-OK");
        bundle["entry"][0]["resource"]["birthDate"] = json!("1985-05-02");
        cases.push(("an MRN that names another patient", bundle, "Bundle.entry[0].resource".into(), "conflict"));
        let mut bundle = small_bundle("MRN-10");
        bundle["entry"][2]["resource"]["statusReason"] = json!([{ "text": "x".repeat(10 * 1024 * 1024) }]);
        cases.push(("a 10 MB string", bundle, "Bundle.entry[2].resource.statusReason[0].text".into(), "too-long"));
        let bundle = json!({ "resourceType": "Bundle", "type": "collection",
            "entry": vec![json!({ "resource": { "resourceType": "Observation" } }); 100_000] });
        cases.push(("a bundle of 100,000 entries", bundle, "Bundle.entry".into(), "too-costly"));

        for (what, bundle, expression, code) in cases {
            let reply = api.import(&bundle).await;
            assert_eq!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{what}: {}",
                reply.body.to_string().chars().take(600).collect::<String>()
            );
            assert_eq!(reply.body["resourceType"], "OperationOutcome", "{what}");
            let named = reply.body["issue"].as_array().unwrap().iter().any(|issue| {
                issue["severity"] == "error" && issue["code"] == code && issue["expression"][0] == json!(expression)
            });
            assert!(
                named,
                "{what}: expected {code} at {expression}, got {}",
                reply.body.to_string().chars().take(1500).collect::<String>()
            );
            assert_eq!(api.patient_total().await, patients, "{what}: the database changed");
        }
        let exported_after =
            api.get(&format!("/fhir/r4/Patient/{}/$everything", imported_patient_id(&accepted.body, 0))).await;
        assert_eq!(
            round_trip::comparable_resources(&exported_after),
            round_trip::comparable_resources(&exported_before)
        );

        // Not JSON at all; not declared as JSON.
        let reply = api
            .call("POST", "/fhir/r4", Role::Nurse, Some("{\"resourceType\": ".to_owned()), "application/fhir+json")
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.body["issue"][0]["code"], "structure");
        let reply =
            api.call("POST", "/fhir/r4", Role::Nurse, Some(small_bundle("MRN-11").to_string()), "text/plain").await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(reply.body["resourceType"], "OperationOutcome");
        // Refusals are audited as fhir.import, invalid; analysts may not import.
        let reply = api
            .call("POST", "/fhir/r4", Role::Analyst, Some(small_bundle("MRN-12").to_string()), "application/fhir+json")
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        let events = api.audit_events().await;
        let refused =
            events.iter().filter(|event| event["action"] == "fhir.import" && event["outcome"] == "invalid").count();
        assert!(refused >= 11, "{refused} refusals audited");
        assert!(events.iter().any(|event| event["action"] == "fhir.import" && event["outcome"] == "denied"));
        assert_eq!(api.patient_total().await, patients);
    })
    .await;
}

#[tokio::test]
async fn an_unresolved_drug_is_kept_as_written_and_reported_never_guessed() {
    each_backend(|db| async move {
        let api = Api::new(db.store).await;
        let mut bundle = small_bundle("MRN-U");
        let medication = &mut bundle["entry"][2]["resource"]["medicationCodeableConcept"];
        medication.as_object_mut().unwrap().remove("coding");
        medication["text"] = json!("sertraline per Dr X's letter");
        let reply = api.import(&bundle).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let warned = reply.body["issue"].as_array().unwrap().iter().any(|issue| {
            issue["severity"] == "warning"
                && issue["code"] == "code-invalid"
                && issue["expression"][0] == "Bundle.entry[2].resource.medicationCodeableConcept.text"
        });
        assert!(warned, "{}", reply.body);
        let patient_id = imported_patient_id(&reply.body, 0);
        let evaluation = api.get(&format!("/api/v1/patients/{patient_id}/evaluation")).await;
        let trial = &evaluation["report"]["trd"]["trials"][0];
        assert_eq!(trial["drug"], "sertraline per Dr X's letter", "{evaluation}");
        assert!(trial["reasons"].as_array().unwrap().contains(&json!("UNKNOWN_DRUG")), "{evaluation}");
    })
    .await;
}

/// A kick-off that is refused: query, headers, and the status, issue code and expression expected.
type KickOffCase<'a> = (&'a str, &'a [(&'a str, &'a str)], StatusCode, &'a str, &'a str);

/// The path of an absolute URL the server gave (`http://ketacare.test/fhir/…` → `/fhir/…`).
fn path_of(url: &str) -> String {
    url.strip_prefix("http://ketacare.test").unwrap_or_else(|| panic!("not this server's URL: {url}")).to_owned()
}

/// Kicks off an export as `role` and polls its status until it is complete; returns the status path and
/// the manifest.
async fn run_export(api: &Api, role: Role, query: &str) -> (String, Value) {
    let kick_off = api
        .raw(
            "GET",
            &format!("/fhir/r4/$export{query}"),
            Some(role),
            &[("prefer", "respond-async"), ("accept", "application/fhir+json")],
        )
        .await;
    assert_eq!(kick_off.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&kick_off.bytes));
    let status_path = path_of(kick_off.header("content-location"));
    assert!(status_path.starts_with("/fhir/r4/$export-status/"), "{status_path}");
    for _ in 0..600 {
        let status = api.raw("GET", &status_path, Some(role), &[]).await;
        match status.status {
            StatusCode::ACCEPTED => {
                assert!(status.header("x-progress").ends_with(" patients"), "{}", status.header("x-progress"));
                assert_eq!(status.header("retry-after"), "2");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            StatusCode::OK => {
                assert!(!status.header("expires").is_empty(), "a complete export says when its files go");
                return (status_path, status.json());
            }
            other => panic!("status {other}: {}", String::from_utf8_lossy(&status.bytes)),
        }
    }
    panic!("the export did not complete in 30 s");
}

/// Every file of a manifest, downloaded as `role`: each line one resource, as many as the manifest counts.
async fn download(api: &Api, role: Role, manifest: &Value) -> Vec<Value> {
    let mut resources = Vec::new();
    for output in manifest["output"].as_array().unwrap() {
        let file = api.raw("GET", &path_of(output["url"].as_str().unwrap()), Some(role), &[]).await;
        assert_eq!(file.status, StatusCode::OK, "{}", String::from_utf8_lossy(&file.bytes));
        assert_eq!(file.header("content-type"), "application/fhir+ndjson");
        let text = String::from_utf8(file.bytes).unwrap();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len() as u64, output["count"].as_u64().unwrap(), "{output}");
        assert!(lines.iter().all(|resource| resource["resourceType"] == output["type"]), "{output}");
        resources.extend(lines);
    }
    resources
}

/// The first date a resource carries (as the export writes them), for comparing two exports.
fn first_date(resource: &Value) -> Option<jiff::civil::Date> {
    ["effectiveDateTime", "onsetDateTime", "recordedDate", "dateAsserted", "effectiveDateTime"]
        .iter()
        .find_map(|key| resource[key].as_str())
        .or_else(|| resource["effectivePeriod"]["start"].as_str())
        .and_then(|text| text.get(..10)?.parse().ok())
}

#[tokio::test]
async fn the_bulk_export_gives_every_record_once_de_identified_for_analysts_then_cancels_and_expires() {
    each_backend(|db| async move {
        let folder = tempfile::tempdir().unwrap();
        let lifetime = std::time::Duration::from_secs(4);
        let app = App::new(db.store, Protocol::shipped()).with_bulk_export_settings(folder.path(), lifetime);
        let api = Api::with_app(app).await;
        let names = vignette_names();
        let mut patient_ids = Vec::new();
        for name in names.iter().take(3) {
            patient_ids.push(enter_vignette(&api, name, &vignette(name)).await);
        }

        // Refusals, each an OperationOutcome naming what is wrong; permission first.
        let respond_async = [("prefer", "respond-async")];
        let anonymous = api.raw("GET", "/fhir/r4/$export", None, &respond_async).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
        assert_eq!(anonymous.header("content-type"), "application/fhir+json");
        assert_eq!(anonymous.json()["issue"][0]["code"], "login");
        assert!(!anonymous.header("www-authenticate").is_empty());
        for role in [Role::Nurse, Role::Prescriber, Role::Auditor] {
            let refused = api.raw("GET", "/fhir/r4/$export?_since=bad", Some(role), &respond_async).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{role:?}");
            assert_eq!(refused.json()["issue"][0]["code"], "forbidden");
        }
        let cases: [KickOffCase; 6] = [
            ("", &[], StatusCode::BAD_REQUEST, "required", "Prefer"),
            (
                "",
                &[("prefer", "respond-async"), ("accept", "text/csv")],
                StatusCode::NOT_ACCEPTABLE,
                "not-supported",
                "Accept",
            ),
            ("?_since=2026-01-01T00:00:00Z", &respond_async, StatusCode::BAD_REQUEST, "not-supported", "_since"),
            ("?_outputFormat=text/csv", &respond_async, StatusCode::BAD_REQUEST, "value", "_outputFormat"),
            ("?_count=10", &respond_async, StatusCode::BAD_REQUEST, "value", "_count"),
            ("?_type=Claim", &respond_async, StatusCode::UNPROCESSABLE_ENTITY, "value", "_type"),
        ];
        let mut failures = Vec::new();
        for (query, headers, status, code, expression) in cases {
            let reply = api.raw("GET", &format!("/fhir/r4/$export{query}"), Some(Role::Admin), headers).await;
            let outcome = reply.json();
            if reply.status != status
                || outcome["issue"][0]["code"] != code
                || outcome["issue"][0]["expression"][0] != expression
            {
                failures.push(format!("{query} {headers:?}: {} {outcome}", reply.status));
            }
        }
        assert!(failures.is_empty(), "refusals not as expected:\n{}", failures.join("\n"));

        // An admin's export: exactly the resources of each patient's $everything, valid against HL7's schema.
        let (status_path, manifest) = run_export(&api, Role::Admin, "?_outputFormat=application/fhir%2Bndjson").await;
        assert_eq!(manifest["request"], "http://ketacare.test/fhir/r4/$export?_outputFormat=application/fhir%2Bndjson");
        assert_eq!(manifest["requiresAccessToken"], true);
        assert_eq!(manifest["error"], json!([]));
        let (audit_events, exported): (Vec<Value>, Vec<Value>) = download(&api, Role::Admin, &manifest)
            .await
            .into_iter()
            .partition(|resource| resource["resourceType"] == "AuditEvent");
        // With the audit log up to the kick-off, as AuditEvents: each write of the charts entered above
        // names its patient, account and role, and carries its place in the hash chain.
        assert!(!audit_events.is_empty(), "an admin's export carries the audit log");
        let sequence: Vec<i64> = audit_events
            .iter()
            .map(|event| event["id"].as_str().unwrap().strip_prefix("audit-").unwrap().parse().unwrap())
            .collect();
        assert!(sequence.windows(2).all(|pair| pair[0] < pair[1]), "in the log's order: {sequence:?}");
        let chart_writes: Vec<&Value> =
            audit_events.iter().filter(|event| event["subtype"][0]["code"] == "chart.create").collect();
        assert!(!chart_writes.is_empty(), "{audit_events:#?}");
        for event in &chart_writes {
            assert_eq!(event["action"], "C", "{event}");
            assert_eq!(event["outcome"], "0", "{event}");
            assert_eq!(event["agent"][0]["role"][0]["coding"][0]["code"], "nurse", "{event}");
            let patient = event["entity"][0]["what"]["reference"].as_str().unwrap();
            assert!(patient_ids.iter().any(|id| patient == format!("Patient/{id}")), "{event}");
            assert!(event["extension"][0]["valueString"].as_str().unwrap().starts_with("sha256:"), "{event}");
        }
        assert!(
            audit_events.iter().all(|event| event["subtype"][0]["code"] != "fhir.bulk_export.download"),
            "nothing after the kick-off"
        );
        let mut expected = Vec::new();
        for patient_id in &patient_ids {
            let everything =
                api.raw("GET", &format!("/fhir/r4/Patient/{patient_id}/$everything"), Some(Role::Admin), &[]).await;
            expected.extend(
                everything.json()["entry"].as_array().unwrap().iter().map(|entry| entry["resource"].to_string()),
            );
        }
        let mut exported_text: Vec<String> = exported.iter().map(Value::to_string).collect();
        exported_text.sort();
        expected.sort();
        assert_eq!(exported_text, expected, "the export holds each patient's $everything, once");
        let mut validators = fhir_support::FhirValidators::new();
        let invalid: Vec<String> =
            exported.iter().chain(&audit_events).flat_map(|resource| validators.errors(resource)).collect();
        assert!(invalid.is_empty(), "{invalid:#?}");
        // The audit log names accounts: never in an analyst's export.
        let refused = api
            .raw("GET", "/fhir/r4/$export?_type=AuditEvent", Some(Role::Analyst), &[("prefer", "respond-async")])
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", String::from_utf8_lossy(&refused.bytes));
        assert_eq!(refused.json()["issue"][0]["expression"][0], "_type");
        // Another account cannot see the job, its status or its files.
        let foreign = api.raw("GET", &status_path, Some(Role::Analyst), &[]).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        let file_path = path_of(manifest["output"][0]["url"].as_str().unwrap());
        assert_eq!(api.raw("GET", &file_path, Some(Role::Analyst), &[]).await.status, StatusCode::NOT_FOUND);

        // An analyst's export: no names, MRNs, birth dates or stop reasons; the pseudonym as the patient's
        // id; each patient's dates moved by one offset, not zero.
        let (_, analyst_manifest) = run_export(&api, Role::Analyst, "").await;
        assert_eq!(analyst_manifest["extension"]["https://ketacare.org/fhir/bulk-export/de-identified"], true);
        let de_identified = download(&api, Role::Analyst, &analyst_manifest).await;
        assert_eq!(de_identified.len(), exported.len());
        let text = de_identified.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
        for identifying in ["\"name\"", "\"identifier\"", "MRN-", "Vignette", "statusReason"] {
            assert!(!text.contains(identifying), "{identifying} in an analyst's export");
        }
        let patients: Vec<&Value> =
            de_identified.iter().filter(|resource| resource["resourceType"] == "Patient").collect();
        assert_eq!(patients.len(), patient_ids.len());
        for patient in &patients {
            assert!(patient["id"].as_str().unwrap().starts_with("KC-"), "{patient}");
            assert_eq!(patient["birthDate"].as_str().unwrap().len(), 4, "{patient}");
        }
        let invalid: Vec<String> = de_identified.iter().flat_map(|resource| validators.errors(resource)).collect();
        assert!(invalid.is_empty(), "{invalid:#?}");
        let mut shifts: std::collections::BTreeMap<String, std::collections::BTreeSet<i64>> = Default::default();
        for resource in &de_identified {
            let Some(original) = exported
                .iter()
                .find(|each| each["id"] == resource["id"] && each["resourceType"] == resource["resourceType"])
            else {
                continue;
            };
            if let (Some(before), Some(after)) = (first_date(original), first_date(resource)) {
                let subject = resource["subject"]["reference"].as_str().unwrap_or("?").to_owned();
                shifts.entry(subject).or_default().insert(before.until(after).unwrap().get_days().into());
            }
        }
        assert_eq!(shifts.len(), patient_ids.len(), "{shifts:#?}");
        for (subject, days) in &shifts {
            assert!(subject.starts_with("Patient/KC-"), "{subject}");
            assert_eq!(days.len(), 1, "one offset per patient: {subject} {days:?}");
            let days = *days.first().unwrap();
            assert!(days != 0 && days.abs() <= 182, "{subject} {days}");
        }

        // Cancelling: 202, then the status and the files are gone.
        let (cancelled_path, cancelled_manifest) = run_export(&api, Role::Admin, "?_type=Patient").await;
        assert_eq!(cancelled_manifest["output"].as_array().unwrap().len(), 1);
        let cancel = api.raw("DELETE", &cancelled_path, Some(Role::Admin), &[]).await;
        assert_eq!(cancel.status, StatusCode::ACCEPTED);
        assert_eq!(api.raw("GET", &cancelled_path, Some(Role::Admin), &[]).await.status, StatusCode::NOT_FOUND);
        let cancelled_file = path_of(cancelled_manifest["output"][0]["url"].as_str().unwrap());
        assert_eq!(api.raw("GET", &cancelled_file, Some(Role::Admin), &[]).await.status, StatusCode::NOT_FOUND);

        // Expiry: after the lifetime the status URL and the files answer 404, and the files are deleted.
        tokio::time::sleep(lifetime + std::time::Duration::from_millis(200)).await;
        let expired = api.raw("GET", &status_path, Some(Role::Admin), &[]).await;
        assert_eq!(expired.status, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&expired.bytes));
        assert_eq!(expired.json()["issue"][0]["code"], "not-found");
        assert_eq!(api.raw("GET", &file_path, Some(Role::Admin), &[]).await.status, StatusCode::NOT_FOUND);
        let left: Vec<_> = walk_files(folder.path());
        assert!(left.is_empty(), "files left after expiry and cancel: {left:?}");

        // Audited: the kick-offs, each patient read by each job, the downloads and the cancel.
        let events = api.audit_events().await;
        let count = |action: &str, resource_part: &str| {
            events
                .iter()
                .filter(|event| {
                    event["action"] == action && event["resource"].as_str().unwrap().contains(resource_part)
                })
                .filter(|event| event["outcome"] == "success")
                .count()
        };
        assert_eq!(count("fhir.bulk_export.start", "$export"), 3);
        let refused_starts =
            events.iter().filter(|event| event["action"] == "fhir.bulk_export.start" && event["outcome"] == "denied");
        assert_eq!(refused_starts.count(), 3, "each refused role's kick-off is audited");
        assert_eq!(count("patient.read", "/fhir/$export/"), 3 * patient_ids.len());
        assert!(count("fhir.bulk_export.download", "$export") >= 3);
        assert_eq!(count("fhir.bulk_export.cancel", "$export"), 1);
        assert_eq!(count("audit.read", "/AuditEvent"), 1, "the admin's export read the audit log, once");
    })
    .await;
}

/// Every file under `folder`, however deep.
fn walk_files(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A referral's bundle as an EHR writes it: an episode, prescriptions and dispenses (no trial
/// extensions), dated `days_ago` before the server's today.
fn prescriptions_bundle(mrn: &str, episode_onset_days_ago: i64, events: &[Value]) -> Value {
    let mut entries = vec![
        json!({ "fullUrl": "urn:uuid:9b1c0d8e-0000-4000-8000-000000000001",
          "resource": { "resourceType": "Patient",
            "identifier": [{ "system": "https://ketacare.org/fhir/sid/mrn", "value": mrn }],
            "name": [{ "family": "Hopper", "given": ["Grace"] }], "gender": "female", "birthDate": "1979-12-09" } }),
        json!({ "fullUrl": "urn:uuid:9b1c0d8e-0000-4000-8000-000000000002",
          "resource": { "resourceType": "Condition",
            "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.2" }] },
            "subject": { "reference": "urn:uuid:9b1c0d8e-0000-4000-8000-000000000001" },
            "onsetDateTime": days_ago(episode_onset_days_ago) } }),
    ];
    entries.extend(events.iter().map(|resource| json!({ "resource": resource })));
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entries })
}

fn days_ago(days: i64) -> String {
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    today.checked_sub(jiff::Span::new().days(days)).unwrap().to_string()
}

/// A MedicationRequest of `rxnorm_display` (an SCD-level RxNorm code, as EHRs write them), `dose_mg` once
/// a day, for `supply_days`, written `days_ago`.
fn prescription(code: &str, display: &str, dose_mg: u32, supply_days: u32, written_days_ago: i64) -> Value {
    json!({ "resourceType": "MedicationRequest", "status": "completed", "intent": "order",
        "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": display }] },
        "subject": { "reference": "urn:uuid:9b1c0d8e-0000-4000-8000-000000000001" },
        "authoredOn": days_ago(written_days_ago),
        "dosageInstruction": [{ "timing": { "repeat": { "frequency": 1, "period": 1, "periodUnit": "d" } },
            "doseAndRate": [{ "doseQuantity": { "value": dose_mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg" } }] }],
        "dispenseRequest": { "expectedSupplyDuration": { "value": supply_days, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d" } } })
}

#[tokio::test]
async fn prescriptions_and_dispenses_become_trials_in_their_episode_counted_to_today() {
    each_backend(|db| async move {
        let api = Api::new(db.store).await;
        // Sertraline: three 30-day fills a month apart (50, 100, 100 mg): one course of 90 days. Escitalopram:
        // a 90-day dispense handed over 20 days ago: a course still running, 20 days so far, not 90.
        let mut dispense = json!({ "resourceType": "MedicationDispense", "status": "completed",
            "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "349332", "display": "escitalopram 10 MG Oral Tablet" }] },
            "subject": { "reference": "urn:uuid:9b1c0d8e-0000-4000-8000-000000000001" },
            "whenHandedOver": days_ago(20),
            "daysSupply": { "value": 90, "unit": "Day", "system": "http://unitsofmeasure.org", "code": "d" },
            "dosageInstruction": [{ "doseAndRate": [{ "doseQuantity": { "value": 20, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg" } }] }] });
        // Bupropion, as a referral letter states it: a dated statement, 150 mg daily for 70 days.
        let statement = json!({ "resourceType": "MedicationStatement", "status": "completed",
            "medicationCodeableConcept": { "text": "bupropion XL 150 mg" },
            "subject": { "reference": "urn:uuid:9b1c0d8e-0000-4000-8000-000000000001" },
            "effectivePeriod": { "start": days_ago(220), "end": days_ago(150) },
            "dosage": [{ "doseAndRate": [{ "doseQuantity": { "value": 150, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg" } }] }] });
        let events = [
            prescription("312941", "sertraline 50 MG Oral Tablet", 50, 30, 300),
            prescription("312940", "sertraline 100 MG Oral Tablet", 100, 30, 270),
            prescription("312940", "sertraline 100 MG Oral Tablet", 100, 30, 240),
            dispense.clone(),
            statement,
        ];
        let bundle = prescriptions_bundle("MRN-RX", 400, &events);
        let reply = api.import(&bundle).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let patient_id = imported_patient_id(&reply.body, 0);
        let evaluation = api.get(&format!("/api/v1/patients/{patient_id}/evaluation")).await;
        let trials = evaluation["case"]["trials"].as_array().unwrap_or_else(|| panic!("{evaluation}")).clone();
        assert_eq!(trials.len(), 3, "{evaluation}");
        let bupropion = trials.iter().find(|trial| trial["drug"].as_str().unwrap().contains("bupropion")).unwrap();
        assert_eq!((&bupropion["weeks"], &bupropion["daily_dose_mg"]), (&json!(10), &json!(150)), "{bupropion}");
        let sertraline = trials.iter().find(|trial| trial["drug"].as_str().unwrap().contains("sertraline")).unwrap();
        assert_eq!(sertraline["weeks"], json!(12.8), "90 days, in tenths of a week rounded down: {sertraline}");
        assert_eq!(sertraline["daily_dose_mg"], json!(100), "the course's highest daily dose: {sertraline}");
        assert_eq!(sertraline["in_current_episode"], json!(true), "{sertraline}");
        // What an EHR cannot say is not made up: no adherence and no improvement.
        assert!(sertraline.get("adherence").is_none_or(Value::is_null), "{sertraline}");
        assert!(sertraline.get("improvement_pct").is_none_or(Value::is_null), "{sertraline}");
        let escitalopram = trials.iter().find(|trial| trial["drug"].as_str().unwrap().contains("escitalopram")).unwrap();
        let running_weeks = escitalopram["weeks"].as_f64().unwrap();
        assert!((2.7..=3.0).contains(&running_weeks), "20 days so far (a day either way for the clinic's zone): {escitalopram}");
        // So the decision names what is missing rather than counting the courses as failed.
        assert_ne!(evaluation["report"]["trd"]["status"], "trd", "{evaluation}");

        // Imported again, nothing changes.
        let repeated = api.import(&bundle).await;
        assert_eq!(repeated.status, StatusCode::OK, "{}", repeated.body);
        assert!(diagnostics(&repeated.body).contains("unchanged"), "{}", repeated.body);
        let again = api.get(&format!("/api/v1/patients/{patient_id}/evaluation")).await;
        assert_eq!(again["case"]["trials"].as_array().unwrap().len(), 3, "{again}");

        // A dispense dated after today is refused naming its element, and nothing of its patient is stored.
        let patients = api.patient_total().await;
        dispense["whenHandedOver"] = json!(days_ago(-3));
        let future = api.import(&prescriptions_bundle("MRN-RX-FUTURE", 400, &[dispense])).await;
        assert_eq!(future.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", future.body);
        assert!(
            future.body["issue"].as_array().unwrap().iter().any(|issue| issue["severity"] == "error"
                && issue["expression"][0] == "Bundle.entry[2].resource.whenHandedOver"
                && issue["diagnostics"].as_str().unwrap().contains("after the server's today")),
            "{}",
            future.body
        );
        assert_eq!(api.patient_total().await, patients);
        // A course begun before the only episode's onset is no trial of it: left out, with a warning naming
        // its first prescription.
        let early = api
            .import(&prescriptions_bundle("MRN-RX-EARLY", 100, &[prescription("312941", "sertraline 50 MG Oral Tablet", 50, 30, 300)]))
            .await;
        assert_eq!(early.status, StatusCode::OK, "{}", early.body);
        assert!(
            early.body["issue"].as_array().unwrap().iter().any(|issue| issue["severity"] == "warning"
                && issue["expression"][0] == "Bundle.entry[2].resource.authoredOn"
                && issue["diagnostics"].as_str().unwrap().contains("no depressive episode")),
            "{}",
            early.body
        );
        let early_id = imported_patient_id(&early.body, 0);
        let early_case = api.get(&format!("/api/v1/patients/{early_id}/evaluation")).await;
        assert_eq!(early_case["case"]["trials"], json!([]), "{early_case}");
    })
    .await;
}
