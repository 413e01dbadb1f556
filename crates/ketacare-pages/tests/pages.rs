//! The staff pages through the whole site's router (pages with the API behind them) on SQLite, and on
//! PostgreSQL when `KETACARE_TEST_DATABASE_URL` is set: each page renders for every role that may see it
//! and answers the others with the 403 page; markup in a patient's name and MRN appears as text on every
//! page; sign-in, the one-time password, idle expiry and sign-out; a vital-sign entry that raises an alert
//! shows it on the reloaded page; entered-in-error; forms without the session's CSRF token are refused;
//! paths no page serves get the HTML 404 page while the API keeps its problem details;
//! the prescriber's plan, order and override forms (an eligibility override also withdrawn, with a
//! reason, audited) and the start-a-session form (shown by role,
//! refused for other roles by the use case, errors beside their fields with what was typed kept);
//! rating-scale forms scored by the server, and the overview's symptom chart with its baseline,
//! response and remission lines; in-session CADSS-23, BPRS positive and MOAA/S scored into observations;
//! the live feed (server-sent events) names the session an entry changed, by id only, to the roles that
//! read sessions, audited, and ends when the server closes it; the printouts name people by username;
//! the worklist's REMS item opens the REMS form.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::StreamExt as _;
use jiff::Timestamp;
use ketacare_app::{Actor, App, NewAccount, PatientInput, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::WebConfig;
use serde_json::json;
use tower::ServiceExt as _;

const PASSWORD: &str = "correct horse battery staple";
const ROLES: [Role; 5] = [Role::Admin, Role::Prescriber, Role::Nurse, Role::Analyst, Role::Auditor];
/// A patient's name and MRN as someone might type them, markup included.
const HOSTILE_GIVEN_NAME: &str = "<script>alert(1)</script>";
const HOSTILE_FAMILY_NAME: &str = "O'Brien & <b>Sons</b>";

struct Reply {
    status: StatusCode,
    location: String,
    set_cookie: String,
    body: String,
}

/// The site on a clock the test moves, with one signed-in browser per role.
struct Site {
    router: Router,
    app: App,
    clock_seconds: Arc<AtomicI64>,
    browsers: Vec<(Role, String, String)>,
    patient_id: String,
    session_id: String,
}

async fn call(router: &Router, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Reply {
    let mut request = Request::builder().method(method).uri(path).header(header::HOST, "127.0.0.1:8080");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if form.is_some() {
        request = request
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://127.0.0.1:8080");
    }
    let request = request.body(Body::from(form.unwrap_or_default().to_owned())).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let (status, location, set_cookie) = {
        let header_text =
            |name| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (response.status(), header_text(header::LOCATION), header_text(header::SET_COOKIE))
    };
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Reply { status, location, set_cookie, body: String::from_utf8(bytes.to_vec()).unwrap() }
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

impl Site {
    async fn new(store: ketacare_store::Store) -> Site {
        let start: Timestamp = "2026-12-04T15:00:00Z".parse().unwrap();
        let clock_seconds = Arc::new(AtomicI64::new(start.as_second()));
        let seconds = clock_seconds.clone();
        let clock = Arc::new(move || Timestamp::from_second(seconds.load(Ordering::SeqCst)).unwrap());
        let app = App::new(store, Protocol::shipped()).with_clock(clock);
        let router = ketacare_pages::site(app.clone(), WebConfig::default());
        let mut site = Site {
            router,
            app,
            clock_seconds,
            browsers: Vec::new(),
            patient_id: String::new(),
            session_id: String::new(),
        };
        for role in ROLES {
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: PASSWORD.to_owned(),
                role,
                must_change_password: false,
            };
            site.app.create_user(None, &account).await.unwrap();
            let (cookie, csrf) = site.sign_in(role.as_str(), PASSWORD).await;
            site.browsers.push((role, cookie, csrf));
        }
        site.seed_session().await;
        site
    }

    /// Signs in through the login form; returns the cookie and the session's CSRF token.
    async fn sign_in(&self, username: &str, password: &str) -> (String, String) {
        let reply =
            call(&self.router, "POST", "/login", None, Some(&form(&[("username", username), ("password", password)])))
                .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let cookie = reply.set_cookie.split(';').next().unwrap().to_owned();
        let token = cookie.split_once('=').unwrap().1;
        let principal = self.app.authenticate_session(token, "test", "test").await.unwrap();
        (cookie, principal.csrf_token.unwrap())
    }

    fn browser(&self, role: Role) -> (&str, &str) {
        let (_, cookie, csrf) = self.browsers.iter().find(|(r, _, _)| *r == role).unwrap();
        (cookie, csrf)
    }

    async fn get(&self, role: Role, path: &str) -> Reply {
        call(&self.router, "GET", path, Some(self.browser(role).0), None).await
    }

    async fn actor(&self, role: Role) -> Actor {
        let user_id = self.app.user_id_of(role.as_str()).await.unwrap().unwrap();
        Actor { user_id, role, request_id: "test-seed".to_owned() }
    }

    /// A patient with markup in the name, a prescriber's order and a session the nurse started, through
    /// the same use cases as everything else.
    async fn seed_session(&mut self) {
        let nurse = self.actor(Role::Nurse).await;
        let prescriber = self.actor(Role::Prescriber).await;
        let input = PatientInput {
            mrn: Some("MRN-<i>7</i>".to_owned()),
            given_name: HOSTILE_GIVEN_NAME.to_owned(),
            family_name: HOSTILE_FAMILY_NAME.to_owned(),
            birth_date: "1980-03-14".to_owned(),
            sex_at_birth: "female".to_owned(),
        };
        self.patient_id = self.app.create_patient(&nurse, &input, None).await.unwrap().resource_id;
        // The clinic's esketamine consent form, and the patient's signed consent to it.
        let admin = self.actor(Role::Admin).await;
        let form = json!({ "form_id": "esketamine-treatment", "modality": "esketamine", "title": "Consent to esketamine",
                           "body_text": "Risks: blood pressure.\n\nDissociation, sedation, misuse.", "valid_for_days": 365 });
        self.app.create_consent_form_version(&admin, &form.to_string()).await.unwrap();
        let consent = json!({ "form_id": "esketamine-treatment", "signed_on": "2026-11-01", "signer_name": "the patient",
                              "signer_relationship": "patient", "witness_username": "prescriber" });
        self.app.record_consent(&nurse, &self.patient_id, &consent.to_string(), None).await.unwrap();
        let order = json!({ "modality": "esketamine", "dose_mg": 56 }).to_string();
        let order = self.app.create_order(&prescriber, &self.patient_id, &order, None).await.unwrap().resource_id;
        let facts = json!({
            "modality": "esketamine", "care_setting": "outpatient", "time_zone": "UTC", "order_id": order,
            "dose": { "planned_mg": 56, "planned_at": "2026-12-04T15:30" },
            "pre_dose": { "phq9_item9": 0, "can_become_pregnant": false, "last_food_at": "2026-12-04T10:00",
                          "last_liquid_at": "2026-12-04T12:00", "escort_arranged": true, "rems_patient_enrolled": true }
        });
        self.session_id =
            self.app.start_session(&nurse, &self.patient_id, &facts.to_string(), None).await.unwrap().resource_id;
    }

    fn overview_path(&self) -> String {
        format!("/patients/{}", self.patient_id)
    }

    fn session_path(&self) -> String {
        format!("/patients/{}/sessions/{}", self.patient_id, self.session_id)
    }

    async fn enter_vital_signs(&self, role: Role, fields: &[(&str, &str)], with_token: bool) -> Reply {
        let (cookie, csrf) = self.browser(role);
        let mut pairs = vec![("at", "2026-12-04T14:58")];
        if with_token {
            pairs.push(("csrf_token", csrf));
        }
        pairs.extend_from_slice(fields);
        let path = format!("{}/observations", self.session_path());
        call(&self.router, "POST", &path, Some(cookie), Some(&form(&pairs))).await
    }
}

/// Text that must never reach a page unescaped.
fn assert_markup_is_text(page: &str, context: &str) {
    assert!(!page.contains("<script>alert"), "{context}: a patient's <script> reached the page");
    assert!(!page.contains("<b>Sons</b>") && !page.contains("<i>7</i>"), "{context}: patient markup reached the page");
}

#[tokio::test]
async fn each_page_renders_for_the_roles_that_may_see_it_and_refuses_the_others() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let pages: [(String, &[Role]); 5] = [
            ("/worklist".to_owned(), &[Admin, Prescriber, Nurse]),
            ("/patients".to_owned(), &[Admin, Prescriber, Nurse, Analyst]),
            (site.overview_path(), &[Admin, Prescriber, Nurse, Analyst]),
            (site.session_path(), &[Admin, Prescriber, Nurse]),
            ("/password".to_owned(), &ROLES),
        ];
        for (path, allowed) in &pages {
            for role in ROLES {
                let reply = site.get(role, path).await;
                let expected = if allowed.contains(&role) { StatusCode::OK } else { StatusCode::FORBIDDEN };
                assert_eq!(reply.status, expected, "{path} as {}: {}", role.as_str(), reply.body);
                assert!(reply.body.starts_with("<!doctype html>"), "{path} as {}", role.as_str());
                if expected == StatusCode::FORBIDDEN {
                    assert!(reply.body.contains("You do not have access to this page"), "{path}");
                }
                assert_markup_is_text(&reply.body, path);
            }
        }
        // Analysts see the patient de-identified: the pseudonym, never the name.
        let analyst_view = site.get(Analyst, &site.overview_path()).await.body;
        assert!(analyst_view.contains("KC-") && !analyst_view.contains("Brien"), "{analyst_view}");
        // Only the roles that run sessions get the entry form; the API behind the pages still answers.
        assert!(site.get(Nurse, &site.session_path()).await.body.contains("Enter vital signs"));
        assert!(!site.get(Admin, &site.session_path()).await.body.contains("Enter vital signs"));
        let health = call(&site.router, "GET", "/healthz", None, None).await;
        assert_eq!(health.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn markup_in_a_patients_name_appears_as_text_on_every_page() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        let reply = site.enter_vital_signs(Role::Nurse, &[("systolic", "190"), ("diastolic", "115")], true).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let escaped_name = "&#60;script&#62;alert(1)&#60;/script&#62;";
        for path in ["/worklist".to_owned(), "/patients".to_owned(), site.overview_path(), site.session_path()] {
            let page = site.get(Role::Nurse, &path).await;
            assert_eq!(page.status, StatusCode::OK, "{path}");
            assert_markup_is_text(&page.body, &path);
            assert!(page.body.contains(escaped_name), "{path} shows the name as text: {}", page.body);
        }
        let search = site.get(Role::Nurse, "/patients?q=O%27Brien").await.body;
        assert!(search.contains("O&#39;Brien &#38; &#60;b&#62;Sons&#60;/b&#62;"), "{search}");
    })
    .await;
}

#[tokio::test]
async fn an_entry_that_raises_an_alert_shows_it_on_the_reloaded_page() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        let refused = site.enter_vital_signs(Role::Nurse, &[("systolic", "190"), ("diastolic", "115")], false).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "a form without the CSRF token is refused");
        assert!(refused.body.contains("This form has expired"));
        let bad = site.enter_vital_signs(Role::Nurse, &[("systolic", "high")], true).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("BP systolic must be a whole number") && bad.body.contains("value=\"high\""));
        let saved = site
            .enter_vital_signs(Role::Nurse, &[("systolic", "190"), ("diastolic", "115"), ("heart_rate", "96")], true)
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        assert!(saved.location.ends_with("?saved=1#alerts"), "{}", saved.location);
        let page = site.get(Role::Nurse, saved.location.trim_end_matches("#alerts")).await.body;
        assert!(page.contains("Entry 1 saved for 14:58"), "{page}");
        assert!(page.contains("tag--new") && page.contains("BP 190/115 mmHg"), "{page}");
        assert!(page.contains("<svg") && page.contains("190/115"), "the chart draws the reading");
        // The prescriber sees the alert too; acknowledging it is the nurse's or prescriber's.
        let (cookie, csrf) = site.browser(Role::Prescriber);
        let acknowledge = format!("{}/alerts/BP_HIGH%231/acknowledgement", site.session_path());
        let reply = call(
            &site.router,
            "POST",
            &acknowledge,
            Some(cookie),
            Some(&form(&[("csrf_token", csrf), ("note", "seen")])),
        )
        .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Role::Nurse, &site.session_path()).await.body;
        assert!(page.contains("acknowledged by prescriber at") && page.contains(": seen"), "named, not an id: {page}");
        // Entered in error, with a reason: the entry stays, marked, and its alerts are replayed away.
        let (cookie, csrf) = site.browser(Role::Nurse);
        let version = page.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let correct = format!("{}/observations/1/entered-in-error", site.session_path());
        let pairs = [("csrf_token", csrf), ("version", version.as_str()), ("reason", "wrong patient's cuff")];
        let reply = call(&site.router, "POST", &correct, Some(cookie), Some(&form(&pairs))).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Role::Nurse, &site.session_path()).await.body;
        assert!(page.contains("ENTERED IN ERROR") && page.contains("wrong patient&#39;s cuff"), "{page}");
        assert!(page.contains("No active alerts."), "{page}");
        // The printable record keeps the acknowledgement of the alert the correction took away, by name.
        let record = site.get(Role::Admin, &format!("{}/record", site.session_path())).await.body;
        assert!(record.contains("alert BP_HIGH#1: acknowledged by prescriber at 15:00: seen"), "{record}");
    })
    .await;
}

