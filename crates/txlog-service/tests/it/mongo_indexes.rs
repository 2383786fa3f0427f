//! What the service asks MongoDB at start about its indexes, watched with the driver's command
//! monitoring: after `setup` only `listIndexes` (which the least-privilege appender role
//! holds), and with one index gone, a `createIndexes` of that index alone.

use crate::common;

use std::sync::{Arc, Mutex};

use mongodb::bson::Document;
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};

use common::{Backend, TestDb};
use txlog_service::store::mongo::ensure_indexes;

/// The schema commands a database handle sends, in order, with their documents.
type Seen = Arc<Mutex<Vec<(String, Document)>>>;

async fn watched(url: &str) -> (Database, Seen) {
    let seen: Seen = Arc::default();
    let mut options = ClientOptions::parse(url).await.unwrap();
    let sink = seen.clone();
    options.command_event_handler = Some(EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event {
            if [
                "listIndexes",
                "createIndexes",
                "create",
                "listCollections",
                "dropIndexes",
            ]
            .contains(&started.command_name.as_str())
            {
                sink.lock()
                    .unwrap()
                    .push((started.command_name.clone(), started.command.clone()));
            }
        }
    }));
    let database = Client::with_options(options).unwrap().database("txlog");
    (database, seen)
}

fn names(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(n, _)| n.clone())
        .collect()
}

#[tokio::test]
async fn after_setup_the_start_up_check_only_lists_indexes() {
    let Some(db) = TestDb::new(Backend::Mongo) else {
        return;
    };
    let (database, seen) = watched(&db.url).await;
    ensure_indexes(&database).await.unwrap();
    assert_eq!(names(&seen), ["listIndexes"]);
}

#[tokio::test]
async fn a_missing_index_is_created_alone() {
    let Some(db) = TestDb::new(Backend::Mongo) else {
        return;
    };
    let records = common::mongo::records(&db.url).await;
    records.drop_index("actor_1__id_-1").await.unwrap();

    let (database, seen) = watched(&db.url).await;
    ensure_indexes(&database).await.unwrap();
    assert_eq!(names(&seen), ["listIndexes", "createIndexes"]);
    let created = seen.lock().unwrap()[1]
        .1
        .get_array("indexes")
        .unwrap()
        .clone();
    assert_eq!(created.len(), 1, "{created:?}");
    let keys = created[0]
        .as_document()
        .unwrap()
        .get_document("key")
        .unwrap();
    assert_eq!(keys.keys().collect::<Vec<_>>(), ["actor", "_id"]);

    assert!(common::mongo::index_keys(&records)
        .await
        .contains(&vec!["actor".to_owned(), "_id".to_owned()]));
}

#[tokio::test]
async fn a_fresh_database_gets_the_collection_and_every_index() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = common::FerretDb::start(dir.path()) else {
        return;
    };
    let (database, seen) = watched(&server.url()).await;
    ensure_indexes(&database).await.unwrap();
    assert_eq!(names(&seen), ["listIndexes", "createIndexes"]);
    seen.lock().unwrap().clear();
    ensure_indexes(&database).await.unwrap();
    assert_eq!(
        names(&seen),
        ["listIndexes"],
        "the second time, nothing is missing"
    );
}
