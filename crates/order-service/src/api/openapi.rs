use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use platform::openapi::ProblemResponses;

use super::orders;

/// The OpenAPI 3.1 description, generated from the handlers and types.
#[derive(OpenApi)]
#[openapi(
    info(title = "ordersys order service", description = "Create, read, list, update and delete product orders. Every call is recorded in the transaction log."),
    paths(orders::create, orders::get, orders::list, orders::update, orders::delete),
    components(schemas(platform::FieldError, platform::problem::ProblemDoc)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags((name = "orders", description = "Product orders"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
