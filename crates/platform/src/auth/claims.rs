use std::collections::BTreeSet;

use serde_json::Value;

/// The authenticated caller: `sub` and the union of every scope claim shape in use
/// (`scope`, `scp`, `roles`, `realm_access.roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub scopes: BTreeSet<String>,
    /// A readable name, for records and display only (never for access decisions, which use
    /// `sub`): the token's `preferred_username`, when it has one (Keycloak's `sub` is a UUID).
    /// Not `client_id`: RFC 9068 puts it into users' tokens too.
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
        let name = identifier(claims, "preferred_username").map(str::to_owned);
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
    fn the_readable_name_is_preferred_username_else_sub() {
        let name = |claims: Value| {
            let p = Principal::from_claims(&claims).unwrap();
            p.readable_name().to_owned()
        };
        let sub = "0b1c5c1e-6f4f-4a4e-9d0e-6a8d1f2f3a4b";
        let user = json!({"sub": sub, "preferred_username": "auditor", "azp": "console"});
        assert_eq!(name(user), "auditor");
        // RFC 9068: every access token names its client, a user's too.
        let rfc9068 = json!({"sub": "auditor", "client_id": "ordersys-console"});
        assert_eq!(name(rfc9068), "auditor");
        assert_eq!(name(json!({"sub": "order-service"})), "order-service");
        assert_eq!(name(json!({"sub": sub, "preferred_username": ""})), sub);
        assert_eq!(name(json!({"sub": sub, "preferred_username": "a\nb"})), sub);
    }
}
