//! The controlled-substance pages through the whole site's router on SQLite, and on PostgreSQL when
//! `KETACARE_TEST_DATABASE_URL` is set: the stock page and the printable report render for the roles that
//! read the log and refuse analysts; an admin receives stock through the form; a nurse's waste is refused
//! beside the witness's password field (what was typed kept, the password never echoed) and recorded
//! with another clinician's; a count that differs is flagged on the stock page and an admin's worklist
//! until the admin resolves it; Enter in error needs a reason; forms without the CSRF token are refused.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiff::Timestamp;
use ketacare_app::{App, NewAccount, Role};
use ketacare_core::protocol::Protocol;
use ketacare_store::test_support::each_backend;
use ketacare_web::WebConfig;
use tower::ServiceExt as _;

const ROLES: [Role; 5] = [Role::Admin, Role::Prescriber, Role::Nurse, Role::Analyst, Role::Auditor];

fn password(role: Role) -> String {
    format!("correct horse battery {}", role.as_str())
}

struct Reply {
    status: StatusCode,
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
    router: Router,
    browsers: Vec<(Role, String, String)>,
}

impl Site {
    async fn new(store: ketacare_store::Store) -> Site {
        let now: Timestamp = "2026-12-04T15:00:00Z".parse().unwrap();
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
        Site { router, browsers }
    }

    async fn get(&self, role: Role, path: &str) -> Reply {
        let (_, cookie, _) = self.browsers.iter().find(|(held, _, _)| *held == role).unwrap();
        call(&self.router, "GET", path, Some(cookie), None).await
    }

    /// Posts `pairs` as `role`, with the session's CSRF token unless `with_token` is false.
    async fn post(&self, role: Role, path: &str, pairs: &[(&str, &str)], with_token: bool) -> Reply {
        let (_, cookie, csrf) = self.browsers.iter().find(|(held, _, _)| *held == role).unwrap();
        let mut all: Vec<(&str, &str)> = pairs.to_vec();
        if with_token {
            all.push(("csrf_token", csrf));
        }
        call(&self.router, "POST", path, Some(cookie), Some(&serde_urlencoded::to_string(&all).unwrap())).await
    }
}

