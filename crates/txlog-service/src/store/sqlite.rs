//! The embedded store: one SQLite file in WAL mode. Appends run in `BEGIN IMMEDIATE`
//! transactions, so several processes on one file stay gap-free; triggers refuse UPDATE (but
//! for sealing a record stored without a seal) and DELETE. Filters read generated columns
//! computed from the hashed text (`sqlite_records.sql`).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use txlog_api::VerifyHead;

use super::tree_runs::{self, Runs, TreeRun};
use super::StoredCheckpoint;
use super::{
    Checkpoints, ListQuery, NewRecords, Placement, Records, SealedRecord, SortOrder, StoreError,
    TreeHashes,
};
use crate::chain::{format_time, Head, IndexFields, StatedHash, StoredRecord};
use crate::ids::{EventId, TransactionId};
use tlog_tiles::Hash;

const SCHEMA: &str = include_str!("sqlite_schema.sql");
/// What runs after the derived columns exist: their indexes and the records' UPDATE trigger.
const RECORDS_SCHEMA: &str = include_str!("sqlite_records.sql");
/// The columns added to `records` when missing: the filters' generated columns, computed from
/// the hashed text, and the seal. `ALTER TABLE ADD COLUMN` adds a VIRTUAL generated column to
/// a table of any size at once (no rewrite), so old files migrate in the start-up transaction;
/// rebuilding the table instead would copy every record. New files take the same path.
const DERIVED_COLUMNS: [(&str, &str); 7] = [
    (
        "f_transaction_id",
        "TEXT GENERATED ALWAYS AS (json_extract(canonical, '$.transaction_id')) VIRTUAL",
    ),
    (
        "f_order_id",
        "TEXT GENERATED ALWAYS AS (json_extract(canonical, '$.order_id')) VIRTUAL",
    ),
    (
        "f_actor",
        "TEXT GENERATED ALWAYS AS (json_extract(canonical, '$.actor.sub')) VIRTUAL",
    ),
    (
        "f_operation",
        "TEXT GENERATED ALWAYS AS (json_extract(canonical, '$.operation')) VIRTUAL",
    ),
    (
        "f_outcome",
        "TEXT GENERATED ALWAYS AS (json_extract(canonical, '$.outcome')) VIRTUAL",
    ),
    (
        "f_recorded_at",
        "TEXT GENERATED ALWAYS AS (json_extract(canonical, '$.recorded_at')) VIRTUAL",
    ),
    ("seal", "BLOB"),
];
/// Witness cosignatures (`sqlite_cosignatures.rs`): the table and its triggers.
const COSIGNATURES_SCHEMA: &str = include_str!("sqlite_cosignatures.sql");
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Event ids looked up per statement (SQLite allows 32 766 parameters).
const LOOKUP_CHUNK: usize = 500;
/// Records inserted per statement (11 parameters each).
const INSERT_CHUNK: usize = 100;

/// What reads select: the filter fields as the generated columns hold them.
const COLUMNS: &str = "seq, event_id, f_transaction_id AS transaction_id, f_order_id AS order_id, \
     f_actor AS actor, f_operation AS operation, f_outcome AS outcome, \
     f_recorded_at AS recorded_at, canonical, hash";
/// What inserts write.
const INSERT_COLUMNS: &str = "seq, event_id, transaction_id, order_id, actor, operation, outcome, recorded_at, canonical, hash, seal";

pub struct SqliteStore {
    pub(super) pool: SqlitePool,
}

impl SqliteStore {
    /// The lookup that turns a time bound into a `seq` bound: the first record recorded at or
    /// after `t`, found on the `recorded_at` index (whose entries end with `seq`).
    pub const SEQ_AT_OR_AFTER: &'static str =
        "SELECT seq FROM records WHERE f_recorded_at >= ? ORDER BY f_recorded_at, seq LIMIT 1";

    /// The lookup for an upper time bound, in one statement so that both answers are of one
    /// moment: the first record recorded at or after `t`, and the last record.
    pub const SEQ_AT_OR_AFTER_AND_LAST: &'static str =
        "SELECT (SELECT seq FROM records WHERE f_recorded_at >= ? ORDER BY f_recorded_at, seq LIMIT 1), \
         (SELECT MAX(seq) FROM records)";