#[tokio::test]
async fn sign_in_one_time_passwords_idle_expiry_and_sign_out() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        let login = call(&site.router, "GET", "/", None, None).await;
        assert!(login.status == StatusCode::OK && login.body.contains("Sign in to ketacare"));
        let wrong = form(&[("username", "nurse"), ("password", "not the password")]);
        let reply = call(&site.router, "POST", "/login", None, Some(&wrong)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply.body.contains("The username or password is not right") && reply.body.contains("value=\"nurse\""));
        // A login form posted from another site is refused before the password is checked.
        let request = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "https://elsewhere.example")
            .header(header::HOST, "127.0.0.1:8080")
            .body(Body::from(form(&[("username", "nurse"), ("password", PASSWORD)])))
            .unwrap();
        assert_eq!(site.router.clone().oneshot(request).await.unwrap().status(), StatusCode::FORBIDDEN);

        // Not signed in: to the login page. An account with a one-time password: to the password page.
        assert_eq!(call(&site.router, "GET", "/worklist", None, None).await.location, "/?next=%2Fworklist");
        let account = NewAccount {
            username: "new.nurse".to_owned(),
            password: "one-time password 1".to_owned(),
            role: Role::Nurse,
            must_change_password: true,
        };
        site.app.create_user(None, &account).await.unwrap();
        let (cookie, csrf) = site.sign_in("new.nurse", "one-time password 1").await;
        let reply = call(&site.router, "GET", "/worklist", Some(&cookie), None).await;
        assert_eq!((reply.status, reply.location.as_str()), (StatusCode::SEE_OTHER, "/password"));
        let page = call(&site.router, "GET", "/password", Some(&cookie), None).await.body;
        assert!(page.contains("one-time password"), "{page}");
        let mismatch = form(&[
            ("csrf_token", &csrf),
            ("current_password", "one-time password 1"),
            ("new_password", "my own password 2"),
            ("confirm_password", "my own password 3"),
        ]);
        let reply = call(&site.router, "POST", "/password", Some(&cookie), Some(&mismatch)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains("The two new passwords are not the same"));
        let change = form(&[
            ("csrf_token", &csrf),
            ("current_password", "one-time password 1"),
            ("new_password", "my own password 2"),
            ("confirm_password", "my own password 2"),
        ]);
        let reply = call(&site.router, "POST", "/password", Some(&cookie), Some(&change)).await;
        assert_eq!((reply.status, reply.location.as_str()), (StatusCode::SEE_OTHER, "/worklist"), "{}", reply.body);
        assert_eq!(call(&site.router, "GET", "/worklist", Some(&cookie), None).await.status, StatusCode::OK);

        // Idle for longer than the session policy allows: the next page says the session expired.
        let idle = site.app.session_policy().idle.as_secs();
        site.clock_seconds.fetch_add(idle + 60, Ordering::SeqCst);
        let reply = call(&site.router, "GET", "/worklist", Some(&cookie), None).await;
        assert_eq!((reply.status, reply.location.as_str()), (StatusCode::SEE_OTHER, "/?expired=1&next=%2Fworklist"));
        assert!(reply.set_cookie.contains("Max-Age=0"), "the dead cookie is cleared");
        let login = call(&site.router, "GET", "/?expired=1", None, None).await.body;
        assert!(login.contains("Your session expired"), "{login}");

        // Sign out ends the session: its cookie no longer opens a page.
        let (cookie, csrf) = site.sign_in("new.nurse", "my own password 2").await;
        let reply = call(&site.router, "POST", "/logout", Some(&cookie), Some(&form(&[("csrf_token", &csrf)]))).await;
        assert_eq!((reply.status, reply.location.as_str()), (StatusCode::SEE_OTHER, "/?signed_out=1"));
        let reply = call(&site.router, "GET", "/worklist", Some(&cookie), None).await;
        assert_eq!(reply.location, "/?expired=1&next=%2Fworklist");
    })
    .await;
}

#[tokio::test]
async fn the_stylesheet_and_script_are_served_and_pages_allow_only_them() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        for (path, kind) in [("/static/ketacare.css", "text/css"), ("/static/ketacare.js", "text/javascript")] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = site.router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert!(response.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with(kind));
        }
        let request = Request::get("/").body(Body::empty()).unwrap();
        let response = site.router.clone().oneshot(request).await.unwrap();
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    })
    .await;
}

/// The next chunk of a server-sent event stream as text (or `None` when it ended), within two seconds.
async fn next_event(events: &mut axum::body::BodyDataStream) -> Option<String> {
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(2), events.next())
        .await
        .expect("an event within two seconds")?;
    Some(String::from_utf8(chunk.unwrap().to_vec()).unwrap())
}

#[tokio::test]
async fn the_live_feed_names_the_changed_session_by_id_to_the_roles_that_read_sessions() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        for role in [Analyst, Auditor] {
            let reply = site.get(role, "/live/session-changes").await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}: {}", role.as_str(), reply.body);
        }
        let anonymous = call(&site.router, "GET", "/live/session-changes", None, None).await;
        assert_eq!(anonymous.location, "/", "no cookie, no feed");

        // The prescriber's screen subscribes; the nurse charts a blood pressure that raises an alert.
        let request = Request::get("/live/session-changes")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::COOKIE, site.browser(Prescriber).0)
            .body(Body::empty())
            .unwrap();
        let response = site.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
        let mut events = response.into_body().into_data_stream();
        let hello = next_event(&mut events).await.unwrap();
        assert!(hello.contains("retry: 1000") && hello.contains(": live"), "{hello}");
        let saved = site.enter_vital_signs(Nurse, &[("systolic", "190"), ("diastolic", "115")], true).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let event = next_event(&mut events).await.unwrap();
        assert!(event.starts_with("event: session\n"), "{event}");
        let data: serde_json::Value =
            serde_json::from_str(event.lines().find_map(|line| line.strip_prefix("data: ")).unwrap()).unwrap();
        assert_eq!(
            data,
            json!({ "patient_id": site.patient_id, "session_id": site.session_id, "kind": "observation",
                    "alerts_changed": true })
        );
        // An acknowledgement reaches the open screens too (the alert stays, so its alerts did not change).
        let (cookie, csrf) = site.browser(Nurse);
        let acknowledge = format!("{}/alerts/BP_HIGH%231/acknowledgement", site.session_path());
        let reply = call(&site.router, "POST", &acknowledge, Some(cookie), Some(&form(&[("csrf_token", csrf)]))).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let event = next_event(&mut events).await.unwrap();
        assert!(
            event.contains("\"kind\":\"acknowledgement\"") && event.contains("\"alerts_changed\":false"),
            "{event}"
        );

        // The subscription is audited as the prescriber's; shutting down ends the stream.
        let auditor = site.actor(Auditor).await;
        let prescriber = site.actor(Prescriber).await;
        let watched = site.app.audit_events(&auditor, 0, 1000).await.unwrap().into_iter().any(|record| {
            record.action == "session_changes.watch"
                && record.outcome == "success"
                && record.actor_id.as_deref() == Some(prescriber.user_id.as_str())
        });
        assert!(watched, "the subscription is in the audit log");
        site.app.close_live_updates();
        assert_eq!(next_event(&mut events).await, None, "the stream ends when the server closes");
    })
    .await;
}

#[tokio::test]
async fn a_path_no_page_serves_answers_the_html_404_page_and_the_api_keeps_its_problem_details() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        let content_type = |response: &axum::response::Response| {
            response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
        };
        for (method, path) in [("GET", "/no-such-page"), ("GET", "/apiary"), ("GET", "/patients/a/b/c"), ("POST", "/x")]
        {
            let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
            let response = site.router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert!(content_type(&response).starts_with("text/html"), "{method} {path}");
            assert!(
                response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("script-src 'self'")
            );
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.starts_with("<!doctype html>") && body.contains("Page not found"), "{path}: {body}");
        }
        for path in ["/api/v1/no-such-thing", "/api", "/fhir/r4/no-such-thing"] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = site.router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(content_type(&response), "application/problem+json", "{path}");
        }
        // Signed in or not, the pages' own 404 is the same page.
        let reply = site.get(Role::Nurse, "/nothing-here").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert!(reply.body.contains("Page not found"));
    })
    .await;
}

/// Posts a form as `role`, with the session's CSRF token.
async fn post_form(site: &Site, role: Role, path: &str, pairs: &[(&str, &str)]) -> Reply {
    let (cookie, csrf) = site.browser(role);
    let mut all = vec![("csrf_token", csrf)];
    all.extend_from_slice(pairs);
    call(&site.router, "POST", path, Some(cookie), Some(&form(&all))).await
}

#[tokio::test]
async fn a_prescriber_prescribes_a_plan_and_an_order_and_a_nurse_starts_the_session_from_the_worklist() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let plans = format!("{}/plans", site.overview_path());
        let orders = format!("{}/orders", site.overview_path());
        let sessions = format!("{}/sessions", site.overview_path());
        // Each form is shown to the roles whose use case takes it.
        let prescriber_view = site.get(Prescriber, &site.overview_path()).await.body;
        assert!(
            prescriber_view.contains("Prescribe a treatment plan") && prescriber_view.contains("Sign a dose order")
        );
        let nurse_view = site.get(Nurse, &site.overview_path()).await.body;
        assert!(!nurse_view.contains("Prescribe a treatment plan") && !nurse_view.contains("Sign a dose order"));
        assert!(
            nurse_view.contains("Start a session") && nurse_view.contains("56 mg (2 × 28 mg devices)"),
            "{nurse_view}"
        );
        let admin_view = site.get(Admin, &site.overview_path()).await.body;
        assert!(!admin_view.contains("Start a session") && !admin_view.contains("Prescribe a treatment plan"));
        // A nurse posting the plan form anyway is refused by the use case.
        let refused = post_form(&site, Nurse, &plans, &[("template", "esketamine_trd")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        // A time that is not one comes back beside its field, with everything typed kept.
        let typed = [("template", "esketamine_trd"), ("first_session", "tomorrow"), ("concurrent_plan_reason", "")];
        let reply = post_form(&site, Prescriber, &plans, &typed).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"plan-first_session-error\"") && reply.body.contains("value=\"tomorrow\""));
        assert!(reply.body.contains("value=\"esketamine_trd\" selected"), "the template stays chosen");
        let typed = [("template", "esketamine_trd"), ("first_session", "2026-12-04T16:00")];
        let reply = post_form(&site, Prescriber, &plans, &typed).await;
        assert_eq!(
            (reply.status, reply.location.as_str()),
            (StatusCode::SEE_OTHER, &*format!("{}?saved=plan#plans", site.overview_path()))
        );
        let page = site.get(Prescriber, &format!("{}?saved=plan", site.overview_path())).await.body;
        assert!(page.contains("The plan was prescribed") && page.contains("Esketamine: weeks 1–4"), "{page}");
        // A second esketamine plan needs a reason: the refusal names the rule beside the template.
        let reply = post_form(&site, Prescriber, &plans, &typed).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            reply.body.contains("id=\"plan-template-error\"") && reply.body.contains("ONE_ACTIVE_PLAN_PER_MODALITY")
        );
        assert!(reply.body.contains("value=\"2026-12-04T16:00\""), "the time typed is kept");

        // The order: a word where a number goes, then a dose over the hard stop, then a good one.
        let reply = post_form(&site, Prescriber, &orders, &[("modality", "esketamine"), ("dose_mg", "lots")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            reply.body.contains("Dose must be a number, got &#34;lots&#34;") && reply.body.contains("value=\"lots\"")
        );
        let reply = post_form(&site, Prescriber, &orders, &[("modality", "esketamine"), ("dose_mg", "112")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(
            reply.body.contains("id=\"order-dose_mg-error\"") && reply.body.contains("value=\"112\""),
            "{}",
            reply.body
        );
        let reply = post_form(&site, Prescriber, &orders, &[("modality", "esketamine"), ("dose_mg", "56")]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Nurse, &site.overview_path()).await.body;
        assert_eq!(page.matches("<td>56 mg (2 × 28 mg devices)</td>").count(), 2, "both orders are listed: {page}");

        // Today's scheduled session is on the worklist with a Start button for those who run sessions.
        let worklist = site.get(Nurse, "/worklist").await.body;
        assert!(worklist.contains("Start session<span"), "{worklist}");
        assert!(!site.get(Admin, "/worklist").await.body.contains("Start session<span"));
        let slot = worklist.split("name=\"slot\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        // Two active esketamine orders: the server asks which one is given, beside the order field.
        let reply = post_form(&site, Nurse, &sessions, &[("slot", &slot)]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"start-order_id-error\"") && reply.body.contains("active esketamine orders"));
        assert!(reply.body.contains(&format!("value=\"{slot}\" selected")), "the slot stays chosen");
        let order_id = reply
            .body
            .split("id=\"start-order_id\"")
            .nth(1)
            .unwrap()
            .split("<option value=\"")
            .nth(3)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let reply = post_form(&site, Nurse, &sessions, &[("slot", &slot), ("order_id", &order_id)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.contains("/sessions/") && reply.location.ends_with("#gate"), "{}", reply.location);
        let session = site.get(Nurse, reply.location.trim_end_matches("#gate")).await;
        assert_eq!(session.status, StatusCode::OK);
        assert!(session.body.contains("Ordered dose"), "{}", session.body);
        let worklist = site.get(Nurse, "/worklist").await.body;
        assert!(!worklist.contains("Start session<span"), "the started session is no longer to start");
        for page in [worklist, site.get(Prescriber, &site.overview_path()).await.body] {
            assert_markup_is_text(&page, "forms");
        }
    })
    .await;
}

#[tokio::test]
async fn a_prescriber_overrides_an_overridable_hold_with_a_reason_and_only_with_one() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        // A pre-dose blood pressure over the label's 140/90 holds the gate, overridably.
        for (at, systolic, diastolic) in
            [("2026-12-04T14:50", "152"), ("2026-12-04T14:56", "150")].map(|(at, systolic)| (at, systolic, "94"))
        {
            let (cookie, csrf) = site.browser(Nurse);
            let pairs = [("csrf_token", csrf), ("at", at), ("systolic", systolic), ("diastolic", diastolic)];
            let path = format!("{}/observations", site.session_path());
            let reply = call(&site.router, "POST", &path, Some(cookie), Some(&form(&pairs))).await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        }
        let page = site.get(Prescriber, &site.session_path()).await.body;
        assert!(page.contains("Override the"), "the prescriber is offered the override: {page}");
        assert!(!site.get(Nurse, &site.session_path()).await.body.contains("Override the"), "nurses are not");
        let item = page.split("name=\"item\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let version = page.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let path = format!("{}/overrides", site.session_path());
        let reply =
            post_form(&site, Prescriber, &path, &[("version", &version), ("item", &item), ("reason", "  ")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(
            reply.body.contains(&format!("id=\"override-reason-error-{item}\""))
                && reply.body.contains("needs a reason"),
            "{}",
            reply.body
        );
        let reason = "BP <b>stable</b> on repeat; benefit outweighs";
        let reply =
            post_form(&site, Prescriber, &path, &[("version", &version), ("item", &item), ("reason", reason)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Nurse, &site.session_path()).await.body;
        assert!(
            page.contains("overridden by prescriber at") && page.contains("BP &#60;b&#62;stable&#60;/b&#62; on repeat"),
            "{page}"
        );
        // A nurse posting an override is refused by the use case.
        let page = site.get(Prescriber, &site.session_path()).await.body;
        let version = page.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let reply = post_form(&site, Nurse, &path, &[("version", &version), ("item", &item), ("reason", "x")]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn clinicians_score_the_rating_scales_and_the_overview_charts_the_course() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let phq9 = format!("{}/scales/phq9", site.overview_path());
        for role in ROLES {
            let reply = site.get(role, &phq9).await;
            let expected = if matches!(role, Prescriber | Nurse) { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(reply.status, expected, "{}: {}", role.as_str(), reply.body);
            assert_markup_is_text(&reply.body, "the PHQ-9 form");
        }
        let form_page = site.get(Nurse, &phq9).await.body;
        assert_eq!(form_page.matches("<fieldset class=\"fieldset scale-item").count(), 9);
        assert!(form_page.contains("More than half the days") && form_page.contains("data-sum-items"));
        for scale in ["gad7", "madrs", "qids_sr16", "cssrs"] {
            let reply = site.get(Prescriber, &format!("{}/scales/{scale}", site.overview_path())).await;
            assert_eq!(reply.status, StatusCode::OK, "{scale}");
        }
        assert_eq!(
            site.get(Nurse, &format!("{}/scales/ham", site.overview_path())).await.status,
            StatusCode::NOT_FOUND
        );

        // A date after today is refused beside the date field, the answers kept.
        let mut answers: Vec<(String, String)> = (0..9).map(|item| (format!("item-{item}"), "2".to_owned())).collect();
        answers.push(("administered_on".to_owned(), "2027-01-01".to_owned()));
        let pairs: Vec<(&str, &str)> = answers.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let reply = post_form(&site, Nurse, &phq9, &pairs).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"administered_on-error\"") && reply.body.contains("value=\"2027-01-01\""));
        assert_eq!(reply.body.matches("value=\"2\" checked").count(), 9, "the answers are kept");
        // Saved: the server's total (9 × 2) is on the overview.
        answers.pop();
        answers.push(("administered_on".to_owned(), "2026-11-20".to_owned()));
        let pairs: Vec<(&str, &str)> = answers.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let reply = post_form(&site, Nurse, &phq9, &pairs).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.ends_with("?saved=scale#scales"), "{}", reply.location);

        // Two MADRS ratings up to the session of 4 December: the baseline is the core's (the latest on or
        // before the first treatment), and the response and remission lines are drawn from it.
        let madrs = format!("{}/scales/madrs", site.overview_path());
        for (date, values) in
            [("2026-12-01", ["4", "4", "3", "3", "3", "3", "3", "3", "3", "3"]), ("2026-12-04", ["1"; 10])]
        {
            let mut pairs: Vec<(String, String)> =
                values.iter().enumerate().map(|(item, value)| (format!("item-{item}"), (*value).to_owned())).collect();
            pairs.push(("administered_on".to_owned(), date.to_owned()));
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
            let reply = post_form(&site, Prescriber, &madrs, &pairs).await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        }
        let cssrs = format!("{}/scales/cssrs", site.overview_path());
        let pairs: Vec<(String, String)> = (0..7).map(|item| (format!("item-{item}"), "no".to_owned())).collect();
        let mut pairs: Vec<(&str, &str)> = pairs.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        pairs.push(("administered_on", "2026-12-04"));
        assert_eq!(post_form(&site, Nurse, &cssrs, &pairs).await.status, StatusCode::SEE_OTHER);

        let overview = site.get(Nurse, &format!("{}?saved=scale", site.overview_path())).await.body;
        assert!(overview.contains("The rating scale was saved"), "{overview}");
        assert!(overview.contains("<td>PHQ-9</td><td>18</td>"), "the server's PHQ-9 total: {overview}");
        assert!(overview.contains("<td>MADRS</td><td>32</td>") && overview.contains("<td>MADRS</td><td>10</td>"));
        assert!(overview.contains("<td>C-SSRS screener</td>"), "{overview}");
        let svg = overview.split("<svg").nth(1).expect("the symptom chart");
        for text in [
            "MADRS",
            "PHQ-9",
            "baseline",
            "response −50% (5.0)",
            "response −50% (9.0)",
            "20 Nov 2026",
            "4 Dec 2026",
            "remission ≤ 10",
            "remission ≤ 4",
            "<path",
        ] {
            assert!(svg.contains(text), "{text} on the chart: {svg}");
        }
        // Analysts see the patient without the scales; auditors not at all (the overview's own test).
        assert!(!site.get(Analyst, &site.overview_path()).await.body.contains("Rating scales"));
    })
    .await;
}

#[tokio::test]
async fn in_session_scales_are_scored_item_by_item_and_judged_as_observations() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let cadss = format!("{}/scales/cadss23", site.session_path());
        for role in ROLES {
            let reply = site.get(role, &cadss).await;
            let expected = if matches!(role, Prescriber | Nurse) { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(reply.status, expected, "{}: {}", role.as_str(), reply.body);
        }
        let page = site.get(Nurse, &cadss).await.body;
        assert_eq!(page.matches("<fieldset class=\"fieldset scale-item").count(), 23);
        assert!(page.contains("type=\"datetime-local\"") && page.contains("data-sum-items"));
        assert!(site.get(Nurse, &site.session_path()).await.body.contains("/scales/bprs_positive"));

        // Statement 4 left out: refused beside it, the other answers kept; nothing recorded.
        let mut answers: Vec<(String, String)> =
            (0..23).filter(|item| *item != 3).map(|item| (format!("item-{item}"), "1".to_owned())).collect();
        answers.push(("at".to_owned(), "2026-12-04T14:55".to_owned()));
        let pairs: Vec<(&str, &str)> = answers.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let reply = post_form(&site, Nurse, &cadss, &pairs).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"item-3-error\""), "{}", reply.body);
        assert_eq!(reply.body.matches("value=\"1\" checked").count(), 22);
        answers.push(("item-3".to_owned(), "1".to_owned()));
        let pairs: Vec<(&str, &str)> = answers.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let reply = post_form(&site, Nurse, &cadss, &pairs).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.ends_with("?saved=1#alerts"), "{}", reply.location);
        // The MOAA/S of 3 and a BPRS positive total, each judged as the session's next observation.
        let moaas = format!("{}/scales/moaas", site.session_path());
        let reply = post_form(&site, Prescriber, &moaas, &[("item-0", "3"), ("at", "2026-12-04T14:57")]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let bprs = format!("{}/scales/bprs_positive", site.session_path());
        let pairs = [("item-0", "1"), ("item-1", "2"), ("item-2", "1"), ("item-3", "1"), ("at", "2026-12-04T14:58")];
        assert_eq!(post_form(&site, Nurse, &bprs, &pairs).await.status, StatusCode::SEE_OTHER);
        let page = site.get(Nurse, &site.session_path()).await.body;
        assert!(page.contains("CADSS total 23"), "the CADSS-23 total raised the dissociation alert: {page}");
        assert!(page.contains("MOAA/S 3"), "the MOAA/S raised the sedation alert: {page}");
        // An admin may read the session but not score in it.
        let reply = post_form(&site, Admin, &moaas, &[("item-0", "5"), ("at", "2026-12-04T14:59")]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    })
    .await;
}

