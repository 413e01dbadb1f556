//! `/api/v1/controlled-substances/…`: the controlled-substance record (docs/controlled-substances.md) —
//! lots with their balances, the log's entries (receipts, withdrawals, witnessed waste, returns, counts),
//! corrections, discrepancy resolutions and the report per period and lot as JSON or CSV. Thin handlers
//! over the app's use cases; bodies are passed on as text and read there.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ketacare_app::{Permission, StockReportQuery, stock_report_csv};

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::input::{idempotency_key, query, text_body};
use crate::responses::created;
use crate::{AppState, ClientAddress};

pub async fn lots(State(state): State<AppState>, caller: Authenticated) -> Result<Response, ApiError> {
    Ok(Json(state.app.stock_overview(&caller.actor).await?).into_response())
}

pub async fn record_entry(
    State(state): State<AppState>,
    caller: Authenticated,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(&caller.actor, Permission::RecordControlledSubstances, "stock.record", "stock".to_owned(), None)
        .await?;
    let result =
        state.app.record_stock_entry(&caller.actor, text_body(&body)?, idempotency_key(&headers)?, &address.0).await?;
    Ok(created(format!("/api/v1/controlled-substances/entries/{}", result.resource_id), result))
}

pub async fn entry(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(entry_id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.stock_entry(&caller.actor, &entry_id).await?).into_response())
}

pub async fn entries(
    State(state): State<AppState>,
    caller: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(&caller.actor, Permission::ReadControlledSubstances, "stock.report", "stock".to_owned(), None)
        .await?;
    let report_query: StockReportQuery = query(raw.as_deref())?;
    Ok(Json(state.app.stock_report(&caller.actor, &report_query).await?).into_response())
}

pub async fn report_csv(
    State(state): State<AppState>,
    caller: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(&caller.actor, Permission::ReadControlledSubstances, "stock.report", "stock".to_owned(), None)
        .await?;
    let report_query: StockReportQuery = query(raw.as_deref())?;
    let report = state.app.stock_report(&caller.actor, &report_query).await?;
    let file_name = format!(
        "attachment; filename=\"controlled-substances_{}_{}.csv\"",
        report.from.as_deref().unwrap_or("start"),
        report.to.as_deref().unwrap_or("now")
    );
    let disposition = HeaderValue::from_str(&file_name).unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        stock_report_csv(&report),
    )
        .into_response())
}

pub async fn mark_in_error(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(entry_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::RecordControlledSubstances,
            "stock.amend",
            format!("stock/entry/{entry_id}"),
            None,
        )
        .await?;
    Ok(Json(state.app.mark_stock_entry_in_error(&caller.actor, &entry_id, text_body(&body)?).await?).into_response())
}

pub async fn resolve(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(entry_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    state
        .app
        .authorize(
            &caller.actor,
            Permission::ResolveStockDiscrepancies,
            "stock.resolve",
            format!("stock/entry/{entry_id}"),
            None,
        )
        .await?;
    Ok(Json(state.app.resolve_stock_discrepancy(&caller.actor, &entry_id, text_body(&body)?).await?).into_response())
}
