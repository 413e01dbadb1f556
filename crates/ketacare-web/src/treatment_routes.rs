//! `/api/v1/patients/{patient_id}/plans` and `…/sessions` with their observations, administrations, alert
//! acknowledgements and REMS form: thin handlers over the treatment use cases. Bodies are the documents
//! of docs/sessions.md (read by `ketacare-case` inside the use case), so they are passed on as text.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use ketacare_app::Permission;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::{idempotency_key, if_match_version, text_body};
use crate::responses::{created, with_etag};

pub async fn create_plan(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::PrescribePlans,
            "plan.create",
            format!("patient/{patient_id}/plans"),
            Some(&patient_id),
        )
        .await?;
    let result =
        state.app.create_plan(&caller.actor, &patient_id, text_body(&body)?, idempotency_key(&headers)?).await?;
    Ok(created(format!("/api/v1/patients/{patient_id}/plans/{}", result.resource_id), result))
}

/// Marks one measurement of the plan's measurement plan not applicable, with a reason (nurses and
/// prescribers); the marking is kept for good.
pub async fn mark_measurement_not_applicable(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, plan_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let view =
        state.app.mark_measurement_not_applicable(&caller.actor, &patient_id, &plan_id, text_body(&body)?).await?;
    Ok((axum::http::StatusCode::CREATED, Json(view)).into_response())
}

/// A plan's not-applicable markings, active and entered in error.
pub async fn list_measurement_markings(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, plan_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let markings = state.app.measurement_markings(&caller.actor, &patient_id, &plan_id).await?;
    Ok(Json(serde_json::json!({ "markings": markings })).into_response())
}

/// Marks a not-applicable marking entered in error, with a reason; needs its `If-Match`.
pub async fn amend_measurement_marking(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, plan_id, marking_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RecordChart,
            "measurement.not_applicable.amend",
            format!("patient/{patient_id}/plan/{plan_id}/measurement-not-applicable/{marking_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state
        .app
        .set_measurement_marking_in_error(&caller.actor, &patient_id, &plan_id, &marking_id, version, text_body(&body)?)
        .await?;
    Ok(with_etag(view.version, view))
}

pub async fn list_plans(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    let plans = state.app.plans(&caller.actor, &patient_id).await?;
    Ok(Json(serde_json::json!({ "plans": plans })).into_response())
}

pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    let sessions = state.app.sessions(&caller.actor, &patient_id).await?;
    Ok(Json(serde_json::json!({ "sessions": sessions })).into_response())
}

pub async fn get_plan(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, plan_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state.app.get_plan(&caller.actor, &patient_id, &plan_id).await?;
    Ok(with_etag(view.version, view))
}

pub async fn amend_plan(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, plan_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::PrescribePlans,
            "plan.amend",
            format!("patient/{patient_id}/plan/{plan_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state.app.amend_plan(&caller.actor, &patient_id, &plan_id, version, text_body(&body)?).await?;
    Ok(with_etag(view.version, view))
}

pub async fn start_session(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "session.create",
            format!("patient/{patient_id}/sessions"),
            Some(&patient_id),
        )
        .await?;
    let result =
        state.app.start_session(&caller.actor, &patient_id, text_body(&body)?, idempotency_key(&headers)?).await?;
    Ok(created(format!("/api/v1/patients/{patient_id}/sessions/{}", result.resource_id), result))
}

pub async fn get_session(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = state.app.get_session(&caller.actor, &patient_id, &session_id).await?;
    Ok(with_etag(view.version, view))
}

pub async fn update_session(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "session.amend",
            format!("patient/{patient_id}/session/{session_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state.app.update_session(&caller.actor, &patient_id, &session_id, version, text_body(&body)?).await?;
    Ok(with_etag(view.version, view))
}

pub async fn record_observation(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "observation.create",
            format!("patient/{patient_id}/session/{session_id}/observations"),
            Some(&patient_id),
        )
        .await?;
    let key = idempotency_key(&headers)?;
    let result = state.app.record_observation(&caller.actor, &patient_id, &session_id, text_body(&body)?, key).await?;
    let sequence = result.body["sequence"].as_i64().unwrap_or_default();
    Ok(created(format!("/api/v1/patients/{patient_id}/sessions/{session_id}#observation-{sequence}"), result))
}

pub async fn record_administration(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "administration.create",
            format!("patient/{patient_id}/session/{session_id}/administrations"),
            Some(&patient_id),
        )
        .await?;
    let key = idempotency_key(&headers)?;
    let result =
        state.app.record_administration(&caller.actor, &patient_id, &session_id, text_body(&body)?, key).await?;
    Ok(created(format!("/api/v1/patients/{patient_id}/sessions/{session_id}"), result))
}