// ---- Admin pages: users and roles, API tokens, the protocol in effect, the audit log ----

/// The secret a page shows once (`data-one-time-secret`).
fn one_time_secret(page: &str) -> String {
    let start = page.find("data-one-time-secret>").unwrap_or_else(|| panic!("no one-time secret on the page: {page}"));
    let rest = &page[start + "data-one-time-secret>".len()..];
    rest[..rest.find("</code>").unwrap()].to_owned()
}

/// Signs in through the login form and returns where it sent the browser.
async fn sign_in_to(site: &Site, username: &str, password: &str, next: &str) -> Reply {
    let pairs = [("username", username), ("password", password), ("next", next)];
    call(&site.router, "POST", "/login", None, Some(&form(&pairs))).await
}

/// Whether the audit log holds a refusal (`denied`) of `action` to `role`.
async fn refusal_audited(site: &Site, role: Role, action: &str) -> bool {
    let auditor = site.actor(Role::Auditor).await;
    let events = site.app.audit_events(&auditor, 0, 1000).await.unwrap();
    events.iter().any(|event| {
        event.action == action && event.outcome == "denied" && event.actor_role.as_deref() == Some(role.as_str())
    })
}

#[tokio::test]
async fn each_admin_page_renders_for_the_roles_that_may_see_it_and_refuses_the_others_audited() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let nurse_id = site.app.user_id_of("nurse").await.unwrap().unwrap();
        let pages: [(String, &[Role], &str); 6] = [
            ("/admin/users".to_owned(), &[Admin], "user.list"),
            (format!("/admin/users/{nurse_id}/tokens"), &[Admin], "user.list"),
            ("/account/tokens".to_owned(), &ROLES, ""),
            ("/protocol".to_owned(), &[Admin, Prescriber], "protocol.read"),
            ("/audit".to_owned(), &[Admin, Auditor], "audit.read"),
            ("/audit/verify".to_owned(), &[Admin, Auditor], "audit.verify"),
        ];
        for (path, allowed, action) in &pages {
            for role in ROLES {
                let reply = site.get(role, path).await;
                let expected = if allowed.contains(&role) { StatusCode::OK } else { StatusCode::FORBIDDEN };
                assert_eq!(reply.status, expected, "{path} as {}: {}", role.as_str(), reply.body);
                assert!(reply.body.starts_with("<!doctype html>"), "{path} as {}", role.as_str());
                assert_markup_is_text(&reply.body, path);
                if expected == StatusCode::FORBIDDEN {
                    assert!(reply.body.contains("You do not have access to this page"), "{path}");
                    assert!(
                        refusal_audited(&site, role, action).await,
                        "{path} refused to {} is audited",
                        role.as_str()
                    );
                }
            }
        }
        // The navigation offers each role what it may open, and each role starts on a page it may see.
        let links = |page: &str| -> Vec<&'static str> {
            ["/worklist", "/patients", "/admin/users", "/protocol", "/audit", "/account/tokens"]
                .into_iter()
                .filter(|href| page.contains(&format!("href=\"{href}\"")))
                .collect()
        };
        for (role, expected) in [
            (Admin, &["/worklist", "/patients", "/admin/users", "/protocol", "/audit", "/account/tokens"][..]),
            (Prescriber, &["/worklist", "/patients", "/protocol", "/account/tokens"]),
            (Nurse, &["/worklist", "/patients", "/account/tokens"]),
            (Analyst, &["/patients", "/account/tokens"]),
            (Auditor, &["/audit", "/account/tokens"]),
        ] {
            let page = site.get(role, "/account/tokens").await.body;
            assert_eq!(links(&page), expected, "the navigation of {}", role.as_str());
        }
        for (username, home) in [("auditor", "/audit"), ("analyst", "/patients"), ("nurse", "/worklist")] {
            let reply = sign_in_to(&site, username, PASSWORD, "").await;
            assert_eq!(reply.location, home, "{username} starts where they may look");
        }
        // A form of the admin pages posted by another role is refused by the use case, audited, and
        // changes nothing.
        let reply = post_form(&site, Nurse, "/admin/users", &[("username", "intruder"), ("role", "admin")]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        assert!(refusal_audited(&site, Nurse, "user.create").await);
        assert_eq!(site.app.user_id_of("intruder").await.unwrap(), None);
        let reply = post_form(&site, Prescriber, &format!("/admin/users/{nurse_id}/password-reset"), &[]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(refusal_audited(&site, Prescriber, "user.password_reset").await);
        let reply = post_form(&site, Auditor, &format!("/admin/users/{nurse_id}/role"), &[("role", "auditor")]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(refusal_audited(&site, Auditor, "user.update").await);
    })
    .await;
}

