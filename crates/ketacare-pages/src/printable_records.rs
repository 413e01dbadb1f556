//! Printable records, each a page with a print stylesheet that fits A4 and US Letter and prints without
//! navigation or forms: the summary that documents treatment-resistant depression for prior
//! authorisation (diagnosis, each antidepressant trial with its dose, duration, adherence and outcome,
//! staging, the rating-scale scores with their baselines, and the decision with its rules version and
//! protocol), and a session's record (gate, dose and lot, vital signs, alerts, discharge, sign-off, REMS,
//! and the signed session note with its addenda and signatures).
//! Both gather their data with the pages' own functions (the overview's `patient_identity`,
//! `chart_decisions` and `scale_results`; the session page's `session_page`), so they show exactly what
//! those pages show, through the same audited use cases.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use ketacare_app::SymptomCourseView;

use crate::PagesState;
use crate::display::clinic_zone;
use crate::layout::Chrome;
use crate::page_error::{PageError, render};
use crate::patient_pages::{
    Evaluation, ScaleResultRow, chart_decisions, name_the_overriders, patient_identity, scale_results,
};
use crate::session_notes_page::{NoteItem, note_items};
use crate::session_page::{PageState, SessionPage, session_page};
use crate::signed_in::SignedIn;
use crate::symptom_chart::symptom_course_svg;

/// When and by whom a record was printed, for its footer.
fn printed_line(state: &PagesState, signed: &SignedIn) -> String {
    let now = state.app.now().to_zoned_datetime(clinic_zone(&state.app)).strftime("%-d %b %Y %H:%M %Z");
    format!("Printed from ketacare on {now} by {}.", signed.principal.username)
}

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryPage {
    chrome: Chrome,
    heading: String,
    identity: Vec<(String, String)>,
    patient_href: String,
    evaluation: Option<Evaluation>,
    evaluation_problem: Option<String>,
    scales: Vec<ScaleResultRow>,
    /// Each scale's baseline and latest total, in words.
    course: Vec<String>,
    chart_svg: String,
    printed: String,
}

/// Each scale's baseline (the core's choice) and latest total, with the change, in a line.
fn course_lines(course: &SymptomCourseView) -> Vec<String> {
    course
        .series
        .iter()
        .filter_map(|series| {
            let (latest_on, latest) = series.points.last()?;
            let baseline = match series.baseline {
                Some((on, total)) => {
                    let change = if total > 0 {
                        format!(
                            " ({:+.0} % from baseline)",
                            (f64::from(*latest) - f64::from(total)) * 100.0 / f64::from(total)
                        )
                    } else {
                        String::new()
                    };
                    format!("baseline {total} on {on}; latest {latest} on {latest_on}{change}")
                }
                None => format!("latest {latest} on {latest_on}; no baseline"),
            };
            Some(format!("{}: {baseline}; remission at or below {}.", series.title, series.remission_at_most))
        })
        .collect()
}

/// `GET /patients/{patient_id}/summary`: the summary for prior authorisation (roles that read the chart).
pub async fn summary(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
) -> Result<Response, PageError> {
    let app = &state.app;
    let actor = &signed.actor;
    let patient = app.get_patient(actor, &patient_id).await?;
    // The chart's scales first: a role that may not read the chart is refused (and audited) here.
    let scales = scale_results(app, actor, &patient_id).await?;
    let (heading, identity, _) = patient_identity(&patient);
    let (mut evaluation, evaluation_problem) = chart_decisions(app, actor, &patient_id).await?;
    name_the_overriders(app, &signed, evaluation.as_mut()).await?;
    let course = app.symptom_course(actor, &patient_id).await?;
    let page = SummaryPage {
        chrome: Chrome::signed_in(&format!("Summary — {heading}"), "patients", &signed.principal),
        patient_href: format!("/patients/{patient_id}"),
        heading,
        identity,
        evaluation,
        evaluation_problem,
        scales,
        course: course_lines(&course),
        chart_svg: symptom_course_svg(&course),
        printed: printed_line(&state, &signed),
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "session_record.html")]
struct SessionRecordPage {
    chrome: Chrome,
    session: SessionPage,
    /// The signed note and addenda (drafts are not part of the record).
    notes: Vec<NoteItem>,
    printed: String,
}

/// `GET /patients/{patient_id}/sessions/{session_id}/record`: the session's printable record (roles
/// that read sessions).
pub async fn session_record(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, session_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let page_state = PageState { for_print: true, ..PageState::default() };
    let session = session_page(&state, &signed, &patient_id, &session_id, page_state).await?;
    let notes = state.app.session_notes(&signed.actor, &patient_id, &session_id).await?;
    let mut notes = note_items(&state, &signed, &notes).await?;
    notes.retain(|note| !note.signatures.is_empty());
    let page = SessionRecordPage {
        chrome: Chrome::signed_in(&format!("Session record — {}", session.patient_name), "", &signed.principal),
        session,
        notes,
        printed: printed_line(&state, &signed),
    };
    Ok(render(&page))
}
