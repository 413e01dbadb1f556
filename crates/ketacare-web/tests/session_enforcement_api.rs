//! The server enforces what the engine decides, through the router on SQLite and, when configured,
//! PostgreSQL: every refusal (a gate hold, a hard stop, a dose that differs from its order, a nurse
//! ordering, a time after the server's clock, an early REMS submission, a discharge before the patient is
//! ready, a change to a signed session) is a 422 or 403 that names its field and rule, and each test reads
//! the session back to see that nothing was stored. Corrections replay the alerts and the worklist follows;
//! a session entered in error frees its scheduled session. And after a morning's work, every edit, deletion
//! or insertion of a covered row behind the application's back is named by `audit verify`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use jiff::Timestamp;
use ketacare_app::{Actor, App, NewAccount, Role};
use ketacare_case::session_format::{check_session, parse_session, session_report_json};
use ketacare_core::protocol::Protocol;
use ketacare_store::RowProblemKind;
use ketacare_store::row_versions::{COVERED_TABLES, CoveredTable};
use ketacare_store::test_support::each_backend;
use ketacare_web::{WebConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const ZONE: &str = "America/New_York";

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

/// The router on a clock the test moves, with a nurse, a second nurse and a prescriber.
struct Api {
    router: Router,
    clock: Arc<Mutex<Timestamp>>,
    nurse: String,
    other_nurse: String,
    prescriber: String,
}

impl Api {
    async fn new(store: ketacare_store::Store, now: &str) -> Api {
        let clock = Arc::new(Mutex::new(now.parse::<Timestamp>().unwrap()));
        let read = clock.clone();
        let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || *read.lock().unwrap()));
        let router = router(app.clone(), WebConfig::default());
        let mut api =
            Api { router, clock, nurse: String::new(), other_nurse: String::new(), prescriber: String::new() };
        for (username, role) in [("nurse", Role::Nurse), ("nurse2", Role::Nurse), ("prescriber", Role::Prescriber)] {
            let password = format!("correct horse battery {username}");
            let account = NewAccount {
                username: username.to_owned(),
                password: password.clone(),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
            let login = json!({ "username": username, "password": password }).to_string();
            let request = Request::post("/api/v1/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(login))
                .unwrap();
            let response = api.router.clone().oneshot(request).await.unwrap();
            let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let csrf = serde_json::from_slice::<Value>(&bytes).unwrap()["csrf_token"].as_str().unwrap().to_owned();
            let request = Request::post("/api/v1/tokens")
                .header(header::COOKIE, cookie)
                .header("x-csrf-token", csrf)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"label":"test"}"#))
                .unwrap();
            let response = api.router.clone().oneshot(request).await.unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let token = serde_json::from_slice::<Value>(&bytes).unwrap()["token"].as_str().unwrap().to_owned();
            match username {
                "nurse" => api.nurse = token,
                "nurse2" => api.other_nurse = token,
                _ => api.prescriber = token,
            }
        }
        // The clinic's consent forms, kept by an admin (a dose needs a current consent to its modality).
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
        for (form_id, modality) in [("esketamine-treatment", "esketamine"), ("iv-treatment", "iv_racemic_ketamine")] {
            let form = json!({ "form_id": form_id, "modality": modality, "title": format!("Consent to {modality}"),
                               "body_text": "Risks: blood pressure, dissociation, sedation, misuse.", "valid_for_days": 365 });
            app.create_consent_form_version(&admin, &form.to_string()).await.unwrap();
        }
        api
    }

    /// Records the patient's consent on `form_id` signed on `signed_on`, witnessed by the prescriber.
    async fn consent(&self, patient_id: &str, form_id: &str, signed_on: &str) -> Reply {
        let consent = json!({ "form_id": form_id, "signed_on": signed_on, "signer_name": "Ada Lovelace",
                              "signer_relationship": "patient", "witness_username": "prescriber" });
        self.nurse("POST", &format!("/api/v1/patients/{patient_id}/consents"), Some(&consent)).await
    }

    /// A patient with a height and weight in the chart, who consented to both treatments.
    async fn patient(&self, sex_at_birth: &str, height_cm: u32, weight_kg: u32) -> String {
        let patient_id = self.patient_without_consent(sex_at_birth, height_cm, weight_kg).await;
        for form_id in ["esketamine-treatment", "iv-treatment"] {
            let reply = self.consent(&patient_id, form_id, "2026-06-01").await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        }
        patient_id
    }

    fn set_clock(&self, now: &str) {
        *self.clock.lock().unwrap() = now.parse().unwrap();
    }

    async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(etag) = if_match {
            request = request.header(header::IF_MATCH, etag);
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let text = body.map(Value::to_string).unwrap_or_default();
        let response = self.router.clone().oneshot(request.body(Body::from(text)).unwrap()).await.unwrap();
        let status = response.status();
        let etag = response.headers().get(header::ETAG).map(|value| value.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        Reply { status, etag, body }
    }

    async fn nurse(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.call_as(&self.nurse, method, path, body, None).await
    }

    async fn prescriber(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.call_as(&self.prescriber, method, path, body, None).await
    }

    /// A patient with a height and weight in the chart.
    async fn patient_without_consent(&self, sex_at_birth: &str, height_cm: u32, weight_kg: u32) -> String {
        let body = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1970-05-02",
                           "sex_at_birth": sex_at_birth });
        let reply = self.nurse("POST", "/api/v1/patients", Some(&body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let patient_id = reply.body["patient_id"].as_str().unwrap().to_owned();
        let measurement = json!({ "measured_on": "2026-11-01", "height_cm": height_cm, "weight_kg": weight_kg });
        let reply =
            self.nurse("POST", &format!("/api/v1/patients/{patient_id}/chart/measurements"), Some(&measurement)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        patient_id
    }

    async fn order(&self, patient_id: &str, order: Value) -> String {
        let reply = self.prescriber("POST", &format!("/api/v1/patients/{patient_id}/orders"), Some(&order)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["order_id"].as_str().unwrap().to_owned()
    }

    /// Starts a session and returns its path.
    async fn session(&self, patient_id: &str, facts: Value) -> String {
        let reply = self.nurse("POST", &format!("/api/v1/patients/{patient_id}/sessions"), Some(&facts)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        format!("/api/v1/patients/{patient_id}/sessions/{}", reply.body["session_id"].as_str().unwrap())
    }

    async fn observe(&self, session: &str, observation: Value) -> Reply {
        self.nurse("POST", &format!("{session}/observations"), Some(&observation)).await
    }

    async fn observed(&self, session: &str, observation: Value) {
        let reply = self.observe(session, observation).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    async fn read(&self, session: &str) -> Reply {
        let reply = self.nurse("GET", session, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply
    }
}

/// The problem's rule and field.
fn refusal(reply: &Reply) -> (StatusCode, &str, &str) {
    (reply.status, reply.body["rule_id"].as_str().unwrap_or("-"), reply.body["field"].as_str().unwrap_or("-"))
}

fn esketamine_facts(planned_at: &str, pre_dose: Value) -> Value {
    json!({ "modality": "esketamine", "care_setting": "outpatient", "time_zone": ZONE,
            "dose": { "planned_at": planned_at }, "pre_dose": pre_dose,
            "discharge": { "escort_present": true },
            "rems": {
                "edition": "respiratory",
                "patient": { "first_name": "Ada", "last_name": "Lovelace", "birth_date": "1970-05-02", "sex": "male",
                             "first_treatment": true, "enrolled": true },
                "medication": { "benzodiazepines": false, "non_benzodiazepine_sedative_hypnotics": false,
                                "psychostimulants": false, "maois": false, "opioids": false, "other_sedating_drugs": false },
                "monitoring_hcp": { "name": "nurse", "phone": "555-0100", "email": "nurse@clinic.example" },
                "setting": { "name": "clinic", "address": "1 Example Street" },
                "serious_adverse_events": "none" } })
}

fn ready_pre_dose() -> Value {
    json!({ "phq9_item9": 0, "last_food_at": "2026-11-28T05:00", "last_liquid_at": "2026-11-28T08:00",
            "escort_arranged": true, "rems_patient_enrolled": true })
}

fn bp(at: &str, systolic: u32, diastolic: u32) -> Value {
    json!({ "at": at, "systolic_mmhg": systolic, "diastolic_mmhg": diastolic })
}

fn esketamine_dose(started_at: &str) -> Value {
    json!({ "drug": "esketamine", "dose_mg": 56, "device_count": 2, "lot_number": "ESK-1", "started_at": started_at })
}

fn settled(at: &str) -> Value {
    json!({ "at": at, "systolic_mmhg": 126, "diastolic_mmhg": 78, "heart_rate_bpm": 72, "spo2_percent": 98,
            "respiratory_rate_per_min": 14, "moaas": 5, "cadss_total": 0, "crisis_symptoms": [] })
}

#[tokio::test]
async fn an_overridable_gate_hold_refuses_the_dose_until_a_prescriber_overrides_it_with_a_reason() {
    each_backend(|db| async move {
        // 10:00 in New York.
        let api = Api::new(db.store, "2026-11-28T15:00:00Z").await;
        let patient_id = api.patient("male", 180, 80).await;
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;
        // Pregnancy potential comes from the chart (male sex at birth); the session records none.
        let session = api.session(&patient_id, esketamine_facts("2026-11-28T09:50", ready_pre_dose())).await;
        api.observed(&session, bp("2026-11-28T09:40", 150, 95)).await;
        api.observed(&session, bp("2026-11-28T09:46", 152, 96)).await;

        let before = api.read(&session).await;
        assert_eq!(before.body["report"]["gate"]["items"][2]["status"], "pass", "{}", before.body["report"]["gate"]);
        assert_eq!(before.body["pre_dose_sources"][0]["field"], "pre_dose.can_become_pregnant");
        assert_eq!(before.body["pre_dose_sources"][1]["field"], "pre_dose.informed_consent");
        assert_eq!(before.body["pre_dose_sources"].as_array().unwrap().len(), 2, "{}", before.body["pre_dose_sources"]);
        let refused = api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("09:50"))).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        let refused =
            api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("2026-11-28T09:50"))).await;
        assert_eq!(
            refusal(&refused),
            (StatusCode::UNPROCESSABLE_ENTITY, "GATE_HOLD_NEEDS_PRESCRIBER_OVERRIDE", "gate.BP"),
            "{}",
            refused.body
        );
        let after = api.read(&session).await;
        assert_eq!(after.body["administrations"], json!([]), "nothing stored");
        assert_eq!(
            (after.etag.as_deref(), after.body["stage"].as_str()),
            (before.etag.as_deref(), Some("in_progress"))
        );

        let etag = after.etag.unwrap();
        let item = json!({ "item": "BP", "reason": "benefit outweighs risk; BP rechecked" });
        let by_nurse = api.call_as(&api.nurse, "POST", &format!("{session}/overrides"), Some(&item), Some(&etag)).await;
        assert_eq!(by_nurse.status, StatusCode::FORBIDDEN, "{}", by_nurse.body);
        let no_reason = json!({ "item": "BP" });
        let unreasoned =
            api.call_as(&api.prescriber, "POST", &format!("{session}/overrides"), Some(&no_reason), Some(&etag)).await;
        assert_eq!(
            (unreasoned.status, unreasoned.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let passing = json!({ "item": "ESCORT", "reason": "not held" });
        let nothing =
            api.call_as(&api.prescriber, "POST", &format!("{session}/overrides"), Some(&passing), Some(&etag)).await;
        assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY, "a passing item has nothing to override");
        let overridden =
            api.call_as(&api.prescriber, "POST", &format!("{session}/overrides"), Some(&item), Some(&etag)).await;
        assert_eq!(overridden.status, StatusCode::OK, "{}", overridden.body);
        assert_eq!(overridden.body["overrides"][0]["item"], "BP");

        let given =
            api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("2026-11-28T09:50"))).await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
        assert_eq!(api.read(&session).await.body["stage"], "monitoring");
    })
    .await;
}

#[tokio::test]
async fn the_gate_takes_a_recorded_pregnancy_from_the_chart_and_the_session_may_record_a_newer_value() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:00:00Z").await;
        let patient_id = api.patient("female", 165, 60).await;
        let chart = format!("/api/v1/patients/{patient_id}/chart/measurements");
        let pregnant = json!({ "measured_on": "2026-11-20", "pregnant": true });
        assert_eq!(api.nurse("POST", &chart, Some(&pregnant)).await.status, StatusCode::CREATED);
        let bp_record = json!({ "measured_on": "2026-11-20", "systolic": 132, "diastolic": 84 });
        let bp_chart = format!("/api/v1/patients/{patient_id}/chart/blood_pressures");
        assert_eq!(api.nurse("POST", &bp_chart, Some(&bp_record)).await.status, StatusCode::CREATED);
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;
        let mut pre_dose = ready_pre_dose();
        pre_dose["can_become_pregnant"] = json!(true);
        let session = api.session(&patient_id, esketamine_facts("2026-11-28T09:50", pre_dose)).await;
        let read = api.read(&session).await;
        let pregnancy = &read.body["report"]["gate"]["items"][2];
        assert_eq!((pregnancy["item"].as_str(), pregnancy["status"].as_str()), (Some("PREGNANCY"), Some("hold")));
        let sources = read.body["pre_dose_sources"].to_string();
        assert!(sources.contains("pregnant recorded on 2026-11-20") && sources.contains("132/84"), "{sources}");
        // A negative test recorded at the session is the newer value: it wins over the chart.
        let change = json!({ "pre_dose": { "phq9_item9": 0, "last_food_at": "2026-11-28T05:00",
            "last_liquid_at": "2026-11-28T08:00", "escort_arranged": true, "rems_patient_enrolled": true,
            "can_become_pregnant": true, "pregnancy_test": "negative" }, "reason": "test done at the clinic" });
        let patched = api.call_as(&api.nurse, "PATCH", &session, Some(&change), read.etag.as_deref()).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(patched.body["report"]["gate"]["items"][2]["status"], "pass");
        assert!(!patched.body["pre_dose_sources"].to_string().contains("pregnant recorded"));
    })
    .await;
}

