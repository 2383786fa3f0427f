//! `/healthz` and `/readyz`.

use axum::extract::State;
use axum::Json;
use platform::Problem;
use serde_json::{json, Value};

use super::AppState;

/// The process is alive.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    match state.store.ping().await {
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
