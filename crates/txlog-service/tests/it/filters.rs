//! Filters that cannot lie (SPEC section 12). SQLite filters read columns generated from the
//! hashed text, which nobody can set; MongoDB keeps the filter fields beside the record, so
//! `GET /v1/transactions/index` shows them as stored for the auditor to compare, and a record
//! whose stored field was edited never reaches a list through that field.

use crate::common;

use std::str::FromStr;

use common::{event, events, seqs, token, Backend, TestApp, TestDb, WRITE};
use serde_json::{json, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

on_both_stores!(the_index_pages_the_stored_fields);

fn orders(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| event(|e| e["order_id"] = json!(format!("o-{i}"))))
        .collect()
}

/// Every entry of `GET /v1/transactions/index`, following the cursors, `limit` a page.
async fn index(app: &TestApp, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/transactions/index?limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get_json(&path).await;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

async fn the_index_pages_the_stored_fields(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.append(&orders(5)).await;
    let records = app.all("order=asc").await;
    let entries = index(&app, 2).await;
    assert_eq!(entries.len(), 5);
    for (entry, record) in entries.iter().zip(&records) {
        let fields = entry.as_object().unwrap();
        assert_eq!(fields.len(), 6, "{entry}");
        for field in ["seq", "order_id", "operation", "outcome", "recorded_at"] {
            assert_eq!(entry[field], record[field], "{field}");
        }
        assert_eq!(entry["actor"], record["actor"]["sub"]);
    }
    // The page answers as the list does: same cursor, same limits, unknown parameters refused.
    let page = app.get_json("/v1/transactions/index?limit=3").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let listed = app
        .get_json(&format!("/v1/transactions?order=asc&cursor={cursor}"))
        .await;
    assert_eq!(seqs(listed["items"].as_array().unwrap()), [3, 4]);
    for bad in ["limit=0", "limit=501", "cursor=!!", "order_id=o-1"] {
        let response = app.get(&format!("/v1/transactions/index?{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let writer = app
        .client
        .get(app.url("/v1/transactions/index"))
        .bearer_auth(token("order-service", WRITE))
        .send()
        .await
        .unwrap();
    assert_eq!(writer.status(), 403);
}

async fn raw_sqlite(db: &TestDb) -> SqliteConnection {
    SqliteConnectOptions::from_str(&db.url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The generated filter columns cannot be set, dropped or made to disagree with the text; the
/// plain columns of earlier releases can be edited (triggers dropped) but nothing reads them.
#[tokio::test]
async fn sqlite_filter_columns_follow_the_hashed_text() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.append(&orders(3)).await;
    let mut raw = raw_sqlite(&app.db).await;
    for statement in [
        "UPDATE records SET f_order_id = 'elsewhere' WHERE seq = 1",
        "ALTER TABLE records DROP COLUMN f_order_id",
    ] {
        let refused = sqlx::query(statement).execute(&mut raw).await;
        assert!(refused.is_err(), "{statement}");
    }
    for trigger in ["records_no_update", "records_no_delete"] {
        sqlx::query(&format!("DROP TRIGGER {trigger}"))
            .execute(&mut raw)
            .await
            .unwrap();
    }
    let refused = sqlx::query("UPDATE records SET f_order_id = 'elsewhere' WHERE seq = 1")
        .execute(&mut raw)
        .await;
    assert!(
        refused.unwrap_err().to_string().contains("generated"),
        "a generated column cannot be set even without triggers"
    );
    sqlx::query(
        "UPDATE records SET order_id = 'elsewhere', actor = 'mallory', operation = 'x', \
         outcome = 'denied' WHERE seq = 1",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    raw.close().await.unwrap();

    assert_eq!(seqs(&app.all("order_id=o-1").await), [1]);
    assert!(app.all("order_id=elsewhere").await.is_empty());
    assert_eq!(seqs(&app.all("actor=alice&order=asc").await), [0, 1, 2]);
    assert!(app.all("outcome=denied").await.is_empty());
    let entries = index(&app, 500).await;
    assert_eq!(entries[1]["order_id"], "o-1");
    assert_eq!(entries[1]["operation"], "order.get");
    let one = app.all("order=asc").await[1].clone();
    let by_id = app
        .get_json(&format!(
            "/v1/transactions/{}",
            one["transaction_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id, one);
    assert_eq!(app.verify_full().await["valid"], true);
}

/// The records' UPDATE trigger lets exactly one change through: a missing seal set once.
#[tokio::test]
async fn sqlite_only_a_missing_seal_may_be_set() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.append(&events(2)).await;
    let mut raw = raw_sqlite(&app.db).await;
    let seal = vec![7u8; 32];
    for (statement, bind) in [
        ("UPDATE records SET seal = ? WHERE seq = 0", Some(&seal)),
        ("UPDATE records SET seal = NULL WHERE seq = 0", None),
        ("UPDATE records SET order_id = 'x' WHERE seq = 0", None),
    ] {
        let mut query = sqlx::query(statement);
        if let Some(bind) = bind {
            query = query.bind(bind.clone());
        }
        let refused = query.execute(&mut raw).await.unwrap_err().to_string();
        assert!(refused.contains("append-only"), "{statement}: {refused}");
    }
    // A record written without a seal (as before seals): only a 32-byte seal, nothing else.
    sqlx::query("DROP TRIGGER records_no_update")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("UPDATE records SET seal = NULL WHERE seq = 1")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();
    // The service restores its trigger at start (a replica starting).
    let store = txlog_service::store::connect(&app.db.url).await.unwrap();
    drop(store);
    let mut raw = raw_sqlite(&app.db).await;
    for statement in [
        "UPDATE records SET seal = x'0102' WHERE seq = 1",
        "UPDATE records SET seal = randomblob(32), hash = 'x' WHERE seq = 1",
    ] {
        let refused = sqlx::query(statement).execute(&mut raw).await;
        assert!(refused.is_err(), "{statement}");
    }
    sqlx::query("UPDATE records SET seal = randomblob(32) WHERE seq = 1")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();
}

/// A file written by the release before seals and generated columns (its schema verbatim):
/// the service adds the columns at start, `setup --seal-existing` seals the records, the log
/// signs and the filters find them.
#[tokio::test]
async fn sqlite_a_file_from_before_seals_migrates() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    // Records with a valid chain and tree, written without the key; then copied into a file
    // of the old schema.
    let source = TestDb::new(Backend::Sqlite).unwrap();
    let writer = txlog_service::transparency::Sequencer::new(
        txlog_service::store::connect(&source.url).await.unwrap(),
        None,
    );
    let batch: Vec<txlog_api::Event> = orders(4)
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect();
    writer.append(&batch, "order-service").await.unwrap();
    drop(writer);
    std::fs::create_dir_all(db.dir.path().join("data")).unwrap();
    let mut old = SqliteConnectOptions::from_str(&db.url)
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("fixtures/sqlite_schema_2026_12_01.sql"))
        .execute(&mut old)
        .await
        .unwrap();
    let source_path = source.url.strip_prefix("sqlite://").unwrap();
    sqlx::query("ATTACH DATABASE ? AS source")
        .bind(source_path)
        .execute(&mut old)
        .await
        .unwrap();
    for copy in [
        "INSERT INTO records SELECT seq, event_id, transaction_id, order_id, actor, operation, \
         outcome, recorded_at, canonical, hash FROM source.records",
        "INSERT INTO tree_runs SELECT * FROM source.tree_runs",
    ] {
        sqlx::query(copy).execute(&mut old).await.unwrap();
    }
    old.close().await.unwrap();

    let output = common::process::command(&db.url)
        .args(["setup", "--seal-existing"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("sealed the 4"), "{stdout}");
    let app = TestApp::spawn_on(db).await;
    app.checkpoint_of(4).await;
    assert_eq!(seqs(&app.all("order_id=o-2").await), [2]);
    assert_eq!(seqs(&app.all("actor=alice&order=asc").await), [0, 1, 2, 3]);
    app.append(&orders(1)).await;
    app.checkpoint_of(5).await;
}

/// MongoDB keeps the filter fields beside the record: an edited `order_id` shows in
/// `GET /v1/transactions/index` (what `ordersys audit --full` compares), and the record never
/// answers a filter its hashed text does not match.
#[tokio::test]
async fn mongo_an_edited_filter_field_shows_in_the_index() {
    let Some(app) = TestApp::spawn(Backend::Mongo).await else {
        return;
    };
    app.append(&orders(3)).await;
    let records = common::mongo::records(&app.db.url).await;
    common::mongo::set(
        &records,
        1,
        mongodb::bson::doc! {"order_id": "elsewhere", "actor": "mallory"},
    )
    .await;
    let entries = index(&app, 500).await;
    assert_eq!(entries[1]["seq"], 1);
    assert_eq!(entries[1]["order_id"], "elsewhere");
    assert_eq!(entries[1]["actor"], "mallory");
    assert_eq!(entries[0]["order_id"], "o-0");
    assert!(app.all("order_id=elsewhere").await.is_empty());
    assert!(app.all("actor=mallory").await.is_empty());
    // The record itself is unchanged, and still listed unfiltered.
    assert_eq!(app.all("order=asc").await[1]["order_id"], "o-1");
    // The auditor compares every stored filter field with the hashed text and names the record.
    app.checkpoint_of(3).await;
    let passed_before = app.audit(&common::log_key().1, None, false).await;
    assert!(passed_before.is_ok(), "{passed_before:?}");
    let error = app
        .audit(&common::log_key().1, None, true)
        .await
        .expect_err("audit --full finds the edited filter fields");
    assert_eq!(error.exit_code(), 1, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("record seq 1:")
            && message.contains(r#"order_id Some("o-1") in the record, Some("elsewhere") kept"#),
        "{message}"
    );
}
