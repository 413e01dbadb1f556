//! The controlled-substance record through the API (tower `oneshot`), on SQLite and, when configured,
//! PostgreSQL: waste needs a second clinician who signs with their own password; a withdrawal is linked
//! to its patient's standing administration from the same lot; a count that differs from the balance is
//! flagged to admins until one resolves it; corrections are entries marked in error; the report as JSON
//! and CSV; and a property test — random receipts, withdrawals, wastes, returns, counts and entries in
//! error over three lots keep each lot's balance at received − withdrawn − wasted − returned of the
//! entries not in error, and every refused request changes nothing.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use ketacare_app::{App, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::{WebConfig, router};
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tower::ServiceExt as _;

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

/// The router over an app whose clock the test moves, with one account per role and a bearer token each.
struct Api {
    router: Router,
    clock: Arc<Mutex<Timestamp>>,
    tokens: Vec<(Role, String)>,
}

fn password(role: Role) -> String {
    format!("correct horse battery {}", role.as_str())
}

const LOTS: &str = "/api/v1/controlled-substances/lots";
const ENTRIES: &str = "/api/v1/controlled-substances/entries";

impl Api {
    async fn new(store: ketacare_store::Store) -> Api {
        // After the sessions' 13:10 New York doses (18:10 UTC); time moves a microsecond per reading.
        let clock = Arc::new(Mutex::new("2026-11-28T20:00:00Z".parse::<Timestamp>().unwrap()));
        let reading = clock.clone();
        let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || {
            let mut now = reading.lock().unwrap();
            *now += SignedDuration::from_micros(1);
            *now
        }));
        for role in Role::ALL {
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: password(role),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
        }
        let mut api = Api { router: router(app, WebConfig::default()), clock, tokens: Vec::new() };
        for role in Role::ALL {
            let body = json!({ "username": role.as_str(), "password": password(role) }).to_string();
            let login = api.call_with("POST", "/api/v1/session", None, Some(&body)).await;
            let cookie = login.headers[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
            let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();
            let request = Request::post("/api/v1/tokens")
                .header(header::COOKIE, cookie)
                .header("x-csrf-token", csrf)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"label":"stock"}"#))
                .unwrap();
            let reply = api.send(request).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
            api.tokens.push((role, reply.body["token"].as_str().unwrap().to_owned()));
        }
        // The clinic's IV consent form: a dose needs a current consent to its modality.
        let form = json!({ "form_id": "iv-treatment", "modality": "iv_racemic_ketamine", "title": "Consent to IV ketamine",
                           "body_text": "Off-label; risks: blood pressure, dissociation, sedation, misuse." });
        let stored = api.call(Role::Admin, "POST", "/api/v1/consent-forms", Some(form)).await;
        assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.text);
        api
    }

    fn advance(&self, by: SignedDuration) {
        *self.clock.lock().unwrap() += by;
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    async fn call_with(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        self.send(request.body(Body::from(body.unwrap_or_default().to_owned())).unwrap()).await
    }

    async fn call(&self, role: Role, method: &str, path: &str, body: Option<Value>) -> Reply {
        let token = self.tokens.iter().find(|(held, _)| *held == role).map(|(_, token)| token.clone()).unwrap();
        self.call_with(method, path, Some(&token), body.map(|body| body.to_string()).as_deref()).await
    }

    async fn record(&self, role: Role, body: Value) -> Reply {
        self.call(role, "POST", ENTRIES, Some(body)).await
    }

    /// Each lot's balance, by lot id.
    async fn balances(&self) -> Vec<(String, String)> {
        let reply = self.call(Role::Admin, "GET", LOTS, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["lots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|lot| (lot["lot_id"].as_str().unwrap().to_owned(), lot["balance_mg"].as_str().unwrap().to_owned()))
            .collect()
    }

    async fn entry_count(&self) -> usize {
        let reply = self.call(Role::Auditor, "GET", ENTRIES, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["entries"].as_array().unwrap().len()
    }

    /// A patient given 35 mg of ketamine from lot `lot_number` in an IV session: (patient id, administration id).
    async fn administration(&self, lot_number: &str) -> (String, String) {
        let patient = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1984-05-02", "sex_at_birth": "female" });
        let created = self.call(Role::Nurse, "POST", "/api/v1/patients", Some(patient)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let patient_id = created.body["patient_id"].as_str().unwrap().to_owned();
        let base = format!("/api/v1/patients/{patient_id}");
        let consent = json!({ "form_id": "iv-treatment", "signed_on": "2026-11-01", "signer_name": "Ada Lovelace",
                              "signer_relationship": "patient", "witness_username": "prescriber" });
        let reply = self.call(Role::Nurse, "POST", &format!("{base}/consents"), Some(consent)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let measured = json!({ "measured_on": "2026-11-01", "height_cm": 175, "weight_kg": 70 });
        let reply = self.call(Role::Nurse, "POST", &format!("{base}/chart/measurements"), Some(measured)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let order = json!({ "modality": "iv_racemic_ketamine" });
        let reply = self.call(Role::Prescriber, "POST", &format!("{base}/orders"), Some(order)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let session = json!({ "modality": "iv_racemic_ketamine", "time_zone": "America/New_York",
            "dose": { "planned_mg": 35, "planned_at": "2026-11-28T13:10" },
            "pre_dose": { "escort_arranged": true, "phq9_item9": 0, "can_become_pregnant": false } });
        let reply = self.call(Role::Nurse, "POST", &format!("{base}/sessions"), Some(session)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let session = format!("{base}/sessions/{}", reply.body["session_id"].as_str().unwrap());
        for at in ["2026-11-28T13:00", "2026-11-28T13:06"] {
            let reading = json!({ "at": at, "systolic_mmhg": 124, "diastolic_mmhg": 78 });
            let reply = self.call(Role::Nurse, "POST", &format!("{session}/observations"), Some(reading)).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
        let given = json!({ "drug": "ketamine", "dose_mg": 35, "lot_number": lot_number,
                            "started_at": "2026-11-28T13:10", "ended_at": "2026-11-28T13:50" });
        let reply = self.call(Role::Nurse, "POST", &format!("{session}/administrations"), Some(given)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        (patient_id, reply.body["administration_id"].as_str().unwrap().to_owned())
    }
}

fn receipt(lot_number: &str, location: &str, quantity_mg: &str) -> Value {
    json!({ "kind": "received", "drug": "ketamine", "ndc": "0409-2051-05", "lot_number": lot_number,
            "expiry_date": "2027-12-31", "location": location, "quantity_mg": quantity_mg, "supplier": "Cardinal" })
}

/// A refusal's status, field and rule (or type), for one-line comparisons.
fn refusal(reply: &Reply) -> (u16, String, String) {
    (
        reply.status.as_u16(),
        reply.body["field"].as_str().unwrap_or_default().to_owned(),
        reply.body["rule_id"].as_str().or(reply.body["type"].as_str()).unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn waste_needs_another_clinician_who_signs_with_their_own_password() {
    each_backend(|db| async move {
        let api = Api::new(db.store).await;
        let received = api.record(Role::Admin, receipt("KET-1", "safe A", "500")).await;
        assert_eq!(received.status, StatusCode::CREATED, "{}", received.text);
        let lot_id = received.body["lot_id"].as_str().unwrap().to_owned();
        let waste = |witness: &str, password: String| {
            json!({ "kind": "wasted", "lot_id": lot_id, "quantity_mg": "15.5", "witness_username": witness,
                    "witness_password": password, "note": "left in the syringe" })
        };
        let cases = [
            ("the nurse herself", waste("nurse", password(Role::Nurse)), "witness_username", "stock.witness_same_user"),
            (
                "a wrong password",
                waste("prescriber", "not the password".to_owned()),
                "witness_password",
                "stock.witness_password",
            ),
            (
                "no such account",
                waste("nobody", "whatever it is".to_owned()),
                "witness_password",
                "stock.witness_password",
            ),
            ("an admin", waste("admin", password(Role::Admin)), "witness_username", "stock.witness_role"),
            ("an analyst", waste("analyst", password(Role::Analyst)), "witness_username", "stock.witness_role"),
        ];
        let before = (api.balances().await, api.entry_count().await);
        let mut failures = Vec::new();
        for (name, body, field, rule) in cases {
            let reply = api.record(Role::Nurse, body).await;
            if refusal(&reply) != (422, field.to_owned(), rule.to_owned()) {
                failures.push(format!("{name}: {:?} {}", refusal(&reply), reply.text));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        assert_eq!((api.balances().await, api.entry_count().await), before, "refused wastes change nothing");
        // No password, no waste.
        let unsigned =
            json!({ "kind": "wasted", "lot_id": lot_id, "quantity_mg": 1, "witness_username": "prescriber" });
        assert_eq!(refusal(&api.record(Role::Nurse, unsigned).await).1, "witness_password");
        // Admins receive, they do not dispense.
        assert_eq!(api.record(Role::Admin, waste("nurse", password(Role::Nurse))).await.status, StatusCode::FORBIDDEN);
        let witnessed = api.record(Role::Nurse, waste("prescriber", password(Role::Prescriber))).await;
        assert_eq!(witnessed.status, StatusCode::CREATED, "{}", witnessed.text);
        assert!(!witnessed.text.contains(&password(Role::Prescriber)), "the witness's password is never echoed");
        assert_eq!(api.balances().await, vec![(lot_id.clone(), "484.5".to_owned())]);
        // A retried waste under its Idempotency-Key is one entry, whatever password the retry carries.
        let token = api.tokens.iter().find(|(role, _)| *role == Role::Nurse).unwrap().1.clone();
        let keyed = |witness_password: String| {
            Request::post(ENTRIES)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", "waste-1")
                .body(Body::from(waste("prescriber", witness_password).to_string()))
                .unwrap()
        };
        let first = api.send(keyed(password(Role::Prescriber))).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let retried = api.send(keyed("typed differently".to_owned())).await;
        assert_eq!((retried.status, &retried.body["entry_id"]), (StatusCode::CREATED, &first.body["entry_id"]));
        assert_eq!(retried.headers["idempotent-replayed"], "true");
        assert_eq!(api.balances().await, vec![(lot_id.clone(), "469".to_owned())]);
        let entry = api.call(Role::Auditor, "GET", witnessed.headers[header::LOCATION].to_str().unwrap(), None).await;
        assert_eq!(
            (entry.body["witness_username"].as_str(), entry.body["recorded_by_username"].as_str()),
            (Some("prescriber"), Some("nurse"))
        );
    })
    .await;
}

#[tokio::test]
async fn a_withdrawal_is_linked_to_the_patients_standing_administration_from_that_lot() {
    each_backend(|db| async move {
        let api = Api::new(db.store).await;
        let (patient_id, administration_id) = api.administration("KET-1").await;
        let (other_patient_id, other_administration_id) = api.administration("KET-1").await;
        let lot = api.record(Role::Admin, receipt("KET-1", "safe A", "100")).await;
        let lot_id = lot.body["lot_id"].as_str().unwrap().to_owned();
        let other_lot = api.record(Role::Admin, receipt("KET-2", "safe A", "100")).await;
        let other_lot_id = other_lot.body["lot_id"].as_str().unwrap().to_owned();
        let withdrawal = |lot: &str, patient: &str, administration: &str, mg: i64| {
            json!({ "kind": "withdrawn", "lot_id": lot, "patient_id": patient, "administration_id": administration, "quantity_mg": mg })
        };
        let cases = [
            ("no such administration", withdrawal(&lot_id, &patient_id, "no-such-dose", 35), "administration_id", "stock.administration_unknown"),
            ("another patient's", withdrawal(&lot_id, &patient_id, &other_administration_id, 35), "administration_id", "stock.administration_other_patient"),
            ("another lot", withdrawal(&other_lot_id, &patient_id, &administration_id, 35), "lot_id", "stock.administration_other_lot"),
            ("beyond the balance", withdrawal(&lot_id, &patient_id, &administration_id, 101), "quantity_mg", "stock.balance_negative"),
            ("no quantity", json!({ "kind": "withdrawn", "lot_id": lot_id, "patient_id": patient_id, "administration_id": administration_id }), "quantity_mg", "urn:ketacare:problem:invalid-field"),
            ("no such lot", withdrawal("no-such-lot", &patient_id, &administration_id, 1), "lot_id", "urn:ketacare:problem:invalid-field"),
        ];
        let before = (api.balances().await, api.entry_count().await);
        let mut failures = Vec::new();
        for (name, body, field, rule) in cases {
            let reply = api.record(Role::Nurse, body).await;
            if refusal(&reply) != (422, field.to_owned(), rule.to_owned()) {
                failures.push(format!("{name}: {:?} {}", refusal(&reply), reply.text));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        assert_eq!((api.balances().await, api.entry_count().await), before, "refused withdrawals change nothing");
        let given = api.record(Role::Nurse, withdrawal(&lot_id, &patient_id, &administration_id, 35)).await;
        assert_eq!(given.status, StatusCode::CREATED, "{}", given.text);
        assert_eq!(given.body["patient_id"], patient_id.as_str());
        let other = api.record(Role::Prescriber, withdrawal(&lot_id, &other_patient_id, &other_administration_id, 35)).await;
        assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
        // An administration entered in error takes no withdrawal.
        let session_of = given.body["session_id"].as_str().unwrap();
        let path = format!("/api/v1/patients/{patient_id}/sessions/{session_of}");
        let etag = api.call(Role::Nurse, "GET", &path, None).await.headers[header::ETAG].to_str().unwrap().to_owned();
        let token = api.tokens.iter().find(|(role, _)| *role == Role::Nurse).unwrap().1.clone();
        let request = Request::patch(format!("{path}/administrations/{administration_id}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::IF_MATCH, etag)
            .body(Body::from(json!({ "reason": "wrong lot", "status": "entered_in_error" }).to_string()))
            .unwrap();
        assert_eq!(api.send(request).await.status, StatusCode::OK);
        let again = api.record(Role::Nurse, withdrawal(&lot_id, &patient_id, &administration_id, 5)).await;
        assert_eq!(refusal(&again), (422, "administration_id".to_owned(), "stock.administration_entered_in_error".to_owned()));
        // An expired lot gives no more: receipts of expired stock are refused, and a lot past its expiry
        // date can only be returned or wasted.
        let mut short = receipt("KET-3", "safe B", "50");
        short["expiry_date"] = json!("2026-11-27");
        assert_eq!(refusal(&api.record(Role::Admin, short.clone()).await), (422, "expiry_date".to_owned(), "stock.lot_expired".to_owned()));
        short["expiry_date"] = json!("2026-11-29");
        short["lot_number"] = json!("KET-1");
        let short_lot = api.record(Role::Admin, short).await;
        assert_eq!(short_lot.status, StatusCode::CREATED, "{}", short_lot.text);
        let short_lot_id = short_lot.body["lot_id"].as_str().unwrap().to_owned();
        api.advance(SignedDuration::from_hours(48));
        let expired = api.record(Role::Prescriber, withdrawal(&short_lot_id, &other_patient_id, &other_administration_id, 5)).await;
        assert_eq!(refusal(&expired), (422, "lot_id".to_owned(), "stock.lot_expired".to_owned()));
        let returned = json!({ "kind": "returned", "lot_id": short_lot_id, "quantity_mg": 50, "party": "RxReturns (reverse distributor)" });
        assert_eq!(api.record(Role::Nurse, returned.clone()).await.status, StatusCode::FORBIDDEN);
        assert_eq!(api.record(Role::Admin, returned).await.status, StatusCode::CREATED);
        let balances = api.balances().await;
        for (lot, expected) in [(&lot_id, "30"), (&other_lot_id, "100"), (&short_lot_id, "0")] {
            assert!(balances.contains(&(lot.clone(), expected.to_owned())), "{lot}: {balances:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_count_that_differs_from_the_balance_is_flagged_to_admins_until_resolved() {
    each_backend(|db| async move {
        let api = Api::new(db.store).await;
        let mut esketamine = receipt("SPR-9", "safe A", "280");
        esketamine["drug"] = json!("esketamine");
        let lot = api.record(Role::Admin, esketamine.clone()).await;
        assert_eq!(lot.status, StatusCode::CREATED, "{}", lot.text);
        let lot_id = lot.body["lot_id"].as_str().unwrap().to_owned();
        esketamine["quantity_mg"] = json!(30);
        assert_eq!(
            refusal(&api.record(Role::Admin, esketamine).await),
            (422, "quantity_mg".to_owned(), "stock.whole_devices".to_owned())
        );
        let exact = api.record(Role::Nurse, json!({ "kind": "count", "lot_id": lot_id, "counted_mg": 280 })).await;
        assert_eq!(
            (exact.status, &exact.body["discrepancy_flagged"]),
            (StatusCode::CREATED, &json!(false)),
            "{}",
            exact.text
        );
        let short = api.record(Role::Nurse, json!({ "kind": "count", "lot_id": lot_id, "counted_mg": 252 })).await;
        assert_eq!(short.status, StatusCode::CREATED, "{}", short.text);
        assert_eq!((&short.body["discrepancy_flagged"], &short.body["discrepancy_mg"]), (&json!(true), &json!("-28")));
        let count_id = short.body["entry_id"].as_str().unwrap().to_owned();
        // A count moves nothing: the balance stays what the log says.
        assert_eq!(api.balances().await, vec![(lot_id.clone(), "280".to_owned())]);
        let flagged = |role| {
            let api = &api;
            async move {
                let worklist = api.call(role, "GET", "/api/v1/worklist?time_zone=America/New_York", None).await;
                worklist.body["open_stock_discrepancies"].as_u64()
            }
        };
        assert_eq!((flagged(Role::Admin).await, flagged(Role::Nurse).await), (Some(1), Some(0)));
        let lots = api.call(Role::Admin, "GET", LOTS, None).await;
        assert_eq!(lots.body["open_discrepancies"][0]["entry_id"], count_id.as_str());
        let resolution = format!("{ENTRIES}/{count_id}/resolution");
        assert_eq!(
            api.call(Role::Nurse, "POST", &resolution, Some(json!({ "reason": "found it" }))).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(refusal(&api.call(Role::Admin, "POST", &resolution, Some(json!({}))).await).1, "reason");
        let resolved = api
            .call(Role::Admin, "POST", &resolution, Some(json!({ "reason": "one device was in safe B; moved back" })))
            .await;
        assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.text);
        assert_eq!(resolved.body["discrepancy_mg"], "-28", "the discrepancy stays in the log");
        assert_eq!(flagged(Role::Admin).await, Some(0));
        assert_eq!(
            api.call(Role::Admin, "POST", &resolution, Some(json!({ "reason": "again" }))).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    })
    .await;
}

#[tokio::test]
async fn corrections_are_entries_in_error_and_the_report_is_csv_per_period_and_lot() {
    each_backend(|db| async move {
        let api = Api::new(db.store).await;
        let first = api.record(Role::Admin, receipt("KET-1", "safe A", "100")).await;
        let lot_id = first.body["lot_id"].as_str().unwrap().to_owned();
        let mistyped = api.record(Role::Admin, receipt("KET-1", "safe A", "1000")).await;
        assert_eq!(mistyped.body["lot_id"], lot_id.as_str(), "the same lot at the same place is one lot");
        let mistyped_id = mistyped.body["entry_id"].as_str().unwrap().to_owned();
        let mut other_ndc = receipt("KET-1", "safe A", "10");
        other_ndc["ndc"] = json!("0000-0000-00");
        assert_eq!(refusal(&api.record(Role::Admin, other_ndc).await).1, "ndc");
        let returned = api
            .record(
                Role::Admin,
                json!({ "kind": "returned", "lot_id": lot_id, "quantity_mg": 600, "party": "=cmd|' /C calc'!A0" }),
            )
            .await;
        assert_eq!(returned.status, StatusCode::CREATED, "{}", returned.text);
        let in_error = format!("{ENTRIES}/{mistyped_id}/entered-in-error");
        // 1,100 received, 600 returned: taking back the 1,000 would leave −500.
        let refused = api.call(Role::Admin, "POST", &in_error, Some(json!({ "reason": "typed 1000 for 100" }))).await;
        assert_eq!(refusal(&refused), (422, "status".to_owned(), "stock.balance_negative".to_owned()));
        let returned_id = returned.body["entry_id"].as_str().unwrap();
        let undo = api
            .call(
                Role::Admin,
                "POST",
                &format!("{ENTRIES}/{returned_id}/entered-in-error"),
                Some(json!({ "reason": "never shipped" })),
            )
            .await;
        assert_eq!(undo.status, StatusCode::OK, "{}", undo.text);
        assert_eq!(
            api.call(Role::Admin, "POST", &in_error, Some(json!({}))).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            api.call(Role::Nurse, "POST", &in_error, Some(json!({ "reason": "typo" }))).await.status,
            StatusCode::FORBIDDEN
        );
        let marked = api.call(Role::Admin, "POST", &in_error, Some(json!({ "reason": "typed 1000 for 100" }))).await;
        assert_eq!(
            (marked.status, marked.body["status"].as_str()),
            (StatusCode::OK, Some("entered_in_error")),
            "{}",
            marked.text
        );
        let corrected = api.record(Role::Admin, receipt("KET-1", "safe A", "100")).await;
        assert_eq!(corrected.status, StatusCode::CREATED);
        assert_eq!(api.balances().await, vec![(lot_id.clone(), "200".to_owned())]);
        api.advance(SignedDuration::from_hours(24));
        let next_day = api.record(Role::Admin, receipt("KET-1", "safe A", "50")).await;
        assert_eq!(next_day.status, StatusCode::CREATED);

        // The period of the 28th (UTC clinic): four entries (the refused one was never written), the one in
        // error kept; the lot summarised.
        let report = api
            .call(Role::Auditor, "GET", &format!("{ENTRIES}?from=2026-11-28&to=2026-11-28&lot_id={lot_id}"), None)
            .await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.text);
        assert_eq!(report.body["entries"].as_array().unwrap().len(), 4);
        let summary = &report.body["lots"][0];
        assert_eq!(
            [
                &summary["opening_balance_mg"],
                &summary["received_mg"],
                &summary["returned_mg"],
                &summary["closing_balance_mg"]
            ],
            [&json!("0"), &json!("200"), &json!("0"), &json!("200")]
        );
        let next = api.call(Role::Nurse, "GET", &format!("{ENTRIES}?from=2026-11-29"), None).await;
        assert_eq!(
            (next.body["entries"].as_array().unwrap().len(), &next.body["lots"][0]["opening_balance_mg"]),
            (1, &json!("200"))
        );
        let csv = api.call(Role::Auditor, "GET", "/api/v1/controlled-substances/report.csv?to=2026-11-28", None).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        let lines: Vec<&str> = csv.text.split("\r\n").filter(|line| !line.is_empty()).collect();
        assert_eq!(lines.len(), 5, "a header and four entries: {}", csv.text);
        assert!(lines[0].starts_with("recorded_at,kind,drug,ndc,lot_number,"));
        assert!(lines.iter().any(|line| line.contains(",entered_in_error,") && line.contains("typed 1000 for 100")));
        assert!(csv.text.contains(",'=cmd|' /C calc'!A0,"), "text never runs as a formula: {}", csv.text);
        let mut failures = Vec::new();
        for (role, expected) in [
            (Role::Admin, 200),
            (Role::Prescriber, 200),
            (Role::Nurse, 200),
            (Role::Auditor, 200),
            (Role::Analyst, 403),
        ] {
            let status = api.call(role, "GET", "/api/v1/controlled-substances/report.csv", None).await.status.as_u16();
            if status != expected {
                failures.push(format!("{role:?}: {status}"));
            }
        }
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(refusal(&api.call(Role::Admin, "GET", &format!("{ENTRIES}?from=2026-13-01"), None).await).1, "from");
        assert_eq!(
            api.call(Role::Admin, "GET", &format!("{ENTRIES}?lot_id=nope"), None).await.status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

/// One step of a random sequence over three lots (`lot` 0..3; quantities in tenths of a mg).
#[derive(Debug, Clone)]
enum Step {
    Receive { lot: usize, tenths_mg: i64 },
    Withdraw { lot: usize, tenths_mg: i64 },
    Waste { lot: usize, tenths_mg: i64 },
    Return { lot: usize, tenths_mg: i64 },
    Count { lot: usize, tenths_mg: i64 },
    EnterInError { pick: usize },
}

fn step() -> impl Strategy<Value = Step> {
    let lot = 0..3usize;
    let tenths = 1..3_000i64;
    prop_oneof![
        3 => (lot.clone(), tenths.clone()).prop_map(|(lot, tenths_mg)| Step::Receive { lot, tenths_mg }),
        3 => (lot.clone(), tenths.clone()).prop_map(|(lot, tenths_mg)| Step::Withdraw { lot, tenths_mg }),
        1 => (lot.clone(), tenths.clone()).prop_map(|(lot, tenths_mg)| Step::Waste { lot, tenths_mg }),
        2 => (lot.clone(), tenths.clone()).prop_map(|(lot, tenths_mg)| Step::Return { lot, tenths_mg }),
        1 => (lot, 0..3_000i64).prop_map(|(lot, tenths_mg)| Step::Count { lot, tenths_mg }),
        2 => (0..64usize).prop_map(|pick| Step::EnterInError { pick }),
    ]
}

/// What the log should hold: each accepted entry's lot, signed quantity and whether it is in error.
#[derive(Default)]
struct Model {
    entries: Vec<(usize, Decimal, String, bool)>,
}

impl Model {
    fn balance(&self, lot: usize) -> Decimal {
        self.entries
            .iter()
            .filter(|(of, _, _, in_error)| *of == lot && !in_error)
            .map(|(_, signed, _, _)| *signed)
            .sum()
    }
}

#[tokio::test]
async fn random_sequences_keep_each_balance_at_received_less_withdrawn_wasted_returned() {
    let mut runner = TestRunner::deterministic();
    let sequences: Vec<Vec<Step>> =
        (0..16).map(|_| proptest::collection::vec(step(), 1..24).new_tree(&mut runner).unwrap().current()).collect();
    each_backend(move |db| {
        let sequences = sequences.clone();
        async move {
            let api = Api::new(db.store).await;
            let mut administrations = Vec::new();
            for lot in 0..3 {
                administrations.push(api.administration(&format!("KET-{lot}")).await);
            }
            let mut failures = Vec::new();
            let (mut accepted_steps, mut refused_steps) = (0, 0);
            for (number, sequence) in sequences.iter().enumerate() {
                let location = format!("safe {number}");
                let mut lot_ids: [Option<String>; 3] = [None, None, None];
                let mut model = Model::default();
                for (index, step) in sequence.iter().enumerate() {
                    let tenths = |tenths_mg: i64| Decimal::new(tenths_mg, 1);
                    let before = (api.balances().await, api.entry_count().await);
                    let lot_of = |lot: usize| lot_ids[lot].clone().unwrap_or_else(|| "not-received-yet".to_owned());
                    // What the log must do: (body, role, accepted, model change).
                    let (role, body, expected_ok, change): (Role, Value, bool, Option<(usize, Decimal)>) = match step {
                        Step::Receive { lot, tenths_mg } => {
                            (Role::Admin, receipt(&format!("KET-{lot}"), &location, &tenths(*tenths_mg).to_string()), true, Some((*lot, tenths(*tenths_mg))))
                        }
                        Step::Withdraw { lot, tenths_mg } => {
                            let (patient_id, administration_id) = &administrations[*lot];
                            let ok = lot_ids[*lot].is_some() && tenths(*tenths_mg) <= model.balance(*lot);
                            (Role::Nurse, json!({ "kind": "withdrawn", "lot_id": lot_of(*lot), "patient_id": patient_id,
                                "administration_id": administration_id, "quantity_mg": tenths(*tenths_mg).to_string() }),
                             ok, Some((*lot, -tenths(*tenths_mg))))
                        }
                        Step::Waste { lot, tenths_mg } => {
                            let ok = lot_ids[*lot].is_some() && tenths(*tenths_mg) <= model.balance(*lot);
                            (Role::Nurse, json!({ "kind": "wasted", "lot_id": lot_of(*lot), "quantity_mg": tenths(*tenths_mg).to_string(),
                                "witness_username": "prescriber", "witness_password": password(Role::Prescriber) }),
                             ok, Some((*lot, -tenths(*tenths_mg))))
                        }
                        Step::Return { lot, tenths_mg } => {
                            let ok = lot_ids[*lot].is_some() && tenths(*tenths_mg) <= model.balance(*lot);
                            (Role::Admin, json!({ "kind": "returned", "lot_id": lot_of(*lot), "quantity_mg": tenths(*tenths_mg).to_string(),
                                "party": "RxReturns" }), ok, Some((*lot, -tenths(*tenths_mg))))
                        }
                        Step::Count { lot, tenths_mg } => {
                            (Role::Nurse, json!({ "kind": "count", "lot_id": lot_of(*lot), "counted_mg": tenths(*tenths_mg).to_string() }),
                             lot_ids[*lot].is_some(), Some((*lot, Decimal::ZERO)))
                        }
                        Step::EnterInError { .. } => (Role::Admin, Value::Null, false, None),
                    };
                    let accepted = if let Step::EnterInError { pick } = step {
                        if model.entries.is_empty() {
                            continue;
                        }
                        let chosen = pick % model.entries.len();
                        let (lot, signed, entry_id, in_error) = model.entries[chosen].clone();
                        let ok = !in_error && model.balance(lot) - signed >= Decimal::ZERO;
                        let path = format!("{ENTRIES}/{entry_id}/entered-in-error");
                        // Admins may correct receipts, returns and counts; clinicians withdrawals and waste.
                        let reply = api.call(Role::Admin, "POST", &path, Some(json!({ "reason": "test correction" }))).await;
                        let reply = if reply.status == StatusCode::FORBIDDEN {
                            api.call(Role::Nurse, "POST", &path, Some(json!({ "reason": "test correction" }))).await
                        } else {
                            reply
                        };
                        if reply.status.is_success() != ok {
                            failures.push(format!("sequence {number} step {index} {step:?}: expected ok={ok}, got {} {}", reply.status, reply.text));
                        }
                        if reply.status.is_success() {
                            model.entries[chosen].3 = true;
                        }
                        reply.status.is_success()
                    } else {
                        let reply = api.record(role, body).await;
                        if reply.status.is_success() != expected_ok {
                            failures.push(format!("sequence {number} step {index} {step:?}: expected ok={expected_ok}, got {} {}", reply.status, reply.text));
                        }
                        if reply.status.is_success() {
                            let (lot, signed) = change.unwrap();
                            if let Step::Receive { .. } = step {
                                lot_ids[lot] = Some(reply.body["lot_id"].as_str().unwrap().to_owned());
                            }
                            if let Step::Count { tenths_mg, .. } = step {
                                let flagged = tenths(*tenths_mg) != model.balance(lot);
                                if reply.body["discrepancy_flagged"] != json!(flagged) {
                                    failures.push(format!("sequence {number} step {index}: count flagged {}, expected {flagged}", reply.body));
                                }
                            }
                            model.entries.push((lot, signed, reply.body["entry_id"].as_str().unwrap().to_owned(), false));
                        }
                        reply.status.is_success()
                    };
                    if accepted {
                        accepted_steps += 1;
                    } else {
                        refused_steps += 1;
                    }
                    let after = (api.balances().await, api.entry_count().await);
                    if !accepted && after != before {
                        failures.push(format!("sequence {number} step {index} {step:?}: a refused request changed the log"));
                    }
                    for (lot, lot_id) in lot_ids.iter().enumerate() {
                        let Some(lot_id) = lot_id else { continue };
                        let shown = after.0.iter().find(|(id, _)| id == lot_id).map(|(_, balance)| balance.parse::<Decimal>().unwrap());
                        if shown != Some(model.balance(lot)) {
                            failures.push(format!("sequence {number} step {index} {step:?}: lot {lot} shows {shown:?}, the log sums to {}", model.balance(lot)));
                        }
                    }
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n"));
            assert!(accepted_steps > 50 && refused_steps > 20, "a real mix: {accepted_steps} accepted, {refused_steps} refused");
        }
    })
    .await;
}

#[tokio::test]
async fn removals_racing_for_the_last_milligrams_of_a_lot_never_take_it_below_zero() {
    each_backend(|db| async move {
        let api = Api::new(db.store).await;
        let lot = api.record(Role::Admin, receipt("KET-1", "safe A", "100")).await;
        let lot_id = lot.body["lot_id"].as_str().unwrap().to_owned();
        // Eight returns of 30 mg at once: the lot holds three of them.
        let returns = (0..8).map(|_| {
            api.record(
                Role::Admin,
                json!({ "kind": "returned", "lot_id": lot_id, "quantity_mg": 30, "party": "RxReturns" }),
            )
        });
        let replies = futures_util::future::join_all(returns).await;
        let created = replies.iter().filter(|reply| reply.status == StatusCode::CREATED).count();
        let refused: Vec<(u16, String, String)> =
            replies.iter().filter(|reply| reply.status != StatusCode::CREATED).map(refusal).collect();
        assert_eq!(created, 3, "{refused:?}");
        assert!(refused.iter().all(|refusal| refusal.2 == "stock.balance_negative"), "{refused:?}");
        assert_eq!(api.balances().await, vec![(lot_id, "10".to_owned())]);
    })
    .await;
}
