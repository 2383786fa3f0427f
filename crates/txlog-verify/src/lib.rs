//! What an auditor needs to check the ordersys transaction log, with no I/O: reading JSON with
//! every key a plain key, the one canonical (RFC 8785) encoder of the integrity path, the hash
//! chain and its values (`ChainHash`, 32 bytes, hex only in text), a record's served text
//! (which is also its Merkle leaf), the Merkle tree and its proofs, signed checkpoints and
//! witnesses' cosignatures.

pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod cosignature;
pub mod hash;
pub mod json;
pub mod leaf;
pub mod tree;

pub use hash::{ChainHash, StatedHash};
pub use tlog_tiles::Hash;
