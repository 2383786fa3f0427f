//! The production store: MongoDB through the official driver. Records are documents whose
//! `_id` is their `seq`, so `_id` uniqueness keeps the chain gap-free and linear with several
//! replicas appending at once (the sequencer retries on [`StoreError::Taken`]); the tree and
//! checkpoints are in `mongo_tree.rs`. Reads go through aggregation pipelines only.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

use super::backoff;
use super::TreeHashes as _;
use super::{ListQuery, NewRecords, Placement, Records, SealedRecord, SortOrder, StoreError};
use crate::chain::{Head, IndexFields, StatedHash, StoredRecord};
use crate::ids::{EventId, TransactionId};

/// The collection holding the chain.
pub const RECORDS_COLLECTION: &str = "txlog_records";
/// Used when the URL names no database.
pub const DEFAULT_DATABASE: &str = "txlog";
/// Tries of one read before its error is returned.
const READ_ATTEMPTS: u32 = 10;

/// The Merkle tree's stored hashes, a document per run (`tree_runs.rs`): `_id` is the index of
/// its first hash.
pub const TREE_COLLECTION: &str = "txlog_tree_runs";
/// Where releases before 2026-12-01 kept the tree, a document per hash. This release neither
/// reads nor writes it (it rebuilds the tree from the records), but an older replica running
/// beside it during a rolling update, or after a rollback, still does, so the role keeps it.
pub const OLD_TREE_COLLECTION: &str = "txlog_tree";
/// Signed checkpoints: `_id` is the tree size.
pub const CHECKPOINTS_COLLECTION: &str = "txlog_checkpoints";
/// Chain heads a verification found valid: `_id` is the head's `seq`.
pub const VERIFIED_COLLECTION: &str = "txlog_verified";

pub struct MongoStore {
    pub(super) database: Database,
    pub(super) records: Collection<Document>,
    pub(super) tree: Collection<Document>,
    pub(super) checkpoints: Collection<Document>,
    pub(super) verified: Collection<Document>,
    /// Whether the unique `event_id` index exists (checked at start-up).
    unique_events: bool,
}