/// Marks an administration entered in error (or active again) with a reason; needs the session's `If-Match`.
pub async fn set_administration_status(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id, administration_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "administration.amend",
            format!("patient/{patient_id}/session/{session_id}/administration/{administration_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state
        .app
        .set_administration_status(
            &caller.actor,
            &patient_id,
            &session_id,
            &administration_id,
            version,
            text_body(&body)?,
        )
        .await?;
    Ok(with_etag(view.version, view))
}

pub async fn acknowledge_alert(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id, alert_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "alert.acknowledge",
            format!("patient/{patient_id}/session/{session_id}/alert/{alert_id}/acknowledgement"),
            Some(&patient_id),
        )
        .await?;
    let key = idempotency_key(&headers)?;
    let result =
        state.app.acknowledge_alert(&caller.actor, &patient_id, &session_id, &alert_id, text_body(&body)?, key).await?;
    Ok(created(format!("/api/v1/patients/{patient_id}/sessions/{session_id}"), result))
}

pub async fn rems_form(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (version, form) = state.app.rems_form(&caller.actor, &patient_id, &session_id).await?;
    Ok(with_etag(version, form))
}

/// Marks the form submitted; needs the session's `If-Match`, and a complete form.
pub async fn submit_rems_form(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "rems_form.submit",
            format!("patient/{patient_id}/session/{session_id}/rems-form"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let (version, form) = state.app.submit_rems_form(&caller.actor, &patient_id, &session_id, version).await?;
    Ok(with_etag(version, form))
}

/// Signs a dose order (prescribers).
pub async fn create_order(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::PrescribeDoses,
            "order.create",
            format!("patient/{patient_id}/orders"),
            Some(&patient_id),
        )
        .await?;
    let result =
        state.app.create_order(&caller.actor, &patient_id, text_body(&body)?, idempotency_key(&headers)?).await?;
    let location = format!("/api/v1/patients/{patient_id}/orders/{}", result.resource_id);
    Ok(created(location, result))
}

pub async fn list_orders(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(patient_id): Path<String>,
) -> Result<Response, ApiError> {
    let orders = state.app.orders(&caller.actor, &patient_id).await?;
    Ok(Json(serde_json::json!({ "orders": orders })).into_response())
}

/// Discontinues an order or marks it entered in error, with a reason; needs the order's `If-Match`.
pub async fn set_order_status(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, order_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::PrescribeDoses,
            "order.amend",
            format!("patient/{patient_id}/order/{order_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state.app.set_order_status(&caller.actor, &patient_id, &order_id, version, text_body(&body)?).await?;
    Ok(with_etag(view.version, view))
}

/// A prescriber's override of an overridable hold, with a reason; needs the session's `If-Match`.
pub async fn record_session_override(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::OverrideSessionHolds,
            "session.override",
            format!("patient/{patient_id}/session/{session_id}/overrides"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view =
        state.app.record_session_override(&caller.actor, &patient_id, &session_id, version, text_body(&body)?).await?;
    Ok(with_etag(view.version, view))
}

/// Marks one observation entered in error, with a reason; needs the session's `If-Match`.
pub async fn correct_observation(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id, sequence)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "observation.amend",
            format!("patient/{patient_id}/session/{session_id}/observation/{sequence}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let sequence: i64 = sequence
        .parse()
        .ok()
        .filter(|sequence| *sequence >= 1)
        .ok_or_else(|| ApiError::invalid("sequence", "must be a whole number from 1"))?;
    let view = state
        .app
        .correct_observation(&caller.actor, &patient_id, &session_id, sequence, version, text_body(&body)?)
        .await?;
    Ok(with_etag(view.version, view))
}

/// Discharges a session in monitoring once the engine says the patient is ready; needs `If-Match`.
pub async fn discharge_session(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RunSessions,
            "session.discharge",
            format!("patient/{patient_id}/session/{session_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state.app.discharge_session(&caller.actor, &patient_id, &session_id, version).await?;
    Ok(with_etag(view.version, view))
}

/// Signs a discharged session (prescribers), which locks it; needs `If-Match`.
pub async fn sign_session(
    State(state): State<AppState>,
    caller: Authenticated,
    Path((patient_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::SignSessions,
            "session.sign",
            format!("patient/{patient_id}/session/{session_id}"),
            Some(&patient_id),
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state.app.sign_session(&caller.actor, &patient_id, &session_id, version).await?;
    Ok(with_etag(view.version, view))
}
