//! [`OrderStore`] in SQL.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::statement::Statement;
use super::writes;
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
        writes::create::<D>(&self.pool, order, idempotency, event).await?;
        Ok(Committed::new())
    }

    async fn update(
        &self,
        order: &Order,
        expected: i64,
        event: &OutboxEvent,
    ) -> Result<Option<Committed>, StoreError> {
        let (status, version, id) = (order.status.as_str(), order.version, order.id);
        let doc = serde_json::to_string(order)?;
        let change = move |st: &mut Statement<'_, D::Db>| {
            st.push("UPDATE orders SET status = ").bind(status);
            st.push(", version = ").bind(version);
            st.push(", doc = ").bind(doc);
            st.push(" WHERE id = ").bind(id);
            st.push(" AND version = ").bind(expected);
        };
        let changed = writes::compare_and_set::<D>(&self.pool, change, event).await?;
        Ok(changed.then(Committed::new))
    }

    async fn delete(
        &self,
        id: Uuid,
        expected: i64,
        event: &OutboxEvent,
    ) -> Result<Option<Committed>, StoreError> {
        let change = move |st: &mut Statement<'_, D::Db>| {
            st.push("DELETE FROM orders WHERE id = ").bind(id);
            st.push(" AND version = ").bind(expected);
        };
        let changed = writes::compare_and_set::<D>(&self.pool, change, event).await?;
        Ok(changed.then(Committed::new))
    }
}
