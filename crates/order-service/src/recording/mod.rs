//! What is recorded of every `/v1/` call: each `/v1/` route declares the [`Operation`] of each
//! of its methods, and its [`record`] middleware starts an [`EventDraft`] of it when the request
//! arrives; the body is added after authentication, and the draft is finished into one business
//! transaction once the response is known. A write asks its [`Call`] for the event and the store
//! writes it in the change's transaction, returning the proof (`store::Committed`) the response
//! carries; for every other call the middleware hands the event to the outbox's group commit
//! before the response leaves. What an event keeps of the bodies is [`BodyPolicy`]'s call, and
//! every event is cut to the transaction log's limits and checked with its own check
//! (`txlog_api::limits`). Delivery is [`crate::outbox`]'s job.

mod call;
mod draft;
mod middleware;
mod operation;
mod policy;

pub use call::{Call, NotRecorded};
pub use draft::EventDraft;
pub use middleware::{capture_body, record, CreatedOrder, ListedOrders, Recording, RouteRecording};
pub use operation::{Operation, Operations, OrderPath};
pub use policy::{BodyDigest, BodyPolicy};
