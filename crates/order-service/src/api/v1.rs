//! The `/v1/` router: each method of each route declared with its handler and the operation its
//! calls record, and the middleware every `/v1/` call passes, unknown paths and methods
//! included (SPEC section 7): call recording, the handler timeout, panics, problem+json,
//! authentication, and the body read for the record. It is nested at `/v1/`, so none of that
//! middleware looks at the path.

use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::MethodRouter;
use axum::Router;
use platform::auth::AuthState;
use platform::timeout::{HandlerTimeout, Writes};

use super::AppState;
use crate::recording::{self, Operation, Operations, Recording};

/// The `/v1/` routes being declared.
pub struct V1 {
    routes: Router<AppState>,
    recording: Recording,
    auth: AuthState,
    timeout: HandlerTimeout,
}

impl V1 {
    pub fn new(recording: Recording, auth: AuthState, timeout: HandlerTimeout) -> Self {
        Self {
            routes: Router::new(),
            recording,
            auth,
            timeout,
        }
    }

    /// Adds the route at `path` (below `/v1`) with its methods.
    pub fn route(mut self, path: &str, methods: Methods) -> Self {
        let route = Router::new().route(path, methods.router);
        let route = self.middleware(route, methods.operations);
        self.routes = self.routes.merge(route);
        self
    }

    /// The router to nest at `/v1/`: the routes, and 404 for any other path below it.
    pub fn finish(self) -> Router<AppState> {
        let unknown = Router::new().fallback(platform::http::not_found);
        let unknown = self.middleware(unknown, Operations::NONE);
        self.routes.merge(unknown)
    }

    fn middleware(&self, router: Router<AppState>, operations: Operations) -> Router<AppState> {
        let authenticated = router
            .layer(from_fn_with_state(
                self.recording.clone(),
                recording::capture_body,
            ))
            .layer(from_fn_with_state(
                self.auth.clone(),
                platform::auth::authenticate,
            ));
        // Inside the recording, so that a timed-out or panicked call is recorded with its 408
        // or 500; the handlers mark their writes, which the timeout then never cancels.
        super::guarded(authenticated, self.timeout).layer(from_fn_with_state(
            self.recording.for_route(operations),
            recording::record,
        ))
    }
}

/// The methods of one route, each with its handler and the operation it records.
#[derive(Default)]
pub struct Methods {
    router: MethodRouter<AppState>,
    operations: Operations,
}

impl Methods {
    pub fn get<H: Handler<T, AppState>, T: 'static>(self, op: Operation, handler: H) -> Self {
        Self {
            router: self.router.get(handler),
            operations: self.operations.with(&Method::GET, op),
        }
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, op: Operation, handler: H) -> Self {
        Self {
            router: self.router.post(handler),
            operations: self.operations.with(&Method::POST, op),
        }
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, op: Operation, handler: H) -> Self {
        Self {
            router: self.router.patch(handler),
            operations: self.operations.with(&Method::PATCH, op),
        }
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, op: Operation, handler: H) -> Self {
        Self {
            router: self.router.delete(handler),
            operations: self.operations.with(&Method::DELETE, op),
        }
    }
}

/// The handler timeout of `/v1/` calls: the handlers mark their writes.
pub fn handler_timeout(after: std::time::Duration) -> HandlerTimeout {
    HandlerTimeout {
        after,
        writes: Writes::Marked,
    }
}
