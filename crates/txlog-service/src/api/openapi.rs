//! The OpenAPI 3.1 description, generated from the handlers and the wire types.

use platform::openapi::{BearerAuth, ProblemResponses};
use utoipa::OpenApi;

use super::{index_fields, list, proofs, transactions, verify};

/// The problems every operation may answer: no rate limits here (a full walk's 429 is on its operation).
const PROBLEMS: ProblemResponses = ProblemResponses {
    rate_limited: false,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ordersys transaction log",
        description = "Append-only, hash-chained business transactions (SPEC section 8). \
                       Every /v1/ call needs a bearer JWT: txlog:write to append, txlog:read to query and verify."
    ),
    paths(
        transactions::append, list::list, index_fields::index, transactions::get_one, verify::verify,
        proofs::checkpoint, proofs::inclusion, proofs::consistency
    ),
    components(schemas(platform::FieldError, platform::problem::ProblemDoc)),
    modifiers(&BearerAuth, &PROBLEMS),
    tags(
        (name = "transactions", description = "The transaction log"),
        (name = "verifiable log", description = "Signed checkpoints and RFC 9162 proofs (SPEC section 10)")
    )
)]
pub struct ApiDoc;
