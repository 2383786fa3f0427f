//! Writes in one statement (PostgreSQL): the order change and its outbox event as one
//! data-modifying `WITH`, sent in one round trip and atomic on its own, instead of `BEGIN`,
//! two statements and `COMMIT` (four round trips, four wake-ups of the service and of the
//! database). The event is inserted from the change's `RETURNING`, so it is stored exactly when
//! the change is; a compare-and-set write counts the rows it changed.

use chrono::Utc;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use uuid::Uuid;

use super::outbox::{bind_event, INSERT_EVENTS};
use super::statement::Statement;
use super::{micros, Dialect};
use crate::domain::Order;
use crate::store::{IdempotencyKey, OutboxEvent, StoreError, StoredResponse};

/// The order inserted, the idempotency key's response remembered, the event recorded.
pub(super) async fn create<D: Dialect>(
    pool: &Pool<D::Db>,
    order: &Order,
    idempotency: Option<(&IdempotencyKey, &StoredResponse)>,
    event: &OutboxEvent,
) -> Result<(), StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    let mut st = Statement::<D::Db>::new(
        "WITH changed AS (INSERT INTO orders \
         (id, customer_id, status, version, created_at, doc) VALUES (",
    );
    st.bind(order.id);
    st.push(", ").bind(order.customer_id.as_str());
    st.push(", ").bind(order.status.as_str());
    st.push(", ").bind(order.version);
    st.push(", ").bind(micros(order.created_at));
    st.push(", ").bind(serde_json::to_string(order)?);
    st.push(") RETURNING 1)");
    if let Some((key, response)) = idempotency {
        st.push(", remembered AS (UPDATE idempotency_keys SET response = ")
            .bind(serde_json::to_string(response)?);
        st.push(" WHERE caller = ").bind(key.caller.as_str());
        st.push(" AND idem_key = ").bind(key.key.as_str()).push(")");
    }
    st.push(" ");
    record(&mut st, event);
    let (sql, args) = st.into_parts()?;
    sqlx::query_with(&sql, args).execute(pool).await?;
    Ok(())
}

/// `WITH changed AS (` the change `change` writes (an `UPDATE` or `DELETE` ending in
/// `RETURNING 1`, binding only owned values), then the event when it changed a row; whether it
/// did.
pub(super) async fn compare_and_set<D: Dialect>(
    pool: &Pool<D::Db>,
    change: impl for<'s> FnOnce(&mut Statement<'s, D::Db>),
    event: &OutboxEvent,
) -> Result<bool, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'a> <D::Db as Database>::Arguments<'a>: IntoArguments<'a, D::Db>,
    for<'a> &'a str: Encode<'a, D::Db> + Type<D::Db>,
    for<'a> Option<String>: Encode<'a, D::Db> + Type<D::Db>,
    for<'a> i64: Encode<'a, D::Db> + Decode<'a, D::Db> + Type<D::Db>,
    for<'a> Uuid: Encode<'a, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    let mut st = Statement::<D::Db>::new("WITH changed AS (");
    change(&mut st);
    st.push("), recorded AS (");
    record(&mut st, event);
    st.push(") SELECT COUNT(*) FROM changed");
    let (sql, args) = st.into_parts()?;
    let row = sqlx::query_with(&sql, args).fetch_one(pool).await?;
    let changed: i64 = row.try_get(0)?;
    Ok(changed > 0)
}

/// Inserts `event` once per row of `changed`.
fn record<'q, Db: Database>(st: &mut Statement<'q, Db>, event: &'q OutboxEvent)
where
    for<'a> &'a str: Encode<'a, Db> + Type<Db>,
    for<'a> Option<String>: Encode<'a, Db> + Type<Db>,
    for<'a> i64: Encode<'a, Db> + Type<Db>,
    for<'a> Uuid: Encode<'a, Db> + Type<Db>,
{
    st.push(INSERT_EVENTS).push(" SELECT ");
    bind_event(st, event, micros(Utc::now()));
    st.push(" FROM changed ON CONFLICT (event_id) DO NOTHING");
}
