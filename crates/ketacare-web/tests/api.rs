//! The API through the router (tower `oneshot`, no sockets), on SQLite and, when configured,
//! PostgreSQL: the vignettes give the CLI's decisions, the role x route matrix, sessions and CSRF,
//! ETag/If-Match, Idempotency-Key, problem details that name the field, throttling, the OpenAPI
//! document and the audit trail of every patient-data route.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use ketacare_app::{Actor, App, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::{ROUTES, WebConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// How a test request authenticates.
#[derive(Clone)]
enum Auth {
    Anonymous,
    Bearer(String),
    Cookie { session: String, csrf: Option<String> },
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

struct Api {
    router: Router,
    app: App,
}

fn password(role: Role) -> String {
    format!("correct horse battery {}", role.as_str())
}

impl Api {
    async fn new(store: ketacare_store::Store, config: WebConfig) -> Api {
        let app = App::new(store, Protocol::shipped());
        for role in Role::ALL {
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: password(role),
                role,
                must_change_password: false,
            };
            let user_id = app.create_user(None, &account).await.unwrap();
            if role == Role::Admin {
                // The clinic's IV consent form: a dose needs a current consent to its modality.
                let admin = Actor { user_id, role, request_id: "setup".to_owned() };
                app.create_consent_form_version(&admin, &consent_form_body()).await.unwrap();
            }
        }
        Api { router: router(app.clone(), config), app }
    }

    async fn call(&self, method: &str, path: &str, auth: &Auth, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        match auth {
            Auth::Anonymous => {}
            Auth::Bearer(token) => request = request.header(header::AUTHORIZATION, format!("Bearer {token}")),
            Auth::Cookie { session, csrf } => {
                request = request.header(header::COOKIE, format!("ketacare_session={session}"));
                if let Some(csrf) = csrf {
                    request = request.header("x-csrf-token", csrf);
                }
            }
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
        // A CSV report is kept as a JSON string of its text.
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply { status, headers, body }
    }

    async fn login(&self, role: Role) -> Auth {
        let body = json!({ "username": role.as_str(), "password": password(role) }).to_string();
        let reply = self.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&body), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
        let session = cookie.split(';').next().unwrap().strip_prefix("ketacare_session=").unwrap().to_owned();
        Auth::Cookie { session, csrf: Some(reply.body["csrf_token"].as_str().unwrap().to_owned()) }
    }

    async fn token(&self, role: Role) -> Auth {
        let auth = self.login(role).await;
        let reply = self.call("POST", "/api/v1/tokens", &auth, Some(r#"{"label":"test"}"#), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        Auth::Bearer(reply.body["token"].as_str().unwrap().to_owned())
    }

    async fn create_patient(&self, auth: &Auth, given_name: &str) -> String {
        let body = json!({ "given_name": given_name, "family_name": "Lovelace", "birth_date": "1984-05-02",
                           "sex_at_birth": "female", "mrn": "MRN-7" });
        let reply = self.call("POST", "/api/v1/patients", auth, Some(&body.to_string()), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["patient_id"].as_str().unwrap().to_owned()
    }
}

fn vignettes_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vignettes")
}

#[tokio::test]
async fn the_vignettes_posted_through_the_api_give_the_clis_decisions() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let prescriber = api.token(Role::Prescriber).await;
        let protocol = Protocol::shipped();
        let mut names: Vec<String> = std::fs::read_dir(vignettes_dir())
            .unwrap()
            .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
            .filter_map(|file| file.strip_suffix(".case.json").map(str::to_owned))
            .collect();
        names.sort();
        assert_eq!(names.len(), 13);
        for name in &names {
            let patient_id = api.create_patient(&prescriber, name).await;
            let case = std::fs::read_to_string(vignettes_dir().join(format!("{name}.case.json"))).unwrap();
            let path = format!("/api/v1/patients/{patient_id}/assessments");
            let reply = api.call("POST", &path, &prescriber, Some(&case), &[]).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{name}: {:?}", reply.body);
            // What `ketacare assess` prints: the same parse, engine and renderer.
            let facts = ketacare_case::parse_case_json(&case, jiff::civil::date(2026, 11, 28)).unwrap();
            let cli_report = ketacare_case::report_json(&ketacare_core::assess::assess_case(&facts, &protocol));
            assert_eq!(reply.body["report"], cli_report, "{name}");
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(vignettes_dir().join(format!("{name}.expected.json"))).unwrap(),
            )
            .unwrap();
            if let Err(difference) = ketacare_case::json_contains(&reply.body["report"], &expected) {
                panic!("{name}{difference}");
            }
            let location = reply.headers[header::LOCATION].to_str().unwrap();
            let single = api.call("GET", location, &prescriber, None, &[]).await;
            assert_eq!((single.status, &single.body), (StatusCode::OK, &reply.body), "{name}: Location leads to it");
            let history = api.call("GET", &path, &prescriber, None, &[]).await;
            assert_eq!(history.body["assessments"][0]["report"], cli_report, "{name}");
            assert_eq!(history.body["assessments"][0]["protocol_sha256"], protocol.sha256.as_str());
        }
    })
    .await;
}

const ANON: usize = 0;