#[tokio::test]
async fn a_hold_that_cannot_be_overridden_refuses_the_dose_and_the_override() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:00:00Z").await;
        let patient_id = api.patient("male", 180, 80).await;
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;
        // KNOWLEDGE §5.9: a recorded C-SSRS high risk blocks whatever PHQ-9 item 9 says; the chart has it.
        let cssrs = json!({ "scale": "cssrs", "administered_on": "2026-11-27",
            "answers": { "q1": true, "q2": true, "q3": true, "q4": true, "q5": false, "q6": false } });
        let chart = format!("/api/v1/patients/{patient_id}/chart/scales");
        let recorded = api.nurse("POST", &chart, Some(&cssrs)).await;
        assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
        let session = api.session(&patient_id, esketamine_facts("2026-11-28T09:50", ready_pre_dose())).await;
        api.observed(&session, bp("2026-11-28T09:40", 186, 114)).await;
        api.observed(&session, bp("2026-11-28T09:46", 184, 112)).await;
        let before = api.read(&session).await;
        let items: Vec<(&str, &str)> = before.body["report"]["gate"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (item["item"].as_str().unwrap(), item["status"].as_str().unwrap()))
            .collect();
        assert!(items.contains(&("SUICIDALITY_SCREEN", "hold")) && items.contains(&("BP", "hold")), "{items:?}");
        assert!(before.body["pre_dose_sources"].to_string().contains("C-SSRS"), "{}", before.body["pre_dose_sources"]);

        let refused =
            api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("2026-11-28T09:50"))).await;
        assert_eq!(refusal(&refused).0, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert_eq!(refusal(&refused).1, "GATE_HOLD", "{}", refused.body);
        let etag = before.etag.clone().unwrap();
        for item in ["BP", "SUICIDALITY_SCREEN"] {
            let body = json!({ "item": item, "reason": "the patient insists" });
            let reply =
                api.call_as(&api.prescriber, "POST", &format!("{session}/overrides"), Some(&body), Some(&etag)).await;
            assert_eq!(
                refusal(&reply),
                (StatusCode::UNPROCESSABLE_ENTITY, "GATE_HOLD", "item"),
                "{item}: {}",
                reply.body
            );
        }
        let after = api.read(&session).await;
        assert_eq!((after.body["administrations"].clone(), after.body["overrides"].clone()), (json!([]), json!([])));
        assert_eq!(after.etag, before.etag, "nothing stored");
    })
    .await;
}