#[tokio::test]
async fn an_admin_creates_changes_deactivates_unlocks_and_resets_accounts_and_a_refused_change_names_its_field() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let id_of = |name: &'static str| {
            let app = site.app.clone();
            async move { app.user_id_of(name).await.unwrap().unwrap() }
        };
        let admin_id = id_of("admin").await;

        // Created with a one-time password, shown once.
        let reply = post_form(&site, Admin, "/admin/users", &[("username", "new.nurse"), ("role", "nurse")]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.body.contains("Account new.nurse created (nurse)"), "{}", reply.body);
        let password = one_time_secret(&reply.body);
        assert!(!site.get(Admin, "/admin/users").await.body.contains(&password), "shown only once");
        let reply = sign_in_to(&site, "new.nurse", &password, "").await;
        assert_eq!(reply.location, "/password", "a one-time password must be changed first");

        // Markup in a username is refused naming the field, and what was typed comes back as text.
        let reply = post_form(&site, Admin, "/admin/users", &[("username", "<b>x</b>"), ("role", "analyst")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains("href=\"#new-username\">username: must be 1 to 64 letters"), "{}", reply.body);
        assert!(reply.body.contains("value=\"&#60;b&#62;x&#60;/b&#62;\"") && !reply.body.contains("<b>x</b>"));
        assert!(reply.body.contains("value=\"analyst\" selected"), "the chosen role is kept");
        let reply = post_form(&site, Admin, "/admin/users", &[("username", "nurse"), ("role", "nurse")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains("username: an account named nurse already exists"), "{}", reply.body);

        // An admin cannot lock themself out: the use case refuses, and the page names the field.
        let role_path = format!("/admin/users/{admin_id}/role");
        let reply = post_form(&site, Admin, &role_path, &[("role", "nurse")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        let expected =
            format!("href=\"#role-{admin_id}\">role: an admin may not deactivate or demote their own account");
        assert!(reply.body.contains(&expected), "{}", reply.body);
        assert!(reply.body.contains(&format!("id=\"role-{admin_id}\" name=\"role\" aria-invalid=\"true\"")));
        let reply = post_form(&site, Admin, &format!("/admin/users/{admin_id}/active"), &[("active", "false")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            reply.body.contains(&format!("href=\"#active-{admin_id}\">active: an admin may not")),
            "{}",
            reply.body
        );
        assert!(!reply.body.contains(&format!("/admin/users/{admin_id}/password-reset")), "no reset of oneself");
        assert_eq!(site.get(Admin, "/admin/users").await.status, StatusCode::OK, "still an admin");

        // A role change ends the account's sessions.
        let nurse_id = id_of("nurse").await;
        let reply = post_form(&site, Admin, &format!("/admin/users/{nurse_id}/role"), &[("role", "analyst")]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Admin, reply.location.split('#').next().unwrap()).await.body;
        assert!(page.contains("The role of nurse was changed"), "{page}");
        assert!(site.get(Nurse, "/worklist").await.location.starts_with("/?expired=1"));

        // Deactivated: cannot sign in; reactivated: can.
        let analyst_active = format!("/admin/users/{}/active", id_of("analyst").await);
        let reply = post_form(&site, Admin, &analyst_active, &[("active", "false")]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(sign_in_to(&site, "analyst", PASSWORD, "").await.status, StatusCode::UNAUTHORIZED);
        let page = site.get(Admin, "/admin/users").await.body;
        assert!(page.contains("<strong>Deactivated</strong>") && page.contains("Reactivate"), "{page}");
        assert_eq!(post_form(&site, Admin, &analyst_active, &[("active", "true")]).await.status, StatusCode::SEE_OTHER);
        assert_eq!(sign_in_to(&site, "analyst", PASSWORD, "").await.status, StatusCode::SEE_OTHER);

        // Locked out by failed sign-ins, unlocked by the admin.
        for _ in 0..5 {
            assert_eq!(sign_in_to(&site, "prescriber", "a wrong guess", "").await.status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(sign_in_to(&site, "prescriber", PASSWORD, "").await.status, StatusCode::TOO_MANY_REQUESTS);
        let reply = post_form(&site, Admin, &format!("/admin/users/{}/unlock", id_of("prescriber").await), &[]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        let page = site.get(Admin, reply.location.split('#').next().unwrap()).await.body;
        assert!(page.contains("Sign-in lockouts of prescriber were ended"), "{page}");
        assert_eq!(sign_in_to(&site, "prescriber", PASSWORD, "").await.status, StatusCode::SEE_OTHER);

        // A reset shows a new one-time password once; the old password and the old session end.
        let auditor_id = id_of("auditor").await;
        let reply = post_form(&site, Admin, &format!("/admin/users/{auditor_id}/password-reset"), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.body.contains("New one-time password for auditor"), "{}", reply.body);
        let password = one_time_secret(&reply.body);
        assert!(site.get(Auditor, "/audit").await.location.starts_with("/?expired=1"));
        assert_eq!(sign_in_to(&site, "auditor", PASSWORD, "").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(sign_in_to(&site, "auditor", &password, "").await.location, "/password");
        let auditor = site.actor(Admin).await;
        let actions: Vec<String> =
            site.app.audit_events(&auditor, 0, 1000).await.unwrap().into_iter().map(|e| e.action).collect();
        for action in ["user.create", "user.update", "user.unlock", "user.password_reset"] {
            assert!(actions.iter().any(|a| a == action), "{action} is audited");
        }
    })
    .await;
}

#[tokio::test]
async fn everyone_keeps_their_own_api_tokens_and_an_admin_revokes_anyones() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let whoami = |token: String| {
            let router = site.router.clone();
            async move {
                let request = Request::get("/api/v1/session")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap();
                router.oneshot(request).await.unwrap().status()
            }
        };
        // A token with markup in its label: shown once, the label as text everywhere.
        let reply = post_form(&site, Nurse, "/account/tokens", &[("label", "<i>export</i>")]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let token = one_time_secret(&reply.body);
        assert!(token.starts_with("kc_"), "{token}");
        assert_eq!(whoami(token.clone()).await, StatusCode::OK, "the token works on the API");
        let page = site.get(Nurse, "/account/tokens").await.body;
        assert!(!page.contains(&token), "shown only once");
        assert!(page.contains("&#60;i&#62;export&#60;/i&#62;") && !page.contains("<i>export"), "{page}");
        // A label the use case refuses comes back beside its field.
        let reply = post_form(&site, Nurse, "/account/tokens", &[("label", "  ")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains("href=\"#label\">label: must be 1 to 100 characters"), "{}", reply.body);
        assert!(
            reply.body.contains("id=\"label\" name=\"label\" type=\"text\" value=\"  \""),
            "what was typed is kept"
        );

        // The admin sees the nurse's tokens (the label as text) and revokes one.
        let nurse_id = site.app.user_id_of("nurse").await.unwrap().unwrap();
        let tokens_page = format!("/admin/users/{nurse_id}/tokens");
        let page = site.get(Admin, &tokens_page).await.body;
        assert!(
            page.contains("API tokens of nurse (nurse)") && page.contains("&#60;i&#62;export&#60;/i&#62;"),
            "{page}"
        );
        let revoke = page.split(&format!("action=\"{tokens_page}/")).nth(1).unwrap().split('"').next().unwrap();
        let revoke = format!("{tokens_page}/{revoke}");
        let refused = post_form(&site, Nurse, &revoke, &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "the admin's address is the admin's");
        let reply = post_form(&site, Admin, &revoke, &[]).await;
        assert_eq!(
            (reply.status, reply.location.as_str()),
            (StatusCode::SEE_OTHER, &*format!("{tokens_page}?saved=revoked"))
        );
        assert!(site.get(Admin, &reply.location).await.body.contains("The token was revoked."));
        assert_eq!(whoami(token).await, StatusCode::UNAUTHORIZED, "a revoked token no longer works");

        // The nurse revokes their own second token.
        let reply = post_form(&site, Nurse, "/account/tokens", &[("label", "laptop")]).await;
        let token = one_time_secret(&reply.body);
        let page = site.get(Nurse, "/account/tokens").await.body;
        let revoke = page.split("action=\"/account/tokens/").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let reply = post_form(&site, Nurse, &format!("/account/tokens/{revoke}"), &[]).await;
        assert_eq!((reply.status, reply.location.as_str()), (StatusCode::SEE_OTHER, "/account/tokens?saved=revoked"));
        assert_eq!(whoami(token).await, StatusCode::UNAUTHORIZED);
        let page = site.get(Nurse, "/account/tokens?saved=revoked").await.body;
        assert_eq!(page.matches("<td>Revoked ").count(), 2, "{page}");
    })
    .await;
}

#[tokio::test]
async fn the_protocol_page_shows_every_setting_with_its_source_and_flags_the_unconfirmed_ones() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        let protocol = Protocol::shipped();
        let unconfirmed = protocol.entries.iter().filter(|entry| entry.is_unconfirmed()).count();
        assert!(unconfirmed > 0 && unconfirmed < protocol.entries.len());
        let page = site.get(Role::Prescriber, "/protocol").await.body;
        assert!(page.contains(&protocol.sha256) && page.contains("rest on UNCONFIRMED sources"), "{page}");
        assert_eq!(page.matches("<tr id=\"setting-").count(), protocol.entries.len());
        assert_eq!(page.matches("UNCONFIRMED</strong>").count(), unconfirmed);
        for entry in &protocol.entries {
            assert!(page.contains(&format!("<tr id=\"setting-{}\">", entry.path)), "{} is shown", entry.path);
        }
        // Each value beside its source, flagged where the source says UNCONFIRMED.
        let day1 =
            page.split("<tr id=\"setting-dosing.esketamine_day1_mg\">").nth(1).unwrap().split("</tr>").next().unwrap();
        assert!(
            day1.contains("<code>56</code>")
                && day1.contains("UNCONFIRMED</strong>")
                && day1.contains("clinical-reference §3.5"),
            "{day1}"
        );
        let only = site.get(Role::Admin, "/protocol?unconfirmed=1").await.body;
        assert_eq!(only.matches("<tr id=\"setting-").count(), unconfirmed);
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_page_filters_by_patient_user_action_and_day_shows_usernames_and_verifies_the_chain() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        // Events of each kind: a list by the prescriber, reads of the patient by the nurse.
        assert_eq!(site.get(Prescriber, "/patients").await.status, StatusCode::OK);
        for _ in 0..30 {
            assert_eq!(site.get(Nurse, &site.overview_path()).await.status, StatusCode::OK);
        }
        let rows = |page: &str| page.matches("<tr>\n        <td>").count();
        let nurse_id = site.app.user_id_of("nurse").await.unwrap().unwrap();

        // The first page: usernames, not ids, each a link to that account's events; a next page.
        let page = site.get(Auditor, "/audit").await.body;
        assert_eq!(rows(&page), 50, "a full page");
        assert!(page.contains("<a href=\"/audit?user=nurse\">nurse</a>"), "{page}");
        assert!(!page.contains(&format!("<td>{nurse_id}</td>")), "an account is named, not numbered");
        let next =
            page.split("<a href=\"").find(|part| part.contains("rel=\"next\"")).unwrap().split('"').next().unwrap();
        assert_eq!(next, "/audit?after=50");
        let second = site.get(Auditor, next).await.body;
        assert!(second.contains("<td>51</td>") && second.contains("First page"), "{second}");

        // By patient: its own events and the list that showed it.
        let patient_page = site.get(Auditor, &format!("/audit?patient={}", site.patient_id)).await.body;
        assert!(patient_page.contains("patient.create") && patient_page.contains("patient.list"), "{patient_page}");
        assert!(!patient_page.contains("<code>session.login</code>"), "other events are left out");
        // By account and action prefix, and by day (the clinic's zone: UTC here; the clock says 4 Dec 2026).
        let page = site.get(Admin, "/audit?user=prescriber&action=patient.*").await.body;
        assert_eq!(rows(&page), page.matches("<a href=\"/audit?user=prescriber\">prescriber</a>").count());
        assert!(page.contains("patient.list") && !page.contains("patient.read"), "{page}");
        assert!(page.contains("value=\"patient.*\""), "the filters stay in the form");
        let page = site.get(Auditor, "/audit?from=2026-12-04&to=2026-12-04&action=session.login").await.body;
        assert_eq!(rows(&page), 5, "the five sign-ins of the day: {page}");
        let page = site.get(Auditor, "/audit?from=2026-12-05").await.body;
        assert!(page.contains("No events match these filters"), "{page}");

        // A filter that cannot match is shown beside its field, with what was typed (as text).
        for (query, field, message) in [
            ("from=yesterday", "from", "From must be a date such as 2026-12-04, got &#34;yesterday&#34;"),
            ("user=%3Cscript%3E", "user", "username: no account is named &#34;&#60;script&#62;&#34;"),
            ("action=drop%20table", "action", "action: must be an action such as session.login"),
            ("from=2026-12-05&to=2026-12-01", "to", "occurred_before: must be after the start of the range"),
        ] {
            let reply = site.get(Auditor, &format!("/audit?{query}")).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
            assert!(reply.body.contains(&format!("href=\"#{field}\">{message}")), "{query}: {}", reply.body);
            assert!(reply.body.contains(&format!("id=\"{field}\" name=\"{field}\"")), "{query}");
            assert!(!reply.body.contains("<script>"), "{query}");
        }

        // Verification on demand.
        let page = site.get(Auditor, "/audit/verify").await.body;
        assert!(page.contains("INTACT") && page.contains("Events checked"), "{page}");
    })
    .await;
}

#[tokio::test]
async fn a_form_posted_after_the_session_expired_goes_back_to_its_page_after_signing_in_again() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        let (cookie, csrf) = site.browser(Role::Nurse);
        let idle = site.app.session_policy().idle.as_secs();
        site.clock_seconds.fetch_add(idle + 60, Ordering::SeqCst);
        // The rating-scale form of the overview's patient, posted from its page after the session expired.
        let page = format!("/patients/{}/scales/phq9", site.patient_id);
        let request = Request::post(&page)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, "http://127.0.0.1:8080")
            .header(header::REFERER, format!("http://127.0.0.1:8080{page}?from=overview#item-3"))
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form(&[("csrf_token", csrf), ("item-0", "2"), ("given_on", "2026-12-04")])))
            .unwrap();
        let response = site.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
        let next = format!("{page}?from=overview");
        let encoded = serde_urlencoded::to_string([("next", next.as_str())]).unwrap();
        assert_eq!(location, format!("/?expired=1&{encoded}&unsent=1"));
        // The sign-in page says the form was not saved, and signs in back to the form's page.
        let login = call(&site.router, "GET", &location, None, None).await.body;
        assert!(login.contains("the form you sent was not saved") && login.contains("data-unsent-form"), "{login}");
        assert!(login.contains(&format!("name=\"next\" value=\"{next}\"")), "{login}");
        let reply = sign_in_to(&site, "nurse", PASSWORD, &next).await;
        assert_eq!((reply.status, reply.location.as_str()), (StatusCode::SEE_OTHER, next.as_str()));
        // Only a page of this site is a way back; a page a GET asked for is one too.
        let reply = sign_in_to(&site, "nurse", PASSWORD, "//elsewhere.example/phish").await;
        assert_eq!(reply.location, "/worklist");
        let (cookie, _) = site.sign_in("nurse", PASSWORD).await;
        site.clock_seconds.fetch_add(idle + 60, Ordering::SeqCst);
        let reply = call(&site.router, "GET", "/patients?q=Brien", Some(&cookie), None).await;
        assert_eq!(reply.location, "/?expired=1&next=%2Fpatients%3Fq%3DBrien");
        // Signing out tells the script to forget any kept form.
        assert!(call(&site.router, "GET", "/?signed_out=1", None, None).await.body.contains("data-signed-out"));
    })
    .await;
}

