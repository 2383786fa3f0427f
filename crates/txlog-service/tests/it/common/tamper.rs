//! Changes an attacker with write access to the store could make, on either backend: the
//! SQLite triggers are dropped first, as an attacker with the file would.

use std::str::FromStr;

use mongodb::bson::{doc, Document};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use super::TestDb;

/// A connection to the SQLite file with its append-only triggers dropped.
pub async fn sqlite(db: &TestDb) -> SqliteConnection {
    let mut raw = SqliteConnectOptions::from_str(&db.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    for table in ["records", "tree_runs", "tree_hashes", "checkpoints"] {
        for change in ["update", "delete"] {
            sqlx::query(&format!("DROP TRIGGER IF EXISTS {table}_no_{change}"))
                .execute(&mut raw)
                .await
                .unwrap();
        }
    }
    raw
}

async fn collection(db: &TestDb, name: &str) -> mongodb::Collection<Document> {
    let client = mongodb::Client::with_uri_str(&db.url).await.unwrap();
    client.database("txlog").collection(name)
}

/// Changes `duration_us` in record `seq`'s stored text, keeping its hash.
pub async fn edit_record(db: &TestDb, seq: i64) {
    if db.mongo.is_some() {
        let records = collection(db, txlog_service::store::RECORDS_COLLECTION).await;
        super::mongo::edit_canonical(&records, seq).await;
        return;
    }
    let mut raw = sqlite(db).await;
    let changed = sqlx::query(
        "UPDATE records SET canonical = replace(canonical, '\"duration_us\":1234', '\"duration_us\":1') WHERE seq = ?",
    )
    .bind(seq)
    .execute(&mut raw)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    raw.close().await.unwrap();
}

/// Sets the stored `hash` of record `seq` to `text`, leaving its text.
pub async fn set_hash(db: &TestDb, seq: i64, text: &str) {
    if db.mongo.is_some() {
        let records = collection(db, txlog_service::store::RECORDS_COLLECTION).await;
        super::mongo::set(&records, seq, doc! {"hash": text}).await;
        return;
    }
    let mut raw = sqlite(db).await;
    let changed = sqlx::query("UPDATE records SET hash = ? WHERE seq = ?")
        .bind(text)
        .bind(seq)
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    raw.close().await.unwrap();
}

/// Swaps the stored text and hash of records `a` and `b`.
pub async fn swap(db: &TestDb, a: i64, b: i64) {
    if db.mongo.is_some() {
        let records = collection(db, txlog_service::store::RECORDS_COLLECTION).await;
        let get = |seq: i64| {
            let records = records.clone();
            async move { records.find_one(doc! {"_id": seq}).await.unwrap().unwrap() }
        };
        let (first, second) = (get(a).await, get(b).await);
        for (seq, from) in [(a, &second), (b, &first)] {
            let fields = doc! {
                "canonical": from.get_str("canonical").unwrap(),
                "hash": from.get_str("hash").unwrap(),
            };
            super::mongo::set(&records, seq, fields).await;
        }
        return;
    }
    let mut raw = sqlite(db).await;
    // One statement: both subqueries read the rows as they were before it.
    sqlx::query(
        "UPDATE records SET canonical = CASE seq WHEN ?1 THEN (SELECT canonical FROM records WHERE seq = ?2) \
                                              ELSE (SELECT canonical FROM records WHERE seq = ?1) END, \
                            hash = CASE seq WHEN ?1 THEN (SELECT hash FROM records WHERE seq = ?2) \
                                              ELSE (SELECT hash FROM records WHERE seq = ?1) END \
         WHERE seq IN (?1, ?2)",
    )
    .bind(a)
    .bind(b)
    .execute(&mut raw)
    .await
    .unwrap();
    raw.close().await.unwrap();
}

/// What `truncate` removes beside the newest records.
#[derive(Debug, Clone, Copy)]
pub struct Truncate {
    pub checkpoints: bool,
    pub tree: bool,
}

/// Deletes every record from `keep` on, and the checkpoints and tree hashes beyond the
/// tree of size `keep` when asked: the log as an old backup would restore it.
pub async fn truncate(db: &TestDb, keep: u64, what: Truncate) {
    let hashes = tlog_tiles::stored_hash_count(keep) as i64;
    let keep = keep as i64;
    if db.mongo.is_some() {
        use txlog_service::store::{CHECKPOINTS_COLLECTION, RECORDS_COLLECTION, TREE_COLLECTION};
        let delete = |name: &'static str, from: i64| async move {
            let c = collection(db, name).await;
            c.delete_many(doc! {"_id": {"$gte": from}}).await.unwrap()
        };
        delete(RECORDS_COLLECTION, keep).await;
        if what.checkpoints {
            delete(CHECKPOINTS_COLLECTION, keep + 1).await;
        }
        if what.tree {
            delete(TREE_COLLECTION, hashes).await;
            cut_last_run(&collection(db, TREE_COLLECTION).await, hashes).await;
        }
        return;
    }
    let mut raw = sqlite(db).await;
    let mut statements = vec![("DELETE FROM records WHERE seq >= ?", keep)];
    if what.checkpoints {
        statements.push(("DELETE FROM checkpoints WHERE size > ?", keep));
    }
    if what.tree {
        statements.push(("DELETE FROM tree_runs WHERE first >= ?", hashes));
        statements.push((
            "UPDATE tree_runs SET hashes = substr(hashes, 1, (?1 - first) * 32) \
             WHERE first + length(hashes) / 32 > ?1",
            hashes,
        ));
    }
    for (sql, bound) in statements {
        sqlx::query(sql)
            .bind(bound)
            .execute(&mut raw)
            .await
            .unwrap();
    }
    raw.close().await.unwrap();
}

