//! `/readyz` (`/healthz` is `platform::health::healthz`).

use axum::extract::State;
use axum::Json;
use platform::Problem;
use serde_json::Value;

use super::AppState;

/// The database answers.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    platform::health::ready(state.store.ping()).await
}
