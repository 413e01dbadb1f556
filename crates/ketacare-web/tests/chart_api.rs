//! The chart through the router (tower `oneshot`), on SQLite and, when configured, PostgreSQL: every
//! vignette entered record by record gives the CLI's decision; a corrected trial changes the decision
//! and keeps the prior value; stale and missing If-Match, idempotent retries, bad records that name
//! their field and change nothing, overrides by prescribers only, and the audit trail of every route.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use ketacare_app::{App, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::{WebConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone)]
struct Api {
    router: Router,
}

/// A bearer token of each role, by role.
struct Tokens(Vec<(Role, String)>);

impl Tokens {
    fn of(&self, role: Role) -> &str {
        &self.0.iter().find(|(each, _)| *each == role).expect("every role has a token").1
    }
}

impl Api {
    async fn new(store: ketacare_store::Store) -> (Api, Tokens) {
        let app = App::new(store, Protocol::shipped());
        let mut tokens = Vec::new();
        for role in Role::ALL {
            let password = format!("correct horse battery {}", role.as_str());
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: password.clone(),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
        }
        let api = Api { router: router(app, WebConfig::default()) };
        for role in Role::ALL {
            let login =
                json!({ "username": role.as_str(), "password": format!("correct horse battery {}", role.as_str()) });
            let reply = api.raw("POST", "/api/v1/session", None, None, Some(&login.to_string()), &[]).await;
            let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
            let session = cookie.split(';').next().unwrap().to_owned();
            let csrf = reply.body["csrf_token"].as_str().unwrap().to_owned();
            let created =
                api.raw("POST", "/api/v1/tokens", None, Some((&session, &csrf)), Some(r#"{"label":"t"}"#), &[]).await;
            tokens.push((role, created.body["token"].as_str().unwrap().to_owned()));
        }
        (api, Tokens(tokens))
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        cookie: Option<(&str, &str)>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some((session, csrf)) = cookie {
            request = request.header(header::COOKIE, session).header("x-csrf-token", csrf);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Body::from(body.unwrap_or_default().to_owned())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        Reply { status, headers, body }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let text = body.map(Value::to_string);
        self.raw(method, path, Some(token), None, text.as_deref(), headers).await
    }

    /// Records an entry and insists it was created; returns the reply body (record and evaluation).
    async fn record(&self, token: &str, patient_id: &str, section: &str, body: Value) -> Value {
        let reply =
            self.call("POST", &format!("/api/v1/patients/{patient_id}/chart/{section}"), token, Some(&body), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{section} {body}: {}", reply.body);
        reply.body
    }

    async fn create_patient(&self, token: &str, birth_date: &str, sex_at_birth: &str) -> String {
        let body = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": birth_date, "sex_at_birth": sex_at_birth });
        let reply = self.call("POST", "/api/v1/patients", token, Some(&body), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["patient_id"].as_str().unwrap().to_owned()
    }
}

/// HL7's FHIR R4 JSON Schema and the checks of ketacare-fhir's own tests.
#[path = "../../ketacare-fhir/tests/support/mod.rs"]
mod fhir_support;

fn vignettes_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vignettes")
}

fn vignette(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(vignettes_dir().join(format!("{name}.case.json"))).unwrap()).unwrap()
}

/// The case with the patient's birth date stated (a chart keeps the birth date, not an age):
/// `age_years` becomes the birth date giving that age on `as_of`.
fn with_birth_date(mut case: Value) -> Value {
    if let Some(age) = case["patient"]["age_years"].as_i64() {
        let as_of: jiff::civil::Date = case["as_of"].as_str().unwrap().parse().unwrap();
        let birth = jiff::civil::date(as_of.year() - age as i16, as_of.month(), as_of.day());
        let patient = case["patient"].as_object_mut().unwrap();
        patient.remove("age_years");
        patient.insert("birth_date".to_owned(), json!(birth.to_string()));
    }
    case
}

/// The report `ketacare assess` gives for `case`.
fn cli_report(case: &Value) -> Value {
    let facts = ketacare_case::parse_case(case, jiff::civil::date(2026, 11, 28)).unwrap();
    ketacare_case::report_json(&ketacare_core::assess::assess_case(&facts, &Protocol::shipped()))
}

/// Enters a vignette's case into a new patient's chart, record by record; returns the patient id.
async fn enter_vignette(api: &Api, tokens: &Tokens, case: &Value) -> String {
    let nurse = tokens.of(Role::Nurse);
    let prescriber = tokens.of(Role::Prescriber);
    let patient = &case["patient"];
    let patient_id = api
        .create_patient(nurse, patient["birth_date"].as_str().unwrap(), patient["sex_at_birth"].as_str().unwrap())
        .await;
    let mut episode = case["episode"].clone();
    if let Some(ect) = case.get("ect") {
        episode["ect"] = ect.clone();
    }
    let episode_id = api.record(nurse, &patient_id, "episodes", episode).await["record"]["record_id"].clone();
    for code in case["history"].as_array().into_iter().flatten() {
        api.record(nurse, &patient_id, "history", json!({ "code": code, "noted_on": "2026-10-01" })).await;
    }
    for class in case["concomitant"].as_array().into_iter().flatten() {
        api.record(nurse, &patient_id, "concomitant", json!({ "class": class })).await;
    }
    for trial in case["trials"].as_array().into_iter().flatten() {
        let mut trial = trial.clone();
        trial["episode_id"] = episode_id.clone();
        api.record(nurse, &patient_id, "trials", trial).await;
    }
    let mut measurement = json!({ "measured_on": "2026-11-01" });
    for key in ["height_cm", "weight_kg", "pregnant", "breastfeeding"] {
        if let Some(value) = patient.get(key) {
            measurement[key] = value.clone();
        }
    }
    api.record(nurse, &patient_id, "measurements", measurement).await;
    for reading in case["bp"].as_array().into_iter().flatten() {
        let reading =
            json!({ "measured_on": "2026-11-20", "systolic": reading["systolic"], "diastolic": reading["diastolic"] });
        api.record(nurse, &patient_id, "blood_pressures", reading).await;
    }
    for (scale, entry) in case["scales"].as_object().into_iter().flatten() {
        let kind = if entry.is_array() { "items" } else { "total" };
        let result = json!({ "scale": scale, "administered_on": "2026-11-20", kind: entry });
        api.record(nurse, &patient_id, "scales", result).await;
    }
    if let Some(answers) = case.get("cssrs") {
        let result = json!({ "scale": "cssrs", "administered_on": "2026-11-20", "answers": answers });
        api.record(nurse, &patient_id, "scales", result).await;
    }
    for entry in case["overrides"].as_array().into_iter().flatten() {
        api.record(prescriber, &patient_id, "overrides", json!({ "rule": entry["rule"], "reason": entry["reason"] }))
            .await;
    }
    patient_id
}

fn evaluation_path(patient_id: &str, case: &Value) -> String {
    format!(
        "/api/v1/patients/{patient_id}/evaluation?as_of={}&modality={}&jurisdiction={}",
        case["as_of"].as_str().unwrap(),
        case["modality"].as_str().unwrap_or("both"),
        case["jurisdiction"].as_str().unwrap_or("US")
    )
}

#[tokio::test]
async fn every_vignette_entered_record_by_record_gives_the_clis_decision() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let prescriber = tokens.of(Role::Prescriber);
        let mut names: Vec<String> = std::fs::read_dir(vignettes_dir())
            .unwrap()
            .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
            .filter_map(|file| file.strip_suffix(".case.json").map(str::to_owned))
            .collect();
        names.sort();
        assert_eq!(names.len(), 13);
        for name in &names {
            let case = with_birth_date(vignette(name));
            let patient_id = enter_vignette(&api, &tokens, &case).await;
            let reply = api.call("GET", &evaluation_path(&patient_id, &case), prescriber, None, &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
            // The same case as the file, but for the patient id, which is the chart's.
            let mut expected_case = case.clone();
            expected_case["patient"]["id"] = json!(patient_id);
            assert_eq!(reply.body["report"], cli_report(&expected_case), "{name}");
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(vignettes_dir().join(format!("{name}.expected.json"))).unwrap(),
            )
            .unwrap();
            if let Err(difference) = ketacare_case::json_contains(&reply.body["report"], &expected) {
                panic!("{name}{difference}");
            }
            // The assembled case parses to the same facts as the file.
            let assembled = ketacare_case::parse_case(&reply.body["case"], jiff::civil::date(2026, 11, 28)).unwrap();
            let from_file = ketacare_case::parse_case(&expected_case, jiff::civil::date(2026, 11, 28)).unwrap();
            assert_eq!(assembled, from_file, "{name}");
            // Every write stored its evaluation.
            let stored =
                api.call("GET", &format!("/api/v1/patients/{patient_id}/assessments"), prescriber, None, &[]).await;
            let assessments = stored.body["assessments"].as_array().unwrap();
            assert!(assessments.len() >= 3, "{name}: {} evaluations", assessments.len());
            assert_eq!(assessments.last().unwrap()["protocol_sha256"], Protocol::shipped().sha256.as_str());
            assert_eq!(assessments.last().unwrap()["rules_version"], ketacare_core::RULES_VERSION);
        }
    })
    .await;
}

