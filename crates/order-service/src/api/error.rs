//! Every way an order endpoint can fail, and the problem+json answer of each. 4xx answers carry a
//! stable detail; 5xx answers are opaque, and their cause chain is logged here, once. A database
//! that is away or too slow is 503 `unavailable` with `Retry-After`, never 500 (SPEC section 6).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::problem::cause_chain;
use platform::{FieldError, Problem};

use crate::domain::PatchError;
use crate::recording::NotRecorded;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A refusal already phrased as a problem by `platform` (authentication, scopes, headers,
    /// body parsing, list parameters).
    #[error("{} ({})", .0.title, .0.detail)]
    Refused(Problem),
    #[error("the order id must be a UUID")]
    MalformedId,
    #[error("no such order")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("the order changed since the given If-Match version")]
    VersionChanged,
    #[error("a request with this Idempotency-Key is still in flight")]
    IdempotencyKeyInFlight,
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyKeyMismatch,
    #[error("the order store failed")]
    Store(#[from] StoreError),
    #[error("an order could not be encoded as JSON")]
    Encode(#[from] serde_json::Error),
    #[error("a write could not be recorded")]
    NotRecorded(#[from] NotRecorded),
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self::Refused(problem)
    }
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        match e {
            PatchError::Invalid(errors) => Self::Invalid(errors),
            PatchError::Conflict(why) => Self::Conflict(why),
            PatchError::NeedsAdmin(why) => Self::Forbidden(why),
        }
    }
}

impl ApiError {
    /// The answer the caller sees.
    fn problem(self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::Refused(problem) => problem,
            Self::MalformedId => Problem::malformed(detail),
            Self::NotFound => Problem::not_found(detail),
            Self::Forbidden(why) => Problem::forbidden(why),
            Self::Invalid(errors) => Problem::validation(errors),
            Self::Conflict(why) => Problem::conflict(why),
            Self::VersionChanged => Problem::precondition_failed(detail),
            Self::IdempotencyKeyInFlight => Problem::conflict(detail),
            Self::IdempotencyKeyMismatch => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-mismatch",
                "Idempotency key mismatch",
                detail,
            ),
            Self::Store(e) if e.is_unavailable() => {
                Problem::unavailable("the database is not available; retry later")
            }
            Self::Store(_) | Self::Encode(_) | Self::NotRecorded(_) => Problem::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Store(e) if e.is_unavailable() => {
                metrics::counter!("orders_database_unavailable_total").increment(1);
                tracing::warn!(error = cause_chain(&self), "answering 503");
                return crate::unavailable::response(self.problem());
            }
            Self::Store(_) | Self::Encode(_) | Self::NotRecorded(_) => {
                tracing::error!(error = cause_chain(&self), "answering 500");
            }
            _ => {}
        }
        self.problem().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_stay_out_of_the_body() {
        let e = ApiError::Encode(serde_json::from_str::<u8>("x").unwrap_err());
        assert!(cause_chain(&e).starts_with("an order could not be encoded as JSON: expected"));
        let problem = e.problem();
        assert_eq!(problem.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!problem.detail.contains("expected"));
    }

    #[test]
    fn a_database_that_is_away_is_503_with_retry_after() {
        let e = ApiError::Store(StoreError::from(sqlx::Error::PoolTimedOut));
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "1");
        let e = ApiError::Store(StoreError::from(sqlx::Error::RowNotFound));
        assert_eq!(
            e.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn a_mismatched_key_is_its_own_problem_type() {
        let problem = ApiError::IdempotencyKeyMismatch.problem();
        assert_eq!(problem.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.slug, "idempotency-key-mismatch");
        assert!(problem.errors.is_empty());
    }
}
