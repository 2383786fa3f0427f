//! `POST /v1/transactions` (append a batch) and `GET /v1/transactions/{transaction_id}`.

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use platform::problem::ProblemDoc;
use tracing::Instrument;
use txlog_api::{Batch, BatchResult, Record};

use super::caller::{Caller, SCOPE_READ, SCOPE_WRITE};
use super::validate;
use super::{ApiError, AppState};
use crate::ids::TransactionId;
use crate::store::StoreError;

/// Appends 1 to 1 000 events; an invalid event rejects the whole batch and nothing is stored.
#[utoipa::path(
    post, path = "/v1/transactions", tag = "transactions",
    request_body = Batch,
    security(("bearer" = ["txlog:write"])),
    responses(
        (status = 200, description = "Stored, or found stored before (duplicate), in input order", body = BatchResult),
        (status = 400, description = "The body is not JSON", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks txlog:write", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than 32 MiB", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "An event is invalid; nothing was stored", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn append(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_WRITE)?;
    let body = platform::http::read_json_body(request).await?;
    let events = validate::batch(validate::parse(&body)?.events())?;
    let span = tracing::info_span!("append to the chain", events = events.len());
    let results = state
        .appends
        .append(events, caller.readable_name())
        .instrument(span)
        .await?;
    Ok(Json(BatchResult { results }).into_response())
}

/// One record, exactly as hashed plus its `hash`.
#[utoipa::path(
    get, path = "/v1/transactions/{transaction_id}", tag = "transactions",
    params(("transaction_id" = Uuid, Path, description = "The record's transaction_id")),
    security(("bearer" = ["txlog:read"])),
    responses(
        (status = 200, description = "The record", body = Record),
        (status = 400, description = "Malformed id", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks txlog:read", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such record", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(transaction_id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_READ)?;
    let id: TransactionId = transaction_id.parse().map_err(|_| ApiError::MalformedId)?;
    let record = state.store.get(id).await?.ok_or(ApiError::NotFound)?;
    // The record's own hashed text must name the id it was found by (a stored id edited in
    // the database must not answer for another record).
    let own = crate::chain::index_of(&record.canonical).map(|i| i.transaction_id);
    if own != Some(id) {
        tracing::error!(
            seq = record.index.seq,
            "a record's stored transaction_id differs from its hashed text (changed in the database)"
        );
        return Err(ApiError::NotFound);
    }
    let text = record.text().map_err(StoreError::from)?;
    Ok(super::json_text(text))
}
