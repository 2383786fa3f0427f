//! JSON request bodies: the extractor with precise errors, and its parts.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::json::JsonError;
use crate::Problem;

/// Largest request body the order API accepts.
pub const BODY_LIMIT: usize = 256 * 1024;

/// A JSON request body: 415 for the wrong media type, 413 when too large, 400 when the bytes
/// are not JSON, 422 naming the field when the JSON has the wrong shape.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json_body(request).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The bytes of a JSON request body, after the media-type check (`application/json`, and
/// `application/merge-patch+json` on PATCH) and the body limit.
pub async fn read_json_body(request: Request) -> Result<Bytes, Problem> {
    let allow_merge_patch = request.method() == Method::PATCH;
    let media_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let accepted = match media_type.as_deref() {
        Some("application/json") => true,
        Some("application/merge-patch+json") => allow_merge_patch,
        _ => false,
    };
    if !accepted {
        let expected = if allow_merge_patch {
            "application/merge-patch+json or application/json"
        } else {
            "application/json"
        };
        return Err(Problem::unsupported_media_type(expected));
    }
    Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::payload_too_large()
            } else if crate::server::is_body_timeout(&rejection) {
                crate::server::body_timeout_problem()
            } else {
                Problem::malformed("the request body could not be read")
            }
        })
}

/// Parses JSON bytes into `T`, telling malformed JSON (400) from the wrong shape (422 naming
/// the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    crate::json::from_slice(bytes).map_err(|e| match e {
        JsonError::NotJson(message) => Problem::malformed(message),
        JsonError::Fields(errors) => Problem::validation(errors),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_json;
    use serde_json::Value;

    #[test]
    fn text_that_is_not_utf8_is_malformed_even_inside_odd_keys() {
        let raw_key = b"{\"a\": {\"$serde_json::private::RawValue\": {\"x\xf2\": 1}}}";
        let status = |bytes: &[u8]| parse_json::<Value>(bytes).unwrap_err().status.as_u16();
        assert_eq!(status(raw_key), 400);
        assert_eq!(status(b"{\"a\": \"\xf2\"}"), 400);
        assert_eq!(status(b"{\"a\": 1} \xf2"), 400);
    }
}
