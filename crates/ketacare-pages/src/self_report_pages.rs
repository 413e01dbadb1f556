//! Patients' self-report links in the web app. Staff make a link on the patient's overview (shown once,
//! on the answer page, to give to the patient) and acknowledge a self-report alert on the worklist. The
//! patient's page, `/r/{token}`, needs no account: the first name only, the PHQ-9 or GAD-7 in its
//! published patient wording on one page (no script, so it works on any phone; large radio buttons;
//! "Question n of N" on each), a clear "sent" page, and the protocol's crisis text when item 9 screens
//! positive. One page, not one question per screen: nine or seven taps and one Send, no page loads
//! between questions on a slow phone connection, and nothing to lose if the phone locks mid-way.
//! An unknown, used or expired link gets one plain page that does not say which. The patient's pages
//! carry their own stricter CSP (no script at all) and send no Referer (the token is in the address).

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::{AppError, SelfReportForm, SelfReportReceipt};
use ketacare_web::RequestId;
use serde_json::{Map, Value};

use crate::PagesState;
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::scale_forms::scale_definition;
use crate::signed_in::{SignedIn, same_site_form};

/// The patient's pages: our stylesheet only, no script, forms post only here.
const PATIENT_PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The question as the patient version of each scale asks it (Kroenke 2001, PHQ-9; Spitzer 2006, GAD-7).
fn patient_question(scale: &str) -> &'static str {
    match scale {
        "phq9" => "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
        _ => "Over the last 2 weeks, how often have you been bothered by the following problems?",
    }
}

fn scale_title(scale: &str) -> &'static str {
    scale_definition(scale).map_or("questionnaire", |definition| definition.title)
}

#[derive(Template)]
#[template(path = "self_report.html")]
struct PatientPage {
    title: String,
    given_name: String,
    /// The questionnaire (`None` on the sent and "does not work" pages).
    form: Option<QuestionnaireView>,
    sent: bool,
    crisis_text: Option<String>,
    /// `(item id, message)` for the error summary.
    errors: Vec<(String, String)>,
}

struct QuestionnaireView {
    action: String,
    question: &'static str,
    items: Vec<QuestionView>,
}

struct QuestionView {
    id: String,
    number: usize,
    count: usize,
    label: &'static str,
    options: Vec<(String, &'static str, &'static str, bool)>,
    error: Option<String>,
}

fn patient_response(status: StatusCode, page: &PatientPage) -> Response {
    let mut response = (status, render(page)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PATIENT_PAGE_CSP));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}

/// The one page for a link that does not work, whatever the reason (the audit log keeps the reason).
fn link_does_not_work() -> Response {
    let page = PatientPage {
        title: "This link does not work".to_owned(),
        given_name: String::new(),
        form: None,
        sent: false,
        crisis_text: None,
        errors: Vec::new(),
    };
    patient_response(StatusCode::NOT_FOUND, &page)
}

fn questionnaire(
    token: &str,
    form: &SelfReportForm,
    typed: &Map<String, Value>,
    errors: &[(String, String)],
) -> Option<QuestionnaireView> {
    let definition = scale_definition(&form.scale)?;
    let count = definition.items.len();
    let items = definition
        .items
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let id = format!("item-{index}");
            let chosen = typed.get(&id).and_then(Value::as_str).unwrap_or_default();
            QuestionView {
                options: definition
                    .answers
                    .iter()
                    .map(|(value, words)| (format!("{id}-{value}"), *value, *words, chosen == *value))
                    .collect(),
                error: errors.iter().find(|(field, _)| *field == id).map(|(_, message)| message.clone()),
                number: index + 1,
                count,
                id,
                label,
            }
        })
        .collect();
    Some(QuestionnaireView { action: format!("/r/{token}"), question: patient_question(&form.scale), items })
}

fn form_page(
    token: &str,
    form: &SelfReportForm,
    typed: &Map<String, Value>,
    errors: Vec<(String, String)>,
) -> Response {
    let Some(view) = questionnaire(token, form, typed, &errors) else { return link_does_not_work() };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = PatientPage {
        title: format!("Your {}", scale_title(&form.scale)),
        given_name: form.given_name.clone(),
        form: Some(view),
        sent: false,
        crisis_text: None,
        errors,
    };
    patient_response(status, &page)
}

