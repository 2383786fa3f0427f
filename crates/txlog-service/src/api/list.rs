//! `GET /v1/transactions`: filtered, paged by an opaque cursor (base64url of the last `seq`).

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use platform::problem::ProblemDoc;
use serde::Deserialize;
use txlog_api::{Outcome, RecordPage};
use utoipa::IntoParams;

use super::caller::{Caller, SCOPE_READ};
use super::{ApiError, AppState};
use crate::chain::StoredRecord;
use crate::store::{ListQuery, SortOrder, StoreError};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// Query parameters; any other parameter is refused with 400.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only records of this order.
    order_id: Option<String>,
    /// Only records whose `actor.sub` is this.
    actor: Option<String>,
    /// Only records of this operation, e.g. `order.create`.
    operation: Option<String>,
    /// `success`, `denied`, `client_error` or `server_error`.
    outcome: Option<String>,
    /// RFC 3339; records with `recorded_at` at or after this instant.
    from: Option<String>,
    /// RFC 3339; records with `recorded_at` before this instant.
    to: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    order: Option<String>,
    /// 1 to 500, default 50.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Records, newest first unless `order=asc`.
#[utoipa::path(
    get, path = "/v1/transactions", tag = "transactions",
    params(ListParams),
    security(("bearer" = ["txlog:read"])),
    responses(
        (status = 200, description = "A page of records", body = RecordPage),
        (status = 400, description = "A bad or unknown parameter", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks txlog:read", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    caller.require(SCOPE_READ)?;
    let params: ListParams = platform::http::parse_query(&uri)?;
    let mut query = params.into_query()?;
    let limit = query.limit;
    query.limit = limit + 1;
    let mut records = state.store.list(&query).await?;
    let next_cursor = (records.len() > limit as usize).then(|| {
        records.truncate(limit as usize);
        records.last().map(|r| encode_cursor(r.index.seq))
    });
    // A record reaches a filtered list only when its own hashed text matches the filter, so a
    // stored filter field edited in the database cannot pull a record into a filter.
    records.retain(|record| {
        let matches = text_matches(&query, record);
        if !matches {
            tracing::error!(
                seq = record.index.seq,
                "a record's stored filter fields differ from its hashed text (changed in the \
                 database); it is left out of a filtered list"
            );
        }
        matches
    });
    // Each record as stored (its canonical text and hash), never parsed and written again.
    let mut page = String::with_capacity(records.iter().map(|r| r.canonical.len() + 90).sum());
    page.push_str("{\"items\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            page.push(',');
        }
        page.push_str(&record.text().map_err(StoreError::from)?);
    }
    page.push_str("],\"next_cursor\":");
    match next_cursor.flatten() {
        // A cursor is base64url: nothing in it needs escaping.
        Some(cursor) => {
            page.push('"');
            page.push_str(&cursor);
            page.push('"');
        }
        None => page.push_str("null"),
    }
    page.push('}');
    Ok(super::json_text(page))
}

/// Whether the hashed text of `record` satisfies `query`'s filters and time bounds (parsed
/// only when the query has any).
pub(crate) fn text_matches(query: &ListQuery, record: &StoredRecord) -> bool {
    let filtered = query.order_id.is_some()
        || query.actor.is_some()
        || query.operation.is_some()
        || query.outcome.is_some()
        || query.from.is_some()
        || query.to.is_some();
    if !filtered {
        return true;
    }
    let Some(own) = crate::chain::index_of(&record.canonical) else {
        return false;
    };
    let same = |wanted: &Option<String>, own: Option<&String>| {
        wanted.as_ref().is_none_or(|w| own == Some(w))
    };
    own.seq == record.index.seq
        && same(&query.order_id, own.order_id.as_ref())
        && same(&query.actor, own.actor.as_ref())
        && same(&query.operation, Some(&own.operation))
        && same(&query.outcome, Some(&own.outcome))
        && query.from.is_none_or(|from| own.recorded_at >= from)
        && query.to.is_none_or(|to| own.recorded_at < to)
}

