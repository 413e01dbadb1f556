//! `/api/v1/patients/{patient_id}/chart…` and `…/evaluation`: thin handlers over the chart use cases.
//! Every write answers with the record and the evaluation of the chart it left.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use ketacare_app::{ChartRecordView, ChartWriteView, EvaluationQuery, Permission};
use serde_json::Value;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::{idempotency_key, if_match_version, json_body, query};
use crate::responses::{self, with_etag};

pub async fn create(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, section)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permission = if section == "overrides" { Permission::RecordOverrides } else { Permission::RecordChart };
    state
        .app
        .authorize(
            &caller.actor,
            permission,
            "chart.create",
            format!("patient/{patient_id}/chart/{section}"),
            Some(&patient_id),
        )
        .await?;
    let input: Value = json_body(&body)?;
    let key = idempotency_key(&headers)?;
    let created = state.app.create_chart_record(&caller.actor, &patient_id, &section, &input, key).await?;
    let location = format!("/api/v1/patients/{patient_id}/chart/{section}/{}", created.resource_id);
    let response = responses::created(location, created);
    Ok(response)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, section)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let records = state.app.chart_section(&caller.actor, &patient_id, &section).await?;
    Ok(Json(serde_json::json!({ "records": records })).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, section, record_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let record: ChartRecordView = state.app.chart_record(&caller.actor, &patient_id, &section, &record_id).await?;
    Ok(with_etag(record.version, record))
}

/// Corrects a record: `reason`, optional `status`, the fields to change; needs `If-Match`.
pub async fn amend(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, section, record_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permission = if section == "overrides" { Permission::RecordOverrides } else { Permission::RecordChart };
    state
        .app
        .authorize(
            &caller.actor,
            permission,
            "chart.amend",
            format!("patient/{patient_id}/chart/{section}/{record_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let input: Value = json_body(&body)?;
    let view: ChartWriteView =
        state.app.amend_chart_record(&caller.actor, &patient_id, &section, &record_id, version, &input).await?;
    Ok(with_etag(view.record.version, view))
}

/// The case assembled from the chart (`as_of`, `modality`, `jurisdiction` may be asked for).
pub async fn chart(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::ReadChart,
            "chart.read",
            format!("patient/{patient_id}/chart"),
            Some(&patient_id),
        )
        .await?;
    let evaluation_query: EvaluationQuery = query(raw.as_deref())?;
    Ok(Json(state.app.patient_chart(&caller.actor, &patient_id, &evaluation_query).await?).into_response())
}

/// The decision on the chart, computed now (`as_of`, `modality`, `jurisdiction` may be asked for).
pub async fn evaluation(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::ReadEvaluation,
            "chart.evaluate",
            format!("patient/{patient_id}/evaluation"),
            Some(&patient_id),
        )
        .await?;
    let evaluation_query: EvaluationQuery = query(raw.as_deref())?;
    Ok(Json(state.app.chart_evaluation(&caller.actor, &patient_id, &evaluation_query).await?).into_response())
}
