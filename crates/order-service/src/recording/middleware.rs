use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use platform::auth::Principal;
use platform::context::RequestContext;
use platform::Problem;
use uuid::Uuid;

use super::{operation_for, EventDraft, Recorded};
use crate::outbox::GroupCommit;

/// What the recording middleware needs.
#[derive(Clone)]
pub struct Recording {
    pub outbox: GroupCommit,
    /// Off only in benchmarks, to price the recording.
    pub enabled: bool,
    pub body_limit: usize,
}

/// Response extension: the order a call created (its id is not in the path).
#[derive(Debug, Clone, Copy)]
pub struct CreatedOrder(pub Uuid);

/// Middleware for `/v1/` paths: hands the inner layers an [`EventDraft`], and unless the
/// handler recorded the call with its change, writes the event to the outbox before the
/// response leaves. A call that cannot be recorded is answered 503, never silently.
pub async fn record(
    State(recording): State<Recording>,
    mut request: Request,
    next: Next,
) -> Response {
    if !recording.enabled || !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let operation = operation_for(request.method(), route.as_deref());
    let path_order_id = route
        .as_deref()
        .filter(|r| r.ends_with("{id}"))
        .and_then(|_| request.uri().path().rsplit('/').next())
        .and_then(|id| Uuid::parse_str(id).ok());
    let ctx = request.extensions().get::<RequestContext>().cloned();
    let client_ip = platform::http::client_ip(&request);
    let (parts, body) = request.into_parts();
    let draft = Arc::new(EventDraft::new(&parts, ctx.as_ref(), client_ip));
    request = Request::from_parts(parts, body);
    request.extensions_mut().insert(draft.clone());
    let response = next.run(request).await;
    if response.extensions().get::<Recorded>().is_some() {
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
    let order_id = path_order_id.or_else(|| head.extensions.get::<CreatedOrder>().map(|c| c.0));
    let event = draft.finish(head.status, &body, actor, operation, order_id);
    if let Err(e) = recording.outbox.append(event).await {
        tracing::error!(
            error = format!("{e:#}"),
            "a call could not be recorded; answering 503"
        );
        metrics::counter!("outbox_write_failures_total").increment(1);
        return Problem::unavailable("the call could not be recorded; retry later").into_response();
    }
    head.headers.remove("content-length");
    if head.status == StatusCode::NO_CONTENT {
        return Response::from_parts(head, Body::empty());
    }
    Response::from_parts(head, Body::from(body))
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