    async fn first_seq_at_or_after(&self, t: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(Self::SEQ_AT_OR_AFTER)
            .bind(format_time(t))
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The statement `list` runs, after `prefix`; `None` when no record can match.
    async fn list_statement(
        &self,
        prefix: &str,
        query: &ListQuery,
    ) -> Result<Option<QueryBuilder<'static, Sqlite>>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "{prefix}SELECT {COLUMNS} FROM records WHERE 1 = 1"
        ));
        for (column, value) in [
            ("f_order_id", &query.order_id),
            ("f_actor", &query.actor),
            ("f_operation", &query.operation),
            ("f_outcome", &query.outcome),
        ] {
            if let Some(value) = value {
                sql.push(format!(" AND {column} = "))
                    .push_bind(value.clone());
            }
        }
        // `recorded_at` never decreases with `seq`, so a time range is a `seq` range, found
        // with one lookup on the `recorded_at` index per bound; the query then walks `seq`
        // (or a filter's index) in order and stops at `limit`, however many records lie
        // outside the range.
        if let Some(from) = query.from {
            match self.first_seq_at_or_after(from).await? {
                Some(first) => {
                    sql.push(" AND seq >= ").push_bind(first);
                }
                None => return Ok(None),
            }
        }
        if let Some(to) = query.to {
            let (end, last): (Option<i64>, Option<i64>) =
                sqlx::query_as(Self::SEQ_AT_OR_AFTER_AND_LAST)
                    .bind(format_time(to))
                    .fetch_one(&self.pool)
                    .await?;
            match (end, last) {
                (Some(end), _) => {
                    sql.push(" AND seq < ").push_bind(end);
                }
                // Every record so far is before `to`; one appended since may not be.
                (None, Some(last)) => {
                    sql.push(" AND seq <= ").push_bind(last);
                }
                (None, None) => return Ok(None),
            }
        }
        let (comparison, direction) = match query.order {
            SortOrder::Asc => (" > ", " ASC"),
            SortOrder::Desc => (" < ", " DESC"),
        };
        if let Some(after) = query.after {
            sql.push(" AND seq")
                .push(comparison)
                .push_bind(i64::try_from(after)?);
        }
        sql.push(" ORDER BY seq")
            .push(direction)
            .push(" LIMIT ")
            .push_bind(i64::from(query.limit));
        Ok(Some(sql))
    }

    /// `EXPLAIN QUERY PLAN` of what `list` runs for `query` (the time bounds' lookups, then
    /// the list itself), one line per plan step, for the tests that show every filter is
    /// served by an index.
    pub async fn list_plan(&self, query: &ListQuery) -> anyhow::Result<Vec<String>> {
        let plan = |rows: Vec<SqliteRow>| -> anyhow::Result<Vec<String>> {
            rows.iter()
                .map(|row| Ok(row.try_get::<String, _>("detail")?))
                .collect()
        };
        let mut lines = Vec::new();
        for (bound, lookup) in [
            (query.from, Self::SEQ_AT_OR_AFTER),
            (query.to, Self::SEQ_AT_OR_AFTER_AND_LAST),
        ] {
            if let Some(t) = bound {
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {lookup}"))
                    .bind(format_time(t))
                    .fetch_all(&self.pool)
                    .await?;
                lines.extend(plan(rows)?);
            }
        }
        if let Some(mut sql) = self.list_statement("EXPLAIN QUERY PLAN ", query).await? {
            lines.extend(plan(sql.build().fetch_all(&self.pool).await?)?);
        }
        Ok(lines)
    }

    /// Opens (creating the directory and file when missing) and migrates the database.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if let Some(dir) = file_path(url).and_then(|p| p.parent().map(Path::to_path_buf)) {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!(
                        "cannot create {}",
                        std::path::absolute(&dir).unwrap_or(dir.clone()).display()
                    )
                })?;
            }
        }
        let options = SqliteConnectOptions::from_str(url)
            .context("invalid SQLite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .with_context(|| {
                let path = file_path(url).map(|p| std::path::absolute(p).unwrap_or(p.into()));
                format!(
                    "cannot open the SQLite database {}",
                    path.unwrap_or_default().display()
                )
            })?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(SCHEMA)
            .execute(&mut *tx)
            .await
            .context("cannot create the SQLite schema")?;
        // table_xinfo, unlike table_info, lists generated columns.
        let present: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_xinfo('records')")
                .fetch_all(&mut *tx)
                .await?;
        for (name, definition) in DERIVED_COLUMNS {
            if !present.iter().any(|p| p == name) {
                sqlx::query(&format!(
                    "ALTER TABLE records ADD COLUMN {name} {definition}"
                ))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("cannot add the column records.{name}"))?;
            }
        }
        sqlx::raw_sql(RECORDS_SCHEMA)
            .execute(&mut *tx)
            .await
            .context("cannot create the records' filter indexes and triggers")?;
        sqlx::raw_sql(COSIGNATURES_SCHEMA)
            .execute(&mut *tx)
            .await
            .context("cannot create the SQLite cosignatures table")?;
        tx.commit().await?;
        Ok(())
    }
}