/// The value of the first `<input>` or `<option … selected>` after `marker` in a page.
fn value_after(page: &str, marker: &str) -> String {
    let rest = page.split(marker).nth(1).unwrap_or_else(|| panic!("{marker} on the page: {page}"));
    rest.split("value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_intake_pages_render_for_the_roles_that_record_the_chart_and_refuse_the_others() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let nurse = site.actor(Nurse).await;
        let episode = json!({ "diagnosis": "F33.2", "severity": "moderate" });
        let created = site.app.create_chart_record(&nurse, &site.patient_id, "episodes", &episode, None).await.unwrap();
        let intake = format!("{}/intake", site.overview_path());
        let mut pages: Vec<(String, &[Role])> = vec![
            ("/patients/new".to_owned(), &[Admin, Prescriber, Nurse]),
            (intake.clone(), &[Prescriber, Nurse]),
            (format!("{intake}/episodes/{}", created.resource_id), &[Prescriber, Nurse]),
        ];
        for section in ["episodes", "history", "concomitant", "trials", "measurements", "blood_pressures", "scales"] {
            pages.push((format!("{intake}/{section}"), &[Prescriber, Nurse]));
        }
        for (path, allowed) in &pages {
            for role in ROLES {
                let reply = site.get(role, path).await;
                let expected = if allowed.contains(&role) { StatusCode::OK } else { StatusCode::FORBIDDEN };
                assert_eq!(reply.status, expected, "{path} as {}: {}", role.as_str(), reply.body);
                assert!(reply.body.starts_with("<!doctype html>"), "{path}");
                assert_markup_is_text(&reply.body, path);
            }
        }
        assert_eq!(site.get(Nurse, &format!("{intake}/allergies")).await.status, StatusCode::NOT_FOUND);
        // Posts: without the session's token the form is refused; a role that may not record is refused
        // by the use case; an admin may create a patient (then sees the overview: admins do not chart).
        let reading = [("measured_on", "2026-12-01"), ("systolic", "120"), ("diastolic", "80")];
        let path = format!("{intake}/blood_pressures");
        let reply = call(&site.router, "POST", &path, Some(site.browser(Nurse).0), Some(&form(&reading))).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply.body.contains("This form has expired"), "{}", reply.body);
        for role in [Admin, Analyst, Auditor] {
            assert_eq!(
                post_form(&site, role, &path, &reading).await.status,
                StatusCode::FORBIDDEN,
                "{}",
                role.as_str()
            );
        }
        let demographics = [
            ("given_name", "Ann"),
            ("family_name", "Admin-Made"),
            ("birth_date", "1990-05-05"),
            ("sex_at_birth", "male"),
        ];
        let reply = post_form(&site, Admin, "/patients/new", &demographics).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.starts_with("/patients/") && !reply.location.contains("intake"), "{}", reply.location);
        assert_eq!(post_form(&site, Analyst, "/patients/new", &demographics).await.status, StatusCode::FORBIDDEN);
        // The denial is the use case's, audited.
        let auditor = site.actor(Auditor).await;
        let analyst = site.actor(Analyst).await;
        let denied = site.app.audit_events(&auditor, 0, 1000).await.unwrap().into_iter().any(|record| {
            record.outcome == "denied"
                && record.actor_id.as_deref() == Some(analyst.user_id.as_str())
                && record.action == "chart.create"
        });
        assert!(denied, "the analyst's refusal is in the audit log");
        // "New patient" for the roles that may create patients.
        for role in [Admin, Prescriber, Nurse, Analyst] {
            let list = site.get(role, "/patients").await.body;
            assert_eq!(list.contains("href=\"/patients/new\""), role != Analyst, "{}", role.as_str());
        }
        // The trials step suggests the knowledge base's names, with what each resolves to.
        let trials = site.get(Nurse, &format!("{intake}/trials")).await.body;
        assert!(trials.contains("<datalist id=\"drug-names\">") && trials.contains("list=\"drug-names\""), "{trials}");
        assert!(trials.contains("<option value=\"Zoloft\" label=\"sertraline (SSRI)\">"), "{trials}");
        assert!(trials.contains("<option value=\"venlafaxine XR\""), "{trials}");
        assert!(!trials.contains("value=\"Spravato\""), "esketamine is not a trial");
    })
    .await;
}

/// Posts an intake form as the nurse, with its CSRF token.
async fn post_intake(site: &Site, path: &str, pairs: &[(&str, &str)]) -> Reply {
    post_form(site, Role::Nurse, path, pairs).await
}

#[tokio::test]
async fn a_nurse_takes_a_new_patient_through_the_intake_to_a_trd_decision_and_corrects_a_trial() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        // A date of birth written day first is refused beside its field, everything typed kept.
        let mut demographics = vec![
            ("given_name", "Ada <i>Q</i>"),
            ("family_name", "Lovelace"),
            ("birth_date", "31/01/1980"),
            ("sex_at_birth", "female"),
            ("mrn", "MRN-ADA"),
            ("idempotency_key", "new-patient-form-1"),
        ];
        let reply = post_intake(&site, "/patients/new", &demographics).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("<a href=\"#birth_date\">Date of birth:"), "{}", reply.body);
        assert!(reply.body.contains("id=\"birth_date-error\"") && reply.body.contains("value=\"31/01/1980\""));
        assert!(
            reply.body.contains("value=\"Ada &#60;i&#62;Q&#60;/i&#62;\"") && reply.body.contains("value=\"MRN-ADA\"")
        );
        assert!(reply.body.contains("value=\"female\" checked"), "the sex chosen stays chosen");
        demographics[2] = ("birth_date", "1980-01-31");
        let reply = post_intake(&site, "/patients/new", &demographics).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.ends_with("/intake?saved=patient"), "{}", reply.location);
        // The same form sent twice creates one patient.
        let again = post_intake(&site, "/patients/new", &demographics).await;
        assert_eq!(again.location, reply.location, "a double submit answers as the first");
        let intake = reply.location.trim_end_matches("?saved=patient").to_owned();
        let overview = intake.trim_end_matches("/intake").to_owned();
        let list = site.get(Nurse, "/patients?q=1980-01-31").await.body;
        assert!(list.contains("1 found for") && list.contains("Lovelace"), "searched by date of birth: {list}");

        assert!(site.get(Prescriber, &overview).await.body.contains("No corrections"), "a new patient");
        let page = site.get(Nurse, &format!("{intake}?saved=patient")).await.body;
        assert!(page.contains("The patient was created"), "{page}");
        assert!(page.contains("id=\"task-episodes-status\">To do<"), "{page}");
        assert!(page.contains("id=\"task-trials-status\">Cannot start yet<"), "{page}");
        assert!(page.contains("id=\"task-history-status\">None recorded<"), "{page}");
        assert!(page.contains("Needed for a decision: bp (at least one seated screening reading)"), "{page}");

        // The episode, then two failed adequate trials (one refused first for a word where a number goes).
        let episode = [
            ("diagnosis", "F33.2"),
            ("onset_date", "2026-01-28"),
            ("severity", "moderate"),
            ("psychotic_features", "no"),
        ];
        let reply = post_intake(&site, &format!("{intake}/episodes"), &episode).await;
        assert_eq!((reply.status, reply.location.clone()), (StatusCode::SEE_OTHER, format!("{intake}?saved=episodes")));
        let trials_page = site.get(Nurse, &format!("{intake}/trials")).await.body;
        let episode_id = value_after(&trials_page, "id=\"episode_id\"");
        let trials = format!("{intake}/trials");
        let first = [
            ("episode_id", episode_id.as_str()),
            ("drug", "Zoloft"),
            ("daily_dose_mg", "150"),
            ("weeks", "eight"),
            ("improvement_pct", "15"),
            ("stop_reason", "no <b>better</b>"),
        ];
        let reply = post_intake(&site, &trials, &first).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(
            reply.body.contains("<a href=\"#weeks\">Weeks at that dose: must be a number, got &#34;eight&#34;</a>"),
            "{}",
            reply.body
        );
        assert!(reply.body.contains("id=\"weeks-error\"") && reply.body.contains("value=\"eight\""));
        assert!(
            reply.body.contains("value=\"Zoloft\"")
                && reply.body.contains("value=\"no &#60;b&#62;better&#60;/b&#62;\"")
        );
        let mut first = first;
        first[3] = ("weeks", "8");
        let reply = post_intake(&site, &trials, &first).await;
        assert_eq!((reply.status, reply.location.clone()), (StatusCode::SEE_OTHER, format!("{trials}?saved=1")));
        let second = [
            ("episode_id", episode_id.as_str()),
            ("drug", "venlafaxine XR"),
            ("daily_dose_mg", "225"),
            ("weeks", "10"),
            ("improvement_pct", "20"),
            ("adherence", "adequate"),
        ];
        assert_eq!(post_intake(&site, &trials, &second).await.status, StatusCode::SEE_OTHER);

        // A misspelt drug is a problem the task list names; marked entered in error, it leaves the chart.
        let typo = [("episode_id", episode_id.as_str()), ("drug", "setraline"), ("daily_dose_mg", "100")];
        assert_eq!(post_intake(&site, &trials, &typo).await.status, StatusCode::SEE_OTHER);
        let page = site.get(Nurse, &intake).await.body;
        assert!(page.contains("id=\"task-trials-status\">Problems<"), "{page}");
        assert!(page.contains("setraline: not a drug the knowledge base knows (UNKNOWN_DRUG)"), "{page}");
        let trials_page = site.get(Nurse, &trials).await.body;
        let typo_row = trials_page.split("<tr").find(|row| row.contains("<dd>setraline</dd>")).unwrap();
        let correct_typo = typo_row.split("<a href=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let form_page = site.get(Nurse, &correct_typo).await.body;
        let version = value_after(&form_page, "name=\"version\"");
        let in_error = [
            ("version", version.as_str()),
            ("episode_id", episode_id.as_str()),
            ("drug", "setraline"),
            ("daily_dose_mg", "100"),
            ("status", "entered_in_error"),
            ("reason", "misspelt; recorded again as sertraline"),
        ];
        let reply = post_intake(&site, &correct_typo, &in_error).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let trials_page = site.get(Nurse, &trials).await.body;
        let typo_row = trials_page.split("<tr").find(|row| row.contains("<dd>setraline</dd>")).unwrap();
        assert!(typo_row.contains("ENTERED IN ERROR"), "{typo_row}");

        // A checklist with nothing ticked says so; a measurement with no value is refused by the chart.
        let reply = post_intake(&site, &format!("{intake}/history"), &[("noted_on", "")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains("tick at least one"), "{}", reply.body);
        let reply = post_intake(&site, &format!("{intake}/concomitant"), &[("class", "benzodiazepine")]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let measurements = format!("{intake}/measurements");
        let reply = post_intake(&site, &measurements, &[("measured_on", "2026-12-01")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(reply.body.contains("id=\"height_cm-error\""), "{}", reply.body);
        let measured = [
            ("measured_on", "2026-12-01"),
            ("height_cm", "165"),
            ("weight_kg", "70"),
            ("pregnant", "no"),
            ("breastfeeding", "no"),
        ];
        assert_eq!(post_intake(&site, &measurements, &measured).await.status, StatusCode::SEE_OTHER);
        let reading =
            [("measured_on", "2026-12-01"), ("systolic", "128"), ("diastolic", "82"), ("idempotency_key", "bp-1")];
        let pressures = format!("{intake}/blood_pressures");
        assert_eq!(post_intake(&site, &pressures, &reading).await.status, StatusCode::SEE_OTHER);
        assert_eq!(post_intake(&site, &pressures, &reading).await.status, StatusCode::SEE_OTHER, "a double submit");
        let page = site.get(Nurse, &pressures).await.body;
        assert_eq!(page.matches("<dd>128 mmHg</dd>").count(), 1, "the reading is recorded once: {page}");

        // The task list shows each step done and what the chart decides: TRD met under both definitions.
        let page = site.get(Nurse, &intake).await.body;
        for step in ["episodes", "trials", "measurements", "blood_pressures", "concomitant"] {
            assert!(page.contains(&format!("id=\"task-{step}-status\">Done<")), "{step}: {page}");
        }
        // Trials entered within one clock second may list in either order.
        assert!(
            page.contains("2 trials: Zoloft, venlafaxine XR") || page.contains("2 trials: venlafaxine XR, Zoloft"),
            "{page}"
        );
        assert!(page.contains("<dt>TRD, label definition</dt><dd><strong>MET</strong>"), "{page}");
        let overview_page = site.get(Prescriber, &overview).await.body;
        assert!(
            overview_page.contains("<strong>MET</strong>") && overview_page.contains("Ada &#60;i&#62;Q&#60;/i&#62;")
        );

        // Correcting a trial is an amendment: a reason is needed, and the history shows old → new.
        let trials_page = site.get(Nurse, &trials).await.body;
        let zoloft_row = trials_page.split("<tr").find(|row| row.contains("<dd>Zoloft</dd>")).unwrap();
        let correct = zoloft_row.split("<a href=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert!(correct.starts_with(&format!("{trials}/")), "{correct}");
        let form_page = site.get(Nurse, &correct).await.body;
        assert!(form_page.contains("value=\"Zoloft\"") && form_page.contains("value=\"8\""), "{form_page}");
        let version = value_after(&form_page, "name=\"version\"");
        let mut correction = vec![
            ("version", version.as_str()),
            ("episode_id", episode_id.as_str()),
            ("drug", "Zoloft"),
            ("daily_dose_mg", "150"),
            ("weeks", "10"),
            ("improvement_pct", "15"),
            ("stop_reason", ""),
            ("status", "active"),
            ("reason", ""),
        ];
        let reply = post_intake(&site, &correct, &correction).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"reason-error\"") && reply.body.contains("value=\"10\""), "{}", reply.body);
        correction[8] = ("reason", "weeks <misread> from the referral letter");
        let reply = post_intake(&site, &correct, &correction).await;
        assert_eq!(
            (reply.status, reply.location.clone()),
            (StatusCode::SEE_OTHER, format!("{trials}?saved=corrected"))
        );
        for role in [Prescriber, Admin] {
            let page = site.get(role, &overview).await.body;
            let history = page.split("id=\"amendments\"").nth(1).expect("the amendments history");
            assert!(history.contains("Antidepressant trial") && history.contains("weeks: 8 → 10"), "{history}");
            assert!(history.contains("stop reason: no &#60;b&#62;better&#60;/b&#62; → — (removed)"), "{history}");
            assert!(history.contains("weeks &#60;misread&#62; from the referral letter"), "{history}");
            assert!(history.contains("status: active → entered_in_error"), "{history}");
            assert!(history.contains(if role == Nurse { "you" } else { "user " }), "{history}");
        }
        let analyst_view = site.get(Analyst, &overview).await.body;
        assert!(!analyst_view.contains("Amendments") && !analyst_view.contains("referral letter"), "{analyst_view}");
    })
    .await;
}

#[tokio::test]
async fn patients_are_found_by_date_of_birth_written_yyyy_mm_dd_and_analysts_by_pseudonym_only() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let found = site.get(Nurse, "/patients?q=1980-03-14").await.body;
        assert!(found.contains("1 found for") && found.contains("O&#39;Brien"), "{found}");
        assert!(!found.contains("Write a date of birth as YYYY-MM-DD"), "{found}");
        let other_order = site.get(Nurse, "/patients?q=14%2F03%2F1980").await.body;
        assert!(other_order.contains("0 found for") && other_order.contains("Write a date of birth as YYYY-MM-DD"));
        let analyst = site.get(Analyst, "/patients?q=1980-03-14").await;
        assert_eq!(analyst.status, StatusCode::OK);
        assert!(
            analyst.body.contains("analysts search by pseudonym") && !analyst.body.contains("Brien"),
            "{}",
            analyst.body
        );
    })
    .await;
}

/// The value of the `name="version"` hidden field on a page (the session's version the forms carry).
fn version_on(page: &str) -> String {
    page.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

/// The attributes of the input with this id, after its id.
fn input_tag<'a>(page: &'a str, id: &str) -> &'a str {
    let input =
        page.split(&format!("<input id=\"{id}\"")).nth(1).unwrap_or_else(|| panic!("no #{id} on the page: {page}"));
    input.split('>').next().unwrap()
}

