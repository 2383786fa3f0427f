//! The business operation of a call (SPEC section 7), declared with the route that serves it
//! (see `api::v1`): the recording middleware is handed the operations of its route, so no
//! table of paths and methods has to be kept in step with the router.

use axum::http::Method;
use serde::Deserialize;
use uuid::Uuid;

/// What a call did, as the transaction log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    OrderCreate,
    OrderGet,
    OrderList,
    OrderUpdate,
    OrderDelete,
    /// No route and method matched (404, 405).
    Request,
}

impl Operation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreate => "order.create",
            Self::OrderGet => "order.get",
            Self::OrderList => "order.list",
            Self::OrderUpdate => "order.update",
            Self::OrderDelete => "order.delete",
            Self::Request => "request",
        }
    }

    /// Reads disclose orders; their successful answers are not kept (SPEC section 7).
    pub const fn is_read(self) -> bool {
        matches!(self, Self::OrderGet | Self::OrderList)
    }
}

/// The operations one route serves, by method. A method it does not serve (405, and `HEAD`)
/// is [`Operation::Request`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Operations {
    get: Option<Operation>,
    post: Option<Operation>,
    patch: Option<Operation>,
    delete: Option<Operation>,
}

impl Operations {
    /// A route that serves nothing: the fallback for unknown paths.
    pub const NONE: Self = Self {
        get: None,
        post: None,
        patch: None,
        delete: None,
    };

    pub fn with(mut self, method: &Method, operation: Operation) -> Self {
        let slot = match *method {
            Method::GET => &mut self.get,
            Method::POST => &mut self.post,
            Method::PATCH => &mut self.patch,
            Method::DELETE => &mut self.delete,
            _ => panic!("no operation is served with {method}"),
        };
        assert!(slot.is_none(), "two operations for {method} on one route");
        *slot = Some(operation);
        self
    }

    /// The operation a call with `method` on this route records.
    pub fn of(&self, method: &Method) -> Operation {
        let slot = match *method {
            Method::GET => self.get,
            Method::POST => self.post,
            Method::PATCH => self.patch,
            Method::DELETE => self.delete,
            _ => None,
        };
        slot.unwrap_or(Operation::Request)
    }
}

/// The parameters of the routes under `/v1/orders/{id}`: the order a call is about, read by the
/// handlers and by the recording middleware alike.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderPath {
    pub id: String,
}

impl OrderPath {
    /// The id, when it is a UUID (a malformed one is the handler's 400).
    pub fn order_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.id).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_the_route_does_not_serve_is_a_plain_request() {
        let orders = Operations::default()
            .with(&Method::GET, Operation::OrderList)
            .with(&Method::POST, Operation::OrderCreate);
        assert_eq!(orders.of(&Method::GET), Operation::OrderList);
        assert_eq!(orders.of(&Method::POST), Operation::OrderCreate);
        assert_eq!(orders.of(&Method::PUT), Operation::Request);
        assert_eq!(orders.of(&Method::HEAD), Operation::Request);
        assert_eq!(Operations::NONE.of(&Method::GET), Operation::Request);
    }

    #[test]
    #[should_panic(expected = "two operations")]
    fn one_method_has_one_operation() {
        let _ = Operations::default()
            .with(&Method::GET, Operation::OrderGet)
            .with(&Method::GET, Operation::OrderList);
    }
}
