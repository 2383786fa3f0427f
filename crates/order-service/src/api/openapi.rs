use platform::openapi::{BearerAuth, ProblemResponses};
use utoipa::OpenApi;

use super::orders;

/// The OpenAPI 3.1 description, generated from the handlers and types.
/// The problems every operation may answer: callers are rate limited (SPEC section 11).
const PROBLEMS: ProblemResponses = ProblemResponses { rate_limited: true };

#[derive(OpenApi)]
#[openapi(
    info(title = "ordersys order service", description = "Create, read, list, update and delete product orders. Every call is recorded in the transaction log."),
    paths(orders::create, orders::get, orders::list, orders::update, orders::delete),
    components(schemas(platform::FieldError, platform::problem::ProblemDoc)),
    modifiers(&BearerAuth, &PROBLEMS),
    tags((name = "orders", description = "Product orders"))
)]
pub struct ApiDoc;
