//! What an auditor needs to check the ordersys transaction log, with no I/O: reading JSON with
//! every key a plain key, the one canonical (RFC 8785) encoder of the integrity path, and a
//! record's served text, which is also its Merkle leaf.

pub mod canonical;
pub mod json;
pub mod leaf;