#[tokio::test]
async fn amending_a_trial_re_evaluates_and_keeps_the_prior_value() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let case = with_birth_date(vignette("V1"));
        let patient_id = enter_vignette(&api, &tokens, &case).await;
        let before = api.call("GET", &evaluation_path(&patient_id, &case), nurse, None, &[]).await;
        assert_eq!(before.body["report"]["trd"]["label"]["status"], "met");
        let trials = api.call("GET", &format!("/api/v1/patients/{patient_id}/chart/trials"), nurse, None, &[]).await;
        let sertraline = &trials.body["records"][0];
        assert_eq!(sertraline["data"]["drug"], "sertraline");
        let path = format!("/api/v1/patients/{patient_id}/chart/trials/{}", sertraline["record_id"].as_str().unwrap());
        let read = api.call("GET", &path, nurse, None, &[]).await;
        assert_eq!(read.headers[header::ETAG], "\"v1\"");

        // Sertraline was stopped at 3 weeks, not 8: one failure left, TRD no longer met.
        let change = json!({ "reason": "weeks misread from the referral letter", "weeks": 3 });
        let missing = api.call("PATCH", &path, nurse, Some(&change), &[]).await;
        assert_eq!(
            (missing.status, missing.body["field"].as_str()),
            (StatusCode::PRECONDITION_REQUIRED, Some("If-Match"))
        );
        let amended = api.call("PATCH", &path, nurse, Some(&change), &[("if-match", "\"v1\"")]).await;
        assert_eq!(amended.status, StatusCode::OK, "{}", amended.body);
        assert_eq!(amended.headers[header::ETAG], "\"v2\"");
        assert_eq!(amended.body["record"]["data"]["weeks"], 3);
        assert_eq!(amended.body["record"]["data"]["daily_dose_mg"], 150, "fields not named are kept");
        let report = &amended.body["evaluation"]["report"];
        assert_ne!(report["trd"]["label"]["status"], "met", "{report}");
        let sertraline_report =
            report["trd"]["trials"].as_array().unwrap().iter().find(|t| t["drug"] == "sertraline").unwrap();
        assert_eq!(sertraline_report["reasons"], json!(["DURATION_SHORT"]));

        let stale = api.call("PATCH", &path, nurse, Some(&change), &[("if-match", "\"v1\"")]).await;
        assert_eq!(
            (stale.status, stale.body["type"].as_str()),
            (StatusCode::PRECONDITION_FAILED, Some("urn:ketacare:problem:stale-version"))
        );

        let history = api.call("GET", &format!("/api/v1/patients/{patient_id}/amendments"), nurse, None, &[]).await;
        let amendment = history.body["amendments"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(amendment["reason"], "weeks misread from the referral letter");
        assert_eq!(amendment["resource_type"], "trials");
        let prior: Value = serde_json::from_str(amendment["prior_json"].as_str().unwrap()).unwrap();
        let prior_body: Value = serde_json::from_str(prior["body_json"].as_str().unwrap()).unwrap();
        assert_eq!((prior["version"].as_i64(), &prior_body["weeks"]), (Some(1), &json!(8)));

        // Entered in error: the trial leaves the chart, and the record stays readable.
        let in_error = json!({ "reason": "wrong patient", "status": "entered_in_error" });
        let marked = api.call("PATCH", &path, nurse, Some(&in_error), &[("if-match", "\"v2\"")]).await;
        assert_eq!(
            (marked.status, marked.body["record"]["status"].as_str()),
            (StatusCode::OK, Some("entered_in_error"))
        );
        let drugs: Vec<&Value> = marked.body["evaluation"]["report"]["trd"]["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["drug"])
            .collect();
        assert_eq!(drugs, [&json!("venlafaxine XR")]);
        let chart = api.call("GET", &format!("/api/v1/patients/{patient_id}/chart"), nurse, None, &[]).await;
        assert_eq!(chart.body["trials"].as_array().unwrap().len(), 1);
        assert_eq!(api.call("GET", &path, nurse, None, &[]).await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn a_trial_outside_the_current_episode_does_not_count() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let case = with_birth_date(vignette("V1"));
        let patient_id = enter_vignette(&api, &tokens, &case).await;
        // A new episode recorded later becomes the current one: the earlier trials fall outside it.
        let episode = json!({ "diagnosis": "F33.2", "onset_date": "2026-10-01", "severity": "moderate", "psychotic_features": false });
        let written = api.record(nurse, &patient_id, "episodes", episode).await;
        let reasons: Vec<&Value> =
            written["evaluation"]["report"]["trd"]["trials"].as_array().unwrap().iter().map(|t| &t["reasons"][0]).collect();
        assert_eq!(reasons, [&json!("OUTSIDE_EPISODE"), &json!("OUTSIDE_EPISODE")]);
        let chart = api.call("GET", &format!("/api/v1/patients/{patient_id}/chart"), nurse, None, &[]).await;
        assert_eq!(chart.body["trials"][0]["in_current_episode"], false);
        assert_eq!(chart.body["episode"]["onset_date"], "2026-10-01");
    })
    .await;
}