async fn hash_count(db: &mut SqliteConnection) -> Result<u64, StoreError> {
    let end: Option<i64> = sqlx::query_scalar(
        "SELECT first + length(hashes) / 32 FROM tree_runs ORDER BY first DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    Ok(u64::try_from(end.unwrap_or(0))?)
}

async fn read_hashes(db: &mut SqliteConnection, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
    let mut runs = Runs::default();
    while let Some(index) = runs.missing(indexes) {
        let run: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT first, hashes FROM tree_runs WHERE first <= ? ORDER BY first DESC LIMIT 1",
        )
        .bind(i64::try_from(index)?)
        .fetch_optional(&mut *db)
        .await?;
        let run = run
            .map(|(first, hashes)| TreeRun::new(u64::try_from(first)?, hashes))
            .transpose()?;
        runs.add(index, run)?;
    }
    runs.hashes(indexes)
}

/// Stores what of `hashes` (at `first…`) the tree does not hold yet as one run, in a
/// transaction that began `IMMEDIATE` (so the count it reads stays true).
async fn write_hashes(
    db: &mut SqliteConnection,
    first: u64,
    hashes: &[Hash],
) -> Result<(), StoreError> {
    let count = hash_count(db).await?;
    let Some((at, bytes)) = tree_runs::unstored(first, hashes, count)? else {
        return Ok(());
    };
    insert_run(db, at, bytes).await
}

async fn insert_run(
    db: &mut SqliteConnection,
    first: u64,
    hashes: Vec<u8>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO tree_runs (first, hashes) VALUES (?, ?)")
        .bind(i64::try_from(first)?)
        .bind(hashes)
        .execute(db)
        .await?;
    Ok(())
}

/// Where the given events are stored, those that are.
async fn placements(
    db: &mut SqliteConnection,
    event_ids: &[EventId],
) -> Result<HashMap<EventId, Placement>, StoreError> {
    let mut existing = HashMap::new();
    for chunk in event_ids.chunks(LOOKUP_CHUNK) {
        let mut lookup = QueryBuilder::<Sqlite>::new(
            "SELECT event_id, transaction_id, seq FROM records WHERE event_id IN (",
        );
        let mut ids = lookup.separated(", ");
        for id in chunk {
            ids.push_bind(id.to_string());
        }
        lookup.push(")");
        for row in lookup.build().fetch_all(&mut *db).await? {
            let placement = Placement {
                transaction_id: row.try_get::<String, _>("transaction_id")?.parse()?,
                seq: u64::try_from(row.try_get::<i64, _>("seq")?)?,
            };
            existing.insert(row.try_get::<String, _>("event_id")?.parse()?, placement);
        }
    }
    Ok(existing)
}

