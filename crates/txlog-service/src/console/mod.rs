//! The auditor console (issue 16, docs/TXLOG.md "The auditor console"): a static page at
//! `/console/`, built into the binary, that signs the auditor in, reads `/v1/...` with the
//! auditor's bearer token and checks checkpoints and inclusion proofs in the browser.
//!
//! The page itself is public (outside `/v1`, like `/docs`); every datum it shows comes from the
//! API under the auditor's token. `config.json` tells the page what it cannot know: the OIDC
//! client and issuer, and the log's verifier key (all public).

mod assets;
mod headers;

use std::sync::Arc;

use axum::extract::{Path, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use platform::auth::{AuthConfig, KeyConfig};
use serde_json::json;

pub use assets::{Asset, ASSETS};
pub use headers::content_security_policy;

use crate::config::ConsoleConfig;

/// What the console is served with: its `config.json` and its Content-Security-Policy.
#[derive(Clone)]
pub struct Console {
    config_json: Arc<str>,
    csp: Arc<str>,
}

impl Console {
    pub fn new(console: &ConsoleConfig, auth: &AuthConfig) -> Console {
        let issuer = match &auth.keys {
            KeyConfig::Issuer(url) => Some(url.as_str()),
            _ => None,
        };
        let oidc = console
            .oidc_client_id
            .as_ref()
            .zip(issuer)
            .map(|(client_id, issuer)| json!({"issuer": issuer, "client_id": client_id}));
        let config_json = json!({
            "oidc": oidc,
            "verifier_key": console.verifier_key,
        });
        // The browser talks to the issuer only when it signs in there.
        let csp = content_security_policy(oidc.is_some().then_some(issuer).flatten());
        Console {
            config_json: config_json.to_string().into(),
            csp: csp.into(),
        }
    }

    /// `/console` (redirects), `/console/`, `/console/config.json` and the assets, each with
    /// the console's security headers.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let config_json = self.config_json.clone();
        Router::new()
            .route(
                "/console",
                get(|| async { Redirect::permanent("/console/") }),
            )
            .route("/console/", get(index))
            .route(
                "/console/config.json",
                get(move || async move { config(&config_json) }),
            )
            .route("/console/{*path}", get(asset))
            .layer(from_fn_with_state(self.csp.clone(), headers::secure))
    }
}

async fn index(request: Request) -> Response {
    serve(request.headers(), "index.html")
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&headers, &path)
}

fn serve(request: &HeaderMap, path: &str) -> Response {
    let Some(asset) = assets::find(path) else {
        return platform::Problem::not_found("no such console file").into_response();
    };
    let etag = asset.etag();
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let validators = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, headers::REVALIDATE.to_owned()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, validators).into_response();
    }
    (
        validators,
        [(header::CONTENT_TYPE, asset.content_type)],
        asset.bytes,
    )
        .into_response()
}

fn config(config_json: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        config_json.to_owned(),
    )
        .into_response()
}
