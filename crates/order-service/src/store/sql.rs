//! The statements PostgreSQL and SQLite share. Both speak `$N` placeholders, so one body of
//! code serves both pools; each backend adds only what differs (connecting, claiming a batch
//! of the outbox).

use chrono::{DateTime, Utc};

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Implements [`super::OrderStore`] for a store with a `pool: sqlx::Pool<$db>` field, an
/// inherent `deliver_batch` method, and `BEGIN` statement `$begin` for write transactions.
macro_rules! impl_order_store {
    ($store:ty, $db:ty, $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::OrderStore for $store {
            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn get(&self, id: uuid::Uuid) -> Result<Option<$crate::domain::Order>, $crate::store::StoreError> {
                let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM orders WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(doc.map(|d| serde_json::from_str(&d)).transpose()?)
            }

            async fn list(&self, q: &$crate::store::ListQuery) -> Result<Vec<$crate::domain::Order>, $crate::store::StoreError> {
                use $crate::store::sql::micros;
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT doc FROM orders WHERE 1 = 1");
                if let Some(customer) = &q.customer_id {
                    qb.push(" AND customer_id = ").push_bind(customer.clone());
                }
                if let Some(status) = q.status {
                    qb.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(t) = q.created_after {
                    qb.push(" AND created_at > ").push_bind(micros(t));
                }
                if let Some(t) = q.created_before {
                    qb.push(" AND created_at < ").push_bind(micros(t));
                }
                if let Some((t, id)) = q.after {
                    qb.push(" AND (created_at, id) < (").push_bind(micros(t)).push(", ").push_bind(id).push(")");
                }
                qb.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(q.limit));
                let docs: Vec<String> = qb.build_query_scalar().fetch_all(&self.pool).await?;
                docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
            }

            async fn create(
                &self,
                order: &$crate::domain::Order,
                idempotency: Option<(&$crate::store::IdempotencyKey, &$crate::store::StoredResponse)>,
                event: Option<&$crate::store::OutboxEvent>,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "INSERT INTO orders (id, customer_id, status, version, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(order.id)
                .bind(&order.customer_id)
                .bind(order.status.as_str())
                .bind(order.version)
                .bind($crate::store::sql::micros(order.created_at))
                .bind(serde_json::to_string(order)?)
                .execute(&mut *tx)
                .await?;
                if let Some((key, response)) = idempotency {
                    sqlx::query("UPDATE idempotency_keys SET response = $1 WHERE caller = $2 AND idem_key = $3")
                        .bind(serde_json::to_string(response)?)
                        .bind(&key.caller)
                        .bind(&key.key)
                        .execute(&mut *tx)
                        .await?;
                }
                insert_event(&mut tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update(
                &self,
                order: &$crate::domain::Order,
                expected: i64,
                event: Option<&$crate::store::OutboxEvent>,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let done = sqlx::query("UPDATE orders SET status = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5")
                    .bind(order.status.as_str())
                    .bind(order.version)
                    .bind(serde_json::to_string(order)?)
                    .bind(order.id)
                    .bind(expected)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if done == 0 {
                    return Ok(false);
                }
                insert_event(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn delete(&self, id: uuid::Uuid, expected: i64, event: Option<&$crate::store::OutboxEvent>) -> Result<bool, $crate::store::StoreError> {
                let mut tx = self.pool.begin_with($begin).await?;
                let done = sqlx::query("DELETE FROM orders WHERE id = $1 AND version = $2")
                    .bind(id)
                    .bind(expected)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if done == 0 {
                    return Ok(false);
                }
                insert_event(&mut tx, event).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn claim_idempotency_key(
                &self,
                key: &$crate::store::IdempotencyKey,
                request_hash: &str,
            ) -> Result<$crate::store::Claim, $crate::store::StoreError> {
                use $crate::store::{sql::micros, Claim, IDEMPOTENCY_IN_FLIGHT_TTL, IDEMPOTENCY_TTL};
                for _ in 0..3 {
                    let now = chrono::Utc::now();
                    let inserted = sqlx::query(
                        "INSERT INTO idempotency_keys (caller, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (caller, idem_key) DO NOTHING",
                    )
                    .bind(&key.caller)
                    .bind(&key.key)
                    .bind(request_hash)
                    .bind(micros(now))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        return Ok(Claim::Claimed);
                    }
                    let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
                        "SELECT request_hash, response, created_at FROM idempotency_keys WHERE caller = $1 AND idem_key = $2",
                    )
                    .bind(&key.caller)
                    .bind(&key.key)
                    .fetch_optional(&self.pool)
                    .await?;
                    let Some((hash, response, created_at)) = row else { continue };
                    let expired = created_at < micros(now - IDEMPOTENCY_TTL);
                    let abandoned = response.is_none() && created_at < micros(now - IDEMPOTENCY_IN_FLIGHT_TTL);
                    if expired || abandoned {
                        let taken = sqlx::query(
                            "UPDATE idempotency_keys SET request_hash = $1, response = NULL, created_at = $2 \
                             WHERE caller = $3 AND idem_key = $4 AND created_at = $5",
                        )
                        .bind(request_hash)
                        .bind(micros(now))
                        .bind(&key.caller)
                        .bind(&key.key)
                        .bind(created_at)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                        if taken == 1 {
                            return Ok(Claim::Claimed);
                        }
                        continue;
                    }
                    if hash != request_hash {
                        return Ok(Claim::Mismatch);
                    }
                    return Ok(match response {
                        None => Claim::InFlight,
                        Some(text) => Claim::Completed(serde_json::from_str(&text)?),
                    });
                }
                Ok(Claim::InFlight)
            }

            async fn release_idempotency_key(&self, key: &$crate::store::IdempotencyKey) -> Result<(), $crate::store::StoreError> {
                sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND idem_key = $2 AND response IS NULL")
                    .bind(&key.caller)
                    .bind(&key.key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn purge_idempotency_keys(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64, $crate::store::StoreError> {
                Ok(sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                    .bind($crate::store::sql::micros(before))
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }

            /// An event already in the outbox (`event_id` is unique) is not written again, and
            /// does not fail the other events of its batch.
            async fn append_outbox(&self, events: &[$crate::store::OutboxEvent]) -> Result<(), $crate::store::StoreError> {
                if events.is_empty() {
                    return Ok(());
                }
                let now = $crate::store::sql::micros(chrono::Utc::now());
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO outbox (event_id, payload, created_at, traceparent) ");
                qb.push_values(events, |mut row, e| {
                    row.push_bind(e.event_id).push_bind(e.payload.clone()).push_bind(now).push_bind(e.traceparent.clone());
                });
                qb.push(" ON CONFLICT (event_id) DO NOTHING");
                qb.build().execute(&self.pool).await?;
                Ok(())
            }

            async fn deliver_outbox(&self, limit: u32, deliver: &dyn $crate::store::Deliver) -> Result<usize, $crate::store::StoreError> {
                self.deliver_batch(limit, deliver).await
            }

            async fn outbox_backlog(&self) -> Result<(i64, Option<chrono::DateTime<chrono::Utc>>), $crate::store::StoreError> {
                let (count, oldest): (i64, Option<i64>) =
                    sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox").fetch_one(&self.pool).await?;
                Ok((count, oldest.map($crate::store::sql::from_micros)))
            }

            fn pool_usage(&self) -> (u32, usize) {
                (self.pool.size(), self.pool.num_idle())
            }
        }

        async fn insert_event(
            tx: &mut sqlx::Transaction<'_, $db>,
            event: Option<&$crate::store::OutboxEvent>,
        ) -> Result<(), $crate::store::StoreError> {
            let Some(event) = event else { return Ok(()) };
            sqlx::query(
                "INSERT INTO outbox (event_id, payload, created_at, traceparent) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
                .bind(event.event_id)
                .bind(&event.payload)
                .bind($crate::store::sql::micros(chrono::Utc::now()))
                .bind(&event.traceparent)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    };
}

pub(super) use impl_order_store;
