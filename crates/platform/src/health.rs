//! `/healthz` and `/readyz`, the same in both services.

use std::future::Future;
use std::time::Duration;

use axum::Json;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::Problem;

/// A database slower than this to answer counts as not ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: ready when `ping` (the database) answers within `READY_TIMEOUT`; otherwise
/// 503, and a warning with the cause.
pub async fn ready(ping: impl Future<Output = anyhow::Result<()>>) -> Result<Json<Value>, Problem> {
    ready_within(READY_TIMEOUT, ping).await
}

/// The draining check of both services' `/readyz`: 503 as soon as `draining` is cancelled
/// (a stop signal arrived; load balancers should stop routing here).
pub fn unless_draining(draining: &CancellationToken) -> Result<(), Problem> {
    if draining.is_cancelled() {
        return Err(Problem::unavailable("the service is stopping"));
    }
    Ok(())
}

async fn ready_within(
    timeout: Duration,
    ping: impl Future<Output = anyhow::Result<()>>,
) -> Result<Json<Value>, Problem> {
    let answer = tokio::time::timeout(timeout, ping)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {timeout:?}")));
    match answer {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "readiness check failed: the database does not answer"
            );
            Err(Problem::unavailable("the database is not reachable"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_that_fails_or_does_not_answer_is_not_ready() {
        assert!(ready(async { Ok(()) }).await.is_ok());
        let failed = ready(async { Err(anyhow::anyhow!("refused")) }).await;
        assert_eq!(failed.unwrap_err().status.as_u16(), 503);
        let silent = ready_within(Duration::from_millis(10), std::future::pending()).await;
        assert_eq!(silent.unwrap_err().status.as_u16(), 503);
    }

    #[test]
    fn a_stopping_service_is_not_ready() {
        let draining = CancellationToken::new();
        assert!(unless_draining(&draining).is_ok());
        draining.cancel();
        let stopping = unless_draining(&draining).unwrap_err();
        assert_eq!(stopping.status.as_u16(), 503);
    }
}