/// The value attribute of the input with this id.
fn input_value(page: &str, id: &str) -> String {
    input_tag(page, id).split("value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

/// Sets the test's clock (the server's) to a UTC time, and signs every browser in again (a jump longer
/// than the idle limit ends their sessions, as it would at the clinic).
async fn set_clock(site: &mut Site, at: &str) {
    site.clock_seconds.store(at.parse::<Timestamp>().unwrap().as_second(), Ordering::SeqCst);
    let mut browsers = Vec::new();
    for role in ROLES {
        let (cookie, csrf) = site.sign_in(role.as_str(), PASSWORD).await;
        browsers.push((role, cookie, csrf));
    }
    site.browsers = browsers;
}

impl Site {
    /// A chart that makes a case (V5's, with psychotic features in the episode, a blocking-relative
    /// finding a prescriber may override), entered through the chart's use cases as intake does.
    async fn seed_chart(&self) {
        let nurse = self.actor(Role::Nurse).await;
        let record = |section: &'static str, body: serde_json::Value| {
            let nurse = nurse.clone();
            async move { self.app.create_chart_record(&nurse, &self.patient_id, section, &body, None).await.unwrap() }
        };
        let episode = record(
            "episodes",
            json!({ "diagnosis": "F33.2", "duration_months": 18, "severity": "severe", "psychotic_features": true }),
        )
        .await
        .resource_id;
        for trial in [
            json!({ "drug": "duloxetine", "daily_dose_mg": 60, "weeks": 8, "improvement_pct": 20, "adherence": "adequate" }),
            json!({ "drug": "bupropion XL", "daily_dose_mg": 300, "weeks": 10, "improvement_pct": 15,
                    "stop_reason": "no response" }),
        ] {
            let mut trial = trial;
            trial["episode_id"] = json!(episode);
            record("trials", trial).await;
        }
        record(
            "measurements",
            json!({ "measured_on": "2026-11-20", "height_cm": 163, "weight_kg": 80, "pregnant": false }),
        )
        .await;
        record("blood_pressures", json!({ "measured_on": "2026-11-20", "systolic": 126, "diastolic": 80 })).await;
        record("scales", json!({ "scale": "madrs", "administered_on": "2026-11-20", "total": 36 })).await;
    }
}

#[tokio::test]
async fn the_printable_records_and_the_rems_form_render_for_the_roles_that_may_see_them() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        site.seed_chart().await;
        use Role::*;
        let pages: [(String, &[Role]); 5] = [
            (format!("{}/summary", site.overview_path()), &[Admin, Prescriber, Nurse]),
            (format!("{}/record", site.session_path()), &[Admin, Prescriber, Nurse]),
            (format!("{}/rems-form", site.session_path()), &[Admin, Prescriber, Nurse]),
            (format!("{}/after-care", site.session_path()), &[Admin, Prescriber, Nurse]),
            (format!("{}/notes", site.session_path()), &[Admin, Prescriber, Nurse]),
        ];
        for (path, allowed) in &pages {
            for role in ROLES {
                let reply = site.get(role, path).await;
                let expected = if allowed.contains(&role) { StatusCode::OK } else { StatusCode::FORBIDDEN };
                assert_eq!(reply.status, expected, "{path} as {}: {}", role.as_str(), reply.body);
                assert!(reply.body.starts_with("<!doctype html>"), "{path}");
                if expected == StatusCode::FORBIDDEN {
                    assert!(reply.body.contains("You do not have access to this page"), "{path}");
                } else {
                    assert!(
                        reply.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
                        "{path}: the name as text"
                    );
                }
                assert_markup_is_text(&reply.body, path);
            }
        }
        // The summary documents TRD for prior authorisation: the diagnosis, each trial with its dose,
        // duration, adherence and outcome, staging, the scale scores and the decision with its rules.
        let summary = site.get(Nurse, &pages[0].0).await.body;
        for text in [
            "F33.2",
            "duloxetine",
            "60 mg/day",
            "8 weeks",
            "adequate",
            "20 %",
            "bupropion XL",
            "no response",
            "Maudsley staging",
            "MADRS",
            "<td>36</td>",
            "ketacare-rules/",
            site.app.protocol().sha256.as_str(),
            "PSYCHOTIC_FEATURES",
            "data-print",
        ] {
            assert!(summary.contains(text), "{text} on the summary: {summary}");
        }
        assert!(!summary.contains("<form method=\"post\" action=\"/patients"), "no forms on the summary");
        // The after-care sheet: no driving until the next day after sleep, and whom to call.
        let after_care = site.get(Nurse, &pages[3].0).await.body;
        for text in ["Do not drive", "after a night's sleep", "Whom to call", "--clinic-phone", "data-print"] {
            assert!(after_care.contains(text), "{text} on the after-care sheet: {after_care}");
        }
        // The session is not discharged: no note may be written yet, and the page says why.
        let notes = site.get(Nurse, &pages[4].0).await.body;
        assert!(notes.contains("written once the session is discharged"), "{notes}");
        // Every role that may see the overview and read the chart finds the print links there.
        let overview = site.get(Nurse, &site.overview_path()).await.body;
        assert!(overview.contains(&format!("href=\"{}/summary\"", site.overview_path())), "{overview}");
        assert!(overview.contains(&format!("href=\"{}/record\"", site.session_path())), "{overview}");
        assert!(!site.get(Analyst, &site.overview_path()).await.body.contains("/summary\""));
    })
    .await;
}

#[tokio::test]
async fn a_nurse_gives_the_dose_with_its_lot_and_corrects_a_dose_and_an_entry() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let doses = format!("{}/administrations", site.session_path());
        // The form is prefilled from the signed order; roles that do not run sessions do not get it.
        let page = site.get(Nurse, &site.session_path()).await.body;
        assert!(page.contains("Give the dose") && page.contains("56 mg (2 × 28 mg devices)"), "{page}");
        assert_eq!(input_value(&page, "dose-dose_mg"), "56");
        assert_eq!(input_value(&page, "dose-device_count"), "2");
        assert!(page.contains("intranasal"), "the route: {page}");
        assert!(!site.get(Admin, &site.session_path()).await.body.contains("Give the dose"));
        let dose = |lot: &'static str| {
            [
                ("drug", "esketamine"),
                ("dose_mg", "56"),
                ("device_count", "2"),
                ("started_at", "2026-12-04T15:00"),
                ("lot_number", lot),
            ]
        };

        // No pre-dose blood pressure yet: the gate is indeterminate and the server refuses the dose; the
        // refusal links to the gate and everything typed is kept.
        let reply = post_form(&site, Nurse, &doses, &dose("LOT-<b>1</b>")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("The dose was not recorded") && reply.body.contains("GATE_INDETERMINATE"));
        assert!(reply.body.contains("href=\"#gate\""), "the summary links to the gate: {}", reply.body);
        assert_eq!(input_value(&reply.body, "dose-lot_number"), "LOT-&#60;b&#62;1&#60;/b&#62;");
        assert_markup_is_text(&reply.body, "the refused dose");
        // A refusal by the use case for the admin, who may read the session but not give a dose.
        assert_eq!(post_form(&site, Admin, &doses, &dose("LOT-A1")).await.status, StatusCode::FORBIDDEN);

        // Two pre-dose readings 6 minutes apart; a lot left out is refused beside its field.
        for (at, systolic) in [("2026-12-04T14:50", "128"), ("2026-12-04T14:56", "126")] {
            let pairs = [("at", at), ("systolic", systolic), ("diastolic", "78"), ("heart_rate", "70")];
            let path = format!("{}/observations", site.session_path());
            assert_eq!(post_form(&site, Nurse, &path, &pairs).await.status, StatusCode::SEE_OTHER);
        }
        let reply = post_form(&site, Nurse, &doses, &dose("")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"dose-lot_number-error\"") && reply.body.contains("lot_number: is required"));
        let reply = post_form(&site, Nurse, &doses, &dose("LOT-A1")).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.ends_with("?done=dose#dose"), "{}", reply.location);
        let page = site.get(Nurse, reply.location.trim_end_matches("#dose")).await.body;
        assert!(
            page.contains("The dose was recorded")
                && page.contains("56 mg esketamine (2 devices) at 15:00, lot LOT-A1")
        );
        assert!(page.contains("<summary>Give another dose</summary>"), "the next dose is a deliberate choice: {page}");
        // The dose links to the controlled-substance page's withdrawal form, filled in for it.
        let withdraw = page
            .split("<a href=\"/controlled-substances?")
            .nth(1)
            .expect("a withdrawal link")
            .split('"')
            .next()
            .unwrap();
        assert!(
            withdraw.contains("lot_number=LOT-A1") && withdraw.contains(&format!("patient_id={}", site.patient_id)),
            "{withdraw}"
        );
        // One more device is over a dose limit (84 mg only after a prior 56 mg): refused beside the dose,
        // what was typed kept.
        let one_more = [
            ("drug", "esketamine"),
            ("dose_mg", "28"),
            ("device_count", "1"),
            ("started_at", "2026-12-04T15:00"),
            ("lot_number", "LOT-A9"),
        ];
        let reply = post_form(&site, Nurse, &doses, &one_more).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(
            reply.body.contains("id=\"dose-dose_mg-error\"") && reply.body.contains("ESKETAMINE_MAX_AFTER_LOWER_DOSE"),
            "{}",
            reply.body
        );
        assert_eq!(input_value(&reply.body, "dose-lot_number"), "LOT-A9");

        // The lot was misread: the dose is corrected with a reason (and only with one), then recorded anew
        // from the form it comes back in.
        let correct = page
            .split("action=\"")
            .find(|part| part.contains("/entered-in-error") && part.contains("/administrations/"))
            .unwrap();
        let correct = correct.split('"').next().unwrap().to_owned();
        let version = version_on(&page);
        let reply = post_form(&site, Nurse, &correct, &[("version", &version), ("reason", " ")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(
            reply.body.contains("-reason-error\"") && reply.body.contains("a correction needs a reason"),
            "{}",
            reply.body
        );
        let reason = "lot misread from the <b>box</b>";
        let reply = post_form(&site, Nurse, &correct, &[("version", &version), ("reason", reason)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(
            reply.location.contains("?reenter_dose=") && reply.location.ends_with("#give-dose"),
            "{}",
            reply.location
        );
        let page = site.get(Nurse, reply.location.trim_end_matches("#give-dose")).await.body;
        assert!(page.contains("is marked entered in error") && page.contains("ENTERED IN ERROR"), "{page}");
        assert_eq!(input_value(&page, "dose-lot_number"), "LOT-A1");
        assert_eq!(input_value(&page, "dose-started_at"), "2026-12-04T15:00");
        assert!(!input_tag(&page, "dose-started_at").contains("data-defaults-to-now"), "the dose's own time stays");
        let reply = post_form(&site, Nurse, &doses, &dose("LOT-A2")).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Nurse, &site.session_path()).await.body;
        assert!(
            page.contains("lot LOT-A2") && page.contains("<s>56 mg esketamine (2 devices) at 15:00, lot LOT-A1</s>"),
            "{page}"
        );

        // An entry is corrected the same way: a reason is required; the entry comes back in the entry
        // form at its time, as a late entry saying which entry it replaces.
        let correct = format!("{}/observations/1/entered-in-error", site.session_path());
        let version = version_on(&page);
        let reply = post_form(&site, Nurse, &correct, &[("version", &version), ("reason", "")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"reason-1-error\"") && reply.body.contains("Entry 1 was not corrected"));
        let reply = post_form(&site, Nurse, &correct, &[("version", &version), ("reason", "cuff too small")]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.ends_with("?reenter=1#entry"), "{}", reply.location);
        let page = site.get(Nurse, reply.location.trim_end_matches("#entry")).await.body;
        assert!(page.contains("Entry 1 is marked entered in error"), "{page}");
        assert_eq!(input_value(&page, "systolic"), "128");
        assert_eq!(input_value(&page, "heart_rate"), "70");
        assert_eq!(input_value(&page, "at"), "2026-12-04T14:50");
        assert_eq!(input_value(&page, "late_entry_reason"), "replaces entry 1, entered in error: cuff too small");
        assert!(!input_tag(&page, "at").contains("data-defaults-to-now"), "the entry's own time stays");
        let pairs = [
            ("at", "2026-12-04T14:50"),
            ("systolic", "132"),
            ("diastolic", "78"),
            ("heart_rate", "70"),
            ("late_entry_reason", "replaces entry 1, entered in error: cuff too small"),
        ];
        let reply = post_form(&site, Nurse, &format!("{}/observations", site.session_path()), &pairs).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Nurse, &site.session_path()).await.body;
        assert!(page.contains("<td>132/78</td>") && page.contains("late entry: replaces entry 1"), "{page}");
        // The printable record has the dose with its lot and the corrections.
        let record = site.get(Prescriber, &format!("{}/record", site.session_path())).await.body;
        assert!(record.contains("lot LOT-A2") && record.contains("ENTERED IN ERROR") && record.contains("132/78"));
        assert!(!record.contains("<form method=\"post\" action=\"/patients"), "no forms on the record");
    })
    .await;
}

