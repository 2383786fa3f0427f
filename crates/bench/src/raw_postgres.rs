//! Baseline (a): PostgreSQL through sqlx doing, per request, the statements the order service
//! does for it (see crates/order-service/src/store/sql/), with nothing around them: no
//! HTTP, no authentication, no JSON (documents and events are prepared once).

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rand::Rng;
use sqlx::postgres::{PgPool, PgPoolOptions};
use uuid::Uuid;

use crate::fixtures;
use crate::load::{Op, Turn};
use crate::profiles::{owned_id, random_id, Profile};

const INSERT_ORDER: &str =
    "INSERT INTO orders (id, customer_id, status, version, created_at, doc) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const UPDATE_ORDER: &str =
    "UPDATE orders SET status = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5";
const INSERT_EVENT: &str = "INSERT INTO outbox (event_id, payload, created_at) VALUES ($1, $2, $3)";
/// A create as the service sends it to PostgreSQL: the order, then its event from `RETURNING`.
const CREATE_IN_ONE: &str = "WITH changed AS (INSERT INTO orders \
     (id, customer_id, status, version, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6) \
     RETURNING 1) INSERT INTO outbox (event_id, payload, created_at) SELECT $7, $8, $9 FROM changed";
/// A patch as the service sends it: the update, its event when it changed the row, the count.
const PATCH_IN_ONE: &str = "WITH changed AS (UPDATE orders SET status = $1, version = $2, \
     doc = $3 WHERE id = $4 AND version = $5 RETURNING 1), recorded AS (INSERT INTO outbox \
     (event_id, payload, created_at) SELECT $6, $7, $8 FROM changed) SELECT COUNT(*) FROM changed";

/// The order service's `PgStore` pool size: the baseline gets no more connections than it.
pub const SERVICE_POOL_SIZE: usize = 16;

/// Prepared texts, shaped like the service's.
struct Texts {
    doc: String,
    create_event: String,
    get_event: String,
    list_event: String,
    update_event: String,
}

#[derive(Clone)]
pub struct RawPostgres {
    pool: PgPool,
    ids: Arc<Vec<Uuid>>,
    concurrency: usize,
    texts: Arc<Texts>,
    /// Writes as the order service sends them to PostgreSQL: the order change and its outbox
    /// row as one data-modifying `WITH` (one round trip), not `BEGIN`, two statements and
    /// `COMMIT` (four).
    one_statement: bool,
}

fn micros_now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds a new order's six columns, with `doc` as its document.
fn new_order<'q>(query: PgQuery<'q>, doc: &'q str) -> PgQuery<'q> {
    query
        .bind(Uuid::now_v7())
        .bind(fixtures::CUSTOMER)
        .bind("pending")
        .bind(1_i64)
        .bind(micros_now())
        .bind(doc)
}

