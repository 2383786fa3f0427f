//! `/readyz` (`/healthz` is `platform::health::healthz`).

use axum::extract::State;
use axum::Json;
use platform::Problem;
use serde_json::Value;

use super::AppState;

/// The database answers and the log can sign checkpoints (its tree extends the last one);
/// 503 at once when the service is stopping.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    platform::health::unless_draining(&state.draining)?;
    if let Some(refusal) = state.signing.refusal() {
        return Err(Problem::unavailable(format!(
            "the log refuses to sign checkpoints: {refusal}"
        )));
    }
    platform::health::ready(async { Ok(state.store.ping().await?) }).await
}
