//! The way from a recorded call to the transaction log: the local outbox table is written by
//! the handlers' own transactions and by the group commit (calls that change nothing share one
//! multi-row insert); the relay delivers it oldest first, with backoff, through the HTTP client
//! for `POST /v1/transactions` and the bearer tokens it needs (static, or OAuth2 client
//! credentials).

mod delivery;
mod group_commit;
mod relay;
mod token;

pub use delivery::TxlogClient;
pub use group_commit::GroupCommit;
pub use relay::Relay;
pub use token::{TokenSource, TxlogAuth};