#[tokio::test]
async fn iv_doses_beyond_the_hard_stops_or_the_order_are_refused_and_nurses_cannot_order() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T19:00:00Z").await;
        // 82 kg at 180 cm: BMI 25.3, so the dose is on actual weight; 0.5 mg/kg = 41 mg.
        let patient_id = api.patient("male", 180, 82).await;
        let orders = format!("/api/v1/patients/{patient_id}/orders");
        let by_nurse = api.nurse("POST", &orders, Some(&json!({ "modality": "iv_racemic_ketamine" }))).await;
        assert_eq!(by_nurse.status, StatusCode::FORBIDDEN, "{}", by_nurse.body);
        for (order, rule) in [
            (json!({ "modality": "iv_racemic_ketamine", "mg_per_kg": 1.5 }), "IV_MAX_MG_PER_KG"),
            (json!({ "modality": "iv_racemic_ketamine", "infusion_min": 5 }), "IV_MIN_INFUSION_MIN"),
            (json!({ "modality": "esketamine", "dose_mg": 84 }), "ESKETAMINE_MAX_AFTER_LOWER_DOSE"),
            (json!({ "modality": "esketamine", "dose_mg": 50 }), "ESKETAMINE_DEVICE_MULTIPLE"),
        ] {
            let reply = api.prescriber("POST", &orders, Some(&order)).await;
            assert_eq!(
                (reply.status, reply.body["rule_id"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(rule)),
                "{order}"
            );
        }
        assert_eq!(api.nurse("GET", &orders, None).await.body["orders"], json!([]), "no order stored");
        let order_id = api.order(&patient_id, json!({ "modality": "iv_racemic_ketamine" })).await;
        let listed = api.nurse("GET", &orders, None).await;
        assert_eq!(listed.body["orders"][0]["order"]["dose_mg"], json!(41), "{}", listed.body);

        let facts = |planned_mg: Option<u32>| {
            let mut dose = json!({ "planned_at": "2026-11-28T13:10" });
            if let Some(mg) = planned_mg {
                dose["planned_mg"] = json!(mg);
            }
            json!({ "modality": "iv_racemic_ketamine", "time_zone": ZONE, "order_id": order_id, "dose": dose,
                    "pre_dose": { "phq9_item9": 0, "escort_arranged": true } })
        };
        let sessions = format!("/api/v1/patients/{patient_id}/sessions");
        let planned_by_nurse = api.nurse("POST", &sessions, Some(&facts(Some(60)))).await;
        assert_eq!(
            refusal(&planned_by_nurse),
            (StatusCode::UNPROCESSABLE_ENTITY, "DOSE_DIFFERS_FROM_ORDER", "dose.planned_mg")
        );
        let session = api.session(&patient_id, facts(None)).await;
        assert_eq!(api.read(&session).await.body["document"]["dose"]["planned_mg"], json!(41));
        api.observed(&session, bp("2026-11-28T13:00", 124, 78)).await;
        api.observed(&session, bp("2026-11-28T13:06", 122, 76)).await;
        let before = api.read(&session).await;
        let infusion = |dose_mg: u32, ended_at: &str| {
            json!({ "drug": "ketamine", "dose_mg": dose_mg, "lot_number": "KET-1", "started_at": "2026-11-28T13:10",
                    "ended_at": ended_at })
        };
        for (dose, ended_at, rule, field) in [
            // 400 mg over 5 minutes for 82 kg (4.9 mg/kg): both hard stops; the first named.
            (400, "2026-11-28T13:15", "IV_MAX_MG_PER_KG", "dose_mg"),
            (41, "2026-11-28T13:30", "IV_MIN_INFUSION_MIN", "ended_at"),
            (45, "2026-11-28T13:50", "DOSE_DIFFERS_FROM_ORDER", "dose_mg"),
        ] {
            let reply = api.nurse("POST", &format!("{session}/administrations"), Some(&infusion(dose, ended_at))).await;
            assert_eq!(refusal(&reply), (StatusCode::UNPROCESSABLE_ENTITY, rule, field), "{dose} mg: {}", reply.body);
        }
        let after = api.read(&session).await;
        assert_eq!((after.body["administrations"].clone(), after.etag.clone()), (json!([]), before.etag));
        let given =
            api.nurse("POST", &format!("{session}/administrations"), Some(&infusion(41, "2026-11-28T13:50"))).await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
    })
    .await;
}

#[tokio::test]
async fn clinical_times_after_the_servers_clock_are_refused_and_change_nothing() {
    each_backend(|db| async move {
        // 10:00 in New York.
        let api = Api::new(db.store, "2026-11-28T15:00:00Z").await;
        let patient_id = api.patient("male", 180, 80).await;
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;
        let session = api.session(&patient_id, esketamine_facts("2026-11-28T09:50", ready_pre_dose())).await;
        api.observed(&session, bp("2026-11-28T09:40", 186, 114)).await;
        api.observed(&session, bp("2026-11-28T09:45", 188, 112)).await;
        let before = api.read(&session).await;
        assert_eq!(before.body["report"]["alerts"]["active"][0]["level"], "critical");
        // 23:30 typed for 11:30 (and 10:03, beyond the 2-minute skew): refused, and the critical alert stays.
        for at in ["2026-11-28T23:30", "2026-11-28T10:03"] {
            let typo = api.observe(&session, bp(at, 120, 80)).await;
            assert_eq!(refusal(&typo), (StatusCode::UNPROCESSABLE_ENTITY, "TIME_AFTER_SERVER_CLOCK", "at"), "{at}");
        }
        let after = api.read(&session).await;
        assert_eq!(
            (after.etag.clone(), after.body["report"]["alerts"].clone()),
            (before.etag, before.body["report"]["alerts"].clone())
        );
        assert_eq!(after.body["observation_log"].as_array().unwrap().len(), 2);
        // Within the skew is accepted; the next real reading is not blocked by a typo.
        api.observed(&session, bp("2026-11-28T10:01", 170, 100)).await;

        let etag = api.read(&session).await.etag.unwrap();
        for (field, change) in [
            ("monitoring_ended_at", json!({ "monitoring_ended_at": "2026-11-28T12:00" })),
            (
                "discharge.aldrete.at",
                json!({ "reason": "score added", "discharge": { "escort_present": true, "aldrete": { "at": "2026-11-28T11:00",
                "activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2, "spo2": 2 } } }),
            ),
        ] {
            let reply = api.call_as(&api.nurse, "PATCH", &session, Some(&change), Some(&etag)).await;
            assert_eq!(
                refusal(&reply),
                (StatusCode::UNPROCESSABLE_ENTITY, "TIME_AFTER_SERVER_CLOCK", field),
                "{}",
                reply.body
            );
        }
        let future_dose =
            api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("2026-11-28T11:00"))).await;
        assert_eq!(refusal(&future_dose).1, "TIME_AFTER_SERVER_CLOCK", "{}", future_dose.body);
        let alert =
            api.read(&session).await.body["report"]["alerts"]["active"][0]["id"].as_str().unwrap().replace('#', "%23");
        let acknowledgement = json!({ "acknowledged_at": "2026-11-28T12:00" });
        let late_ack =
            api.nurse("POST", &format!("{session}/alerts/{alert}/acknowledgement"), Some(&acknowledgement)).await;
        assert_eq!(
            refusal(&late_ack),
            (StatusCode::UNPROCESSABLE_ENTITY, "TIME_AFTER_SERVER_CLOCK", "acknowledged_at")
        );
        let last = api.read(&session).await;
        assert_eq!(last.etag.as_deref(), Some(etag.as_str()), "none of the refused writes changed the session");
        assert_eq!(last.body["acknowledgements"], json!([]));
    })
    .await;
}

/// An esketamine session from pre-dose checks to a settled patient: dose at 09:50, settled from 11:00.
async fn settled_esketamine_session(api: &Api, patient_id: &str, fulfils: Option<Value>) -> String {
    let mut facts = esketamine_facts("2026-11-28T09:50", ready_pre_dose());
    if let Some(fulfils) = fulfils {
        facts["fulfils"] = fulfils;
    }
    let session = api.session(patient_id, facts).await;
    api.observed(&session, settled("2026-11-28T09:40")).await;
    api.observed(&session, bp("2026-11-28T09:46", 124, 78)).await;
    let given =
        api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("2026-11-28T09:50"))).await;
    assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
    api.observed(
        &session,
        json!({ "at": "2026-11-28T10:30", "systolic_mmhg": 150, "diastolic_mmhg": 90, "moaas": 4,
                                   "cadss_total": 10, "spo2_percent": 97 }),
    )
    .await;
    api.observed(&session, settled("2026-11-28T11:00")).await;
    session
}

