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
            sqlx::query(
                "INSERT INTO orders (id, customer_id, status, version, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6)",
            )
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
        sqlx::query("INSERT INTO outbox (event_id, payload, created_at) VALUES ($1, $2, $3)")
            .bind(Uuid::now_v7())
            .bind(payload)
            .bind(micros_now())
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
            sqlx::query(
                "WITH changed AS (INSERT INTO orders (id, customer_id, status, version, created_at, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING 1) \
                 INSERT INTO outbox (event_id, payload, created_at) SELECT $7, $8, $9 FROM changed",
            )
            .bind(Uuid::now_v7())
            .bind(fixtures::CUSTOMER)
            .bind("pending")
            .bind(1_i64)
            .bind(micros_now())
            .bind(&self.texts.doc)
            .bind(Uuid::now_v7())
            .bind(&self.texts.create_event)
            .bind(micros_now())
            .execute(&self.pool)
            .await?;
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO orders (id, customer_id, status, version, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(fixtures::CUSTOMER)
        .bind("pending")
        .bind(1_i64)
        .bind(micros_now())
        .bind(&self.texts.doc)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO outbox (event_id, payload, created_at) VALUES ($1, $2, $3)")
            .bind(Uuid::now_v7())
            .bind(&self.texts.create_event)
            .bind(micros_now())
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
            let done: i64 = sqlx::query_scalar(
                "WITH changed AS (UPDATE orders SET status = $1, version = $2, doc = $3 \
                 WHERE id = $4 AND version = $5 RETURNING 1), \
                 recorded AS (INSERT INTO outbox (event_id, payload, created_at) \
                 SELECT $6, $7, $8 FROM changed) SELECT COUNT(*) FROM changed",
            )
            .bind("pending")
            .bind(version + 1)
            .bind(doc)
            .bind(id)
            .bind(version)
            .bind(Uuid::now_v7())
            .bind(&self.texts.update_event)
            .bind(micros_now())
            .fetch_one(&self.pool)
            .await?;
            anyhow::ensure!(done == 1, "the order changed under the update");
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE orders SET status = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5",
        )
        .bind("pending")
        .bind(version + 1)
        .bind(doc)
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        anyhow::ensure!(done == 1, "the order changed under the update");
        sqlx::query("INSERT INTO outbox (event_id, payload, created_at) VALUES ($1, $2, $3)")
            .bind(Uuid::now_v7())
            .bind(&self.texts.update_event)
            .bind(micros_now())
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
