//! `GET /v1/transactions/verify`: walks the whole chain one page at a time.

use axum::extract::State;
use axum::Json;
use platform::problem::ProblemDoc;
use platform::Problem;
use txlog_api::VerifyReport;

use super::caller::{Caller, SCOPE_READ};
use super::{internal, AppState};
use crate::chain::ChainVerifier;
use crate::store::{Store, CHAIN_PAGE};

/// Re-computes every hash and checks `seq` continuity and `prev_hash` linkage.
#[utoipa::path(
    get, path = "/v1/transactions/verify", tag = "transactions",
    security(("bearer" = ["txlog:read"])),
    responses(
        (status = 200, description = "The verdict on the whole chain", body = VerifyReport),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks txlog:read", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 500, description = "Internal error", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerifyReport>, Problem> {
    caller.require(&state, SCOPE_READ)?;
    let report = verify_chain(state.store.as_ref())
        .await
        .map_err(|e| internal(e, "verifying the chain failed"))?;
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

/// Walks the chain in `seq` order, holding one page of records at a time.
pub async fn verify_chain(store: &dyn Store) -> anyhow::Result<VerifyReport> {
    let mut verifier = ChainVerifier::default();
    let mut after = None;
    loop {
        let page = store.chain_page(after, CHAIN_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.index.seq);
        page.iter().for_each(|record| verifier.push(record));
        if page.len() < CHAIN_PAGE as usize {
            break;
        }
    }
    Ok(verifier.report())
}
