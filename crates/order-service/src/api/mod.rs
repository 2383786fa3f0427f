//! The HTTP surface: routes, extractors and the OpenAPI description.

mod error;
mod headers;
pub mod list;
mod openapi;
mod ops;
mod orders;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{middleware, Router};
use platform::auth::AuthState;
use platform::http::BODY_LIMIT;

use crate::recording::Recording;
use crate::store::OrderStore;

pub use error::ApiError;
pub use openapi::ApiDoc;

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "order-service";

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn OrderStore>,
}

/// The whole application: the order API behind authentication and call recording, and the
/// operational endpoints.
pub fn router(state: AppState, auth: AuthState, recording: Recording) -> Router {
    platform::metrics::handle();
    let api = Router::new()
        .route("/v1/orders", get(orders::list).post(orders::create))
        .route(
            "/v1/orders/{id}",
            get(orders::get)
                .patch(orders::update)
                .delete(orders::delete),
        )
        .route("/healthz", get(platform::health::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(platform::metrics::render))
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
    .layer(middleware::from_fn_with_state(
        recording,
        crate::recording::record,
    ))
    .layer(middleware::from_fn(platform::metrics::track))
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .layer(middleware::from_fn(platform::http::access_log))
    .layer(middleware::from_fn(platform::context::middleware))
}
