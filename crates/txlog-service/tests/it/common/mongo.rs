//! Direct access to a test's MongoDB store, as an attacker or a second client has it.

use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::Collection;

/// The records collection behind `url`, through a client of its own.
pub async fn records(url: &str) -> Collection<Document> {
    mongodb::Client::with_uri_str(url)
        .await
        .unwrap()
        .database("txlog")
        .collection(txlog_service::store::RECORDS_COLLECTION)
}

/// The key fields of every index on `records`, in key order.
pub async fn index_keys(records: &Collection<Document>) -> Vec<Vec<String>> {
    let indexes: Vec<mongodb::IndexModel> = records
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    indexes
        .iter()
        .map(|i| i.keys.keys().cloned().collect())
        .collect()
}

/// Changes `duration_us` in the stored canonical text of record `seq`, leaving its hash, and
/// returns the original text.
pub async fn edit_canonical(records: &Collection<Document>, seq: i64) -> String {
    let stored = records.find_one(doc! {"_id": seq}).await.unwrap().unwrap();
    let original = stored.get_str("canonical").unwrap().to_owned();
    let edited = original.replace("\"duration_us\":1234", "\"duration_us\":1");
    assert_ne!(edited, original);
    set(records, seq, doc! {"canonical": edited}).await;
    original
}

/// `$set`s fields of record `seq`.
pub async fn set(records: &Collection<Document>, seq: i64, fields: Document) {
    let changed = records
        .update_one(doc! {"_id": seq}, doc! {"$set": fields})
        .await
        .unwrap();
    assert_eq!(changed.modified_count, 1);
}