#[tokio::test]
async fn a_rems_form_is_submitted_only_after_the_monitoring_it_attests() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T16:05:00Z").await; // 11:05 in New York
        let patient_id = api.patient("male", 180, 80).await;
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;
        let session = settled_esketamine_session(&api, &patient_id, None).await;
        let read = api.read(&session).await;
        let submission = format!("{session}/rems-form/submission");
        let etag = read.etag.unwrap();
        // Without the end of monitoring the form lacks its duration.
        let early = api.call_as(&api.nurse, "POST", &submission, None, Some(&etag)).await;
        assert_eq!(
            (early.status, early.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("rems.session.duration_min")),
            "{}",
            early.body
        );
        // An end one minute ahead of the clock (within the allowed skew) has not happened yet.
        let ahead = json!({ "monitoring_ended_at": "2026-11-28T11:06" });
        let patched = api.call_as(&api.nurse, "PATCH", &session, Some(&ahead), Some(&etag)).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        let etag = patched.etag.unwrap();
        let not_yet = api.call_as(&api.nurse, "POST", &submission, None, Some(&etag)).await;
        assert_eq!(
            refusal(&not_yet),
            (StatusCode::UNPROCESSABLE_ENTITY, "REMS_MONITORING_NOT_ENDED", "monitoring_ended_at"),
            "{}",
            not_yet.body
        );
        // Monitoring recorded as ended at 11:00: 70 minutes after the first device, short of the 120.
        let ended = json!({ "monitoring_ended_at": "2026-11-28T11:00", "reason": "ended at 11:00" });
        let patched = api.call_as(&api.nurse, "PATCH", &session, Some(&ended), Some(&etag)).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        let etag = patched.etag.unwrap();
        let short = api.call_as(&api.nurse, "POST", &submission, None, Some(&etag)).await;
        assert_eq!(
            refusal(&short),
            (StatusCode::UNPROCESSABLE_ENTITY, "REMS_MINIMUM_OBSERVATION", "rems_form"),
            "{}",
            short.body
        );
        assert_eq!(api.read(&session).await.body["rems_form"]["status"], "draft", "not submitted");

        api.set_clock("2026-11-28T18:00:00Z"); // 13:00
        let correction = json!({ "monitoring_ended_at": "2026-11-28T11:55", "reason": "monitoring went on to 11:55" });
        let corrected = api.call_as(&api.nurse, "PATCH", &session, Some(&correction), Some(&etag)).await;
        assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
        let submitted = api.call_as(&api.nurse, "POST", &submission, None, corrected.etag.as_deref()).await;
        assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
        assert_eq!(submitted.body["status"], "submitted");
    })
    .await;
}

#[tokio::test]
async fn a_correction_replays_the_alerts_and_the_worklist_follows() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:30:00Z").await; // 10:30 in New York
        let patient_id = api.patient("male", 180, 80).await;
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;
        let session = api.session(&patient_id, esketamine_facts("2026-11-28T09:50", ready_pre_dose())).await;
        api.observed(&session, bp("2026-11-28T09:40", 124, 78)).await;
        api.observed(&session, bp("2026-11-28T09:46", 126, 80)).await;
        let given =
            api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("2026-11-28T09:50"))).await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
        api.observed(&session, bp("2026-11-28T10:00", 186, 114)).await;
        api.observed(&session, bp("2026-11-28T10:05", 188, 112)).await;
        let worklist = "/api/v1/worklist?date=2026-11-28&time_zone=America/New_York";
        let open = |reply: &Reply| -> Vec<(String, String)> {
            reply.body["open_alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|alert| {
                    (alert["alert_id"].as_str().unwrap().to_owned(), alert["level"].as_str().unwrap().to_owned())
                })
                .collect()
        };
        let critical = ("BP_HIGH#1".to_owned(), "critical".to_owned());
        assert!(open(&api.nurse("GET", worklist, None).await).contains(&critical));

        // A mistyped reading (118/76 for 188/112) resolves the alert, and the worklist loses it.
        api.observed(&session, bp("2026-11-28T10:10", 118, 76)).await;
        assert!(!open(&api.nurse("GET", worklist, None).await).iter().any(|(id, _)| id == "BP_HIGH#1"));

        let etag = api.read(&session).await.etag.unwrap();
        let correct = json!({ "status": "entered_in_error", "reason": "mistyped: was 188/112" });
        let observation = format!("{session}/observations/5");
        let by_other = api.call_as(&api.other_nurse, "PATCH", &observation, Some(&correct), Some(&etag)).await;
        assert_eq!(by_other.status, StatusCode::FORBIDDEN, "only its recorder or a prescriber: {}", by_other.body);
        let unreasoned = json!({ "status": "entered_in_error" });
        let no_reason = api.call_as(&api.nurse, "PATCH", &observation, Some(&unreasoned), Some(&etag)).await;
        assert_eq!(
            (no_reason.status, no_reason.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let corrected = api.call_as(&api.nurse, "PATCH", &observation, Some(&correct), Some(&etag)).await;
        assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
        let log = &corrected.body["observation_log"][4];
        assert_eq!(
            (log["status"].as_str(), log["correction"]["reason"].as_str()),
            (Some("entered_in_error"), Some("mistyped: was 188/112"))
        );
        let active = &corrected.body["report"]["alerts"]["active"];
        assert!(
            active.as_array().unwrap().iter().any(|alert| alert["id"] == "BP_HIGH#1" && alert["level"] == "critical"),
            "{active}"
        );
        assert!(open(&api.nurse("GET", worklist, None).await).contains(&critical), "the worklist follows the replay");

        // A late reading (earlier than the last one) needs a reason, and is judged in time order.
        let late = bp("2026-11-28T10:03", 190, 116);
        assert_eq!(api.observe(&session, late.clone()).await.status, StatusCode::UNPROCESSABLE_ENTITY);
        let mut with_reason = late.clone();
        with_reason["late_entry_reason"] = json!("reading from the paper chart during the surge");
        let entered = api.observe(&session, with_reason).await;
        assert_eq!(entered.status, StatusCode::CREATED, "{}", entered.body);
        // Judged in time order: at 10:03 the alert raised at 10:00 goes on (no change of its own; the 10:05
        // reading confirms it), and the answer shows the alerts active at the end of the replay.
        assert_eq!(entered.body["alerts"]["changes"], json!([]), "{}", entered.body);
        assert_eq!(entered.body["alerts"]["active"][0]["level"], "critical", "{}", entered.body);

        // The stored alert log is a fresh replay of the surviving observations, as `ketacare session check`.
        let view = api.read(&session).await;
        let input = parse_session(&view.body["document"]).unwrap();
        let protocol = Protocol::shipped();
        let now: Timestamp = "2026-11-28T15:30:00Z".parse().unwrap();
        let report = session_report_json(&input, &check_session(&input, &protocol, now), &protocol, now);
        assert_eq!(view.body["alert_log"], report["alerts"]["changes"]);
        assert_eq!(view.body["report"], report);
    })
    .await;
}

