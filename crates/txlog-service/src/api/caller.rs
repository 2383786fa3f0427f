//! The scopes of the transaction log's API; the caller is `platform::auth::Caller`.

use platform::auth::{Realm, Scope};

use super::AppState;

pub use platform::auth::Caller;

pub const SCOPE_WRITE: Scope = Scope::new("txlog:write");
pub const SCOPE_READ: Scope = Scope::new("txlog:read");

impl Realm for AppState {
    fn realm(&self) -> &str {
        self.verifier.realm()
    }
}
