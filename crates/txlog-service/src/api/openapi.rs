//! The OpenAPI 3.1 description, generated from the handlers and the wire types.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{list, proofs, transactions, verify};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ordersys transaction log",
        description = "Append-only, hash-chained business transactions (SPEC section 8). \
                       Every /v1/ call needs a bearer JWT: txlog:write to append, txlog:read to query and verify."
    ),
    paths(
        transactions::append, list::list, transactions::get_one, verify::verify,
        proofs::checkpoint, proofs::inclusion, proofs::consistency
    ),
    components(schemas(platform::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "transactions", description = "The transaction log"),
        (name = "verifiable log", description = "Signed checkpoints and RFC 9162 proofs (SPEC section 10)")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}