#[tokio::test]
async fn a_session_entered_in_error_frees_its_scheduled_session_for_the_corrected_one() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:30:00Z").await;
        let patient_id = api.patient("male", 180, 80).await;
        let plans = format!("/api/v1/patients/{patient_id}/plans");
        let plan = json!({ "template": "esketamine_trd", "time_zone": ZONE, "first_session": "2026-11-28T09:50" });
        let created = api.prescriber("POST", &plans, Some(&plan)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let plan_id = created.body["plan_id"].as_str().unwrap().to_owned();
        let plan_path = format!("{plans}/{plan_id}");
        // One active plan per modality, unless the prescriber says why.
        let second = api.prescriber("POST", &plans, Some(&plan)).await;
        assert_eq!(refusal(&second), (StatusCode::UNPROCESSABLE_ENTITY, "ONE_ACTIVE_PLAN_PER_MODALITY", "template"));
        let mut beside = plan.clone();
        beside["concurrent_plan_reason"] = json!("second course agreed at the case conference");
        let allowed = api.prescriber("POST", &plans, Some(&beside)).await;
        assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.body);
        assert_eq!(allowed.body["concurrent_plan_reason"], beside["concurrent_plan_reason"]);
        let iv = json!({ "template": "induction_2x_week_3w", "time_zone": ZONE, "first_session": "2026-11-30T09:00" });
        assert_eq!(api.prescriber("POST", &plans, Some(&iv)).await.status, StatusCode::CREATED, "another modality");
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56, "plan_id": plan_id })).await;
        let fulfils = json!({ "plan_id": plan_id, "position": 0 });
        let mut facts = esketamine_facts("2026-11-28T09:50", ready_pre_dose());
        facts["fulfils"] = fulfils.clone();
        let wrong = api.session(&patient_id, facts.clone()).await;
        let twice = api.nurse("POST", &format!("/api/v1/patients/{patient_id}/sessions"), Some(&facts)).await;
        assert_eq!(twice.status, StatusCode::NOT_FOUND, "a claimed slot is taken once: {}", twice.body);

        let etag = api.read(&wrong).await.etag.unwrap();
        let void = json!({ "status": "entered_in_error", "reason": "started for the wrong patient", "slot_status": "scheduled" });
        let voided = api.call_as(&api.nurse, "PATCH", &wrong, Some(&void), Some(&etag)).await;
        assert_eq!(voided.status, StatusCode::OK, "{}", voided.body);
        let slot = &api.nurse("GET", &plan_path, None).await.body["scheduled_sessions"][0];
        assert_eq!((slot["status"].as_str(), slot["treatment_session_id"].as_str()), (Some("scheduled"), None));
        let refused = api.observe(&wrong, bp("2026-11-28T09:40", 124, 78)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "a voided session takes nothing");

        let corrected = api.session(&patient_id, facts).await;
        let slot = &api.nurse("GET", &plan_path, None).await.body["scheduled_sessions"][0];
        assert_eq!(slot["treatment_session_id"].as_str(), corrected.rsplit('/').next());
    })
    .await;
}

#[tokio::test]
async fn discharge_needs_a_ready_patient_and_sign_off_locks_the_session() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T16:05:00Z").await; // 11:05, 75 minutes after the dose
        let patient_id = api.patient("male", 180, 80).await;
        let plans = format!("/api/v1/patients/{patient_id}/plans");
        let plan = json!({ "template": "esketamine_trd", "time_zone": ZONE, "first_session": "2026-11-28T09:50" });
        let plan_id = api.prescriber("POST", &plans, Some(&plan)).await.body["plan_id"].as_str().unwrap().to_owned();
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;
        let session =
            settled_esketamine_session(&api, &patient_id, Some(json!({ "plan_id": plan_id, "position": 0 }))).await;
        let etag = api.read(&session).await.etag.unwrap();
        let early = api.call_as(&api.nurse, "POST", &format!("{session}/discharge"), None, Some(&etag)).await;
        assert_eq!(
            refusal(&early),
            (StatusCode::UNPROCESSABLE_ENTITY, "DISCHARGE_NOT_READY", "discharge"),
            "{}",
            early.body
        );
        assert!(early.body["detail"].as_str().unwrap().contains("MINIMUM_OBSERVATION"), "{}", early.body);
        assert_eq!(api.read(&session).await.body["stage"], "monitoring");

        api.set_clock("2026-11-28T16:55:00Z"); // 11:55, 125 minutes after the dose
        let discharged = api.call_as(&api.nurse, "POST", &format!("{session}/discharge"), None, Some(&etag)).await;
        assert_eq!(discharged.status, StatusCode::OK, "{}", discharged.body);
        assert_eq!(discharged.body["stage"], "discharged");
        assert_eq!(discharged.body["document"]["monitoring_ended_at"], "2026-11-28T11:55");
        let plan = api.nurse("GET", &format!("{plans}/{plan_id}"), None).await;
        assert_eq!(plan.body["scheduled_sessions"][0]["status"], "completed", "the slot completes at discharge");
        assert_eq!(plan.body["report"]["sessions"][0]["status"], "given");

        let etag = discharged.etag.unwrap();
        let by_nurse = api.call_as(&api.nurse, "POST", &format!("{session}/signature"), None, Some(&etag)).await;
        assert_eq!(by_nurse.status, StatusCode::FORBIDDEN);
        let signed = api.call_as(&api.prescriber, "POST", &format!("{session}/signature"), None, Some(&etag)).await;
        assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
        assert_eq!((signed.body["stage"].as_str(), signed.body["signed_by"].is_string()), (Some("locked"), true));

        // After sign-off: changes need a reason, doses are refused, readings are late entries.
        let etag = signed.etag.unwrap();
        let change = json!({ "discharge": { "escort_present": true } });
        let unreasoned = api.call_as(&api.nurse, "PATCH", &session, Some(&change), Some(&etag)).await;
        assert_eq!(
            (unreasoned.status, unreasoned.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
        );
        let dose =
            api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("2026-11-28T09:50"))).await;
        assert_eq!(dose.status, StatusCode::UNPROCESSABLE_ENTITY);
        let reading = api.observe(&session, settled("2026-11-28T11:50")).await;
        assert_eq!(
            (reading.status, reading.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("late_entry_reason"))
        );
        let after = api.read(&session).await;
        assert_eq!(after.etag.as_deref(), Some(etag.as_str()), "nothing stored");
    })
    .await;
}

/// One generated observation: minutes after 10:00 and the values measured.
#[derive(Debug, Clone)]
struct GeneratedObservation {
    minute: i64,
    blood_pressure: Option<(u32, u32)>,
    heart_rate_bpm: Option<u32>,
    spo2_percent: Option<u32>,
    moaas: Option<u32>,
}

/// A session: observations in time order, the order they are entered in (late entries carry a reason), and
/// which are then marked entered in error, in what order.
#[derive(Debug, Clone)]
struct GeneratedSession {
    observations: Vec<GeneratedObservation>,
    entry_order: Vec<usize>,
    corrections: Vec<usize>,
}

fn generated_sessions() -> impl proptest::strategy::Strategy<Value = GeneratedSession> {
    use proptest::prelude::*;
    let observation = (
        1_i64..12,
        proptest::option::weighted(0.8, (100_u32..215, 20_u32..90)),
        proptest::option::of(40_u32..140),
        proptest::option::of(88_u32..101),
        proptest::option::of(0_u32..6),
    );
    proptest::collection::vec(observation, 2..10)
        .prop_flat_map(|raw| {
            let mut minute = 0;
            let observations: Vec<GeneratedObservation> = raw
                .into_iter()
                .map(|(gap, blood_pressure, heart_rate_bpm, spo2_percent, moaas)| {
                    minute += gap;
                    GeneratedObservation {
                        minute,
                        blood_pressure: blood_pressure
                            .map(|(systolic, pulse)| (systolic, systolic - pulse.min(systolic - 40))),
                        heart_rate_bpm,
                        spo2_percent,
                        moaas,
                    }
                })
                .collect();
            let count = observations.len();
            (
                Just(observations),
                Just((0..count).collect::<Vec<_>>()).prop_shuffle(),
                proptest::sample::subsequence((0..count).collect::<Vec<_>>(), 0..count).prop_shuffle(),
            )
        })
        .prop_map(|(observations, entry_order, corrections)| GeneratedSession {
            observations,
            entry_order,
            corrections,
        })
}

