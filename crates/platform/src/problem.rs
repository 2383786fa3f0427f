//! RFC 9457 `application/problem+json` errors, the only error body either service sends.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::context;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field of a request: `{"field": "items[0].sku", "message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error answer. 4xx details are stable and safe to show; 5xx bodies never carry internals.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub www_authenticate: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    request_id: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            www_authenticate: None,
        }
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail,
        )
    }

    /// 400 naming one query parameter: `"<field> <message>"`, and the field in `errors`.
    pub fn bad_parameter(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            errors: vec![FieldError::new(field, message.clone())],
            ..Self::malformed(format!("{field} {message}"))
        }
    }

    pub fn unauthorized(realm: &str, error: Option<&str>, detail: impl Into<String>) -> Self {
        let challenge = match error {
            Some(error) => format!("Bearer realm=\"{realm}\", error=\"{error}\""),
            None => format!("Bearer realm=\"{realm}\""),
        };
        let mut problem = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        );
        problem.www_authenticate = Some(challenge);
        problem
    }

    pub fn insufficient_scope(realm: &str, scope: &str) -> Self {
        let mut problem = Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            format!("this call needs the scope {scope}"),
        );
        problem.www_authenticate = Some(format!(
            "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{scope}\""
        ));
        problem
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this method is not allowed on this resource",
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            detail,
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            "the request body is larger than this endpoint accepts",
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("the request body must be {expected}"),
        )
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
            "Validation error",
            "the request has invalid fields",
        );
        problem.errors = errors;
        problem
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// A 500 whose body says nothing of the cause; log the cause where it happens.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed to answer this request; it has been logged",
        )
    }

    /// 408: the request body did not arrive in time, or the handler took too long.
    pub fn timeout(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "Request timeout",
            detail,
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// The generic problem for a status produced outside our handlers (a layer, a fallback).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::malformed("the request could not be read"),
            401 => Self::unauthorized("ordersys", None, "a bearer token is required"),
            403 => Self::forbidden("not allowed"),
            404 => Self::not_found("no such resource"),
            405 => Self::method_not_allowed(),
            408 => Self::timeout("the request took too long"),
            409 => Self::conflict("the request conflicts with the current state"),
            412 => Self::precondition_failed("the precondition failed"),
            413 => Self::payload_too_large(),
            415 => Self::unsupported_media_type("application/json"),
            422 => Self::validation(Vec::new()),
            503 => Self::unavailable("the service is not available"),
            s if s >= 500 => Self::internal(),
            _ => Self::new(
                status,
                "malformed-request",
                "Bad request",
                "the request was rejected",
            ),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            kind: format!("/problems/{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            request_id: context::current_request_id().unwrap_or_default(),
            errors: &self.errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(challenge) = self
            .www_authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// `outer: inner: innermost`, as `anyhow` prints `{:#}`: what a 500 logs of its cause.
pub fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The problem body as documented in the OpenAPI description.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDoc {
    /// `/problems/<slug>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub request_id: String,
    #[schema(nullable = false)]
    pub errors: Option<Vec<FieldError>>,
}