/// `GET /r/{token}`: the patient's questionnaire.
pub async fn self_report_form(
    State(state): State<PagesState>,
    Extension(request_id): Extension<RequestId>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    match state.app.open_self_report(&token, &request_id.0).await {
        Ok(form) => Ok(form_page(&token, &form, &Map::new(), Vec::new())),
        Err(AppError::NotFound { .. } | AppError::Refused { .. }) => Ok(link_does_not_work()),
        Err(other) => Err(other.into()),
    }
}

/// `POST /r/{token}`: the patient's answers; the "sent" page, with the crisis text when item 9 screens
/// positive; an unanswered question comes back named, answers kept.
pub async fn submit_self_report(
    State(state): State<PagesState>,
    Extension(request_id): Extension<RequestId>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    if !same_site_form(&headers) {
        return Err(PageError::FormRejected);
    }
    let typed: Map<String, Value> = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .map_err(|_| PageError::FormRejected)?
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let form = match state.app.open_self_report(&token, &request_id.0).await {
        Ok(form) => form,
        Err(AppError::NotFound { .. } | AppError::Refused { .. }) => return Ok(link_does_not_work()),
        Err(other) => return Err(other.into()),
    };
    let answers: Vec<Option<u8>> = (0..form.item_count)
        .map(|index| typed.get(&format!("item-{index}")).and_then(Value::as_str).and_then(|text| text.parse().ok()))
        .collect();
    let unanswered: Vec<(String, String)> = answers
        .iter()
        .enumerate()
        .filter(|(_, answer)| answer.is_none())
        .map(|(index, _)| (format!("item-{index}"), format!("Please answer question {}", index + 1)))
        .collect();
    if !unanswered.is_empty() {
        return Ok(form_page(&token, &form, &typed, unanswered));
    }
    match state.app.submit_self_report(&token, &answers, &request_id.0).await {
        Ok(receipt) => Ok(sent_page(&receipt)),
        Err(AppError::Invalid { field, .. }) => {
            let item = field.strip_prefix("answers[").and_then(|rest| rest.strip_suffix(']')).unwrap_or("0");
            let number = item.parse::<usize>().unwrap_or_default();
            let errors = vec![(format!("item-{number}"), format!("Please answer question {}", number + 1))];
            Ok(form_page(&token, &form, &typed, errors))
        }
        Err(AppError::NotFound { .. } | AppError::Refused { .. }) => Ok(link_does_not_work()),
        Err(other) => Err(other.into()),
    }
}

fn sent_page(receipt: &SelfReportReceipt) -> Response {
    let page = PatientPage {
        title: "Thank you: your answers were sent".to_owned(),
        given_name: receipt.given_name.clone(),
        form: None,
        sent: true,
        crisis_text: receipt.crisis_text.clone(),
        errors: Vec::new(),
    };
    patient_response(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "self_report_link.html")]
struct LinkCreatedPage {
    chrome: Chrome,
    patient_href: String,
    scale_title: &'static str,
    link: String,
    expires_at: String,
}

/// `POST /patients/{patient_id}/self-report-links`: makes a link and shows it once.
pub async fn create_link(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    if !same_site_form(&headers) {
        return Err(PageError::FormRejected);
    }
    let typed: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| PageError::FormRejected)?;
    let field =
        |name: &str| typed.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).unwrap_or_default();
    signed.check_form_token(field("csrf_token"))?;
    let created = state.app.create_self_report_link(&signed.actor, &patient_id, field("scale")).await?;
    let scheme = if state.config.behind_tls { "https" } else { "http" };
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("localhost");
    let zone = crate::display::clinic_zone(&state.app);
    let page = LinkCreatedPage {
        chrome: Chrome::signed_in("Self-report link", "patients", &signed.principal),
        patient_href: format!("/patients/{patient_id}#self-reports"),
        scale_title: scale_title(&created.link.scale),
        link: format!("{scheme}://{host}{}", created.path),
        expires_at: crate::display::date_time(&created.link.expires_at, &zone),
    };
    Ok((StatusCode::CREATED, render(&page)).into_response())
}

/// `POST /patients/{patient_id}/self-report-links/{link_id}/acknowledgement`: back to the worklist.
pub async fn acknowledge_alert(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, link_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    if !same_site_form(&headers) {
        return Err(PageError::FormRejected);
    }
    let typed: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| PageError::FormRejected)?;
    let token = typed.iter().find(|(key, _)| key == "csrf_token").map(|(_, value)| value.as_str()).unwrap_or_default();
    signed.check_form_token(token)?;
    state.app.acknowledge_self_report_alert(&signed.actor, &patient_id, &link_id).await?;
    Ok(Redirect::to("/worklist#self-report-alerts").into_response())
}
