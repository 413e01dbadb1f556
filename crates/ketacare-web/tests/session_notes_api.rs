//! Session notes through the router on SQLite and, when configured, PostgreSQL: a note is generated from
//! a discharged session, edited and signed; the signature's SHA-256 is of the exact text; a signed note
//! cannot change (the API refuses it, and so does the database behind the application's back) except by
//! a signed addendum; a nurse's note waits on the prescribers' list until a prescriber co-signs it, and a
//! prescriber cannot co-sign their own.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use jiff::Timestamp;
use ketacare_app::{Actor, App, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::{WebConfig, router};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

const ZONE: &str = "America/New_York";

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

/// The router on a clock the test moves, with a nurse and two prescribers (bearer tokens).
struct Api {
    router: Router,
    clock: Arc<Mutex<Timestamp>>,
    tokens: Vec<(String, String)>,
}

impl Api {
    async fn new(store: ketacare_store::Store, now: &str) -> Api {
        let clock = Arc::new(Mutex::new(now.parse::<Timestamp>().unwrap()));
        let read = clock.clone();
        let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || *read.lock().unwrap()));
        let router = router(app.clone(), WebConfig::default());
        let mut api = Api { router, clock, tokens: Vec::new() };
        for (username, role) in
            [("nurse", Role::Nurse), ("prescriber", Role::Prescriber), ("prescriber2", Role::Prescriber)]
        {
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
            api.tokens.push((username.to_owned(), token));
        }
        // The clinic's esketamine consent form, kept by an admin: a dose needs a current consent.
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
        let form = json!({ "form_id": "esketamine-treatment", "modality": "esketamine", "title": "Consent to esketamine",
                           "body_text": "Risks: blood pressure, dissociation, sedation, misuse." });
        app.create_consent_form_version(&admin, &form.to_string()).await.unwrap();
        api
    }

    fn set_clock(&self, now: &str) {
        *self.clock.lock().unwrap() = now.parse().unwrap();
    }

    async fn call(&self, who: &str, method: &str, path: &str, body: Option<&Value>, if_match: Option<&str>) -> Reply {
        let token = &self.tokens.iter().find(|(name, _)| name == who).unwrap().1;
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

    async fn ok(&self, who: &str, method: &str, path: &str, body: Option<&Value>, if_match: Option<&str>) -> Reply {
        let reply = self.call(who, method, path, body, if_match).await;
        assert!(reply.status.is_success(), "{method} {path} as {who}: {} {}", reply.status, reply.body);
        reply
    }

    /// A discharged esketamine session (56 mg, lot ESK-1) of a new patient; returns the session's path.
    async fn discharged_session(&self) -> String {
        self.set_clock("2026-11-28T14:50:00Z"); // 09:50 in New York
        let patient = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1970-05-02",
                              "sex_at_birth": "male" });
        let patient_id = self.ok("nurse", "POST", "/api/v1/patients", Some(&patient), None).await.body["patient_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let consent = json!({ "form_id": "esketamine-treatment", "signed_on": "2026-11-01", "signer_name": "Ada Lovelace",
                              "signer_relationship": "patient", "witness_username": "prescriber" });
        self.ok("nurse", "POST", &format!("/api/v1/patients/{patient_id}/consents"), Some(&consent), None).await;
        let measurement = json!({ "measured_on": "2026-11-01", "height_cm": 180, "weight_kg": 80 });
        self.ok(
            "nurse",
            "POST",
            &format!("/api/v1/patients/{patient_id}/chart/measurements"),
            Some(&measurement),
            None,
        )
        .await;
        let order = json!({ "modality": "esketamine", "dose_mg": 56 });
        self.ok("prescriber", "POST", &format!("/api/v1/patients/{patient_id}/orders"), Some(&order), None).await;
        let facts = json!({ "modality": "esketamine", "care_setting": "outpatient", "time_zone": ZONE,
            "dose": { "planned_at": "2026-11-28T09:50" },
            "pre_dose": { "phq9_item9": 0, "last_food_at": "2026-11-28T05:00", "last_liquid_at": "2026-11-28T08:00",
                          "escort_arranged": true, "rems_patient_enrolled": true },
            "discharge": { "escort_present": true } });
        let started =
            self.ok("nurse", "POST", &format!("/api/v1/patients/{patient_id}/sessions"), Some(&facts), None).await;
        let session =
            format!("/api/v1/patients/{patient_id}/sessions/{}", started.body["session_id"].as_str().unwrap());
        let observations = format!("{session}/observations");
        let settled = |at: &str| {
            json!({ "at": at, "systolic_mmhg": 126, "diastolic_mmhg": 78, "heart_rate_bpm": 72, "spo2_percent": 98,
                    "respiratory_rate_per_min": 14, "moaas": 5, "cadss_total": 0, "crisis_symptoms": [] })
        };
        self.ok("nurse", "POST", &observations, Some(&settled("2026-11-28T09:40")), None).await;
        let second = json!({ "at": "2026-11-28T09:46", "systolic_mmhg": 124, "diastolic_mmhg": 78 });
        self.ok("nurse", "POST", &observations, Some(&second), None).await;
        let dose = json!({ "drug": "esketamine", "dose_mg": 56, "device_count": 2, "lot_number": "ESK-1",
                           "started_at": "2026-11-28T09:50" });
        self.ok("nurse", "POST", &format!("{session}/administrations"), Some(&dose), None).await;
        self.set_clock("2026-11-28T16:55:00Z"); // 11:55
        let peak = json!({ "at": "2026-11-28T10:30", "systolic_mmhg": 150, "diastolic_mmhg": 90, "moaas": 3,
                           "cadss_total": 10, "spo2_percent": 97 });
        let raised = self.ok("nurse", "POST", &observations, Some(&peak), None).await;
        assert!(raised.body["alerts"]["changes"].to_string().contains("SEDATION#1"), "{}", raised.body);
        let acknowledgement = format!("{session}/alerts/SEDATION%231/acknowledgement");
        self.ok("nurse", "POST", &acknowledgement, Some(&json!({ "note": "roused to voice" })), None).await;
        self.ok("nurse", "POST", &observations, Some(&settled("2026-11-28T11:00")), None).await;
        let etag = self.ok("nurse", "GET", &session, None, None).await.etag.unwrap();
        let discharged = self.ok("nurse", "POST", &format!("{session}/discharge"), None, Some(&etag)).await;
        assert_eq!(discharged.body["stage"], "discharged");
        session
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The problem's status, rule and field.
fn refusal(reply: &Reply) -> (StatusCode, &str, &str) {
    (reply.status, reply.body["rule_id"].as_str().unwrap_or("-"), reply.body["field"].as_str().unwrap_or("-"))
}

