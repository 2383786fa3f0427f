//! `GET /v1/transactions/verify`: checks the chain from the last head a verification found
//! valid, so a repeated call costs only the records stored since; `?full=true` walks it all
//! from the first record, one page at a time, and is rate-limited.

use std::num::NonZeroU32;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use platform::problem::ProblemDoc;
use serde::Deserialize;
use tokio::sync::Semaphore;
use txlog_api::{VerifyHead, VerifyReport};
use utoipa::IntoParams;

use super::caller::{Caller, SCOPE_READ};
use super::{ApiError, AppState};
use crate::chain::ChainVerifier;
use crate::store::{Store, CHAIN_PAGE};

/// Full walks per minute, per replica (each may read the whole database).
const FULL_WALKS_PER_MINUTE: u32 = 6;

/// Query parameters; any other parameter is refused with 400.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// `true`: walk the whole chain from the first record (rate-limited), rather than from
    /// the last head a verification found valid.
    full: Option<bool>,
}

/// Who may start a full walk now: one at a time, at most [`FULL_WALKS_PER_MINUTE`].
pub struct FullWalks {
    running: Semaphore,
    rate: DefaultDirectRateLimiter,
}

impl Default for FullWalks {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(FULL_WALKS_PER_MINUTE).expect("a positive constant");
        Self {
            running: Semaphore::new(1),
            rate: RateLimiter::direct(Quota::per_minute(per_minute)),
        }
    }
}

/// Checks `seq` continuity, `prev_hash` linkage and every hash, from the last verified head
/// (or from the first record with `?full=true`).
#[utoipa::path(
    get, path = "/v1/transactions/verify", tag = "transactions",
    params(VerifyParams),
    security(("bearer" = ["txlog:read"])),
    responses(
        (status = 200, description = "The verdict on the chain", body = VerifyReport),
        (status = 400, description = "A bad or unknown parameter", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks txlog:read", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "A full walk is running or too many were asked for; see Retry-After", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<VerifyReport>, ApiError> {
    caller.require(SCOPE_READ)?;
    let params: VerifyParams = platform::http::parse_query(&uri)?;
    let report = if params.full.unwrap_or(false) {
        let _running = start_full_walk(&state.full_walks)?;
        verify_chain(state.store.as_ref(), None).await
    } else {
        verify_incrementally(state.store.as_ref()).await
    }
    .context("verifying the chain failed")?;
    if let Some(head) = &report.head {
        crate::metrics::observe_head(head.seq);
    }
    if !report.valid {
        tracing::error!(
            first_invalid_seq = report.first_invalid_seq,
            "the transaction chain does not verify"
        );
    }
    Ok(Json(report))
}

/// A permit to walk the whole chain now, or when to ask again.
fn start_full_walk(walks: &FullWalks) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    let permit = walks
        .running
        .try_acquire()
        .map_err(|_| ApiError::RateLimited {
            retry_after_seconds: 1,
        })?;
    if let Err(not_until) = walks.rate.check() {
        return Err(ApiError::RateLimited {
            retry_after_seconds: not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                + 1,
        });
    }
    Ok(permit)
}

/// From the last verified head: first that its record is still stored with the same hash,
/// then every record after it. A valid result is stored as the next starting point.
pub async fn verify_incrementally(store: &dyn Store) -> anyhow::Result<VerifyReport> {
    let Some(since) = store.latest_verified().await? else {
        return verify_chain(store, None).await;
    };
    let after = since.seq.checked_sub(1);
    let anchor = store.chain_page(after, 1).await?;
    let unchanged = anchor
        .first()
        .is_some_and(|r| r.index.seq == since.seq && r.hash == since.hash);
    if !unchanged {
        return Ok(VerifyReport {
            valid: false,
            checked: 0,
            head: Some(since.clone()),
            first_invalid_seq: Some(since.seq),
            since: Some(since),
        });
    }
    verify_chain(store, Some(since)).await
}

/// Walks the chain in `seq` order after `since` (from the first record when `None`), holding
/// one page of records at a time; a valid head is stored for the next incremental call.
pub async fn verify_chain(
    store: &dyn Store,
    since: Option<VerifyHead>,
) -> anyhow::Result<VerifyReport> {
    let mut verifier = since
        .clone()
        .map_or_else(ChainVerifier::default, ChainVerifier::after);
    let mut after = since.as_ref().map(|h| h.seq);
    loop {
        let page = store.chain_page(after, CHAIN_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.index.seq);
        page.iter().for_each(|record| verifier.push(record));
        if page.len() < CHAIN_PAGE as usize {
            break;
        }
    }
    let report = VerifyReport {
        since,
        ..verifier.report()
    };
    if let (true, Some(head)) = (report.valid, &report.head) {
        store.add_verified(head).await?;
    }
    Ok(report)
}
