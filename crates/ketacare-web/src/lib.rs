//! The HTTP JSON API of ketacare under `/api/v1`, and FHIR R4 under `/fhir/r4` (axum): authentication (cookie sessions with CSRF
//! protection, bearer tokens), RFC 9457 problem details, ETag/If-Match, Idempotency-Key, the OpenAPI
//! document, health checks and security headers. Handlers are thin: extract, call one `ketacare-app`
//! use case, map the result. This crate never touches the store.

mod audit_routes;
pub mod auth;
mod chart_routes;
mod client_address;
mod clinic_calendar_openapi;
mod clinic_calendar_routes;
mod consent_openapi;
mod consent_routes;
mod content_type;
mod error;
mod fhir_bulk_routes;
mod fhir_routes;
pub mod input;
mod note_openapi;
mod note_routes;
pub mod openapi;
mod outcomes_openapi;
mod outcomes_routes;
mod patient_routes;
mod responses;
mod self_report_openapi;
mod self_report_routes;
mod server;
mod session_routes;
mod stock_routes;
mod system_routes;
mod treatment_openapi;
mod treatment_routes;
mod worklist_routes;

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{delete, get, patch, post};
use ketacare_app::App;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

pub use client_address::{InvalidProxyNetwork, ProxyNetwork, TrustedProxies, client_address};
pub use error::{ApiError, PROBLEM_TYPE_PREFIX};
pub use server::{ConnectionLimits, DEFAULT_CONNECTIONS_PER_ADDRESS, DEFAULT_HEADER_READ_TIMEOUT};

/// Largest request body accepted (a case with long histories is a few tens of kB).
const BODY_LIMIT_BYTES: usize = 1 << 20;

/// How the API is served.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Behind TLS (directly or at a proxy): cookies get `Secure` and responses HSTS.
    pub behind_tls: bool,
    /// A request not answered within this gets 503 (`timeout`); see [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client; nobody else's are read.
    pub trusted_proxies: TrustedProxies,
    /// The header-read timeout and the connections per address of [`serve`].
    pub connection_limits: ConnectionLimits,
}

/// How long a request may take by default: far above any normal answer (milliseconds), short enough
/// that a stuck request does not hold a client forever.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            behind_tls: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            trusted_proxies: TrustedProxies::default(),
            connection_limits: ConnectionLimits::default(),
        }
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub app: App,
    pub config: WebConfig,
}

/// The id of the request being served: the client's `X-Request-Id` if sane, else a new one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client's IP address, for login throttling: the peer's, or from a trusted proxy the one it
/// forwarded (see `client_address.rs`); "unknown" when served without connect info, as in tests.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

/// One route of the API: its method and path (in OpenAPI template syntax, which axum shares).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

const fn route(method: &'static str, path: &'static str) -> Route {
    Route { method, path }
}

