use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/proofs/inclusion` answer: the RFC 9162 inclusion proof of record `seq` in the tree
/// of size `tree_size`. Hashes are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub seq: u64,
    pub tree_size: u64,
    /// SHA-256(0x00 ‖ RFC 8785 canonical JSON of the record).
    pub leaf_hash: String,
    pub hashes: Vec<String>,
}

/// `GET /v1/proofs/consistency` answer: the RFC 9162 consistency proof from the tree of size
/// `from` to the tree of size `to`. Hashes are lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub hashes: Vec<String>,
}
