//! The verifiable log (SPEC section 10): an RFC 9162 Merkle tree over the records, kept in the
//! store, and signed checkpoints, as Certificate Transparency logs publish them.

pub mod checkpoint;
pub mod key;
pub mod seal;
pub mod sequencer;
pub mod signer;
pub mod tree;
pub mod witness;

pub use checkpoint::{StoredCheckpoint, TreeHead};
pub use key::LogKey;
pub use seal::SealKey;
pub use sequencer::{GroupCommit, Sequencer};
pub use signer::{Round, Signer, SigningStatus, TreeSource};
