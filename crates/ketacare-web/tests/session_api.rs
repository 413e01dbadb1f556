//! Treatment plans and sessions through the router on SQLite and, when configured, PostgreSQL: the
//! example sessions of docs/sessions.md replayed one observation at a time give the alerts, discharge and
//! REMS form of `ketacare session check`; idempotent retries, stale updates, acknowledgements, concurrent
//! observations, REMS submission and plans with their scheduled sessions.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use jiff::Timestamp;
use ketacare_app::{Actor, App, NewAccount, Role};
use ketacare_case::session_format::{check_session, parse_session_json, session_report_json};
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

/// The router with a nurse and a prescriber, on a clock fixed at `now`, called with bearer tokens.
struct Api {
    router: Router,
    now: Timestamp,
    nurse: String,
    prescriber: String,
}

impl Api {
    async fn new(store: ketacare_store::Store, now: Timestamp) -> Api {
        let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || now));
        let router = router(app.clone(), WebConfig::default());
        let mut api = Api { router, now, nurse: String::new(), prescriber: String::new() };
        for role in [Role::Nurse, Role::Prescriber] {
            let password = format!("correct horse battery {}", role.as_str());
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: password.clone(),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
            let login = json!({ "username": role.as_str(), "password": password }).to_string();
            let reply = api.call_as("", "POST", "/api/v1/session", Some(&login), &[]).await;
            let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
            let csrf = reply.body["csrf_token"].as_str().unwrap().to_owned();
            let request = Request::post("/api/v1/tokens")
                .header(header::COOKIE, cookie)
                .header("x-csrf-token", csrf)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"label":"test"}"#))
                .unwrap();
            let response = api.router.clone().oneshot(request).await.unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let token = serde_json::from_slice::<Value>(&bytes).unwrap()["token"].as_str().unwrap().to_owned();
            match role {
                Role::Nurse => api.nurse = token,
                _ => api.prescriber = token,
            }
        }
        // The clinic's consent forms (a dose needs a current consent to its modality), kept by an admin.
        let admin = NewAccount {
            username: "admin".to_owned(),
            password: "correct horse battery admin".to_owned(),
            role: Role::Admin,
            must_change_password: false,
        };
        let admin = Actor {
            user_id: app.create_user(None, &admin).await.unwrap(),
            role: Role::Admin,
            request_id: "t".to_owned(),
        };
        for modality in ["esketamine", "iv_racemic_ketamine"] {
            let form = json!({ "form_id": modality.replace('_', "-"), "modality": modality, "title": "Consent",
                               "body_text": "Risks: blood pressure, dissociation, sedation, misuse." });
            app.create_consent_form_version(&admin, &form.to_string()).await.unwrap();
        }
        api
    }

    async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        if !token.is_empty() {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
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

    /// As the nurse.
    async fn call(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        self.call_as(&self.nurse, method, path, body, headers).await
    }

    async fn create_patient(&self) -> String {
        let body = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1984-05-02",
                           "sex_at_birth": "female" });
        let reply = self.call("POST", "/api/v1/patients", Some(&body.to_string()), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let patient_id = reply.body["patient_id"].as_str().unwrap().to_owned();
        // Consented to both treatments in the summer.
        for form_id in ["esketamine", "iv-racemic-ketamine"] {
            let consent = json!({ "form_id": form_id, "signed_on": "2026-06-01", "signer_name": "Ada Lovelace",
                                  "signer_relationship": "patient", "witness_username": "prescriber" });
            let path = format!("/api/v1/patients/{patient_id}/consents");
            let reply = self.call("POST", &path, Some(&consent.to_string()), &[]).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        }
        patient_id
    }

    /// The prescriber signs an order for the session's modality and planned dose (IV: on a weight recorded
    /// in the chart so that 0.5 mg/kg gives the planned dose); returns its id.
    async fn order_for(&self, patient_id: &str, facts: &Value) -> String {
        let planned: f64 = facts["dose"]["planned_mg"].as_f64().unwrap_or(56.0);
        let order = if facts["modality"] == "esketamine" {
            json!({ "modality": "esketamine", "dose_mg": planned })
        } else {
            let measurement = json!({ "measured_on": "2026-11-01", "height_cm": 175, "weight_kg": planned * 2.0 });
            let reply = self
                .call(
                    "POST",
                    &format!("/api/v1/patients/{patient_id}/chart/measurements"),
                    Some(&measurement.to_string()),
                    &[],
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            json!({ "modality": "iv_racemic_ketamine", "mg_per_kg": 0.5, "infusion_min": 40 })
        };
        let reply = self
            .call_as(
                &self.prescriber,
                "POST",
                &format!("/api/v1/patients/{patient_id}/orders"),
                Some(&order.to_string()),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["order_id"].as_str().unwrap().to_owned()
    }

    /// Starts a session from `facts` under a prescriber's order (signed here unless the facts name one)
    /// and returns its path.
    async fn start_session(&self, patient_id: &str, facts: &Value) -> String {
        let mut facts = facts.clone();
        // The end of monitoring is recorded once it has happened: a later one is refused.
        if let (Some(zone), Some(ended)) = (facts["time_zone"].as_str(), facts["monitoring_ended_at"].as_str()) {
            let local: jiff::civil::DateTime = ended.parse().unwrap();
            let ended = jiff::tz::TimeZone::get(zone).unwrap().to_timestamp(local).unwrap();
            if ended > self.now {
                facts.as_object_mut().unwrap().remove("monitoring_ended_at");
            }
        }
        if facts.get("order_id").is_none() {
            facts["order_id"] = json!(self.order_for(patient_id, &facts).await);
        }
        let reply =
            self.call("POST", &format!("/api/v1/patients/{patient_id}/sessions"), Some(&facts.to_string()), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        format!("/api/v1/patients/{patient_id}/sessions/{}", reply.body["session_id"].as_str().unwrap())
    }
}

fn example(name: &str) -> (String, Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples").join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let value = serde_json::from_str(&text).unwrap();
    (text, value)
}

/// The example's `now` as an instant (its clock for the server).
fn example_now(text: &str) -> Timestamp {
    parse_session_json(text.as_bytes()).unwrap().now.unwrap()
}

/// What `ketacare session check FILE --format json` prints for the example.
fn cli_report(text: &str) -> Value {
    let input = parse_session_json(text.as_bytes()).unwrap();
    let protocol = Protocol::shipped();
    let now = input.now.unwrap();
    session_report_json(&input, &check_session(&input, &protocol, now), &protocol, now)
}

/// The example's document without `now` and `observations`, and its observations. And without the consent
/// it states: the server reads the patient's consent records instead.
fn split_example(document: &Value) -> (Value, Vec<Value>) {
    let mut facts = document.clone();
    let object = facts.as_object_mut().unwrap();
    object.remove("now");
    object["pre_dose"].as_object_mut().unwrap().remove("informed_consent");
    let observations = object.remove("observations").unwrap().as_array().unwrap().clone();
    (facts, observations)
}

/// Posts every observation, returning the alert changes each response reported, in order.
async fn post_observations(api: &Api, session: &str, observations: &[Value]) -> Vec<Value> {
    let mut changes = Vec::new();
    for observation in observations {
        let reply = api.call("POST", &format!("{session}/observations"), Some(&observation.to_string()), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        changes.extend(reply.body["alerts"]["changes"].as_array().unwrap().iter().cloned());
    }
    changes
}

/// HL7's FHIR R4 JSON Schema and the checks of ketacare-fhir's own tests.
#[path = "../../ketacare-fhir/tests/support/mod.rs"]
mod fhir_support;

#[tokio::test]
async fn the_esketamine_example_through_the_api_gives_the_clis_check() {
    let (text, document) = example("session-esketamine.json");
    each_backend(move |db| {
        let (text, document) = (text.clone(), document.clone());
        async move {
            let api = Api::new(db.store, example_now(&text)).await;
            let patient_id = api.create_patient().await;
            let (mut facts, observations) = split_example(&document);
            // The dose given is recorded as an administration (two devices from one lot), not in the facts.
            let dose = facts["dose"].clone();
            facts["dose"] = json!({ "planned_mg": dose["planned_mg"], "planned_at": dose["planned_at"] });
            let session = api.start_session(&patient_id, &facts).await;
            // The pre-dose readings first: the gate allows no dose without them.
            let started = dose["started_at"].as_str().unwrap();
            let pre_dose_count = observations.iter().take_while(|o| o["at"].as_str().unwrap() <= started).count();
            let mut changes = post_observations(&api, &session, &observations[..pre_dose_count]).await;
            let administration = json!({ "drug": "esketamine", "dose_mg": 56, "device_count": 2,
                "lot_number": dose["lot_number"], "started_at": dose["started_at"], "ended_at": dose["ended_at"] });
            // A wrong lot recorded first, then corrected: marked entered in error (kept), and recorded anew.
            let mut wrong = administration.clone();
            wrong["lot_number"] = json!("ESK-WRONG");
            let recorded = api.call("POST", &format!("{session}/administrations"), Some(&wrong.to_string()), &[]).await;
            assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
            let wrong_id = recorded.body["administration_id"].as_str().unwrap();
            // A second 56 mg on top of the first is more than the order and the 84 mg maximum: refused.
            let twice =
                api.call("POST", &format!("{session}/administrations"), Some(&administration.to_string()), &[]).await;
            assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", twice.body);
            assert_eq!(twice.body["rule_id"], "ESKETAMINE_MAX_MG", "{}", twice.body);
            let version = api.call("GET", &session, None, &[]).await.headers[header::ETAG].to_str().unwrap().to_owned();
            let mark = json!({ "reason": "lot misread", "status": "entered_in_error" }).to_string();
            let marked = api
                .call("PATCH", &format!("{session}/administrations/{wrong_id}"), Some(&mark), &[("if-match", &version)])
                .await;
            assert_eq!(marked.status, StatusCode::OK, "{}", marked.body);
            let given =
                api.call("POST", &format!("{session}/administrations"), Some(&administration.to_string()), &[]).await;
            assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
            let marked = api.call("GET", &session, None, &[]).await;
            assert_eq!(marked.body["document"]["dose"]["lot_number"], dose["lot_number"]);
            let statuses: Vec<(&str, &str)> = marked.body["administrations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (a["lot_number"].as_str().unwrap(), a["status"].as_str().unwrap()))
                .filter(|(lot, _)| *lot == "ESK-WRONG")
                .collect();
            assert_eq!(statuses, [("ESK-WRONG", "entered_in_error")], "kept, not deleted");
            changes.extend(post_observations(&api, &session, &observations[pre_dose_count..]).await);

            let expected = cli_report(&text);
            assert_eq!(Value::Array(changes), expected["alerts"]["changes"], "alert changes as entered");
            let view = api.call("GET", &session, None, &[]).await;
            assert_eq!(view.status, StatusCode::OK);
            assert_eq!(view.body["report"], expected, "the engine's view equals `ketacare session check`");
            assert_eq!(view.body["report"]["discharge"]["earliest_at"], "2026-11-28T11:10:00-05:00");
            assert_eq!(view.body["alert_log"], expected["alerts"]["changes"]);
            assert_eq!(view.body["rems_form"]["status"], "draft");
            assert_eq!(view.body["rems_form"]["due_on"], "2026-12-05");
            assert_eq!(view.headers[header::ETAG], format!("\"v{}\"", observations.len() + 4));

            // The session in the patient's FHIR export: both doses (the wrong lot marked), the vital signs at
            // the clinic's offset, every resource valid against HL7's schema.
            let exported = api.call("GET", &format!("/fhir/r4/Patient/{patient_id}/$everything"), None, &[]).await;
            assert_eq!(exported.status, StatusCode::OK, "{}", exported.body);
            let resources: Vec<&Value> =
                exported.body["entry"].as_array().unwrap().iter().map(|entry| &entry["resource"]).collect();
            let mut doses: Vec<(String, String, String)> = resources
                .iter()
                .filter(|resource| resource["resourceType"] == "MedicationAdministration")
                .map(|resource| {
                    let lot = resource["extension"][0]["valueString"].as_str().unwrap().to_owned();
                    let status = resource["status"].as_str().unwrap().to_owned();
                    let start = &resource["effectivePeriod"]["start"];
                    (lot, status, start.as_str().unwrap().to_owned())
                })
                .collect();
            doses.sort();
            // Recorded with the last device's time too: a period from the first device to the last.
            let at = "2026-11-28T09:10:00-05:00".to_owned();
            assert_eq!(
                doses,
                [
                    ("ESK-24117".to_owned(), "completed".to_owned(), at.clone()),
                    ("ESK-WRONG".to_owned(), "entered-in-error".to_owned(), at)
                ]
            );
            let first_bp = resources
                .iter()
                .find(|resource| resource["code"]["coding"][0]["code"] == "85354-9")
                .expect("the session's blood pressures");
            assert_eq!(first_bp["effectiveDateTime"], "2026-11-28T09:00:00-05:00");
            let mut validators = fhir_support::FhirValidators::new();
            let failures: Vec<String> = resources.iter().flat_map(|resource| validators.errors(resource)).collect();
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        }
    })
    .await;
}

#[tokio::test]
async fn the_iv_example_through_the_api_gives_the_clis_check() {
    let (text, document) = example("session-iv.json");
    each_backend(move |db| {
        let (text, document) = (text.clone(), document.clone());
        async move {
            let api = Api::new(db.store, example_now(&text)).await;
            let patient_id = api.create_patient().await;
            let (facts, observations) = split_example(&document);
            let session = api.start_session(&patient_id, &facts).await;
            let changes = post_observations(&api, &session, &observations).await;
            let expected = cli_report(&text);
            assert_eq!(Value::Array(changes), expected["alerts"]["changes"]);
            let escalated = &expected["alerts"]["changes"][2];
            assert_eq!(
                (escalated["id"].as_str(), escalated["change"].as_str()),
                (Some("BP_HIGH#1"), Some("escalated"))
            );
            let view = api.call("GET", &session, None, &[]).await;
            assert_eq!(view.body["report"], expected);
            assert_eq!(view.body["report"]["discharge"]["earliest_at"], "2026-11-28T14:20:00-05:00");
            assert_eq!(view.body["rems_form"]["required"], false);
        }
    })
    .await;
}

fn esketamine_start() -> Value {
    let (_, document) = example("session-esketamine.json");
    split_example(&document).0
}

#[tokio::test]
async fn an_acknowledged_alert_stays_active_until_the_engine_resolves_it() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:00:00Z".parse().unwrap()).await;
        let patient_id = api.create_patient().await;
        let session = api.start_session(&patient_id, &esketamine_start()).await;
        let sedated = json!({ "at": "2026-11-28T09:40", "moaas": 3 });
        let raised = post_observations(&api, &session, &[sedated]).await;
        assert_eq!((raised[0]["id"].as_str(), raised[0]["change"].as_str()), (Some("SEDATION#1"), Some("raised")));

        let acknowledgement = format!("{session}/alerts/SEDATION%231/acknowledgement");
        let body = json!({ "acknowledged_at": "2026-11-28T09:41", "note": "at bedside" }).to_string();
        let reply = api.call("POST", &acknowledgement, Some(&body), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.body["acknowledged_at"], "2026-11-28T09:41:00-05:00");
        let view = api.call("GET", &session, None, &[]).await;
        let active: Vec<&str> = view.body["report"]["alerts"]["active"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(active, ["SEDATION#1"], "acknowledging does not resolve");
        assert_eq!(view.body["acknowledgements"][0]["note"], "at bedside");

        let unknown = api.call("POST", &format!("{session}/alerts/BP_HIGH%231/acknowledgement"), Some("{}"), &[]).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let bad = api.call("POST", &acknowledgement, Some(r#"{"acknowledged_at":"soon"}"#), &[]).await;
        assert_eq!(
            (bad.status, bad.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("acknowledged_at"))
        );
    })
    .await;
}

#[tokio::test]
async fn a_retried_observation_is_recorded_once_and_a_stale_update_is_refused() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:00:00Z".parse().unwrap()).await;
        let patient_id = api.create_patient().await;
        let mut facts = esketamine_start();
        facts.as_object_mut().unwrap().remove("discharge");
        let session = api.start_session(&patient_id, &facts).await;
        let observation = json!({ "at": "2026-11-28T09:50", "systolic_mmhg": 162, "diastolic_mmhg": 92 }).to_string();
        let key = [("idempotency-key", "vitals-0950")];
        let first = api.call("POST", &format!("{session}/observations"), Some(&observation), &key).await;
        let retry = api.call("POST", &format!("{session}/observations"), Some(&observation), &key).await;
        assert_eq!((first.status, retry.status), (StatusCode::CREATED, StatusCode::CREATED));
        assert_eq!(retry.headers["idempotent-replayed"], "true");
        assert_eq!(first.body, retry.body);
        assert_eq!(first.body["alerts"]["changes"][0]["id"], "BP_HIGH#1");
        let view = api.call("GET", &session, None, &[]).await;
        assert_eq!(view.body["document"]["observations"].as_array().unwrap().len(), 1);
        assert_eq!(view.headers[header::ETAG], "\"v2\"");

        // The session moved on to v2 with the observation: an update read at v1 is refused.
        let discharge = json!({ "discharge": { "escort_present": true } }).to_string();
        let stale = api.call("PATCH", &session, Some(&discharge), &[("if-match", "\"v1\"")]).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);
        let fresh = api.call("PATCH", &session, Some(&discharge), &[("if-match", "\"v2\"")]).await;
        assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
        // Replacing what is recorded is a correction: it needs a reason, and the prior value is kept.
        let again = json!({ "discharge": { "escort_present": false } }).to_string();
        let no_reason = api.call("PATCH", &session, Some(&again), &[("if-match", "\"v3\"")]).await;
        assert_eq!(
            (no_reason.status, no_reason.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let with_reason = json!({ "reason": "escort left", "discharge": { "escort_present": false } }).to_string();
        let corrected = api.call("PATCH", &session, Some(&with_reason), &[("if-match", "\"v3\"")]).await;
        assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
        let amendments = api.call("GET", &format!("/api/v1/patients/{patient_id}/amendments"), None, &[]).await;
        let mut reasons: Vec<&str> =
            amendments.body["amendments"].as_array().unwrap().iter().map(|a| a["reason"].as_str().unwrap()).collect();
        reasons.sort_unstable(); // the clock is fixed, so both carry the same time
        assert_eq!(reasons, ["escort left", "recorded"]);

        let bad = json!({ "at": "2026-11-28T09:55", "moaas": 7 }).to_string();
        let refused = api.call("POST", &format!("{session}/observations"), Some(&bad), &[]).await;
        assert_eq!((refused.status, refused.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("moaas")));
        let earlier = json!({ "at": "2026-11-28T09:00", "moaas": 5 }).to_string();
        let refused = api.call("POST", &format!("{session}/observations"), Some(&earlier), &[]).await;
        assert_eq!((refused.status, refused.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("at")));
        let no_lot =
            json!({ "drug": "esketamine", "dose_mg": 56, "device_count": 2, "started_at": "2026-11-28T09:10" });
        let refused = api.call("POST", &format!("{session}/administrations"), Some(&no_lot.to_string()), &[]).await;
        assert_eq!(refused.body["field"], "lot_number");
    })
    .await;
}

#[tokio::test]
async fn concurrent_observations_of_one_session_do_not_race() {
    each_backend(|db| async move {
        let api = Arc::new(Api::new(db.store, "2026-11-28T15:00:00Z".parse().unwrap()).await);
        let patient_id = api.create_patient().await;
        let session = api.start_session(&patient_id, &esketamine_start()).await;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (api, session) = (Arc::clone(&api), session.clone());
            tasks.push(tokio::spawn(async move {
                let high = json!({ "at": "2026-11-28T09:50", "systolic_mmhg": 170, "diastolic_mmhg": 95 }).to_string();
                let reply = api.call("POST", &format!("{session}/observations"), Some(&high), &[]).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
                reply.body["alerts"]["changes"].as_array().unwrap().len()
            }));
        }
        let mut change_count = 0;
        for task in tasks {
            change_count += task.await.unwrap();
        }
        // Each observation was judged against the timeline it follows: BP_HIGH#1 is raised once, not 16 times.
        assert_eq!(change_count, 1);
        let view = api.call("GET", &session, None, &[]).await;
        assert_eq!(view.body["document"]["observations"].as_array().unwrap().len(), 16);
        assert_eq!(view.body["alert_log"].as_array().unwrap().len(), 1);
        assert_eq!(view.headers[header::ETAG], "\"v17\"");
    })
    .await;
}

#[tokio::test]
async fn a_rems_form_is_submitted_only_when_complete() {
    let (text, document) = example("session-esketamine.json");
    each_backend(move |db| {
        let (text, document) = (text.clone(), document.clone());
        async move {
            let api = Api::new(db.store, example_now(&text)).await;
            let patient_id = api.create_patient().await;
            let (facts, observations) = split_example(&document);
            let session = api.start_session(&patient_id, &facts).await;
            post_observations(&api, &session, &observations).await;
            let form = api.call("GET", &format!("{session}/rems-form"), None, &[]).await;
            assert_eq!(
                (form.body["status"].as_str(), form.body["edition"].as_str()),
                (Some("draft"), Some("respiratory"))
            );
            let version = form.headers[header::ETAG].to_str().unwrap().to_owned();
            let submission = format!("{session}/rems-form/submission");
            let refused = api.call("POST", &submission, None, &[("if-match", &version)]).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(refused.body["field"], "rems.monitoring_hcp.email");

            let mut rems = facts["rems"].clone();
            rems["monitoring_hcp"]["email"] = json!("nurse@clinic.example");
            let update = json!({ "reason": "email added", "rems": rems }).to_string();
            let updated = api.call("PATCH", &session, Some(&update), &[("if-match", &version)]).await;
            assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
            assert_eq!(updated.body["rems_form"]["status"], "complete");
            let version = updated.headers[header::ETAG].to_str().unwrap().to_owned();
            let submitted = api.call("POST", &submission, None, &[("if-match", &version)]).await;
            assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
            assert_eq!(
                (submitted.body["status"].as_str(), submitted.body["submission"].as_str()),
                (Some("submitted"), Some("submitted"))
            );
            let version = submitted.headers[header::ETAG].to_str().unwrap().to_owned();
            let twice = api.call("POST", &submission, None, &[("if-match", &version)]).await;
            assert_eq!(twice.status, StatusCode::CONFLICT);
        }
    })
    .await;
}

#[tokio::test]
async fn a_plan_generates_its_scheduled_sessions_and_a_session_fulfils_one() {
    let (_, mut document) = example("plan-iv.json");
    document.as_object_mut().unwrap().remove("now");
    each_backend(move |db| {
        let document = document.clone();
        async move {
            let api = Api::new(db.store, "2026-11-05T17:00:00Z".parse().unwrap()).await;
            let patient_id = api.create_patient().await;
            let plans = format!("/api/v1/patients/{patient_id}/plans");
            let nurse_tries = api.call("POST", &plans, Some(&document.to_string()), &[]).await;
            assert_eq!(nurse_tries.status, StatusCode::FORBIDDEN, "the prescriber prescribes the plan");
            let created = api.call_as(&api.prescriber, "POST", &plans, Some(&document.to_string()), &[]).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            let scheduled = created.body["scheduled_sessions"].as_array().unwrap().clone();
            assert_eq!(scheduled.len(), created.body["report"]["sessions"].as_array().unwrap().len());
            let statuses: Vec<&str> = scheduled.iter().take(3).map(|s| s["status"].as_str().unwrap()).collect();
            assert_eq!(statuses, ["completed", "completed", "missed"]);
            let next = scheduled.iter().find(|s| s["status"] == "scheduled").unwrap();
            let position = next["position"].as_i64().unwrap();
            let plan = format!("{plans}/{}", created.body["plan_id"].as_str().unwrap());

            let mut facts = json!({ "modality": "iv_racemic_ketamine", "time_zone": "America/New_York",
                "dose": { "planned_mg": 35, "planned_at": "2026-11-06T09:00" } });
            facts["fulfils"] = json!({ "plan_id": created.body["plan_id"], "position": position });
            api.start_session(&patient_id, &facts).await;
            let read = api.call("GET", &plan, None, &[]).await;
            let fulfilled = &read.body["scheduled_sessions"][usize::try_from(position).unwrap()];
            // Claimed by the session; it becomes completed when the session is discharged.
            assert_eq!(fulfilled["status"], "scheduled");
            assert!(fulfilled["treatment_session_id"].is_string());
            let mut again = facts.clone();
            again["order_id"] = json!(api.order_for(&patient_id, &facts).await);
            let twice = api
                .call("POST", &format!("/api/v1/patients/{patient_id}/sessions"), Some(&again.to_string()), &[])
                .await;
            assert_eq!(twice.status, StatusCode::NOT_FOUND, "a scheduled session is fulfilled once");

            let cancel = json!({ "reason": "patient declined further sessions", "status": "cancelled" }).to_string();
            let no_match = api.call_as(&api.prescriber, "PATCH", &plan, Some(&cancel), &[]).await;
            assert_eq!(no_match.status, StatusCode::PRECONDITION_REQUIRED);
            let cancelled =
                api.call_as(&api.prescriber, "PATCH", &plan, Some(&cancel), &[("if-match", "\"v1\"")]).await;
            assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
            let statuses: Vec<&str> = cancelled.body["scheduled_sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["status"].as_str().unwrap())
                .collect();
            assert!(statuses.iter().all(|status| ["completed", "cancelled"].contains(status)), "{statuses:?}");
            assert_eq!(
                statuses.iter().filter(|status| **status == "completed").count(),
                2,
                "the two given in the document; the session in progress does not complete its slot"
            );
            let bad = json!({ "reason": "typo", "plan": { "template": "weekly" } }).to_string();
            let refused = api.call_as(&api.prescriber, "PATCH", &plan, Some(&bad), &[("if-match", "\"v2\"")]).await;
            assert_eq!(
                (refused.status, refused.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("plan.template"))
            );
        }
    })
    .await;
}

#[tokio::test]
async fn the_worklist_shows_the_days_sessions_open_alerts_overdue_self_reports_and_rems_forms_due() {
    each_backend(|db| async move {
        // 10:00 in New York on the day of the plan's first session.
        let api = Api::new(db.store, "2026-11-28T15:00:00Z".parse().unwrap()).await;
        let patient_id = api.create_patient().await;
        let plan = json!({ "template": "induction_2x_week_3w", "time_zone": "America/New_York",
                           "first_session": "2026-11-28T09:00" });
        let plans = format!("/api/v1/patients/{patient_id}/plans");
        let created = api.call_as(&api.prescriber, "POST", &plans, Some(&plan.to_string()), &[]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let worklist = "/api/v1/worklist?date=2026-11-28&time_zone=America/New_York";

        let day = api.call("GET", worklist, None, &[]).await;
        assert_eq!(day.status, StatusCode::OK, "{}", day.body);
        let sessions = day.body["sessions_today"].as_array().unwrap();
        assert_eq!(sessions.len(), 1, "{}", day.body);
        assert_eq!(
            (
                sessions[0]["planned_at"].as_str(),
                sessions[0]["status"].as_str(),
                sessions[0]["patient"]["family_name"].as_str()
            ),
            (Some("2026-11-28T09:00:00-05:00"), Some("scheduled"), Some("Lovelace"))
        );
        let overdue = |body: &Value| -> Vec<String> {
            body["overdue_self_reports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["scale"].as_str().unwrap().to_owned())
                .collect()
        };
        // PHQ-9, MADRS and the baseline cognition screen are due before session 1 (09:00); it is 10:00.
        let mut scales = overdue(&day.body);
        scales.sort();
        assert_eq!(scales, ["cognition", "madrs", "phq9"]);
        assert_eq!(day.body["open_alerts"], json!([]));
        assert_eq!(day.body["rems_forms_due"], json!([]));

        // A PHQ-9 recorded in the chart today counts for the measurement plan.
        let phq9 = json!({ "scale": "phq9", "administered_on": "2026-11-28", "items": [2, 2, 3, 2, 2, 2, 2, 3, 0] });
        let recorded = api
            .call("POST", &format!("/api/v1/patients/{patient_id}/chart/scales"), Some(&phq9.to_string()), &[])
            .await;
        assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);

        // An esketamine session with a sedation alert, and its REMS form not yet submitted.
        let session = api.start_session(&patient_id, &esketamine_start()).await;
        post_observations(&api, &session, &[json!({ "at": "2026-11-28T09:40", "moaas": 3 })]).await;
        let day = api.call("GET", worklist, None, &[]).await;
        let mut scales = overdue(&day.body);
        scales.sort();
        assert_eq!(scales, ["cognition", "madrs"]);
        let alerts = day.body["open_alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{}", day.body);
        assert_eq!(
            (alerts[0]["alert_id"].as_str(), alerts[0]["change_kind"].as_str()),
            (Some("SEDATION#1"), Some("raised"))
        );
        let forms = day.body["rems_forms_due"].as_array().unwrap();
        assert_eq!(forms.len(), 1, "{}", day.body);
        assert_eq!((forms[0]["status"].as_str(), forms[0]["overdue"].as_bool()), (Some("draft"), Some(false)));
        assert_eq!(forms[0]["due_on"], "2026-12-05");

        // Session 1 started through the API: it claims its slot; the plan counts it as given only once the
        // session is discharged (the session test file follows a session to discharge).
        let plan_path = format!("{plans}/{}", created.body["plan_id"].as_str().unwrap());
        let before = api.call("GET", &plan_path, None, &[]).await;
        assert_eq!(before.body["report"]["sessions"][0]["status"], "planned");
        let facts = json!({ "modality": "iv_racemic_ketamine", "time_zone": "America/New_York",
            "dose": { "planned_mg": 35, "planned_at": "2026-11-28T09:00" },
            "fulfils": { "plan_id": created.body["plan_id"], "position": 0 } });
        api.start_session(&patient_id, &facts).await;
        let after = api.call("GET", &plan_path, None, &[]).await;
        assert_eq!(after.body["report"]["sessions"][0]["status"], "planned", "{}", after.body["report"]["sessions"][0]);
        assert!(after.body["scheduled_sessions"][0]["treatment_session_id"].is_string());
        let day = api.call("GET", worklist, None, &[]).await;
        assert_eq!(day.body["sessions_today"][0]["status"], "scheduled");
        let listed = api.call("GET", &format!("/api/v1/patients/{patient_id}/sessions"), None, &[]).await;
        let mut modalities: Vec<&str> =
            listed.body["sessions"].as_array().unwrap().iter().map(|s| s["modality"].as_str().unwrap()).collect();
        modalities.sort_unstable(); // both started at the test clock's one instant
        assert_eq!(modalities, ["esketamine", "iv_racemic_ketamine"], "{}", listed.body);
        let plans = api.call("GET", &plans, None, &[]).await;
        assert_eq!(plans.body["plans"][0]["report"]["sessions"][0]["status"], "planned");

        // Acknowledged: off the list until it changes again.
        let acknowledgement = format!("{session}/alerts/SEDATION%231/acknowledgement");
        let reply = api.call("POST", &acknowledgement, Some(r#"{"note":"at bedside"}"#), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let day = api.call("GET", worklist, None, &[]).await;
        assert_eq!(day.body["open_alerts"], json!([]));

        // Another day: no session planned; a bad date names its field.
        let next_day = api.call("GET", "/api/v1/worklist?date=2026-11-29&time_zone=America/New_York", None, &[]).await;
        assert_eq!(next_day.body["sessions_today"], json!([]));
        let bad = api.call("GET", "/api/v1/worklist?date=tomorrow", None, &[]).await;
        assert_eq!((bad.status, bad.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("date")));
    })
    .await;
}

#[tokio::test]
async fn a_plan_judges_the_course_on_the_charts_scale_results_as_the_cli_does() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:00:00Z".parse().unwrap()).await;
        let patient_id = api.create_patient().await;
        let plan = json!({ "template": "induction_2x_week_3w", "time_zone": "America/New_York",
            "first_session": "2026-11-16T09:00",
            "events": [ { "given": "2026-11-16T09:00" }, { "given": "2026-11-19T09:00" } ] });
        let plans = format!("/api/v1/patients/{patient_id}/plans");
        let created = api.call_as(&api.prescriber, "POST", &plans, Some(&plan.to_string()), &[]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["report"]["course"], Value::Null, "no scale results yet, no course");

        let scales = format!("/api/v1/patients/{patient_id}/chart/scales");
        for (date, total) in [("2026-11-14", 34), ("2026-11-26", 14)] {
            let result = json!({ "scale": "madrs", "administered_on": date, "total": total }).to_string();
            assert_eq!(api.call("POST", &scales, Some(&result), &[]).await.status, StatusCode::CREATED);
        }
        let plan_path = format!("{plans}/{}", created.body["plan_id"].as_str().unwrap());
        let read = api.call("GET", &plan_path, None, &[]).await;
        let course = &read.body["report"]["course"];
        assert_eq!(
            (course["status"].as_str(), course["recommendation"].as_str()),
            (Some("response"), Some("continue"))
        );

        // The CLI, given the same plan with the course written out, says the same.
        let mut file = plan.clone();
        file["now"] = json!("2026-11-28T10:00");
        file["course"] = json!({ "scale": "madrs", "phase": "induction", "first_treatment_date": "2026-11-16",
            "totals": [ { "date": "2026-11-14", "total": 34 }, { "date": "2026-11-26", "total": 14 } ] });
        let protocol = Protocol::shipped();
        let input = ketacare_case::parse_plan(&file, "2026-11-28T15:00:00Z".parse().unwrap()).unwrap();
        let schedule = ketacare_core::plan::plan(&input.request, &protocol).unwrap();
        let cli_course = input.course.as_ref().map(|course| course.evaluate(&protocol));
        let cli = ketacare_case::plan_report_json(&input, &schedule, cli_course.as_ref(), &protocol);
        assert_eq!(course, &cli["course"]);
    })
    .await;
}

#[tokio::test]
async fn a_plan_that_runs_past_the_supported_dates_is_refused_naming_first_session() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:00:00Z".parse().unwrap()).await;
        let patient_id = api.create_patient().await;
        let plans = format!("/api/v1/patients/{patient_id}/plans");
        let plan = |template: &str, first_session: &str| {
            json!({ "template": template, "time_zone": "America/New_York", "first_session": first_session })
        };
        let mut with_taper = plan("induction_3x_week_2w", "9999-08-02T09:00");
        with_taper["maintenance_taper"] = json!(true);
        // (what, plan document, the problem's field)
        let cases = [
            ("twice weekly from 9999-12-20", plan("induction_2x_week_3w", "9999-12-20T09:00"), "first_session"),
            ("esketamine from 9999-10-01", plan("esketamine_trd", "9999-10-01T09:00"), "first_session"),
            ("the monthly taper past 9999", with_taper, "first_session"),
            ("a first session past the last instant", plan("induction_2x_week_3w", "9999-12-31T09:00"), "first_session"),
        ];
        let mut failures = Vec::new();
        for (what, document, field) in cases {
            let reply = api.call_as(&api.prescriber, "POST", &plans, Some(&document.to_string()), &[]).await;
            let answered = (reply.status, reply.body["field"].as_str());
            if answered != (StatusCode::UNPROCESSABLE_ENTITY, Some(field)) {
                failures.push(format!("{what}: {answered:?} {}", reply.body));
            }
        }
        // The same document as an amendment of a plan.
        let created =
            api.call_as(&api.prescriber, "POST", &plans, Some(&plan("induction_2x_week_3w", "2026-11-30T09:00").to_string()), &[]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let plan_path = format!("{plans}/{}", created.body["plan_id"].as_str().unwrap());
        let amendment = json!({ "reason": "moved", "plan": plan("induction_2x_week_3w", "9999-12-20T09:00") });
        let reply = api
            .call_as(&api.prescriber, "PATCH", &plan_path, Some(&amendment.to_string()), &[("if-match", "\"v1\"")])
            .await;
        let answered = (reply.status, reply.body["field"].as_str());
        if answered != (StatusCode::UNPROCESSABLE_ENTITY, Some("plan.first_session")) {
            failures.push(format!("amendment: {answered:?} {}", reply.body));
        }
        assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
    })
    .await;
}