#[tokio::test]
async fn the_rems_form_shows_what_is_missing_and_is_submitted_once_complete() {
    each_backend(|database| async move {
        let mut site = Site::new(database.store).await;
        use Role::*;
        let rems = format!("{}/rems-form", site.session_path());
        let page = site.get(Nurse, &rems).await.body;
        assert!(page.contains("tag--missing") && page.contains("✖</span> MISSING"), "{page}");
        assert!(page.contains("href=\"#rems-patient-first-name\""), "a missing detail links to its field: {page}");
        assert!(
            page.contains(&format!("href=\"{}#give-dose\"", site.session_path())),
            "the lot links to the dose form"
        );
        assert!(
            page.contains("Submit the REMS form</button>")
                && page.contains(" disabled aria-describedby=\"submit-hint\"")
        );
        // The details are filled in from the patient's record for the nurse to check: not yet recorded.
        assert_eq!(input_value(&page, "rems-patient-first-name"), "&#60;script&#62;alert(1)&#60;/script&#62;");
        assert!(page.contains("Filled in from the patient&#39;s record"), "{page}");
        let admin_view = site.get(Admin, &rems).await.body;
        assert!(!admin_view.contains("Submit the REMS form") && !admin_view.contains("Save the details"));

        // Submitting anyway: the server refuses an incomplete form, naming what is missing.
        let submission = format!("{rems}/submission");
        let reply = post_form(&site, Nurse, &submission, &[("version", &version_on(&page))]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(
            reply.body.contains("The form was not submitted")
                && reply.body.contains("the form is incomplete; missing:")
        );

        // The details: a date that is not one comes back beside its field, everything typed kept.
        let details = format!("{rems}/details");
        let mut fields = vec![
            ("rems.edition", "respiratory"),
            ("rems.patient.first_name", HOSTILE_GIVEN_NAME),
            ("rems.patient.last_name", "O'Brien"),
            ("rems.patient.birth_date", "14 March 1980"),
            ("rems.patient.sex", "female"),
            ("rems.patient.first_treatment", "yes"),
            ("rems.patient.enrolled", "yes"),
            ("rems.medication.benzodiazepines", "no"),
            ("rems.medication.non_benzodiazepine_sedative_hypnotics", "no"),
            ("rems.medication.psychostimulants", "no"),
            ("rems.medication.maois", "no"),
            ("rems.medication.opioids", "no"),
            ("rems.medication.other_sedating_drugs", "no"),
            ("rems.monitoring_hcp.name", "N. Nurse"),
            ("rems.monitoring_hcp.phone", "555-0100"),
            ("rems.monitoring_hcp.email", "nurse@clinic.example"),
            ("rems.setting.name", "Clinic"),
            ("rems.setting.address", "1 Example Street"),
            ("rems.serious_adverse_events", "none"),
        ];
        let version = version_on(&page);
        let mut with_version = fields.clone();
        with_version.push(("version", &version));
        let reply = post_form(&site, Nurse, &details, &with_version).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"rems-patient-birth-date-error\""), "{}", reply.body);
        assert_eq!(input_value(&reply.body, "rems-monitoring-hcp-email"), "nurse@clinic.example");
        fields[3] = ("rems.patient.birth_date", "1980-03-14");
        let mut with_version = fields.clone();
        with_version.push(("version", &version));
        let reply = post_form(&site, Nurse, &details, &with_version).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Nurse, reply.location.trim_end_matches("#preview")).await.body;
        assert!(page.contains("The form&#39;s details were saved") && page.contains("nurse@clinic.example"), "{page}");
        assert_markup_is_text(&page, "the REMS form");
        // Changing details already recorded needs a reason: refused beside it, what was typed kept.
        let mut changed = fields.clone();
        changed[15] = ("rems.monitoring_hcp.email", "other@clinic.example");
        let version = version_on(&page);
        changed.push(("version", &version));
        let reply = post_form(&site, Nurse, &details, &changed).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"rems-details-reason-error\""), "{}", reply.body);
        assert_eq!(input_value(&reply.body, "rems-monitoring-hcp-email"), "other@clinic.example");

        // The session through the pages: two pre-dose readings, the checks, the dose with its lot, a
        // reading 40 minutes after it, one at two hours, the escort, discharge.
        let observations = format!("{}/observations", site.session_path());
        for (at, systolic) in [("2026-12-04T14:50", "128"), ("2026-12-04T14:56", "126")] {
            let pairs = [("at", at), ("systolic", systolic), ("diastolic", "78"), ("heart_rate", "70"), ("spo2", "98")];
            assert_eq!(post_form(&site, Nurse, &observations, &pairs).await.status, StatusCode::SEE_OTHER);
        }
        let dose = [
            ("drug", "esketamine"),
            ("dose_mg", "56"),
            ("device_count", "2"),
            ("started_at", "2026-12-04T15:00"),
            ("lot_number", "LOT-R1"),
        ];
        let reply = post_form(&site, Nurse, &format!("{}/administrations", site.session_path()), &dose).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        set_clock(&mut site, "2026-12-04T15:41:00Z").await;
        let pairs = [
            ("at", "2026-12-04T15:40"),
            ("systolic", "134"),
            ("diastolic", "82"),
            ("heart_rate", "74"),
            ("spo2", "97"),
            ("moaas", "4"),
        ];
        assert_eq!(post_form(&site, Nurse, &observations, &pairs).await.status, StatusCode::SEE_OTHER);
        set_clock(&mut site, "2026-12-04T17:05:00Z").await;
        let pairs = [
            ("at", "2026-12-04T17:00"),
            ("systolic", "124"),
            ("diastolic", "78"),
            ("heart_rate", "70"),
            ("spo2", "98"),
            ("respiratory_rate", "14"),
            ("moaas", "5"),
            ("cadss", "0"),
        ];
        assert_eq!(post_form(&site, Nurse, &observations, &pairs).await.status, StatusCode::SEE_OTHER);
        let page = site.get(Nurse, &site.session_path()).await.body;
        let reply = post_form(
            &site,
            Nurse,
            &format!("{}/discharge-assessment", site.session_path()),
            &[("version", &version_on(&page)), ("discharge.escort_present", "yes")],
        )
        .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Nurse, &site.session_path()).await.body;
        assert!(page.contains("Discharge: READY"), "{page}");
        let reply =
            post_form(&site, Nurse, &format!("{}/discharge", site.session_path()), &[("version", &version_on(&page))])
                .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        // Discharged, the form is due: the worklist's item opens the form itself, not the session page.
        let worklist = site.get(Nurse, "/worklist").await.body;
        assert!(worklist.contains(&format!("<a href=\"{rems}\">")), "the worklist links to the form: {worklist}");
        assert!(!worklist.contains("#rems\""), "not to the session page's REMS section: {worklist}");

        // Complete: Submit is enabled, and the server takes it, once.
        let page = site.get(Nurse, &rems).await.body;
        assert!(page.contains("✓</span> COMPLETE") && !page.contains(" disabled aria-describedby"), "{page}");
        assert!(page.contains("LOT-R1") && page.contains("134/82"), "{page}");
        let version = version_on(&page);
        let reply = post_form(&site, Nurse, &submission, &[("version", &version)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let page = site.get(Nurse, &reply.location).await.body;
        assert!(page.contains("was submitted") && page.contains("SUBMITTED"), "{page}");
        assert!(!page.contains("Submit the REMS form"), "no second submission is offered");
        let reply = post_form(&site, Nurse, &submission, &[("version", &version)]).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        let record = site.get(Nurse, &format!("{}/record", site.session_path())).await.body;
        assert!(
            record.contains("Discharged") && record.contains("REMS Patient Monitoring Form: submitted"),
            "{record}"
        );
        // The prescriber signs; the printouts name who discharged, signed and submitted, never by id.
        let page = site.get(Prescriber, &site.session_path()).await.body;
        let signature = format!("{}/signature", site.session_path());
        let reply = post_form(&site, Prescriber, &signature, &[("version", &version_on(&page))]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let record = site.get(Admin, &format!("{}/record", site.session_path())).await.body;
        assert!(record.contains(" by nurse</dd>") && record.contains(" by prescriber</dd>"), "{record}");
        assert!(!record.contains("by user ") && !record.contains("by you"), "{record}");
        let own = site.get(Prescriber, &format!("{}/record", site.session_path())).await.body;
        assert!(own.contains(" by prescriber</dd>"), "one's own name on a printout, not \"you\": {own}");
        let form = site.get(Prescriber, &rems).await.body;
        assert!(form.contains(" by nurse") && !form.contains("by user "), "{form}");
    })
    .await;
}

#[tokio::test]
async fn a_prescriber_overrides_an_eligibility_finding_with_a_reason_and_only_with_one() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        site.seed_chart().await;
        use Role::*;
        let page = site.get(Prescriber, &site.overview_path()).await.body;
        assert!(page.contains("Eligibility overrides") && page.contains("Override PSYCHOTIC_FEATURES"), "{page}");
        assert_eq!(input_value(&page, "override-psychotic-features-reason"), "", "the reason is empty by default");
        for role in [Nurse, Admin] {
            assert!(!site.get(role, &site.overview_path()).await.body.contains("Override PSYCHOTIC_FEATURES"));
        }
        let path = format!("{}/eligibility-overrides", site.overview_path());
        let reply = post_form(&site, Prescriber, &path, &[("rule", "PSYCHOTIC_FEATURES"), ("reason", "  ")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("id=\"override-psychotic-features-reason-error\""), "{}", reply.body);
        // A nurse posting the form anyway is refused by the use case (and audited there).
        let reply = post_form(&site, Nurse, &path, &[("rule", "PSYCHOTIC_FEATURES"), ("reason", "x")]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        let reason = "reviewed: <b>benefit</b> outweighs risk";
        let reply = post_form(&site, Prescriber, &path, &[("rule", "PSYCHOTIC_FEATURES"), ("reason", reason)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.ends_with("?saved=override#decisions-title"), "{}", reply.location);
        let page = site.get(Prescriber, reply.location.trim_end_matches("#decisions-title")).await.body;
        assert!(page.contains("The override was recorded") && page.contains("Overridden by"), "{page}");
        assert!(!page.contains("Override PSYCHOTIC_FEATURES"), "nothing left to override: {page}");
        assert_markup_is_text(&page, "the overview after an override");
        // Who overrode it is named (the account's username), on the overview and the printed summary.
        assert!(page.contains("Overridden by prescriber: reviewed: &#60;b&#62;benefit"), "{page}");
        let summary = site.get(Nurse, &format!("{}/summary", site.overview_path())).await.body;
        assert!(summary.contains("overridden by prescriber: reviewed"), "{summary}");

        // The override in effect can be withdrawn, by a prescriber, with a reason.
        assert!(page.contains("Overrides in effect") && page.contains("Withdraw the override of PSYCHOTIC_FEATURES"));
        assert!(!site.get(Nurse, &site.overview_path()).await.body.contains("Withdraw the override"));
        let withdraw = page.split("action=\"").find(|part| part.contains("/withdrawal\"")).unwrap();
        let withdraw = withdraw.split('"').next().unwrap().to_owned();
        let form_tail = page.split(&format!("action=\"{withdraw}\"")).nth(1).unwrap();
        let version = form_tail.split("name=\"version\" value=\"").nth(1).unwrap().split('"').next().unwrap();
        let anchor = form_tail.split("id=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert_eq!(input_value(&page, &format!("{anchor}-reason")), "", "the reason is empty by default");
        let reply = post_form(&site, Prescriber, &withdraw, &[("version", version), ("reason", " ")]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.body.contains("The override was not withdrawn"), "{}", reply.body);
        assert!(reply.body.contains(&format!("id=\"{anchor}-reason-error\"")), "beside its field: {}", reply.body);
        let reason = "psychotic features <i>resolved</i>? no: re-review";
        let reply = post_form(&site, Nurse, &withdraw, &[("version", version), ("reason", reason)]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "the use case refuses a nurse");
        let reply = post_form(&site, Prescriber, &withdraw, &[("version", version), ("reason", reason)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply.location.ends_with("?saved=override-withdrawn#decisions-title"), "{}", reply.location);
        let page = site.get(Prescriber, reply.location.trim_end_matches("#decisions-title")).await.body;
        assert!(page.contains("The override was withdrawn"), "{page}");
        assert!(!page.contains("Overridden by") && !page.contains("Overrides in effect"), "{page}");
        assert!(page.contains("Override PSYCHOTIC_FEATURES"), "the finding holds again, to override anew: {page}");
        assert!(page.contains("re-review"), "the withdrawal's reason is under Amendments: {page}");
        assert_markup_is_text(&page, "the overview after a withdrawal");
        // The same form sent again (its version now old) changes nothing and says why.
        let reply = post_form(&site, Prescriber, &withdraw, &[("version", version), ("reason", reason)]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        // Audited as a chart amendment of the override, by the prescriber.
        let admin = site.actor(Admin).await;
        let query = ketacare_app::AuditQuery {
            action: Some("chart.amend".to_owned()),
            username: Some("prescriber".to_owned()),
            ..ketacare_app::AuditQuery::default()
        };
        let events = site.app.audit_log(&admin, &query).await.unwrap().events;
        let withdrawn: Vec<_> = events.iter().filter(|event| event.resource.contains("/chart/overrides/")).collect();
        let succeeded = withdrawn.iter().filter(|event| event.outcome == "success").count();
        assert_eq!(succeeded, 1, "one withdrawal written, the refusals audited too: {withdrawn:?}");
        assert!(withdrawn.len() >= 2, "the refused withdrawals are audited: {withdrawn:?}");
    })
    .await;
}

#[tokio::test]
async fn consents_are_recorded_withdrawn_and_printed_on_their_page_and_admins_keep_the_forms() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        let consents = format!("{}/consents", site.overview_path());
        // The overview links to the consents; the page says what the gate reads today.
        assert!(site.get(Nurse, &site.overview_path()).await.body.contains(&format!("href=\"{consents}\"")));
        let page = site.get(Nurse, &consents).await.body;
        assert!(page.contains("Current consent on file") && page.contains("No consent on file"), "{page}");
        assert!(page.contains("Consent to esketamine (v1)") && page.contains("Record the consent</button>"), "{page}");
        assert_markup_is_text(&page, "consents page");
        for role in [Analyst, Auditor] {
            assert_eq!(site.get(role, &consents).await.status, StatusCode::FORBIDDEN, "{role:?}");
        }
        assert!(!site.get(Admin, &consents).await.body.contains("Record the consent</button>"), "admins read only");

        // A refused consent names its field and keeps what was typed.
        let (_, csrf) = site.browser(Nurse);
        let typed = [
            ("csrf_token", csrf),
            ("form_id", "esketamine-treatment"),
            ("signed_on", "2026-11-30"),
            ("signer_name", "Legal Rep"),
            ("signer_relationship", "legal_representative"),
            ("witness_username", "nobody"),
        ];
        let refused = post_form(&site, Nurse, &consents, &typed[1..]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.body.contains("href=\"#consent-witness_username\""), "{}", refused.body);
        assert!(
            refused.body.contains("value=\"Legal Rep\"") && refused.body.contains("value=\"nobody\""),
            "kept: {}",
            refused.body
        );
        let typed = [
            ("form_id", "esketamine-treatment"),
            ("signed_on", "2026-11-30"),
            ("signer_name", "Legal Rep"),
            ("signer_relationship", "legal_representative"),
            ("witness_username", "prescriber"),
        ];
        let recorded = post_form(&site, Nurse, &consents, &typed).await;
        assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.body);
        let page = site.get(Nurse, &recorded.location).await.body;
        assert!(
            page.contains("Legal Rep (legal representative)") && page.contains("The consent was recorded"),
            "{page}"
        );

        // Withdrawal needs a reason; once withdrawn the gate holds and the session page says where to go.
        let listed = site.app.patient_consents(&site.actor(Nurse).await, &site.patient_id).await.unwrap();
        let newest = listed.consents.last().unwrap();
        let change = format!("{consents}/{}/change", newest.consent_id);
        let version = newest.version.to_string();
        let no_reason = post_form(&site, Nurse, &change, &[("status", "withdrawn"), ("version", &version)]).await;
        assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(no_reason.body.contains("needs a reason"), "{}", no_reason.body);
        let withdrawn = post_form(
            &site,
            Nurse,
            &change,
            &[("status", "withdrawn"), ("version", &version), ("reason", "wants to stop")],
        )
        .await;
        assert_eq!(withdrawn.status, StatusCode::SEE_OTHER, "{}", withdrawn.body);
        let page = site.get(Nurse, &consents).await.body;
        assert!(page.contains("Consent withdrawn") && page.contains("wants to stop"), "{page}");
        let session = site.get(Nurse, &site.session_path()).await.body;
        assert!(session.contains(&format!("<a href=\"{consents}\">Record the consent</a>")), "{session}");

        // The form to print carries the patient's name and the version's text; admins keep the forms.
        let print = site.get(Nurse, &format!("{consents}/print?form=esketamine-treatment")).await.body;
        assert!(
            print.contains("Dissociation, sedation, misuse.")
                && print.contains("Witness:")
                && print.contains("data-print"),
            "{print}"
        );
        assert_eq!(site.get(Nurse, "/admin/consent-forms").await.status, StatusCode::FORBIDDEN);
        let forms = site.get(Admin, "/admin/consent-forms").await.body;
        assert!(forms.contains("esketamine-treatment") && forms.contains("365 days"), "{forms}");
        let bad = post_form(
            &site,
            Admin,
            "/admin/consent-forms",
            &[
                ("form_id", "Bad Id"),
                ("modality", "esketamine"),
                ("title", "t"),
                ("body_text", "text"),
                ("valid_for_days", ""),
            ],
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("href=\"#new-form_id\"") && bad.body.contains("value=\"Bad Id\""), "{}", bad.body);
        let stored = post_form(
            &site,
            Admin,
            "/admin/consent-forms",
            &[
                ("form_id", "esketamine-treatment"),
                ("modality", "esketamine"),
                ("title", "Consent to esketamine"),
                ("body_text", "Version two."),
                ("valid_for_days", "180"),
            ],
        )
        .await;
        assert_eq!(stored.status, StatusCode::SEE_OTHER, "{}", stored.body);
        let forms = site.get(Admin, "/admin/consent-forms").await.body;
        assert!(forms.contains("Version two.") && forms.contains("180 days"), "{forms}");
    })
    .await;
}

