//! The store conformance suite: one set of expectations of the store traits, run against
//! PostgreSQL and SQLite.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use order_service::domain::{Order, OrderInput, Status};
use order_service::outbox::{deliver_once, Deliver, Delivered, Relay, BATCH};
use order_service::store::{
    self, Claim, IdempotencyKey, ListQuery, OutboxEvent, Refusal, Store, StoredResponse,
};
use serde_json::json;
use support::Backend;
use uuid::Uuid;

/// A store on a fresh database, which is dropped with it.
struct Opened {
    store: Store,
    _database: support::Database,
}

impl std::ops::Deref for Opened {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

async fn open(backend: Backend) -> Opened {
    let database = support::database_url(backend).await;
    let store = store::connect(&database)
        .await
        .expect("the store opens and migrates");
    Opened {
        store,
        _database: database,
    }
}

fn order(customer: &str) -> Order {
    let input: OrderInput = serde_json::from_value(json!({
        "currency": "EUR",
        "items": [{"sku": "A", "name": "a", "quantity": 2, "unit_price": 100}]
    }))
    .unwrap();
    Order::new(customer.into(), input.validate().unwrap().1)
}

fn event(n: u32) -> OutboxEvent {
    OutboxEvent {
        event_id: Uuid::now_v7(),
        payload: json!({"n": n}).to_string(),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    }
}

async fn orders_round_trip_with_versions(backend: Backend) {
    let store = open(backend).await;
    store.health.ping().await.unwrap();
    let o = order("alice");
    let _committed = store.orders.create(&o, None, &event(1)).await.unwrap();
    assert_eq!(
        store.orders.get(o.id).await.unwrap(),
        Some(o.clone()),
        "what is stored is what is read"
    );
    assert_eq!(store.orders.get(Uuid::now_v7()).await.unwrap(), None);
    assert!(
        store.orders.create(&o, None, &event(6)).await.is_err(),
        "an id stored before is not stored again, nor its event"
    );
    let mut next = o.clone();
    next.status = Status::Cancelled;
    next.version = 2;
    assert!(store
        .orders
        .update(&next, 1, &event(2))
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .orders
            .update(&next, 1, &event(3))
            .await
            .unwrap()
            .is_none(),
        "a stale version writes nothing"
    );
    assert_eq!(
        store.orders.get(o.id).await.unwrap().unwrap().status,
        Status::Cancelled
    );
    assert!(store
        .orders
        .delete(o.id, 1, &event(4))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .orders
        .delete(o.id, 2, &event(5))
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.orders.get(o.id).await.unwrap(), None);
    let backlog = store.outbox.backlog().await.unwrap();
    assert_eq!(
        backlog.events, 3,
        "only the writes that happened left an event"
    );
    assert!(backlog.oldest.is_some());
}

async fn list_is_newest_first_with_filters(backend: Backend) {
    let store = open(backend).await;
    let mut made = Vec::new();
    for (n, customer) in (10..).zip(["alice", "bob", "alice", "alice"]) {
        let o = order(customer);
        let _committed = store.orders.create(&o, None, &event(n)).await.unwrap();
        made.push(o);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let all = store
        .orders
        .list(&ListQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<Uuid> = all.iter().map(|o| o.id).collect();
    let expected: Vec<Uuid> = made.iter().rev().map(|o| o.id).collect();
    assert_eq!(ids, expected);
    let alice = store
        .orders
        .list(&ListQuery {
            customer_id: Some("alice".into()),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        alice.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![made[3].id, made[2].id]
    );
    let after = (alice[1].created_at, alice[1].id);
    let rest = store
        .orders
        .list(&ListQuery {
            customer_id: Some("alice".into()),
            after: Some(after),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![made[0].id]
    );
    let cancelled = store
        .orders
        .list(&ListQuery {
            status: Some(Status::Cancelled),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(cancelled.is_empty());
    let window = ListQuery {
        created_after: Some(made[0].created_at),
        created_before: Some(made[3].created_at),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store
            .orders
            .list(&window)
            .await
            .unwrap()
            .iter()
            .map(|o| o.id)
            .collect::<Vec<_>>(),
        vec![made[2].id, made[1].id]
    );
}

async fn idempotency_claims(backend: Backend) {
    let store = open(backend).await;
    let key = IdempotencyKey {
        caller: "alice".into(),
        key: "k".into(),
    };
    assert_eq!(
        store.idempotency.claim(&key, "h1").await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.idempotency.claim(&key, "h1").await.unwrap(),
        Claim::InFlight
    );
    assert_eq!(
        store.idempotency.claim(&key, "h2").await.unwrap(),
        Claim::Mismatch
    );
    let other = IdempotencyKey {
        caller: "bob".into(),
        key: "k".into(),
    };
    assert_eq!(
        store.idempotency.claim(&other, "h1").await.unwrap(),
        Claim::Claimed,
        "scoped per caller"
    );
    store.idempotency.release(&other).await.unwrap();
    assert_eq!(
        store.idempotency.claim(&other, "h9").await.unwrap(),
        Claim::Claimed,
        "a released key is free"
    );
    let response = StoredResponse {
        status: 201,
        location: Some("/v1/orders/x".into()),
        etag: Some("\"1\"".into()),
        body: "{}".into(),
    };
    let o = order("alice");
    let _ = store
        .orders
        .create(&o, Some((&key, &response)), &event(1))
        .await
        .unwrap();
    assert_eq!(
        store.idempotency.claim(&key, "h1").await.unwrap(),
        Claim::Completed(response)
    );
    assert_eq!(
        store
            .idempotency
            .purge(chrono::Utc::now() - chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .idempotency
            .purge(chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.idempotency.claim(&key, "h3").await.unwrap(),
        Claim::Claimed,
        "purged keys are forgotten"
    );
}

/// Records what it was handed; fails while `fail` is set; refuses the events in `refuse`.
#[derive(Default)]
struct Collect {
    got: Mutex<Vec<OutboxEvent>>,
    fail: Mutex<bool>,
    refuse: Mutex<Vec<uuid::Uuid>>,
}

#[async_trait]
impl Deliver for Collect {
    async fn deliver(&self, events: Vec<OutboxEvent>) -> anyhow::Result<Vec<Refusal>> {
        if *self.fail.lock().unwrap() {
            anyhow::bail!("the receiver is down");
        }
        let refuse = self.refuse.lock().unwrap().clone();
        let (refused, got): (Vec<_>, Vec<_>) = events
            .into_iter()
            .partition(|e| refuse.contains(&e.event_id));
        self.got.lock().unwrap().extend(got);
        Ok(refused
            .into_iter()
            .map(|e| Refusal {
                event_id: e.event_id,
                status: 422,
                reason: "invalid".into(),
            })
            .collect())
    }
}

async fn outbox_delivers_oldest_first_and_keeps_failures(backend: Backend) {
    let store = open(backend).await;
    let events: Vec<OutboxEvent> = (0..25).map(event).collect();
    store.outbox.append(&events[..20]).await.unwrap();
    store.outbox.append(&events[20..]).await.unwrap();
    let sink = Collect::default();
    *sink.fail.lock().unwrap() = true;
    assert!(deliver_once(store.outbox.as_ref(), &sink, 10)
        .await
        .is_err());
    assert_eq!(store.outbox.dead_letters(10).await.unwrap(), []);
    assert_eq!(
        store.outbox.backlog().await.unwrap().events,
        25,
        "a failed delivery keeps every event"
    );
    *sink.fail.lock().unwrap() = false;
    assert_eq!(
        deliver_once(store.outbox.as_ref(), &sink, 10)
            .await
            .unwrap()
            .delivered,
        10
    );
    assert_eq!(
        deliver_once(store.outbox.as_ref(), &sink, 100)
            .await
            .unwrap()
            .delivered,
        15
    );
    assert_eq!(
        deliver_once(store.outbox.as_ref(), &sink, 100)
            .await
            .unwrap(),
        Delivered::default()
    );
    assert_eq!(
        *sink.got.lock().unwrap(),
        events,
        "in order, each once, with payload and trace context"
    );
    assert_eq!(store.outbox.backlog().await.unwrap(), Default::default());
    let (open, _) = store.health.pool_usage();
    assert!(open >= 1);
}

/// The backstop against an event written twice (by its handler and by the recording layer):
/// the second copy is dropped, and the other events of its batch are still written.
async fn an_event_is_in_the_outbox_once(backend: Backend) {
    let store = open(backend).await;
    let (first, second, third) = (event(1), event(2), event(3));
    let o = order("alice");
    let _ = store.orders.create(&o, None, &first).await.unwrap();
    store
        .outbox
        .append(&[second.clone(), first.clone(), second.clone(), third.clone()])
        .await
        .expect("a batch with events already written, and written twice in it, succeeds");
    let mut next = o.clone();
    next.version = 2;
    assert!(store
        .orders
        .update(&next, 1, &third)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.outbox.backlog().await.unwrap().events, 3);
    let sink = Collect::default();
    assert_eq!(
        deliver_once(store.outbox.as_ref(), &sink, 100)
            .await
            .unwrap()
            .delivered,
        3
    );
    assert_eq!(*sink.got.lock().unwrap(), vec![first, second, third]);
}

/// An event the receiver refuses for good leaves the outbox for the dead-letter table in the
/// same step as the others are delivered, payload intact; delivery goes on.
async fn refused_events_move_to_dead_letters(backend: Backend) {
    let store = open(backend).await;
    let events: Vec<OutboxEvent> = (0..5).map(event).collect();
    store.outbox.append(&events).await.unwrap();
    let sink = Collect::default();
    *sink.refuse.lock().unwrap() = vec![events[1].event_id, events[3].event_id];
    let done = deliver_once(store.outbox.as_ref(), &sink, 100)
        .await
        .unwrap();
    assert_eq!(done.delivered, 3);
    assert_eq!(
        done.dead_lettered
            .iter()
            .map(|r| r.event_id)
            .collect::<Vec<_>>(),
        [events[1].event_id, events[3].event_id]
    );
    assert_eq!(
        *sink.got.lock().unwrap(),
        vec![events[0].clone(), events[2].clone(), events[4].clone()]
    );
    assert_eq!(store.outbox.backlog().await.unwrap(), Default::default());
    let letters = store.outbox.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].event_id, events[3].event_id, "newest first");
    assert_eq!(letters[1].payload, events[1].payload);
    assert_eq!(
        (letters[1].status, letters[1].reason.as_str()),
        (422, "invalid")
    );
    store.outbox.append(&[event(9)]).await.unwrap();
    assert_eq!(
        deliver_once(store.outbox.as_ref(), &sink, 100)
            .await
            .unwrap()
            .delivered,
        1
    );
}

/// The outbox's lease: a claim takes events no live lease holds; released events are claimed
/// again; a lease that ran out is taken over, and the late acknowledgement of its first holder
/// leaves the events to the new one; an extended lease keeps its events.
async fn leases_keep_claims_apart(backend: Backend) {
    let store = open(backend).await;
    let outbox = store.outbox.as_ref();
    let events: Vec<OutboxEvent> = (0..6).map(event).collect();
    outbox.append(&events).await.unwrap();
    let minute = Duration::from_secs(60);
    let first = outbox.claim(2, minute).await.unwrap().expect("events wait");
    let second = outbox.claim(2, minute).await.unwrap().expect("events wait");
    assert_eq!(first.events, events[..2]);
    assert_eq!(second.events, events[2..4], "a claim skips leased events");
    outbox.release(first).await.unwrap();
    let again = outbox.claim(10, minute).await.unwrap().unwrap();
    assert_eq!(
        again.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        [0, 1, 4, 5].map(|i| events[i].event_id),
        "released events are claimed again, oldest first"
    );
    outbox.ack(again, &[]).await.unwrap();
    assert!(outbox.claim(10, minute).await.unwrap().is_none());
    assert_eq!(
        outbox.backlog().await.unwrap().events,
        2,
        "the other lease's events stay"
    );

    outbox.release(second).await.unwrap();
    let stale = outbox.claim(10, Duration::ZERO).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let taken_over = outbox.claim(10, Duration::ZERO).await.unwrap().unwrap();
    assert_eq!(
        taken_over.events,
        events[2..4],
        "a lease that ran out is taken over"
    );
    outbox.ack(stale, &[]).await.unwrap();
    assert_eq!(
        outbox.backlog().await.unwrap().events,
        2,
        "a late acknowledgement leaves the events to the new lease"
    );
    outbox.extend(&taken_over, minute).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        outbox.claim(10, minute).await.unwrap().is_none(),
        "an extended lease keeps its events"
    );
    outbox.ack(taken_over, &[]).await.unwrap();
    assert_eq!(outbox.backlog().await.unwrap(), Default::default());
}

/// A log that answers the relay's first batch only after several of its leases would have run
/// out, and meanwhile lets another relay try to claim.
struct SlowFirstPost {
    store: Store,
    lease: Duration,
    posts: Mutex<Vec<usize>>,
    /// Events the other relay's claim took during the slow post.
    taken_by_other: Mutex<Option<usize>>,
}

#[async_trait]
impl Deliver for SlowFirstPost {
    async fn deliver(&self, events: Vec<OutboxEvent>) -> anyhow::Result<Vec<Refusal>> {
        let first = {
            let mut posts = self.posts.lock().unwrap();
            posts.push(events.len());
            posts.len() == 1
        };
        if first {
            tokio::time::sleep(self.lease * 3).await;
            let other = self.store.outbox.claim(BATCH, self.lease).await?;
            *self.taken_by_other.lock().unwrap() = Some(other.map_or(0, |l| l.events.len()));
        }
        Ok(Vec::new())
    }
}

/// The batch a relay claims ahead while it posts the one before keeps its lease for as long as
/// that post takes, so another relay cannot take it and the log gets no event twice.
async fn a_batch_claimed_ahead_keeps_its_lease_through_a_slow_post(backend: Backend) {
    let store = open(backend).await;
    let events: Vec<OutboxEvent> = (0..2 * BATCH).map(event).collect();
    store.outbox.append(&events).await.unwrap();
    let lease = Duration::from_secs(1);
    let log = Arc::new(SlowFirstPost {
        store: store.clone(),
        lease,
        posts: Mutex::default(),
        taken_by_other: Mutex::default(),
    });
    let mut relay = Relay::new(store.clone(), log.clone()).lease_for(lease);
    assert_eq!(relay.run_once().await.unwrap(), BATCH as usize);
    assert_eq!(
        *log.taken_by_other.lock().unwrap(),
        Some(0),
        "both the batch being posted and the one claimed ahead are still leased"
    );
    while relay.run_once().await.unwrap() > 0 {}
    assert_eq!(*log.posts.lock().unwrap(), [BATCH as usize; 2]);
    assert_eq!(store.outbox.backlog().await.unwrap(), Default::default());
}

/// A database that a newer release migrated further still opens, so that a rollback needs no
/// change to the schema (docs/OPERATIONS.md, "Upgrade and rollback").
async fn a_schema_migrated_further_still_opens(backend: Backend) {
    let url = support::database_url(backend).await;
    drop(
        store::connect(&url)
            .await
            .expect("the store opens and migrates"),
    );
    let newer = |checksum: &str| {
        format!(
            "INSERT INTO _sqlx_migrations \
             (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from a newer release', TRUE, {checksum}, 0)"
        )
    };
    match backend {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let insert = newer(r"'\x00'::bytea");
            sqlx::raw_sql(&insert).execute(&pool).await.unwrap();
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let insert = newer("X'00'");
            sqlx::raw_sql(&insert).execute(&pool).await.unwrap();
        }
    }
    let store = store::connect(&url)
        .await
        .expect("a migration this release does not know is ignored");
    store.health.ping().await.unwrap();
}

/// A value the schema allows but the service never writes (a timestamp out of range, a status
/// that is no HTTP status) is an error when read, never a default (1970, 0).
async fn a_bad_stored_value_is_an_error_not_a_default(backend: Backend) {
    let store = open(backend).await;
    let dead_letter = "INSERT INTO outbox_dead_letters \
         (event_id, payload, status, reason, created_at, failed_at) VALUES ($1, '{}', $2, 'r', 0, $3)";
    let outbox = "INSERT INTO outbox (event_id, payload, created_at) VALUES ($1, '{}', $2)";
    let far = i64::MAX;
    // The same statements on either pool type.
    macro_rules! store_bad_rows {
        ($pool:expr) => {{
            let pool = $pool;
            for (status, failed_at) in [(70_000_i64, 0_i64), (422, far)] {
                sqlx::query(dead_letter)
                    .bind(Uuid::now_v7())
                    .bind(status)
                    .bind(failed_at)
                    .execute(&pool)
                    .await
                    .unwrap();
                let read = store.outbox.dead_letters(10).await;
                assert!(
                    matches!(read, Err(store::StoreError::Corrupt(_))),
                    "{status}, {failed_at}: {read:?}"
                );
                sqlx::query("DELETE FROM outbox_dead_letters")
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            sqlx::query(outbox)
                .bind(Uuid::now_v7())
                .bind(far)
                .execute(&pool)
                .await
                .unwrap();
        }};
    }
    match backend {
        Backend::Postgres => {
            store_bad_rows!(sqlx::PgPool::connect(&store._database).await.unwrap())
        }
        Backend::Sqlite => {
            store_bad_rows!(sqlx::SqlitePool::connect(&store._database).await.unwrap())
        }
    }
    let backlog = store.outbox.backlog().await;
    assert!(
        matches!(backlog, Err(store::StoreError::Corrupt(_))),
        "{backlog:?}"
    );
}

on_both_backends! {
    a_bad_stored_value_is_an_error_not_a_default => a_bad_stored_value_is_an_error_not_a_default;
    orders_round_trip_with_versions => orders_round_trip_with_versions;
    list_is_newest_first_with_filters => list_is_newest_first_with_filters;
    idempotency_claims => idempotency_claims;
    outbox_delivers_oldest_first_and_keeps_failures => outbox_delivers_oldest_first_and_keeps_failures;
    an_event_is_in_the_outbox_once => an_event_is_in_the_outbox_once;
    refused_events_move_to_dead_letters => refused_events_move_to_dead_letters;
    leases_keep_claims_apart => leases_keep_claims_apart;
    a_batch_claimed_ahead_keeps_its_lease_through_a_slow_post => a_batch_claimed_ahead_keeps_its_lease_through_a_slow_post;
    a_schema_migrated_further_still_opens => a_schema_migrated_further_still_opens;
}
