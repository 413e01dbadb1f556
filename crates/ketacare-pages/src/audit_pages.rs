//! The audit log for auditors and admins: `GET /audit` reads a page of events through `App::audit_log`
//! (the use case of `GET /api/v1/audit/events`: keyset pages by `seq`, oldest first), filtered by patient
//! id, username, action (or a prefix with `*`) and a range of days in the clinic's time zone, showing
//! each acting account's username; `GET /audit/verify` runs `App::verify_audit_chain` (the use case of
//! `GET /api/v1/audit/verify`) on demand and shows its report. A filter the use case refuses comes back
//! beside its field with the filters kept.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use ketacare_app::{AppError, AuditQuery};
use serde::{Deserialize, Serialize};

use crate::PagesState;
use crate::display::{clinic_zone, date_time};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::signed_in::SignedIn;
use crate::treatment_forms::FormErrors;

/// Events per page.
pub const AUDIT_PAGE_SIZE: i64 = 50;

/// The filters as typed (also the query of the paging links).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct AuditFilters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    patient: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    action: String,
    /// First day, `YYYY-MM-DD`, in the clinic's zone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    from: String,
    /// Last day (included).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    to: String,
    #[serde(default, skip_serializing)]
    after: Option<i64>,
}

impl AuditFilters {
    fn any(&self) -> bool {
        [&self.patient, &self.user, &self.action, &self.from, &self.to].iter().any(|text| !text.trim().is_empty())
    }

    /// `/audit?…` with these filters, starting after `after` when given.
    fn href(&self, after: Option<i64>) -> String {
        let mut query = serde_urlencoded::to_string(self).unwrap_or_default();
        if let Some(after) = after {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("after={after}"));
        }
        if query.is_empty() { "/audit".to_owned() } else { format!("/audit?{query}") }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    filters: AuditFilters,
    fields: Vec<FilterField>,
    time_zone: String,
    errors: FormErrors,
    events: Vec<EventRow>,
    /// Whether this page starts after the first event (a link back to the first page is shown).
    paged: bool,
    first_href: String,
    next_href: Option<String>,
    filtered: bool,
}

/// One field of the filter form, with what was typed.
struct FilterField {
    id: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
    kind: &'static str,
}

impl AuditFilters {
    fn fields(&self) -> Vec<FilterField> {
        let field = |id, label, hint, value: &str, kind| FilterField { id, label, hint, value: value.to_owned(), kind };
        vec![
            field("patient", "Patient id", "Its events, and the lists that showed it", &self.patient, "text"),
            field("user", "Username", "What this account did", &self.user, "text"),
            field(
                "action",
                "Action",
                "Such as session.login, or user.* for every account action",
                &self.action,
                "text",
            ),
            field("from", "From (day)", "The first day", &self.from, "date"),
            field("to", "To (day)", "The last day, included", &self.to, "date"),
        ]
    }
}

struct EventRow {
    seq: i64,
    at: String,
    /// The account's username, or what the event says instead (`—` for none).
    who: String,
    who_href: Option<String>,
    role: String,
    action: String,
    resource: String,
    patient: String,
    patient_href: Option<String>,
    outcome: String,
    request_id: String,
}

/// The start of a day in the clinic's zone, or the field's error.
fn day_start(
    id: &str,
    label: &str,
    text: &str,
    zone: &TimeZone,
    next_day: bool,
) -> Result<Option<Timestamp>, (String, String)> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = || (id.to_owned(), format!("{label} must be a date such as 2026-12-04, got \"{text}\""));
    let date: Date = text.parse().map_err(|_| invalid())?;
    let date = if next_day { date.tomorrow().map_err(|_| invalid())? } else { date };
    date.to_zoned_datetime(zone.clone()).map(|start| Some(start.timestamp())).map_err(|_| invalid())
}

/// Where a use case's refusal of a filter goes on the form.
fn filter_field(field: &str) -> &'static str {
    match field {
        "patient_id" => "patient",
        "username" => "user",
        "action" => "action",
        "occurred_from" => "from",
        _ => "to",
    }
}

