//! `GET /v1/transactions/verify`: checks the chain from the last head a verification found
//! valid, so a repeated call costs only the records stored since, and at most
//! [`INCREMENTAL_BOUND`] records (a log never verified before is walked over several calls);
//! concurrent calls share one walk. `?full=true` walks it all from the first record, one page at
//! a time, and is rate-limited.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

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
use crate::store::{Store, StoreError, CHAIN_PAGE};

/// Full walks per minute, per replica (each may read the whole database).
const FULL_WALKS_PER_MINUTE: u32 = 6;

/// The most records an incremental call checks (about 0.1 s of one core): a log with no valid
/// stored head, or one far behind, is walked over several calls, each starting where the last
/// valid one stopped.
pub const INCREMENTAL_BOUND: u64 = 20 * CHAIN_PAGE as u64;

/// Incremental walks run one at a time per replica; a call that arrives while one runs waits
/// for it and answers with its report instead of walking again.
#[derive(Default)]
pub struct SharedWalk {
    /// The last finished walk's number and report.
    last: tokio::sync::Mutex<Option<(u64, VerifyReport)>>,
    finished: AtomicU64,
}

impl SharedWalk {
    /// The report of a walk that finished after this call arrived, or of a walk of its own.
    pub async fn verify(&self, store: &dyn Store, bound: u64) -> Result<VerifyReport, StoreError> {
        let arrived = self.finished.load(Ordering::Acquire);
        let mut last = self.last.lock().await;
        if let Some((walk, report)) = last.as_ref() {
            if *walk > arrived {
                return Ok(report.clone());
            }
        }
        let report = verify_incrementally(store, bound).await?;
        let walk = self.finished.fetch_add(1, Ordering::AcqRel) + 1;
        *last = Some((walk, report.clone()));
        Ok(report)
    }
}

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
        verify_chain(state.store.as_ref(), None, u64::MAX).await
    } else {
        state
            .shared_walk
            .verify(state.store.as_ref(), INCREMENTAL_BOUND)
            .await
    }?;
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
/// then the records after it, at most `bound` of them. A valid result is stored as the next
/// starting point. With no verified head the walk starts at the first record, bounded too.
pub async fn verify_incrementally(
    store: &dyn Store,
    bound: u64,
) -> Result<VerifyReport, StoreError> {
    let Some(since) = store.latest_verified().await? else {
        return verify_chain(store, None, bound).await;
    };
    let after = since.seq.checked_sub(1);
    let anchor = store.chain_page(after, 1).await?;
    let unchanged = anchor
        .first()
        .is_some_and(|r| r.index.seq == since.seq && r.hash.text() == since.hash);
    if !unchanged {
        return Ok(VerifyReport {
            valid: false,
            checked: 0,
            head: Some(since.clone()),
            first_invalid_seq: Some(since.seq),
            since: Some(since),
            complete: true,
        });
    }
    verify_chain(store, Some(since), bound).await
}

/// Walks the chain in `seq` order after `since` (from the first record when `None`), holding
/// one page of records at a time, and stops after `bound` records (`complete: false`); a valid
/// head is stored for the next incremental call.
pub async fn verify_chain(
    store: &dyn Store,
    since: Option<VerifyHead>,
    bound: u64,
) -> Result<VerifyReport, StoreError> {
    let mut verifier = since
        .clone()
        .map_or_else(ChainVerifier::default, ChainVerifier::after);
    let mut after = since.as_ref().map(|h| h.seq);
    let mut left = bound;
    let complete = loop {
        if left == 0 {
            // Whether the bound cut the walk short: one more record is there.
            break store.chain_page(after, 1).await?.is_empty();
        }
        let limit = u32::try_from(left.min(u64::from(CHAIN_PAGE)))?;
        let page = store.chain_page(after, limit).await?;
        let Some(last) = page.last() else { break true };
        after = Some(last.index.seq);
        page.iter().for_each(|record| verifier.push(record));
        left -= page.len() as u64;
        metrics::counter!(crate::metrics::VERIFY_RECORDS_CHECKED).increment(page.len() as u64);
        if page.len() < limit as usize {
            break true;
        }
    };
    metrics::counter!(crate::metrics::VERIFY_WALKS).increment(1);
    let report = VerifyReport {
        since,
        complete,
        ..verifier.report()
    };
    if let (true, Some(head)) = (report.valid, &report.head) {
        store.add_verified(head).await?;
    }
    Ok(report)
}
