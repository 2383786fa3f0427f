//! Group commit (issue 30): calls that arrive while an append is busy are stored together in
//! the next one, and each call is answered with its own records, in its own order, once they
//! are stored. The grouping is made certain by another writer holding SQLite's write lock, so
//! the first append waits and the others queue behind it (the metrics show the queue). The
//! metrics are the test process's, so these tests need a process of their own each, as
//! `cargo nextest` (`.ci/run`) runs them.

use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::task::JoinHandle;

use crate::common;
use common::{event, events, token, Backend, TestApp, WRITE};

const GROUPS: &str = "txlog_append_groups_total";
const QUEUED: &str = "txlog_append_calls_queued";

on_both_stores!(threads = 4; concurrent_single_event_calls_each_get_their_own_records);

/// `POST /v1/transactions` as `submitter`, in a task; its `results`.
fn post(app: &TestApp, batch: Vec<Value>, submitter: &str) -> JoinHandle<Vec<Value>> {
    let (client, url, token) = (
        app.client.clone(),
        app.url("/v1/transactions"),
        token(submitter, WRITE),
    );
    tokio::spawn(async move {
        let response = client
            .post(url)
            .bearer_auth(token)
            .json(&json!({ "transactions": batch }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        let mut body: Value = response.json().await.unwrap();
        body["results"].as_array_mut().unwrap().drain(..).collect()
    })
}

/// Waits until the series `name` reads `value`.
async fn wait_for(app: &TestApp, name: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = app.metric(name, &[]).await;
        if now == value {
            return;
        }
        assert!(Instant::now() < deadline, "{name} is {now}, not {value}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An app on SQLite with one record stored, and another connection holding the file's write
/// lock: the next append waits for [`release`].
async fn blocked_app() -> (TestApp, SqliteConnection) {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.append(&events(1)).await;
    let mut holder = SqliteConnectOptions::from_str(&app.db.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    (app, holder)
}

async fn release(mut holder: SqliteConnection) {
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
}

/// Starts one call that waits on the lock inside its append, then queues `batches` one by
/// one (so their order is known); returns the first call and the queued ones.
async fn queue_behind_a_busy_append(
    app: &TestApp,
    batches: &[(Vec<Value>, &str)],
) -> (JoinHandle<Vec<Value>>, Vec<JoinHandle<Vec<Value>>>) {
    let groups = app.metric(GROUPS, &[]).await;
    let first = post(app, events(1), "order-service");
    wait_for(app, GROUPS, groups + 1.0).await;
    let mut queued = Vec::new();
    for (i, (batch, submitter)) in batches.iter().enumerate() {
        queued.push(post(app, batch.clone(), submitter));
        wait_for(app, QUEUED, (i + 1) as f64).await;
    }
    (first, queued)
}

fn ids(results: &[Value], field: &str) -> Vec<Value> {
    results.iter().map(|r| r[field].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_queued_behind_a_busy_append_are_stored_as_one_group() {
    let (app, holder) = blocked_app().await;
    let shared = event(|_| {});
    let mut batches: Vec<(Vec<Value>, &str)> = (0..18)
        .map(|i| (events(1 + i % 3), "order-service"))
        .collect();
    batches[3].0 = vec![shared.clone()];
    batches[7].0.insert(0, shared.clone());
    // Another submitter's call is not grouped with them: records carry their submitter.
    batches.push((events(2), "other-writer"));
    let groups = app.metric(GROUPS, &[]).await;
    let (first, queued) = queue_behind_a_busy_append(&app, &batches).await;
    release(holder).await;

    let first = first.await.unwrap();
    let mut answers = Vec::new();
    for call in queued {
        answers.push(call.await.unwrap());
    }
    assert_eq!(
        app.metric(GROUPS, &[]).await,
        groups + 3.0,
        "the first call, the 18 behind it, the other submitter's"
    );
    assert_eq!(app.metric(QUEUED, &[]).await, 0.0);
    let mut seqs = vec![first[0]["seq"].as_u64().unwrap()];
    for ((batch, submitter), results) in batches.iter().zip(&answers) {
        assert_eq!(
            ids(results, "event_id"),
            ids(batch, "event_id"),
            "own order"
        );
        for result in results.iter().filter(|r| r["duplicate"] == false) {
            seqs.push(result["seq"].as_u64().unwrap());
            let record = app
                .get_json(&format!(
                    "/v1/transactions/{}",
                    result["transaction_id"].as_str().unwrap()
                ))
                .await;
            assert_eq!(record["submitted_by"], *submitter);
            assert_eq!(record["seq"], result["seq"]);
        }
    }
    // The event sent twice is stored once; the second call gets the first storage's ids.
    assert_eq!(answers[7][0]["duplicate"], true);
    assert_eq!(answers[3][0]["duplicate"], false);
    assert_eq!(
        answers[7][0]["transaction_id"],
        answers[3][0]["transaction_id"]
    );
    assert_eq!(answers[7][0]["seq"], answers[3][0]["seq"]);
    let stored = seqs.len() as u64;
    assert_eq!(
        seqs,
        (1..=stored).collect::<Vec<_>>(),
        "one contiguous chain"
    );
    assert_eq!(app.verify().await["valid"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_holds_at_most_one_full_batch() {
    let (app, holder) = blocked_app().await;
    let batches: Vec<(Vec<Value>, &str)> = (0..3).map(|_| (events(400), "order-service")).collect();
    let groups = app.metric(GROUPS, &[]).await;
    let (first, queued) = queue_behind_a_busy_append(&app, &batches).await;
    release(holder).await;
    assert_eq!(first.await.unwrap().len(), 1);
    for call in queued {
        assert_eq!(call.await.unwrap().len(), 400);
    }
    assert_eq!(
        app.metric(GROUPS, &[]).await,
        groups + 3.0,
        "the first call, 800 events, 400 events"
    );
    assert_eq!(app.verify().await["valid"], true);
}

/// Many writers at once, one event each (and a few batches among them): every call answered
/// with its own records, every `seq` once, the chain valid and its checkpoint signed.
async fn concurrent_single_event_calls_each_get_their_own_records(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let batches: Vec<Vec<Value>> = (0..64)
        .map(|i| events(if i % 16 == 0 { 5 } else { 1 }))
        .collect();
    let calls: Vec<_> = batches
        .iter()
        .map(|batch| post(&app, batch.clone(), "order-service"))
        .collect();
    let mut seqs = Vec::new();
    for (batch, call) in batches.iter().zip(calls) {
        let results = call.await.unwrap();
        assert_eq!(ids(&results, "event_id"), ids(batch, "event_id"));
        assert!(results.iter().all(|r| r["duplicate"] == false));
        seqs.extend(common::seqs(&results));
    }
    seqs.sort_unstable();
    let stored = seqs.len() as u64;
    assert_eq!(seqs, (0..stored).collect::<Vec<_>>());
    assert_eq!(app.verify().await["valid"], true);
    app.checkpoint_of(stored).await;
    let groups = app.metric(GROUPS, &[]).await;
    assert!(
        (1.0..=64.0).contains(&groups),
        "{groups} groups for 64 calls"
    );
}
