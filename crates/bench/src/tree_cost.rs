//! What the verifiable log costs ingest (issue 13): appends straight into a store of the
//! service's kind, without and with what the service's checkpoint loop does once a second
//! (its default interval): extend the Merkle tree over the new records, check their seals and
//! sign it, and the seal each append computes and stores (SPEC section 12). Here that work
//! runs inline, between two appends, so all of it counts against ingest.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use txlog_service::store;
use txlog_service::transparency::Sequencer;
use txlog_service::transparency::{LogKey, Round, Signer, SigningStatus};

use crate::cli::EventIds;
use crate::fixtures;
use crate::load::Op;

/// A fresh store beside the service's: a SQLite file in `dir`, or a database of its own on
/// the FerretDB server at `port`. Both stores extend the Merkle tree in the append when the
/// stored hashes reach the first new record. Without `tree`, the store is given one hash far
/// ahead, so that its tree step stops at its first check (one lookup of the last stored run)
/// and it appends as before the verifiable log; with `tree`, its appends are sealed with the
/// key of [`signer`], as the service's are.
pub async fn fresh_store(
    dir: &std::path::Path,
    port: Option<u16>,
    name: &str,
    tree: bool,
) -> anyhow::Result<Arc<Sequencer>> {
    let url = match port {
        Some(port) => format!("mongodb://127.0.0.1:{port}/{name}?directConnection=true"),
        None => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
    };
    let store = store::connect(&url).await?;
    if !tree {
        hash_far_ahead(&url).await?;
        return Ok(Arc::new(Sequencer::new(store, None)));
    }
    let seal_key = key()?.seal_key().clone();
    Ok(Arc::new(Sequencer::new(store, Some(seal_key))))
}

/// Stores one (zero) tree hash at index 2^50.
async fn hash_far_ahead(url: &str) -> anyhow::Result<()> {
    const FAR: i64 = 1 << 50;
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::query("INSERT INTO tree_runs (first, hashes) VALUES (?, zeroblob(32))")
            .bind(FAR)
            .execute(&pool)
            .await?;
        pool.close().await;
    } else {
        use mongodb::bson::{doc, spec::BinarySubtype, Binary, Document};
        let hash = Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![0; 32],
        };
        store::mongo::open(url)
            .await?
            .collection::<Document>(store::TREE_COLLECTION)
            .insert_one(doc! {"_id": FAR, "hashes": hash})
            .await?;
    }
    Ok(())
}

fn events(batch: usize, ids: EventIds) -> Vec<txlog_api::Event> {
    (0..batch)
        .map(|_| {
            let mut event = fixtures::event("order.get", "GET", None, None, None);
            event.event_id = ids.fresh();
            event
        })
        .collect()
}

const SIGN_EVERY: Duration = Duration::from_secs(1);

/// Appends `batch` events (ids of kind `ids`) per call; with `signer`, then extends the tree
/// and signs it when the last checkpoint is a second old, and after the first call, as the
/// service's checkpoint loop signs when it starts. (Without that first round, the first one
/// would come after a second of appends and check the seals of all of them, once, inside the
/// measured window: the cost of a restart under load, not of ingest.)
pub fn op(log: Arc<Sequencer>, batch: usize, ids: EventIds, signer: Option<Arc<Signer>>) -> Op {
    let long_ago = Instant::now()
        .checked_sub(SIGN_EVERY)
        .unwrap_or_else(Instant::now);
    let signed = Arc::new(Mutex::new(long_ago));
    Arc::new(move |_| {
        let (log, signer, signed) = (log.clone(), signer.clone(), signed.clone());
        async move {
            log.append(&events(batch, ids), "bench").await?;
            let Some(signer) = signer else { return Ok(()) };
            let due = {
                let mut last = signed.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.elapsed() >= SIGN_EVERY;
                if due {
                    *last = Instant::now();
                }
                due
            };
            if due {
                if let Round::Refused(why) = signer.round().await? {
                    anyhow::bail!("the signer refused: {why}");
                }
            }
            Ok(())
        }
        .boxed()
    })
}

/// One key for the run: the stores with a tree seal with it and their signers sign with it.
fn key() -> anyhow::Result<Arc<LogKey>> {
    static KEY: std::sync::OnceLock<Arc<LogKey>> = std::sync::OnceLock::new();
    if let Some(key) = KEY.get() {
        return Ok(key.clone());
    }
    let key = Arc::new(LogKey::parse(&LogKey::generate("bench")?.0)?);
    Ok(KEY.get_or_init(|| key).clone())
}

/// A signer for `log`, with the key its appends are sealed with.
pub fn signer(log: Arc<Sequencer>) -> anyhow::Result<Arc<Signer>> {
    Ok(Arc::new(Signer::new(
        log,
        key()?,
        "bench/txlog".into(),
        Arc::new(SigningStatus::default()),
    )))
}