/// Expected status per caller: no login, admin, prescriber, nurse, analyst, auditor.
const MATRIX: &[(&str, &str, [u16; 6])] = &[
    ("GET", "/healthz", [200, 200, 200, 200, 200, 200]),
    ("GET", "/readyz", [200, 200, 200, 200, 200, 200]),
    ("GET", "/api/v1/openapi.json", [200, 200, 200, 200, 200, 200]),
    ("POST", "/api/v1/session", [200, 200, 200, 200, 200, 200]),
    ("GET", "/api/v1/session", [401, 200, 200, 200, 200, 200]),
    ("DELETE", "/api/v1/session", [401, 204, 204, 204, 204, 204]),
    ("POST", "/api/v1/session/password", [401, 422, 422, 422, 422, 422]),
    ("GET", "/api/v1/tokens", [401, 200, 200, 200, 200, 200]),
    ("POST", "/api/v1/tokens", [401, 201, 201, 201, 201, 201]),
    ("DELETE", "/api/v1/tokens/{token_id}", [401, 404, 404, 404, 404, 404]),
    ("GET", "/api/v1/users", [401, 200, 403, 403, 403, 403]),
    ("POST", "/api/v1/users", [401, 201, 403, 403, 403, 403]),
    // No such account: the admin gets as far as 404; nobody else that far.
    ("PATCH", "/api/v1/users/{user_id}", [401, 404, 403, 403, 403, 403]),
    ("POST", "/api/v1/users/{user_id}/password-reset", [401, 404, 403, 403, 403, 403]),
    ("GET", "/api/v1/users/{user_id}/tokens", [401, 404, 403, 403, 403, 403]),
    ("POST", "/api/v1/users/{user_id}/unlock", [401, 404, 403, 403, 403, 403]),
    ("GET", "/api/v1/patients", [401, 200, 200, 200, 200, 403]),
    ("POST", "/api/v1/patients", [401, 201, 201, 201, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}", [401, 200, 200, 200, 200, 403]),
    ("PATCH", "/api/v1/patients/{patient_id}", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/amendments", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/assessments", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/assessments", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/assessments/{assessment_id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/patients/{patient_id}/assessments/{assessment_id}", [401, 403, 200, 200, 403, 403]),
    // The chart: analysts get 403 (the chart names the birth date) but a de-identified evaluation;
    // auditors see no clinical data.
    ("GET", "/api/v1/patients/{patient_id}/chart", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/chart/{section}", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/chart/{section}", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/chart/{section}/{record_id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/patients/{patient_id}/chart/{section}/{record_id}", [401, 403, 200, 200, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/evaluation", [401, 200, 200, 200, 200, 403]),
    ("GET", "/api/v1/patients/{patient_id}/plans", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/plans", [401, 403, 201, 403, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/sessions", [401, 200, 200, 200, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/plans/{plan_id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/patients/{patient_id}/plans/{plan_id}", [401, 403, 200, 403, 403, 403]),
    (
        "GET",
        "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable",
        [401, 200, 200, 200, 403, 403],
    ),
    (
        "POST",
        "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable",
        [401, 403, 201, 201, 403, 403],
    ),
    (
        "PATCH",
        "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable/{marking_id}",
        [401, 403, 200, 200, 403, 403],
    ),
    ("POST", "/api/v1/patients/{patient_id}/sessions", [401, 403, 201, 201, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}", [401, 200, 200, 200, 403, 403]),
    ("PATCH", "/api/v1/patients/{patient_id}/sessions/{session_id}", [401, 403, 200, 200, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/observations", [401, 403, 201, 201, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/administrations", [401, 403, 201, 201, 403, 403]),
    // The pre-dose readings and the administration raised its session past v1, so the matrix's If-Match "v1" is stale: every
    // role allowed gets as far as 412 (tests/session_api.rs corrects one with the current ETag).
    (
        "PATCH",
        "/api/v1/patients/{patient_id}/sessions/{session_id}/administrations/{administration_id}",
        [401, 403, 412, 412, 403, 403],
    ),
    (
        "POST",
        "/api/v1/patients/{patient_id}/sessions/{session_id}/alerts/{alert_id}/acknowledgement",
        [401, 403, 201, 201, 403, 403],
    ),
    ("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}/rems-form", [401, 200, 200, 200, 403, 403]),
    // The matrix's session is IV, whose REMS form is not required: every role allowed gets as far as 422.
    (
        "POST",
        "/api/v1/patients/{patient_id}/sessions/{session_id}/rems-form/submission",
        [401, 403, 422, 422, 403, 403],
    ),
    ("GET", "/api/v1/patients/{patient_id}/orders", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/orders", [401, 403, 201, 403, 403, 403]),
    ("PATCH", "/api/v1/patients/{patient_id}/orders/{order_id}", [401, 403, 200, 403, 403, 403]),
    // The session has no pre-dose BP yet: the BP item is indeterminate, which no override lifts.
    ("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/overrides", [401, 403, 422, 403, 403, 403]),
    // Recording the observation raised the session past v1: the roles allowed get as far as 412.
    (
        "PATCH",
        "/api/v1/patients/{patient_id}/sessions/{session_id}/observations/{sequence}",
        [401, 403, 412, 412, 403, 403],
    ),
    // A session in progress (no dose yet) is not discharged, nor signed.
    ("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/discharge", [401, 403, 422, 422, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/signature", [401, 403, 422, 403, 403, 403]),
    // Session notes: the matrix's session is in progress, so no note may be written yet (422), and no note
    // named `no-such-note` exists (404); an edit's body without `text` is refused first (422).
    ("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes", [401, 403, 422, 422, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{note_id}", [401, 404, 404, 404, 403, 403]),
    ("PATCH", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{note_id}", [401, 403, 422, 422, 403, 403]),
    (
        "POST",
        "/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{note_id}/signature",
        [401, 403, 404, 404, 403, 403],
    ),
    (
        "POST",
        "/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{note_id}/cosignature",
        [401, 403, 404, 403, 403, 403],
    ),
    ("GET", "/api/v1/notes/awaiting-cosignature", [401, 403, 200, 403, 403, 403]),
    ("GET", "/api/v1/worklist", [401, 200, 200, 200, 403, 403]),
    // The clinic calendar: staff read it, admins keep it (the matrix's bodies are incomplete: 422 for admins).
    ("GET", "/api/v1/clinic-calendar", [401, 200, 200, 200, 403, 403]),
    ("PUT", "/api/v1/clinic-calendar", [401, 422, 403, 403, 403, 403]),
    ("POST", "/api/v1/clinic-calendar/holidays", [401, 422, 403, 403, 403, 403]),
    ("PATCH", "/api/v1/clinic-calendar/holidays/{holiday_id}", [401, 422, 403, 403, 403, 403]),
    ("GET", "/api/v1/reports/outcomes", [401, 200, 200, 403, 200, 403]),
    // Self-report links: nurses and prescribers make them; whoever reads the chart lists them. The patient's
    // routes need no account: an unknown token is 410 for everyone (as a used or expired one).
    ("GET", "/api/v1/patients/{patient_id}/self-report-links", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/self-report-links", [401, 403, 201, 201, 403, 403]),
    (
        "POST",
        "/api/v1/patients/{patient_id}/self-report-links/{link_id}/acknowledgement",
        [401, 403, 404, 404, 403, 403],
    ),
    ("GET", "/api/v1/self-reports/{token}", [410, 410, 410, 410, 410, 410]),
    ("POST", "/api/v1/self-reports/{token}", [410, 410, 410, 410, 410, 410]),
    // Consent: admins keep the forms; nurses and prescribers record consents (a fresh one per call, at v1).
    ("GET", "/api/v1/consent-forms", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/consent-forms", [401, 201, 403, 403, 403, 403]),
    ("GET", "/api/v1/patients/{patient_id}/consents", [401, 200, 200, 200, 403, 403]),
    ("POST", "/api/v1/patients/{patient_id}/consents", [401, 403, 201, 201, 403, 403]),
    ("PATCH", "/api/v1/patients/{patient_id}/consents/{consent_id}", [401, 403, 200, 200, 403, 403]),
    // The controlled-substance log: auditors read it (an inspection reads the log; it names patients by id
    // only), analysts do not. The matrix's body (a case) has no `kind` or `reason`: 422 for those who may write.
    ("GET", "/api/v1/controlled-substances/lots", [401, 200, 200, 200, 403, 200]),
    ("GET", "/api/v1/controlled-substances/entries", [401, 200, 200, 200, 403, 200]),
    ("POST", "/api/v1/controlled-substances/entries", [401, 422, 422, 422, 403, 403]),
    ("GET", "/api/v1/controlled-substances/entries/{entry_id}", [401, 404, 404, 404, 403, 404]),
    ("POST", "/api/v1/controlled-substances/entries/{entry_id}/entered-in-error", [401, 422, 422, 422, 403, 403]),
    ("POST", "/api/v1/controlled-substances/entries/{entry_id}/resolution", [401, 422, 403, 403, 403, 403]),
    ("GET", "/api/v1/controlled-substances/report.csv", [401, 200, 200, 200, 403, 200]),
    ("GET", "/api/v1/audit/events", [401, 200, 403, 403, 403, 200]),
    ("GET", "/api/v1/audit/verify", [401, 200, 403, 403, 403, 200]),
    // FHIR: the CapabilityStatement is public (FHIR clients read it first); the export is a chart read.
    ("GET", "/fhir/r4/metadata", [200, 200, 200, 200, 200, 200]),
    ("GET", "/fhir/r4/Patient/{patient_id}/$everything", [401, 200, 200, 200, 403, 403]),
    // Import is a chart write: prescribers and nurses (the second import of the same Patient changes nothing).
    ("POST", "/fhir/r4", [401, 403, 200, 200, 403, 403]),
    // Bulk export: admins (in full) and analysts (de-identified). Without `Prefer: respond-async` the kick-off
    // is a 400 for them; no such job is a 404 for them; everyone else is refused first.
    ("GET", "/fhir/r4/$export", [401, 400, 403, 403, 400, 403]),
    ("GET", "/fhir/r4/Patient/$export", [401, 400, 403, 403, 400, 403]),
    ("GET", "/fhir/r4/$export-status/{job_id}", [401, 404, 403, 403, 404, 403]),
    ("DELETE", "/fhir/r4/$export-status/{job_id}", [401, 404, 403, 403, 404, 403]),
    ("GET", "/fhir/r4/$export-file/{job_id}/{file_name}", [401, 404, 403, 403, 404, 403]),
];

#[tokio::test]
async fn role_by_route_matrix() {
    let documented: BTreeSet<(&str, &str)> = MATRIX.iter().map(|(method, path, _)| (*method, *path)).collect();
    let routes: BTreeSet<(&str, &str)> = ROUTES.iter().map(|route| (route.method, route.path)).collect();
    assert_eq!(documented, routes, "the matrix covers every route");
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let mut callers = vec![Auth::Anonymous];
        for role in Role::ALL {
            callers.push(api.token(role).await);
        }
        let nurse = callers[3].clone();
        let case = std::fs::read_to_string(vignettes_dir().join("V1.case.json")).unwrap();
        let mut failures = Vec::new();
        for (method, template, expected) in MATRIX {
            for (caller_index, caller) in callers.iter().enumerate() {
                // A patient of its own for each call, so amending one does not move another's ETag.
                let patient_id = api.create_patient(&nurse, "Ada").await;
                let mut path = template.replace("{patient_id}", &patient_id).replace("{token_id}", "no-such-token")
                    .replace("{user_id}", "no-such-user").replace("{note_id}", "no-such-note").replace("{entry_id}", "no-such-entry")
                    .replace("{link_id}", "no-such-link").replace("{token}", "no-such-token");
                path = path.replace("{holiday_id}", "no-such-holiday");
                if template.contains("{assessment_id}") {
                    let recorded = api.call("POST", &format!("/api/v1/patients/{patient_id}/assessments"), &nurse, Some(&case), &[]).await;
                    path = path.replace("{assessment_id}", recorded.body["assessment_id"].as_str().unwrap());
                }
                let reading = r#"{"measured_on":"2026-11-01","systolic":128,"diastolic":82}"#;
                path = path.replace("{section}", "blood_pressures");
                if template.contains("{record_id}") {
                    let chart = format!("/api/v1/patients/{patient_id}/chart/blood_pressures");
                    let recorded = api.call("POST", &chart, &nurse, Some(reading), &[]).await;
                    path = path.replace("{record_id}", recorded.body["record"]["record_id"].as_str().unwrap());
                }
                path = treatment_fixture(&api, &callers[2], &nurse, &patient_id, &path).await;
                let body = match treatment_body(method, template) {
                    Some(body) => Some(body),
                    None => match (*method, *template) {
                    ("POST", "/api/v1/patients/{patient_id}/chart/{section}") => Some(reading.to_owned()),
                    ("PATCH", "/api/v1/patients/{patient_id}/chart/{section}/{record_id}") => {
                        Some(json!({ "reason": "misread", "systolic": 126 }).to_string())
                    }
                    ("POST", "/api/v1/session") => Some(json!({ "username": "nurse", "password": password(Role::Nurse) }).to_string()),
                    ("POST", "/api/v1/tokens") => Some(r#"{"label":"matrix"}"#.to_owned()),
                    ("POST", "/api/v1/patients/{patient_id}/self-report-links") => Some(r#"{"scale":"phq9"}"#.to_owned()),
                    ("POST", "/api/v1/self-reports/{token}") => Some(r#"{"answers":[0,0,0,0,0,0,0,0,0]}"#.to_owned()),
                    // A wrong current password: every role reaches the check, nobody's password changes.
                    ("POST", "/api/v1/session/password") => {
                        Some(r#"{"current_password":"wrong","new_password":"a new passphrase"}"#.to_owned())
                    }
                    ("POST", "/api/v1/users") => Some(
                        json!({ "username": format!("user-{caller_index}-{}", patient_id), "password": "a long enough password",
                                "role": "nurse" }).to_string(),
                    ),
                    ("POST", "/api/v1/patients") => Some(
                        json!({ "given_name": "Grace", "family_name": "Hopper", "birth_date": "1906-12-09", "sex_at_birth": "female" })
                            .to_string(),
                    ),
                    ("PATCH", "/api/v1/users/{user_id}") => Some(r#"{"active":false}"#.to_owned()),
                    ("PATCH", "/api/v1/patients/{patient_id}/assessments/{assessment_id}") => {
                        Some(json!({ "reason": "wrong patient", "status": "entered_in_error" }).to_string())
                    }
                    ("PATCH", _) => Some(json!({ "reason": "typo", "given_name": "Augusta" }).to_string()),
                    ("POST", "/fhir/r4") => Some(
                        json!({ "resourceType": "Bundle", "type": "collection", "entry": [{ "resource": {
                            "resourceType": "Patient",
                            "identifier": [{ "system": "https://ketacare.org/fhir/sid/mrn", "value": "MRN-MATRIX" }],
                            "name": [{ "family": "Hopper", "given": ["Grace"] }],
                            "gender": "female", "birthDate": "1906-12-09" } }] })
                        .to_string(),
                    ),
                    ("POST", _) => Some(case.clone()),
                    _ => None,
                    },
                };
                let reply = api.call(method, &path, caller, body.as_deref(), &[("if-match", "\"v1\"")]).await;
                if reply.status.as_u16() != expected[caller_index] {
                    failures.push(format!(
                        "{method} {template} as caller {caller_index}: expected {}, got {} {}",
                        expected[caller_index], reply.status, reply.body
                    ));
                }
                if caller_index == 4 && reply.status.is_success() && template.contains("/patients") {
                    let text = reply.body.to_string();
                    for identifying in ["Lovelace", "Hopper", "1984-05-02", "1906-12-09", "MRN-7", "given_name", "birth_date"] {
                        assert!(!text.contains(identifying), "analyst saw {identifying} at {method} {template}: {text}");
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(ANON, 0);
    })
    .await;
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_for_unsafe_methods() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let body = json!({ "username": "nurse", "password": password(Role::Nurse) }).to_string();
        let reply = api.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&body), &[]).await;
        let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        assert!(cookie.contains("; HttpOnly; SameSite=Strict; Max-Age=43200"), "{cookie}");
        assert!(!cookie.contains("Secure"), "no Secure without TLS: {cookie}");

        let Auth::Cookie { session, csrf } = api.login(Role::Nurse).await else { unreachable!() };
        let without = Auth::Cookie { session: session.clone(), csrf: None };
        let wrong = Auth::Cookie { session: session.clone(), csrf: Some("0".repeat(64)) };
        let patient =
            json!({ "given_name": "Ada", "family_name": "L", "birth_date": "1984-05-02", "sex_at_birth": "female" })
                .to_string();
        for auth in [&without, &wrong] {
            let reply = api.call("POST", "/api/v1/patients", auth, Some(&patient), &[]).await;
            assert_eq!((reply.status, reply.body["field"].as_str()), (StatusCode::FORBIDDEN, Some("X-CSRF-Token")));
        }
        assert_eq!(
            api.call("GET", "/api/v1/patients", &without, None, &[]).await.status,
            StatusCode::OK,
            "safe methods pass"
        );
        let with = Auth::Cookie { session: session.clone(), csrf };
        assert_eq!(api.call("POST", "/api/v1/patients", &with, Some(&patient), &[]).await.status, StatusCode::CREATED);
        let logout = api.call("DELETE", "/api/v1/session", &with, None, &[]).await;
        assert_eq!(logout.status, StatusCode::NO_CONTENT);
        assert!(logout.headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(api.call("GET", "/api/v1/session", &with, None, &[]).await.status, StatusCode::UNAUTHORIZED);
        let auditor = api.token(Role::Auditor).await;
        let events = api.call("GET", "/api/v1/audit/events?limit=1000", &auditor, None, &[]).await;
        let actions: Vec<&str> =
            events.body["events"].as_array().unwrap().iter().map(|event| event["action"].as_str().unwrap()).collect();
        assert!(actions.contains(&"session.login") && actions.contains(&"session.logout"), "{actions:?}");

        let reply = api.call("GET", "/api/v1/session", &Auth::Bearer("kc_forged".to_owned()), None, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/problem+json");
    })
    .await;
}

#[tokio::test]
async fn behind_tls_cookies_are_secure_and_hsts_is_sent() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig { behind_tls: true, ..WebConfig::default() }).await;
        let body = json!({ "username": "nurse", "password": password(Role::Nurse) }).to_string();
        let reply = api.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&body), &[]).await;
        assert!(reply.headers[header::SET_COOKIE].to_str().unwrap().ends_with("; Secure"));
        assert_eq!(reply.headers[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000");
    })
    .await;
}

#[tokio::test]
async fn security_headers_and_request_ids_on_every_response() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        for path in ["/healthz", "/api/v1/patients", "/no/such/route"] {
            let reply = api.call("GET", path, &Auth::Anonymous, None, &[("x-request-id", "abc-123")]).await;
            for (name, value) in [
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
                ("referrer-policy", "no-referrer"),
                ("cache-control", "no-store"),
                ("x-request-id", "abc-123"),
            ] {
                assert_eq!(reply.headers.get(name).map(|v| v.to_str().unwrap()), Some(value), "{path} {name}");
            }
        }
        let missing = api.call("GET", "/no/such/route", &Auth::Anonymous, None, &[]).await;
        assert_eq!(
            (missing.status, missing.body["type"].as_str()),
            (StatusCode::NOT_FOUND, Some("urn:ketacare:problem:not-found"))
        );
        let wrong_method = api.call("PUT", "/healthz", &Auth::Anonymous, None, &[]).await;
        assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    })
    .await;
}

#[tokio::test]
async fn updates_need_the_current_etag() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let id = api.create_patient(&nurse, "Ada").await;
        let path = format!("/api/v1/patients/{id}");
        let read = api.call("GET", &path, &nurse, None, &[]).await;
        assert_eq!(read.headers[header::ETAG], "\"v1\"");
        let change = json!({ "reason": "typo at intake", "family_name": "King" }).to_string();
        let missing = api.call("PATCH", &path, &nurse, Some(&change), &[]).await;
        assert_eq!(
            (missing.status, missing.body["field"].as_str()),
            (StatusCode::PRECONDITION_REQUIRED, Some("If-Match"))
        );
        let amended = api.call("PATCH", &path, &nurse, Some(&change), &[("if-match", "\"v1\"")]).await;
        assert_eq!((amended.status, amended.headers[header::ETAG].to_str().unwrap()), (StatusCode::OK, "\"v2\""));
        let stale = api.call("PATCH", &path, &nurse, Some(&change), &[("if-match", "\"v1\"")]).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(stale.body["type"], "urn:ketacare:problem:stale-version");
        let history = api.call("GET", &format!("{path}/amendments"), &nurse, None, &[]).await;
        let amendment = &history.body["amendments"][0];
        assert_eq!(amendment["reason"], "typo at intake");
        assert!(amendment["prior_json"].as_str().unwrap().contains("Lovelace"));
    })
    .await;
}

#[tokio::test]
async fn an_idempotent_retry_does_not_duplicate() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let body = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1984-05-02", "sex_at_birth": "female" })
            .to_string();
        let key = [("idempotency-key", "create-ada-1")];
        let first = api.call("POST", "/api/v1/patients", &nurse, Some(&body), &key).await;
        let retry = api.call("POST", "/api/v1/patients", &nurse, Some(&body), &key).await;
        assert_eq!((first.status, retry.status), (StatusCode::CREATED, StatusCode::CREATED));
        assert_eq!(first.body, retry.body);
        assert_eq!(retry.headers["idempotent-replayed"], "true");
        assert_eq!(first.headers[header::LOCATION], retry.headers[header::LOCATION]);
        let list = api.call("GET", "/api/v1/patients", &nurse, None, &[]).await;
        assert_eq!(list.body["total"], 1);
        let other = body.replace("Ada", "Grace");
        let reused = api.call("POST", "/api/v1/patients", &nurse, Some(&other), &key).await;
        assert_eq!((reused.status, reused.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key")));
    })
    .await;
}

#[tokio::test]
async fn problem_details_name_the_offending_field() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let id = api.create_patient(&nurse, "Ada").await;
        let case = std::fs::read_to_string(vignettes_dir().join("V1.case.json")).unwrap();
        let bad_case = case.replace("\"weeks\": 8", "\"weeks\": \"eight\"");
        let checks: &[(&str, String, Option<String>, &str)] = &[
            ("POST", "/api/v1/patients".to_owned(), Some(r#"{"family_name":"L","birth_date":"1984-05-02","sex_at_birth":"female"}"#.to_owned()), "given_name"),
            ("POST", "/api/v1/patients".to_owned(), Some(r#"{"given_name":"A","family_name":"L","birth_date":"02/05/1984","sex_at_birth":"female"}"#.to_owned()), "birth_date"),
            ("POST", "/api/v1/patients".to_owned(), Some(r#"{"given_name":"A","family_name":"L","birth_date":"1984-05-02","sex_at_birth":"other"}"#.to_owned()), "sex_at_birth"),
            ("POST", "/api/v1/patients".to_owned(), Some(r#"{"given_name":"A","family_name":"L","birth_date":"1984-05-02","sex_at_birth":"female","nickname":"x"}"#.to_owned()), "nickname"),
            ("POST", "/api/v1/patients".to_owned(), Some("{not json".to_owned()), "(body)"),
            ("POST", format!("/api/v1/patients/{id}/assessments"), Some(bad_case), "trials[0].weeks"),
            ("GET", "/api/v1/patients?limit=0".to_owned(), None, "limit"),
            ("GET", "/api/v1/patients?limit=ten".to_owned(), None, "limit"),
            ("PATCH", format!("/api/v1/patients/{id}"), Some(r#"{"given_name":"B"}"#.to_owned()), "reason"),
        ];
        for (method, path, body, field) in checks {
            let reply = api.call(method, path, &nurse, body.as_deref(), &[("if-match", "\"v1\"")]).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}: {}", reply.body);
            assert_eq!(reply.headers[header::CONTENT_TYPE], "application/problem+json");
            assert_eq!(reply.body["field"].as_str(), Some(*field), "{method} {path}: {}", reply.body);
            assert_eq!(reply.body["status"], 422);
        }
        let list = api.call("GET", "/api/v1/patients", &nurse, None, &[]).await;
        assert_eq!(list.body["total"], 1, "bad input changed nothing");
    })
    .await;
}

/// Every body is read by the one strict reader: a key given twice anywhere, or text after the JSON
/// value, is a 422 naming where, for typed bodies, cases, chart records and treatment documents alike.
#[tokio::test]
async fn a_key_given_twice_or_text_after_the_body_is_refused_naming_where() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let prescriber = api.token(Role::Prescriber).await;
        let id = api.create_patient(&nurse, "Ada").await;
        let observations = treatment_fixture(
            &api,
            &prescriber,
            &nurse,
            &id,
            "/api/v1/patients/{id}/sessions/{session_id}/observations",
        )
        .await
        .replace("{id}", &id);
        let patient = r#"{"given_name":"A","family_name":"L","birth_date":"1984-05-02","sex_at_birth":"female"}"#;
        let checks: &[(&Auth, String, String, &str)] = &[
            (&nurse, "/api/v1/patients".to_owned(), format!("{patient} {patient}"), "(body)"),
            (&nurse, "/api/v1/patients".to_owned(), format!("{patient}x"), "(body)"),
            (&nurse, "/api/v1/patients".to_owned(), patient.replacen('{', r#"{"given_name":"B","#, 1), "given_name"),
            (
                &nurse,
                format!("/api/v1/patients/{id}/assessments"),
                r#"{"history":["aneurysmal_vascular_disease"],"history":[]}"#.to_owned(),
                "history",
            ),
            (
                &nurse,
                format!("/api/v1/patients/{id}/chart/blood_pressures"),
                r#"{"measured_on":"2026-11-20","systolic":190,"systolic":128,"diastolic":82}"#.to_owned(),
                "systolic",
            ),
            (
                &prescriber,
                format!("/api/v1/patients/{id}/plans"),
                treatment_plan_body().replacen('{', r#"{"time_zone":"Europe/Paris","#, 1),
                "time_zone",
            ),
            (&nurse, observations.clone(), r#"{"at":"2026-11-28T13:20","moaas":4,"moaas":1}"#.to_owned(), "moaas"),
            (&nurse, observations, r#"{"at":"2026-11-28T13:20","moaas":4} {}"#.to_owned(), "(body)"),
        ];
        for (auth, path, body, field) in checks {
            let reply = api.call("POST", path, auth, Some(body), &[]).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "POST {path} {body}: {}", reply.body);
            assert_eq!(reply.body["field"].as_str(), Some(*field), "POST {path} {body}: {}", reply.body);
        }
        let list = api.call("GET", "/api/v1/patients", &nurse, None, &[]).await;
        assert_eq!(list.body["total"], 1, "refused bodies changed nothing");
    })
    .await;
}

#[tokio::test]
async fn a_client_spraying_bad_tokens_is_throttled_and_cannot_flood_the_audit_log() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let auditor = api.token(Role::Auditor).await;
        let mut statuses = Vec::new();
        for attempt in 0..45 {
            let forged = Auth::Bearer(format!("kc_forged{attempt}"));
            statuses.push(api.call("GET", "/api/v1/patients", &forged, None, &[]).await.status.as_u16());
        }
        assert!(statuses[..30].iter().all(|status| *status == 401), "{statuses:?}");
        assert!(statuses[30..].iter().all(|status| *status == 429), "{statuses:?}");
        let reply = api.call("GET", "/api/v1/patients", &Auth::Bearer("kc_forged".to_owned()), None, &[]).await;
        assert!(reply.headers[header::RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap() > 0);
        // The audit log holds each audited refusal and the one crossing of the limit.
        let events = api.app.export_audit_events(0, 10_000).await.unwrap();
        let count = |action: &str| events.iter().filter(|event| event.action == action).count();
        assert_eq!((count("auth.token"), count("auth.throttled")), (30, 1), "one row per audited refusal, then one");
        // Valid credentials from the same address are not held back (staff may share one address).
        assert_eq!(api.call("GET", "/api/v1/audit/verify", &auditor, None, &[]).await.status.as_u16(), 200);
    })
    .await;
}

#[tokio::test]
async fn an_admin_lists_accounts_and_deactivates_or_demotes_one_which_ends_its_access() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let admin = api.login(Role::Admin).await;
        let nurse = api.token(Role::Nurse).await;
        let listed = api.call("GET", "/api/v1/users", &admin, None, &[]).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert!(!listed.body.to_string().contains("argon2"), "never a password hash");
        let user_id = |username: &str| {
            listed.body["users"].as_array().unwrap().iter().find(|u| u["username"] == username).unwrap()["user_id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (nurse_id, admin_id) = (user_id("nurse"), user_id("admin"));
        assert_eq!(api.call("GET", "/api/v1/patients", &nurse, None, &[]).await.status, StatusCode::OK);

        let deactivate = format!("/api/v1/users/{nurse_id}");
        let reply = api.call("PATCH", &deactivate, &admin, Some(r#"{"active":false}"#), &[]).await;
        assert_eq!((reply.status, reply.body["active"].as_bool()), (StatusCode::OK, Some(false)), "{}", reply.body);
        assert_eq!(api.call("GET", "/api/v1/patients", &nurse, None, &[]).await.status, StatusCode::UNAUTHORIZED);

        let prescriber = api.token(Role::Prescriber).await;
        let prescriber_id = user_id("prescriber");
        let demote = format!("/api/v1/users/{prescriber_id}");
        let reply = api.call("PATCH", &demote, &admin, Some(r#"{"role":"analyst"}"#), &[]).await;
        assert_eq!(reply.body["role"], "analyst");
        assert_eq!(
            api.call("GET", "/api/v1/patients", &prescriber, None, &[]).await.status,
            StatusCode::UNAUTHORIZED,
            "a role change revokes the tokens made under the old role"
        );

        let own = format!("/api/v1/users/{admin_id}");
        let refused = api.call("PATCH", &own, &admin, Some(r#"{"active":false}"#), &[]).await;
        assert_eq!(
            (refused.status, refused.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("active"))
        );
        let empty = api.call("PATCH", &deactivate, &admin, Some("{}"), &[]).await;
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
        let unknown_role = api.call("PATCH", &deactivate, &admin, Some(r#"{"role":"janitor"}"#), &[]).await;
        assert_eq!(unknown_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_throttled() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let wrong = json!({ "username": "nurse", "password": "not the password" }).to_string();
        for _ in 0..5 {
            let reply = api.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&wrong), &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
        let right = json!({ "username": "nurse", "password": password(Role::Nurse) }).to_string();
        let reply = api.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&right), &[]).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(reply.headers[header::RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap() > 0);
    })
    .await;
}

#[tokio::test]
async fn every_patient_data_route_leaves_an_audit_event() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let auditor = api.token(Role::Auditor).await;
        let id = api.create_patient(&nurse, "Ada").await;
        let case = std::fs::read_to_string(vignettes_dir().join("V1.case.json")).unwrap();
        let patch = json!({ "reason": "typo", "given_name": "Augusta" }).to_string();
        let recorded = api.call("POST", &format!("/api/v1/patients/{id}/assessments"), &nurse, Some(&case), &[]).await;
        let assessment =
            format!("/api/v1/patients/{id}/assessments/{}", recorded.body["assessment_id"].as_str().unwrap());
        let in_error = json!({ "reason": "wrong patient", "status": "entered_in_error" }).to_string();
        let reading = r#"{"measured_on":"2026-11-01","systolic":128,"diastolic":82}"#;
        let prescriber = api.token(Role::Prescriber).await;
        let plan =
            treatment_fixture(&api, &prescriber, &nurse, &id, &format!("/api/v1/patients/{id}/plans/{{plan_id}}"))
                .await;
        let alert = "/api/v1/patients/{patient_id}/sessions/{session_id}/alerts/{alert_id}/acknowledgement";
        let acknowledgement =
            treatment_fixture(&api, &prescriber, &nurse, &id, &alert.replace("{patient_id}", &id)).await;
        let session = acknowledgement.split("/alerts/").next().unwrap().to_owned();
        let given = "/api/v1/patients/{patient_id}/sessions/{session_id}/administrations/{administration_id}";
        let administration =
            treatment_fixture(&api, &prescriber, &nurse, &id, &given.replace("{patient_id}", &id)).await;
        let correction = treatment_body("PATCH", "{administration_id}");
        let consent_path = treatment_fixture(
            &api,
            &prescriber,
            &nurse,
            &id,
            &format!("/api/v1/patients/{id}/consents/{{consent_id}}"),
        )
        .await;
        let (consent, withdrawal) = (consent_body(), treatment_body("PATCH", "{consent_id}").unwrap());
        let (plan_body, session_body) = (treatment_plan_body(), treatment_session_body());
        let bodies: Vec<Option<String>> = [
            "plans",
            "{plan_id}",
            "sessions",
            "{session_id}",
            "observations",
            "administrations",
            "acknowledgement",
            "submission",
        ]
        .iter()
        .map(|last| treatment_body(if last.starts_with('{') { "PATCH" } else { "POST" }, last))
        .collect();
        let calls: &[(&str, String, Option<&str>)] = &[
            ("POST", format!("/api/v1/patients/{id}/plans"), Some(&plan_body)),
            ("GET", plan.clone(), None),
            ("PATCH", plan.clone(), bodies[1].as_deref()),
            ("POST", format!("/api/v1/patients/{id}/sessions"), Some(&session_body)),
            ("GET", session.clone(), None),
            ("PATCH", session.clone(), bodies[3].as_deref()),
            ("POST", format!("{session}/observations"), bodies[4].as_deref()),
            ("POST", format!("{session}/administrations"), bodies[5].as_deref()),
            ("POST", acknowledgement.clone(), bodies[6].as_deref()),
            ("PATCH", administration.clone(), correction.as_deref()),
            ("GET", format!("{session}/rems-form"), None),
            ("POST", format!("{session}/rems-form/submission"), None),
            ("GET", assessment.clone(), None),
            ("PATCH", assessment.clone(), Some(&in_error)),
            ("GET", "/api/v1/patients".to_owned(), None),
            (
                "POST",
                "/api/v1/patients".to_owned(),
                Some(r#"{"given_name":"G","family_name":"H","birth_date":"1906-12-09","sex_at_birth":"female"}"#),
            ),
            ("GET", format!("/api/v1/patients/{id}"), None),
            ("PATCH", format!("/api/v1/patients/{id}"), Some(&patch)),
            ("GET", format!("/api/v1/patients/{id}/amendments"), None),
            ("POST", format!("/api/v1/patients/{id}/assessments"), Some(&case)),
            ("GET", format!("/api/v1/patients/{id}/assessments"), None),
            ("GET", "/api/v1/patients/no-such-patient".to_owned(), None),
            ("POST", format!("/api/v1/patients/{id}/chart/blood_pressures"), Some(reading)),
            ("GET", format!("/api/v1/patients/{id}/chart/blood_pressures"), None),
            ("GET", format!("/api/v1/patients/{id}/chart"), None),
            ("GET", format!("/api/v1/patients/{id}/evaluation"), None),
            ("GET", "/api/v1/worklist".to_owned(), None),
            ("GET", format!("/api/v1/patients/{id}/plans"), None),
            ("GET", format!("/api/v1/patients/{id}/sessions"), None),
            ("GET", format!("/api/v1/patients/{id}/consents"), None),
            ("POST", format!("/api/v1/patients/{id}/consents"), Some(&consent)),
            ("PATCH", consent_path.clone(), Some(&withdrawal)),
        ];
        for (index, (method, path, body)) in calls.iter().enumerate() {
            let request_id = format!("audit-check-{index}");
            let headers = [("x-request-id", request_id.as_str()), ("if-match", "\"v1\"")];
            api.call(method, path, &nurse, *body, &headers).await;
        }
        let events = api.call("GET", "/api/v1/audit/events?limit=1000", &auditor, None, &[]).await;
        let events = events.body["events"].as_array().unwrap().clone();
        for (index, (method, path, _)) in calls.iter().enumerate() {
            let request_id = format!("audit-check-{index}");
            let event = events.iter().find(|event| event["request_id"] == request_id.as_str());
            let event = event.unwrap_or_else(|| panic!("{method} {path} left no audit event"));
            assert_eq!((event["actor_role"].as_str(), event["hash"].as_str().map(str::len)), (Some("nurse"), Some(64)));
        }
        let verify = api.call("GET", "/api/v1/audit/verify", &auditor, None, &[]).await;
        assert_eq!(verify.body["first_broken"], Value::Null);
        assert!(api.app.verify_audit_chain(None).await.unwrap().events_checked > 10);
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_only_those() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let reply = api.call("GET", "/api/v1/openapi.json", &Auth::Anonymous, None, &[]).await;
        assert_eq!(reply.body["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, operations) in reply.body["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let routes: BTreeSet<(String, String)> =
            ROUTES.iter().map(|route| (route.method.to_owned(), route.path.to_owned())).collect();
        assert_eq!(documented, routes);
        // And every listed route is really served (not the 404 or 405 fallback).
        for route in ROUTES {
            let path = route
                .path
                .replace("{patient_id}", "p")
                .replace("{token_id}", "t")
                .replace("{assessment_id}", "a")
                .replace("{section}", "s")
                .replace("{record_id}", "r")
                .replace("{plan_id}", "l")
                .replace("{session_id}", "s")
                .replace("{alert_id}", "x")
                .replace("{administration_id}", "d")
                .replace("{note_id}", "n")
                .replace("{user_id}", "u")
                .replace("{entry_id}", "e")
                .replace("{link_id}", "k")
                .replace("{token}", "t");
            let reply = api.call(route.method, &path, &Auth::Anonymous, Some("{}"), &[]).await;
            assert!(
                !matches!(
                    reply.body["type"].as_str(),
                    Some("urn:ketacare:problem:not-found" | "urn:ketacare:problem:method-not-allowed")
                ) || reply.status == StatusCode::UNAUTHORIZED,
                "{} {} is not routed: {}",
                route.method,
                route.path,
                reply.body
            );
        }
    })
    .await;
}

#[tokio::test]
async fn every_error_is_a_problem_even_from_axum_itself() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let huge = format!("{{\"given_name\":\"{}\"}}", "x".repeat(2 << 20));
        let too_large = api.call("POST", "/api/v1/patients", &nurse, Some(&huge), &[]).await;
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_large.headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(too_large.body["type"], "urn:ketacare:problem:body-too-large");
        assert!(too_large.headers.contains_key("x-request-id"));

        api.app.close().await;
        let not_ready = api.call("GET", "/readyz", &Auth::Anonymous, None, &[]).await;
        assert_eq!(
            (not_ready.status, not_ready.body["type"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("urn:ketacare:problem:not-ready"))
        );
        assert_eq!(api.call("GET", "/healthz", &Auth::Anonymous, None, &[]).await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn a_one_time_password_allows_nothing_but_changing_it() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let one_time = api.app.bootstrap_admin("root").await.unwrap();
        let body = json!({ "username": "root", "password": one_time }).to_string();
        let reply = api.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&body), &[]).await;
        assert_eq!(reply.body["password_change_required"], true);
        let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
        let session = cookie.split(';').next().unwrap().strip_prefix("ketacare_session=").unwrap().to_owned();
        let auth = Auth::Cookie { session, csrf: Some(reply.body["csrf_token"].as_str().unwrap().to_owned()) };
        let blocked = api.call("GET", "/api/v1/patients", &auth, None, &[]).await;
        assert_eq!(
            (blocked.status, blocked.body["type"].as_str()),
            (StatusCode::FORBIDDEN, Some("urn:ketacare:problem:password-change-required"))
        );
        assert_eq!(api.call("GET", "/api/v1/session", &auth, None, &[]).await.status, StatusCode::OK);
        let change = json!({ "current_password": one_time, "new_password": "a brand new passphrase" }).to_string();
        let changed = api.call("POST", "/api/v1/session/password", &auth, Some(&change), &[]).await;
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
        assert_eq!(api.call("GET", "/api/v1/patients", &auth, None, &[]).await.status, StatusCode::OK);
        let created = api
            .call(
                "POST",
                "/api/v1/users",
                &auth,
                Some(
                    &json!({ "username": "newnurse", "password": "chosen by the admin", "role": "nurse" }).to_string(),
                ),
                &[],
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
        let login = json!({ "username": "newnurse", "password": "chosen by the admin" }).to_string();
        let reply = api.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&login), &[]).await;
        assert_eq!(reply.body["password_change_required"], true, "an admin-chosen password is one-time too");
    })
    .await;
}

/// A treatment session document of docs/sessions.md without observations or `now` (an IV infusion).
fn treatment_session_body() -> String {
    json!({ "modality": "iv_racemic_ketamine", "time_zone": "America/New_York",
            "dose": { "planned_mg": 35, "planned_at": "2026-11-28T13:10" },
            "pre_dose": { "escort_arranged": true, "phq9_item9": 0, "can_become_pregnant": false } })
    .to_string()
}

fn treatment_plan_body() -> String {
    json!({ "template": "induction_2x_week_3w", "time_zone": "America/New_York", "first_session": "2026-11-30T09:00" })
        .to_string()
}

/// The clinic's IV consent form (the next version of it, when posted again).
fn consent_form_body() -> String {
    json!({ "form_id": "iv-treatment", "modality": "iv_racemic_ketamine", "title": "Consent to IV ketamine",
            "body_text": "Off-label; risks: blood pressure, dissociation, sedation, misuse.", "valid_for_days": 365 })
    .to_string()
}

/// A patient's consent on the IV form, witnessed by the prescriber.
fn consent_body() -> String {
    json!({ "form_id": "iv-treatment", "signed_on": "2026-11-01", "signer_name": "Ada Lovelace",
            "signer_relationship": "patient", "witness_username": "prescriber" })
    .to_string()
}

/// The body the matrix sends to a treatment route, if it is one.
fn treatment_body(method: &str, template: &str) -> Option<String> {
    let body = match (method, template.rsplit('/').next().unwrap_or_default()) {
        ("POST", "consent-forms") => consent_form_body(),
        ("POST", "consents") => consent_body(),
        ("PATCH", "{consent_id}") => json!({ "status": "withdrawn", "reason": "changed their mind" }).to_string(),
        ("POST", "plans") => treatment_plan_body(),
        ("PATCH", "{plan_id}") => json!({ "reason": "patient moved away", "status": "cancelled" }).to_string(),
        // The cognition baseline of treatment_plan_body, due at its first session.
        ("PATCH", "{marking_id}") => {
            json!({ "status": "entered_in_error", "reason": "the screen was not done after all" }).to_string()
        }
        ("POST", "measurements-not-applicable") => json!({ "scale": "cognition", "due_at": "2026-11-30T09:00:00-05:00",
                                                           "reason": "screened at the memory clinic last week" })
        .to_string(),
        ("POST", "sessions") => treatment_session_body(),
        ("PATCH", "{session_id}") => json!({ "discharge": { "escort_present": true } }).to_string(),
        ("POST", "observations") => json!({ "at": "2026-11-28T13:20", "moaas": 4 }).to_string(),
        ("POST", "administrations") => json!({ "drug": "ketamine", "dose_mg": 35, "lot_number": "KET-1",
                                               "started_at": "2026-11-28T13:10", "ended_at": "2026-11-28T13:50" })
        .to_string(),
        ("POST", "acknowledgement") => json!({ "note": "seen" }).to_string(),
        ("PATCH", "{administration_id}") => json!({ "reason": "wrong lot", "status": "entered_in_error" }).to_string(),
        ("POST", "submission" | "discharge" | "signature") => String::new(),
        ("POST", "orders") => json!({ "modality": "iv_racemic_ketamine" }).to_string(),
        ("PATCH", "{order_id}") => json!({ "reason": "stopped", "status": "discontinued" }).to_string(),
        ("POST", "overrides") => json!({ "item": "BP", "reason": "benefit outweighs risk" }).to_string(),
        ("PATCH", "{sequence}") => json!({ "reason": "mistyped", "status": "entered_in_error" }).to_string(),
        _ => return None,
    };
    Some(body)
}

/// Fills `{plan_id}`, `{session_id}` and `{alert_id}` of `path` with a fresh plan, session and alert.
async fn treatment_fixture(api: &Api, prescriber: &Auth, nurse: &Auth, patient_id: &str, path: &str) -> String {
    let mut path = path.to_owned();
    if path.contains("/administrations") || path.contains("{consent_id}") {
        let consents = format!("/api/v1/patients/{patient_id}/consents");
        let consent = api.call("POST", &consents, nurse, Some(&consent_body()), &[]).await;
        assert_eq!(consent.status, StatusCode::CREATED, "{}", consent.body);
        path = path.replace("{consent_id}", consent.body["consent_id"].as_str().unwrap());
    }
    if path.contains("{plan_id}") {
        let plans = format!("/api/v1/patients/{patient_id}/plans");
        let plan = api.call("POST", &plans, prescriber, Some(&treatment_plan_body()), &[]).await;
        assert_eq!(plan.status, StatusCode::CREATED, "{}", plan.body);
        path = path.replace("{plan_id}", plan.body["plan_id"].as_str().unwrap());
        if path.contains("{marking_id}") {
            let markings = path.split("/{marking_id}").next().unwrap().to_owned();
            let body = treatment_body("POST", "measurements-not-applicable").unwrap();
            let marked = api.call("POST", &markings, nurse, Some(&body), &[]).await;
            assert_eq!(marked.status, StatusCode::CREATED, "{}", marked.body);
            path = path.replace("{marking_id}", marked.body["marking_id"].as_str().unwrap());
        }
    }
    if path.contains("/sessions") || path.contains("/orders") {
        // A session gives a prescriber's order: 0.5 mg/kg of a 70 kg patient (35 mg) over 40 min.
        let measurement = json!({ "measured_on": "2026-11-01", "height_cm": 175, "weight_kg": 70 }).to_string();
        let chart = format!("/api/v1/patients/{patient_id}/chart/measurements");
        let measured = api.call("POST", &chart, nurse, Some(&measurement), &[]).await;
        assert_eq!(measured.status, StatusCode::CREATED, "{}", measured.body);
        let orders = format!("/api/v1/patients/{patient_id}/orders");
        let signed = api.call("GET", &orders, prescriber, None, &[]).await;
        if signed.body["orders"].as_array().is_none_or(Vec::is_empty) {
            let order = json!({ "modality": "iv_racemic_ketamine" }).to_string();
            let ordered = api.call("POST", &orders, prescriber, Some(&order), &[]).await;
            assert_eq!(ordered.status, StatusCode::CREATED, "{}", ordered.body);
        }
        let signed = api.call("GET", &orders, prescriber, None, &[]).await;
        path = path.replace("{order_id}", signed.body["orders"][0]["order_id"].as_str().unwrap());
    }
    if path.contains("{session_id}") {
        let sessions = format!("/api/v1/patients/{patient_id}/sessions");
        let session = api.call("POST", &sessions, nurse, Some(&treatment_session_body()), &[]).await;
        assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
        let session_id = session.body["session_id"].as_str().unwrap();
        if path.contains("/administrations") {
            // The gate's two pre-dose readings first (the session's version rises with each).
            let observations = format!("{sessions}/{session_id}/observations");
            for at in ["2026-11-28T13:00", "2026-11-28T13:06"] {
                let reading = json!({ "at": at, "systolic_mmhg": 124, "diastolic_mmhg": 78 }).to_string();
                let reply = api.call("POST", &observations, nurse, Some(&reading), &[]).await;
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            }
        }
        if path.contains("{administration_id}") {
            let administrations = format!("{sessions}/{session_id}/administrations");
            let body = treatment_body("POST", "administrations").unwrap();
            let given = api.call("POST", &administrations, nurse, Some(&body), &[]).await;
            assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
            path = path.replace("{administration_id}", given.body["administration_id"].as_str().unwrap());
        }
        if path.contains("{alert_id}") {
            let observations = format!("{sessions}/{session_id}/observations");
            let sedated = json!({ "at": "2026-11-28T13:30", "moaas": 3 }).to_string();
            let reply = api.call("POST", &observations, nurse, Some(&sedated), &[]).await;
            assert_eq!(reply.body["alerts"]["changes"][0]["id"], "SEDATION#1", "{}", reply.body);
            path = path.replace("{alert_id}", "SEDATION%231");
        }
        if path.contains("{sequence}") {
            let observations = format!("{sessions}/{session_id}/observations");
            let reading = json!({ "at": "2026-11-28T13:20", "moaas": 4 }).to_string();
            let reply = api.call("POST", &observations, nurse, Some(&reading), &[]).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            path = path.replace("{sequence}", "1");
        }
        path = path.replace("{session_id}", session_id);
    }
    path
}

#[tokio::test]
async fn an_admin_resets_a_password_to_a_one_time_one_and_the_account_s_tokens_end() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let admin = api.token(Role::Admin).await;
        let nurse = api.token(Role::Nurse).await;
        let users = api.call("GET", "/api/v1/users", &admin, None, &[]).await;
        let user_id = |name: &str| -> String {
            users.body["users"].as_array().unwrap().iter().find(|user| user["username"] == name).unwrap()["user_id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (nurse_id, admin_id) = (user_id("nurse"), user_id("admin"));
        let by_nurse = api.call("POST", &format!("/api/v1/users/{admin_id}/password-reset"), &nurse, None, &[]).await;
        assert_eq!(by_nurse.status, StatusCode::FORBIDDEN);
        let own = api.call("POST", &format!("/api/v1/users/{admin_id}/password-reset"), &admin, None, &[]).await;
        assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY, "an admin changes their own password instead");
        let reset = api.call("POST", &format!("/api/v1/users/{nurse_id}/password-reset"), &admin, None, &[]).await;
        assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
        let one_time = reset.body["one_time_password"].as_str().unwrap();
        assert_eq!(api.call("GET", "/api/v1/patients", &nurse, None, &[]).await.status, StatusCode::UNAUTHORIZED);
        let login = json!({ "username": "nurse", "password": one_time }).to_string();
        let reply = api.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&login), &[]).await;
        assert_eq!((reply.status, reply.body["password_change_required"].as_bool()), (StatusCode::OK, Some(true)));
        let old = json!({ "username": "nurse", "password": password(Role::Nurse) }).to_string();
        assert_eq!(
            api.call("POST", "/api/v1/session", &Auth::Anonymous, Some(&old), &[]).await.status,
            StatusCode::UNAUTHORIZED
        );
    })
    .await;
}

#[tokio::test]
async fn a_role_without_the_permission_gets_403_whatever_the_request_holds() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let mut callers = vec![Auth::Anonymous];
        for role in Role::ALL {
            callers.push(api.token(role).await);
        }
        let nurse = callers[3].clone();
        let patient_id = api.create_patient(&nurse, "Ada").await;
        // Everything a request can get wrong at once: a broken body, a bad If-Match, an over-long
        // Idempotency-Key, and query parameters that do not parse.
        let long_key = "k".repeat(300);
        let headers = [("if-match", "garbage"), ("idempotency-key", long_key.as_str())];
        let mut failures = Vec::new();
        for (method, template, expected) in MATRIX {
            if template.starts_with("/api/v1/session") {
                continue; // logging in and out concern the caller's own session, not a permission
            }
            let path = template
                .replace("{patient_id}", &patient_id)
                .replace(['{', '}'], "")
                .replace("section", "blood_pressures");
            let path = format!("{path}?date=not-a-date&limit=-5&as_of=never&after=x");
            for (caller_index, caller) in callers.iter().enumerate() {
                if !matches!(expected[caller_index], 401 | 403) {
                    continue;
                }
                let body = (*method != "GET").then_some(r#"{"broken":"#);
                let reply = api.call(method, &path, caller, body, &headers).await;
                if reply.status.as_u16() != expected[caller_index] {
                    failures.push(format!(
                        "{method} {template} as caller {caller_index}: expected {}, got {} {}",
                        expected[caller_index], reply.status, reply.body
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} routes answered before checking the role:\n{}",
            failures.len(),
            failures.join("\n")
        );
    })
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_refused_before_it_is_read() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let login = json!({ "username": "nurse", "password": password(Role::Nurse) }).to_string();
        // What a cross-site form can send without a preflight: a login CSRF if it were read.
        for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
            let mut request = Request::builder().method("POST").uri("/api/v1/session");
            if let Some(content_type) = content_type {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let response = api.router.clone().oneshot(request.body(Body::from(login.clone())).unwrap()).await.unwrap();
            assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
            assert!(response.headers().get(header::SET_COOKIE).is_none());
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let problem: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(problem["field"], "Content-Type", "{problem}");
        }
        let request = Request::builder()
            .method("POST")
            .uri("/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(Body::from(login))
            .unwrap();
        assert_eq!(api.router.clone().oneshot(request).await.unwrap().status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn control_characters_in_text_are_refused_naming_the_field_on_both_backends() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let body = json!({ "given_name": "Ada\u{0}", "family_name": "Lovelace", "birth_date": "1984-05-02",
                           "sex_at_birth": "female" })
        .to_string();
        let reply = api.call("POST", "/api/v1/patients", &nurse, Some(&body), &[]).await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("given_name")),
            "{}",
            reply.body
        );
        let listed = api.call("GET", "/api/v1/patients", &nurse, None, &[]).await;
        assert_eq!(listed.body["total"], 0, "nothing stored");
    })
    .await;
}

#[tokio::test]
async fn dates_outside_one_strict_reading_are_refused_naming_the_field() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let mut failures = Vec::new();
        for birth_date in ["19800101", "0001-01-01", "1980-01-01T00:00", "2999-01-01"] {
            let body = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": birth_date,
                               "sex_at_birth": "female" })
            .to_string();
            let reply = api.call("POST", "/api/v1/patients", &nurse, Some(&body), &[]).await;
            if (reply.status, reply.body["field"].as_str()) != (StatusCode::UNPROCESSABLE_ENTITY, Some("birth_date")) {
                failures.push(format!("birth_date {birth_date}: {} {}", reply.status, reply.body));
            }
        }
        let patient_id = api.create_patient(&nurse, "Ada").await;
        for measured_on in ["0001-01-01", "20261101"] {
            let body = json!({ "measured_on": measured_on, "weight_kg": 70 }).to_string();
            let reply = api.call("POST", &format!("/api/v1/patients/{patient_id}/chart/measurements"), &nurse, Some(&body), &[]).await;
            if (reply.status, reply.body["field"].as_str()) != (StatusCode::UNPROCESSABLE_ENTITY, Some("measured_on")) {
                failures.push(format!("measured_on {measured_on}: {} {}", reply.status, reply.body));
            }
        }
        let prescriber = api.token(Role::Prescriber).await;
        for first_session in ["0001-01-01T09:00", "2026-11-30T09:00+05:00", "2026-11-30T09:00Z"] {
            let body = json!({ "template": "induction_2x_week_3w", "time_zone": "America/New_York", "first_session": first_session }).to_string();
            let reply = api.call("POST", &format!("/api/v1/patients/{patient_id}/plans"), &prescriber, Some(&body), &[]).await;
            if (reply.status, reply.body["field"].as_str()) != (StatusCode::UNPROCESSABLE_ENTITY, Some("first_session")) {
                failures.push(format!("first_session {first_session}: {} {}", reply.status, reply.body));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(api.call("GET", "/api/v1/patients", &nurse, None, &[]).await.body["total"], 1, "only the valid patient");
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_is_filtered_by_patient_user_action_and_time_and_names_the_accounts() {
    each_backend(|db| async move {
        let api = Api::new(db.store, WebConfig::default()).await;
        let nurse = api.token(Role::Nurse).await;
        let prescriber = api.token(Role::Prescriber).await;
        let first = api.create_patient(&nurse, "Ada").await;
        let second = api.create_patient(&prescriber, "Grace").await;
        assert_eq!(
            api.call("GET", &format!("/api/v1/patients/{first}"), &prescriber, None, &[]).await.status,
            StatusCode::OK
        );
        let auditor = api.token(Role::Auditor).await;
        let events = |query: String| {
            let api = &api;
            let auditor = auditor.clone();
            async move { api.call("GET", &format!("/api/v1/audit/events?{query}"), &auditor, None, &[]).await }
        };
        let seen = |reply: &Reply, key: &str| -> Vec<String> {
            reply.body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|event| event[key].as_str().unwrap_or("").to_owned())
                .collect()
        };
        // By patient: its creation and its read, not the other patient's.
        let reply = events(format!("patient_id={first}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(seen(&reply, "action"), ["patient.create", "patient.read"], "{}", reply.body);
        assert!(seen(&reply, "patient_id").iter().all(|id| *id == first));
        // By account, with the username beside each actor id; by action prefix; both.
        let reply = events("username=prescriber&action=patient.*".to_owned()).await;
        assert_eq!(seen(&reply, "action"), ["patient.create", "patient.read"], "{}", reply.body);
        assert_eq!(seen(&reply, "patient_id"), [second.as_str(), first.as_str()]);
        let prescriber_id = api.app.user_id_of("prescriber").await.unwrap().unwrap();
        assert_eq!(reply.body["usernames"], json!({ prescriber_id: "prescriber" }));
        // Keyset pages: the next page starts after the last event of a full one.
        let reply = events("action=token.create&limit=2".to_owned()).await;
        assert_eq!(seen(&reply, "action").len(), 2);
        let next = reply.body["next_after"].as_i64().expect("a full page says where the next starts");
        let reply = events(format!("action=token.create&limit=2&after={next}")).await;
        assert_eq!((seen(&reply, "action").len(), &reply.body["next_after"]), (1, &Value::Null), "{}", reply.body);
        // By time: everything so far is before a time in the future; nothing after it.
        let reply = events("occurred_before=2999-01-01T00:00:00Z&action=patient.create".to_owned()).await;
        assert_eq!(seen(&reply, "action").len(), 2);
        assert_eq!(seen(&events("occurred_from=2999-01-01T00:00:00Z".to_owned()).await, "action").len(), 0);
        // A filter that cannot match is refused naming its parameter.
        for (query, field) in [
            ("username=nobody", "username"),
            ("action=DROP%20TABLE", "action"),
            ("occurred_from=yesterday", "occurred_from"),
            ("occurred_from=2026-12-04T00:00:00Z&occurred_before=2026-12-03T00:00:00Z", "occurred_before"),
        ] {
            let reply = events(query.to_owned()).await;
            assert_eq!(
                (reply.status, reply.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{query}: {}",
                reply.body
            );
        }
        // Only the roles that read the audit log get it, filters or not.
        let reply = api.call("GET", "/api/v1/audit/events?username=nobody", &nurse, None, &[]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    })
    .await;
}
