//! Several `txlog-service` processes appending to one store at once: the chain stays
//! gap-free and valid (MongoDB wire protocol via FerretDB, and one SQLite file).

use crate::common;

use std::collections::HashSet;

use common::process::ServiceProcess;
use common::{events, token, Backend, TestDb, READ, WRITE};
use serde_json::{json, Value};

const CLIENTS_PER_PROCESS: usize = 3;
const BATCHES_PER_CLIENT: usize = 8;
const EVENTS_PER_BATCH: usize = 10;

async fn post(client: &reqwest::Client, url: &str, batch: &[Value]) -> Vec<Value> {
    let response = client
        .post(url)
        .bearer_auth(token("order-service", WRITE))
        .json(&json!({"transactions": batch}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let body: Value = response.json().await.unwrap();
    body["results"].as_array().unwrap().clone()
}

/// Clients on every process append fresh batches; every other batch is also delivered to the
/// other process at the same moment, as a relay retrying against another replica would.
async fn append_concurrently(services: &[ServiceProcess]) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for (k, service) in services.iter().enumerate() {
        let other = &services[(k + 1) % services.len()];
        for _ in 0..CLIENTS_PER_PROCESS {
            let client = client.clone();
            let (url, other_url) = (
                service.url("/v1/transactions"),
                other.url("/v1/transactions"),
            );
            tasks.push(tokio::spawn(async move {
                let mut results = Vec::new();
                for i in 0..BATCHES_PER_CLIENT {
                    let batch = events(EVENTS_PER_BATCH);
                    if i % 2 == 1 {
                        results.extend(post(&client, &url, &batch).await);
                        continue;
                    }
                    let (a, b) = tokio::join!(
                        post(&client, &url, &batch),
                        post(&client, &other_url, &batch)
                    );
                    results.extend(a);
                    results.extend(b);
                }
                results
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

async fn two_processes_keep_one_chain(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let services = [
        ServiceProcess::start(&db.url),
        ServiceProcess::start(&db.url),
    ];
    let results = append_concurrently(&services).await;
    let expected = services.len() * CLIENTS_PER_PROCESS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH;

    let stored: Vec<&Value> = results.iter().filter(|r| r["duplicate"] == false).collect();
    assert_eq!(
        stored.len(),
        expected,
        "each distinct event stored exactly once"
    );
    let seqs: HashSet<u64> = stored.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (0..expected as u64).collect::<HashSet<u64>>(),
        "seq has no gap and no repeat"
    );
    for duplicate in results.iter().filter(|r| r["duplicate"] == true) {
        let first = stored
            .iter()
            .find(|r| r["event_id"] == duplicate["event_id"])
            .unwrap();
        assert_eq!(
            (&first["seq"], &first["transaction_id"]),
            (&duplicate["seq"], &duplicate["transaction_id"])
        );
    }

    let client = reqwest::Client::new();
    for service in &services {
        let report: Value = client
            .get(service.url("/v1/transactions/verify?full=true"))
            .bearer_auth(token("auditor", READ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["checked"], expected);
        assert_eq!(report["head"]["seq"], expected - 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_mongodb_server() {
    two_processes_keep_one_chain(Backend::Mongo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_sqlite_file() {
    two_processes_keep_one_chain(Backend::Sqlite).await;
}