/// Course on every scale (issue 14): the chart's MADRS, PHQ-9 and QIDS-SR16 results all go into the plan's
/// course; the protocol's primary scale (MADRS) decides when it can, else the first other scale that can.
/// Each row: (case, chart results as (scale, date, total), expected status, expected `decided_by`).
#[tokio::test]
async fn a_plans_course_is_decided_on_the_scale_that_has_what_it_needs() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:00:00Z".parse().unwrap()).await;
        type ChartResults = &'static [(&'static str, &'static str, i64)];
        let cases: [(&str, ChartResults, &str, Value); 4] = [
            (
                "a MADRS baseline without follow-up, falling PHQ-9s: decided on PHQ-9",
                &[("madrs", "2026-11-14", 34), ("phq9", "2026-11-14", 20), ("phq9", "2026-11-26", 9)],
                "response",
                json!("phq9"),
            ),
            (
                "MADRS followed up: MADRS decides, PHQ-9 beside it",
                &[
                    ("madrs", "2026-11-14", 34),
                    ("madrs", "2026-11-26", 14),
                    ("phq9", "2026-11-14", 20),
                    ("phq9", "2026-11-26", 4),
                ],
                "response",
                json!("madrs"),
            ),
            (
                "only a MADRS baseline and QIDS-SR16s: decided on QIDS-SR16",
                &[("madrs", "2026-11-14", 34), ("qids_sr16", "2026-11-14", 18), ("qids_sr16", "2026-11-26", 5)],
                "remission",
                json!("qids_sr16"),
            ),
            (
                "no scale followed up: indeterminate, decided by none",
                &[("madrs", "2026-11-14", 34), ("phq9", "2026-11-14", 20)],
                "indeterminate",
                Value::Null,
            ),
        ];
        let mut failures = Vec::new();
        for (name, results, status, decided_by) in cases {
            let patient_id = api.create_patient().await;
            let plan = json!({ "template": "induction_2x_week_3w", "time_zone": "America/New_York",
                "first_session": "2026-11-16T09:00",
                "events": [ { "given": "2026-11-16T09:00" }, { "given": "2026-11-19T09:00" } ] });
            let plans = format!("/api/v1/patients/{patient_id}/plans");
            let created = api.call_as(&api.prescriber, "POST", &plans, Some(&plan.to_string()), &[]).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            let scales = format!("/api/v1/patients/{patient_id}/chart/scales");
            for (scale, date, total) in results {
                let result = json!({ "scale": scale, "administered_on": date, "total": total }).to_string();
                let recorded = api.call("POST", &scales, Some(&result), &[]).await;
                assert_eq!(recorded.status, StatusCode::CREATED, "{name}: {}", recorded.body);
            }
            let read =
                api.call("GET", &format!("{plans}/{}", created.body["plan_id"].as_str().unwrap()), None, &[]).await;
            let course = &read.body["report"]["course"];
            let scales_listed: Vec<&str> =
                course["scales"].as_array().into_iter().flatten().filter_map(|scale| scale["scale"].as_str()).collect();
            let expected_scales = {
                let mut listed: Vec<&str> = Vec::new();
                for wanted in ["madrs", "phq9", "qids_sr16"] {
                    if results.iter().any(|(scale, _, _)| *scale == wanted) {
                        listed.push(wanted);
                    }
                }
                listed
            };
            let got =
                (course["status"].as_str(), &course["decided_by"], course["primary_scale"].as_str(), scales_listed);
            let expected = (Some(status), &decided_by, Some("madrs"), expected_scales);
            if got != expected {
                failures.push(format!("{name}: got {got:?}, expected {expected:?}: {course}"));
            }
        }
        assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n"));
    })
    .await;
}

