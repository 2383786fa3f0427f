//! The way from a recorded call to the transaction log: the local outbox table is written by
//! the handlers' own transactions and by the group commit (calls that change nothing share one
//! multi-row insert); the relay claims the oldest events under a lease, delivers them with no
//! database transaction open, and acknowledges the lease; it retries with backoff, through the HTTP client
//! for `POST /v1/transactions` and the bearer tokens it needs (static, or OAuth2 client
//! credentials).

mod delivery;
mod group_commit;
mod pipeline;
mod relay;
mod token;

pub use delivery::{Deliver, TxlogClient};
pub use group_commit::GroupCommit;
pub use pipeline::{Delivered, BATCH, LEASE};
pub use relay::{deliver_once, Relay};
pub use token::{TokenSource, TxlogAuth};
