//! Every `/v1/` call becomes one business transaction: captured by a middleware, made durable
//! in the local outbox before the response leaves (writes in their own transaction, the rest
//! group-committed), and delivered to the transaction log by the relay.

mod delivery;
mod draft;
mod group_commit;
mod middleware;
mod relay;
mod token;

pub use delivery::TxlogClient;
pub use draft::{operation_for, EventDraft, Recorded};
pub use group_commit::GroupCommit;
pub use middleware::{capture_body, record, CreatedOrder, Recording};
pub use relay::Relay;
pub use token::{TokenSource, TxlogAuth};
