//! Baseline (b): an axum handler that does no work, in this process on 127.0.0.1, driven by
//! the same client with the same request as `GET /v1/orders/{id}`: the ceiling of the HTTP
//! stack.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use futures::FutureExt;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::load::Op;

/// Serves `GET /v1/orders/{id}` with a fixed 2-byte body until `stop`.
pub async fn serve(stop: CancellationToken) -> anyhow::Result<SocketAddr> {
    let router = axum::Router::new().route("/v1/orders/{id}", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Ok(addr)
}

pub fn op(http: reqwest::Client, addr: SocketAddr, token: String) -> Op {
    let url = Arc::new(format!("http://{addr}/v1/orders/{}", uuid::Uuid::now_v7()));
    Arc::new(move |_| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let response = http.get(url.as_str()).bearer_auth(token).send().await?;
            let status = response.status();
            response.bytes().await?;
            anyhow::ensure!(status == StatusCode::OK, "answered {status}");
            Ok(())
        }
        .boxed()
    })
}
