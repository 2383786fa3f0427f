//! Group commit: concurrent `POST /v1/transactions` calls share one append (one insert, one
//! durable commit), as Tessera gathers what arrives during a flush into the next one.
//!
//! Each call hands its events to one task and waits. The task takes a call, then every call
//! that queued while it was busy (up to [`MAX_GROUP_EVENTS`] events from the same submitter),
//! appends them all as one batch and answers each call with its own results, in its own
//! order. There is no timer: a lone call is appended at once, and under load a group holds
//! what arrived during the append before it. A call is answered only after the whole group
//! is stored, so its records are as durable as a batch of its own; when the append fails,
//! every call of the group gets the error and nothing of the group is answered as stored.
//! A call whose client gives up stays in its group (its events are stored; a retry of them
//! answers `duplicate`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;
use txlog_api::{AppendResult, Event};

use super::Sequencer;
use crate::metrics::{APPEND_CALLS_QUEUED, APPEND_GROUPS};
use crate::store::StoreError;

/// Events one group holds at most: the largest batch one call may send, so a group is never
/// more than one call could make the sequencer write.
const MAX_GROUP_EVENTS: usize = txlog_api::limits::MAX_BATCH;
/// Calls waiting for the task at most; more wait to be queued.
const QUEUE: usize = 1024;

/// One call's events and where its results go.
struct Call {
    events: Vec<Event>,
    submitted_by: String,
    reply: oneshot::Sender<Result<Vec<AppendResult>, StoreError>>,
    span: tracing::Span,
}

/// The appends of all calls, grouped; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    calls: mpsc::Sender<Call>,
}

impl GroupCommit {
    /// Starts the task that appends through `sequencer`; it ends when the last clone of this
    /// is dropped.
    pub fn start(sequencer: Arc<Sequencer>) -> GroupCommit {
        let (calls, queued) = mpsc::channel(QUEUE);
        tokio::spawn(run(sequencer, queued));
        GroupCommit { calls }
    }

    /// Appends `events` as [`Sequencer::append`] does, in a group with the calls waiting
    /// beside it; answers once they are stored.
    pub async fn append(
        &self,
        events: Vec<Event>,
        submitted_by: &str,
    ) -> Result<Vec<AppendResult>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let call = Call {
            events,
            submitted_by: submitted_by.to_owned(),
            reply,
            span: tracing::Span::current(),
        };
        let gone = || StoreError::Unavailable("the append task has stopped".into());
        let place = self.calls.reserve().await.map_err(|_| gone())?;
        metrics::gauge!(APPEND_CALLS_QUEUED).increment(1.0);
        place.send(call);
        answer.await.map_err(|_| gone())?
    }
}

/// Takes groups of calls off the queue and appends each group as one batch.
async fn run(sequencer: Arc<Sequencer>, mut queued: mpsc::Receiver<Call>) {
    let mut held: Option<Call> = None;
    loop {
        let first = match held.take() {
            Some(call) => call,
            None => match queued.recv().await {
                Some(call) => call,
                None => return,
            },
        };
        let mut group = vec![first];
        let mut events = group[0].events.len();
        while let Ok(call) = queued.try_recv() {
            if call.submitted_by != group[0].submitted_by
                || events + call.events.len() > MAX_GROUP_EVENTS
            {
                held = Some(call);
                break;
            }
            events += call.events.len();
            group.push(call);
        }
        metrics::gauge!(APPEND_CALLS_QUEUED).decrement(group.len() as f64);
        metrics::counter!(APPEND_GROUPS).increment(1);
        append_group(&sequencer, group, events).await;
    }
}

/// Appends the group's events as one batch and answers each call with its share.
async fn append_group(sequencer: &Sequencer, group: Vec<Call>, events: usize) {
    let span = tracing::info_span!("group commit", calls = group.len(), events);
    for call in &group {
        span.follows_from(&call.span);
    }
    let submitted_by = group[0].submitted_by.clone();
    let mut batch = Vec::with_capacity(events);
    let mut replies = Vec::with_capacity(group.len());
    for call in group {
        replies.push((call.events.len(), call.reply));
        batch.extend(call.events);
    }
    let appended = AssertUnwindSafe(sequencer.append(&batch, &submitted_by))
        .catch_unwind()
        .instrument(span)
        .await
        .unwrap_or_else(|_| {
            tracing::error!("an append panicked; its calls are answered with an error");
            Err(StoreError::Database("the append panicked".into()))
        });
    match appended {
        Ok(results) => {
            let mut results = results.into_iter();
            for (count, reply) in replies {
                // A call whose client went away has no one to answer.
                let _ = reply.send(Ok(results.by_ref().take(count).collect()));
            }
        }
        Err(error) => {
            let shared = error.shared(replies.len());
            for ((_, reply), error) in replies.into_iter().zip(shared) {
                let _ = reply.send(Err(error));
            }
        }
    }
}