#[tokio::test]
async fn analysts_get_the_decision_de_identified() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let case = with_birth_date(vignette("V1"));
        let patient_id = enter_vignette(&api, &tokens, &case).await;
        let path = evaluation_path(&patient_id, &case);
        let prescriber = api.call("GET", &path, tokens.of(Role::Prescriber), None, &[]).await;
        let analyst = api.call("GET", &path, tokens.of(Role::Analyst), None, &[]).await;
        assert_eq!(analyst.status, StatusCode::OK, "{}", analyst.body);
        assert_eq!((&prescriber.body["de_identified"], &analyst.body["de_identified"]), (&json!(false), &json!(true)));
        assert_eq!(analyst.body["report"], prescriber.body["report"], "the same decision");
        let patient = &analyst.body["case"]["patient"];
        assert_eq!((patient.get("birth_date"), &patient["age_years"]), (None, &json!(42)));
        let episode = &analyst.body["case"]["episode"];
        assert_eq!((episode.get("onset_date"), &episode["duration_months"]), (None, &json!(10)));
        let text = analyst.body.to_string();
        for identifying in ["1984-05-02", "2026-01-28", "Lovelace", "ineffective"] {
            assert!(!text.contains(identifying), "the analyst saw {identifying}: {text}");
        }
        for path in
            [format!("/api/v1/patients/{patient_id}/chart"), format!("/api/v1/patients/{patient_id}/chart/trials")]
        {
            assert_eq!(api.call("GET", &path, tokens.of(Role::Analyst), None, &[]).await.status, StatusCode::FORBIDDEN);
        }
    })
    .await;
}

