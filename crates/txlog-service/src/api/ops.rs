//! `/healthz` and `/readyz`.

use axum::extract::State;
use axum::Json;
use platform::Problem;
use serde_json::{json, Value};

use super::AppState;

/// A database slower than this to answer counts as not ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The process is alive.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let ping = tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await;
    match ping.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {READY_TIMEOUT:?}"))) {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "readiness check failed: the database does not answer"
            );
            Err(Problem::unavailable("the database is not reachable"))
        }
    }
}
