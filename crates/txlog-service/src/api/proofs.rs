//! The verifiable log's endpoints (SPEC section 10): the latest signed checkpoint and RFC 9162
//! proofs from the stored tree hashes, bounded by the latest checkpoint's size.

use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use platform::problem::ProblemDoc;
use platform::FieldError;
use platform::Problem;
use serde::Deserialize;
use tlog_tiles::{stored_hash_index, Hash, HashReader as _};
use txlog_api::{ConsistencyProof, InclusionProof};
use utoipa::IntoParams;

use super::caller::{Caller, SCOPE_READ};
use super::{ApiError, AppState};
use crate::transparency::{tree, witness, StoredCheckpoint};

/// The latest signed checkpoint: `<origin>\n<tree size>\n<base64 root hash>\n`, then a blank
/// line and the signature line of the C2SP signed note. With witnesses configured (SPEC section
/// 12), the newest checkpoint that at least the quorum cosigned, with our signature line and
/// every cosignature line.
#[utoipa::path(
    get, path = "/v1/checkpoint", tag = "verifiable log",
    security(("bearer" = ["txlog:read"])),
    responses(
        (status = 200, description = "The signed note (with witnesses: and their cosignature lines)", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 403, description = "The token lacks txlog:read", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "No checkpoint has been signed yet (with witnesses: none has been cosigned by the quorum yet)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_READ)?;
    let note = if state.witnesses.witnesses.is_empty() {
        latest(&state).await?.note
    } else {
        match witness::newest_witnessed(&state.store, &state.witnesses).await? {
            Some(witnessed) => witnessed.note,
            None => {
                return Ok(Problem::unavailable(format!(
                    "no checkpoint has been cosigned by {} of the {} witnesses yet",
                    state.witnesses.quorum,
                    state.witnesses.witnesses.len()
                ))
                .into_response())
            }
        }
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// `seq` and `tree_size`, as text so that every bad value is a 422 naming the parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The record's `seq`; below `tree_size`.
    seq: Option<String>,
    /// A tree size up to the latest checkpoint's.
    tree_size: Option<String>,
}

/// The RFC 9162 inclusion proof of record `seq` in the tree of size `tree_size`.
#[utoipa::path(
    get, path = "/v1/proofs/inclusion", tag = "verifiable log",
    params(InclusionParams),
    security(("bearer" = ["txlog:read"])),
    responses(
        (status = 200, description = "The proof", body = InclusionProof),
        (status = 403, description = "The token lacks txlog:read", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Not seq < tree_size <= the latest checkpoint's size", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<InclusionProof>, ApiError> {
    caller.require(SCOPE_READ)?;
    let params: InclusionParams = params(&uri)?;
    let (seq, tree_size) = (
        number("seq", params.seq.as_deref()),
        number("tree_size", params.tree_size.as_deref()),
    );
    let (seq, tree_size) = both(seq, tree_size)?;
    let signed = latest(&state).await?.size;
    if tree_size > signed {
        return Err(ApiError::field(
            "tree_size",
            format!("must be at most {signed}, the latest checkpoint's size"),
        ));
    }
    if seq >= tree_size {
        return Err(ApiError::field("seq", "must be below tree_size"));
    }
    let (leaf, hashes) = tree::with_stored_hashes(&*state.store, |r| {
        let leaf = r.read_hashes(&[stored_hash_index(0, seq)])?[0];
        Ok((leaf, tlog_tiles::prove_record(tree_size, seq, r)?))
    })
    .await?;
    Ok(Json(InclusionProof {
        seq,
        tree_size,
        leaf_hash: hex::encode(leaf.0),
        hashes: to_hex(&hashes),
    }))
}

/// `from` and `to`, as text so that every bad value is a 422 naming the parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older tree size, at least 1.
    from: Option<String>,
    /// The newer tree size, up to the latest checkpoint's.
    to: Option<String>,
}

/// The RFC 9162 consistency proof from the tree of size `from` to the tree of size `to`.
#[utoipa::path(
    get, path = "/v1/proofs/consistency", tag = "verifiable log",
    params(ConsistencyParams),
    security(("bearer" = ["txlog:read"])),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProof),
        (status = 403, description = "The token lacks txlog:read", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Not 0 < from <= to <= the latest checkpoint's size", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<ConsistencyProof>, ApiError> {
    caller.require(SCOPE_READ)?;
    let params: ConsistencyParams = params(&uri)?;
    let (from, to) = both(
        number("from", params.from.as_deref()),
        number("to", params.to.as_deref()),
    )?;
    let signed = latest(&state).await?.size;
    if to > signed {
        return Err(ApiError::field(
            "to",
            format!("must be at most {signed}, the latest checkpoint's size"),
        ));
    }
    if from == 0 || from > to {
        return Err(ApiError::field("from", "must be from 1 to `to`"));
    }
    let hashes =
        tree::with_stored_hashes(&*state.store, |r| tlog_tiles::prove_tree(to, from, r)).await?;
    Ok(Json(ConsistencyProof {
        from,
        to,
        hashes: to_hex(&hashes),
    }))
}

async fn latest(state: &AppState) -> Result<StoredCheckpoint, ApiError> {
    state
        .store
        .latest_checkpoint()
        .await?
        .ok_or(ApiError::NoCheckpoint)
}

fn params<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    platform::http::parse_query(uri).map_err(|bad| ApiError::field("query", bad.detail))
}

/// A required non-negative integer parameter.
fn number(name: &str, value: Option<&str>) -> Result<u64, FieldError> {
    match value {
        None => Err(FieldError::new(name, "is required")),
        Some(text) => text
            .parse()
            .map_err(|_| FieldError::new(name, "must be a whole number from 0 to 2^64-1")),
    }
}

fn both(a: Result<u64, FieldError>, b: Result<u64, FieldError>) -> Result<(u64, u64), ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(ApiError::Invalid(
            [a.err(), b.err()].into_iter().flatten().collect(),
        )),
    }
}

fn to_hex(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| hex::encode(h.0)).collect()
}
