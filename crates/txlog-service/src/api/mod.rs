//! The HTTP API (SPEC section 8) and the operational endpoints (section 9).

mod caller;
mod error;
mod index_fields;
mod list;
mod openapi;
mod ops;
mod proofs;
mod transactions;
pub mod validate;
pub mod verify;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use platform::auth::{AuthState, Verifier};
use platform::timeout::{HandlerTimeout, Writes};
use platform::Problem;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

/// Defined with the configuration that names it, which the API builds on.
pub use crate::config::REALM;
pub use error::ApiError;
pub use openapi::ApiDoc;

use crate::console::Console;
use crate::store::Store;
use crate::transparency::GroupCommit;
use crate::transparency::SigningStatus;

/// Largest `POST /v1/transactions` body.
pub const BATCH_BODY_LIMIT: usize = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Appends go through it (`POST /v1/transactions`), grouped with concurrent ones; reads go
    /// to the store.
    pub appends: GroupCommit,
    pub verifier: Arc<Verifier>,
    /// Whether the log can sign checkpoints (`/readyz` is 503 when it cannot).
    pub signing: Arc<SigningStatus>,
    /// Who may start a full walk of the chain now.
    pub full_walks: Arc<verify::FullWalks>,
    /// The incremental walk concurrent `/verify` calls share.
    pub shared_walk: Arc<verify::SharedWalk>,
    /// Cancelled once the service is asked to stop: `/readyz` answers 503 from then on.
    pub draining: CancellationToken,
    /// The witnesses and their quorum: with any, `/v1/checkpoint` serves the newest checkpoint
    /// the quorum cosigned.
    pub witnesses: Arc<crate::config::WitnessConfig>,
}

/// How the router serves, from the listener settings.
#[derive(Debug, Clone, Copy)]
pub struct Serve {
    /// The handler timeout (`408 timeout`).
    pub request_timeout: Duration,
    /// Whether `/metrics` is served here (false when it has a listener of its own).
    pub metrics: bool,
}

/// The whole application: routes, API description, the auditor console and the middleware
/// stack (the console is outside `/v1`, so authentication lets it through like `/docs`).
pub fn router(state: AppState, serve: Serve, console: &Console) -> Router {
    let auth = AuthState::new(state.verifier.clone());
    // Nested at `/v1/`: every call below it is authenticated, unknown paths included.
    let v1 = Router::new()
        .route(
            "/transactions",
            get(list::list)
                .post(transactions::append)
                .layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route("/transactions/verify", get(verify::verify))
        .route("/transactions/index", get(index_fields::index))
        .route("/checkpoint", get(proofs::checkpoint))
        .route("/proofs/inclusion", get(proofs::inclusion))
        .route("/proofs/consistency", get(proofs::consistency))
        .route("/transactions/{transaction_id}", get(transactions::get_one))
        .fallback(v1_fallback)
        .layer(from_fn_with_state(auth, platform::auth::authenticate));
    let mut routes = Router::new()
        .nest("/v1/", v1)
        .route("/healthz", get(platform::health::healthz))
        .route("/readyz", get(ops::readyz));
    if serve.metrics {
        routes = routes.route("/metrics", get(platform::metrics::render));
    }
    routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .merge(console.router())
        .fallback(platform::http::not_found)
        .with_state(state)
        .layer(platform::http::catch_panic())
        // Appends (POST) are writes from their start: the timeout never cancels them.
        .layer(from_fn_with_state(
            HandlerTimeout {
                after: serve.request_timeout,
                writes: Writes::UnsafeMethods,
            },
            platform::timeout::layer,
        ))
        .layer(from_fn(platform::metrics::track))
        .layer(from_fn(platform::http::problem_json))
        .layer(from_fn(platform::http::access_log))
        .layer(from_fn(platform::context::middleware))
}

/// Unknown paths below `/v1/` (which the router strips). Records are never changed or removed:
/// writes other than POST on any transactions path are 405; anything else unknown is 404.
async fn v1_fallback(request: Request) -> Response {
    let path = request.uri().path();
    let under_transactions = path == "/transactions" || path.starts_with("/transactions/");
    if under_transactions
        && matches!(
            *request.method(),
            Method::PUT | Method::PATCH | Method::DELETE
        )
    {
        let mut response = Problem::method_not_allowed().into_response();
        response
            .headers_mut()
            .insert("allow", http::HeaderValue::from_static("GET"));
        return response;
    }
    platform::http::not_found().await.into_response()
}

/// A 200 whose body is JSON text the handler wrote itself (records as stored, never re-encoded).
fn json_text(text: String) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}