/// Every route the router serves; the OpenAPI test and the role matrix test iterate this list.
pub const ROUTES: &[Route] = &[
    route("GET", "/healthz"),
    route("GET", "/readyz"),
    route("GET", "/api/v1/openapi.json"),
    route("POST", "/api/v1/session"),
    route("GET", "/api/v1/session"),
    route("DELETE", "/api/v1/session"),
    route("POST", "/api/v1/session/password"),
    route("GET", "/api/v1/tokens"),
    route("POST", "/api/v1/tokens"),
    route("DELETE", "/api/v1/tokens/{token_id}"),
    route("GET", "/api/v1/users"),
    route("POST", "/api/v1/users"),
    route("PATCH", "/api/v1/users/{user_id}"),
    route("POST", "/api/v1/users/{user_id}/password-reset"),
    route("GET", "/api/v1/users/{user_id}/tokens"),
    route("POST", "/api/v1/users/{user_id}/unlock"),
    route("GET", "/api/v1/patients"),
    route("POST", "/api/v1/patients"),
    route("GET", "/api/v1/patients/{patient_id}"),
    route("PATCH", "/api/v1/patients/{patient_id}"),
    route("GET", "/api/v1/patients/{patient_id}/amendments"),
    route("GET", "/api/v1/patients/{patient_id}/assessments"),
    route("POST", "/api/v1/patients/{patient_id}/assessments"),
    route("GET", "/api/v1/patients/{patient_id}/assessments/{assessment_id}"),
    route("PATCH", "/api/v1/patients/{patient_id}/assessments/{assessment_id}"),
    route("GET", "/api/v1/patients/{patient_id}/chart"),
    route("GET", "/api/v1/patients/{patient_id}/chart/{section}"),
    route("POST", "/api/v1/patients/{patient_id}/chart/{section}"),
    route("GET", "/api/v1/patients/{patient_id}/chart/{section}/{record_id}"),
    route("PATCH", "/api/v1/patients/{patient_id}/chart/{section}/{record_id}"),
    route("GET", "/api/v1/patients/{patient_id}/evaluation"),
    route("GET", "/api/v1/patients/{patient_id}/plans"),
    route("POST", "/api/v1/patients/{patient_id}/plans"),
    route("GET", "/api/v1/patients/{patient_id}/plans/{plan_id}"),
    route("PATCH", "/api/v1/patients/{patient_id}/plans/{plan_id}"),
    route("GET", "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable"),
    route("POST", "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable"),
    route("PATCH", "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable/{marking_id}"),
    route("GET", "/api/v1/patients/{patient_id}/sessions"),
    route("POST", "/api/v1/patients/{patient_id}/sessions"),
    route("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}"),
    route("PATCH", "/api/v1/patients/{patient_id}/sessions/{session_id}"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/observations"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/administrations"),
    route("PATCH", "/api/v1/patients/{patient_id}/sessions/{session_id}/administrations/{administration_id}"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/alerts/{alert_id}/acknowledgement"),
    route("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}/rems-form"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/rems-form/submission"),
    route("GET", "/api/v1/patients/{patient_id}/orders"),
    route("POST", "/api/v1/patients/{patient_id}/orders"),
    route("PATCH", "/api/v1/patients/{patient_id}/orders/{order_id}"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/overrides"),
    route("PATCH", "/api/v1/patients/{patient_id}/sessions/{session_id}/observations/{sequence}"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/discharge"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/signature"),
    route("GET", "/api/v1/consent-forms"),
    route("POST", "/api/v1/consent-forms"),
    route("GET", "/api/v1/patients/{patient_id}/consents"),
    route("POST", "/api/v1/patients/{patient_id}/consents"),
    route("PATCH", "/api/v1/patients/{patient_id}/consents/{consent_id}"),
    route("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes"),
    route("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{note_id}"),
    route("PATCH", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{note_id}"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{note_id}/signature"),
    route("POST", "/api/v1/patients/{patient_id}/sessions/{session_id}/notes/{note_id}/cosignature"),
    route("GET", "/api/v1/notes/awaiting-cosignature"),
    route("GET", "/api/v1/worklist"),
    route("GET", "/api/v1/clinic-calendar"),
    route("PUT", "/api/v1/clinic-calendar"),
    route("POST", "/api/v1/clinic-calendar/holidays"),
    route("PATCH", "/api/v1/clinic-calendar/holidays/{holiday_id}"),
    route("GET", "/api/v1/reports/outcomes"),
    route("GET", "/api/v1/patients/{patient_id}/self-report-links"),
    route("POST", "/api/v1/patients/{patient_id}/self-report-links"),
    route("POST", "/api/v1/patients/{patient_id}/self-report-links/{link_id}/acknowledgement"),
    route("GET", "/api/v1/self-reports/{token}"),
    route("POST", "/api/v1/self-reports/{token}"),
    route("GET", "/api/v1/controlled-substances/lots"),
    route("GET", "/api/v1/controlled-substances/entries"),
    route("POST", "/api/v1/controlled-substances/entries"),
    route("GET", "/api/v1/controlled-substances/entries/{entry_id}"),
    route("POST", "/api/v1/controlled-substances/entries/{entry_id}/entered-in-error"),
    route("POST", "/api/v1/controlled-substances/entries/{entry_id}/resolution"),
    route("GET", "/api/v1/controlled-substances/report.csv"),
    route("GET", "/api/v1/audit/events"),
    route("GET", "/api/v1/audit/verify"),
    route("GET", "/fhir/r4/metadata"),
    route("GET", "/fhir/r4/Patient/{patient_id}/$everything"),
    route("POST", "/fhir/r4"),
    route("GET", "/fhir/r4/$export"),
    route("GET", "/fhir/r4/Patient/$export"),
    route("GET", "/fhir/r4/$export-status/{job_id}"),
    route("DELETE", "/fhir/r4/$export-status/{job_id}"),
    route("GET", "/fhir/r4/$export-file/{job_id}/{file_name}"),
];

/// The router with all routes and middleware, ready to serve or to call with `oneshot` in tests.
pub fn router(app: App, config: WebConfig) -> Router {
    let request_timeout = config.request_timeout;
    let trusted_proxies = Arc::new(config.trusted_proxies.clone());
    let headers = security_headers(&config);
    let headers_for_panics = headers.clone();
    let state = AppState { app, config };
    let mut router = Router::new()
        .route("/healthz", get(system_routes::healthz))
        .route("/readyz", get(system_routes::readyz))
        .route("/api/v1/openapi.json", get(system_routes::openapi))
        .route(
            "/api/v1/session",
            post(session_routes::login).get(session_routes::whoami).delete(session_routes::logout),
        )
        .route("/api/v1/session/password", post(session_routes::change_password))
        .route("/api/v1/tokens", get(session_routes::list_tokens).post(session_routes::create_token))
        .route("/api/v1/tokens/{token_id}", delete(session_routes::revoke_token))
        .route("/api/v1/users", get(session_routes::list_users).post(session_routes::create_user))
        .route("/api/v1/users/{user_id}", patch(session_routes::update_user))
        .route("/api/v1/users/{user_id}/password-reset", post(session_routes::reset_password))
        .route("/api/v1/users/{user_id}/tokens", get(session_routes::list_user_tokens))
        .route("/api/v1/users/{user_id}/unlock", post(session_routes::unlock_user))
        .route("/api/v1/patients", get(patient_routes::list).post(patient_routes::create))
        .route("/api/v1/patients/{patient_id}", get(patient_routes::get).patch(patient_routes::amend))
        .route("/api/v1/patients/{patient_id}/amendments", get(patient_routes::amendments))
        .route(
            "/api/v1/patients/{patient_id}/assessments",
            get(patient_routes::assessments).post(patient_routes::record_assessment),
        )
        .route(
            "/api/v1/patients/{patient_id}/assessments/{assessment_id}",
            get(patient_routes::assessment).patch(patient_routes::set_assessment_status),
        )
        .route("/api/v1/patients/{patient_id}/chart", get(chart_routes::chart))
        .route("/api/v1/patients/{patient_id}/chart/{section}", get(chart_routes::list).post(chart_routes::create))
        .route(
            "/api/v1/patients/{patient_id}/chart/{section}/{record_id}",
            get(chart_routes::get).patch(chart_routes::amend),
        )
        .route("/api/v1/patients/{patient_id}/evaluation", get(chart_routes::evaluation))
        .merge(treatment_router())
        .merge(consent_router())
        .merge(note_router())
        .merge(self_report_router())
        .route("/api/v1/worklist", get(worklist_routes::worklist))
        .route(
            "/api/v1/clinic-calendar",
            get(clinic_calendar_routes::get_calendar).put(clinic_calendar_routes::set_calendar),
        )
        .route("/api/v1/clinic-calendar/holidays", post(clinic_calendar_routes::add_holiday))
        .route("/api/v1/clinic-calendar/holidays/{holiday_id}", patch(clinic_calendar_routes::amend_holiday))
        .route("/api/v1/reports/outcomes", get(outcomes_routes::outcomes))
        .route("/api/v1/controlled-substances/lots", get(stock_routes::lots))
        .route("/api/v1/controlled-substances/entries", get(stock_routes::entries).post(stock_routes::record_entry))
        .route("/api/v1/controlled-substances/entries/{entry_id}", get(stock_routes::entry))
        .route("/api/v1/controlled-substances/entries/{entry_id}/entered-in-error", post(stock_routes::mark_in_error))
        .route("/api/v1/controlled-substances/entries/{entry_id}/resolution", post(stock_routes::resolve))
        .route("/api/v1/controlled-substances/report.csv", get(stock_routes::report_csv))
        .route("/api/v1/audit/events", get(audit_routes::events))
        .route("/api/v1/audit/verify", get(audit_routes::verify))
        .route("/fhir/r4/metadata", get(fhir_routes::metadata))
        .route("/fhir/r4/Patient/{patient_id}/$everything", get(fhir_routes::patient_everything))
        .route("/fhir/r4", post(fhir_routes::import_bundle))
        .route("/fhir/r4/$export", get(fhir_bulk_routes::kick_off))
        .route("/fhir/r4/Patient/$export", get(fhir_bulk_routes::kick_off))
        .route("/fhir/r4/$export-status/{job_id}", get(fhir_bulk_routes::status).delete(fhir_bulk_routes::cancel))
        .route("/fhir/r4/$export-file/{job_id}/{file_name}", get(fhir_bulk_routes::file))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(content_type::require_json_bodies))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn_with_state(request_timeout, time_out_slow_requests))
        .layer(middleware::from_fn_with_state(trusted_proxies, request_id_and_log));
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    // Outermost, so a panic anywhere below (handler, extractor, middleware) becomes a 500 problem instead
    // of a dropped connection.
    let panic_headers = headers_for_panics;
    router
        .layer(CatchPanicLayer::custom(move |_panic: Box<dyn Any + Send>| answer_a_panic(&panic_headers)))
        .with_state(state)
}

/// The answer to a request whose handling panicked: a 500 problem (`internal`) with no internals (the
/// panic's message is never sent nor logged here: it may hold values from the request; the process's panic
/// hook prints it), with the security headers, which this layer sits outside of.
fn answer_a_panic(headers: &[(HeaderName, HeaderValue)]) -> Response {
    tracing::error!(problem = "internal", "request handling panicked");
    let mut response = ApiError::Internal.into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// The consent routes (consent forms, a patient's consents), kept apart to ease merging.
fn consent_router() -> Router<AppState> {
    use consent_routes as c;
    Router::new()
        .route("/api/v1/consent-forms", get(c::list_forms).post(c::create_form_version))
        .route("/api/v1/patients/{patient_id}/consents", get(c::list).post(c::create))
        .route("/api/v1/patients/{patient_id}/consents/{consent_id}", patch(c::change))
}

/// The treatment routes (plans, sessions and what is recorded in them), kept apart to ease merging.
fn treatment_router() -> Router<AppState> {
    use treatment_routes as t;
    const SESSION: &str = "/api/v1/patients/{patient_id}/sessions/{session_id}";
    Router::new()
        .route("/api/v1/patients/{patient_id}/plans", get(t::list_plans).post(t::create_plan))
        .route("/api/v1/patients/{patient_id}/plans/{plan_id}", get(t::get_plan).patch(t::amend_plan))
        .route(
            "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable",
            get(t::list_measurement_markings).post(t::mark_measurement_not_applicable),
        )
        .route(
            "/api/v1/patients/{patient_id}/plans/{plan_id}/measurements-not-applicable/{marking_id}",
            patch(t::amend_measurement_marking),
        )
        .route("/api/v1/patients/{patient_id}/sessions", get(t::list_sessions).post(t::start_session))
        .route(SESSION, get(t::get_session).patch(t::update_session))
        .route(&format!("{SESSION}/observations"), post(t::record_observation))
        .route(&format!("{SESSION}/administrations"), post(t::record_administration))
        .route(&format!("{SESSION}/administrations/{{administration_id}}"), patch(t::set_administration_status))
        .route(&format!("{SESSION}/alerts/{{alert_id}}/acknowledgement"), post(t::acknowledge_alert))
        .route(&format!("{SESSION}/rems-form"), get(t::rems_form))
        .route(&format!("{SESSION}/rems-form/submission"), post(t::submit_rems_form))
        .route("/api/v1/patients/{patient_id}/orders", get(t::list_orders).post(t::create_order))
        .route("/api/v1/patients/{patient_id}/orders/{order_id}", patch(t::set_order_status))
        .route(&format!("{SESSION}/overrides"), post(t::record_session_override))
        .route(&format!("{SESSION}/observations/{{sequence}}"), patch(t::correct_observation))
        .route(&format!("{SESSION}/discharge"), post(t::discharge_session))
        .route(&format!("{SESSION}/signature"), post(t::sign_session))
}

/// The self-report routes (docs/self-report.md), kept apart to ease merging.
fn self_report_router() -> Router<AppState> {
    use self_report_routes as r;
    const LINKS: &str = "/api/v1/patients/{patient_id}/self-report-links";
    Router::new()
        .route(LINKS, get(r::list).post(r::create))
        .route(&format!("{LINKS}/{{link_id}}/acknowledgement"), post(r::acknowledge))
        .route("/api/v1/self-reports/{token}", get(r::open).post(r::submit))
}

/// The session-note routes (docs/notes.md), kept apart to ease merging.
fn note_router() -> Router<AppState> {
    use note_routes as n;
    const NOTES: &str = "/api/v1/patients/{patient_id}/sessions/{session_id}/notes";
    Router::new()
        .route(NOTES, get(n::list_notes).post(n::create_note))
        .route(&format!("{NOTES}/{{note_id}}"), get(n::get_note).patch(n::edit_note))
        .route(&format!("{NOTES}/{{note_id}}/signature"), post(n::sign_note))
        .route(&format!("{NOTES}/{{note_id}}/cosignature"), post(n::cosign_note))
        .route("/api/v1/notes/awaiting-cosignature", get(n::awaiting_cosignature))
}

/// OWASP Secure Headers for a JSON API: nothing may be framed, sniffed, cached or referred.
fn security_headers(config: &WebConfig) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin")),
    ];
    if config.behind_tls {
        headers.push((header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000")));
    }
    headers
}

fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}-{:x}", nanos, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Gives a request its id (the client's sane `X-Request-Id`, else a new one) and its client address (from
/// forwarding headers only when the peer is a trusted proxy), as the [`RequestId`] and [`ClientAddress`]
/// extensions the extractors read; returns the id. Shared with the pages crate, so a page and an API call
/// are identified and throttled alike.
pub fn begin_request(request: &mut Request, trusted_proxies: &TrustedProxies) -> String {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map_or_else(new_request_id, str::to_owned);
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let address = request.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map_or_else(
        || "unknown".to_owned(),
        |info| client_address(info.0, request.headers(), trusted_proxies).to_string(),
    );
    request.extensions_mut().insert(ClientAddress(address));
    request_id
}

pub use server::serve_router;

/// Gives each request an id (echoed in `X-Request-Id`), logs one line per request with safe fields
/// only (method, route template, never the path, which holds ids; status; duration), and turns any
/// error response not already a problem (axum's own rejections, say) into one.
async fn request_id_and_log(
    State(trusted_proxies): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = begin_request(&mut request, &trusted_proxies);
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let mut response = next.run(request).await;
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = route.as_deref().unwrap_or("(unmatched)"),
        status = response.status().as_u16(),
        duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    if response.status().as_u16() >= 400
        // A FHIR route's error is an OperationOutcome (application/fhir+json), already a structured answer.
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|value| value != "application/problem+json" && value != ketacare_fhir::FHIR_JSON)
    {
        response = error::problem_from_plain(response).await;
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Answers 503 (`timeout`) for a request not answered within `limit`. The handler's future is dropped,
/// which never cuts a transaction in half: a write already handed to the store's writer is committed
/// by the writer regardless (its answer is then discarded), and one not yet handed over is not written.
async fn time_out_slow_requests(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout { after_seconds: limit.as_secs() }.into_response(),
    }
}

/// Serves the API on `listener` until `shutdown` completes, then lets requests in flight finish
/// (their writes commit) before returning; with the header-read timeout and the connections per address
/// of `config.connection_limits` (see `server.rs`).
pub async fn serve(
    app: App,
    config: WebConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = config.connection_limits;
    let trusted_proxies = config.trusted_proxies.clone();
    serve_router(router(app, config), limits, trusted_proxies, listener, shutdown).await
}
