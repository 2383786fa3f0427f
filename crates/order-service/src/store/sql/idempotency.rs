//! [`IdempotencyStore`] in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::{micros, Dialect, SqlStore};
use crate::store::{
    Claim, IdempotencyKey, IdempotencyStore, StoreError, IDEMPOTENCY_IN_FLIGHT_TTL, IDEMPOTENCY_TTL,
};

#[async_trait]
impl<D: Dialect> IdempotencyStore for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Decode<'q, D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    async fn claim(&self, key: &IdempotencyKey, request_hash: &str) -> Result<Claim, StoreError> {
        for _ in 0..3 {
            let now = Utc::now();
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (caller, idem_key, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (caller, idem_key) DO NOTHING",
            )
            .bind(key.caller.as_str())
            .bind(key.key.as_str())
            .bind(request_hash)
            .bind(micros(now))
            .execute(&self.pool)
            .await?;
            if D::rows_affected(&inserted) == 1 {
                return Ok(Claim::Claimed);
            }
            let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
                "SELECT request_hash, response, created_at FROM idempotency_keys \
                 WHERE caller = $1 AND idem_key = $2",
            )
            .bind(key.caller.as_str())
            .bind(key.key.as_str())
            .fetch_optional(&self.pool)
            .await?;
            let Some((hash, response, created_at)) = row else {
                continue;
            };
            if let Some(claim) = existing_claim(&hash, response, created_at, request_hash, now)? {
                return Ok(claim);
            }
            // Expired or abandoned: take it over, unless another request just did.
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET request_hash = $1, response = NULL, created_at = $2 \
                 WHERE caller = $3 AND idem_key = $4 AND created_at = $5",
            )
            .bind(request_hash)
            .bind(micros(now))
            .bind(key.caller.as_str())
            .bind(key.key.as_str())
            .bind(created_at)
            .execute(&self.pool)
            .await?;
            if D::rows_affected(&taken) == 1 {
                return Ok(Claim::Claimed);
            }
        }
        Ok(Claim::InFlight)
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE caller = $1 AND idem_key = $2 AND response IS NULL",
        )
        .bind(key.caller.as_str())
        .bind(key.key.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(micros(before))
            .execute(&self.pool)
            .await?;
        Ok(D::rows_affected(&done))
    }
}

/// What an idempotency key found in place means for this request; `None` when the key is
/// free to take over (expired, or its request abandoned).
fn existing_claim(
    hash: &str,
    response: Option<String>,
    created_at: i64,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Claim>, StoreError> {
    let expired = created_at < micros(now - IDEMPOTENCY_TTL);
    let abandoned = response.is_none() && created_at < micros(now - IDEMPOTENCY_IN_FLIGHT_TTL);
    if expired || abandoned {
        return Ok(None);
    }
    if hash != request_hash {
        return Ok(Some(Claim::Mismatch));
    }
    Ok(Some(match response {
        None => Claim::InFlight,
        Some(text) => Claim::Completed(serde_json::from_str(&text)?),
    }))
}