impl MongoStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let database = open(url).await?;
        let indexed = ensure_indexes(&database).await;
        if let Err(e) = &indexed {
            tracing::warn!(
                error = format!("{e:#}"),
                "the MongoDB indexes (unique event_id, query filters) are missing: run `txlog-service setup` \
                 with admin credentials; without them queries are slower and only the append algorithm \
                 guards against storing one event twice"
            );
        }
        Ok(Self {
            database: database.clone(),
            records: database.collection(RECORDS_COLLECTION),
            tree: database.collection(TREE_COLLECTION),
            checkpoints: database.collection(CHECKPOINTS_COLLECTION),
            verified: database.collection(VERIFIED_COLLECTION),
            unique_events: indexed.is_ok(),
        })
    }

    async fn aggregate(&self, pipeline: Vec<Document>) -> Result<Vec<Document>, StoreError> {
        aggregate(&self.records, pipeline).await
    }

    /// The `seq` of one record found by the lookup `filter` sorted by `sort` (on the
    /// `recorded_at` index: one index entry read).
    async fn seq_of_first(
        &self,
        filter: Document,
        sort: Document,
    ) -> Result<Option<i64>, StoreError> {
        let docs = self.aggregate(time_lookup(filter, sort)).await?;
        docs.first()
            .map(|d| Ok(i64::try_from(id_of(d)?)?))
            .transpose()
    }

    /// The pipeline `list` runs for `query`. `recorded_at` never decreases with `seq`, so each
    /// time bound also bounds `seq`, found with one lookup on the `recorded_at` index: the
    /// list then walks `_id` (or a filter's index) only over the range, and stops at `limit`.
    /// The lookups may meet a record of the bound's own millisecond, so the time conditions
    /// stay in the filter too.
    async fn list_pipeline(&self, query: &ListQuery) -> Result<Vec<Document>, StoreError> {
        let mut filter = Document::new();
        for (field, value) in [
            ("order_id", &query.order_id),
            ("actor", &query.actor),
            ("operation", &query.operation),
            ("outcome", &query.outcome),
        ] {
            if let Some(value) = value {
                filter.insert(field, value.clone());
            }
        }
        // `seq` strictly above `above` and strictly below `below`.
        let mut above: Option<i64> = None;
        let mut below: Option<i64> = None;
        let mut time = Document::new();
        if let Some(from) = query.from {
            let from = bson::DateTime::from_millis(from.timestamp_millis());
            time.insert("$gte", from);
            // The last record before `from`: every record after it in `seq` is at or after
            // the last one's instant; those of that same instant the time condition drops.
            above = self
                .seq_of_first(
                    doc! {"recorded_at": {"$lt": from}},
                    doc! {"recorded_at": -1},
                )
                .await?;
        }
        if let Some(to) = query.to {
            let to = bson::DateTime::from_millis(to.timestamp_millis());
            time.insert("$lt", to);
            // A first record at or after `to`: it and every later record are excluded.
            below = self
                .seq_of_first(doc! {"recorded_at": {"$gte": to}}, doc! {"recorded_at": 1})
                .await?;
        }
        if !time.is_empty() {
            filter.insert("recorded_at", time);
        }
        let direction = match query.order {
            SortOrder::Asc => 1,
            SortOrder::Desc => -1,
        };
        if let Some(after) = query.after {
            let after = to_i64(after)?;
            let bound = match query.order {
                SortOrder::Asc => &mut above,
                SortOrder::Desc => &mut below,
            };
            *bound = Some(match (*bound, query.order) {
                (Some(b), SortOrder::Asc) => b.max(after),
                (Some(b), SortOrder::Desc) => b.min(after),
                (None, _) => after,
            });
        }
        let mut range = Document::new();
        if let Some(above) = above {
            range.insert("$gt", above);
        }
        if let Some(below) = below {
            range.insert("$lt", below);
        }
        if !range.is_empty() {
            filter.insert("_id", range);
        }
        Ok(vec![
            doc! {"$match": filter},
            doc! {"$sort": {"_id": direction}},
            doc! {"$limit": i64::from(query.limit)},
        ])
    }

    /// The server's `explain` of what `list` runs for `query`: the time bounds' lookups,
    /// then the list itself; for the tests that show every filter is served by an index.
    pub async fn list_explain(&self, query: &ListQuery) -> anyhow::Result<Vec<Document>> {
        let explain = |pipeline: Vec<Document>| {
            doc! {"explain": {
                "aggregate": RECORDS_COLLECTION,
                "pipeline": pipeline,
                "cursor": {},
            }, "verbosity": "queryPlanner"}
        };
        let mut commands = Vec::new();
        let now = bson::DateTime::now();
        if query.from.is_some() {
            commands.push(explain(time_lookup(
                doc! {"recorded_at": {"$lt": now}},
                doc! {"recorded_at": -1},
            )));
        }
        if query.to.is_some() {
            commands.push(explain(time_lookup(
                doc! {"recorded_at": {"$gte": now}},
                doc! {"recorded_at": 1},
            )));
        }
        commands.push(explain(self.list_pipeline(query).await?));
        let mut plans = Vec::new();
        for command in commands {
            plans.push(self.database.run_command(command).await?);
        }
        Ok(plans)
    }
}

