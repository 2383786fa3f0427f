//! The store conformance suite, run over HTTP against the real application on each backend:
//! SQLite (embedded) and MongoDB (a FerretDB server, prepared by `txlog-service setup`).

use crate::common;

use std::collections::HashSet;

use common::{event, events, seqs, Backend, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

on_both_stores!(
    records_follow_the_chain_rule,
    an_invalid_event_stores_nothing,
    redelivery_is_idempotent,
    filters_select_records,
    cursors_page_in_both_orders,
    concurrent_appends_stay_gap_free,
    simultaneous_redelivery_keeps_the_chain_valid,
    abandoned_deliveries_leave_the_store_working,
    the_store_itself_refuses_a_second_record_of_an_event,
    list_filters_have_indexes,
    time_bounds_page_like_a_filter_of_every_record,
);

/// sha256(prev_hash ++ JCS(record without hash)), as an auditor computes it.
fn recompute(record: &Value) -> String {
    let mut unsealed = record.clone();
    unsealed.as_object_mut().unwrap().remove("hash");
    let canonical = serde_json_canonicalizer::to_string(&unsealed).unwrap();
    let prev = record["prev_hash"].as_str().unwrap();
    hex::encode(Sha256::digest(format!("{prev}{canonical}")))
}

async fn records_follow_the_chain_rule(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let sent = events(3);
    let results = app.append(&sent).await;
    assert_eq!(seqs(&results), [0, 1, 2]);
    let mut prev = "0".repeat(64);
    for (input, result) in sent.iter().zip(&results) {
        assert_eq!(result["event_id"], input["event_id"]);
        assert_eq!(result["duplicate"], false);
        let id = result["transaction_id"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
        let record = app.get_json(&format!("/v1/transactions/{id}")).await;
        for key in txlog_api::Event::FIELDS {
            assert_eq!(record[key], input[key], "{key}");
        }
        assert_eq!(record["seq"], result["seq"]);
        assert_eq!(record["prev_hash"], prev.as_str());
        assert_eq!(record["hash"].as_str().unwrap(), recompute(&record));
        assert!(record["recorded_at"].as_str().unwrap().ends_with('Z'));
        prev = record["hash"].as_str().unwrap().to_owned();
    }
    let report = app.verify().await;
    assert_eq!(
        report,
        json!({"valid": true, "checked": 3, "head": {"seq": 2, "hash": prev}, "first_invalid_seq": null, "since": null, "complete": true})
    );
}

async fn an_invalid_event_stores_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mut batch = events(3);
    batch.push(event(|e| e["outcome"] = json!("maybe")));
    let response = app.post_batch(&batch).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/validation-error");
    assert_eq!(problem["errors"][0]["field"], "transactions[3].outcome");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get_json("/v1/transactions").await,
        json!({"items": [], "next_cursor": null})
    );
    assert_eq!(
        app.verify().await,
        json!({"valid": true, "checked": 0, "head": null, "first_invalid_seq": null, "since": null, "complete": true})
    );
    let results = app.append(&batch[..3]).await;
    assert_eq!(seqs(&results), [0, 1, 2], "the refused batch used no seq");
}

