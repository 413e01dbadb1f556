//! The staff pages through the whole site's router (pages with the API behind them) on SQLite, and on
//! PostgreSQL when `KETACARE_TEST_DATABASE_URL` is set: each page renders for every role that may see it
//! and answers the others with the 403 page; markup in a patient's name and MRN appears as text on every
//! page; sign-in, the one-time password, idle expiry and sign-out; a vital-sign entry that raises an alert
//! shows it on the reloaded page; entered-in-error; forms without the session's CSRF token are refused;
//! paths no page serves get the HTML 404 page while the API keeps its problem details;
//! the prescriber's plan, order and override forms and the start-a-session form (shown by role,
//! refused for other roles by the use case, errors beside their fields with what was typed kept);
//! rating-scale forms scored by the server, and the overview's symptom chart with its baseline,
//! response and remission lines; in-session CADSS-23, BPRS positive and MOAA/S scored into observations;
//! the live feed (server-sent events) names the session an entry changed, by id only, to the roles that
//! read sessions, audited, and ends when the server closes it.

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
        assert!(page.contains("acknowledged by user") && page.contains(": seen"), "{page}");
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
        assert_eq!(call(&site.router, "GET", "/worklist", None, None).await.location, "/");
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
        assert_eq!((reply.status, reply.location.as_str()), (StatusCode::SEE_OTHER, "/?expired=1"));
        assert!(reply.set_cookie.contains("Max-Age=0"), "the dead cookie is cleared");
        let login = call(&site.router, "GET", "/?expired=1", None, None).await.body;
        assert!(login.contains("Your session expired"), "{login}");

        // Sign out ends the session: its cookie no longer opens a page.
        let (cookie, csrf) = site.sign_in("new.nurse", "my own password 2").await;
        let reply = call(&site.router, "POST", "/logout", Some(&cookie), Some(&form(&[("csrf_token", &csrf)]))).await;
        assert_eq!((reply.status, reply.location.as_str()), (StatusCode::SEE_OTHER, "/?signed_out=1"));
        let reply = call(&site.router, "GET", "/worklist", Some(&cookie), None).await;
        assert_eq!(reply.location, "/?expired=1");
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
            page.contains("overridden by user") && page.contains("BP &#60;b&#62;stable&#60;/b&#62; on repeat"),
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
        let pages: [(String, &[Role]); 3] = [
            (format!("{}/summary", site.overview_path()), &[Admin, Prescriber, Nurse]),
            (format!("{}/record", site.session_path()), &[Admin, Prescriber, Nurse]),
            (format!("{}/rems-form", site.session_path()), &[Admin, Prescriber, Nurse]),
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
        let summary = site.get(Prescriber, &format!("{}/summary", site.overview_path())).await.body;
        assert!(summary.contains("overridden by"), "{summary}");
    })
    .await;
}
