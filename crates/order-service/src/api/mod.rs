//! The HTTP surface: routes, extractors and the OpenAPI description.

mod error;
mod headers;
pub mod list;
mod openapi;
mod ops;
mod orders;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{middleware, Router};
use platform::auth::AuthState;
use platform::http::BODY_LIMIT;
use platform::timeout::{HandlerTimeout, Writes};
use tokio_util::sync::CancellationToken;

use crate::recording::Recording;
use crate::store::OrderStore;

pub use error::ApiError;
pub use openapi::ApiDoc;

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "order-service";

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn OrderStore>,
    /// Cancelled once the service is asked to stop: `/readyz` answers 503 from then on.
    pub draining: CancellationToken,
}

/// How the router serves, from the listener settings.
#[derive(Debug, Clone, Copy)]
pub struct Serve {
    /// The handler timeout (`408 timeout`).
    pub request_timeout: Duration,
    /// Whether `/metrics` is served here (false when it has a listener of its own).
    pub metrics: bool,
}

/// The whole application: the order API behind authentication and call recording, and the
/// operational endpoints.
pub fn router(state: AppState, auth: AuthState, recording: Recording, serve: Serve) -> Router {
    platform::metrics::handle();
    let mut api = Router::new()
        .route("/v1/orders", get(orders::list).post(orders::create))
        .route(
            "/v1/orders/{id}",
            get(orders::get)
                .patch(orders::update)
                .delete(orders::delete),
        )
        .route("/healthz", get(platform::health::healthz))
        .route("/readyz", get(ops::readyz));
    if serve.metrics {
        api = api.route("/metrics", get(platform::metrics::render));
    }
    let api = api
        .with_state(state)
        .merge(ops::docs())
        .fallback(platform::http::not_found);
    api.layer(middleware::from_fn_with_state(
        recording.clone(),
        crate::recording::capture_body,
    ))
    .layer(middleware::from_fn_with_state(
        auth,
        platform::auth::authenticate,
    ))
    .layer(middleware::from_fn(platform::http::problem_json))
    .layer(tower_http::catch_panic::CatchPanicLayer::custom(
        platform::http::panic_to_problem,
    ))
    // Inside the recording, so that a timed-out call is recorded with its 408; the handlers
    // mark their writes, which the timeout then never cancels (see platform::timeout).
    .layer(middleware::from_fn_with_state(
        HandlerTimeout {
            after: serve.request_timeout,
            writes: Writes::Marked,
        },
        platform::timeout::layer,
    ))
    .layer(middleware::from_fn_with_state(
        recording,
        crate::recording::record,
    ))
    .layer(middleware::from_fn(platform::metrics::track))
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .layer(middleware::from_fn(platform::http::access_log))
    .layer(middleware::from_fn(platform::context::middleware))
}
