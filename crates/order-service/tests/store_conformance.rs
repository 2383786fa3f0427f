//! The store conformance suite: one set of expectations of `OrderStore`, run against
//! PostgreSQL and SQLite.

mod support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use order_service::domain::{Order, OrderInput, Status};
use order_service::store::{
    self, Claim, Deliver, Delivered, IdempotencyKey, ListQuery, OrderStore, OutboxEvent, Refusal,
    StoredResponse,
};
use serde_json::json;
use support::Backend;
use uuid::Uuid;

async fn open(backend: Backend) -> Arc<dyn OrderStore> {
    store::connect(&support::database_url(backend).await)
        .await
        .expect("the store opens and migrates")
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
    store.ping().await.unwrap();
    let o = order("alice");
    assert!(store
        .create(&o, None, Some(&event(1)))
        .await
        .unwrap()
        .recorded());
    assert_eq!(
        store.get(o.id).await.unwrap(),
        Some(o.clone()),
        "what is stored is what is read"
    );
    assert_eq!(store.get(Uuid::now_v7()).await.unwrap(), None);
    let mut next = o.clone();
    next.status = Status::Cancelled;
    next.version = 2;
    assert!(store
        .update(&next, 1, Some(&event(2)))
        .await
        .unwrap()
        .is_some_and(|c| c.recorded()));
    assert!(
        store
            .update(&next, 1, Some(&event(3)))
            .await
            .unwrap()
            .is_none(),
        "a stale version writes nothing"
    );
    assert_eq!(
        store.get(o.id).await.unwrap().unwrap().status,
        Status::Cancelled
    );
    assert!(store
        .delete(o.id, 1, Some(&event(4)))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .delete(o.id, 2, Some(&event(5)))
        .await
        .unwrap()
        .is_some_and(|c| c.recorded()));
    assert_eq!(store.get(o.id).await.unwrap(), None);
    let (backlog, oldest) = store.outbox_backlog().await.unwrap();
    assert_eq!(backlog, 3, "only the writes that happened left an event");
    assert!(oldest.is_some());
}

async fn list_is_newest_first_with_filters(backend: Backend) {
    let store = open(backend).await;
    let mut made = Vec::new();
    for customer in ["alice", "bob", "alice", "alice"] {
        let o = order(customer);
        assert!(!store.create(&o, None, None).await.unwrap().recorded());
        made.push(o);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let all = store
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
        store.claim_idempotency_key(&key, "h1").await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim_idempotency_key(&key, "h1").await.unwrap(),
        Claim::InFlight
    );
    assert_eq!(
        store.claim_idempotency_key(&key, "h2").await.unwrap(),
        Claim::Mismatch
    );
    let other = IdempotencyKey {
        caller: "bob".into(),
        key: "k".into(),
    };
    assert_eq!(
        store.claim_idempotency_key(&other, "h1").await.unwrap(),
        Claim::Claimed,
        "scoped per caller"
    );
    store.release_idempotency_key(&other).await.unwrap();
    assert_eq!(
        store.claim_idempotency_key(&other, "h9").await.unwrap(),
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
        .create(&o, Some((&key, &response)), None)
        .await
        .unwrap();
    assert_eq!(
        store.claim_idempotency_key(&key, "h1").await.unwrap(),
        Claim::Completed(response)
    );
    assert_eq!(
        store
            .purge_idempotency_keys(chrono::Utc::now() - chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_idempotency_keys(chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.claim_idempotency_key(&key, "h3").await.unwrap(),
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
    store.append_outbox(&events[..20]).await.unwrap();
    store.append_outbox(&events[20..]).await.unwrap();
    let sink = Collect::default();
    *sink.fail.lock().unwrap() = true;
    assert!(store.deliver_outbox(10, &sink).await.is_err());
    assert_eq!(store.dead_letters(10).await.unwrap(), []);
    assert_eq!(
        store.outbox_backlog().await.unwrap().0,
        25,
        "a failed delivery keeps every event"
    );
    *sink.fail.lock().unwrap() = false;
    assert_eq!(store.deliver_outbox(10, &sink).await.unwrap().delivered, 10);
    assert_eq!(
        store.deliver_outbox(100, &sink).await.unwrap().delivered,
        15
    );
    assert_eq!(
        store.deliver_outbox(100, &sink).await.unwrap(),
        Delivered::default()
    );
    assert_eq!(
        *sink.got.lock().unwrap(),
        events,
        "in order, each once, with payload and trace context"
    );
    assert_eq!(store.outbox_backlog().await.unwrap(), (0, None));
    let (open, _) = store.pool_usage();
    assert!(open >= 1);
}

/// The backstop against an event written twice (by its handler and by the recording layer):
/// the second copy is dropped, and the other events of its batch are still written.
async fn an_event_is_in_the_outbox_once(backend: Backend) {
    let store = open(backend).await;
    let (first, second, third) = (event(1), event(2), event(3));
    let o = order("alice");
    let _ = store.create(&o, None, Some(&first)).await.unwrap();
    store
        .append_outbox(&[second.clone(), first.clone(), second.clone(), third.clone()])
        .await
        .expect("a batch with events already written, and written twice in it, succeeds");
    let mut next = o.clone();
    next.version = 2;
    assert!(store
        .update(&next, 1, Some(&third))
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.outbox_backlog().await.unwrap().0, 3);
    let sink = Collect::default();
    assert_eq!(store.deliver_outbox(100, &sink).await.unwrap().delivered, 3);
    assert_eq!(*sink.got.lock().unwrap(), vec![first, second, third]);
}

/// An event the receiver refuses for good leaves the outbox for the dead-letter table in the
/// same step as the others are delivered, payload intact; delivery goes on.
async fn refused_events_move_to_dead_letters(backend: Backend) {
    let store = open(backend).await;
    let events: Vec<OutboxEvent> = (0..5).map(event).collect();
    store.append_outbox(&events).await.unwrap();
    let sink = Collect::default();
    *sink.refuse.lock().unwrap() = vec![events[1].event_id, events[3].event_id];
    let done = store.deliver_outbox(100, &sink).await.unwrap();
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
    assert_eq!(store.outbox_backlog().await.unwrap(), (0, None));
    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].event_id, events[3].event_id, "newest first");
    assert_eq!(letters[1].payload, events[1].payload);
    assert_eq!(
        (letters[1].status, letters[1].reason.as_str()),
        (422, "invalid")
    );
    store.append_outbox(&[event(9)]).await.unwrap();
    assert_eq!(store.deliver_outbox(100, &sink).await.unwrap().delivered, 1);
}

on_both_backends! {
    orders_round_trip_with_versions => orders_round_trip_with_versions;
    list_is_newest_first_with_filters => list_is_newest_first_with_filters;
    idempotency_claims => idempotency_claims;
    outbox_delivers_oldest_first_and_keeps_failures => outbox_delivers_oldest_first_and_keeps_failures;
    an_event_is_in_the_outbox_once => an_event_is_in_the_outbox_once;
    refused_events_move_to_dead_letters => refused_events_move_to_dead_letters;
}
