use std::collections::BTreeSet;

use serde_json::Value;

/// The authenticated caller: `sub` and the union of every scope claim shape in use
/// (`scope`, `scp`, `roles`, `realm_access.roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub scopes: BTreeSet<String>,
}

impl Principal {
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    pub fn from_claims(claims: &Value) -> Option<Self> {
        let sub = claims
            .get("sub")?
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control))?;
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
}
