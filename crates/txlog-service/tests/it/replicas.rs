//! Two transaction-log replicas on one store under load (SPEC section 10): both append and
//! both sign, and every checkpoint either signed is a tree of the one history: its root is
//! the root of the records' first `size` leaves, so each is consistent with every later one.

use crate::common;

use common::{events, log_key, token, Backend, TestApp, WRITE};
use serde_json::json;
use tlog_tiles::record_hash;
use txlog_service::transparency::checkpoint;
use txlog_verify::tree::MemoryTree;

on_both_stores!(threads = 4; two_replicas_sign_one_consistent_history);

const WRITERS: usize = 6;
const BATCHES: usize = 8;
const BATCH: usize = 3;

async fn two_replicas_sign_one_consistent_history(backend: Backend) {
    let Some(first) = TestApp::spawn(backend).await else {
        return;
    };
    let second = common::Replica::start(&first.db.url).await;
    let targets = [
        first.url("/v1/transactions"),
        second.url("/v1/transactions"),
    ];
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let targets = targets.clone();
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for b in 0..BATCHES {
                let response = client
                    .post(&targets[(w + b) % 2])
                    .bearer_auth(token("order-service", WRITE))
                    .json(&json!({"transactions": events(BATCH)}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let total = (WRITERS * BATCHES * BATCH) as u64;
    first.checkpoint_of(total).await;
    // Each replica accepts the records the other sealed: no refusal (SPEC section 12).
    for readyz in [first.url("/readyz"), second.url("/readyz")] {
        let response = reqwest::get(&readyz).await.unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }

    let mut tree = MemoryTree::default();
    for record in first.all("order=asc&limit=500").await {
        let leaf = serde_json_canonicalizer::to_string(&record).unwrap();
        tree.push(record_hash(leaf.as_bytes())).unwrap();
    }
    assert_eq!(tree.size(), total);
    let stored = common::tamper::checkpoints(&first.db).await;
    assert!(stored.len() > 1, "checkpoints were signed as the log grew");
    for (size, note) in &stored {
        let head = checkpoint::verify(note.as_bytes(), &log_key().1).unwrap();
        assert_eq!(head.size, *size);
        assert_eq!(
            head.root,
            tree.root(*size).unwrap(),
            "the checkpoint of size {size} is not a tree of the stored history"
        );
    }
    second.stop().await;
}
