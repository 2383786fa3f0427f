//! Tamper evidence: records changed behind the service's back are found by `verify`, at the
//! exact first invalid `seq`; SQLite refuses UPDATE and DELETE while its triggers stand.

mod common;

use std::str::FromStr;

use common::{events, Backend, TestApp};
use mongodb::bson::doc;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

fn report(valid: bool, checked: u64, first_invalid: Option<u64>) -> (bool, u64, Option<u64>) {
    (valid, checked, first_invalid)
}

async fn verdict(app: &TestApp) -> (bool, u64, Option<u64>) {
    let r = app.verify().await;
    (
        r["valid"].as_bool().unwrap(),
        r["checked"].as_u64().unwrap(),
        r["first_invalid_seq"].as_u64(),
    )
}

#[tokio::test]
async fn sqlite_refuses_changes_and_verify_finds_them() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.append(&events(5)).await;
    assert_eq!(verdict(&app).await, report(true, 5, None));

    let mut raw = SqliteConnectOptions::from_str(&app.db.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let update = sqlx::query("UPDATE records SET operation = 'x' WHERE seq = 1")
        .execute(&mut raw)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM records WHERE seq = 4")
        .execute(&mut raw)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(verdict(&app).await, report(true, 5, None));

    sqlx::query("DROP TRIGGER records_no_update")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("UPDATE records SET canonical = replace(canonical, '\"order.get\"', '\"order.gone\"') WHERE seq = 3")
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(verdict(&app).await, report(false, 5, Some(3)));

    // Editing only a query column (to hide a record from filters) is found too.
    sqlx::query("UPDATE records SET actor = 'mallory' WHERE seq = 1")
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(verdict(&app).await, report(false, 5, Some(1)));
    raw.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_deleted_records_are_reported_as_a_gap() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.append(&events(4)).await;
    let mut raw = SqliteConnectOptions::from_str(&app.db.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER records_no_delete")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("DELETE FROM records WHERE seq = 2")
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(verdict(&app).await, report(false, 3, Some(2)));
}

#[tokio::test]
async fn mongo_changed_records_are_found() {
    let Some(app) = TestApp::spawn(Backend::Mongo).await else {
        return;
    };
    app.append(&events(6)).await;
    assert_eq!(verdict(&app).await, report(true, 6, None));
    let records = common::mongo::records(&app.db.url).await;

    // An attacker who rewrites record 4 and re-hashes it is caught by record 5's prev_hash.
    let record = app.get_json("/v1/transactions?order=asc&limit=500").await["items"][4].clone();
    let mut forged = record.clone();
    forged.as_object_mut().unwrap().remove("hash");
    forged["operation"] = json!("order.forged");
    let canonical = serde_json_canonicalizer::to_string(&forged).unwrap();
    let hash = hex::encode(Sha256::digest(format!(
        "{}{canonical}",
        record["prev_hash"].as_str().unwrap()
    )));
    records
        .update_one(
            doc! {"_id": 4_i64},
            doc! {"$set": {"canonical": &canonical, "hash": &hash, "operation": "order.forged"}},
        )
        .await
        .unwrap();
    assert_eq!(verdict(&app).await, report(false, 6, Some(5)));

    // A plain edit of record 2 is caught at record 2.
    common::mongo::edit_canonical(&records, 2).await;
    assert_eq!(verdict(&app).await, report(false, 6, Some(2)));
}
