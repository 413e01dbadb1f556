//! A prescriber's override of an eligibility finding, on the patient overview. The app records it as a
//! chart record of the `overrides` section (`App::create_chart_record`, the API's
//! `POST …/chart/overrides`: prescribers only, `by` is the prescriber signed in, the chart re-evaluated
//! in the same write), which resolves a blocking-relative finding only (docs/case-format.md). The form
//! offers each blocking-relative finding not yet overridden, with a reason field that is empty by
//! default and required; a refusal comes back beside it with the reason kept.
//! Each override in effect can be withdrawn by a prescriber with a reason (`App::amend_chart_record`, the
//! API's `PATCH …/chart/overrides/{record_id}` with `status: entered_in_error`): the record stays in the
//! chart, marked, with the reason in the amendments history; the write is audited (`chart.amend`) and the
//! chart decided again without it, so the finding holds eligibility once more.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ketacare_app::policy::{Permission, allows};
use ketacare_app::{AppError, ChartRecordView, Role};
use serde::Deserialize;
use serde_json::json;

use crate::PagesState;
use crate::display::date_time;
use crate::page_error::{PageError, render};
use crate::patient_pages::{Evaluation, OverviewForms, overview_page};
use crate::session_page::read_form;
use crate::signed_in::SignedIn;

/// The override form as posted (kept when refused).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct EligibilityOverrideForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub rule: String,
    #[serde(default)]
    pub reason: String,
    /// The server's words, when refused.
    #[serde(skip)]
    pub error: Option<String>,
}

/// A finding a prescriber may override: its rule, the modalities it holds, why, and its source.
pub struct OverrideCandidate {
    pub rule: String,
    pub anchor: String,
    pub modalities: String,
    pub summary: String,
    pub source: String,
    /// The reason as typed and the server's refusal, when this rule's override was refused.
    pub reason: String,
    pub error: Option<String>,
}

/// The withdrawal of an override as posted (kept when refused).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct OverrideWithdrawalForm {
    #[serde(default)]
    pub csrf_token: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub reason: String,
    /// The override's chart record (from the path) and the server's words, when refused.
    #[serde(skip)]
    pub record_id: String,
    #[serde(skip)]
    pub error: Option<String>,
}

/// An override in effect, with its withdrawal form.
pub struct ActiveOverride {
    pub rule: String,
    pub anchor: String,
    pub action: String,
    pub version: i64,
    pub recorded_at: String,
    pub reason_given: String,
    /// The withdrawal's reason as typed and the server's refusal, when it was refused.
    pub reason: String,
    pub error: Option<String>,
}

/// The overview's override section for a prescriber.
pub struct EligibilityOverrideView {
    pub action: String,
    pub candidates: Vec<OverrideCandidate>,
    /// The overrides in effect (not withdrawn), each with the form to withdraw it.
    pub active: Vec<ActiveOverride>,
    /// A refusal of a rule the form does not offer (no longer overridable, say), shown above the form.
    pub general_error: Option<String>,
}

/// The override section, for the roles that record overrides: each blocking-relative finding without an
/// override, once per rule (an override names a rule, whatever the modality).
pub fn override_view(
    role: Role,
    patient_id: &str,
    evaluation: Option<&Evaluation>,
    refused: Option<EligibilityOverrideForm>,
    overrides: &[ChartRecordView],
    refused_withdrawal: Option<OverrideWithdrawalForm>,
    zone: &jiff::tz::TimeZone,
) -> Option<EligibilityOverrideView> {
    if !allows(role, Permission::RecordOverrides) {
        return None;
    }
    let mut candidates: Vec<OverrideCandidate> = Vec::new();
    for modality in evaluation.map(|evaluation| evaluation.modalities.as_slice()).unwrap_or_default() {
        for finding in &modality.findings {
            if finding.class_code != "blocking_relative" || !finding.overridden_by.is_empty() {
                continue;
            }
            if let Some(known) = candidates.iter_mut().find(|candidate| candidate.rule == finding.rule) {
                known.modalities.push_str(&format!(", {}", modality.name));
                continue;
            }
            let typed = refused.as_ref().filter(|form| form.rule == finding.rule);
            candidates.push(OverrideCandidate {
                anchor: format!("override-{}", crate::display::html_id("", &finding.rule)),
                rule: finding.rule.clone(),
                modalities: modality.name.clone(),
                summary: finding.reason.clone(),
                source: finding.source.clone(),
                reason: typed.map(|form| form.reason.clone()).unwrap_or_default(),
                error: typed.and_then(|form| form.error.clone()),
            });
        }
    }
    let general_error = refused
        .filter(|form| !candidates.iter().any(|candidate| candidate.rule == form.rule))
        .and_then(|form| form.error);
    let active = overrides
        .iter()
        .filter(|record| record.status.as_str() == "active")
        .map(|record| {
            let typed = refused_withdrawal.as_ref().filter(|form| form.record_id == record.record_id);
            ActiveOverride {
                rule: record.data["rule"].as_str().unwrap_or_default().to_owned(),
                anchor: format!("withdraw-{}", crate::display::html_id("", &record.record_id)),
                action: format!("/patients/{patient_id}/eligibility-overrides/{}/withdrawal", record.record_id),
                version: record.version,
                recorded_at: date_time(&record.created_at, zone),
                reason_given: record.data["reason"].as_str().unwrap_or_default().to_owned(),
                reason: typed.map(|form| form.reason.clone()).unwrap_or_default(),
                error: typed.and_then(|form| form.error.clone()),
            }
        })
        .collect();
    Some(EligibilityOverrideView {
        action: format!("/patients/{patient_id}/eligibility-overrides"),
        candidates,
        active,
        general_error,
    })
}