#[tokio::test]
async fn a_signed_note_cannot_change_except_by_a_signed_addendum() {
    each_backend(|db| async move {
        let store = db.store.clone();
        let api = Api::new(db.store, "2026-11-28T14:00:00Z").await;
        let session = api.discharged_session().await;
        let notes = format!("{session}/notes");

        // The generated note holds what the session holds.
        let listed = api.ok("nurse", "GET", &notes, None, None).await;
        assert_eq!((listed.body["stage"].as_str(), listed.body["note_allowed"].as_bool()), (Some("discharged"), Some(true)));
        let generated = listed.body["generated_text"].as_str().unwrap().to_owned();
        let expected_lines = [
            "Esketamine nasal spray session on 2026-11-28 (America/New_York).",
            "Pre-dose gate: proceed.",
            "- Given: esketamine 56 mg, 2 devices, lot ESK-1, 09:50, recorded by nurse.",
            "- BP (4 readings): first 126/78 mmHg at 09:40, last 126/78 at 11:00, highest 150/90 at 10:30, lowest 124/78 at 09:46",
            "- MOAA/S (3 readings): first 5 at 09:40, last 5 at 11:00, highest 5 at 09:40, lowest 3 at 10:30",
            "- SEDATION#1 acknowledged by nurse at 11:55: roused to voice",
            "Discharge: ready.",
        ];
        let missing: Vec<&str> = expected_lines.iter().copied().filter(|line| !generated.lines().any(|l| l == *line)).collect();
        assert!(missing.is_empty(), "missing {missing:#?} in\n{generated}");

        // Without text, the note starts as the generated one; a second note of the session is refused.
        let created = api.call("nurse", "POST", &notes, Some(&json!({})), None).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["text"].as_str(), Some(generated.as_str()));
        assert_eq!(created.body["status"], "draft");
        let note = format!("{notes}/{}", created.body["note_id"].as_str().unwrap());
        let again = api.call("nurse", "POST", &notes, Some(&json!({ "text": "another" })), None).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

        // The author edits it; the exact text, trailing spaces and all, is what is hashed and signed.
        let text = format!("{generated}Tolerated well; continue twice weekly.  \n");
        let edited = api.ok("nurse", "PATCH", &note, Some(&json!({ "text": text })), created.etag.as_deref()).await;
        assert_eq!((edited.body["text"].as_str(), edited.body["version"].as_i64()), (Some(text.as_str()), Some(2)));
        let by_other = api.call("prescriber", "PATCH", &note, Some(&json!({ "text": "mine" })), edited.etag.as_deref()).await;
        assert_eq!(by_other.status, StatusCode::FORBIDDEN, "only the author edits a draft");
        let stale = api.call("nurse", "POST", &format!("{note}/signature"), Some(&json!({ "text_sha256": sha256_hex(&text) })), created.etag.as_deref()).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);
        let unread = json!({ "text_sha256": sha256_hex(&generated) });
        let wrong = api.call("nurse", "POST", &format!("{note}/signature"), Some(&unread), edited.etag.as_deref()).await;
        assert_eq!(refusal(&wrong), (StatusCode::UNPROCESSABLE_ENTITY, "-", "text_sha256"), "{}", wrong.body);

        api.set_clock("2026-11-28T17:05:00Z");
        let signing = json!({ "text_sha256": sha256_hex(&text) });
        let signed = api.ok("nurse", "POST", &format!("{note}/signature"), Some(&signing), edited.etag.as_deref()).await;
        let signature = &signed.body["signatures"][0];
        assert_eq!(
            (signature["kind"].as_str(), signature["signer_role"].as_str(), signature["signed_at"].as_str()),
            (Some("author"), Some("nurse"), Some("2026-11-28T17:05:00Z"))
        );
        assert_eq!(signature["text_sha256"].as_str(), Some(sha256_hex(&text).as_str()), "the hash is of the exact text");
        assert_eq!(signed.body["text_sha256"], signature["text_sha256"]);

        // Locked: the API refuses any change, and the database refuses one made behind its back.
        let change = api.call("nurse", "PATCH", &note, Some(&json!({ "text": "changed" })), signed.etag.as_deref()).await;
        assert_eq!(refusal(&change), (StatusCode::UNPROCESSABLE_ENTITY, "SIGNED_NOTE_LOCKED", "text"), "{}", change.body);
        let twice = api.call("nurse", "POST", &format!("{note}/signature"), Some(&signing), signed.etag.as_deref()).await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
        let note_id = created.body["note_id"].as_str().unwrap();
        let patient_id = session.split('/').nth(4).unwrap();
        for sql in [
            format!("UPDATE session_notes SET text = 'tampered' WHERE patient_id = '{patient_id}' AND note_id = '{note_id}'"),
            format!("DELETE FROM session_notes WHERE patient_id = '{patient_id}' AND note_id = '{note_id}'"),
            format!("UPDATE note_signatures SET text_sha256 = 'x' WHERE patient_id = '{patient_id}' AND note_id = '{note_id}'"),
            format!("DELETE FROM note_signatures WHERE patient_id = '{patient_id}' AND note_id = '{note_id}'"),
        ] {
            assert!(store.execute_raw(&sql).await.is_err(), "the database refuses {sql}");
        }
        let read = api.ok("nurse", "GET", &note, None, None).await;
        assert_eq!((read.body["text"].as_str(), read.etag.as_deref()), (Some(text.as_str()), signed.etag.as_deref()));

        // What changes later is an addendum, signed the same way; an addendum needs a signed note.
        let addendum = json!({ "addendum_to": note_id, "text": "Called next day: slept well, no driving." });
        let added = api.call("nurse", "POST", &notes, Some(&addendum), None).await;
        assert_eq!((added.status, added.body["kind"].as_str()), (StatusCode::CREATED, Some("addendum")), "{}", added.body);
        let addendum_path = format!("{notes}/{}", added.body["note_id"].as_str().unwrap());
        let to_draft = json!({ "addendum_to": added.body["note_id"], "text": "more" });
        let refused = api.call("nurse", "POST", &notes, Some(&to_draft), None).await;
        assert_eq!(refusal(&refused), (StatusCode::UNPROCESSABLE_ENTITY, "-", "addendum_to"), "{}", refused.body);
        let signing = json!({ "text_sha256": sha256_hex("Called next day: slept well, no driving.") });
        let signed_addendum =
            api.ok("nurse", "POST", &format!("{addendum_path}/signature"), Some(&signing), added.etag.as_deref()).await;
        assert_eq!(signed_addendum.body["status"], "awaiting_cosignature");
        let listed = api.ok("prescriber", "GET", &notes, None, None).await;
        let kinds: Vec<&str> = listed.body["notes"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["note", "addendum"]);
        assert_eq!(listed.body["notes"][0]["text"].as_str(), Some(text.as_str()), "the note itself is unchanged");
    })
    .await;
}

