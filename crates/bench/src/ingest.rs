//! Transaction log ingest: the service's `POST /v1/transactions` against baseline (c), raw
//! inserts of equivalent records into its store through the store's own driver (the mongodb
//! crate's `insert_many`, or sqlx for SQLite), for batches of 1, 100 and 1 000 events, with
//! `event_id`s of the kind `--event-ids` names.

use std::str::FromStr;
pub use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use mongodb::bson::{self, doc, Document};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use uuid::Uuid;

use crate::cli::EventIds;
use crate::fixtures;
use crate::load::Op;

const EVENT_ID: &str = "00000000-0000-7000-8000-000000000000";

/// An `order.get` event as JSON with a placeholder id, so fresh ones cost a string copy.
pub fn template() -> String {
    let mut event = fixtures::event(
        "order.get",
        "GET",
        Some(Uuid::now_v7()),
        None,
        Some(fixtures::order_doc(Uuid::now_v7(), 1, None)),
    );
    event.event_id = EVENT_ID.parse().unwrap_or_default();
    serde_json::to_string(&event).unwrap_or_default()
}

/// The [`template`] event with a fresh id of kind `ids`.
pub fn fresh_event(template: &str, ids: EventIds) -> String {
    template.replace(EVENT_ID, &ids.fresh().to_string())
}

/// `POST /v1/transactions` with `batch` new events per request.
pub fn service_op(
    http: reqwest::Client,
    base: &str,
    token: String,
    batch: usize,
    ids: EventIds,
) -> Op {
    let url = Arc::new(format!("{base}/v1/transactions"));
    let template = Arc::new(template());
    Arc::new(move |_| {
        let (http, url, token, template) =
            (http.clone(), url.clone(), token.clone(), template.clone());
        async move {
            let mut body = String::with_capacity(batch * (template.len() + 1) + 32);
            body.push_str("{\"transactions\":[");
            for i in 0..batch {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(&fresh_event(&template, ids));
            }
            body.push_str("]}");
            let response = http
                .post(url.as_str())
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            answered_200(response).await
        }
        .boxed()
    })
}

/// Ok when `response` is a 200; else an error naming the status and the body.
pub async fn answered_200(response: reqwest::Response) -> anyhow::Result<()> {
    let status = response.status();
    let text = response.bytes().await?;
    anyhow::ensure!(
        status == 200,
        "answered {status}: {}",
        String::from_utf8_lossy(&text)
    );
    Ok(())
}

/// One sealed-looking record: what the service stores per event (canonical text with the
/// chain fields, a hash, the index fields).
struct RawRecord {
    seq: i64,
    event_id: String,
    transaction_id: String,
    recorded_at: chrono::DateTime<chrono::Utc>,
    canonical: String,
    hash: String,
}

fn raw_record(template: &str, seq: i64, ids: EventIds) -> RawRecord {
    let event_id = ids.fresh().to_string();
    let transaction_id = Uuid::now_v7().to_string();
    let recorded_at = chrono::Utc::now();
    let mut canonical = template.replace(EVENT_ID, &event_id);
    canonical.pop();
    canonical.push_str(&format!(
        r#","prev_hash":"{}","recorded_at":"{}","seq":{seq},"transaction_id":"{transaction_id}"}}"#,
        "0".repeat(64),
        recorded_at.to_rfc3339()
    ));
    RawRecord {
        seq,
        event_id,
        transaction_id,
        recorded_at,
        canonical,
        hash: format!("{:064x}", seq),
    }
}

/// Where raw records go.
#[derive(Clone)]
pub enum RawStore {
    Mongo(mongodb::Collection<Document>),
    Sqlite(SqlitePool),
}

impl RawStore {
    /// The service's collection and indexes, in a database of its own (`txlog_raw`) on the
    /// MongoDB server on `port`.
    pub async fn mongo(port: u16) -> anyhow::Result<Self> {
        let url = format!("mongodb://127.0.0.1:{port}/txlog_raw?directConnection=true");
        let db = txlog_service::store::mongo::open(&url).await?;
        txlog_service::store::mongo::ensure_indexes(&db).await?;
        Ok(Self::Mongo(
            db.collection(txlog_service::store::RECORDS_COLLECTION),
        ))
    }

    /// A fresh SQLite file with the service's schema, opened like the service opens it.
    pub async fn sqlite(path: &std::path::Path) -> anyhow::Result<Self> {
        let url = format!("sqlite://{}", path.display());
        drop(txlog_service::store::connect(&url).await?);
        let options = SqliteConnectOptions::from_str(&url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Ok(Self::Sqlite(pool))
    }

    async fn insert(&self, records: Vec<RawRecord>) -> anyhow::Result<()> {
        match self {
            Self::Mongo(collection) => {
                let docs: Vec<Document> = records
                    .into_iter()
                    .map(|r| {
                        doc! {
                            "_id": r.seq,
                            "event_id": r.event_id,
                            "transaction_id": r.transaction_id,
                            "order_id": Uuid::nil().to_string(),
                            "actor": fixtures::CUSTOMER,
                            "operation": "order.get",
                            "outcome": "success",
                            "recorded_at": bson::DateTime::from_millis(r.recorded_at.timestamp_millis()),
                            "canonical": r.canonical,
                            "hash": r.hash,
                        }
                    })
                    .collect();
                collection.insert_many(docs).ordered(true).await?;
            }
            Self::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                for r in records {
                    sqlx::query(
                        "INSERT INTO records (seq, event_id, transaction_id, order_id, actor, operation, outcome, recorded_at, canonical, hash) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(r.seq)
                    .bind(r.event_id)
                    .bind(r.transaction_id)
                    .bind(Uuid::nil().to_string())
                    .bind(fixtures::CUSTOMER)
                    .bind("order.get")
                    .bind("success")
                    .bind(r.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .bind(r.canonical)
                    .bind(r.hash)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Inserts `batch` new records per call, numbered on from `next`.
    pub fn op(&self, batch: usize, next: Arc<AtomicI64>, ids: EventIds) -> Op {
        let store = self.clone();
        let template = Arc::new(template());
        Arc::new(move |_| {
            let (store, template, next) = (store.clone(), template.clone(), next.clone());
            async move {
                let first = next.fetch_add(batch as i64, Ordering::Relaxed);
                let records = (0..batch as i64)
                    .map(|i| raw_record(&template, first + i, ids))
                    .collect();
                store.insert(records).await
            }
            .boxed()
        })
    }
}