async fn redelivery_is_idempotent(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (a, b, c) = (event(|_| {}), event(|_| {}), event(|_| {}));
    let first = app.append(&[a.clone(), b.clone(), a.clone()]).await;
    assert_eq!(seqs(&first), [0, 1, 0]);
    assert_eq!(
        first
            .iter()
            .map(|r| r["duplicate"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(first[2]["transaction_id"], first[0]["transaction_id"]);
    let again = app.append(&[b.clone(), c.clone()]).await;
    assert_eq!(again[0]["transaction_id"], first[1]["transaction_id"]);
    assert_eq!(again[0]["seq"], 1);
    assert_eq!(again[0]["duplicate"], true);
    assert_eq!(again[1]["seq"], 2);
    assert_eq!(again[1]["duplicate"], false);
    // A redelivered event with a changed body still answers with its first storage.
    let changed = event(|e| {
        e["event_id"] = a["event_id"].clone();
        e["operation"] = json!("order.delete");
    });
    let third = app.append(&[changed]).await;
    assert_eq!(
        (third[0]["seq"].as_u64(), third[0]["duplicate"].as_bool()),
        (Some(0), Some(true))
    );
    let all = app.all("order=asc").await;
    assert_eq!(seqs(&all), [0, 1, 2]);
    assert_eq!(all[0]["operation"], "order.get");
    assert_eq!(app.verify().await["checked"], 3);
}

/// 12 records: order `o-{i % 3}`, actor alice/bob alternating, operation create for i < 4,
/// outcome denied for i % 4 == 3; the last 6 are appended a little later than the first 6.
async fn twelve(app: &TestApp) -> Vec<Value> {
    let make = |i: usize| {
        event(move |e| {
            e["order_id"] = json!(format!("o-{}", i % 3));
            e["actor"] = match i % 2 {
                0 => json!({"sub": "alice", "scopes": []}),
                _ => json!({"sub": "bob", "scopes": ["x"]}),
            };
            if i < 4 {
                e["operation"] = json!("order.create");
            }
            if i % 4 == 3 {
                e["outcome"] = json!("denied");
                e["actor"] = Value::Null;
            }
        })
    };
    app.append(&(0..6).map(make).collect::<Vec<_>>()).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.append(&(6..12).map(make).collect::<Vec<_>>()).await;
    app.all("order=asc").await
}

async fn filters_select_records(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let all = twelve(&app).await;
    assert_eq!(seqs(&all), (0..12).collect::<Vec<u64>>());
    let query = |q: &'static str| {
        let app = &app;
        async move {
            seqs(
                app.get_json(&format!("/v1/transactions?{q}")).await["items"]
                    .as_array()
                    .unwrap(),
            )
        }
    };
    assert_eq!(
        query("").await,
        (0..12).rev().collect::<Vec<u64>>(),
        "newest first by default"
    );
    assert_eq!(query("order_id=o-1").await, [10, 7, 4, 1]);
    assert_eq!(query("actor=bob").await, [9, 5, 1]);
    assert_eq!(query("operation=order.create").await, [3, 2, 1, 0]);
    assert_eq!(query("outcome=denied").await, [11, 7, 3]);
    assert_eq!(query("order_id=o-0&actor=alice&order=asc").await, [0, 6]);
    assert_eq!(query("order_id=nope").await, Vec::<u64>::new());
    let later = all[6]["recorded_at"]
        .as_str()
        .unwrap()
        .replace('Z', "+00:00")
        .replace('+', "%2B");
    assert!(all[5]["recorded_at"].as_str() < all[6]["recorded_at"].as_str());
    let from = seqs(
        app.get_json(&format!("/v1/transactions?order=asc&from={later}"))
            .await["items"]
            .as_array()
            .unwrap(),
    );
    assert_eq!(from, (6..12).collect::<Vec<u64>>(), "from is inclusive");
    let to = seqs(
        app.get_json(&format!("/v1/transactions?order=asc&to={later}"))
            .await["items"]
            .as_array()
            .unwrap(),
    );
    assert_eq!(to, (0..6).collect::<Vec<u64>>(), "to is exclusive");
}

async fn cursors_page_in_both_orders(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    twelve(&app).await;
    let first = app.get_json("/v1/transactions?limit=5").await;
    assert_eq!(seqs(first["items"].as_array().unwrap()), [11, 10, 9, 8, 7]);
    assert!(first["next_cursor"].is_string());
    assert_eq!(
        seqs(&app.all("limit=5").await),
        (0..12).rev().collect::<Vec<u64>>()
    );
    assert_eq!(
        seqs(&app.all("limit=5&order=asc").await),
        (0..12).collect::<Vec<u64>>()
    );
    assert_eq!(
        seqs(&app.all("limit=2&order=asc&actor=alice").await),
        [0, 2, 4, 6, 8, 10]
    );
    assert_eq!(
        seqs(&app.all("limit=1&order=desc&outcome=denied").await),
        [11, 7, 3]
    );
    let exact = app.get_json("/v1/transactions?limit=12").await;
    assert_eq!(exact["items"].as_array().unwrap().len(), 12);
    assert_eq!(
        exact["next_cursor"],
        Value::Null,
        "no cursor when nothing follows"
    );
}

async fn concurrent_appends_stay_gap_free(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..4 {
                app.append(&events(5)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = app.verify().await;
    assert_eq!(
        (report["valid"].as_bool(), report["checked"].as_u64()),
        (Some(true), Some(120)),
        "{report}"
    );
    let all = app.all("order=asc&limit=500").await;
    assert_eq!(seqs(&all), (0..120).collect::<Vec<u64>>());
    let ids: HashSet<&str> = all
        .iter()
        .map(|r| r["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 120);
}

/// The same batch delivered four times at once: each event is stored once, and the chain
/// stays valid and gap-free. On MongoDB the unique `event_id` index is in place; exactly-once
/// also holds without it, because a writer reads the head before its duplicate pre-check.
async fn simultaneous_redelivery_keeps_the_chain_valid(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let batch = events(20);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (app, batch) = (app.clone(), batch.clone());
        tasks.push(tokio::spawn(async move { app.append(&batch).await }));
    }
    for task in tasks {
        let results = task.await.unwrap();
        assert_eq!(results.len(), 20);
    }
    let report = app.verify().await;
    assert_eq!(report["valid"], true, "{report}");
    let all = app.all("order=asc&limit=500").await;
    assert_eq!(seqs(&all), (0..all.len() as u64).collect::<Vec<u64>>());
    assert_eq!(all.len(), 20, "each event stored exactly once");
}

/// Senders that give up mid-request (a client timeout, a killed order service): whatever
/// point an append had reached, the store keeps working, the chain stays valid and gap-free,
/// and redelivering every batch stores each event exactly once.
async fn abandoned_deliveries_leave_the_store_working(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let batches: Vec<Vec<Value>> = (0..30).map(|_| events(20)).collect();
    let impatient = reqwest::Client::new();
    for (i, batch) in batches.iter().enumerate() {
        // From well before to just after the append's commit.
        let patience = std::time::Duration::from_micros(500 + (i as u64 % 10) * 700);
        let _ = impatient
            .post(app.url("/v1/transactions"))
            .bearer_auth(common::token("order-service", common::WRITE))
            .json(&json!({ "transactions": batch }))
            .timeout(patience)
            .send()
            .await;
    }
    for batch in &batches {
        assert_eq!(app.append(batch).await.len(), 20);
    }
    let report = app.verify().await;
    assert_eq!(report["valid"], true, "{report}");
    let all = app.all("order=asc&limit=500").await;
    assert_eq!(seqs(&all), (0..600).collect::<Vec<u64>>());
}

/// A record for an event already stored, written straight into the store at the next seq
/// (a writer that skipped the pre-check): the store's own unique `event_id` constraint
/// refuses it. On MongoDB the index comes from `setup`.
async fn the_store_itself_refuses_a_second_record_of_an_event(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let sent = events(2);
    app.append(&sent).await;
    let event_id = sent[0]["event_id"].as_str().unwrap().to_owned();
    let refused = match backend {
        Backend::Sqlite => {
            let mut raw = raw_sqlite(&app).await;
            sqlx::query(
                "INSERT INTO records (seq, event_id, transaction_id, order_id, actor, operation, outcome, \
                 recorded_at, canonical, hash) VALUES (2, ?, ?, NULL, NULL, 'order.get', 'success', \
                 '2026-11-25T10:00:00.000Z', '{}', 'x')",
            )
            .bind(&event_id)
            .bind(uuid::Uuid::now_v7().to_string())
            .execute(&mut raw)
            .await
            .unwrap_err()
            .to_string()
        }
        Backend::Mongo => {
            let records = raw_mongo(&app).await;
            let duplicate = mongodb::bson::doc! {
                "_id": 2_i64, "event_id": &event_id, "transaction_id": uuid::Uuid::now_v7().to_string(),
            };
            records.insert_one(duplicate).await.unwrap_err().to_string()
        }
    };
    assert!(
        refused.to_lowercase().contains("unique") || refused.contains("11000"),
        "{refused}"
    );
    assert_eq!(seqs(&app.all("order=asc").await), [0, 1]);
}

/// `from` and `to` (turned into `seq` bounds by the stores) select exactly the records an
/// auditor's filter on `recorded_at` selects, with records sharing a millisecond, every bound
/// at and between the records' instants, both orders, paged two at a time, with a filter.
async fn time_bounds_page_like_a_filter_of_every_record(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for batch in 0..3 {
        app.append(&events(3)).await;
        if batch < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }
    let all = app.all("order=asc").await;
    let time = |r: &Value| r["recorded_at"].as_str().unwrap().to_owned();
    let mut instants: Vec<String> = all.iter().map(time).collect();
    instants.dedup();
    // Each instant, and a millisecond later (between records, or after the last).
    let mut bounds = Vec::new();
    for t in &instants {
        let parsed: chrono::DateTime<chrono::Utc> = t.parse().unwrap();
        bounds.push(t.clone());
        bounds.push(txlog_service::chain::format_time(
            parsed + chrono::Duration::milliseconds(1),
        ));
    }
    bounds.push("1999-01-01T00:00:00.000Z".to_owned());
    bounds.push("2099-01-01T00:00:00.000Z".to_owned());
    let expected = |from: Option<&str>, to: Option<&str>, outcome: Option<&str>| -> Vec<u64> {
        let kept: Vec<Value> = all
            .iter()
            .filter(|r| from.is_none_or(|f| time(r).as_str() >= f))
            .filter(|r| to.is_none_or(|t| time(r).as_str() < t))
            .filter(|r| outcome.is_none_or(|o| r["outcome"] == o))
            .cloned()
            .collect();
        seqs(&kept)
    };
    let param = |t: &str| t.replace('+', "%2B");
    for from in bounds.iter().map(Some).chain([None]) {
        for to in bounds.iter().map(Some).chain([None]) {
            let outcomes: &[Option<&str>] = if to.is_none() {
                &[None, Some("success")]
            } else {
                &[None]
            };
            for &outcome in outcomes {
                let mut query = String::from("limit=2");
                if let Some(f) = from {
                    query.push_str(&format!("&from={}", param(f)));
                }
                if let Some(t) = to {
                    query.push_str(&format!("&to={}", param(t)));
                }
                if let Some(o) = outcome {
                    query.push_str(&format!("&outcome={o}"));
                }
                let want = expected(from.map(String::as_str), to.map(String::as_str), outcome);
                let asc = seqs(&app.all(&format!("{query}&order=asc")).await);
                assert_eq!(asc, want, "{query}&order=asc");
                let mut desc = seqs(&app.all(&format!("{query}&order=desc")).await);
                desc.reverse();
                assert_eq!(desc, want, "{query}&order=desc");
            }
        }
    }
}

/// Every list filter (order id, actor, operation, outcome, time) is backed by an index whose
/// key starts with that field.
async fn list_filters_have_indexes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let leading: Vec<String> = match backend {
        Backend::Sqlite => {
            let mut raw = raw_sqlite(&app).await;
            let names: Vec<(String,)> = sqlx::query_as(
                "SELECT il.name FROM pragma_index_list('records') AS l, pragma_index_info(l.name) AS il \
                 WHERE il.seqno = 0",
            )
            .fetch_all(&mut raw)
            .await
            .unwrap();
            // Filters read the columns generated from the hashed text (`f_<field>`).
            names
                .into_iter()
                .map(|(n,)| n.strip_prefix("f_").map_or(n.clone(), str::to_owned))
                .collect()
        }
        Backend::Mongo => common::mongo::index_keys(&raw_mongo(&app).await)
            .await
            .into_iter()
            .filter_map(|keys| keys.into_iter().next())
            .collect(),
    };
    for field in [
        "event_id",
        "transaction_id",
        "order_id",
        "actor",
        "operation",
        "outcome",
        "recorded_at",
    ] {
        assert!(
            leading.iter().any(|l| l == field),
            "no index on {field}: {leading:?}"
        );
    }
    list_queries_use_the_indexes(&app, backend).await;
}

/// The queries `list` runs use those indexes: a time bound is one lookup on the `recorded_at`
/// index, then a range of `seq` (issue 28: `from` in the future scanned the whole table).
/// SQLite: no step of `EXPLAIN QUERY PLAN` scans the table (`SCAN records`) or sorts.
/// MongoDB: every `explain` shows an `IXSCAN` and no `COLLSCAN`. FerretDB 1.24 (the SQLite
/// handler the tests run) pushes no filter or sort down to its backend at all, whatever the
/// indexes, and says so (`filterPushdown: false`): there the check is that the list itself is
/// bounded by an `_id` range (when the bounds exclude anything), so that a server that can use
/// an index gets one.
async fn list_queries_use_the_indexes(app: &TestApp, backend: Backend) {
    use chrono::{DateTime, Utc};
    use txlog_service::store::{ListQuery, SortOrder};

    app.append(&events(3)).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let middle = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.append(&events(3)).await;
    let long_ago: DateTime<Utc> = "2000-01-01T00:00:00Z".parse().unwrap();
    let mut queries = Vec::new();
    for order in [SortOrder::Asc, SortOrder::Desc] {
        let query = |tweak: &dyn Fn(&mut ListQuery)| {
            let mut query = ListQuery {
                order,
                limit: 51,
                ..ListQuery::default()
            };
            tweak(&mut query);
            query
        };
        queries.extend([
            query(&|q| q.from = Some(long_ago)),
            query(&|q| q.from = Some(middle)),
            query(&|q| q.to = Some(middle)),
            query(&|q| {
                q.from = Some(long_ago);
                q.to = Some(middle);
                q.after = Some(1);
            }),
            query(&|q| {
                q.from = Some(long_ago);
                q.order_id = Some("no-such-order".into());
            }),
            query(&|q| {
                q.to = Some(middle);
                q.outcome = Some("success".into());
            }),
        ]);
    }
    match backend {
        Backend::Sqlite => {
            let store = txlog_service::store::SqliteStore::connect(&app.db.url)
                .await
                .unwrap();
            for query in &queries {
                let plan = store.list_plan(query).await.unwrap();
                assert!(
                    plan.iter()
                        .any(|step| step.contains("INDEX records_by_recorded_at")),
                    "{query:?}: the time bound is not looked up on its index: {plan:?}"
                );
                assert!(
                    plan.iter()
                        .all(|step| !step.starts_with("SCAN records")
                            && !step.contains("TEMP B-TREE")),
                    "{query:?}: {plan:?}"
                );
            }
        }
        Backend::Mongo => {
            let store = txlog_service::store::mongo::MongoStore::connect(&app.db.url)
                .await
                .unwrap();
            for query in &queries {
                let explained = store.list_explain(query).await.unwrap();
                let ferretdb = explained.iter().any(|e| {
                    e.get_document("serverInfo")
                        .is_ok_and(|s| s.contains_key("ferretdbVersion"))
                });
                for explain in &explained {
                    assert!(explain.to_string().contains("queryPlanner"), "{explain}");
                }
                // With `from` before every record, every record is at or after it: no bound.
                let bounded =
                    query.from == Some(middle) || query.to.is_some() || query.after.is_some();
                if ferretdb && bounded {
                    let list = explained.last().unwrap();
                    let stages = list
                        .get_document("command")
                        .and_then(|c| c.get_array("pipeline"))
                        .unwrap_or_else(|e| panic!("{e}: {list}"));
                    let matched = stages[0]
                        .as_document()
                        .unwrap()
                        .get_document("$match")
                        .unwrap();
                    assert!(
                        matched.get_document("_id").is_ok(),
                        "{query:?}: the list is not bounded by _id: {list}"
                    );
                } else if !ferretdb {
                    for explain in &explained {
                        let mut plans = Vec::new();
                        winning_plans(&mongodb::bson::Bson::Document(explain.clone()), &mut plans);
                        assert!(!plans.is_empty(), "{query:?}: {explain}");
                        for plan in plans {
                            assert!(
                                plan.contains("IXSCAN") && !plan.contains("COLLSCAN"),
                                "{query:?}: {plan}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Every `winningPlan` in a MongoDB `explain` answer, as text (an aggregation may nest its
/// query's plan in a `$cursor` stage).
fn winning_plans(value: &mongodb::bson::Bson, plans: &mut Vec<String>) {
    use mongodb::bson::Bson;
    match value {
        Bson::Document(d) => {
            for (key, value) in d {
                if key == "winningPlan" {
                    plans.push(value.to_string());
                } else {
                    winning_plans(value, plans);
                }
            }
        }
        Bson::Array(items) => items.iter().for_each(|v| winning_plans(v, plans)),
        _ => {}
    }
}

async fn raw_sqlite(app: &TestApp) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    sqlx::sqlite::SqliteConnectOptions::from_str(&app.db.url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn raw_mongo(app: &TestApp) -> mongodb::Collection<mongodb::bson::Document> {
    common::mongo::records(&app.db.url).await
}
