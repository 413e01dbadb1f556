//! `GET /api/v1/worklist`: the clinic's day (sessions, open alerts, overdue self-reports, REMS forms due),
//! a thin handler over the worklist use case.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use ketacare_app::WorklistQuery;

use ketacare_app::Permission;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::query;

pub async fn worklist(
    State(state): State<AppState>,
    caller: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state.app.authorize(&caller.actor, Permission::ReadSessions, "worklist.read", "worklist".to_owned(), None).await?;
    let worklist_query: WorklistQuery = query(raw.as_deref())?;
    Ok(Json(state.app.worklist(&caller.actor, &worklist_query).await?).into_response())
}
