//! The staff web application of ketacare: server-rendered HTML pages (askama templates, escaped by
//! default), one small hand-written stylesheet and one small script, served at `/` beside the JSON API.
//! Handlers call the same `ketacare-app` use cases as the API, with the same session cookie, roles and
//! audit; there is no second path to the data. This crate is a leaf: only the binary depends on it.

mod account_pages;
mod admin_pages;
mod amendments_view;
mod audit_pages;
mod consent_pages;
mod display;
mod eligibility_overrides;
mod fact_forms;
mod intake_fields;
mod intake_pages;
mod layout;
mod live_changes;
mod measurement_forms;
mod outcomes_chart;
mod outcomes_page;
mod page_error;
mod patient_pages;
mod printable_records;
mod protocol_page;
mod rems_form_page;
mod scale_forms;
mod self_report_pages;
mod session_forms;
mod session_notes_page;
mod session_page;
mod signed_in;
mod stock_pages;
mod symptom_chart;
mod token_pages;
mod treatment_forms;
mod vital_signs_chart;
mod worklist_page;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use ketacare_app::App;
use ketacare_web::WebConfig;
use tower::ServiceExt as _;
use tower_http::set_header::SetResponseHeaderLayer;

pub use vital_signs_chart::{VitalSignsPoint, vital_signs_svg};

/// What every page handler can reach: the application and how it is served.
#[derive(Debug, Clone)]
pub struct PagesState {
    pub app: App,
    pub config: WebConfig,
}

/// The stylesheet and script, compiled in: no build step, no files to deploy.
const STYLESHEET: &str = include_str!("../static/ketacare.css");
const SCRIPT: &str = include_str!("../static/ketacare.js");

/// Every page route, for the role tests and the documentation (`docs/web.md`).
pub const PAGE_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/password"),
    ("POST", "/password"),
    ("GET", "/worklist"),
    ("GET", "/patients"),
    ("GET", "/patients/new"),
    ("POST", "/patients/new"),
    ("GET", "/patients/{patient_id}"),
    ("GET", "/patients/{patient_id}/intake"),
    ("GET", "/patients/{patient_id}/intake/{section}"),
    ("POST", "/patients/{patient_id}/intake/{section}"),
    ("GET", "/patients/{patient_id}/intake/{section}/{record_id}"),
    ("POST", "/patients/{patient_id}/intake/{section}/{record_id}"),
    ("POST", "/patients/{patient_id}/plans"),
    ("POST", "/patients/{patient_id}/orders"),
    ("POST", "/patients/{patient_id}/sessions"),
    ("POST", "/patients/{patient_id}/eligibility-overrides"),
    ("GET", "/patients/{patient_id}/summary"),
    ("GET", "/patients/{patient_id}/scales/{scale}"),
    ("POST", "/patients/{patient_id}/scales/{scale}"),
    ("POST", "/patients/{patient_id}/self-report-links"),
    ("POST", "/patients/{patient_id}/self-report-links/{link_id}/acknowledgement"),
    ("GET", "/r/{token}"),
    ("POST", "/r/{token}"),
    ("GET", "/patients/{patient_id}/sessions/{session_id}"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/observations"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/observations/{sequence}/entered-in-error"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/alerts/{alert_id}/acknowledgement"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/discharge"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/signature"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/overrides"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/administrations"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/administrations/{administration_id}/entered-in-error"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/pre-dose"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/discharge-assessment"),
    ("GET", "/patients/{patient_id}/sessions/{session_id}/record"),
    ("GET", "/patients/{patient_id}/sessions/{session_id}/notes"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/notes"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/notes/{note_id}/edit"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/notes/{note_id}/signature"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/notes/{note_id}/cosignature"),
    ("GET", "/patients/{patient_id}/sessions/{session_id}/after-care"),
    ("GET", "/patients/{patient_id}/sessions/{session_id}/rems-form"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/rems-form/details"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/rems-form/submission"),
    ("GET", "/patients/{patient_id}/sessions/{session_id}/scales/{scale}"),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/scales/{scale}"),
    ("GET", "/live/session-changes"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("POST", "/admin/users/{user_id}/role"),
    ("POST", "/admin/users/{user_id}/active"),
    ("POST", "/admin/users/{user_id}/unlock"),
    ("POST", "/admin/users/{user_id}/password-reset"),
    ("GET", "/admin/users/{user_id}/tokens"),
    ("POST", "/admin/users/{user_id}/tokens/{token_id}/revoke"),
    ("GET", "/account/tokens"),
    ("POST", "/account/tokens"),
    ("POST", "/account/tokens/{token_id}/revoke"),
    ("GET", "/protocol"),
    ("GET", "/audit"),
    ("GET", "/audit/verify"),
    ("GET", "/controlled-substances"),
    ("POST", "/controlled-substances/entries"),
    ("POST", "/controlled-substances/entries/{entry_id}/entered-in-error"),
    ("POST", "/controlled-substances/entries/{entry_id}/resolution"),
    ("GET", "/controlled-substances/report"),
    ("GET", "/reports/outcomes"),
    ("GET", "/static/ketacare.css"),
    ("GET", "/static/ketacare.js"),
];

