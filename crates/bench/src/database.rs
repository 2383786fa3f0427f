//! PostgreSQL: a fresh database per target, and the outbox backlog of the order service.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};

/// Creates `ordersys_bench_<unique>` on the server of `admin_url` and returns its URL.
pub async fn fresh_database(admin_url: &str, label: &str) -> anyhow::Result<String> {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .map_err(|e| anyhow::anyhow!("PostgreSQL is required at {admin_url}: {e}"))?;
    let name = format!("ordersys_bench_{label}_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let server = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(server, _)| server);
    Ok(format!("{server}/{name}"))
}

/// Drops the databases this run created (best effort).
pub async fn drop_database(admin_url: &str, url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(mut conn) = PgConnection::connect(admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}

/// Events waiting in the order service's outbox.
pub async fn backlog(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(pool)
        .await?)
}

/// Waits until the outbox is empty (or `timeout`); returns the time it took and what is left.
pub async fn wait_drained(pool: &PgPool, timeout: Duration) -> anyhow::Result<(Duration, i64)> {
    let start = Instant::now();
    loop {
        let left = backlog(pool).await?;
        if left == 0 || start.elapsed() >= timeout {
            return Ok((start.elapsed(), left));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A load run and the outbox it filled.
pub struct Loaded {
    pub stats: crate::load::Stats,
    /// Events that left the outbox per second in the measured window (after the warm-up).
    pub delivered_per_s: f64,
    /// How much the backlog grew in the measured window (negative when it shrank).
    pub grew: i64,
    /// Events in the outbox when the load stopped.
    pub backlog: i64,
}

/// Events recorded so far (the outbox's id sequence) and events waiting, at one instant.
struct OutboxCount {
    at: Instant,
    recorded: i64,
    waiting: i64,
}

async fn count(pool: &PgPool) -> anyhow::Result<OutboxCount> {
    let (recorded, waiting) = sqlx::query_as(
        "SELECT (SELECT last_value FROM outbox_id_seq), (SELECT COUNT(*) FROM outbox)",
    )
    .fetch_one(pool)
    .await?;
    Ok(OutboxCount {
        at: Instant::now(),
        recorded,
        waiting,
    })
}

/// Runs `op` for `window`, counting the outbox when the measured window starts and when the
/// load stops: what was recorded in between and did not wait was delivered.
pub async fn load_with_outbox(
    outbox: &PgPool,
    window: crate::load::Window,
    op: crate::load::Op,
) -> anyhow::Result<Loaded> {
    let warmup = window.warmup;
    let (stats, start) = tokio::join!(crate::load::run(window, op), async {
        tokio::time::sleep(warmup).await;
        count(outbox).await
    });
    let (start, end) = (start?, count(outbox).await?);
    let delivered = (end.recorded - start.recorded) - (end.waiting - start.waiting);
    Ok(Loaded {
        stats,
        delivered_per_s: delivered as f64 / (end.at - start.at).as_secs_f64(),
        grew: end.waiting - start.waiting,
        backlog: end.waiting,
    })
}

/// Waits for the outbox to empty; an error when it does not within `timeout`.
pub async fn drain(outbox: &PgPool, timeout: Duration) -> anyhow::Result<Duration> {
    let (took, left) = wait_drained(outbox, timeout).await?;
    anyhow::ensure!(
        left == 0,
        "the outbox did not drain within {took:?} ({left} events left)"
    );
    Ok(took)
}
