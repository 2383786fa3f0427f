use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use platform::auth::Principal;
use platform::context::RequestContext;
use platform::Problem;
use uuid::Uuid;

use super::policy::{BodyPolicy, DigestBuilder};
use super::{EventDraft, Operations, OrderPath};
use crate::outbox::GroupCommit;
use crate::store::{Committed, OutboxEvent};

/// How long the body of a call refused before reading it (401, 404, 405) is waited for, to
/// record its digest. A body sent with its request is there at once; one that stalls must not
/// hold up the refusal (an anonymous caller gets its 401 at once), and is recorded without a
/// digest.
const UNREAD_BODY_WAIT: Duration = Duration::from_millis(250);

/// What the recording middleware needs.
#[derive(Clone)]
pub struct Recording {
    pub outbox: GroupCommit,
    pub body_limit: usize,
}

impl Recording {
    /// What the middleware of one route needs: this, and the operations the route serves.
    pub fn for_route(&self, operations: Operations) -> RouteRecording {
        RouteRecording {
            recording: self.clone(),
            operations,
        }
    }
}

/// The state of [`record`] on one route.
#[derive(Clone)]
pub struct RouteRecording {
    recording: Recording,
    operations: Operations,
}

/// Response extension: the order a call created (its id is not in the path).
#[derive(Debug, Clone, Copy)]
pub struct CreatedOrder(pub Uuid);

/// Response extension: the orders a list disclosed, in order (recorded as their ids, so the
/// page is not parsed again to find them).
#[derive(Debug, Clone)]
pub struct ListedOrders(pub Vec<Uuid>);

/// Middleware of every `/v1/` route (and of the `/v1/` fallback): hands the inner layers an
/// [`EventDraft`] of the route's operation, and unless the handler's write committed the event
/// with its change, writes the event to the outbox before the response leaves. A call that
/// cannot be recorded is answered 503, never silently.
pub async fn record(
    State(route): State<RouteRecording>,
    mut request: Request,
    next: Next,
) -> Response {
    let recording = route.recording;
    let operation = route.operations.of(request.method());
    let ctx = request.extensions().get::<RequestContext>().cloned();
    let client_ip = platform::http::client_ip(&request);
    let (mut parts, body) = request.into_parts();
    let path_order_id = Path::<OrderPath>::from_request_parts(&mut parts, &())
        .await
        .ok()
        .and_then(|Path(path)| path.order_id());
    let draft = Arc::new(EventDraft::new(&parts, operation, ctx.as_ref(), client_ip));
    let unread = Arc::new(Mutex::new(None));
    let body = Body::new(Returnable {
        inner: Some(body),
        polled: false,
        unread: unread.clone(),
    });
    request = Request::from_parts(parts, body);
    request.extensions_mut().insert(draft.clone());
    let response = next.run(request).await;
    if response.extensions().get::<Committed>().is_some() {
        return response;
    }
    let (mut head, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::error!(error = %e, "could not buffer a response body for recording");
            return Problem::internal().into_response();
        }
    };
    let actor = head.extensions.get::<Principal>();
    if !draft.has_digest()
        && BodyPolicy::for_call(actor.is_some(), operation, head.status).digest_unread_request
    {
        digest_unread_body(&draft, &unread, recording.body_limit).await;
    }
    let order_id = path_order_id.or_else(|| head.extensions.get::<CreatedOrder>().map(|c| c.0));
    let listed = head
        .extensions
        .get::<ListedOrders>()
        .map(|l| l.0.as_slice());
    let event = match draft.finish(head.status, &body, actor, order_id, listed) {
        Ok(event) => event,
        Err(e) => return not_recorded(&e),
    };
    if let Err(refusal) = append(&recording.outbox, event).await {
        return refusal;
    }
    head.headers.remove("content-length");
    if head.status == StatusCode::NO_CONTENT {
        return Response::from_parts(head, Body::empty());
    }
    Response::from_parts(head, Body::from(body))
}

/// Reads the body the inner layers left unread (a refused call's) for its digest, if it
/// arrives within [`UNREAD_BODY_WAIT`].
async fn digest_unread_body(draft: &EventDraft, unread: &Mutex<Option<Body>>, limit: usize) {
    let rest = unread.lock().ok().and_then(|mut slot| slot.take());
    if let Some(rest) = rest {
        if let Ok(Some(digest)) =
            tokio::time::timeout(UNREAD_BODY_WAIT, digest_body(rest, limit)).await
        {
            draft.set_digest(digest);
        }
    }
}

/// Writes a call's event to the outbox; a call that cannot be recorded is answered 503.
async fn append(outbox: &GroupCommit, event: OutboxEvent) -> Result<(), Response> {
    outbox
        .append(event)
        .await
        .map_err(|e| not_recorded(e.as_ref()))
}

/// The answer of a call whose event could not be written (or made): 503, logged and counted.
fn not_recorded(e: &(dyn std::error::Error + 'static)) -> Response {
    tracing::error!(
        error = platform::problem::cause_chain(e),
        "a call could not be recorded; answering 503"
    );
    metrics::counter!("outbox_write_failures_total").increment(1);
    crate::unavailable::response(Problem::unavailable(
        "the call could not be recorded; retry later",
    ))
}

/// Middleware inside authentication: reads the request body under the size limit (413 past
/// it) and gives it to the call's [`EventDraft`].
pub async fn capture_body(
    State(recording): State<Recording>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, recording.body_limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Problem::payload_too_large().into_response()
        }
        Err(e) if platform::server::is_body_timeout(e.as_ref()) => {
            return platform::server::body_timeout_problem().into_response()
        }
        Err(_) => return Problem::malformed("the request body could not be read").into_response(),
    };
    if let Some(draft) = parts.extensions.get::<Arc<EventDraft>>() {
        draft.set_body(&bytes);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The request body as the inner layers get it. A call refused before its body was read
/// (401, 404, 405…) drops it unread; it then goes back to the recording middleware, which
/// reads it to the end for its digest (SPEC section 7: every request's `body_sha256`), if it
/// arrives within [`UNREAD_BODY_WAIT`].
struct Returnable {
    inner: Option<Body>,
    polled: bool,
    unread: Arc<Mutex<Option<Body>>>,
}

impl HttpBody for Returnable {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        this.polled = true;
        match this.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Returnable {
    fn drop(&mut self) {
        if self.polled {
            return;
        }
        if let (Some(body), Ok(mut slot)) = (self.inner.take(), self.unread.lock()) {
            *slot = Some(body);
        }
    }
}

/// The digest of a whole body read now, or `None` when it is over `limit` or fails (a
/// digest of part of a body would prove nothing).
async fn digest_body(mut body: Body, limit: usize) -> Option<super::BodyDigest> {
    let mut digest = DigestBuilder::default();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            digest.update(&data);
            if digest.bytes() > limit as u64 {
                return None;
            }
        }
    }
    Some(digest.finish())
}