#[tokio::test]
async fn analysts_see_no_free_text_of_the_chart_in_the_evaluation() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        // V8 with the free text a clinician may type: a drug name with more than a drug in it, a stop reason
        // and the reason of the prescriber's override (recorded through POST .../chart/overrides).
        let mut case = with_birth_date(vignette("V8"));
        case["trials"].as_array_mut().unwrap().push(json!({
            "drug": "sertraline per Dr Quillfeather's letter", "weeks": 2,
            "stop_reason": "moved to Wexcombe to live with her son" }));
        let reason = "reviewed with her sister Ottoline Vexby; benefit outweighs risk";
        case["overrides"] = json!([{ "rule": "PSYCHOTIC_FEATURES", "reason": reason }]);
        let patient_id = enter_vignette(&api, &tokens, &case).await;
        let path = evaluation_path(&patient_id, &case);
        let prescriber = api.call("GET", &path, tokens.of(Role::Prescriber), None, &[]).await;
        let analyst = api.call("GET", &path, tokens.of(Role::Analyst), None, &[]).await;
        assert_eq!((prescriber.status, analyst.status), (StatusCode::OK, StatusCode::OK), "{}", analyst.body);
        let author = prescriber.body["case"]["overrides"][0]["by"].as_str().unwrap().to_owned();

        // Every piece of free text: the prescriber sees it (so its absence means something), the analyst nowhere.
        let whole = prescriber.body.to_string();
        let seen = analyst.body.to_string();
        let mut failures = Vec::new();
        for free_text in [reason, "Ottoline Vexby", "Quillfeather", "Wexcombe", author.as_str()] {
            if !whole.contains(free_text) {
                failures.push(format!("the prescriber's evaluation lacks {free_text:?}"));
            }
            if seen.contains(free_text) {
                failures.push(format!("the analyst saw {free_text:?}"));
            }
        }
        assert!(failures.is_empty(), "{} failure(s):\n{}\nanalyst: {seen}", failures.len(), failures.join("\n"));

        // The decision is the same: the override still counts, and shows that there is one.
        let decision = |body: &Value| {
            let eligibility = &body["report"]["eligibility"]["iv_ketamine"];
            (
                eligibility["status"].clone(),
                eligibility["findings"][0]["rule"].clone(),
                eligibility["findings"][0]["overridden_by"].is_object(),
                body["report"]["trd"]["label"]["status"].clone(),
                body["report"]["trd"]["trials"].as_array().map(Vec::len),
            )
        };
        assert_eq!(decision(&analyst.body), decision(&prescriber.body));
        assert_eq!(analyst.body["report"]["eligibility"]["iv_ketamine"]["status"], "eligible");
    })
    .await;
}

#[tokio::test]
async fn an_idempotent_retry_records_once() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let patient_id = api.create_patient(nurse, "1984-05-02", "female").await;
        let path = format!("/api/v1/patients/{patient_id}/chart/blood_pressures");
        let reading = json!({ "measured_on": "2026-11-20", "systolic": 128, "diastolic": 82 });
        let key = [("idempotency-key", "bp-1")];
        let first = api.call("POST", &path, nurse, Some(&reading), &key).await;
        let retry = api.call("POST", &path, nurse, Some(&reading), &key).await;
        assert_eq!((first.status, retry.status), (StatusCode::CREATED, StatusCode::CREATED));
        assert_eq!(first.body, retry.body);
        assert_eq!(retry.headers["idempotent-replayed"], "true");
        assert_eq!(first.headers[header::LOCATION], retry.headers[header::LOCATION]);
        let location = first.headers[header::LOCATION].to_str().unwrap().to_owned();
        assert_eq!(api.call("GET", &location, nurse, None, &[]).await.body, first.body["record"]);
        let list = api.call("GET", &path, nurse, None, &[]).await;
        assert_eq!(list.body["records"].as_array().unwrap().len(), 1);
        let assessments =
            api.call("GET", &format!("/api/v1/patients/{patient_id}/assessments"), nurse, None, &[]).await;
        assert_eq!(assessments.body["assessments"].as_array().unwrap().len(), 1, "one evaluation, not two");
        let other = json!({ "measured_on": "2026-11-20", "systolic": 140, "diastolic": 82 });
        let reused = api.call("POST", &path, nurse, Some(&other), &key).await;
        assert_eq!(
            (reused.status, reused.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key"))
        );
    })
    .await;
}

