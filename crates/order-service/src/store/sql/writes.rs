//! A write to the orders and its outbox event, atomic, in the form the dialect does best. Each
//! change is written once, as statement pieces; [`Dialect::ONE_STATEMENT_WRITES`] decides how
//! they go to the database:
//! - PostgreSQL: one data-modifying `WITH`, one round trip and atomic on its own, instead of
//!   `BEGIN`, two statements and `COMMIT` (four round trips, four wake-ups of the service and
//!   of the database). The event is inserted from the change's `RETURNING 1`, so it is stored
//!   exactly when the change is.
//! - SQLite (no data-modifying `WITH`, and no network between the service and its file): the
//!   same pieces in one write transaction.

use chrono::Utc;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use uuid::Uuid;

use super::outbox::{bind_event, insert_events, INSERT_EVENTS};
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
    let (id, customer, status) = (order.id, order.customer_id.clone(), order.status.as_str());
    let (version, created_at) = (order.version, micros(order.created_at));
    let doc = serde_json::to_string(order)?;
    let insert = move |st: &mut Statement<'_, D::Db>| {
        st.push("INSERT INTO orders (id, customer_id, status, version, created_at, doc) VALUES (")
            .bind(id);
        st.push(", ").bind(customer);
        st.push(", ").bind(status);
        st.push(", ").bind(version);
        st.push(", ").bind(created_at);
        st.push(", ").bind(doc).push(")");
    };
    let remember = match idempotency {
        Some((key, response)) => {
            let response = serde_json::to_string(response)?;
            let (caller, idem_key) = (key.caller.clone(), key.key.clone());
            Some(move |st: &mut Statement<'_, D::Db>| {
                st.push("UPDATE idempotency_keys SET response = ")
                    .bind(response);
                st.push(" WHERE caller = ").bind(caller);
                st.push(" AND idem_key = ").bind(idem_key);
            })
        }
        None => None,
    };
    if D::ONE_STATEMENT_WRITES {
        let mut st = Statement::<D::Db>::new("WITH changed AS (");
        insert(&mut st);
        st.push(" RETURNING 1)");
        if let Some(remember) = remember {
            st.push(", remembered AS (");
            remember(&mut st);
            st.push(")");
        }
        st.push(" ");
        record(&mut st, event);
        let (sql, args) = st.into_parts()?;
        sqlx::query_with(&sql, args).execute(pool).await?;
        return Ok(());
    }
    let mut tx = pool.begin_with(D::BEGIN).await?;
    execute::<D>(&mut tx, insert).await?;
    if let Some(remember) = remember {
        execute::<D>(&mut tx, remember).await?;
    }
    insert_events(&mut *tx, std::slice::from_ref(event)).await?;
    tx.commit().await?;
    Ok(())
}

/// `change` (an `UPDATE` or `DELETE` guarded by the version the caller read, binding only owned
/// values) and, when it changed a row, the event; whether it did. When it did not, nothing is
/// written.
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
    if D::ONE_STATEMENT_WRITES {
        let mut st = Statement::<D::Db>::new("WITH changed AS (");
        change(&mut st);
        st.push(" RETURNING 1), recorded AS (");
        record(&mut st, event);
        st.push(") SELECT COUNT(*) FROM changed");
        let (sql, args) = st.into_parts()?;
        let row = sqlx::query_with(&sql, args).fetch_one(pool).await?;
        let changed: i64 = row.try_get(0)?;
        return Ok(changed > 0);
    }
    let mut tx = pool.begin_with(D::BEGIN).await?;
    if D::rows_affected(&execute::<D>(&mut tx, change).await?) == 0 {
        // The version moved on: the transaction rolls back as it is dropped.
        return Ok(false);
    }
    insert_events(&mut *tx, std::slice::from_ref(event)).await?;
    tx.commit().await?;
    Ok(true)
}

/// Runs the statement `piece` writes, in `tx`.
async fn execute<D: Dialect>(
    tx: &mut sqlx::Transaction<'static, D::Db>,
    piece: impl for<'s> FnOnce(&mut Statement<'s, D::Db>),
) -> Result<<D::Db as Database>::QueryResult, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'a> <D::Db as Database>::Arguments<'a>: IntoArguments<'a, D::Db>,
{
    let mut st = Statement::<D::Db>::new("");
    piece(&mut st);
    let (sql, args) = st.into_parts()?;
    Ok(sqlx::query_with(&sql, args).execute(&mut **tx).await?)
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
