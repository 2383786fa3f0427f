//! What is recorded of every `/v1/` call: a middleware starts an [`EventDraft`] when the request
//! arrives, the body is added after authentication, and the draft is finished into one business
//! transaction once the response is known. Writes put it in the outbox in their own transaction
//! (and mark the response [`Recorded`]); for every other call the middleware hands it to the
//! outbox's group commit before the response leaves. What an event keeps of the bodies is
//! [`BodyPolicy`]'s call, and every event is cut to the transaction log's limits and checked
//! with its own check (`txlog_api::limits`). Delivery is [`crate::outbox`]'s job.

mod draft;
mod middleware;
mod policy;

pub use draft::{operation_for, EventDraft, Recorded};
pub use middleware::{capture_body, record, CreatedOrder, Recording};
pub use policy::{BodyDigest, BodyPolicy};
