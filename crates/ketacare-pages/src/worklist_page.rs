//! `GET /worklist`, the home page after sign-in: what needs staff now, in order of urgency. Open
//! alerts (most severe first, each with its level as a word and an icon, and its age), today's
//! sessions (a scheduled one not yet started has a Start button for nurses and prescribers, posting to
//! the overview's start form), overdue self-reports and REMS forms due; every item links to where it is
//! resolved. The page follows the live feed of session changes (`live_changes.rs`); the
//! page refreshes its lists itself (`ketacare.js` polls the page every 30 s and swaps the lists in;
//! with JavaScript off, the Refresh link does the same).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use ketacare_app::policy::{Permission, allows};
use ketacare_app::{WorklistPatient, WorklistQuery};

use crate::PagesState;
use crate::display::{
    age, clinic_zone, clock_time, date_time, html_id, level_class, level_icon, level_word, value_text, words,
};
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::signed_in::SignedIn;

/// How often the worklist page asks for itself again, in seconds.
pub const WORKLIST_REFRESH_SECONDS: u32 = 30;

#[derive(Template)]
#[template(path = "worklist.html")]
struct WorklistPage {
    chrome: Chrome,
    csrf_token: String,
    date: String,
    time_zone: String,
    updated_at: String,
    refresh_seconds: u32,
    alerts: Vec<AlertItem>,
    /// Patients' self-reports whose PHQ-9 item 9 raised a critical alert not yet acknowledged.
    self_report_alerts: Vec<SelfReportAlertItem>,
    sessions: Vec<SessionItem>,
    self_reports: Vec<SelfReportItem>,
    /// After a "Not applicable" form: whether it was refused, and what to say.
    not_applicable_notice: Option<(bool, &'static str)>,
    rems_forms: Vec<RemsItem>,
    /// Controlled-substance count discrepancies awaiting an admin (admins only).
    stock_discrepancies: usize,
    /// For prescribers: signed notes awaiting their co-signature (`None` for other roles).
    notes_to_cosign: Option<Vec<NoteToCosign>>,
}

struct SelfReportAlertItem {
    patient: String,
    patient_href: String,
    scale: String,
    answered: String,
    /// The acknowledgement form's action, for the roles that may acknowledge (`None` otherwise).
    acknowledge: Option<String>,
}

struct NoteToCosign {
    patient: String,
    href: String,
    what: &'static str,
    signed: String,
}

struct AlertItem {
    level_word: String,
    level_icon: &'static str,
    level_class: &'static str,
    summary: String,
    action: String,
    patient: String,
    since: String,
    age: String,
    change: String,
    href: String,
}

struct SessionItem {
    time: String,
    patient: String,
    patient_href: String,
    step: String,
    status: String,
    /// The session page when one was started, else the patient's overview.
    href: String,
    link_text: &'static str,
    /// For a scheduled session not yet started, when the role runs sessions: where the Start form posts
    /// and the slot (`plan_id/position`) it names.
    start: Option<(String, String)>,
}

struct SelfReportItem {
    patient: String,
    href: String,
    scale: String,
    reason: String,
    due: String,
    /// Until when it can still be done (then it is missed).
    closes: String,
    /// For nurses and prescribers: the "Not applicable" form's action, the measurement's scale and due
    /// instant, and an id for its reason field.
    mark: Option<(String, String, String, String)>,
}

struct RemsItem {
    patient: String,
    href: String,
    due_on: String,
    overdue: bool,
    missing: String,
}

/// `Family, Given (MRN)`.
pub fn patient_label(patient: &WorklistPatient) -> String {
    match &patient.mrn {
        Some(mrn) => format!("{}, {} ({mrn})", patient.family_name, patient.given_name),
        None => format!("{}, {}", patient.family_name, patient.given_name),
    }
}

fn session_href(patient_id: &str, session_id: &str) -> String {
    format!("/patients/{patient_id}/sessions/{session_id}")
}

/// The worklist's query: what became of a "Not applicable" form just posted.
#[derive(Debug, Default, serde::Deserialize)]
pub struct WorklistPageQuery {
    #[serde(default)]
    not_applicable: Option<String>,
}

pub async fn worklist(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(query): Query<WorklistPageQuery>,
) -> Result<Response, PageError> {
    // Fixed words only: nothing from the query is shown as such.
    let not_applicable_notice = match query.not_applicable.as_deref() {
        Some("saved") => Some((false, "The measurement was marked not applicable; the reason is kept with it.")),
        Some("reason_required") => {
            Some((true, "Not marked: say why the measurement does not apply (the reason is required)."))
        }
        Some("refused") => {
            Some((true, "Not marked: the measurement was already done or marked, or is no longer planned."))
        }
        _ => None,
    };
    let view = state.app.worklist(&signed.actor, &WorklistQuery::default()).await?;
    let zone = clinic_zone(&state.app);
    let now = state.app.now();
    let alerts = view
        .open_alerts
        .iter()
        .map(|item| {
            let raised = item.alert["raised_at"].as_str().unwrap_or(&item.changed_at);
            let updated = item.alert["updated_at"].as_str().unwrap_or(raised);
            AlertItem {
                level_word: level_word(&item.level),
                level_icon: level_icon(&item.level),
                level_class: level_class(&item.level),
                summary: value_text(&item.alert["summary"]),
                action: value_text(&item.alert["recommended_action"]),
                patient: patient_label(&item.patient),
                since: clock_time(raised, &zone),
                age: age(updated, now, &zone),
                change: words(&item.change_kind),
                href: format!(
                    "{}#{}",
                    session_href(&item.patient.patient_id, &item.session_id),
                    html_id("alert-", &item.alert_id)
                ),
            }
        })
        .collect();
    let can_acknowledge = allows(signed.principal.role, Permission::RecordChart);
    let self_report_alerts = view
        .self_report_alerts
        .iter()
        .map(|item| SelfReportAlertItem {
            patient: patient_label(&item.patient),
            patient_href: format!("/patients/{}#self-reports", item.patient.patient_id),
            scale: item.scale.replace("phq9", "PHQ-9").replace("gad7", "GAD-7"),
            answered: format!("{} ({})", date_time(&item.answered_at, &zone), age(&item.answered_at, now, &zone)),
            acknowledge: can_acknowledge.then(|| {
                format!("/patients/{}/self-report-links/{}/acknowledgement", item.patient.patient_id, item.link_id)
            }),
        })
        .collect();
    let can_run = allows(signed.principal.role, Permission::RunSessions);
    let sessions = view
        .sessions_today
        .iter()
        .map(|item| {
            let patient_href = format!("/patients/{}", item.patient.patient_id);
            let (href, link_text) = match &item.treatment_session_id {
                Some(session_id) => (session_href(&item.patient.patient_id, session_id), "Open session"),
                None => (patient_href.clone(), "Open patient"),
            };
            let start = (can_run && item.treatment_session_id.is_none() && item.status == "scheduled").then(|| {
                (
                    format!("/patients/{}/sessions", item.patient.patient_id),
                    format!("{}/{}", item.plan_id, item.position),
                )
            });
            SessionItem {
                start,
                time: clock_time(&item.planned_at, &zone),
                patient: patient_label(&item.patient),
                patient_href,
                step: match item.session_number {
                    Some(number) => format!("session {number}, {}", item.step),
                    None => item.step.clone(),
                },
                status: words(&item.status),
                href,
                link_text,
            }
        })
        .collect();
    let can_mark = allows(signed.principal.role, Permission::RecordChart);
    let self_reports = view
        .overdue_self_reports
        .iter()
        .map(|item| SelfReportItem {
            patient: patient_label(&item.patient),
            href: format!("/patients/{}#plans", item.patient.patient_id),
            scale: item.scale.to_uppercase(),
            reason: value_text(&item.reason),
            due: date_time(item.due_at.as_str().unwrap_or_default(), &zone),
            closes: date_time(item.closes_at.as_str().unwrap_or_default(), &zone),
            mark: can_mark.then(|| {
                let due_at = item.due_at.as_str().unwrap_or_default().to_owned();
                (
                    format!("/patients/{}/plans/{}/measurements-not-applicable", item.patient.patient_id, item.plan_id),
                    item.scale.clone(),
                    due_at.clone(),
                    html_id("not-applicable-", &format!("{}-{}-{due_at}", item.plan_id, item.scale)),
                )
            }),
        })
        .collect();
    let rems_forms = view
        .rems_forms_due
        .iter()
        .map(|item| RemsItem {
            patient: patient_label(&item.patient),
            // The form itself, where what is missing is filled in and the form submitted.
            href: format!("{}/rems-form", session_href(&item.patient.patient_id, &item.session_id)),
            due_on: value_text(&item.due_on),
            overdue: item.overdue,
            missing: value_text(&item.missing),
        })
        .collect();
    let notes_to_cosign = if signed.actor.role == ketacare_app::Role::Prescriber {
        let notes = state.app.notes_awaiting_cosignature(&signed.actor).await?;
        Some(
            notes
                .iter()
                .map(|note| NoteToCosign {
                    patient: note.patient_label.clone(),
                    href: format!("{}/notes", session_href(&note.patient_id, &note.session_id)),
                    what: if note.kind == ketacare_app::NoteKind::Note { "Session note" } else { "Addendum" },
                    signed: date_time(&note.signed_at, &zone),
                })
                .collect(),
        )
    } else {
        None
    };
    let page = WorklistPage {
        chrome: Chrome::signed_in("Worklist", "worklist", &signed.principal),
        csrf_token: signed.principal.csrf_token.clone().unwrap_or_default(),
        date: view.date.clone(),
        time_zone: view.time_zone.clone(),
        updated_at: now.to_zoned_datetime(zone.clone()).strftime("%H:%M:%S").to_string(),
        refresh_seconds: WORKLIST_REFRESH_SECONDS,
        alerts,
        self_report_alerts,
        sessions,
        self_reports,
        not_applicable_notice,
        rems_forms,
        notes_to_cosign,
        stock_discrepancies: view.open_stock_discrepancies,
    };
    Ok(render(&page))
}
