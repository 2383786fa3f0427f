//! [`OrderStore`] in SQL.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::one_statement;
use super::outbox::insert_events;
use super::statement::Statement;
use super::{micros, Dialect, SqlStore};
use crate::domain::Order;
use crate::store::{
    Committed, IdempotencyKey, ListQuery, OrderStore, OutboxEvent, StoreError, StoredResponse,
};

#[async_trait]
impl<D: Dialect> OrderStore for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Decode<'q, D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(doc.map(|d| serde_json::from_str(&d)).transpose()?)
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Order>, StoreError> {
        let mut st = Statement::<D::Db>::new("SELECT doc FROM orders WHERE 1 = 1");
        if let Some(customer) = &q.customer_id {
            st.push(" AND customer_id = ").bind(customer.clone());
        }
        if let Some(status) = q.status {
            st.push(" AND status = ").bind(status.as_str());
        }
        if let Some(t) = q.created_after {
            st.push(" AND created_at > ").bind(micros(t));
        }
        if let Some(t) = q.created_before {
            st.push(" AND created_at < ").bind(micros(t));
        }
        if let Some((t, id)) = q.after {
            st.push(" AND (created_at, id) < (").bind(micros(t));
            st.push(", ").bind(id).push(")");
        }
        st.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .bind(i64::from(q.limit));
        let (sql, args) = st.into_parts()?;
        let docs: Vec<String> = sqlx::query_scalar_with(&sql, args)
            .fetch_all(&self.pool)
            .await?;
        docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
    }

    async fn create(
        &self,
        order: &Order,
        idempotency: Option<(&IdempotencyKey, &StoredResponse)>,
        event: &OutboxEvent,
    ) -> Result<Committed, StoreError> {
        if D::ONE_STATEMENT_WRITES {
            one_statement::create::<D>(&self.pool, order, idempotency, event).await?;
            return Ok(Committed::new());
        }
        let mut tx = self.pool.begin_with(D::BEGIN).await?;
        sqlx::query(
            "INSERT INTO orders (id, customer_id, status, version, created_at, doc) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(order.id)
        .bind(order.customer_id.as_str())
        .bind(order.status.as_str())
        .bind(order.version)
        .bind(micros(order.created_at))
        .bind(serde_json::to_string(order)?)
        .execute(&mut *tx)
        .await?;
        if let Some((key, response)) = idempotency {
            sqlx::query(
                "UPDATE idempotency_keys SET response = $1 WHERE caller = $2 AND idem_key = $3",
            )
            .bind(serde_json::to_string(response)?)
            .bind(key.caller.as_str())
            .bind(key.key.as_str())
            .execute(&mut *tx)
            .await?;
        }
        insert_events(&mut *tx, std::slice::from_ref(event)).await?;
        tx.commit().await?;
        Ok(Committed::new())
    }

    async fn update(
        &self,
        order: &Order,
        expected: i64,
        event: &OutboxEvent,
    ) -> Result<Option<Committed>, StoreError> {
        if D::ONE_STATEMENT_WRITES {
            let (status, version, id) = (order.status.as_str(), order.version, order.id);
            let doc = serde_json::to_string(order)?;
            let change = move |st: &mut Statement<'_, D::Db>| {
                st.push("UPDATE orders SET status = ").bind(status);
                st.push(", version = ").bind(version);
                st.push(", doc = ").bind(doc);
                st.push(" WHERE id = ").bind(id);
                st.push(" AND version = ")
                    .bind(expected)
                    .push(" RETURNING 1");
            };
            let changed = one_statement::compare_and_set::<D>(&self.pool, change, event).await?;
            return Ok(changed.then(Committed::new));
        }
        let mut tx = self.pool.begin_with(D::BEGIN).await?;
        let done = sqlx::query(
            "UPDATE orders SET status = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5",
        )
        .bind(order.status.as_str())
        .bind(order.version)
        .bind(serde_json::to_string(order)?)
        .bind(order.id)
        .bind(expected)
        .execute(&mut *tx)
        .await?;
        finish_write::<D>(tx, &done, event).await
    }

    async fn delete(
        &self,
        id: Uuid,
        expected: i64,
        event: &OutboxEvent,
    ) -> Result<Option<Committed>, StoreError> {
        if D::ONE_STATEMENT_WRITES {
            let change = move |st: &mut Statement<'_, D::Db>| {
                st.push("DELETE FROM orders WHERE id = ").bind(id);
                st.push(" AND version = ")
                    .bind(expected)
                    .push(" RETURNING 1");
            };
            let changed = one_statement::compare_and_set::<D>(&self.pool, change, event).await?;
            return Ok(changed.then(Committed::new));
        }
        let mut tx = self.pool.begin_with(D::BEGIN).await?;
        let done = sqlx::query("DELETE FROM orders WHERE id = $1 AND version = $2")
            .bind(id)
            .bind(expected)
            .execute(&mut *tx)
            .await?;
        finish_write::<D>(tx, &done, event).await
    }
}

/// The shared end of a compare-and-set write (update, delete): nothing more when the version
/// moved on (the transaction rolls back as it is dropped); else the event, and commit.
async fn finish_write<D: Dialect>(
    mut tx: sqlx::Transaction<'static, D::Db>,
    done: &<D::Db as Database>::QueryResult,
    event: &OutboxEvent,
) -> Result<Option<Committed>, StoreError>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
{
    if D::rows_affected(done) == 0 {
        return Ok(None);
    }
    insert_events(&mut *tx, std::slice::from_ref(event)).await?;
    tx.commit().await?;
    Ok(Some(Committed::new()))
}