fn observation_json(observation: &GeneratedObservation) -> Value {
    let at = jiff::civil::datetime(2026, 11, 28, 10, 0, 0, 0) + jiff::Span::new().minutes(observation.minute);
    let mut value = json!({ "at": at.strftime("%Y-%m-%dT%H:%M").to_string() });
    if let Some((systolic, diastolic)) = observation.blood_pressure {
        value["systolic_mmhg"] = json!(systolic);
        value["diastolic_mmhg"] = json!(diastolic);
    }
    for (key, measured) in [
        ("heart_rate_bpm", observation.heart_rate_bpm),
        ("spo2_percent", observation.spo2_percent),
        ("moaas", observation.moaas),
    ] {
        if let Some(measured) = measured {
            value[key] = json!(measured);
        }
    }
    value
}

/// The stored alert log and the session's report must equal a fresh `ketacare session check` of the
/// surviving observations, whatever order they were entered in and whichever were corrected.
async fn check_against_a_fresh_replay(api: &Api, session: &str, now: Timestamp) -> Result<(), String> {
    let view = api.read(session).await;
    let input = parse_session(&view.body["document"]).map_err(|error| format!("{}: {}", error.path, error.problem))?;
    let protocol = Protocol::shipped();
    let report = session_report_json(&input, &check_session(&input, &protocol, now), &protocol, now);
    if view.body["alert_log"] != report["alerts"]["changes"] {
        return Err(format!("stored {} != replay {}", view.body["alert_log"], report["alerts"]["changes"]));
    }
    if view.body["report"]["alerts"] != report["alerts"] {
        return Err("the session's report differs from a fresh check".to_owned());
    }
    Ok(())
}

#[tokio::test]
async fn the_stored_alerts_always_equal_a_fresh_replay_of_the_surviving_observations() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    each_backend(|db| async move {
        let now: Timestamp = "2026-11-28T20:00:00Z".parse().unwrap(); // 15:00 in New York
        let api = Api::new(db.store, "2026-11-28T20:00:00Z").await;
        let patient_id = api.patient("male", 180, 80).await;
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;
        let strategy = generated_sessions();
        // A fixed seed, so a failure is repeatable; every failing case is reported, not only the first.
        let mut runner = TestRunner::deterministic();
        let mut failures = Vec::new();
        for case in 0..24 {
            let generated = strategy.new_tree(&mut runner).unwrap().current();
            let session = api.session(&patient_id, esketamine_facts("2026-11-28T10:00", ready_pre_dose())).await;
            let mut entered_minutes: Vec<i64> = Vec::new();
            let mut sequence_of = vec![0_usize; generated.observations.len()];
            for (entry, &index) in generated.entry_order.iter().enumerate() {
                let observation = &generated.observations[index];
                let mut body = observation_json(observation);
                if entered_minutes.iter().any(|minute| *minute > observation.minute) {
                    body["late_entry_reason"] = json!("from the paper chart");
                }
                let reply = api.observe(&session, body).await;
                if reply.status != StatusCode::CREATED {
                    failures.push(format!("case {case}: entry {entry} refused: {}", reply.body));
                }
                entered_minutes.push(observation.minute);
                sequence_of[index] = entry + 1;
            }
            if let Err(problem) = check_against_a_fresh_replay(&api, &session, now).await {
                failures.push(format!("case {case} after entry: {problem} ({generated:?})"));
            }
            for &index in &generated.corrections {
                let etag = api.read(&session).await.etag.unwrap();
                let path = format!("{session}/observations/{}", sequence_of[index]);
                let body = json!({ "status": "entered_in_error", "reason": "generated correction" });
                let reply = api.call_as(&api.nurse, "PATCH", &path, Some(&body), Some(&etag)).await;
                if reply.status != StatusCode::OK {
                    failures.push(format!("case {case}: correction refused: {}", reply.body));
                }
                if let Err(problem) = check_against_a_fresh_replay(&api, &session, now).await {
                    failures.push(format!("case {case} after correcting {index}: {problem} ({generated:?})"));
                }
            }
        }
        assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    })
    .await;
}

/// A covered row's key columns (as text) and all its columns (as text or NULL), as `audit verify` reads them.
async fn covered_rows(store: &ketacare_store::Store, table: &CoveredTable) -> Vec<Vec<Option<String>>> {
    let columns: Vec<String> = table.columns.iter().map(|column| format!("CAST({column} AS TEXT)")).collect();
    let keys: Vec<&str> = table.key_columns.iter().map(|column| column.name).collect();
    // Every value in one text, with a separator no value here contains, since query_texts reads one column.
    let joined = columns
        .iter()
        .map(|column| format!("COALESCE('v' || {column}, 'n')"))
        .collect::<Vec<_>>()
        .join(" || '\u{1f}' || ");
    let sql = format!("SELECT {joined} FROM {} ORDER BY {}", table.name, keys.join(", "));
    store
        .query_texts(&sql)
        .await
        .unwrap()
        .iter()
        .map(|row| row.split('\u{1f}').map(|value| value.strip_prefix('v').map(str::to_owned)).collect())
        .collect()
}

fn literal(value: &Option<String>) -> String {
    value.as_ref().map_or("NULL".to_owned(), |text| format!("'{}'", text.replace('\'', "''")))
}