#[tokio::test]
async fn writes_racing_on_one_chart_are_each_evaluated_on_a_chart_that_holds_them() {
    each_backend(|db| async move {
        let store = db.store.clone();
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse).to_owned();
        let patient_id = api.create_patient(&nurse, "1984-05-02", "female").await;
        // Each write a weight (same day: the latest recorded gives the weight), so each changes the IV dose,
        // and so the decision, which is stored once per distinct result.
        let mut writers = Vec::new();
        for index in 0..8 {
            let (api, nurse, patient_id) = (api.clone(), nurse.clone(), patient_id.clone());
            writers.push(tokio::spawn(async move {
                let weighed = json!({ "measured_on": "2026-11-20", "height_cm": 165, "weight_kg": 60 + index });
                api.record(&nurse, &patient_id, "measurements", weighed).await
            }));
        }
        let mut written = Vec::new();
        for writer in writers {
            written.push(writer.await.unwrap());
        }
        let evaluations = store.assessments(&patient_id).await.unwrap();
        assert_eq!(evaluations.len(), 8, "one evaluation per write that changed the decision");
        let mut failures = Vec::new();
        for write in &written {
            let id = write["evaluation"]["assessment_id"].as_str().unwrap();
            let stored = evaluations.iter().find(|evaluation| evaluation.assessment_id == id).unwrap();
            let case: Value = serde_json::from_str(&stored.case_json).unwrap();
            let own = &write["record"]["data"]["weight_kg"];
            // Its own record is the latest in the chart it was evaluated on.
            if &case["patient"]["weight_kg"] != own {
                failures.push(format!("the write of {own} kg was evaluated on {}", case["patient"]["weight_kg"]));
            }
        }
        // That the writes were serialised (none computed on a chart another write changed meanwhile) is the
        // chart stamp's check, tested in the store (`tests/chart_repository.rs`): stored cases no longer count
        // the readings a write saw, since a decision that does not change is not stored again.
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    })
    .await;
}

#[tokio::test]
async fn bad_records_name_their_field_and_change_nothing() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let patient_id = api.create_patient(nurse, "1984-05-02", "male").await;
        let episode = json!({ "diagnosis": "F33.2", "duration_months": 10 });
        let episode_id = api.record(nurse, &patient_id, "episodes", episode).await["record"]["record_id"].clone();
        let checks: &[(&str, Value, &str)] = &[
            ("episodes", json!({ "diagnosis": "depression" }), "diagnosis"),
            ("episodes", json!({ "diagnosis": "F33.3", "psychotic_features": false }), "psychotic_features"),
            ("episodes", json!({ "diagnosis": "F33.2", "onset_date": "2099-01-01" }), "onset_date"),
            ("episodes", json!({ "diagnosis": "F33.2", "ect": { "failed_courses": -1 } }), "ect.failed_courses"),
            ("episodes", json!({ "diagnosys": "F33.2" }), "diagnosys"),
            ("history", json!({ "code": "migraine" }), "code"),
            ("history", json!({ "code": "bipolar_disorder", "clinical_status": "gone" }), "clinical_status"),
            ("concomitant", json!({ "class": "ssri" }), "class"),
            ("trials", json!({ "drug": "sertraline", "daily_dose_mg": 100 }), "episode_id"),
            ("trials", json!({ "episode_id": "nope", "drug": "sertraline" }), "episode_id"),
            ("trials", json!({ "episode_id": episode_id, "drug": "sertraline", "daily_dose_mg": -5 }), "daily_dose_mg"),
            ("trials", json!({ "episode_id": episode_id, "drug": "sertraline", "in_current_episode": true }), "in_current_episode"),
            ("trials", json!({ "episode_id": episode_id, "drug": "sertraline", "improvement_pct": 150 }), "improvement_pct"),
            ("scales", json!({ "scale": "phq9", "administered_on": "2026-11-01", "items": [1, 2, 3] }), "items"),
            ("scales", json!({ "scale": "phq9", "administered_on": "2026-11-01", "items": [1, 2, 3, 0, 0, 0, 0, 0, 4] }), "items[8]"),
            ("scales", json!({ "scale": "madrs", "administered_on": "2026-11-01", "total": 61 }), "total"),
            ("scales", json!({ "scale": "bdi", "administered_on": "2026-11-01", "total": 10 }), "scale"),
            ("scales", json!({ "scale": "madrs", "total": 10 }), "administered_on"),
            ("scales", json!({ "scale": "cssrs", "administered_on": "2026-11-01", "answers": { "q1": true, "q2": false, "q3": true, "q6": false } }), "answers.q3"),
            ("measurements", json!({ "measured_on": "2026-11-01", "weight_kg": 5 }), "weight_kg"),
            ("measurements", json!({ "measured_on": "2026-11-01", "pregnant": true }), "pregnant"),
            ("measurements", json!({ "measured_on": "2026-11-01", "birth_date": "1990-01-01" }), "birth_date"),
            ("measurements", json!({ "weight_kg": 70 }), "measured_on"),
            ("blood_pressures", json!({ "measured_on": "2026-11-01", "systolic": 120 }), "diastolic"),
            ("blood_pressures", json!({ "measured_on": "01/11/2026", "systolic": 120, "diastolic": 80 }), "measured_on"),
        ];
        for (section, body, field) in checks {
            let reply = api.call("POST", &format!("/api/v1/patients/{patient_id}/chart/{section}"), nurse, Some(body), &[]).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{section} {body}: {}", reply.body);
            assert_eq!(reply.body["field"].as_str(), Some(*field), "{section} {body}: {}", reply.body);
        }
        let chart = api.call("GET", &format!("/api/v1/patients/{patient_id}/chart"), nurse, None, &[]).await;
        for section in ["history", "concomitant", "trials", "bp", "overrides"] {
            assert_eq!(chart.body[section], json!([]), "bad input changed nothing: {section}");
        }
        assert_eq!(chart.body.get("scales"), None);
        let assessments = api.call("GET", &format!("/api/v1/patients/{patient_id}/assessments"), nurse, None, &[]).await;
        assert_eq!(assessments.body["assessments"].as_array().unwrap().len(), 1, "only the episode's evaluation");
        let unknown = api.call("POST", &format!("/api/v1/patients/{patient_id}/chart/allergies"), nurse, Some(&json!({})), &[]).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let evaluation = api.call("GET", &format!("/api/v1/patients/{patient_id}/evaluation?as_of=28-11-2026"), nurse, None, &[]).await;
        assert_eq!((evaluation.status, evaluation.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("as_of")));
    })
    .await;
}

