//! Health, readiness and the API description.

use axum::extract::State;
use axum::Json;
use platform::Problem;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::{ApiDoc, AppState};

/// The database answers. The transaction log is not needed: calls are kept in the outbox.
/// 503 at once when the service is stopping.
pub async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, Problem> {
    platform::health::unless_draining(&app.draining)?;
    platform::health::ready(async { Ok(app.store.health.ping().await?) }).await
}

/// `GET /openapi.json` and the browsable `GET /docs`, served from assets built into the binary.
pub fn docs() -> axum::Router {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .into()
}