#[tokio::test]
async fn a_nurses_note_needs_a_prescribers_cosignature_and_never_its_authors() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2026-11-28T14:00:00Z").await;
        let session = api.discharged_session().await;
        let notes = format!("{session}/notes");
        let created = api.ok("nurse", "POST", &notes, Some(&json!({ "text": "Nurse's note." })), None).await;
        let note = format!("{notes}/{}", created.body["note_id"].as_str().unwrap());
        let signing = json!({ "text_sha256": sha256_hex("Nurse's note.") });
        let early = api
            .call("prescriber", "POST", &format!("{note}/cosignature"), Some(&signing), created.etag.as_deref())
            .await;
        assert_eq!(refusal(&early), (StatusCode::UNPROCESSABLE_ENTITY, "-", "note"), "not signed by its author yet");
        let signed =
            api.ok("nurse", "POST", &format!("{note}/signature"), Some(&signing), created.etag.as_deref()).await;
        assert_eq!(
            (signed.body["status"].as_str(), signed.body["cosignature_required"].as_bool()),
            (Some("awaiting_cosignature"), Some(true))
        );

        // On the prescribers' list; nurses may neither read the list nor co-sign.
        let waiting = api.ok("prescriber", "GET", "/api/v1/notes/awaiting-cosignature", None, None).await;
        assert_eq!(waiting.body["notes"][0]["note_id"], created.body["note_id"], "{}", waiting.body);
        let nurse_list = api.call("nurse", "GET", "/api/v1/notes/awaiting-cosignature", None, None).await;
        assert_eq!(nurse_list.status, StatusCode::FORBIDDEN);
        let by_nurse =
            api.call("nurse", "POST", &format!("{note}/cosignature"), Some(&signing), signed.etag.as_deref()).await;
        assert_eq!(by_nurse.status, StatusCode::FORBIDDEN);

        api.set_clock("2026-11-28T18:00:00Z");
        let cosigned =
            api.ok("prescriber", "POST", &format!("{note}/cosignature"), Some(&signing), signed.etag.as_deref()).await;
        assert_eq!(cosigned.body["status"], "cosigned");
        let cosignature = &cosigned.body["signatures"][1];
        assert_eq!(
            (cosignature["kind"].as_str(), cosignature["signer_role"].as_str(), cosignature["signed_at"].as_str()),
            (Some("cosignature"), Some("prescriber"), Some("2026-11-28T18:00:00Z"))
        );
        assert_eq!(cosignature["text_sha256"].as_str(), Some(sha256_hex("Nurse's note.").as_str()));
        let again = api
            .call("prescriber2", "POST", &format!("{note}/cosignature"), Some(&signing), cosigned.etag.as_deref())
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        let waiting = api.ok("prescriber", "GET", "/api/v1/notes/awaiting-cosignature", None, None).await;
        assert_eq!(waiting.body["notes"], json!([]));

        // A prescriber's own addendum needs no co-signature, and they cannot co-sign it.
        let addendum = json!({ "addendum_to": created.body["note_id"], "text": "Prescriber's addendum." });
        let added = api.ok("prescriber", "POST", &notes, Some(&addendum), None).await;
        let path = format!("{notes}/{}", added.body["note_id"].as_str().unwrap());
        let signing = json!({ "text_sha256": sha256_hex("Prescriber's addendum.") });
        let own =
            api.ok("prescriber", "POST", &format!("{path}/signature"), Some(&signing), added.etag.as_deref()).await;
        assert_eq!(
            (own.body["status"].as_str(), own.body["cosignature_required"].as_bool()),
            (Some("signed"), Some(false))
        );
        let self_cosign =
            api.call("prescriber", "POST", &format!("{path}/cosignature"), Some(&signing), own.etag.as_deref()).await;
        assert_eq!(
            refusal(&self_cosign),
            (StatusCode::UNPROCESSABLE_ENTITY, "COSIGNER_IS_AUTHOR", "note"),
            "{}",
            self_cosign.body
        );
        let other =
            api.call("prescriber2", "POST", &format!("{path}/cosignature"), Some(&signing), own.etag.as_deref()).await;
        assert_eq!(refusal(&other), (StatusCode::UNPROCESSABLE_ENTITY, "-", "note"), "needs no co-signature");
    })
    .await;
}