/// Inserts chained records with their seals (`seals[i]` is `records[i]`'s), [`INSERT_CHUNK`]
/// a statement.
async fn insert_records(
    db: &mut SqliteConnection,
    records: &[StoredRecord],
    seals: &[Option<[u8; 32]>],
) -> Result<(), StoreError> {
    for (chunk, seals) in records.chunks(INSERT_CHUNK).zip(seals.chunks(INSERT_CHUNK)) {
        let mut insert =
            QueryBuilder::<Sqlite>::new(format!("INSERT INTO records ({INSERT_COLUMNS}) "));
        let mut failed = None;
        insert.push_values(chunk.iter().zip(seals), |mut row, (sealed, seal)| {
            let index = &sealed.index;
            let seq = i64::try_from(index.seq).unwrap_or_else(|e| {
                failed = Some(e);
                0
            });
            row.push_bind(seq)
                .push_bind(index.event_id.to_string())
                .push_bind(index.transaction_id.to_string())
                .push_bind(index.order_id.as_deref())
                .push_bind(index.actor.as_deref())
                .push_bind(index.operation.as_str())
                .push_bind(index.outcome.as_str())
                .push_bind(format_time(index.recorded_at))
                .push_bind(sealed.canonical.as_str())
                .push_bind(sealed.hash.text())
                .push_bind(seal.map(|s| s.to_vec()));
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        insert.build().execute(&mut *db).await.map_err(taken)?;
    }
    Ok(())
}

/// A unique `seq` or `event_id` met: [`StoreError::Taken`].
fn taken(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Taken,
        _ => e.into(),
    }
}

/// The file path of a `sqlite://path?options` URL (`None` for in-memory databases).
fn file_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

fn parse_time(text: String) -> Result<DateTime<Utc>, StoreError> {
    Ok(DateTime::parse_from_rfc3339(&text)
        .map_err(|e| StoreError::corrupt(format!("bad stored time {text:?} ({e})")))?
        .with_timezone(&Utc))
}

fn record_from_row(row: &SqliteRow) -> Result<StoredRecord, StoreError> {
    Ok(StoredRecord {
        canonical: row.try_get("canonical")?,
        hash: StatedHash::read(row.try_get("hash")?),
        index: IndexFields {
            seq: u64::try_from(row.try_get::<i64, _>("seq")?)?,
            event_id: row.try_get::<String, _>("event_id")?.parse()?,
            transaction_id: row.try_get::<String, _>("transaction_id")?.parse()?,
            order_id: row.try_get("order_id")?,
            actor: row.try_get("actor")?,
            operation: row.try_get("operation")?,
            outcome: row.try_get("outcome")?,
            recorded_at: parse_time(row.try_get("recorded_at")?)?,
        },
    })
}

#[async_trait::async_trait]
impl Records for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// One `BEGIN IMMEDIATE` transaction: the records, then the tree hashes when the stored
    /// ones end where they begin (read in the same transaction, so the answer stays true).
    async fn insert(&self, batch: &NewRecords<'_>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        insert_records(&mut tx, batch.records, batch.seals).await?;
        let mut tree = false;
        if let Some((first, hashes)) = batch.tree {
            if hash_count(&mut tx).await? == first {
                insert_run(&mut tx, first, tree_runs::bytes(hashes)).await?;
                tree = true;
            }
        }
        tx.commit().await?;
        Ok(tree)
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        let row =
            sqlx::query("SELECT seq, hash, recorded_at FROM records ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            super::head_of(
                u64::try_from(row.try_get::<i64, _>("seq")?)?,
                &StatedHash::read(row.try_get("hash")?),
                parse_time(row.try_get("recorded_at")?)?,
            )
        })
        .transpose()
    }

    async fn placements(
        &self,
        event_ids: &[EventId],
    ) -> Result<HashMap<EventId, Placement>, StoreError> {
        placements(&mut *self.pool.acquire().await?, event_ids).await
    }

    async fn get(&self, transaction_id: TransactionId) -> Result<Option<StoredRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM records WHERE f_transaction_id = ?"
        ))
        .bind(transaction_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<StoredRecord>, StoreError> {
        let Some(mut sql) = self.list_statement("", query).await? else {
            return Ok(Vec::new());
        };
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn chain_page(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let rows = self.page("", after, limit).await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn sealed_page(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let rows = self.page(", seal", after, limit).await?;
        rows.iter()
            .map(|row| {
                Ok(SealedRecord {
                    record: record_from_row(row)?,
                    seal: row.try_get("seal")?,
                })
            })
            .collect()
    }

    async fn add_seals(&self, seals: &[(u64, [u8; 32])]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (seq, seal) in seals {
            // The one UPDATE the records' trigger lets through (sqlite_records.sql).
            sqlx::query("UPDATE records SET seal = ? WHERE seq = ? AND seal IS NULL")
                .bind(seal.to_vec())
                .bind(i64::try_from(*seq)?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl SqliteStore {
    /// Rows of records with `seq` above `after`, ascending, at most `limit`, with `extra`
    /// columns.
    async fn page(
        &self,
        extra: &str,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        let after = after.map(i64::try_from).transpose()?.unwrap_or(-1);
        Ok(sqlx::query(&format!(
            "SELECT {COLUMNS}{extra} FROM records WHERE seq > ? ORDER BY seq ASC LIMIT ?"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}

#[async_trait::async_trait]
impl TreeHashes for SqliteStore {
    async fn tree_hash_count(&self) -> Result<u64, StoreError> {
        hash_count(&mut *self.pool.acquire().await?).await
    }

    async fn tree_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        read_hashes(&mut *self.pool.acquire().await?, indexes).await
    }

    async fn add_tree_hashes(&self, first: u64, hashes: &[Hash]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        write_hashes(&mut tx, first, hashes).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Checkpoints for SqliteStore {
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(StoredCheckpoint {
                size: u64::try_from(row.try_get::<i64, _>("size")?)?,
                note: row.try_get("note")?,
            })
        })
        .transpose()
    }

    async fn add_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT OR IGNORE INTO checkpoints (size, note, signed_at) VALUES (?, ?, ?)")
            .bind(i64::try_from(size)?)
            .bind(note)
            .bind(format_time(chrono::Utc::now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn latest_verified(&self) -> Result<Option<VerifyHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM verified_heads ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(VerifyHead {
                seq: u64::try_from(row.try_get::<i64, _>("seq")?)?,
                hash: row.try_get("hash")?,
            })
        })
        .transpose()
    }

    async fn add_verified(&self, head: &VerifyHead) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO verified_heads (seq, hash, verified_at) VALUES (?, ?, ?)",
        )
        .bind(i64::try_from(head.seq)?)
        .bind(&head.hash)
        .bind(format_time(chrono::Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::file_path;
    use std::path::Path;

    #[test]
    fn file_paths_come_from_the_url() {
        assert_eq!(
            file_path("sqlite://data/txlog.db"),
            Some(Path::new("data/txlog.db"))
        );
        assert_eq!(
            file_path("sqlite:///tmp/x.db?mode=rwc"),
            Some(Path::new("/tmp/x.db"))
        );
        assert_eq!(file_path("sqlite::memory:"), None);
    }
}