/// Shortens the last stored run of tree hashes (`{_id: first, hashes}`) to end at `end`.
async fn cut_last_run(tree: &mongodb::Collection<Document>, end: i64) {
    let Some(last) = tree.find_one(doc! {}).sort(doc! {"_id": -1}).await.unwrap() else {
        return;
    };
    let first = last.get_i64("_id").unwrap();
    let hashes = last.get_binary_generic("hashes").unwrap();
    if first + hashes.len() as i64 / 32 > end {
        let bytes = hashes[..(end - first) as usize * 32].to_vec();
        let kept = mongodb::bson::Binary {
            subtype: mongodb::bson::spec::BinarySubtype::Generic,
            bytes,
        };
        super::mongo::set(tree, first, doc! {"hashes": kept}).await;
    }
}

/// Moves the stored tree hashes to where releases before 2026-12-01 kept them: a row or a
/// document per hash (`tree_hashes (idx, hash)`, collection `txlog_tree` `{_id: index, hash}`).
pub async fn store_a_hash_a_row(db: &TestDb) {
    if db.mongo.is_some() {
        use futures::TryStreamExt;
        let tree = collection(db, txlog_service::store::TREE_COLLECTION).await;
        let old = collection(db, txlog_service::store::OLD_TREE_COLLECTION).await;
        let runs: Vec<Document> = tree
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        tree.delete_many(doc! {}).await.unwrap();
        for run in runs {
            let first = run.get_i64("_id").unwrap();
            for (k, hash) in run
                .get_binary_generic("hashes")
                .unwrap()
                .chunks(32)
                .enumerate()
            {
                let hash = mongodb::bson::Binary {
                    subtype: mongodb::bson::spec::BinarySubtype::Generic,
                    bytes: hash.to_vec(),
                };
                let one = doc! {"_id": first + k as i64, "hash": hash};
                old.insert_one(one).await.unwrap();
            }
        }
        return;
    }
    let mut raw = sqlite(db).await;
    let runs: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT first, hashes FROM tree_runs")
        .fetch_all(&mut raw)
        .await
        .unwrap();
    for (first, hashes) in runs {
        for (k, hash) in hashes.chunks(32).enumerate() {
            sqlx::query("INSERT INTO tree_hashes (idx, hash) VALUES (?, ?)")
                .bind(first + k as i64)
                .bind(hash)
                .execute(&mut raw)
                .await
                .unwrap();
        }
    }
    sqlx::query("DELETE FROM tree_runs")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();
}

/// Every stored checkpoint, smallest tree first: (size, note).
pub async fn checkpoints(db: &TestDb) -> Vec<(u64, String)> {
    if db.mongo.is_some() {
        use futures::TryStreamExt;
        let stored = collection(db, txlog_service::store::CHECKPOINTS_COLLECTION).await;
        let docs: Vec<Document> = stored
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        return docs
            .iter()
            .map(|d| {
                let size = d.get_i64("_id").unwrap() as u64;
                (size, d.get_str("note").unwrap().to_owned())
            })
            .collect();
    }
    let mut raw = SqliteConnectOptions::from_str(&db.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT size, note FROM checkpoints ORDER BY size")
            .fetch_all(&mut raw)
            .await
            .unwrap();
    rows.into_iter().map(|(s, n)| (s as u64, n)).collect()
}