#[tokio::test]
async fn no_note_before_discharge_and_every_note_call_is_audited() {
    each_backend(|db| async move {
        let store = db.store.clone();
        let api = Api::new(db.store, "2026-11-28T14:45:00Z").await;
        let patient = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1970-05-02", "sex_at_birth": "male" });
        let patient_id = api.ok("nurse", "POST", "/api/v1/patients", Some(&patient), None).await.body["patient_id"].as_str().unwrap().to_owned();
        let facts = json!({ "modality": "iv_racemic_ketamine", "time_zone": ZONE,
            "dose": { "planned_mg": 35, "planned_at": "2026-11-28T13:10" },
            "pre_dose": { "escort_arranged": true, "phq9_item9": 0, "can_become_pregnant": false } });
        let measurement = json!({ "measured_on": "2026-11-01", "height_cm": 175, "weight_kg": 70 });
        api.ok("nurse", "POST", &format!("/api/v1/patients/{patient_id}/chart/measurements"), Some(&measurement), None).await;
        api.ok("prescriber", "POST", &format!("/api/v1/patients/{patient_id}/orders"), Some(&json!({ "modality": "iv_racemic_ketamine" })), None).await;
        let started = api.ok("nurse", "POST", &format!("/api/v1/patients/{patient_id}/sessions"), Some(&facts), None).await;
        let notes = format!("/api/v1/patients/{patient_id}/sessions/{}/notes", started.body["session_id"].as_str().unwrap());
        let early = api.call("nurse", "POST", &notes, Some(&json!({ "text": "too early" })), None).await;
        assert_eq!(refusal(&early), (StatusCode::UNPROCESSABLE_ENTITY, "-", "stage"), "{}", early.body);
        assert_eq!(api.ok("nurse", "GET", &notes, None, None).await.body["notes"], json!([]), "nothing stored");
        let events = store
            .audit_events(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|event| event.action.starts_with("note."))
            .map(|event| format!("{} {}", event.action, event.outcome))
            .collect::<Vec<_>>();
        assert_eq!(events, ["note.create invalid", "note.list success"]);
    })
    .await;
}