/// `POST /patients/{patient_id}/eligibility-overrides`: records a prescriber's override of one finding
/// with a reason; the overview comes back showing the finding overridden and the decision made again.
pub async fn record_eligibility_override(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let mut form: EligibilityOverrideForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    // An empty reason is left out, so the chart's reader says that an override needs one.
    let reason = form.reason.trim();
    let record = if reason.is_empty() {
        json!({ "rule": form.rule.trim() })
    } else {
        json!({ "rule": form.rule.trim(), "reason": reason })
    };
    let message = match state.app.create_chart_record(&signed.actor, &patient_id, "overrides", &record, None).await {
        Ok(_) => {
            return Ok(Redirect::to(&format!("/patients/{patient_id}?saved=override#decisions-title")).into_response());
        }
        Err(AppError::Invalid { field, problem }) => format!("{field}: {problem}"),
        Err(AppError::Refused { field, problem, rule_id }) => format!("{field}: {problem} ({rule_id})"),
        Err(other) => return Err(other.into()),
    };
    form.error = Some(message);
    let forms = OverviewForms { eligibility_override: Some(form), ..OverviewForms::default() };
    let page = overview_page(&state, &signed, &patient_id, forms).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

/// `POST /patients/{patient_id}/eligibility-overrides/{record_id}/withdrawal`: withdraws a prescriber's
/// override with a reason (the override record marked entered in error, kept in the chart); the overview
/// comes back with the decision made again, the finding holding eligibility once more.
pub async fn withdraw_eligibility_override(
    State(state): State<PagesState>,
    signed: SignedIn,
    Path((patient_id, record_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let mut form: OverrideWithdrawalForm = read_form(&headers, &body)?;
    signed.check_form_token(&form.csrf_token)?;
    form.record_id.clone_from(&record_id);
    let Ok(version) = form.version.trim().parse::<i64>() else { return Err(PageError::FormRejected) };
    // An empty reason is left out, so the use case says that a withdrawal needs one.
    let reason = form.reason.trim();
    let change = if reason.is_empty() {
        json!({ "status": "entered_in_error" })
    } else {
        json!({ "status": "entered_in_error", "reason": reason })
    };
    let amended = state.app.amend_chart_record(&signed.actor, &patient_id, "overrides", &record_id, version, &change);
    let message = match amended.await {
        Ok(_) => {
            let to = format!("/patients/{patient_id}?saved=override-withdrawn#decisions-title");
            return Ok(Redirect::to(&to).into_response());
        }
        Err(AppError::Invalid { field, problem }) => format!("{field}: {problem}"),
        Err(AppError::Refused { field, problem, rule_id }) => format!("{field}: {problem} ({rule_id})"),
        Err(AppError::StaleVersion { .. }) => {
            "the chart changed since this page was read: the override is shown as it is now; withdraw it again"
                .to_owned()
        }
        Err(other) => return Err(other.into()),
    };
    form.error = Some(message);
    let forms = OverviewForms { override_withdrawal: Some(form), ..OverviewForms::default() };
    let page = overview_page(&state, &signed, &patient_id, forms).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}
