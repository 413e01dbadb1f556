//! The audit log for admins and auditors: a page of events (filtered by patient, account, action and
//! time, with the acting accounts' usernames), and verification of the whole chain.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use jiff::Timestamp;
use ketacare_app::{AppError, AuditQuery, Permission};

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::query;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<i64>,
    limit: Option<i64>,
    patient_id: Option<String>,
    username: Option<String>,
    action: Option<String>,
    occurred_from: Option<String>,
    occurred_before: Option<String>,
}

/// An RFC 3339 time of a query parameter, or the problem naming it.
fn instant(name: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|text| {
        text.parse::<Timestamp>().map_err(|_| {
            ApiError::from(AppError::Invalid {
                field: name.to_owned(),
                problem: format!("must be an RFC 3339 time such as 2026-12-04T09:00:00Z, got {text:?}"),
            })
        })
    })
    .transpose()
}

pub async fn events(
    State(state): State<AppState>,
    caller: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state.app.authorize(&caller.actor, Permission::ReadAudit, "audit.read", "audit".to_owned(), None).await?;
    let page: EventsQuery = query(raw.as_deref())?;
    let audit_query = AuditQuery {
        after_seq: page.after.unwrap_or(0),
        limit: page.limit.unwrap_or(100),
        occurred_from: instant("occurred_from", page.occurred_from.as_deref())?,
        occurred_before: instant("occurred_before", page.occurred_before.as_deref())?,
        patient_id: page.patient_id,
        username: page.username,
        action: page.action,
    };
    Ok(Json(state.app.audit_log(&caller.actor, &audit_query).await?).into_response())
}

pub async fn verify(State(state): State<AppState>, caller: Authenticated) -> Result<Response, ApiError> {
    Ok(Json(state.app.verify_audit_chain(Some(&caller.actor)).await?).into_response())
}
