//! Every way a transaction log endpoint can fail, and the problem+json answer of each. 4xx
//! answers carry a stable detail; 5xx answers are opaque, and their cause chain is logged here,
//! once.

use axum::http::header::RETRY_AFTER;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use platform::problem::cause_chain;
use platform::{FieldError, Problem};

use crate::store::StoreError;

/// Seconds a client is asked to wait when the database is away.
const UNAVAILABLE_RETRY_AFTER: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A refusal already phrased as a problem by `platform` (authentication, scopes, body
    /// parsing, query parsing) or by the batch validation.
    #[error("{} ({})", .0.title, .0.detail)]
    Refused(Problem),
    /// A query parameter that cannot be read (400, naming it).
    #[error("{field} {message}")]
    BadParameter {
        field: &'static str,
        message: String,
    },
    /// Parameters that are well formed but out of range (422, naming each).
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<FieldError>),
    #[error("the transaction id is not a UUID")]
    MalformedId,
    #[error("no transaction with this id")]
    NotFound,
    #[error("no checkpoint has been signed yet; retry in a second")]
    NoCheckpoint,
    /// A full walk of the chain is running, or was asked for too often.
    #[error("a full walk of the chain is running or was asked for too often; retry later")]
    RateLimited { retry_after_seconds: u64 },
    /// The store failed, or holds what it should not: 503 when the database is away or too
    /// slow (trying again may succeed), else 500.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self::Refused(problem)
    }
}

impl ApiError {
    /// A well-formed parameter out of its range (422).
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    /// The answer the caller sees.
    fn problem(self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::Refused(problem) => problem,
            Self::BadParameter { field, message } => Problem::bad_parameter(field, message),
            Self::Invalid(errors) => Problem::validation(errors),
            Self::MalformedId => Problem::malformed(detail),
            Self::NotFound => Problem::not_found(detail),
            Self::NoCheckpoint => Problem::unavailable(detail),
            Self::RateLimited { .. } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                detail,
            ),
            Self::Store(e) if e.is_unavailable() => {
                Problem::unavailable("the database is not available; retry shortly")
            }
            Self::Store(_) => Problem::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = cause_chain(e), "answering 503");
            }
            Self::Store(e) => tracing::error!(error = cause_chain(e), "answering 500"),
            _ => {}
        }
        let retry_after = match self {
            Self::RateLimited {
                retry_after_seconds,
            } => Some(retry_after_seconds),
            Self::Store(ref e) if e.is_unavailable() => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        let mut response = self.problem().into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, seconds.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_stay_out_of_the_body() {
        let e = ApiError::Store(StoreError::corrupt("record 7 is on fire"));
        let problem = e.problem();
        assert_eq!(problem.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!problem.detail.contains("fire"));
    }

    #[test]
    fn a_database_that_is_away_is_503_with_retry_after() {
        let e = ApiError::Store(StoreError::from(sqlx::Error::PoolTimedOut));
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let response = ApiError::RateLimited {
            retry_after_seconds: 7,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "7");
    }

    #[test]
    fn a_bad_parameter_is_named() {
        let problem = ApiError::BadParameter {
            field: "limit",
            message: "must be an integer".into(),
        }
        .problem();
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        assert_eq!(problem.detail, "limit must be an integer");
        assert_eq!(
            problem.errors,
            [FieldError::new("limit", "must be an integer")]
        );
    }
}