fn bad(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadParameter {
        field,
        message: message.into(),
    }
}

impl ListParams {
    fn into_query(self) -> Result<ListQuery, ApiError> {
        let outcomes = [
            Outcome::Success,
            Outcome::Denied,
            Outcome::ClientError,
            Outcome::ServerError,
        ];
        if let Some(outcome) = &self.outcome {
            if !outcomes.iter().any(|o| o.as_str() == outcome) {
                return Err(bad(
                    "outcome",
                    "must be success, denied, client_error or server_error",
                ));
            }
        }
        let order = match self.order.as_deref() {
            None | Some("desc") => SortOrder::Desc,
            Some("asc") => SortOrder::Asc,
            Some(_) => return Err(bad("order", "must be asc or desc")),
        };
        let limit = parse_limit(self.limit.as_deref())?;
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(ListQuery {
            from: self
                .from
                .as_deref()
                .map(|t| instant("from", t))
                .transpose()?,
            to: self.to.as_deref().map(|t| instant("to", t)).transpose()?,
            order_id: self.order_id,
            actor: self.actor,
            operation: self.operation,
            outcome: self.outcome,
            order,
            after,
            limit,
        })
    }
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub(super) fn parse_limit(limit: Option<&str>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(bad(
                "limit",
                format!("must be an integer from 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

/// An RFC 3339 instant, rounded up to the millisecond (the precision of `recorded_at`), so
/// that `from` stays inclusive and `to` exclusive.
fn instant(field: &'static str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    let t = DateTime::parse_from_rfc3339(text)
        .map_err(|_| {
            bad(
                field,
                "must be an RFC 3339 date-time like 2026-11-25T10:00:00Z",
            )
        })?
        .with_timezone(&Utc);
    let floor = crate::chain::to_millis(t);
    Ok(if floor < t {
        floor + chrono::Duration::milliseconds(1)
    } else {
        floor
    })
}

pub fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(seq.to_string())
}

pub(super) fn decode_cursor(cursor: &str) -> Result<u64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse::<u64>().ok())
        // The stores keep `seq` as a signed 64-bit integer: a bigger number was never issued.
        .filter(|&seq| i64::try_from(seq).is_ok())
        .ok_or_else(|| bad("cursor", "is not a cursor this service issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_tampering_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(matches!(
            decode_cursor("!!"),
            Err(ApiError::BadParameter {
                field: "cursor",
                ..
            })
        ));
        assert!(matches!(
            decode_cursor(&URL_SAFE_NO_PAD.encode("-1")),
            Err(ApiError::BadParameter { .. })
        ));
        for too_big in [
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
        ] {
            assert!(matches!(
                decode_cursor(&URL_SAFE_NO_PAD.encode(too_big)),
                Err(ApiError::BadParameter {
                    field: "cursor",
                    ..
                })
            ));
        }
        let largest = u64::try_from(i64::MAX).unwrap();
        assert_eq!(decode_cursor(&encode_cursor(largest)).unwrap(), largest);
    }

    #[test]
    fn instants_round_up_to_the_millisecond() {
        let t = instant("from", "2026-11-25T10:00:00.1231+00:00").unwrap();
        assert_eq!(crate::chain::format_time(t), "2026-11-25T10:00:00.124Z");
        assert!(matches!(
            instant("to", "yesterday"),
            Err(ApiError::BadParameter { field: "to", .. })
        ));
    }

    #[test]
    fn parameters_are_checked() {
        let params = |order: &str, limit: &str| ListParams {
            order: Some(order.into()),
            limit: Some(limit.into()),
            ..ListParams::default()
        };
        assert_eq!(
            params("asc", "500").into_query().unwrap().order,
            SortOrder::Asc
        );
        assert!(params("up", "5").into_query().is_err());
        assert!(params("asc", "0").into_query().is_err());
        assert!(params("asc", "501").into_query().is_err());
    }
}