/// `WHERE` of one row by its key.
fn where_key(table: &CoveredTable, row: &[Option<String>]) -> String {
    table
        .key_columns
        .iter()
        .map(|key| {
            let index = table.columns.iter().position(|column| *column == key.name).unwrap();
            format!("{} = {}", key.name, literal(&row[index]))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn row_key(table: &CoveredTable, row: &[Option<String>]) -> String {
    let values: Vec<&Option<String>> = table
        .key_columns
        .iter()
        .map(|key| &row[table.columns.iter().position(|column| *column == key.name).unwrap()])
        .collect();
    serde_json::to_string(&values).unwrap()
}

/// Runs `sql` on `table` as someone with database access would: past its guards (SQLite: its triggers
/// dropped and re-created as they were, foreign keys off; PostgreSQL: triggers and foreign keys off for
/// the session).
async fn behind_the_application(store: &ketacare_store::Store, table: &str, sql: &str) {
    let wrapped = match store.backend() {
        ketacare_store::Backend::Sqlite => {
            let triggers = store
                .query_texts(&format!("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '{table}'"))
                .await
                .unwrap();
            let definitions = store
                .query_texts(&format!("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '{table}'"))
                .await
                .unwrap();
            let drops: String = triggers.iter().map(|name| format!("DROP TRIGGER {name}; ")).collect();
            let creates: String = definitions.iter().map(|definition| format!("{definition}; ")).collect();
            format!("PRAGMA foreign_keys = OFF; {drops}{sql}; {creates}PRAGMA foreign_keys = ON;")
        }
        ketacare_store::Backend::Postgres => {
            format!("SET session_replication_role = replica; {sql}; SET session_replication_role = DEFAULT;")
        }
    };
    store.execute_raw(&wrapped).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Columns whose values a CHECK constraint limits: an edit of them is tried with a value they allow.
fn allowed_other_value(column: &str, value: &str) -> Option<&'static str> {
    let choices: &[&str] = match column {
        "status" => &["active", "entered_in_error"],
        "role" => &["admin", "nurse"],
        "stage" => &["locked", "in_progress"],
        "sex_at_birth" => &["female", "male"],
        "modality" => &["esketamine", "iv_racemic_ketamine"],
        "section" => &["trials", "measurements"],
        "active" | "must_change_password" => &["0", "1"],
        _ => return None,
    };
    choices.iter().copied().find(|choice| *choice != value)
}

#[tokio::test]
async fn every_edit_deletion_or_insertion_of_a_clinical_row_is_found_by_audit_verify() {
    each_backend(|db| async move {
        let store = db.store.clone();
        let api = Api::new(db.store, "2026-11-28T15:30:00Z").await; // 10:30 in New York
        // A clinic's morning: a patient, a plan, an order, a session that fulfils the plan's first slot,
        // with a hold overridden, a dose, an alert acknowledged and an observation corrected.
        let patient_id = api.patient("male", 180, 80).await;
        let plans = format!("/api/v1/patients/{patient_id}/plans");
        let plan = json!({ "template": "esketamine_trd", "time_zone": ZONE, "first_session": "2026-11-28T09:50" });
        let plan_id = api.prescriber("POST", &plans, Some(&plan)).await.body["plan_id"].as_str().unwrap().to_owned();
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56, "plan_id": plan_id })).await;
        let mut facts = esketamine_facts("2026-11-28T09:50", ready_pre_dose());
        facts["fulfils"] = json!({ "plan_id": plan_id, "position": 0 });
        let session = api.session(&patient_id, facts).await;
        api.observed(&session, bp("2026-11-28T09:40", 150, 95)).await;
        api.observed(&session, bp("2026-11-28T09:46", 152, 96)).await;
        let etag = api.read(&session).await.etag.unwrap();
        let item = json!({ "item": "BP", "reason": "benefit outweighs risk; BP rechecked" });
        let overridden =
            api.call_as(&api.prescriber, "POST", &format!("{session}/overrides"), Some(&item), Some(&etag)).await;
        assert_eq!(overridden.status, StatusCode::OK, "{}", overridden.body);
        let given =
            api.nurse("POST", &format!("{session}/administrations"), Some(&esketamine_dose("2026-11-28T09:50"))).await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
        api.observed(&session, bp("2026-11-28T10:00", 186, 114)).await;
        let acknowledgement = json!({ "acknowledged_at": "2026-11-28T10:01", "note": "at the chair" });
        let acknowledged =
            api.nurse("POST", &format!("{session}/alerts/BP_HIGH%231/acknowledgement"), Some(&acknowledgement)).await;
        assert_eq!(acknowledged.status, StatusCode::CREATED, "{}", acknowledged.body);
        api.observed(&session, bp("2026-11-28T10:05", 118, 76)).await;
        let etag = api.read(&session).await.etag.unwrap();
        let correct = json!({ "status": "entered_in_error", "reason": "mistyped" });
        let corrected =
            api.call_as(&api.nurse, "PATCH", &format!("{session}/observations/4"), Some(&correct), Some(&etag)).await;
        assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
        let report = store.verify_audit_chain().await.unwrap();
        assert!(report.intact(), "{report:#?}");

        // Then, behind the application's back, each covered table with rows in turn: one row edited,
        // one deleted, one inserted. Each must be named, and each is undone before the next.
        let mut seed: u64 = 0x6b65_7461;
        let mut pick = |count: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(seed >> 33).unwrap() % count
        };
        let mut failures = Vec::new();
        let mut tables_tampered = 0;
        for table in COVERED_TABLES {
            let rows = covered_rows(&store, table).await;
            if rows.is_empty() {
                continue;
            }
            tables_tampered += 1;
            let row = rows[pick(rows.len())].clone();
            let key = row_key(table, &row);
            let list: Vec<String> = table.columns.iter().map(ToString::to_string).collect();
            let values: Vec<String> = row.iter().map(literal).collect();
            let restore = format!("INSERT INTO {} ({}) VALUES ({})", table.name, list.join(", "), values.join(", "));

            // An edit of one column that is not part of the key.
            let editable: Vec<usize> = (0..table.columns.len())
                .filter(|index| !table.key_columns.iter().any(|key| key.name == table.columns[*index]))
                .filter(|index| row[*index].is_some())
                .collect();
            let column_index = editable[pick(editable.len())];
            let column = table.columns[column_index];
            let value = row[column_index].as_deref().unwrap();
            let edited = match (allowed_other_value(column, value), value.parse::<i64>()) {
                (Some(other), _) => format!("'{other}'"),
                (None, Ok(number)) => (number + 1).to_string(),
                (None, Err(_)) => literal(&Some(format!("{value}, edited"))),
            };
            let tampers = [
                (
                    format!("UPDATE {} SET {column} = {edited} WHERE {}", table.name, where_key(table, &row)),
                    key.clone(),
                    RowProblemKind::Edited,
                    format!(
                        "UPDATE {} SET {column} = {} WHERE {}",
                        table.name,
                        literal(&row[column_index]),
                        where_key(table, &row)
                    ),
                ),
                (
                    format!("DELETE FROM {} WHERE {}", table.name, where_key(table, &row)),
                    key.clone(),
                    RowProblemKind::Deleted,
                    restore.clone(),
                ),
                {
                    // A forged copy under another key (and other values where a column must be unique).
                    let last_text_key = table.key_columns.iter().rev().find(|key| !key.integer).unwrap().name;
                    let mut forged = row.clone();
                    for (index, column) in table.columns.iter().enumerate() {
                        if [last_text_key, "username", "pseudonym", "token_sha256"].contains(column) {
                            forged[index] = forged[index].as_ref().map(|text| format!("forged-{text}"));
                        }
                    }
                    let forged_values: Vec<String> = forged.iter().map(literal).collect();
                    (
                        format!(
                            "INSERT INTO {} ({}) VALUES ({})",
                            table.name,
                            list.join(", "),
                            forged_values.join(", ")
                        ),
                        row_key(table, &forged),
                        RowProblemKind::Inserted,
                        format!("DELETE FROM {} WHERE {}", table.name, where_key(table, &forged)),
                    )
                },
            ];
            for (tamper, expected_key, expected_problem, undo) in tampers {
                behind_the_application(&store, table.name, &tamper).await;
                let report = store.verify_audit_chain().await.unwrap();
                let found: Vec<(String, String, RowProblemKind)> = report
                    .row_problems
                    .iter()
                    .map(|problem| (problem.table.clone(), problem.key.clone(), problem.problem))
                    .collect();
                let expected = vec![(table.name.to_owned(), expected_key, expected_problem)];
                if found != expected || report.first_broken.is_some() || !report.schema_problems.is_empty() {
                    failures.push(format!(
                        "{tamper}\n  expected {expected:?}\n  found {found:?} {:?} {:?}",
                        report.first_broken, report.schema_problems
                    ));
                }
                behind_the_application(&store, table.name, &undo).await;
                let report = store.verify_audit_chain().await.unwrap();
                if !report.intact() {
                    failures.push(format!("{undo} (the undo) left {:?}", report.problem_lines()));
                }
            }
        }
        assert!(failures.is_empty(), "{} tampers not found as expected:\n{}", failures.len(), failures.join("\n"));
        assert!(tables_tampered >= 15, "only {tables_tampered} covered tables had rows");
    })
    .await;
}

