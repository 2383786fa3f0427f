//! A write handler's part in recording its call.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use platform::auth::Principal;
use uuid::Uuid;

use super::EventDraft;
use crate::store::OutboxEvent;

/// The call being served, as the recording middleware started it. A write asks it for the
/// call's event and hands that to the store, which writes it in the change's transaction and
/// returns the proof (`store::Committed`) that the response carries back to the middleware.
pub struct Call(Option<Arc<EventDraft>>);

impl<S: Send + Sync> FromRequestParts<S> for Call {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.extensions.get::<Arc<EventDraft>>().cloned()))
    }
}

/// Why a write cannot have its event; answered 500, and nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum NotRecorded {
    /// The handler was reached without the recording middleware in front of it (a routing
    /// mistake).
    #[error("the call is not being recorded (no recording middleware on this route)")]
    NoRecorder,
    #[error("the call's event could not be encoded as JSON")]
    Encode(#[from] serde_json::Error),
}

impl Call {
    /// The event of this call answered `status` with `body` (the operation is the route's).
    pub fn event(
        &self,
        status: StatusCode,
        body: &[u8],
        caller: &Principal,
        order_id: Uuid,
    ) -> Result<OutboxEvent, NotRecorded> {
        let draft = self.0.as_ref().ok_or(NotRecorded::NoRecorder)?;
        Ok(draft.finish(status, body, Some(caller), Some(order_id), None)?)
    }
}
