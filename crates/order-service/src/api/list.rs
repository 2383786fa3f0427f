//! `GET /v1/orders` parameters and the opaque cursor.

use axum::http::Uri;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use platform::auth::Principal;
use platform::Problem;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{Order, Status};
use crate::store::ListQuery;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// `GET /v1/orders` query parameters; any unknown or repeated one is a 400.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    customer_id: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Parses the query string; any unknown, repeated or invalid parameter is a 400. A caller
/// without `orders:admin` only ever sees its own orders.
pub fn parse(query: Option<&str>, caller: &Principal, admin: bool) -> Result<ListQuery, Problem> {
    // The query of a request's URI, so it is one again (the fuzz target's text may not be).
    let uri = Uri::try_from(format!("/?{}", query.unwrap_or_default()))
        .map_err(|_| bad("the query string is not valid".into()))?;
    let params: ListParams = platform::http::parse_query(&uri)?;
    let status = params.status.as_deref().map(|value| {
        Status::parse(value).ok_or_else(|| {
            bad("status must be one of pending, confirmed, shipped, delivered, cancelled".into())
        })
    });
    let limit = params.limit.as_deref().map(|value| {
        value
            .parse()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| bad(format!("limit must be an integer from 1 to {MAX_LIMIT}")))
    });
    let after = params
        .cursor
        .as_deref()
        .map(|value| decode_cursor(value).ok_or_else(|| bad("cursor is not valid".into())));
    let mut query = ListQuery {
        customer_id: params.customer_id.map(customer_id).transpose()?,
        status: status.transpose()?,
        created_after: params
            .created_after
            .map(|t| timestamp("created_after", &t))
            .transpose()?,
        created_before: params
            .created_before
            .map(|t| timestamp("created_before", &t))
            .transpose()?,
        after: after.transpose()?,
        limit: limit.transpose()?.unwrap_or(DEFAULT_LIMIT),
    };
    query.customer_id = match (admin, query.customer_id.take()) {
        (true, customer) => customer,
        (false, Some(c)) if c != caller.sub => {
            return Err(Problem::forbidden(
                "listing another customer's orders needs orders:admin",
            ))
        }
        (false, _) => Some(caller.sub.clone()),
    };
    Ok(query)
}

/// Databases refuse NUL in text: such an id cannot exist, and must not be a 500.
fn customer_id(value: String) -> Result<String, Problem> {
    if value.is_empty() || value.chars().count() > 255 || value.chars().any(char::is_control) {
        return Err(bad(
            "customer_id must be 1 to 255 characters without control characters".into(),
        ));
    }
    Ok(value)
}

fn bad(detail: String) -> Problem {
    Problem::malformed(detail)
}

fn timestamp(name: &str, value: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad(format!(
                "{name} must be an RFC 3339 timestamp like 2026-11-25T10:00:00Z"
            ))
        })
}

/// The cursor after `order`: its position in the newest-first order.
pub fn encode_cursor(order: &Order) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        order.created_at.timestamp_micros(),
        order.id
    ))
}

/// The position a cursor names, or `None` for anything [`encode_cursor`] did not make.
pub fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (micros, id) = text.split_once(':')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        Uuid::parse_str(id).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal {
            sub: "alice".into(),
            scopes: Default::default(),
            name: None,
        }
    }

    #[test]
    fn parameters_are_checked() {
        let q = parse(
            Some("status=pending&limit=10&created_after=2026-01-01T00:00:00Z"),
            &alice(),
            false,
        )
        .unwrap();
        assert_eq!(
            (q.status, q.limit, q.customer_id.as_deref()),
            (Some(Status::Pending), 10, Some("alice"))
        );
        for bad in [
            "limit=0",
            "limit=201",
            "limit=x",
            "status=lost",
            "created_before=yesterday",
            "cursor=zz",
            "foo=1",
            "limit=1&limit=2",
            "customer_id=a%00b",
            "customer_id=",
        ] {
            assert_eq!(
                parse(Some(bad), &alice(), false)
                    .unwrap_err()
                    .status
                    .as_u16(),
                400,
                "{bad}"
            );
        }
        assert_eq!(
            parse(Some("customer_id=bob"), &alice(), false)
                .unwrap_err()
                .status
                .as_u16(),
            403
        );
        assert_eq!(
            parse(Some("customer_id=bob"), &alice(), true)
                .unwrap()
                .customer_id
                .as_deref(),
            Some("bob")
        );
        assert_eq!(parse(None, &alice(), true).unwrap().customer_id, None);
    }
}
