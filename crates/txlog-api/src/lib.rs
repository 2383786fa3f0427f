//! Wire types of business transactions: what the order service sends to the transaction log
//! (`POST /v1/transactions`) and what the transaction log answers and stores.

mod event;
pub mod limits;
mod proof;
mod record;

pub use event::{
    body_from_bytes, Actor, Event, Outcome, RequestRecord, ResponseRecord, BODY_RECORD_LIMIT,
};
pub use proof::{ConsistencyProof, InclusionProof};
pub use record::{
    AppendResult, Batch, BatchResult, IndexEntry, IndexPage, Record, RecordPage, VerifyHead,
    VerifyReport,
};
