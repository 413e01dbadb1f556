//! The audit log for admins and auditors: a page of events, and verification of the whole chain.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use ketacare_app::Permission;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::query;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn events(
    State(state): State<AppState>,
    caller: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state.app.authorize(&caller.actor, Permission::ReadAudit, "audit.read", "audit".to_owned(), None).await?;
    let page: EventsQuery = query(raw.as_deref())?;
    let events = state.app.audit_events(&caller.actor, page.after.unwrap_or(0), page.limit.unwrap_or(100)).await?;
    Ok(Json(serde_json::json!({ "events": events })).into_response())
}

pub async fn verify(State(state): State<AppState>, caller: Authenticated) -> Result<Response, ApiError> {
    Ok(Json(state.app.verify_audit_chain(Some(&caller.actor)).await?).into_response())
}
