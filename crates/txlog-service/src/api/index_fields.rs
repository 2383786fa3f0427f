//! `GET /v1/transactions/index`: each record's filter fields exactly as the store keeps them,
//! in ascending `seq`, paged like `GET /v1/transactions?order=asc` (same cursor and limit).
//! An auditor compares each entry with the hashed record (`ordersys audit --full`): on MongoDB
//! the stored fields are written beside the record and a database writer can change them; on
//! SQLite they are generated from the hashed text and always agree.

use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use platform::problem::ProblemDoc;
use serde::Deserialize;
use txlog_api::{IndexEntry, IndexPage};
use utoipa::IntoParams;

use super::caller::{Caller, SCOPE_READ};
use super::list::{decode_cursor, encode_cursor, parse_limit};
use super::{ApiError, AppState};
use crate::chain::format_time;

/// Query parameters; any other parameter is refused with 400.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IndexParams {
    /// 1 to 500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The stored filter fields of every record, oldest first.
#[utoipa::path(
    get, path = "/v1/transactions/index", tag = "transactions",
    params(IndexParams),
    security(("bearer" = ["txlog:read"])),
    responses(
        (status = 200, description = "A page of stored filter fields", body = IndexPage),
        (status = 400, description = "A bad or unknown parameter", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks txlog:read", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn index(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<IndexPage>, ApiError> {
    caller.require(SCOPE_READ)?;
    let params: IndexParams = platform::http::parse_query(&uri)?;
    let limit = parse_limit(params.limit.as_deref())?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut records = state.store.chain_page(after, limit + 1).await?;
    let next_cursor = (records.len() > limit as usize)
        .then(|| {
            records.truncate(limit as usize);
            records.last().map(|r| encode_cursor(r.index.seq))
        })
        .flatten();
    let items = records
        .into_iter()
        .map(|r| IndexEntry {
            seq: r.index.seq,
            order_id: r.index.order_id,
            actor: r.index.actor,
            operation: r.index.operation,
            outcome: r.index.outcome,
            recorded_at: format_time(r.index.recorded_at),
        })
        .collect();
    Ok(Json(IndexPage { items, next_cursor }))
}