/// The lot id of the first `<option value="…">` of the page that offers ketamine lot `lot_number`.
fn lot_id_on(page: &str, lot_number: &str) -> String {
    let marker = format!("\">ketamine lot {lot_number} at");
    let at = page.find(&marker).expect("the lot is offered");
    let before = &page[..at];
    let start =
        before.rfind("<option value=\"").unwrap_or_else(|| panic!("{}", &page[at.saturating_sub(300)..at + 50]))
            + "<option value=\"".len();
    before[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_stock_pages_by_role_a_witnessed_waste_and_a_flagged_count_resolved() {
    each_backend(|db| async move {
        let site = Site::new(db.store).await;
        let mut failures = Vec::new();
        for path in ["/controlled-substances", "/controlled-substances/report"] {
            for role in ROLES {
                let reply = site.get(role, path).await;
                let expected = if role == Role::Analyst { StatusCode::FORBIDDEN } else { StatusCode::OK };
                if reply.status != expected {
                    failures.push(format!("{path} as {role:?}: {}", reply.status));
                }
            }
        }
        assert!(failures.is_empty(), "{failures:?}");
        // Each role sees the forms it may use, and the navigation link.
        let nurse_page = site.get(Role::Nurse, "/controlled-substances").await.body;
        assert!(nurse_page.contains("Waste, with a witness") && !nurse_page.contains("Receive stock"));
        assert!(nurse_page.contains("href=\"/controlled-substances\" aria-current=\"page\""));
        let auditor_page = site.get(Role::Auditor, "/controlled-substances").await.body;
        assert!(
            !auditor_page.contains("<form method=\"post\" action=\"/controlled-substances/entries\""),
            "auditors read only"
        );

        let receipt = [
            ("kind", "received"),
            ("drug", "ketamine"),
            ("ndc", "0409-2051-05"),
            ("lot_number", "KET-7"),
            ("expiry_date", "2027-06-30"),
            ("location", "safe A"),
            ("quantity_mg", "500"),
            ("supplier", "Cardinal"),
        ];
        let refused = site.post(Role::Admin, "/controlled-substances/entries", &receipt, false).await;
        assert_ne!(refused.status, StatusCode::SEE_OTHER, "no CSRF token, no receipt");
        let received = site.post(Role::Admin, "/controlled-substances/entries", &receipt, true).await;
        assert_eq!(
            (received.status, received.location.as_str()),
            (StatusCode::SEE_OTHER, "/controlled-substances?saved=received"),
            "{}",
            received.body
        );
        let page = site.get(Role::Admin, &received.location).await.body;
        assert!(
            page.contains("The receipt was recorded.") && page.contains("KET-7") && page.contains("<td>500</td>"),
            "{page}"
        );
        let lot_id = lot_id_on(&nurse_page_after(&site).await, "KET-7");

        let waste = |witness: &'static str, witness_password: String| {
            vec![
                ("kind", "wasted".to_owned()),
                ("lot_id", lot_id.clone()),
                ("quantity_mg", "12.5".to_owned()),
                ("witness_username", witness.to_owned()),
                ("witness_password", witness_password),
            ]
        };
        let as_pairs =
            |pairs: &Vec<(&'static str, String)>| pairs.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
        let wrong = as_pairs(&waste("prescriber", "the wrong one".to_owned()));
        let wrong_refs: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = site.post(Role::Nurse, "/controlled-substances/entries", &wrong_refs, true).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(
            refused.body.contains("id=\"wasted-witness_password-error\""),
            "the refusal sits by the password field"
        );
        assert!(refused.body.contains("stock.witness_password"));
        assert!(
            refused.body.contains("value=\"12.5\"") && refused.body.contains("value=\"prescriber\""),
            "what was typed is kept"
        );
        assert!(!refused.body.contains("the wrong one"), "a password is never echoed");
        let right = as_pairs(&waste("prescriber", password(Role::Prescriber)));
        let right_refs: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let wasted = site.post(Role::Nurse, "/controlled-substances/entries", &right_refs, true).await;
        assert_eq!(wasted.status, StatusCode::SEE_OTHER, "{}", wasted.body);
        let page = site.get(Role::Nurse, "/controlled-substances").await.body;
        assert!(page.contains("<td>487.5</td>") && page.contains("witnessed by prescriber"), "{page}");

        let count = [("kind", "count"), ("lot_id", lot_id.as_str()), ("counted_mg", "480"), ("note", "one vial short")];
        assert_eq!(
            site.post(Role::Nurse, "/controlled-substances/entries", &count, true).await.status,
            StatusCode::SEE_OTHER
        );
        let worklist = site.get(Role::Admin, "/worklist").await.body;
        assert!(worklist.contains("1 controlled-substance count discrepancy awaits your resolution"), "{worklist}");
        assert!(!site.get(Role::Nurse, "/worklist").await.body.contains("count discrepanc"));
        let page = site.get(Role::Admin, "/controlled-substances").await.body;
        assert!(page.contains("WARNING: count discrepancies") && page.contains("<strong>-7.5</strong>"), "{page}");
        let start = page.find("/controlled-substances/entries/").unwrap() + "/controlled-substances/entries/".len();
        let count_id = page[start..].split('/').next().unwrap().to_owned();
        let resolution = format!("/controlled-substances/entries/{count_id}/resolution");
        assert_eq!(
            site.post(Role::Nurse, &resolution, &[("reason", "found it")], true).await.status,
            StatusCode::FORBIDDEN
        );
        let unexplained = site.post(Role::Admin, &resolution, &[("reason", " ")], true).await;
        assert_eq!(unexplained.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unexplained.body.contains("reason: a resolution needs a reason"));
        let resolved =
            site.post(Role::Admin, &resolution, &[("reason", "vial broken, reported on form 106")], true).await;
        assert_eq!(resolved.status, StatusCode::SEE_OTHER, "{}", resolved.body);
        assert!(!site.get(Role::Admin, "/worklist").await.body.contains("count discrepanc"));

        // The printable report: the lot over the period, the entries, the CSV link, the print styles' class.
        let report = site
            .get(Role::Auditor, &format!("/controlled-substances/report?from=2026-12-04&to=2026-12-04&lot_id={lot_id}"))
            .await;
        assert_eq!(report.status, StatusCode::OK);
        assert!(report.body.contains("class=\"printable\"") && report.body.contains("2026-12-04 to 2026-12-04"));
        assert!(
            report.body.contains("<td>0</td><td>500</td><td>0</td><td>12.5</td><td>0</td><td>487.5</td>"),
            "{}",
            report.body
        );
        let csv_link = report.body.split("href=\"/api/v1/controlled-substances/report.csv").nth(1).unwrap_or_default();
        assert!(csv_link.starts_with("?from=2026-12-04&"), "{}", &csv_link[..csv_link.len().min(120)]);
        let csv_path = format!("/api/v1/controlled-substances/report.csv?lot_id={lot_id}");
        let csv = site.get(Role::Auditor, &csv_path).await;
        assert_eq!((csv.status, csv.content_type.as_str()), (StatusCode::OK, "text/csv; charset=utf-8"));
        assert_eq!(csv.body.lines().count(), 4, "{}", csv.body);
        let bad = site.get(Role::Admin, "/controlled-substances/report?from=yesterday").await;
        assert!(bad.body.contains("id=\"report-from-error\""), "{}", bad.body);

        // From a session's dose: the withdrawal form filled in for it, the lot chosen by its number.
        let prefilled = site
            .get(Role::Nurse, "/controlled-substances?patient_id=p-1&administration_id=a-1&lot_number=KET-7")
            .await
            .body;
        assert!(
            prefilled.contains("id=\"withdrawn-patient_id\" name=\"patient_id\" type=\"text\" value=\"p-1\""),
            "{prefilled}"
        );
        assert!(prefilled.contains(&format!("<option value=\"{lot_id}\" selected>ketamine lot KET-7")), "{prefilled}");

        // Enter in error needs a reason; with one, the entry stays, struck through, and counts for nothing.
        let page = site.get(Role::Nurse, "/controlled-substances").await.body;
        let marker = "/entered-in-error\"";
        let end = page.find(marker).unwrap();
        let entry_id = page[..end].rsplit('/').next().unwrap().to_owned();
        let path = format!("/controlled-substances/entries/{entry_id}/entered-in-error");
        let unexplained = site.post(Role::Nurse, &path, &[("reason", "")], true).await;
        assert_eq!(unexplained.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unexplained.body);
        let marked = site.post(Role::Nurse, &path, &[("reason", "wasted from the wrong lot")], true).await;
        assert_eq!(marked.status, StatusCode::SEE_OTHER, "{}", marked.body);
        let page = site.get(Role::Nurse, "/controlled-substances").await.body;
        assert!(
            page.contains("<strong>Entered in error</strong>: wasted from the wrong lot")
                && page.contains("<td>500</td>"),
            "{page}"
        );
    })
    .await;
}

/// The nurse's stock page, whose forms offer the lots.
async fn nurse_page_after(site: &Site) -> String {
    site.get(Role::Nurse, "/controlled-substances").await.body
}
