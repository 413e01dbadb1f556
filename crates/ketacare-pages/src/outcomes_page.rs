//! `/reports/outcomes`: the clinic's cohort outcomes report (docs/outcomes.md) for admins, prescribers
//! and analysts — a period and modality form, then per modality the response and remission rates by
//! week as an SVG chart (`outcomes_chart.rs`) with its table, the other measures, and one row per plan
//! by pseudonym and week. Printable (print stylesheet), with its CSV from the API. The use case is the
//! API's (`App::outcomes_report`), so permission, validation and audit are its.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use ketacare_app::{AppError, CheckpointStanding, CohortReport, OutcomesQuery};

use crate::PagesState;
use crate::layout::Chrome;
use crate::outcomes_chart::{checkpoint_label, outcomes_rates_svg};
use crate::page_error::{PageError, render};
use crate::signed_in::SignedIn;
use crate::treatment_forms::FormErrors;

#[derive(Template)]
#[template(path = "outcomes.html")]
struct OutcomesPage {
    chrome: Chrome,
    from: String,
    to: String,
    as_of: String,
    modality_options: Vec<(String, String, bool)>,
    csv_href: String,
    reports: Vec<ReportView>,
    errors: FormErrors,
}

struct ReportView {
    id: String,
    title: String,
    period: String,
    patients: u32,
    chart_svg: String,
    checkpoints: Vec<CheckpointRow>,
    measures: Vec<(String, String)>,
    rows: Vec<PatientRow>,
}

struct CheckpointRow {
    label: String,
    reached: u32,
    measured: u32,
    responders: u32,
    remitters: u32,
    response_rate: String,
    remission_rate: String,
    decided_by: String,
}

struct PatientRow {
    pseudonym: String,
    week: String,
    standings: Vec<String>,
    days_to_response: String,
    sessions_given: u32,
}

fn rate(value: &Option<impl std::fmt::Display>) -> String {
    value.as_ref().map_or_else(|| "–".to_owned(), |one| format!("{one}%"))
}

fn modality_title(modality: &str) -> &'static str {
    if modality == "esketamine" { "Esketamine" } else { "IV ketamine" }
}

fn report_view(report: &CohortReport) -> ReportView {
    let code = report.modality.as_str();
    let checkpoints = report
        .checkpoints
        .iter()
        .map(|summary| CheckpointRow {
            label: checkpoint_label(summary.checkpoint),
            reached: summary.reached,
            measured: summary.measured,
            responders: summary.responders,
            remitters: summary.remitters,
            response_rate: rate(&summary.response_rate_pct),
            remission_rate: rate(&summary.remission_rate_pct),
            decided_by: summary
                .decided_by
                .iter()
                .map(|(scale, count)| format!("{} {count}", scale.scale().title()))
                .collect::<Vec<String>>()
                .join(", "),
        })
        .collect();
    let mut measures = vec![
        (
            "Time to response (median days from the first session)".to_owned(),
            match &report.median_days_to_response {
                Some(days) => format!("{days} days ({} responders)", report.responders_ever),
                None => "no responder yet".to_owned(),
            },
        ),
        (
            "Sessions given".to_owned(),
            format!(
                "{} (median {} per patient)",
                report.sessions_given,
                report.median_sessions_per_patient.map_or_else(|| "–".to_owned(), |median| median.to_string())
            ),
        ),
        (
            "Measurement plan adherence".to_owned(),
            format!(
                "{} ({} of {} measurements done)",
                rate(&report.measurement_adherence_pct),
                report.measurements_done,
                report.measurements_due
            ),
        ),
    ];
    for alert in &report.alert_rates {
        measures.push((
            format!("Alerts per session: {}", alert.level.as_str()),
            format!(
                "{} ({} alerts over {} sessions)",
                alert.per_session.map_or_else(|| "–".to_owned(), |rate| rate.to_string()),
                alert.alerts,
                report.sessions_monitored
            ),
        ));
    }
    if let (Some(due), Some(on_time)) = (report.rems_forms_due, report.rems_forms_on_time) {
        measures.push((
            "REMS Patient Monitoring Forms on time".to_owned(),
            format!("{} ({on_time} of {due} due)", rate(&report.rems_on_time_pct)),
        ));
    }
    let rows = report
        .rows
        .iter()
        .map(|row| PatientRow {
            pseudonym: row.pseudonym.clone(),
            week: row.plan_started_week.clone(),
            standings: row
                .standings
                .iter()
                .map(|(_, standing)| {
                    match standing {
                        CheckpointStanding::NotReached => "not reached",
                        CheckpointStanding::NotMeasured => "not measured",
                        CheckpointStanding::Measured { remission: true, .. } => "remission",
                        CheckpointStanding::Measured { response: true, .. } => "response",
                        CheckpointStanding::Measured { .. } => "no response",
                    }
                    .to_owned()
                })
                .collect(),
            days_to_response: row.days_to_response.map_or_else(|| "–".to_owned(), |days| days.to_string()),
            sessions_given: row.sessions_given,
        })
        .collect();
    ReportView {
        id: format!("outcomes-{code}"),
        title: modality_title(code).to_owned(),
        period: format!("plans started {} to {}", report.from, report.to),
        patients: report.patients,
        chart_svg: outcomes_rates_svg(report, &format!("outcomes-chart-{code}")),
        checkpoints,
        measures,
        rows,
    }
}

/// `GET /reports/outcomes?modality&from&to`: the printable cohort outcomes report.
pub async fn outcomes(
    State(state): State<PagesState>,
    signed: SignedIn,
    Query(query): Query<OutcomesQuery>,
) -> Result<Response, PageError> {
    let query = OutcomesQuery {
        modality: query.modality.filter(|text| !text.is_empty()),
        from: query.from.filter(|text| !text.is_empty()),
        to: query.to.filter(|text| !text.is_empty()),
        format: None,
    };
    let (reports, errors) = match state.app.outcomes_report(&signed.actor, &query).await {
        Ok(reports) => (reports, FormErrors::default()),
        Err(AppError::Invalid { field, problem }) => {
            let reports = state.app.outcomes_report(&signed.actor, &OutcomesQuery::default()).await?;
            (reports, FormErrors { messages: vec![(format!("outcomes-{field}"), format!("{field}: {problem}"))] })
        }
        Err(error) => return Err(error.into()),
    };
    let (from, to) = reports.reports.first().map(|one| (one.from.to_string(), one.to.to_string())).unwrap_or_default();
    let modality = query.modality.clone().unwrap_or_default();
    let mut csv_query: Vec<(&str, String)> =
        vec![("from", from.clone()), ("to", to.clone()), ("format", "csv".to_owned())];
    if !modality.is_empty() && errors.is_empty() {
        csv_query.insert(0, ("modality", modality.clone()));
    }
    let csv_href = format!("/api/v1/reports/outcomes?{}", serde_urlencoded::to_string(&csv_query).unwrap_or_default());
    let modality_options = [("", "Both"), ("iv_ketamine", "IV ketamine"), ("esketamine", "Esketamine")]
        .iter()
        .map(|(value, label)| ((*value).to_owned(), (*label).to_owned(), *value == modality))
        .collect();
    let page = OutcomesPage {
        chrome: Chrome::signed_in("Outcomes report", "outcomes", &signed.principal),
        from,
        to,
        as_of: reports.as_of.to_string(),
        modality_options,
        csv_href,
        reports: reports.reports.iter().map(report_view).collect(),
        errors,
    };
    Ok(render(&page))
}
