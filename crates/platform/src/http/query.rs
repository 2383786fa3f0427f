//! Query parameters.

use axum::extract::Query;
use axum::http::Uri;
use serde::de::DeserializeOwned;

use crate::Problem;

/// Query parameters parsed with serde into `T` (which should deny unknown fields): 400 saying
/// which parameter is unknown, repeated or of the wrong type.
pub fn parse_query<T: DeserializeOwned>(uri: &Uri) -> Result<T, Problem> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(params)| params)
        .map_err(|e| Problem::malformed(format!("bad query parameters: {}", e.body_text())))
}
