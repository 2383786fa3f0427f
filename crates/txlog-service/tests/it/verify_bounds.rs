//! `GET /v1/transactions/verify` costs O(new records) at most (issue 28): an incremental walk
//! stops at its bound and the next call continues where it stopped, on both stores, and
//! concurrent calls share one walk.

use crate::common;

use common::{events, Backend, TestApp, TestDb};
use txlog_api::Event;
use txlog_service::api::verify::{verify_incrementally, SharedWalk};
use txlog_service::store;
use txlog_service::transparency::Sequencer;

/// `n` events as the store takes them.
fn typed(n: usize) -> Vec<Event> {
    events(n)
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect()
}

async fn a_walk_stops_at_its_bound_and_the_next_continues(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let log = Sequencer::new(store::connect(&db.url).await.unwrap(), None);
    let store = log.store();
    log.append(&typed(250), "writer").await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let report = verify_incrementally(&**store, 100).await.unwrap();
        assert!(report.valid, "{report:?}");
        seen.push((
            report.checked,
            report.since.map(|h| h.seq),
            report.head.map(|h| h.seq),
            report.complete,
        ));
    }
    assert_eq!(
        seen,
        [
            (100, None, Some(99), false),
            (100, Some(99), Some(199), false),
            (50, Some(199), Some(249), true),
        ]
    );
    // Exactly at the bound: the walk knows it reached the end.
    log.append(&typed(100), "writer").await.unwrap();
    let report = verify_incrementally(&**store, 100).await.unwrap();
    assert_eq!((report.checked, report.complete), (100, true));
}

#[tokio::test]
async fn a_walk_stops_at_its_bound_and_the_next_continues_sqlite() {
    a_walk_stops_at_its_bound_and_the_next_continues(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_walk_stops_at_its_bound_and_the_next_continues_mongo() {
    a_walk_stops_at_its_bound_and_the_next_continues(Backend::Mongo).await;
}

/// Callers that arrive while a walk runs get its report: eight at once check the records once.
#[tokio::test]
async fn concurrent_calls_share_one_walk() {
    let Some(db) = TestDb::new(Backend::Sqlite) else {
        return;
    };
    let log = Sequencer::new(store::connect(&db.url).await.unwrap(), None);
    let store = log.store();
    log.append(&typed(2000), "writer").await.unwrap();
    let shared = SharedWalk::default();
    let reports =
        futures::future::join_all((0..8).map(|_| shared.verify(&**store, u64::MAX))).await;
    let reports: Vec<_> = reports.into_iter().map(Result::unwrap).collect();
    let walked: u64 = reports
        .iter()
        .map(|r| match r.since {
            // A call that started its own walk after the first one found nothing new.
            Some(_) => r.checked,
            None => 0,
        })
        .sum();
    assert_eq!(walked, 0, "{reports:?}");
    assert!(reports.iter().all(|r| r.valid && r.complete));
    assert!(reports
        .iter()
        .all(|r| r.head.as_ref().map(|h| h.seq) == Some(1999)));
    // Over HTTP the same: eight calls at once, one walk's records in the metric.
    let app = TestApp::spawn_on(db).await;
    app.append(&events(500)).await;
    let before = checked_metric(&app).await;
    let answers = futures::future::join_all((0..8).map(|_| app.verify())).await;
    assert!(answers.iter().all(|a| a["valid"] == true), "{answers:?}");
    assert_eq!(checked_metric(&app).await - before, 500);
}

/// `txlog_verify_records_checked_total` as the service exposes it.
async fn checked_metric(app: &TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("txlog_verify_records_checked_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no records-checked metric in {text}"))
}
