//! `GET /api/v1/reports/outcomes`: the clinic's cohort outcomes report (docs/outcomes.md) as JSON, or CSV
//! with `Accept: text/csv` or `format=csv`; a thin handler over the outcomes use case.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ketacare_app::{OutcomesQuery, Permission};

use crate::AppState;
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::query;

pub async fn outcomes(
    State(state): State<AppState>,
    caller: Authenticated,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(&caller.actor, Permission::ReadOutcomes, "report.outcomes", "reports/outcomes".to_owned(), None)
        .await?;
    let outcomes_query: OutcomesQuery = query(raw.as_deref())?;
    let wants_csv = outcomes_query.format.as_deref() == Some("csv")
        || (outcomes_query.format.is_none()
            && headers
                .get(header::ACCEPT)
                .and_then(|accept| accept.to_str().ok())
                .is_some_and(|accept| accept.contains("text/csv")));
    let reports = state.app.outcomes_report(&caller.actor, &outcomes_query).await?;
    if wants_csv {
        let file_name = format!("attachment; filename=\"outcomes_{}.csv\"", reports.as_of);
        let disposition = HeaderValue::from_str(&file_name).unwrap_or(HeaderValue::from_static("attachment"));
        return Ok((
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            reports.to_csv(),
        )
            .into_response());
    }
    Ok(Json(reports.to_json()).into_response())
}
