//! The outcomes report page (`/reports/outcomes`, docs/outcomes.md) through the whole site's router on
//! SQLite, and on PostgreSQL when `KETACARE_TEST_DATABASE_URL` is set: admins, prescribers and analysts see
//! it (with its navigation link), nurses and auditors are refused; it shows the rates chart as SVG, the
//! checkpoint table and each plan by pseudonym and week only; a bad date comes back beside its field.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiff::Timestamp;
use ketacare_app::{App, NewAccount, PatientInput, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::WebConfig;
use serde_json::json;
use tower::ServiceExt as _;

const ROLES: [Role; 5] = [Role::Admin, Role::Prescriber, Role::Nurse, Role::Analyst, Role::Auditor];

fn password(role: Role) -> String {
    format!("correct horse battery {}", role.as_str())
}

struct Reply {
    status: StatusCode,
    #[allow(dead_code)]
    location: String,
    set_cookie: String,
    content_type: String,
    body: String,
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
    let response =
        router.clone().oneshot(request.body(Body::from(form.unwrap_or_default().to_owned())).unwrap()).await.unwrap();
    let (status, location, set_cookie, content_type) = {
        let text = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        (response.status(), text(header::LOCATION), text(header::SET_COOKIE), text(header::CONTENT_TYPE))
    };
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Reply { status, location, set_cookie, content_type, body: String::from_utf8(bytes.to_vec()).unwrap() }
}

struct Site {
    app: App,
    router: Router,
    browsers: Vec<(Role, String, String)>,
}

impl Site {
    async fn new(store: ketacare_store::Store) -> Site {
        let now: Timestamp = "2026-11-28T15:00:00Z".parse().unwrap();
        let app = App::new(store, Protocol::shipped()).with_clock(Arc::new(move || now));
        let router = ketacare_pages::site(app.clone(), WebConfig::default());
        let mut browsers = Vec::new();
        for role in ROLES {
            let account = NewAccount {
                username: role.as_str().to_owned(),
                password: password(role),
                role,
                must_change_password: false,
            };
            app.create_user(None, &account).await.unwrap();
            let login =
                serde_urlencoded::to_string([("username", role.as_str()), ("password", &password(role))]).unwrap();
            let reply = call(&router, "POST", "/login", None, Some(&login)).await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
            let cookie = reply.set_cookie.split(';').next().unwrap().to_owned();
            let principal = app.authenticate_session(cookie.split_once('=').unwrap().1, "test", "test").await.unwrap();
            browsers.push((role, cookie, principal.csrf_token.unwrap()));
        }
        Site { app, router, browsers }
    }

    async fn get(&self, role: Role, path: &str) -> Reply {
        let (_, cookie, _) = self.browsers.iter().find(|(held, _, _)| *held == role).unwrap();
        call(&self.router, "GET", path, Some(cookie), None).await
    }
}

#[tokio::test]
async fn the_outcomes_page_by_role_with_its_chart_and_pseudonyms_only() {
    each_backend(|db| async move {
        let site = Site::new(db.store).await;
        let nurse = site.app.console_actor("nurse", "seed").await.unwrap();
        let prescriber = site.app.console_actor("prescriber", "seed").await.unwrap();
        let input = PatientInput {
            mrn: Some("MRN-31".to_owned()),
            given_name: "Rosalind".to_owned(),
            family_name: "Franklin".to_owned(),
            birth_date: "1980-07-25".to_owned(),
            sex_at_birth: "female".to_owned(),
        };
        let patient_id = site.app.create_patient(&nurse, &input, None).await.unwrap().resource_id;
        let given: Vec<_> = ["2026-03-02", "2026-03-04", "2026-03-06", "2026-03-09", "2026-03-11", "2026-03-13"]
            .iter()
            .map(|day| json!({ "given": format!("{day}T09:00") }))
            .collect();
        let plan = json!({ "template": "induction_3x_week_2w", "time_zone": "UTC",
            "first_session": "2026-03-02T09:00", "events": given });
        site.app.create_plan(&prescriber, &patient_id, &plan.to_string(), None).await.unwrap();
        for (date, total) in [("2026-03-01", 32), ("2026-03-09", 14), ("2026-03-13", 9)] {
            let result = json!({ "scale": "madrs", "administered_on": date, "total": total });
            site.app.create_chart_record(&nurse, &patient_id, "scales", &result, None).await.unwrap();
        }

        for (role, allowed) in [
            (Role::Admin, true),
            (Role::Prescriber, true),
            (Role::Analyst, true),
            (Role::Nurse, false),
            (Role::Auditor, false),
        ] {
            let page = site.get(role, "/reports/outcomes?modality=iv_ketamine&from=2026-03-01&to=2026-03-31").await;
            if !allowed {
                assert_eq!(page.status, StatusCode::FORBIDDEN, "{role:?}");
                continue;
            }
            assert_eq!(page.status, StatusCode::OK, "{role:?}: {}", page.body);
            for text in [
                "<h1>Outcomes report</h1>",
                "class=\"outcomes-chart\"",
                "Response and remission by checkpoint",
                "<th scope=\"row\">Week 1</th><td>1</td><td>1</td><td>1</td><td>100.0%</td><td>0</td><td>0.0%</td><td>MADRS 1</td>",
                "<th scope=\"row\">End of induction</th><td>1</td><td>1</td><td>1</td><td>100.0%</td><td>1</td><td>100.0%</td>",
                "<td>2026-W10</td>",
                ">KC-",
                "href=\"/reports/outcomes\" aria-current=\"page\">Outcomes</a>",
                "/api/v1/reports/outcomes?modality=iv_ketamine&#38;from=2026-03-01&#38;to=2026-03-31&#38;format=csv",
            ] {
                assert!(page.body.contains(text), "{role:?}: {text} in {}", page.body);
            }
            for identifying in ["Rosalind", "Franklin", "MRN-31", "1980-07-25", "2026-03-02"] {
                assert!(!page.body.contains(identifying), "{role:?}: {identifying} shown");
            }
        }
        // The CSV link answers CSV through the API, with the same pseudonymous rows.
        let csv = site.get(Role::Analyst, "/api/v1/reports/outcomes?modality=iv_ketamine&from=2026-03-01&to=2026-03-31&format=csv").await;
        assert_eq!((csv.status, csv.content_type.as_str()), (StatusCode::OK, "text/csv; charset=utf-8"), "{}", csv.body);
        assert!(csv.body.starts_with("modality,iv_ketamine\n"), "{}", csv.body);
        assert!(csv.body.contains("checkpoint,end_of_induction,1,1,1,1,100.0,100.0\n"), "{}", csv.body);
        assert!(csv.body.contains(",2026-W10,response,not_measured,not_measured,remission,7,6\n"), "{}", csv.body);
        assert!(!csv.body.contains("Franklin"), "{}", csv.body);
        let nurse_page = site.get(Role::Nurse, "/worklist").await;
        assert!(!nurse_page.body.contains("href=\"/reports/outcomes\""), "no link for nurses");

        let bad = site.get(Role::Analyst, "/reports/outcomes?from=2026-02-30").await;
        assert_eq!(bad.status, StatusCode::OK);
        assert!(bad.body.contains("id=\"outcomes-from-error\""), "{}", bad.body);
    })
    .await;
}
