//! The HTTP surface: routes, extractors and the OpenAPI description.

mod error;
mod headers;
pub mod list;
mod openapi;
mod ops;
mod orders;
mod v1;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{middleware, Router};
use platform::auth::AuthState;
use platform::http::BODY_LIMIT;
use platform::timeout::HandlerTimeout;
use tokio_util::sync::CancellationToken;

use crate::recording::{Operation, Recording};
use crate::store::Store;

pub use error::ApiError;
pub use openapi::ApiDoc;
use v1::{Methods, V1};

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "order-service";

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Cancelled once the service is asked to stop: `/readyz` answers 503 from then on.
    pub draining: CancellationToken,
}

impl platform::auth::Realm for AppState {
    fn realm(&self) -> &str {
        REALM
    }
}

/// How the router serves, from the listener settings.
#[derive(Debug, Clone, Copy)]
pub struct Serve {
    /// The handler timeout (`408 timeout`).
    pub request_timeout: Duration,
    /// Whether `/metrics` is served here (false when it has a listener of its own).
    pub metrics: bool,
}

/// The whole application: the order API (`/v1/`, each call authenticated and recorded) and the
/// operational endpoints.
pub fn router(state: AppState, auth: AuthState, recording: Recording, serve: Serve) -> Router {
    platform::metrics::handle();
    let timeout = v1::handler_timeout(serve.request_timeout);
    let v1 = V1::new(recording, auth, timeout)
        .route(
            "/orders",
            Methods::default()
                .get(Operation::OrderList, orders::list)
                .post(Operation::OrderCreate, orders::create),
        )
        .route(
            "/orders/{id}",
            Methods::default()
                .get(Operation::OrderGet, orders::get)
                .patch(Operation::OrderUpdate, orders::update)
                .delete(Operation::OrderDelete, orders::delete),
        )
        .finish();
    let mut operational = Router::new()
        .route("/healthz", get(platform::health::healthz))
        .route("/readyz", get(ops::readyz));
    if serve.metrics {
        operational = operational.route("/metrics", get(platform::metrics::render));
    }
    let operational = guarded(
        operational
            .with_state(state.clone())
            .merge(ops::docs())
            .fallback(platform::http::not_found),
        timeout,
    );
    Router::new()
        .nest("/v1/", v1)
        .with_state(state)
        .merge(operational)
        .layer(middleware::from_fn(platform::metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(platform::http::access_log))
        .layer(middleware::from_fn(platform::context::middleware))
}

/// The guard every route of the service is served inside, `/v1/` calls within their recording
/// (so that a call that timed out or panicked is recorded with its 408 or 500): the handler
/// timeout, the panic guard, and problem+json for any error answer.
fn guarded<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    timeout: HandlerTimeout,
) -> Router<S> {
    router
        .layer(middleware::from_fn(platform::http::problem_json))
        .layer(platform::http::catch_panic())
        .layer(middleware::from_fn_with_state(
            timeout,
            platform::timeout::layer,
        ))
}