/// Binds an order's update: status, the next version, `doc`, its id and the version read.
fn changed_order(query: PgQuery<'_>, id: Uuid, version: i64, doc: String) -> PgQuery<'_> {
    query
        .bind("pending")
        .bind(version + 1)
        .bind(doc)
        .bind(id)
        .bind(version)
}

/// Binds a new outbox row carrying `payload`: a fresh event id, the payload, now.
fn new_event<'q>(query: PgQuery<'q>, payload: &'q str) -> PgQuery<'q> {
    query.bind(Uuid::now_v7()).bind(payload).bind(micros_now())
}

impl RawPostgres {
    /// Connects to a fresh database, creates the order service's schema (by its own
    /// migrations) and inserts `seed` orders.
    pub async fn prepare(url: &str, seed: usize) -> anyhow::Result<Self> {
        drop(order_service::store::connect(url).await?);
        let pool = PgPoolOptions::new()
            .max_connections(SERVICE_POOL_SIZE as u32)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        let id = Uuid::now_v7();
        let doc = fixtures::order_doc(id, 1, None);
        let page = serde_json::json!({"items": vec![doc.clone(); 50], "next_cursor": id});
        let event = |op: &str, method: &str, id: Option<Uuid>, req, resp| {
            serde_json::to_string(&fixtures::event(op, method, id, req, resp)).unwrap_or_default()
        };
        let texts = Texts {
            doc: doc.to_string(),
            create_event: event(
                "order.create",
                "POST",
                Some(id),
                Some(fixtures::order_input()),
                Some(doc.clone()),
            ),
            get_event: event("order.get", "GET", Some(id), None, Some(doc.clone())),
            list_event: event("order.list", "GET", None, None, Some(page)),
            update_event: event(
                "order.update",
                "PATCH",
                Some(id),
                Some(serde_json::json!({"notes": "bench 0 0"})),
                Some(doc.clone()),
            ),
        };
        let mut ids = Vec::with_capacity(seed);
        for _ in 0..seed {
            let id = Uuid::now_v7();
            sqlx::query(INSERT_ORDER)
                .bind(id)
                .bind(fixtures::CUSTOMER)
                .bind("pending")
                .bind(1_i64)
                .bind(micros_now())
                .bind(fixtures::order_doc(id, 1, None).to_string())
                .execute(&pool)
                .await?;
            ids.push(id);
        }
        Ok(Self {
            pool,
            ids: Arc::new(ids),
            concurrency: 1,
            texts: Arc::new(texts),
            one_statement: false,
        })
    }

    async fn insert_event(&self, payload: &str) -> anyhow::Result<()> {
        new_event(sqlx::query(INSERT_EVENT), payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// This baseline with its writes as one statement each.
    pub fn in_one_statement(&self) -> Self {
        Self {
            one_statement: true,
            ..self.clone()
        }
    }

    async fn create(&self) -> anyhow::Result<()> {
        if self.one_statement {
            let query = new_order(sqlx::query(CREATE_IN_ONE), &self.texts.doc);
            new_event(query, &self.texts.create_event)
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        new_order(sqlx::query(INSERT_ORDER), &self.texts.doc)
            .execute(&mut *tx)
            .await?;
        new_event(sqlx::query(INSERT_EVENT), &self.texts.create_event)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self) -> anyhow::Result<()> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM orders WHERE id = $1")
            .bind(random_id(&self.ids))
            .fetch_optional(&self.pool)
            .await?;
        anyhow::ensure!(doc.is_some(), "a seeded order is missing");
        self.insert_event(&self.texts.get_event).await
    }

    async fn list(&self) -> anyhow::Result<()> {
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM orders WHERE 1 = 1 AND customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(fixtures::CUSTOMER)
        .bind(51_i64)
        .fetch_all(&self.pool)
        .await?;
        anyhow::ensure!(!docs.is_empty(), "no orders listed");
        self.insert_event(&self.texts.list_event).await
    }

    async fn patch(&self, turn: Turn) -> anyhow::Result<()> {
        let id = owned_id(&self.ids, self.concurrency, turn);
        let (version, doc): (i64, String) =
            sqlx::query_as("SELECT version, doc FROM orders WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        if self.one_statement {
            let query = changed_order(sqlx::query(PATCH_IN_ONE), id, version, doc);
            let row = new_event(query, &self.texts.update_event)
                .fetch_one(&self.pool)
                .await?;
            let done: i64 = sqlx::Row::try_get(&row, 0)?;
            anyhow::ensure!(done == 1, "the order changed under the update");
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let done = changed_order(sqlx::query(UPDATE_ORDER), id, version, doc)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        anyhow::ensure!(done == 1, "the order changed under the update");
        new_event(sqlx::query(INSERT_EVENT), &self.texts.update_event)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn one(&self, profile: Profile, turn: Turn) -> anyhow::Result<()> {
        let profile = match profile {
            Profile::Mix => Profile::of_mix(rand::thread_rng().gen_range(0..100)),
            single => single,
        };
        match profile {
            Profile::Create => self.create().await,
            Profile::Get => self.get().await,
            Profile::List => self.list().await,
            Profile::Patch => self.patch(turn).await,
            Profile::Mix => unreachable!("a mix resolves to one of the other profiles"),
        }
    }

    /// The ops of `concurrency` workers (patches split the orders among them).
    pub fn op(&self, profile: Profile, concurrency: usize) -> Op {
        let raw = Self {
            concurrency,
            ..self.clone()
        };
        Arc::new(move |turn| {
            let raw = raw.clone();
            async move { raw.one(profile, turn).await }.boxed()
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