/// The text of `page` between the first `start` and the `end` after it.
fn between(page: &str, start: &str, end: &str) -> String {
    let from = page.find(start).unwrap_or_else(|| panic!("{start} on the page: {page}")) + start.len();
    page[from..].split(end).next().unwrap().to_owned()
}

/// The seeded session, run through the use cases to discharge: two pre-dose readings, the dose with its
/// lot, a settled reading 2 hours later and the escort.
async fn discharge_the_seeded_session(site: &mut Site) {
    let nurse = site.actor(Role::Nurse).await;
    let (patient, session) = (site.patient_id.clone(), site.session_id.clone());
    set_clock(site, "2026-12-04T15:31:00Z").await;
    let settled = |at: &str| {
        json!({ "at": at, "systolic_mmhg": 126, "diastolic_mmhg": 78, "heart_rate_bpm": 72, "spo2_percent": 98,
                "respiratory_rate_per_min": 14, "moaas": 5, "cadss_total": 0, "crisis_symptoms": [] })
        .to_string()
    };
    let second = json!({ "at": "2026-12-04T15:26", "systolic_mmhg": 124, "diastolic_mmhg": 78 }).to_string();
    for observation in [settled("2026-12-04T15:20"), second] {
        site.app.record_observation(&nurse, &patient, &session, &observation, None).await.unwrap();
    }
    let dose = json!({ "drug": "esketamine", "dose_mg": 56, "device_count": 2, "lot_number": "LOT-NOTE",
                       "started_at": "2026-12-04T15:30" });
    site.app.record_administration(&nurse, &patient, &session, &dose.to_string(), None).await.unwrap();
    set_clock(site, "2026-12-04T17:35:00Z").await;
    site.app.record_observation(&nurse, &patient, &session, &settled("2026-12-04T17:30"), None).await.unwrap();
    let view = site.app.get_session(&nurse, &patient, &session).await.unwrap();
    let escort = json!({ "discharge": { "escort_present": true } }).to_string();
    let view = site.app.update_session(&nurse, &patient, &session, view.version, &escort).await.unwrap();
    site.app.discharge_session(&nurse, &patient, &session, view.version).await.unwrap();
}

#[tokio::test]
async fn a_nurse_signs_the_session_note_on_its_page_and_a_prescriber_cosigns_it_from_the_worklist() {
    each_backend(|database| async move {
        let mut site = Site::new(database.store).await;
        discharge_the_seeded_session(&mut site).await;
        let notes = format!("{}/notes", site.session_path());
        use Role::*;

        // The draft generated from the session, saved as typed.
        let page = site.get(Nurse, &notes).await.body;
        assert!(page.contains("lot LOT-NOTE") && page.contains("Pre-dose gate: proceed."), "{page}");
        assert_markup_is_text(&page, &notes);
        let text = "Esketamine 56 mg, lot LOT-NOTE.\r\nAssessment and plan: continue.";
        let saved = post_form(&site, Nurse, &notes, &[("text", text)]).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let page = site.get(Nurse, &format!("{notes}?done=draft")).await.body;
        assert!(page.contains("The draft was saved") && page.contains("DRAFT — not signed"), "{page}");
        let note_id = between(&page, &format!("action=\"{notes}/"), "/edit\"");
        let hash = between(&page, "name=\"text_sha256\" value=\"", "\"");
        assert_eq!(hash, ketacare_core::notes::note_text_sha256(text), "the form signs the text as saved");

        // A stale hash (the text changed since the page was read) is refused on the page; then signed.
        let stale =
            post_form(&site, Nurse, &format!("{notes}/{note_id}/signature"), &[("version", "1"), ("text_sha256", "0")])
                .await;
        assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(stale.body.contains("read the note again before signing"), "{}", stale.body);
        let signed = post_form(
            &site,
            Nurse,
            &format!("{notes}/{note_id}/signature"),
            &[("version", "1"), ("text_sha256", &hash)],
        )
        .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
        let page = site.get(Nurse, &notes).await.body;
        assert!(page.contains("SIGNED — awaiting a prescriber&#39;s co-signature") && page.contains(&hash), "{page}");
        assert!(
            !page.contains("/signature\"") && page.contains("Add an addendum"),
            "locked: no sign form, an addendum instead"
        );
        let edit =
            post_form(&site, Nurse, &format!("{notes}/{note_id}/edit"), &[("version", "1"), ("text", "changed")]).await;
        assert_eq!(edit.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(edit.body.contains("a signed note is locked"), "{}", edit.body);

        // The prescribers' worklist lists it; the nurse's has no such list; the prescriber co-signs.
        let worklist = site.get(Prescriber, "/worklist").await.body;
        assert!(
            worklist.contains("Notes awaiting co-signature") && worklist.contains(&format!("href=\"{notes}\"")),
            "{worklist}"
        );
        assert!(!site.get(Nurse, "/worklist").await.body.contains("Notes awaiting co-signature"));
        let page = site.get(Prescriber, &notes).await.body;
        assert!(page.contains("Co-sign the note"), "{page}");
        let cosigned = post_form(
            &site,
            Prescriber,
            &format!("{notes}/{note_id}/cosignature"),
            &[("version", "1"), ("text_sha256", &hash)],
        )
        .await;
        assert_eq!(cosigned.status, StatusCode::SEE_OTHER, "{}", cosigned.body);
        let page = site.get(Prescriber, &format!("{notes}?done=cosigned")).await.body;
        assert!(
            page.contains("SIGNED AND CO-SIGNED — locked") && page.contains("prescriber (prescriber) on"),
            "{page}"
        );
        assert!(site.get(Prescriber, "/worklist").await.body.contains("No notes awaiting co-signature"));

        // The printable record carries the signed note and both signatures.
        let record = site.get(Admin, &format!("{}/record", site.session_path())).await.body;
        for text in
            ["Assessment and plan: continue.", "Signed by nurse (nurse)", "Co-signed by prescriber (prescriber)", &hash]
        {
            assert!(record.contains(text), "{text} on the record: {record}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_nurse_makes_a_self_report_link_the_patient_answers_once_and_item_9_reaches_the_worklist() {
    each_backend(|db| async move {
        let site = Site::new(db.store).await;
        let links = format!("/patients/{}/self-report-links", site.patient_id);
        let made = post_form(&site, Role::Nurse, &links, &[("scale", "phq9")]).await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        let start = made.body.find("http://127.0.0.1:8080/r/").expect("the link is shown once");
        let link = &made.body[start..];
        let path = &link["http://127.0.0.1:8080".len()..link.find('"').unwrap()];
        assert!(post_form(&site, Role::Analyst, &links, &[("scale", "phq9")]).await.status == StatusCode::FORBIDDEN);

        // The patient's page: no account, the first name only, no script, its own CSP, no Referer.
        let request = Request::builder().uri(path).header(header::HOST, "127.0.0.1:8080").body(Body::empty()).unwrap();
        let response = site.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
        assert_eq!(response.headers()[header::REFERRER_POLICY], "no-referrer");
        let page =
            String::from_utf8(axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
        // The first name only, as text (the seeded patient's names are markup).
        assert!(page.contains("Hello &#60;script&#62;alert(1)&#60;/script&#62;</h1>"), "{page}");
        assert!(!page.contains("MRN-") && !page.contains("<script") && !page.contains("&#60;b&#62;"), "{page}");
        assert!(page.contains("Question 9 of 9"), "{page}");

        let mut answers: Vec<(String, String)> =
            (0..8).map(|index| (format!("item-{index}"), "1".to_owned())).collect();
        let pairs: Vec<(&str, &str)> = answers.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let missing = call(&site.router, "POST", path, None, Some(&form(&pairs))).await;
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(missing.body.contains("Please answer question 9"), "{}", missing.body);

        answers.push(("item-8".to_owned(), "2".to_owned()));
        let pairs: Vec<(&str, &str)> = answers.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        let sent = call(&site.router, "POST", path, None, Some(&form(&pairs))).await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        assert!(sent.body.contains("data-self-report-sent") && sent.body.contains("988"), "{}", sent.body);

        for method in ["GET", "POST"] {
            let again = call(&site.router, method, path, None, (method == "POST").then_some(&*form(&pairs))).await;
            assert_eq!(again.status, StatusCode::NOT_FOUND, "{method}");
            assert!(again.body.contains("This link does not work"), "{}", again.body);
        }
        let unknown = call(&site.router, "GET", "/r/0123456789abcdef0123456789abcdef", None, None).await;
        assert_eq!((unknown.status, unknown.body.contains("This link does not work")), (StatusCode::NOT_FOUND, true));

        let worklist = site.get(Role::Prescriber, "/worklist").await.body;
        assert!(worklist.contains("data-self-report-alert") && worklist.contains("CRITICAL"), "{worklist}");
        let overview = site.get(Role::Nurse, &site.overview_path()).await.body;
        assert!(overview.contains(r#"data-self-report-status="used""#), "{overview}");
        let link_id = site.app.self_report_links(&site.actor(Role::Nurse).await, &site.patient_id).await.unwrap()[0]
            .link_id
            .clone();
        let acknowledge = format!("{links}/{link_id}/acknowledgement");
        let reply = post_form(&site, Role::Prescriber, &acknowledge, &[]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(!site.get(Role::Prescriber, "/worklist").await.body.contains("data-self-report-alert"));
    })
    .await;
}

/// Overdue that means something, on the worklist (issue 14): an overdue self-report shows until when it
/// can still be done and, for nurses and prescribers, a "Mark not applicable" form that needs a reason; a
/// closed window is missed and not listed; the overview shows the course and the plan's adherence.
#[tokio::test]
async fn an_overdue_measurement_is_marked_not_applicable_from_the_worklist_only_with_a_reason() {
    each_backend(|database| async move {
        let site = Site::new(database.store).await;
        use Role::*;
        // Four infusions given (the clock is 2026-12-04 15:00 UTC): the MADRS after session 3 was due at
        // session 4 (12-03) and is overdue for the protocol's grace; the baselines before session 1 closed.
        let prescriber = site.actor(Prescriber).await;
        let plan = json!({ "template": "induction_2x_week_3w", "time_zone": "UTC", "first_session": "2026-11-23T09:00",
            "events": [ { "given": "2026-11-23T09:00" }, { "given": "2026-11-26T09:00" },
                        { "given": "2026-11-30T09:00" }, { "given": "2026-12-03T09:00" } ] });
        site.app.create_plan(&prescriber, &site.patient_id, &plan.to_string(), None).await.unwrap();
        let worklist = site.get(Nurse, "/worklist").await.body;
        assert!(worklist.contains("after session 3"), "{worklist}");
        assert!(!worklist.contains("baseline, before session 1"), "a closed window is not listed: {worklist}");
        assert!(worklist.contains("Mark not applicable<span"), "{worklist}");
        assert!(!site.get(Admin, "/worklist").await.body.contains("Mark not applicable<span"));
        let value = |name: &str| {
            worklist.split(&format!("name=\"{name}\" value=\"")).nth(1).unwrap().split('"').next().unwrap().to_owned()
        };
        let action = worklist
            .split("action=\"")
            .find(|part| part.contains("/measurements-not-applicable"))
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let (scale, due_at) = (value("scale"), value("due_at"));
        // Without a reason: refused, said on the worklist, nothing stored.
        let refused =
            post_form(&site, Nurse, &action, &[("scale", &scale), ("due_at", &due_at), ("reason", " ")]).await;
        assert_eq!(refused.location, "/worklist?not_applicable=reason_required", "{}", refused.body);
        let shown = site.get(Nurse, &refused.location).await.body;
        assert!(shown.contains("the reason is required") && shown.contains("after session 3"), "{shown}");
        // With one: stored, off the worklist, counted as not applicable on the overview.
        let reason = "MADRS done by the referring psychiatrist on 12-02";
        let saved =
            post_form(&site, Nurse, &action, &[("scale", &scale), ("due_at", &due_at), ("reason", reason)]).await;
        assert_eq!(saved.location, "/worklist?not_applicable=saved", "{}", saved.body);
        let after = site.get(Nurse, &saved.location).await.body;
        assert!(after.contains("marked not applicable") && !after.contains("after session 3"), "{after}");
        let overview = site.get(Prescriber, &site.overview_path()).await.body;
        assert!(overview.contains("Measurement plan adherence"), "{overview}");
        assert!(overview.contains("1 not applicable"), "{overview}");
    })
    .await;
}