/// `GET /audit`.
pub async fn audit_log(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(filters): Query<AuditFilters>,
) -> Result<Response, PageError> {
    let zone = clinic_zone(&state.app);
    let mut errors = Vec::new();
    let mut day = |id: &str, label: &str, text: &str, next_day: bool| match day_start(id, label, text, &zone, next_day)
    {
        Ok(at) => at,
        Err(error) => {
            errors.push(error);
            None
        }
    };
    let occurred_from = day("from", "From", &filters.from, false);
    let occurred_before = day("to", "To", &filters.to, true);
    let query = AuditQuery {
        after_seq: filters.after.unwrap_or(0).max(0),
        limit: AUDIT_PAGE_SIZE,
        patient_id: Some(filters.patient.clone()),
        username: Some(filters.user.clone()),
        action: Some(filters.action.clone()),
        occurred_from,
        occurred_before,
    };
    let mut page = AuditPage {
        chrome: Chrome::signed_in("Audit log", "audit", &signed.principal),
        time_zone: state.app.clinic_time_zone().to_owned(),
        errors: FormErrors::default(),
        events: Vec::new(),
        paged: filters.after.is_some_and(|after| after > 0),
        first_href: filters.href(None),
        next_href: None,
        filtered: filters.any(),
        fields: filters.fields(),
        filters,
    };
    if !errors.is_empty() {
        // A date that is not one: the use case is still asked, so the permission check (and its audited
        // refusal) comes first, but with no date filter the page would show the wrong events: none shown.
        state
            .app
            .authorize(&signed.actor, ketacare_app::Permission::ReadAudit, "audit.read", "audit".to_owned(), None)
            .await?;
        page.errors = FormErrors { messages: errors };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
    }
    match state.app.audit_log(&signed.actor, &query).await {
        Ok(log) => {
            page.next_href = log.next_after.map(|after| page.filters.href(Some(after)));
            page.events = log
                .events
                .iter()
                .map(|event| {
                    let username = event.actor_id.as_ref().and_then(|id| log.usernames.get(id));
                    EventRow {
                        seq: event.seq,
                        at: date_time(&event.occurred_at, &zone),
                        who: match (username, &event.actor_id) {
                            (Some(name), _) => name.clone(),
                            (None, Some(id)) => id.clone(),
                            (None, None) => "\u{2014}".to_owned(),
                        },
                        who_href: username
                            .map(|name| AuditFilters { user: name.clone(), ..AuditFilters::default() }.href(None)),
                        role: event.actor_role.clone().unwrap_or_default(),
                        action: event.action.clone(),
                        resource: event.resource.clone(),
                        patient: event.patient_id.clone().unwrap_or_default(),
                        patient_href: event
                            .patient_id
                            .as_ref()
                            .map(|id| AuditFilters { patient: id.clone(), ..AuditFilters::default() }.href(None)),
                        outcome: event.outcome.clone(),
                        request_id: event.request_id.clone().unwrap_or_default(),
                    }
                })
                .collect();
            Ok(render(&page))
        }
        Err(AppError::Invalid { field, problem }) => {
            let id = filter_field(&field);
            page.errors = FormErrors { messages: vec![(id.to_owned(), format!("{field}: {problem}"))] };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "audit_verify.html")]
struct AuditVerifyPage {
    chrome: Chrome,
    intact: bool,
    events_checked: u64,
    head_seq: i64,
    head_hash: String,
    rows_checked: u64,
    keyed_from_seq: Option<i64>,
    keyed_events_unchecked: u64,
    problems: Vec<String>,
    checked_at: String,
}

/// `GET /audit/verify`: verifies the whole chain now (it reads every event and covered row, so it is
/// run on demand, not with every page of the log).
pub async fn audit_verify(State(state): State<PagesState>, signed: SignedIn) -> Result<Response, PageError> {
    let report = state.app.verify_audit_chain(Some(&signed.actor)).await?;
    let zone = clinic_zone(&state.app);
    let page = AuditVerifyPage {
        chrome: Chrome::signed_in("Audit log verification", "audit", &signed.principal),
        intact: report.intact(),
        events_checked: report.events_checked,
        head_seq: report.head_seq,
        head_hash: report.head_hash.clone(),
        rows_checked: report.rows_checked,
        keyed_from_seq: report.keyed_from_seq,
        keyed_events_unchecked: report.keyed_events_unchecked,
        problems: report.problem_lines(),
        checked_at: state.app.now().to_zoned_datetime(zone).strftime("%-d %b %Y %H:%M:%S").to_string(),
    };
    Ok(render(&page))
}