/// Runs a read pipeline; reads are idempotent, so a failed one (a lost cursor, a failover)
/// is retried a few times before the error is returned.
pub(super) async fn aggregate(
    collection: &Collection<Document>,
    pipeline: Vec<Document>,
) -> Result<Vec<Document>, StoreError> {
    let mut attempt = 1;
    loop {
        let result = async {
            let cursor = collection.aggregate(pipeline.clone()).await?;
            cursor.try_collect::<Vec<Document>>().await
        }
        .await;
        match result {
            Ok(docs) => return Ok(docs),
            Err(e)
                if attempt < READ_ATTEMPTS
                    && !matches!(*e.kind, ErrorKind::ServerSelection { .. }) =>
            {
                tracing::debug!(error = %e, attempt, "a MongoDB read failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Connects and returns the URL's database (`txlog` when it names none).
pub async fn open(url: &str) -> anyhow::Result<Database> {
    let mut options = ClientOptions::parse(url)
        .await
        .context("invalid MongoDB URL")?;
    options
        .app_name
        .get_or_insert_with(|| "txlog-service".to_owned());
    let name = options
        .default_database
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let client = Client::with_options(options).context("cannot configure the MongoDB client")?;
    Ok(client.database(&name))
}

/// The indexes `setup` creates: unique `event_id` (a second guard for exactly-once storage),
/// unique `transaction_id` (lookups), and one per list filter, newest first.
fn indexes() -> Vec<IndexModel> {
    let unique = || IndexOptions::builder().unique(true).build();
    let by = |field: &str| {
        IndexModel::builder()
            .keys(doc! {field: 1, "_id": -1})
            .build()
    };
    vec![
        IndexModel::builder()
            .keys(doc! {"event_id": 1})
            .options(unique())
            .build(),
        IndexModel::builder()
            .keys(doc! {"transaction_id": 1})
            .options(unique())
            .build(),
        by("order_id"),
        by("actor"),
        by("operation"),
        by("outcome"),
        IndexModel::builder().keys(doc! {"recorded_at": 1}).build(),
    ]
}

/// An index's identity for comparison: its key fields with their directions, and uniqueness.
/// Servers may answer a direction as int32, int64 or double.
fn signature(index: &IndexModel) -> (Vec<(String, i64)>, bool) {
    let keys = index
        .keys
        .iter()
        .map(|(field, direction)| {
            let direction = match direction {
                Bson::Int32(n) => i64::from(*n),
                Bson::Int64(n) => *n,
                Bson::Double(n) => *n as i64,
                _ => 0,
            };
            (field.clone(), direction)
        })
        .collect();
    let unique = index
        .options
        .as_ref()
        .and_then(|o| o.unique)
        .unwrap_or(false);
    (keys, unique)
}

/// The indexes of `indexes()` that the records collection lacks, asked with `listIndexes`
/// (which the appender role holds). An error when the collection does not exist yet.
pub async fn missing_indexes(records: &Collection<Document>) -> anyhow::Result<Vec<IndexModel>> {
    let present: Vec<IndexModel> = records.list_indexes().await?.try_collect().await?;
    let present: Vec<_> = present.iter().map(signature).collect();
    Ok(indexes()
        .into_iter()
        .filter(|wanted| !present.contains(&signature(wanted)))
        .collect())
}

/// Makes sure the records collection and its indexes exist. It looks first, with what the
/// appender role may do (`listIndexes`), and creates only what is missing (`createIndexes`,
/// which also creates the collection), so a service user that cannot create indexes starts
/// quietly after `txlog-service setup` has run. An error when something is missing and
/// cannot be created.
pub async fn ensure_indexes(database: &Database) -> anyhow::Result<()> {
    let records = database.collection::<Document>(RECORDS_COLLECTION);
    let missing = match missing_indexes(&records).await {
        Ok(missing) if missing.is_empty() => return Ok(()),
        Ok(missing) => missing,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list the records indexes (a new collection?)");
            indexes()
        }
    };
    records
        .create_indexes(missing)
        .await
        .context("cannot create the records indexes")?;
    Ok(())
}

/// The lookup of one record's `seq` by time: `filter` on `recorded_at`, sorted by `sort`.
fn time_lookup(filter: Document, sort: Document) -> Vec<Document> {
    vec![
        doc! {"$match": filter},
        doc! {"$sort": sort},
        doc! {"$limit": 1},
        doc! {"$project": {"_id": 1}},
    ]
}

/// Records with `seq` above `after` (from the first when `None`), ascending, at most `limit`.
fn page_pipeline(after: Option<u64>, limit: u32) -> Result<Vec<Document>, StoreError> {
    let mut pipeline = Vec::new();
    if let Some(after) = after {
        pipeline.push(doc! {"$match": {"_id": {"$gt": to_i64(after)?}}});
    }
    pipeline.push(doc! {"$sort": {"_id": 1}});
    pipeline.push(doc! {"$limit": i64::from(limit)});
    Ok(pipeline)
}

pub(super) fn to_i64(seq: u64) -> Result<i64, StoreError> {
    Ok(i64::try_from(seq)?)
}

/// A record's document; its `seal`, when given, is a field beside the record (outside the
/// canonical text the leaf covers).
fn to_doc(sealed: &StoredRecord, seal: Option<[u8; 32]>) -> Result<Document, StoreError> {
    let i = &sealed.index;
    let text = |v: &Option<String>| v.clone().map_or(Bson::Null, Bson::String);
    let mut document = doc! {
        "_id": to_i64(i.seq)?,
        "event_id": i.event_id.to_string(),
        "transaction_id": i.transaction_id.to_string(),
        "order_id": text(&i.order_id),
        "actor": text(&i.actor),
        "operation": &i.operation,
        "outcome": &i.outcome,
        "recorded_at": bson::DateTime::from_millis(i.recorded_at.timestamp_millis()),
        "canonical": &sealed.canonical,
        "hash": sealed.hash.text().as_ref(),
    };
    if let Some(seal) = seal {
        document.insert("seal", binary(seal.to_vec()));
    }
    Ok(document)
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes,
    })
}

/// The `seal` field of a record's document: `None` when missing or null.
fn seal_from_doc(d: &Document) -> Result<Option<Vec<u8>>, StoreError> {
    match d.get("seal") {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Binary(b)) => Ok(Some(b.bytes.clone())),
        Some(_) => Err(StoreError::corrupt("a record's seal is not binary")),
    }
}

/// A record's `_id`, its `seq`.
fn id_of(d: &Document) -> Result<u64, StoreError> {
    match d.get("_id") {
        Some(Bson::Int64(n)) => Ok(u64::try_from(*n)?),
        Some(Bson::Int32(n)) => Ok(u64::try_from(*n)?),
        other => Err(StoreError::corrupt(format!(
            "a record has an unexpected _id {other:?}"
        ))),
    }
}

fn record_from_doc(d: &Document) -> Result<StoredRecord, StoreError> {
    let seq = id_of(d)?;
    let malformed = |what: &dyn std::fmt::Display| {
        StoreError::corrupt(format!("record {seq} is malformed: {what}"))
    };
    let text = |key: &str| d.get_str(key).map(str::to_owned).map_err(|e| malformed(&e));
    let optional = |key: &str| match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(&format!("{key} is not a string"))),
    };
    let millis = d
        .get_datetime("recorded_at")
        .map_err(|e| malformed(&e))?
        .timestamp_millis();
    let recorded_at = DateTime::<Utc>::from_timestamp_millis(millis)
        .ok_or_else(|| malformed(&"recorded_at is out of range"))?;
    Ok(StoredRecord {
        canonical: text("canonical")?,
        hash: StatedHash::read(text("hash")?),
        index: IndexFields {
            seq,
            event_id: text("event_id")?.parse().map_err(|e| malformed(&e))?,
            transaction_id: text("transaction_id")?.parse().map_err(|e| malformed(&e))?,
            order_id: optional("order_id")?,
            actor: optional("actor")?,
            operation: text("operation")?,
            outcome: text("outcome")?,
            recorded_at,
        },
    })
}

