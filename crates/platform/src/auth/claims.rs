use std::collections::BTreeSet;

use serde_json::Value;

/// The authenticated caller: `sub` and the union of every scope claim shape in use
/// (`scope`, `scp`, `roles`, `realm_access.roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub scopes: BTreeSet<String>,
    /// A readable name, for records and display only (never for access decisions, which use
    /// `sub`): `preferred_username` (a user's login name), else `client_id` (the client of a
    /// client-credentials token), when the token has one. Keycloak's `sub` is a UUID.
    pub name: Option<String>,
}

/// A claim usable as an identifier: a non-empty string of at most 255 characters, no controls.
fn identifier<'a>(claims: &'a Value, claim: &str) -> Option<&'a str> {
    claims
        .get(claim)?
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control))
}

impl Principal {
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// `name` when the token had one, else `sub`.
    pub fn readable_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.sub)
    }

    pub fn from_claims(claims: &Value) -> Option<Self> {
        let sub = identifier(claims, "sub")?;
        let name = identifier(claims, "preferred_username")
            .or_else(|| identifier(claims, "client_id"))
            .map(str::to_owned);
        let mut scopes = BTreeSet::new();
        let mut add_words = |v: &Value| {
            if let Some(s) = v.as_str() {
                scopes.extend(s.split_whitespace().map(str::to_owned));
            }
        };
        if let Some(scope) = claims.get("scope") {
            add_words(scope);
        }
        for value in [
            claims.get("scp"),
            claims.get("roles"),
            claims.pointer("/realm_access/roles"),
        ]
        .into_iter()
        .flatten()
        {
            match value {
                Value::Array(items) => items.iter().for_each(&mut add_words),
                other => add_words(other),
            }
        }
        Some(Self {
            sub: sub.to_owned(),
            scopes,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_are_the_union_of_all_shapes() {
        let claims = json!({
            "sub": "alice",
            "scope": "orders:read openid",
            "scp": ["orders:write"],
            "roles": ["orders:admin"],
            "realm_access": {"roles": ["txlog:read"]}
        });
        let p = Principal::from_claims(&claims).unwrap();
        assert_eq!(p.sub, "alice");
        for s in [
            "orders:read",
            "openid",
            "orders:write",
            "orders:admin",
            "txlog:read",
        ] {
            assert!(p.has(s), "{s}");
        }
        let okta = json!({"sub": "bob", "scp": "orders:read"});
        assert!(Principal::from_claims(&okta).unwrap().has("orders:read"));
        assert!(Principal::from_claims(&json!({"scope": "x"})).is_none());
    }

    #[test]
    fn the_readable_name_is_the_username_else_the_client_id_else_sub() {
        let name = |claims: Value| {
            let p = Principal::from_claims(&claims).unwrap();
            p.readable_name().to_owned()
        };
        let sub = "0b1c5c1e-6f4f-4a4e-9d0e-6a8d1f2f3a4b";
        let user = json!({"sub": sub, "preferred_username": "auditor", "azp": "console"});
        assert_eq!(name(user), "auditor");
        let service = json!({"sub": sub, "client_id": "order-service", "azp": "order-service"});
        assert_eq!(name(service), "order-service");
        assert_eq!(name(json!({"sub": "order-service"})), "order-service");
        let unusable = json!({"sub": sub, "preferred_username": "", "client_id": "a\nb"});
        assert_eq!(name(unusable), sub);
    }
}