/// Overdue that means something (issue 14): a patient in remission whose induction ended weeks ago has
/// no overdue item that can never clear; the windows that closed without a result are missed and count in
/// adherence; staff mark a measurement not applicable only with a reason, and then it is neither overdue
/// nor missed.
#[tokio::test]
async fn closed_windows_are_missed_and_a_measurement_is_set_aside_only_with_a_reason() {
    each_backend(|db| async move {
        let now: Timestamp = "2026-11-28T15:00:00Z".parse().unwrap();
        let api = Api::new(db.store, now).await;
        let patient_id = api.create_patient().await;
        // Six infusions in October, all given; PHQ-9s before the first two only, then remission.
        let given: Vec<Value> = ["2026-10-05", "2026-10-08", "2026-10-12", "2026-10-15", "2026-10-19", "2026-10-22"]
            .iter()
            .map(|day| json!({ "given": format!("{day}T09:00") }))
            .collect();
        let plan = json!({ "template": "induction_2x_week_3w", "time_zone": "America/New_York",
            "first_session": "2026-10-05T09:00", "events": given });
        let plans = format!("/api/v1/patients/{patient_id}/plans");
        let created = api.call_as(&api.prescriber, "POST", &plans, Some(&plan.to_string()), &[]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let plan_path = format!("{plans}/{}", created.body["plan_id"].as_str().unwrap());
        let scales = format!("/api/v1/patients/{patient_id}/chart/scales");
        for (scale, date, total) in [
            ("phq9", "2026-10-04", 19),
            ("madrs", "2026-10-01", 30),
            ("phq9", "2026-10-07", 12),
            ("phq9", "2026-11-27", 3),
        ] {
            let result = json!({ "scale": scale, "administered_on": date, "total": total }).to_string();
            assert_eq!(api.call("POST", &scales, Some(&result), &[]).await.status, StatusCode::CREATED);
        }
        let report = api.call("GET", &plan_path, None, &[]).await.body["report"].clone();
        let measurements = report["measurements"].as_array().unwrap().clone();
        let statuses = |measurements: &[Value], status: &str| {
            measurements.iter().filter(|measurement| measurement["status"] == status).count()
        };
        // Nothing that can never clear is overdue: an overdue item still has its window open.
        for measurement in &measurements {
            let closes_at: Timestamp = measurement["closes_at"].as_str().unwrap().parse().unwrap();
            if measurement["status"] == "overdue" {
                assert!(closes_at > now, "overdue but closed: {measurement}");
            }
            if closes_at < now {
                assert!(
                    ["done", "missed", "not_applicable"].contains(&measurement["status"].as_str().unwrap()),
                    "closed yet {measurement}"
                );
            }
        }
        let (done, missed) = (statuses(&measurements, "done"), statuses(&measurements, "missed"));
        assert!(missed > 0, "{measurements:?}");
        let adherence = &report["measurement_adherence"];
        let percent = (200 * done + done + missed) / (2 * (done + missed));
        assert_eq!(
            (adherence["done"].as_u64(), adherence["missed"].as_u64(), adherence["percent"].as_u64()),
            (Some(done as u64), Some(missed as u64), Some(percent as u64)),
            "{adherence}"
        );
        // The worklist lists only what can still be done.
        let worklist = api.call("GET", "/api/v1/worklist?date=2026-11-28", None, &[]).await;
        assert_eq!(worklist.status, StatusCode::OK, "{}", worklist.body);
        let listed: Vec<&Value> = worklist.body["overdue_self_reports"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["patient"]["patient_id"] == patient_id.as_str())
            .collect();
        assert_eq!(listed.len(), statuses(&measurements, "overdue"), "{listed:?}");
        for item in &listed {
            let closes_at: Timestamp = item["closes_at"].as_str().unwrap().parse().unwrap();
            assert!(closes_at > now, "{item}");
        }

        // Not applicable needs a reason: refused naming the field, nothing changed.
        let missed_item = measurements.iter().find(|measurement| measurement["status"] == "missed").unwrap().clone();
        let marking = format!("{plan_path}/measurements-not-applicable");
        let body = |reason: Value| {
            let mut body = json!({ "scale": missed_item["scale"], "due_at": missed_item["due_at"] });
            if !reason.is_null() {
                body["reason"] = reason;
            }
            body.to_string()
        };
        let refusals: [(&str, String, &str); 5] = [
            ("no reason", body(Value::Null), "reason"),
            ("a blank reason", body(json!("   ")), "reason"),
            ("a reason that is not text", body(json!(7)), "reason"),
            (
                "an unknown scale",
                json!({ "scale": "gad7", "due_at": missed_item["due_at"], "reason": "x" }).to_string(),
                "scale",
            ),
            (
                "no such measurement",
                json!({ "scale": "phq9", "due_at": "2026-10-06T09:00:00-04:00", "reason": "x" }).to_string(),
                "due_at",
            ),
        ];
        let mut failures = Vec::new();
        for (name, body, field) in refusals {
            let reply = api.call("POST", &marking, Some(&body), &[]).await;
            if (reply.status, reply.body["field"].as_str()) != (StatusCode::UNPROCESSABLE_ENTITY, Some(field)) {
                failures.push(format!("{name}: {} {}", reply.status, reply.body));
            }
        }
        assert!(failures.is_empty(), "{} failing case(s):\n{}", failures.len(), failures.join("\n"));
        let unchanged = api.call("GET", &plan_path, None, &[]).await.body["report"].clone();
        assert_eq!(unchanged["measurement_adherence"], report["measurement_adherence"]);

        // With a reason: stored, and the measurement is not applicable, out of adherence.
        let reason = "screened at the memory clinic; copy in the paper chart";
        let marked = api.call("POST", &marking, Some(&body(json!(reason))), &[]).await;
        assert_eq!(marked.status, StatusCode::CREATED, "{}", marked.body);
        assert_eq!((marked.body["reason"].as_str(), marked.body["status"].as_str()), (Some(reason), Some("active")));
        let after = api.call("GET", &plan_path, None, &[]).await.body["report"].clone();
        let same = after["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|measurement| {
                measurement["scale"] == missed_item["scale"] && measurement["due_at"] == missed_item["due_at"]
            })
            .unwrap()
            .clone();
        assert_eq!(same["status"], "not_applicable");
        assert_eq!(
            (
                after["measurement_adherence"]["missed"].as_u64(),
                after["measurement_adherence"]["not_applicable"].as_u64()
            ),
            (Some(missed as u64 - 1), Some(1))
        );
        // Marked once: a second marking is refused.
        let again = api.call("POST", &marking, Some(&body(json!(reason))), &[]).await;
        assert_eq!((again.status, again.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("due_at")));

        // A marking made in error is corrected, never deleted: it needs a reason and its If-Match, it is
        // kept with who and when, and the measurement is missed again.
        let listed = api.call("GET", &marking, None, &[]).await;
        assert_eq!(listed.body["markings"].as_array().map(Vec::len), Some(1), "{}", listed.body);
        let one = format!("{marking}/{}", marked.body["marking_id"].as_str().unwrap());
        let no_reason = json!({ "status": "entered_in_error" }).to_string();
        let refused = api.call("PATCH", &one, Some(&no_reason), &[("if-match", "\"v1\"")]).await;
        assert_eq!(
            (refused.status, refused.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let correction = json!({ "status": "entered_in_error", "reason": "wrong patient's screen" }).to_string();
        assert_eq!(api.call("PATCH", &one, Some(&correction), &[]).await.status, StatusCode::PRECONDITION_REQUIRED);
        let corrected = api.call("PATCH", &one, Some(&correction), &[("if-match", "\"v1\"")]).await;
        assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
        assert_eq!(
            (corrected.body["status"].as_str(), corrected.body["entered_in_error_reason"].as_str()),
            (Some("entered_in_error"), Some("wrong patient's screen"))
        );
        let restored = api.call("GET", &plan_path, None, &[]).await.body["report"].clone();
        assert_eq!(restored["measurement_adherence"], report["measurement_adherence"]);
        let listed = api.call("GET", &marking, None, &[]).await;
        assert_eq!(listed.body["markings"][0]["status"], "entered_in_error", "kept: {}", listed.body);
    })
    .await;
}