#[tokio::test]
async fn a_dose_needs_a_current_consent_to_its_modality_and_a_session_cannot_state_one() {
    each_backend(|db| async move {
        // 10:00 in New York.
        let api = Api::new(db.store, "2026-11-28T15:00:00Z").await;
        let patient_id = api.patient_without_consent("male", 180, 80).await;
        api.order(&patient_id, json!({ "modality": "esketamine", "dose_mg": 56 })).await;

        // A session document cannot state the consent: the records decide it.
        let mut stated = ready_pre_dose();
        stated["informed_consent"] = json!("current");
        let refused =
            api.nurse("POST", &format!("/api/v1/patients/{patient_id}/sessions"), Some(&esketamine_facts("2026-11-28T09:50", stated))).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert_eq!(refused.body["field"], "pre_dose.informed_consent", "{}", refused.body);

        let session = api.session(&patient_id, esketamine_facts("2026-11-28T09:50", ready_pre_dose())).await;
        api.observed(&session, bp("2026-11-28T09:40", 128, 78)).await;
        api.observed(&session, bp("2026-11-28T09:46", 126, 80)).await;
        let dose = esketamine_dose("2026-11-28T09:50");
        let consent_item = |reply: &Reply| {
            reply.body["report"]["gate"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|item| item["item"] == "INFORMED_CONSENT")
                .cloned()
                .unwrap()
        };
        let gives = |expected: &'static str| {
            let api = &api;
            let session = session.clone();
            let dose = dose.clone();
            async move {
                let reply = api.nurse("POST", &format!("{session}/administrations"), Some(&dose)).await;
                if expected == "given" {
                    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
                } else {
                    assert_eq!(refusal(&reply), (StatusCode::UNPROCESSABLE_ENTITY, "GATE_HOLD", "gate.INFORMED_CONSENT"), "{}", reply.body);
                    assert!(reply.body["detail"].as_str().unwrap().contains(expected), "{}", reply.body);
                }
            }
        };

        // No consent on file: the gate holds and no prescriber can override it.
        let read = api.read(&session).await;
        assert_eq!(consent_item(&read)["status"], "hold", "{}", read.body);
        gives("no informed consent to esketamine on file").await;
        let etag = api.read(&session).await.etag.unwrap();
        let override_body = json!({ "item": "INFORMED_CONSENT", "reason": "the patient agreed verbally" });
        let refused = api.call_as(&api.prescriber, "POST", &format!("{session}/overrides"), Some(&override_body), Some(&etag)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);

        // A consent to the other treatment does not count; one signed in the future is refused.
        assert_eq!(api.consent(&patient_id, "iv-treatment", "2026-11-20").await.status, StatusCode::CREATED);
        gives("no informed consent to esketamine on file").await;
        let future = api.consent(&patient_id, "esketamine-treatment", "2026-11-29").await;
        assert_eq!(refusal(&future), (StatusCode::UNPROCESSABLE_ENTITY, "FUTURE_CLINICAL_TIME", "signed_on"), "{}", future.body);

        // An expired consent holds the dose.
        let old = json!({ "form_id": "esketamine-treatment", "signed_on": "2025-01-10", "valid_until": "2025-12-31",
                          "signer_name": "Ada Lovelace", "signer_relationship": "patient", "witness_username": "prescriber" });
        let old = api.nurse("POST", &format!("/api/v1/patients/{patient_id}/consents"), Some(&old)).await;
        assert_eq!(old.status, StatusCode::CREATED, "{}", old.body);
        assert_eq!(old.body["valid_until"], "2025-12-31");
        gives("has expired").await;

        // A current one lets the dose through; the gate names where it came from.
        let signed = api.consent(&patient_id, "esketamine-treatment", "2026-11-28").await;
        assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.body);
        assert_eq!((signed.body["form_version"].as_i64(), signed.body["valid_until"].as_str()), (Some(1), Some("2027-11-28")));
        let read = api.read(&session).await;
        assert_eq!(consent_item(&read)["status"], "pass", "{}", read.body);
        let listed = api.nurse("GET", &format!("/api/v1/patients/{patient_id}/consents"), None).await;
        assert_eq!(listed.body["by_modality"], json!([{ "modality": "esketamine", "informed_consent": "current" },
                                                      { "modality": "iv_racemic_ketamine", "informed_consent": "current" }]));

        // Withdrawn (and a withdrawal needs a reason and the consent's version): the next dose is held.
        let consent_path = format!("/api/v1/patients/{patient_id}/consents/{}", signed.body["consent_id"].as_str().unwrap());
        let no_reason = api.call_as(&api.nurse, "PATCH", &consent_path, Some(&json!({ "status": "withdrawn" })), signed.etag.as_deref()).await;
        assert_eq!((no_reason.status, no_reason.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")));
        let withdrawal = json!({ "status": "withdrawn", "reason": "the patient does not want to continue" });
        let withdrawn = api.call_as(&api.nurse, "PATCH", &consent_path, Some(&withdrawal), signed.etag.as_deref()).await;
        assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
        assert_eq!(withdrawn.body["withdrawn_on"], "2026-11-28");
        let stale = api.call_as(&api.nurse, "PATCH", &consent_path, Some(&withdrawal), signed.etag.as_deref()).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);
        gives("withdrew consent").await;
        let amendments = api.nurse("GET", &format!("/api/v1/patients/{patient_id}/amendments"), None).await;
        assert!(amendments.body.to_string().contains("the patient does not want to continue"), "{}", amendments.body);

        // A new consent after the withdrawal (signed the same day, recorded later) is current again, and the
        // dose is given.
        api.set_clock("2026-11-28T15:05:00Z");
        assert_eq!(api.consent(&patient_id, "esketamine-treatment", "2026-11-28").await.status, StatusCode::CREATED);
        gives("given").await;
        let given = api.read(&session).await;
        assert_eq!(given.body["administrations"].as_array().unwrap().len(), 1, "{}", given.body);
    })
    .await;
}

#[tokio::test]
async fn consent_forms_are_versioned_by_admins_and_a_witness_is_clinical_staff() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T15:00:00Z").await;
        let patient_id = api.patient_without_consent("female", 165, 60).await;
        let forms = api.nurse("GET", "/api/v1/consent-forms", None).await;
        assert_eq!(forms.status, StatusCode::OK, "{}", forms.body);
        assert_eq!(forms.body["consent_forms"].as_array().unwrap().len(), 2);
        assert_eq!(forms.body["consent_forms"][0]["version"], 1);
        assert_eq!(forms.body["consent_forms"][0]["body_sha256"].as_str().unwrap().len(), 64);
        // Only admins keep the forms.
        let form = json!({ "form_id": "esketamine-treatment", "modality": "esketamine", "title": "v2", "body_text": "new text" });
        assert_eq!(api.nurse("POST", "/api/v1/consent-forms", Some(&form)).await.status, StatusCode::FORBIDDEN);

        let bad = |body: Value, field: &'static str| {
            let api = &api;
            let patient_id = patient_id.clone();
            async move {
                let reply = api.nurse("POST", &format!("/api/v1/patients/{patient_id}/consents"), Some(&body)).await;
                assert_eq!((reply.status, reply.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{}", reply.body);
            }
        };
        let good = json!({ "form_id": "esketamine-treatment", "signed_on": "2026-11-01", "signer_name": "Ada Lovelace",
                           "signer_relationship": "patient", "witness_username": "prescriber" });
        let with = |key: &str, value: Value| {
            let mut body = good.clone();
            body[key] = value;
            body
        };
        bad(with("witness_username", json!("nobody")), "witness_username").await;
        bad(with("signer_relationship", json!("friend")), "signer_relationship").await;
        bad(with("form_id", json!("no-such-form")), "form_id").await;
        bad(with("form_version", json!(7)), "form_version").await;
        bad(with("signed_on", json!("01/11/2026")), "signed_on").await;
        bad(with("valid_until", json!("2028-01-01")), "valid_until").await;
        bad(with("valid_until", json!("2026-10-01")), "valid_until").await;
        bad(with("colour", json!("blue")), "colour").await;
        let listed = api.nurse("GET", &format!("/api/v1/patients/{patient_id}/consents"), None).await;
        assert_eq!(listed.body["consents"], json!([]), "refused consents store nothing");

        let recorded = api.nurse("POST", &format!("/api/v1/patients/{patient_id}/consents"), Some(&good)).await;
        assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.body);
        // Entered in error: it no longer counts, and cannot change again.
        let path = format!("/api/v1/patients/{patient_id}/consents/{}", recorded.body["consent_id"].as_str().unwrap());
        let error = json!({ "status": "entered_in_error", "reason": "signed by the wrong patient" });
        let corrected = api.call_as(&api.nurse, "PATCH", &path, Some(&error), recorded.etag.as_deref()).await;
        assert_eq!(corrected.status, StatusCode::OK, "{}", corrected.body);
        let listed = api.nurse("GET", &format!("/api/v1/patients/{patient_id}/consents"), None).await;
        assert_eq!(listed.body["by_modality"][0]["informed_consent"], "not_on_file", "{}", listed.body);
        assert_eq!(listed.body["consents"][0]["status"], "entered_in_error");
        let again = api.call_as(&api.nurse, "PATCH", &path, Some(&error), corrected.etag.as_deref()).await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.body);
    })
    .await;
}
