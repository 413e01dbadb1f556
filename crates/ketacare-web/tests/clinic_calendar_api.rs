//! The clinic calendar through the router on SQLite and, when configured, PostgreSQL: an admin sets the
//! open weekdays and chairs and lists the holidays (one set aside as entered in error, kept); a plan
//! prescribed over Christmas and New Year skips both holidays and says so in its notes; a second patient's
//! plan does not take a chair already booked; staff read the calendar, only admins write it.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use jiff::Timestamp;
use ketacare_app::{App, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::{WebConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// The router on a clock fixed at `now`, with an admin, a prescriber and a nurse (bearer tokens).
struct Api {
    router: Router,
    tokens: Vec<(Role, String)>,
}

impl Api {
    async fn new(store: ketacare_store::Store, now: Timestamp) -> Api {
        let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || now));
        let mut api = Api { router: router(app.clone(), WebConfig::default()), tokens: Vec::new() };
        for role in [Role::Admin, Role::Prescriber, Role::Nurse] {
            let password = format!("correct horse battery {}", role.as_str());
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: password.clone(),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
            let login = json!({ "username": role.as_str(), "password": password }).to_string();
            let reply = api.send("", "POST", "/api/v1/session", Some(&login), &[]).await;
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
            api.tokens.push((role, token));
        }
        api
    }

    async fn send(&self, token: &str, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
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

    async fn call(&self, role: Role, method: &str, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let token = &self.tokens.iter().find(|(each, _)| *each == role).unwrap().1;
        self.send(token, method, path, body.map(|body| body.to_string()).as_deref(), headers).await
    }

    /// A patient with a plan prescribed from `first_session`; returns the plan as the API answered.
    async fn patient_with_plan(&self, first_session: &str) -> Value {
        let patient = json!({ "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1984-05-02",
                              "sex_at_birth": "female" });
        let reply = self.call(Role::Nurse, "POST", "/api/v1/patients", Some(patient), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let patient_id = reply.body["patient_id"].as_str().unwrap();
        let plan = json!({ "template": "induction_2x_week_3w", "time_zone": "America/New_York",
                           "first_session": first_session });
        let path = format!("/api/v1/patients/{patient_id}/plans");
        let reply = self.call(Role::Prescriber, "POST", &path, Some(plan), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }
}

fn planned_dates(plan: &Value) -> Vec<String> {
    plan["scheduled_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["planned_at"].as_str().unwrap()[..10].to_owned())
        .collect()
}

fn notes(plan: &Value) -> Vec<String> {
    plan["report"]["notes"].as_array().unwrap().iter().map(|note| note["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_plan_prescribed_over_christmas_skips_the_holidays_and_a_booked_chair() {
    each_backend(|db| async move {
        let api = Api::new(db.store, "2025-12-15T15:00:00Z".parse().unwrap()).await;
        // Before the calendar is set every day is open.
        let unset = api.call(Role::Nurse, "GET", "/api/v1/clinic-calendar", None, &[]).await;
        assert_eq!((unset.status, &unset.body["set"]), (StatusCode::OK, &json!(false)), "{}", unset.body);

        let week = json!({ "open_weekdays": ["fri", "mon", "tue", "wed", "thu"], "chairs": 1 });
        let refused = api.call(Role::Nurse, "PUT", "/api/v1/clinic-calendar", Some(week.clone()), &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let set = api.call(Role::Admin, "PUT", "/api/v1/clinic-calendar", Some(week), &[]).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!(set.headers[header::ETAG], "\"v1\"");
        assert_eq!(set.body["open_weekdays"], json!(["mon", "tue", "wed", "thu", "fri"]));
        let bad_input = [
            (json!({ "open_weekdays": ["mon"], "chairs": 0 }), "chairs"),
            (json!({ "open_weekdays": [], "chairs": 2 }), "open_weekdays"),
            (json!({ "open_weekdays": ["mon", "funday"], "chairs": 2 }), "open_weekdays[1]"),
            (json!({ "open_weekdays": ["mon"], "chairs": 2, "rooms": 3 }), "rooms"),
        ];
        let mut failures = Vec::new();
        for (body, field) in bad_input {
            let reply = api
                .call(Role::Admin, "PUT", "/api/v1/clinic-calendar", Some(body.clone()), &[("if-match", "\"v1\"")])
                .await;
            if reply.status != StatusCode::UNPROCESSABLE_ENTITY || reply.body["field"] != field {
                failures.push(format!("{body}: {} {}", reply.status, reply.body));
            }
        }
        for (body, field) in
            [(json!({ "date": "2025-12-32", "label": "x" }), "date"), (json!({ "date": "2025-12-25" }), "label")]
        {
            let reply =
                api.call(Role::Admin, "POST", "/api/v1/clinic-calendar/holidays", Some(body.clone()), &[]).await;
            if reply.status != StatusCode::UNPROCESSABLE_ENTITY || reply.body["field"] != field {
                failures.push(format!("{body}: {} {}", reply.status, reply.body));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");

        for (date, label) in
            [("2025-12-24", "typed by mistake"), ("2025-12-25", "Christmas Day"), ("2026-01-01", "New Year's Day")]
        {
            let reply = api
                .call(
                    Role::Admin,
                    "POST",
                    "/api/v1/clinic-calendar/holidays",
                    Some(json!({ "date": date, "label": label })),
                    &[],
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            if date == "2025-12-24" {
                let path = format!("/api/v1/clinic-calendar/holidays/{}", reply.body["holiday_id"].as_str().unwrap());
                let amend = json!({ "status": "entered_in_error", "reason": "the clinic is open on Christmas Eve" });
                let no_version = api.call(Role::Admin, "PATCH", &path, Some(amend.clone()), &[]).await;
                assert_eq!(no_version.status, StatusCode::PRECONDITION_REQUIRED);
                let amended = api.call(Role::Admin, "PATCH", &path, Some(amend), &[("if-match", "\"v1\"")]).await;
                assert_eq!((amended.status, &amended.body["status"]), (StatusCode::OK, &json!("entered_in_error")));
            }
        }
        let twice = api
            .call(
                Role::Admin,
                "POST",
                "/api/v1/clinic-calendar/holidays",
                Some(json!({ "date": "2025-12-25", "label": "again" })),
                &[],
            )
            .await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
        let calendar = api.call(Role::Prescriber, "GET", "/api/v1/clinic-calendar", None, &[]).await;
        assert_eq!(calendar.body["holidays"].as_array().unwrap().len(), 3, "kept, entered in error: {}", calendar.body);

        // Monday 22 December 2025, twice weekly: Thursdays 25 December and 1 January are holidays.
        let first = api.patient_with_plan("2025-12-22T09:00").await;
        assert_eq!(
            planned_dates(&first),
            ["2025-12-22", "2025-12-26", "2025-12-29", "2026-01-02", "2026-01-05", "2026-01-08"]
        );
        let moved: Vec<String> = notes(&first).into_iter().filter(|note| note.contains(" moved from ")).collect();
        assert_eq!(
            moved,
            [
                "session 2 moved from Thu 25 Dec 2025 (holiday) to Fri 26 Dec 2025",
                "session 4 moved from Thu 1 Jan 2026 (holiday) to Fri 2 Jan 2026",
            ]
        );
        // One chair: a second patient on the same template never takes a day the first one booked.
        let second = api.patient_with_plan("2025-12-22T09:00").await;
        let second_dates = planned_dates(&second);
        for date in &second_dates {
            assert!(!planned_dates(&first).contains(date), "{date} is booked twice: {second_dates:?}");
        }
        assert!(notes(&second).iter().any(|note| note.contains("(no free chair)")), "{:?}", notes(&second));

        let auditor_view = api.call(Role::Admin, "GET", "/api/v1/audit/events?limit=1000", None, &[]).await;
        let actions: Vec<&str> = auditor_view.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|event| event["action"].as_str())
            .collect();
        for action in ["clinic_calendar.read", "clinic_calendar.update", "clinic_holiday.add", "clinic_holiday.amend"] {
            assert!(actions.contains(&action), "{action} not audited: {actions:?}");
        }
    })
    .await;
}
