//! Tamper evidence: records changed behind the service's back are found by a full `verify`, at
//! the exact first invalid `seq`; SQLite refuses UPDATE and DELETE while its triggers stand.
//! An incremental `verify` checks only what was stored since the last verified head, and that
//! head's record itself.

use crate::common;

use std::str::FromStr;

use common::{events, log_key, Backend, TestApp};
use mongodb::bson::doc;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

on_both_stores!(a_stored_hash_that_is_not_a_hash_is_served_and_reported_at_its_seq);

fn report(valid: bool, checked: u64, first_invalid: Option<u64>) -> (bool, u64, Option<u64>) {
    (valid, checked, first_invalid)
}

async fn verdict(app: &TestApp) -> (bool, u64, Option<u64>) {
    let r = app.verify_full().await;
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

    // The filters read columns SQLite generates from the hashed text: they cannot be set, and
    // editing the plain column beside them (kept from earlier releases) changes nothing read.
    let generated = sqlx::query("UPDATE records SET f_actor = 'mallory' WHERE seq = 1")
        .execute(&mut raw)
        .await;
    assert!(generated.is_err());
    sqlx::query("UPDATE records SET actor = 'mallory' WHERE seq = 1")
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(verdict(&app).await, report(false, 5, Some(3)));
    let alice = app.all("actor=alice&order=asc").await;
    assert_eq!(common::seqs(&alice), [0, 1, 2, 3, 4]);
    assert!(app.all("actor=mallory").await.is_empty());
    raw.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_deleted_records_are_reported_as_a_gap() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.append(&events(4)).await;
    let mut raw = common::tamper::sqlite(&app.db).await;
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

/// Each call checks only the records stored since the last valid head; a change to that head's
/// record is found at once, a change before it only by a full walk.
#[tokio::test]
async fn sqlite_incremental_verify_starts_from_the_last_valid_head() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.append(&events(5)).await;
    let first = app.verify().await;
    assert_eq!(
        (first["checked"].as_u64(), &first["since"]),
        (Some(5), &json!(null))
    );
    app.append(&events(3)).await;
    let second = app.verify().await;
    assert_eq!(second["valid"], true, "{second}");
    assert_eq!(second["checked"], 3);
    assert_eq!(second["since"], first["head"]);
    assert_eq!(second["head"]["seq"], 7);
    let third = app.verify().await;
    assert_eq!(
        (third["checked"].as_u64(), &third["head"]),
        (Some(0), &second["head"])
    );

    let mut raw = common::tamper::sqlite(&app.db).await;
    let edit = "UPDATE records SET canonical = replace(canonical, '\"order.get\"', '\"order.gone\"') WHERE seq = ?";
    sqlx::query(edit).bind(1).execute(&mut raw).await.unwrap();
    assert_eq!(
        app.verify().await["valid"],
        true,
        "seq 1 is before the verified head"
    );
    assert_eq!(verdict(&app).await, report(false, 8, Some(1)));

    // The head's own record is re-read on every call: rewriting it (hash included) is found.
    sqlx::query("UPDATE records SET hash = ? WHERE seq = 7")
        .bind("0".repeat(64))
        .execute(&mut raw)
        .await
        .unwrap();
    let report = app.verify().await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["first_invalid_seq"], 7);
    raw.close().await.unwrap();
}

/// The store is not trusted: a stored `hash` that is not 64 lowercase hex digits leaves its
/// record readable, served exactly as stored, and `verify` and the full audit report that
/// record as broken at its `seq`. Nothing answers 500.
async fn a_stored_hash_that_is_not_a_hash_is_served_and_reported_at_its_seq(backend: Backend) {
    let Some((app, state)) = crate::verifiable_log::audited(backend, 6).await else {
        return;
    };
    let honest = app.all("order=asc").await;
    // Hex, but not the form the log writes; and no hex at all, with characters JSON escapes.
    let upper = honest[2]["hash"].as_str().unwrap().to_uppercase();
    let texts = [(2, upper.as_str()), (4, "not \"a\" hash")];
    for (seq, text) in texts {
        common::tamper::set_hash(&app.db, seq, text).await;
    }
    let mut expected = honest.clone();
    for (seq, text) in texts {
        expected[seq as usize]["hash"] = json!(text);
    }
    for query in ["order=asc", "actor=alice&order=asc"] {
        assert_eq!(app.all(query).await, expected, "{query}");
    }
    for record in &expected {
        let id = record["transaction_id"].as_str().unwrap();
        let response = app.get(&format!("/v1/transactions/{id}")).await;
        assert_eq!(response.status(), 200);
        let served = response.text().await.unwrap();
        assert_eq!(served, serde_json_canonicalizer::to_string(record).unwrap());
    }
    let incremental = app.verify().await;
    assert_eq!(
        (&incremental["valid"], &incremental["first_invalid_seq"]),
        (&json!(false), &json!(2)),
        "{incremental}"
    );
    assert_eq!(verdict(&app).await, report(false, 6, Some(2)));
    let audit = app.audit(&log_key().1, Some(&state), true).await;
    assert_eq!(
        crate::verifiable_log::failure(audit),
        "record seq 2: hash does not match its content"
    );
}
