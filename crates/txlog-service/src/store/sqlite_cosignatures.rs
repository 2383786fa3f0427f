//! Witness cosignatures in SQLite: the `cosignatures` table (`sqlite_cosignatures.sql`).

use super::StoreError;
use sqlx::Row as _;

use super::cosignatures::{Cosignature, Cosignatures};
use super::sqlite::SqliteStore;
use super::StoredCheckpoint;

#[async_trait::async_trait]
impl Cosignatures for SqliteStore {
    async fn add_cosignature(&self, cosignature: &Cosignature) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cosignatures (size, witness, lines, cosigned_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (size, witness) DO NOTHING",
        )
        .bind(i64::try_from(cosignature.size)?)
        .bind(&cosignature.witness)
        .bind(&cosignature.lines)
        .bind(crate::chain::format_time(chrono::Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cosignatures_below(
        &self,
        below: u64,
        limit: u32,
    ) -> Result<Vec<Cosignature>, StoreError> {
        let rows = sqlx::query(
            "SELECT size, witness, lines FROM cosignatures WHERE size < ? \
             ORDER BY size DESC, witness LIMIT ?",
        )
        .bind(i64::try_from(below).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Cosignature {
                    size: u64::try_from(row.try_get::<i64, _>("size")?)?,
                    witness: row.try_get("witness")?,
                    lines: row.try_get("lines")?,
                })
            })
            .collect()
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let note: Option<String> =
            sqlx::query_scalar("SELECT note FROM checkpoints WHERE size = ?")
                .bind(i64::try_from(size)?)
                .fetch_optional(&self.pool)
                .await?;
        Ok(note.map(|note| StoredCheckpoint { size, note }))
    }
}
