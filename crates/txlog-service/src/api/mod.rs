//! The HTTP API (SPEC section 8) and the operational endpoints (section 9).

mod caller;
mod list;
mod openapi;
mod ops;
mod proofs;
mod transactions;
pub mod validate;
mod verify;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use platform::auth::{AuthState, Verifier};
use platform::Problem;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

pub use openapi::ApiDoc;

use crate::store::Store;
use crate::transparency::SigningStatus;

/// Largest `POST /v1/transactions` body.
pub const BATCH_BODY_LIMIT: usize = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub verifier: Arc<Verifier>,
    /// Whether the log can sign checkpoints (`/readyz` is 503 when it cannot).
    pub signing: Arc<SigningStatus>,
}

/// The whole application: routes, API description and the middleware stack.
pub fn router(state: AppState) -> Router {
    let auth = AuthState::new(state.verifier.clone());
    Router::new()
        .route(
            "/v1/transactions",
            get(list::list)
                .post(transactions::append)
                .layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route("/v1/transactions/verify", get(verify::verify))
        .route("/v1/checkpoint", get(proofs::checkpoint))
        .route("/v1/proofs/inclusion", get(proofs::inclusion))
        .route("/v1/proofs/consistency", get(proofs::consistency))
        .route(
            "/v1/transactions/{transaction_id}",
            get(transactions::get_one),
        )
        .route("/healthz", get(platform::health::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(platform::metrics::render))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
        .fallback(fallback)
        .with_state(state)
        .layer(from_fn_with_state(auth, platform::auth::authenticate))
        .layer(catch_panic())
        .layer(from_fn(platform::metrics::track))
        .layer(from_fn(platform::http::problem_json))
        .layer(from_fn(platform::http::access_log))
        .layer(from_fn(platform::context::middleware))
}

/// Records are never changed or removed: writes other than POST on any transactions path are
/// 405; anything else unknown is 404.
async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    let under_transactions = path == "/v1/transactions" || path.starts_with("/v1/transactions/");
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

/// A panicking handler answers 500 like any other failure, and is logged (the same layer as
/// the order service's).
fn catch_panic() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response> {
    CatchPanicLayer::custom(platform::http::panic_to_problem)
}

/// A 500 whose cause chain is logged once, here; the body says nothing of it.
pub fn internal(error: anyhow::Error, what: &str) -> Problem {
    tracing::error!(error = format!("{error:#}"), "{what}");
    Problem::internal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500() {
        let app = Router::new()
            .route("/boom", get(|| async { panic!("boom") as &'static str }))
            .layer(catch_panic());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let response = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers()["content-type"],
            platform::problem::CONTENT_TYPE
        );
    }
}