#[tokio::test]
async fn only_prescribers_record_overrides_and_they_are_the_author() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let case = with_birth_date(vignette("V8"));
        let patient_id = enter_vignette(&api, &tokens, &case).await;
        let before = api.call("GET", &evaluation_path(&patient_id, &case), tokens.of(Role::Prescriber), None, &[]).await;
        assert_eq!(before.body["report"]["eligibility"]["iv_ketamine"]["status"], "override_required", "{}", before.body["report"]);
        let path = format!("/api/v1/patients/{patient_id}/chart/overrides");
        let decision = json!({ "rule": "PSYCHOTIC_FEATURES", "reason": "benefit outweighs risk after review" });
        let by_nurse = api.call("POST", &path, tokens.of(Role::Nurse), Some(&decision), &[]).await;
        assert_eq!(by_nurse.status, StatusCode::FORBIDDEN);
        let with_author = json!({ "rule": "PSYCHOTIC_FEATURES", "reason": "r", "by": "Dr Somebody Else" });
        let forged = api.call("POST", &path, tokens.of(Role::Prescriber), Some(&with_author), &[]).await;
        assert_eq!((forged.status, forged.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("by")));
        let recorded = api.record(tokens.of(Role::Prescriber), &patient_id, "overrides", decision).await;
        let prescriber_id = recorded["record"]["created_by"].clone();
        assert_eq!(recorded["record"]["data"]["by"], prescriber_id);
        let report = &recorded["evaluation"]["report"];
        assert_eq!(report["eligibility"]["iv_ketamine"]["status"], "eligible", "{report}");
        // The same as the case file with the override in it.
        let mut expected_case = case.clone();
        expected_case["patient"]["id"] = json!(patient_id);
        expected_case["overrides"] = json!([{ "rule": "PSYCHOTIC_FEATURES", "by": prescriber_id, "reason": "benefit outweighs risk after review" }]);
        let after = api.call("GET", &evaluation_path(&patient_id, &case), tokens.of(Role::Prescriber), None, &[]).await;
        assert_eq!(after.body["report"], cli_report(&expected_case));
        let record = format!("{path}/{}", recorded["record"]["record_id"].as_str().unwrap());
        let change = json!({ "reason": "wrong patient", "status": "entered_in_error" });
        let nurse_amends = api.call("PATCH", &record, tokens.of(Role::Nurse), Some(&change), &[("if-match", "\"v1\"")]).await;
        assert_eq!(nurse_amends.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn the_latest_reading_day_and_the_latest_scales_make_the_case() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let patient_id = api.create_patient(nurse, "1984-05-02", "female").await;
        for (day, systolic) in [("2026-11-02", 170), ("2026-11-10", 162), ("2026-11-10", 158), ("2026-11-05", 190)] {
            let reading = json!({ "measured_on": day, "systolic": systolic, "diastolic": 96 });
            api.record(nurse, &patient_id, "blood_pressures", reading).await;
        }
        for (day, total) in [("2026-11-10", 30), ("2026-11-01", 12)] {
            api.record(
                nurse,
                &patient_id,
                "scales",
                json!({ "scale": "madrs", "administered_on": day, "total": total }),
            )
            .await;
        }
        for (day, weight) in [("2026-11-10", 70), ("2026-10-01", 90)] {
            api.record(nurse, &patient_id, "measurements", json!({ "measured_on": day, "weight_kg": weight })).await;
        }
        api.record(nurse, &patient_id, "measurements", json!({ "measured_on": "2026-09-01", "height_cm": 165 })).await;
        let chart = api.call("GET", &format!("/api/v1/patients/{patient_id}/chart"), nurse, None, &[]).await;
        assert_eq!(
            chart.body["bp"],
            json!([{ "systolic": 162, "diastolic": 96 }, { "systolic": 158, "diastolic": 96 }])
        );
        assert_eq!(chart.body["scales"], json!({ "madrs": 30 }));
        assert_eq!(
            (&chart.body["patient"]["weight_kg"], &chart.body["patient"]["height_cm"]),
            (&json!(70), &json!(165))
        );
        assert_eq!(chart.body["patient"]["birth_date"], "1984-05-02");
        let earlier =
            api.call("GET", &format!("/api/v1/patients/{patient_id}/chart?as_of=2026-11-05"), nurse, None, &[]).await;
        assert_eq!(earlier.body["bp"], json!([{ "systolic": 190, "diastolic": 96 }]));
        assert_eq!(earlier.body["scales"], json!({ "madrs": 12 }));
        assert_eq!(earlier.body["patient"]["weight_kg"], 90);
        let evaluation = api.call("GET", &format!("/api/v1/patients/{patient_id}/evaluation"), nurse, None, &[]).await;
        assert_eq!(evaluation.status, StatusCode::OK);
        assert!(evaluation.body["report"]["eligibility"].is_object());
    })
    .await;
}