#[async_trait::async_trait]
impl Records for MongoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.aggregate(vec![doc! {"$limit": 1}]).await?;
        Ok(())
    }

    fn refuses_duplicate_events(&self) -> bool {
        self.unique_events
    }

    fn stores_tree_with_records(&self) -> bool {
        false
    }

    /// One ordered `insert_many` (a taken `_id` or `event_id` stops it there), then the tree
    /// hashes as one document. There is no transaction: records stored without their hashes
    /// (a crash between, or the hashes' write failing, logged here) are hashed by the
    /// checkpoint loop's catch-up.
    async fn insert(&self, batch: &NewRecords<'_>) -> Result<bool, StoreError> {
        let docs = batch
            .records
            .iter()
            .zip(batch.seals)
            .map(|(record, seal)| to_doc(record, *seal))
            .collect::<Result<Vec<_>, _>>()?;
        match self.records.insert_many(docs).ordered(true).await {
            Ok(_) => {}
            Err(e) if duplicate_at(&e).is_some() => return Err(StoreError::Taken),
            Err(e) => return Err(e.into()),
        }
        let Some((first, hashes)) = batch.tree else {
            return Ok(false);
        };
        match self.add_tree_hashes(first, hashes).await {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::warn!(
                    error = %platform::problem::cause_chain(&e),
                    "cannot store the Merkle tree hashes of an append; the checkpoint loop will"
                );
                Ok(false)
            }
        }
    }

    async fn head(&self) -> Result<Option<Head>, StoreError> {
        let docs = self
            .aggregate(vec![doc! {"$sort": {"_id": -1}}, doc! {"$limit": 1}])
            .await?;
        docs.first()
            .map(|d| {
                let last = record_from_doc(d)?;
                super::head_of(last.index.seq, &last.hash, last.index.recorded_at)
            })
            .transpose()
    }

    async fn placements(
        &self,
        event_ids: &[EventId],
    ) -> Result<HashMap<EventId, Placement>, StoreError> {
        let ids: Vec<Bson> = event_ids
            .iter()
            .map(|id| Bson::String(id.to_string()))
            .collect();
        let docs = self
            .aggregate(vec![doc! {"$match": {"event_id": {"$in": ids}}}])
            .await?;
        docs.iter()
            .map(|d| {
                let index = record_from_doc(d)?.index;
                Ok((index.event_id, Placement::from(&index)))
            })
            .collect()
    }

    async fn get(&self, transaction_id: TransactionId) -> Result<Option<StoredRecord>, StoreError> {
        let docs = self
            .aggregate(vec![
                doc! {"$match": {"transaction_id": transaction_id.to_string()}},
                doc! {"$limit": 1},
            ])
            .await?;
        docs.first().map(record_from_doc).transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<StoredRecord>, StoreError> {
        let pipeline = self.list_pipeline(query).await?;
        self.aggregate(pipeline)
            .await?
            .iter()
            .map(record_from_doc)
            .collect()
    }

    async fn chain_page(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        self.aggregate(page_pipeline(after, limit)?)
            .await?
            .iter()
            .map(record_from_doc)
            .collect()
    }

    async fn sealed_page(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        self.aggregate(page_pipeline(after, limit)?)
            .await?
            .iter()
            .map(|d| {
                Ok(SealedRecord {
                    record: record_from_doc(d)?,
                    seal: seal_from_doc(d)?,
                })
            })
            .collect()
    }

    async fn add_seals(&self, seals: &[(u64, [u8; 32])]) -> Result<(), StoreError> {
        for (seq, seal) in seals {
            let unsealed =
                doc! {"_id": to_i64(*seq)?, "$or": [{"seal": {"$exists": false}}, {"seal": null}]};
            self.records
                .update_one(unsealed, doc! {"$set": {"seal": binary(seal.to_vec())}})
                .await?;
        }
        Ok(())
    }
}

/// MongoDB's duplicate key error.
const DUPLICATE_KEY: i32 = 11000;

/// Where a write failed on an `_id` (or other unique key) stored before, if that is why it
/// failed: the index in the batch of the first such write.
pub(super) fn duplicate_at(error: &mongodb::error::Error) -> Option<usize> {
    let errors = match &*error.kind {
        ErrorKind::InsertMany(e) => e.write_errors.as_ref()?.clone(),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(e)) => {
            return (e.code == DUPLICATE_KEY).then_some(0)
        }
        _ => return None,
    };
    let first = errors.iter().min_by_key(|e| e.index)?;
    (first.code == DUPLICATE_KEY).then_some(first.index)
}