/// The whole site: the JSON API (`ketacare_web::router`) answers its own paths (`/api/…`, `/fhir/…`,
/// `/healthz`, `/readyz`), problem details included for the ones it does not know, and the pages answer
/// every other path, with the HTML "Page not found" page for one they do not serve. Each keeps its own
/// middleware and headers.
pub fn site(app: App, config: WebConfig) -> Router {
    let api = ketacare_web::router(app.clone(), config.clone());
    let pages = router(app, config);
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let target = if is_api_path(request.uri().path()) { api.clone() } else { pages.clone() };
        target.oneshot(request)
    }))
}

/// Whether a path belongs to the JSON API (and its health checks) rather than to the pages.
pub fn is_api_path(path: &str) -> bool {
    const API_PREFIXES: [&str; 2] = ["/api", "/fhir"];
    path == "/healthz"
        || path == "/readyz"
        || API_PREFIXES
            .iter()
            .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// A path no page serves: the HTML "Page not found" page (the API's paths get its problem details).
async fn page_not_found() -> Response {
    page_error::PageError::NotFound { what: "page".to_owned() }.into_response()
}

/// The pages alone, with their middleware (request id, log line, deadline, security headers), and the
/// HTML "Page not found" page for any other path.
pub fn router(app: App, config: WebConfig) -> Router {
    const SESSION: &str = "/patients/{patient_id}/sessions/{session_id}";
    let trusted_proxies = Arc::new(config.trusted_proxies.clone());
    let state = PagesState { app, config: config.clone() };
    let pages = Router::new()
        .route("/", get(account_pages::login_page))
        .route("/login", post(account_pages::login))
        .route("/logout", post(account_pages::logout))
        .route("/password", get(account_pages::password_page).post(account_pages::change_password))
        .route("/worklist", get(worklist_page::worklist))
        .route("/live/session-changes", get(live_changes::session_changes))
        .route("/patients", get(patient_pages::patient_list))
        .route("/patients/new", get(intake_pages::new_patient_form).post(intake_pages::create_patient))
        .route("/patients/{patient_id}", get(patient_pages::patient_overview))
        .route("/patients/{patient_id}/intake", get(intake_pages::intake))
        .route(
            "/patients/{patient_id}/intake/{section}",
            get(intake_pages::intake_section).post(intake_pages::record_intake_section),
        )
        .route(
            "/patients/{patient_id}/intake/{section}/{record_id}",
            get(intake_pages::correction_form).post(intake_pages::correct_record),
        )
        .route("/patients/{patient_id}/plans", post(treatment_forms::create_plan))
        .route(
            "/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable",
            post(measurement_forms::mark_not_applicable),
        )
        .route("/patients/{patient_id}/orders", post(treatment_forms::create_order))
        .route("/patients/{patient_id}/sessions", post(treatment_forms::start_session))
        .route("/patients/{patient_id}/eligibility-overrides", post(eligibility_overrides::record_eligibility_override))
        .route(
            "/patients/{patient_id}/eligibility-overrides/{record_id}/withdrawal",
            post(eligibility_overrides::withdraw_eligibility_override),
        )
        .route("/patients/{patient_id}/summary", get(printable_records::summary))
        .route("/patients/{patient_id}/consents", get(consent_pages::consents).post(consent_pages::record_consent))
        .route("/patients/{patient_id}/consents/print", get(consent_pages::print_consent_form))
        .route("/patients/{patient_id}/consents/{consent_id}/change", post(consent_pages::change_consent))
        .route("/patients/{patient_id}/scales/{scale}", get(scale_forms::scale_form).post(scale_forms::record_scale))
        .route("/patients/{patient_id}/self-report-links", post(self_report_pages::create_link))
        .route(
            "/patients/{patient_id}/self-report-links/{link_id}/acknowledgement",
            post(self_report_pages::acknowledge_alert),
        )
        .route("/r/{token}", get(self_report_pages::self_report_form).post(self_report_pages::submit_self_report))
        .route(SESSION, get(session_page::session))
        .route(&format!("{SESSION}/observations"), post(session_page::record_observation))
        .route(
            &format!("{SESSION}/observations/{{sequence}}/entered-in-error"),
            post(session_page::mark_entered_in_error),
        )
        .route(&format!("{SESSION}/alerts/{{alert_id}}/acknowledgement"), post(session_page::acknowledge_alert))
        .route(&format!("{SESSION}/discharge"), post(session_page::discharge))
        .route(&format!("{SESSION}/signature"), post(session_page::sign))
        .route(&format!("{SESSION}/overrides"), post(session_page::record_override))
        .route(&format!("{SESSION}/administrations"), post(session_forms::give_dose))
        .route(
            &format!("{SESSION}/administrations/{{administration_id}}/entered-in-error"),
            post(session_forms::correct_administration),
        )
        .route(&format!("{SESSION}/pre-dose"), post(session_forms::save_pre_dose))
        .route(&format!("{SESSION}/discharge-assessment"), post(session_forms::save_discharge_assessment))
        .route(&format!("{SESSION}/record"), get(printable_records::session_record))
        .route(&format!("{SESSION}/notes"), get(session_notes_page::notes).post(session_notes_page::create_note))
        .route(&format!("{SESSION}/notes/{{note_id}}/edit"), post(session_notes_page::edit_note))
        .route(&format!("{SESSION}/notes/{{note_id}}/signature"), post(session_notes_page::sign_note))
        .route(&format!("{SESSION}/notes/{{note_id}}/cosignature"), post(session_notes_page::cosign_note))
        .route(&format!("{SESSION}/after-care"), get(session_notes_page::after_care))
        .route(&format!("{SESSION}/rems-form"), get(rems_form_page::rems_form))
        .route(&format!("{SESSION}/rems-form/details"), post(rems_form_page::save_rems_details))
        .route(&format!("{SESSION}/rems-form/submission"), post(rems_form_page::submit_rems_form))
        .route(
            &format!("{SESSION}/scales/{{scale}}"),
            get(scale_forms::session_scale_form).post(scale_forms::record_session_scale),
        )
        .route("/admin/users", get(admin_pages::users).post(admin_pages::create_user))
        .route(
            "/admin/consent-forms",
            get(consent_pages::consent_forms).post(consent_pages::create_consent_form_version),
        )
        .route("/admin/users/{user_id}/role", post(admin_pages::change_role))
        .route("/admin/users/{user_id}/active", post(admin_pages::change_active))
        .route("/admin/users/{user_id}/unlock", post(admin_pages::unlock))
        .route("/admin/users/{user_id}/password-reset", post(admin_pages::reset_password))
        .route("/admin/users/{user_id}/tokens", get(admin_pages::user_tokens))
        .route("/admin/users/{user_id}/tokens/{token_id}/revoke", post(admin_pages::revoke_user_token))
        .route("/account/tokens", get(token_pages::own_tokens).post(token_pages::create_token))
        .route("/account/tokens/{token_id}/revoke", post(token_pages::revoke_token))
        .route("/protocol", get(protocol_page::protocol))
        .route("/audit", get(audit_pages::audit_log))
        .route("/audit/verify", get(audit_pages::audit_verify))
        .route("/controlled-substances", get(stock_pages::stock))
        .route("/controlled-substances/entries", post(stock_pages::record_entry))
        .route("/controlled-substances/entries/{entry_id}/entered-in-error", post(stock_pages::mark_in_error))
        .route("/controlled-substances/entries/{entry_id}/resolution", post(stock_pages::resolve))
        .route("/controlled-substances/report", get(stock_pages::report))
        .route("/reports/outcomes", get(outcomes_page::outcomes))
        .fallback(page_not_found)
        .layer(middleware::from_fn_with_state(config.request_timeout, time_out_slow_pages))
        .layer(middleware::from_fn_with_state(trusted_proxies, request_id_and_log));
    let mut pages = pages;
    for (name, value) in page_security_headers(&config) {
        pages = pages.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    let pages = pages.with_state(state);
    let assets = Router::new()
        .route("/static/ketacare.css", get(|| async { asset("text/css; charset=utf-8", STYLESHEET) }))
        .route("/static/ketacare.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }));
    pages.merge(assets)
}

/// A static asset: cacheable for an hour (it changes only with a new release).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// OWASP Secure Headers for pages holding patient data: our own stylesheet and script only (no inline
/// script or style), forms post only here, nothing framed, sniffed, cached or referred.
fn page_security_headers(config: &WebConfig) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; \
                 form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
        ),
        // Same-origin only: no address (which holds patient ids) ever leaves the site, and form posts
        // keep their Origin header.
        (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    if config.behind_tls {
        headers.push((header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000")));
    }
    headers
}

/// The request id and client address (as the API sets them, so login throttling and the audit work
/// alike), and one log line per page with safe fields only: the route template, never the path.
async fn request_id_and_log(
    State(trusted_proxies): State<Arc<ketacare_web::TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = ketacare_web::begin_request(&mut request, &trusted_proxies);
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let mut response = next.run(request).await;
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = route.as_deref().unwrap_or("(unmatched)"),
        status = response.status().as_u16(),
        duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "page"
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// A page not rendered within the deadline is answered 503; as in the API, dropping the handler never
/// cuts a write in half.
async fn time_out_slow_pages(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => page_error::PageError::Timeout.into_response(),
    }
}
