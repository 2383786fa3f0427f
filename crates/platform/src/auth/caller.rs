//! The authenticated caller, as handlers take it: an extractor that answers 401 when the
//! request carries no verified [`Principal`], and the scopes it may hold as a type.

use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::Principal;
use crate::Problem;

/// A service's state names the realm of its `WWW-Authenticate` challenges.
pub trait Realm {
    fn realm(&self) -> &str;
}

/// A scope a handler requires, e.g. `orders:write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope(&'static str);

impl Scope {
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

/// The caller the authentication middleware verified ([`super::authenticate`]); 401 (never a
/// 500) when there is none.
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Principal,
    realm: String,
}

impl<S: Realm + Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let realm = state.realm();
        match parts.extensions.get::<Principal>() {
            Some(principal) => Ok(Self {
                principal: principal.clone(),
                realm: realm.to_owned(),
            }),
            None => Err(Problem::unauthorized(
                realm,
                None,
                "a bearer token is required",
            )),
        }
    }
}

impl Caller {
    /// 403 `insufficient_scope` unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.holds(scope) {
            Ok(())
        } else {
            Err(Problem::insufficient_scope(&self.realm, scope.as_str()))
        }
    }

    pub fn holds(&self, scope: Scope) -> bool {
        self.principal.has(scope.as_str())
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

impl Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Service;

    impl Realm for Service {
        fn realm(&self) -> &str {
            "svc"
        }
    }

    async fn caller(principal: Option<Principal>) -> Result<Caller, Problem> {
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        if let Some(principal) = principal {
            parts.extensions.insert(principal);
        }
        Caller::from_request_parts(&mut parts, &Service).await
    }

    #[tokio::test]
    async fn no_principal_is_401_and_a_missing_scope_403() {
        let refused = caller(None).await.unwrap_err();
        assert_eq!(refused.status.as_u16(), 401);
        assert_eq!(
            refused.www_authenticate.as_deref(),
            Some("Bearer realm=\"svc\"")
        );
        let alice = Principal {
            sub: "alice".into(),
            scopes: ["orders:read".to_owned()].into(),
            name: None,
        };
        let alice = caller(Some(alice)).await.unwrap();
        assert_eq!(alice.sub, "alice");
        assert!(alice.require(Scope::new("orders:read")).is_ok());
        let forbidden = alice.require(Scope::new("orders:write")).unwrap_err();
        assert_eq!(forbidden.status.as_u16(), 403);
    }
}