#[tokio::test]
async fn every_chart_route_leaves_an_audit_event() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let patient_id = api.create_patient(nurse, "1984-05-02", "female").await;
        let chart = format!("/api/v1/patients/{patient_id}/chart");
        let reading = json!({ "measured_on": "2026-11-20", "systolic": 128, "diastolic": 82 });
        let recorded = api.record(nurse, &patient_id, "blood_pressures", reading.clone()).await;
        let record = format!("{chart}/blood_pressures/{}", recorded["record"]["record_id"].as_str().unwrap());
        let change = json!({ "reason": "misread", "systolic": 126 });
        let calls: Vec<(&str, String, Option<&Value>)> = vec![
            ("GET", chart.clone(), None),
            ("GET", format!("{chart}/blood_pressures"), None),
            ("POST", format!("{chart}/blood_pressures"), Some(&reading)),
            ("GET", record.clone(), None),
            ("PATCH", record.clone(), Some(&change)),
            ("GET", format!("/api/v1/patients/{patient_id}/evaluation"), None),
            ("GET", format!("{chart}/blood_pressures/no-such-record"), None),
            ("GET", "/api/v1/patients/no-such-patient/chart".to_owned(), None),
            ("POST", format!("{chart}/trials"), Some(&reading)),
        ];
        for (index, (method, path, body)) in calls.iter().enumerate() {
            let request_id = format!("chart-audit-{index}");
            api.call(method, path, nurse, *body, &[("x-request-id", &request_id), ("if-match", "\"v1\"")]).await;
        }
        let analyst =
            api.call("GET", &chart, tokens.of(Role::Analyst), None, &[("x-request-id", "chart-audit-analyst")]).await;
        assert_eq!(analyst.status, StatusCode::FORBIDDEN);
        let events = api.call("GET", "/api/v1/audit/events?limit=1000", tokens.of(Role::Auditor), None, &[]).await;
        let events = events.body["events"].as_array().unwrap().clone();
        for (index, (method, path, _)) in calls.iter().enumerate() {
            let request_id = format!("chart-audit-{index}");
            let event = events.iter().find(|event| event["request_id"] == request_id.as_str());
            let event = event.unwrap_or_else(|| panic!("{method} {path} left no audit event"));
            assert_eq!(event["actor_role"], "nurse");
            let text = event.to_string();
            assert!(
                !text.contains("systolic") && !text.contains("1984-05-02"),
                "no clinical values in the audit log: {text}"
            );
        }
        let denied =
            events.iter().find(|event| event["request_id"] == "chart-audit-analyst").expect("the refusal is audited");
        assert_eq!(denied["outcome"], "denied");
        let write = events.iter().filter(|event| event["request_id"] == "chart-audit-2").count();
        assert_eq!(write, 2, "a write audits the record and its evaluation");
    })
    .await;
}

#[tokio::test]
async fn correcting_the_birth_date_re_evaluates_the_chart() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let case = with_birth_date(vignette("V1"));
        let patient_id = enter_vignette(&api, &tokens, &case).await;
        let decisions = format!("/api/v1/patients/{patient_id}/assessments");
        let before = api.call("GET", &decisions, nurse, None, &[]).await.body["assessments"].as_array().unwrap().len();
        let patient = api.call("GET", &format!("/api/v1/patients/{patient_id}"), nurse, None, &[]).await;
        let etag = patient.headers[header::ETAG].to_str().unwrap().to_owned();

        // 70 years old: the esketamine day-1 dose now carries the US age warning.
        let change = json!({ "reason": "birth year misread", "birth_date": "1950-05-02" });
        let path = format!("/api/v1/patients/{patient_id}");
        let amended = api.call("PATCH", &path, nurse, Some(&change), &[("if-match", etag.as_str())]).await;
        assert_eq!(amended.status, StatusCode::OK, "{}", amended.body);
        let after = api.call("GET", &decisions, nurse, None, &[]).await.body["assessments"].as_array().unwrap().clone();
        assert_eq!(after.len(), before + 1, "the correction stored a new decision");
        let warnings = |assessment: &Value| assessment["report"]["dose"]["esketamine"]["warnings"].to_string();
        assert!(!warnings(&after[after.len() - 2]).contains("age 65"));
        assert!(warnings(after.last().unwrap()).contains("age 65 or over"), "{}", warnings(after.last().unwrap()));

        // A correction that would make the chart an invalid case is refused and changes nothing.
        let patient = api.call("GET", &path, nurse, None, &[]).await;
        let etag = patient.headers[header::ETAG].to_str().unwrap().to_owned();
        let future = json!({ "reason": "typo", "birth_date": "2090-01-01" });
        let refused = api.call("PATCH", &path, nurse, Some(&future), &[("if-match", etag.as_str())]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        let unchanged = api.call("GET", &path, nurse, None, &[]).await;
        assert_eq!(unchanged.body["birth_date"], "1950-05-02");
    })
    .await;
}

