//! OpenAPI helpers shared by both services.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::Modify;

/// The `bearer` security scheme (a JWT) the operations name.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Problems any `/v1/` operation may answer, documented once instead of on every handler.
const EVERY_OPERATION: [(u16, &str); 6] = [
    (400, "Malformed request"),
    (401, "Missing or invalid bearer token"),
    (403, "The token lacks the scope"),
    (408, "The request body did not arrive in time"),
    (500, "Internal error (no details in the body)"),
    (503, "Unavailable for now; retry later"),
];
/// Rate limits (SPEC section 11): 429 with `Retry-After`.
const RATE_LIMITED: (u16, &str) = (
    429,
    "Over the rate limit; `Retry-After` gives the seconds to wait",
);
/// Problems of operations that take a body.
const WITH_BODY: [(u16, &str); 3] = [
    (413, "Body larger than the limit"),
    (415, "Body is not JSON"),
    (422, "Body of the wrong shape or values"),
];

/// Adds the problem+json responses every operation can give (and those of operations with a
/// request body) where the handler's annotation does not already name them.
pub struct ProblemResponses {
    /// Whether callers are rate limited (429).
    pub rate_limited: bool,
}

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                add_problems(operation, self.rate_limited);
            }
        }
    }
}

fn add_problems(operation: &mut Operation, rate_limited: bool) {
    let with_body = operation.request_body.is_some();
    let statuses = EVERY_OPERATION
        .iter()
        .chain(std::iter::once(&RATE_LIMITED).filter(|_| rate_limited))
        .chain(WITH_BODY.iter().filter(|_| with_body));
    for (status, description) in statuses {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                let content = Content::new(Some(Ref::from_schema_name("Problem")));
                RefOr::T(
                    ResponseBuilder::new()
                        .description(*description)
                        .content(crate::problem::CONTENT_TYPE, content)
                        .build(),
                )
            });
    }
}
