//! `/api/v1/clinic-calendar`: the clinic calendar (docs/sessions.md "The clinic calendar"): staff read it,
//! admins set the open weekdays and chairs and keep the holidays. Thin handlers over the use cases.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use ketacare_app::Permission;

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::{if_match_version, text_body};
use crate::responses::with_etag;

/// The calendar, with every holiday.
pub async fn get_calendar(State(state): State<AppState>, caller: Authenticated) -> Result<Response, ApiError> {
    let view = state.app.clinic_calendar(&caller.actor).await?;
    Ok(match view.version {
        Some(version) => with_etag(version, view),
        None => Json(view).into_response(),
    })
}

/// Sets the open weekdays and chairs; `If-Match` once the calendar is set, none the first time.
pub async fn set_calendar(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::ManageClinicCalendar,
            "clinic_calendar.update",
            "clinic-calendar".to_owned(),
            None,
        )
        .await?;
    let version = if headers.contains_key("if-match") { Some(if_match_version(&headers)?) } else { None };
    let view = state.app.set_clinic_calendar(&caller.actor, version, text_body(&body)?).await?;
    Ok(with_etag(view.version.unwrap_or(1), view))
}

/// Adds a holiday.
pub async fn add_holiday(
    State(state): State<AppState>,
    caller: Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
    let view = state.app.add_clinic_holiday(&caller.actor, text_body(&body)?).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Marks a holiday entered in error, with a reason; needs its `If-Match`.
pub async fn amend_holiday(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(holiday_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::ManageClinicCalendar,
            "clinic_holiday.amend",
            format!("clinic-calendar/holidays/{holiday_id}"),
            None,
        )
        .await?;
    let version = if_match_version(&headers)?;
    let view = state.app.set_clinic_holiday_in_error(&caller.actor, &holiday_id, version, text_body(&body)?).await?;
    Ok(with_etag(view.version, view))
}