#[tokio::test]
async fn every_vignette_exports_as_a_fhir_bundle_that_validates() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let mut validators = fhir_support::FhirValidators::new();
        let mut failures = Vec::new();
        let mut validated = 0;
        let mut names: Vec<String> = std::fs::read_dir(vignettes_dir())
            .unwrap()
            .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
            .filter_map(|file| file.strip_suffix(".case.json").map(str::to_owned))
            .collect();
        names.sort();
        for name in &names {
            let case = with_birth_date(vignette(name));
            let patient_id = enter_vignette(&api, &tokens, &case).await;
            let path = format!("/fhir/r4/Patient/{patient_id}/$everything");
            let reply = api.call("GET", &path, nurse, None, &[]).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
            assert_eq!(reply.headers[header::CONTENT_TYPE], "application/fhir+json", "{name}");
            let bundle = &reply.body;
            assert_eq!(bundle["resourceType"], "Bundle", "{name}");
            assert_eq!(bundle["type"], "searchset", "{name}");
            let entries = bundle["entry"].as_array().unwrap();
            assert_eq!(bundle["total"], json!(entries.len()), "{name}");
            assert_eq!(entries[0]["resource"]["resourceType"], "Patient", "{name}");
            assert_eq!(entries[0]["resource"]["id"], json!(patient_id), "{name}");
            let count = |resource_type: &str| {
                entries.iter().filter(|entry| entry["resource"]["resourceType"] == resource_type).count()
            };
            let listed = |key: &str| case[key].as_array().map_or(0, Vec::len);
            assert_eq!(count("Condition"), 1 + listed("history"), "{name}: an episode and the history");
            assert_eq!(count("MedicationStatement"), listed("trials") + listed("concomitant"), "{name}");
            // The TRD determination says what the chart's evaluation says.
            let evaluation =
                api.call("GET", &format!("/api/v1/patients/{patient_id}/evaluation"), nurse, None, &[]).await;
            let trd = entries
                .iter()
                .map(|entry| &entry["resource"])
                .find(|resource| resource["code"]["coding"][0]["code"] == "trd-determination")
                .unwrap_or_else(|| panic!("{name}: no TRD determination"));
            let component_status = |code: &str| {
                trd["component"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|component| component["code"]["coding"][0]["code"] == code)
                    .map(|component| component["valueCodeableConcept"]["coding"][0]["code"].clone())
            };
            assert_eq!(
                component_status("trd-label-definition"),
                Some(evaluation.body["report"]["trd"]["label"]["status"].clone()),
                "{name}"
            );
            assert_eq!(
                component_status("trd-distinct-classes-definition"),
                Some(evaluation.body["report"]["trd"]["distinct_classes"]["status"].clone()),
                "{name}"
            );
            for entry in entries {
                let resource = &entry["resource"];
                for error in validators.errors(resource) {
                    failures.push(format!("{name} {}/{}: {error}", resource["resourceType"], resource["id"]));
                }
                validated += 1;
            }
        }
        eprintln!("validated {validated} resources exported through the router");
        assert!(failures.is_empty(), "{} schema failures:\n{}", failures.len(), failures.join("\n"));
        // The CapabilityStatement needs no login and validates too.
        let metadata = api.raw("GET", "/fhir/r4/metadata", None, None, None, &[]).await;
        assert_eq!(metadata.status, StatusCode::OK);
        assert_eq!(metadata.headers[header::CONTENT_TYPE], "application/fhir+json");
        assert_eq!(validators.errors(&metadata.body), Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_fhir_export_is_audited_as_a_patient_read_and_analysts_may_not() {
    each_backend(|db| async move {
        let (api, tokens) = Api::new(db.store).await;
        let nurse = tokens.of(Role::Nurse);
        let patient_id = api.create_patient(nurse, "1984-05-02", "female").await;
        let path = format!("/fhir/r4/Patient/{patient_id}/$everything");
        assert_eq!(api.call("GET", &path, nurse, None, &[]).await.status, StatusCode::OK);
        assert_eq!(api.call("GET", &path, tokens.of(Role::Analyst), None, &[]).await.status, StatusCode::FORBIDDEN);
        let missing = api.call("GET", "/fhir/r4/Patient/no-such-patient/$everything", nurse, None, &[]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let events = api.call("GET", "/api/v1/audit/events?limit=1000", tokens.of(Role::Auditor), None, &[]).await;
        let exports: Vec<(String, String)> = events.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["resource"].as_str().is_some_and(|resource| resource.ends_with("/fhir/$everything")))
            .map(|event| (event["action"].as_str().unwrap().to_owned(), event["outcome"].as_str().unwrap().to_owned()))
            .collect();
        let expected = [("patient.read", "success"), ("patient.read", "denied"), ("patient.read", "not_found")];
        assert_eq!(exports, expected.map(|(action, outcome)| (action.to_owned(), outcome.to_owned())));
    })
    .await;
}
