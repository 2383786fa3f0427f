//! SPEC section 7 from the order service's side: every `/v1/` call yields exactly one event,
//! durable before the response, delivered through outages and restarts.

use crate::support;

use std::collections::HashMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{order_body, token, Backend, Receiver, TestApp};

const RW: &str = "orders:read orders:write";

/// Makes one call of every kind, each with its own request id; returns id → expected
/// (status, operation, outcome).
async fn one_of_each(
    app: &TestApp,
    tag: &str,
) -> HashMap<String, (u16, &'static str, &'static str)> {
    let alice = token("alice", RW);
    let mut expected = HashMap::new();
    let mut call = |n: &str, status, op, outcome| {
        let id = format!("{tag}-{n}");
        expected.insert(id.clone(), (status, op, outcome));
        id
    };
    let h = &app.http;
    let id = call("create", 201, "order.create", "success");
    let created: Value = h
        .post(app.url("/v1/orders"))
        .bearer_auth(&alice)
        .header("x-request-id", id)
        .json(&order_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/v1/orders/{}", created["id"].as_str().unwrap());
    let cases: Vec<(reqwest::RequestBuilder, u16, &str, &str, &str)> = vec![
        (
            h.get(app.url(&path)).bearer_auth(&alice),
            200,
            "order.get",
            "success",
            "get",
        ),
        (
            h.get(app.url("/v1/orders")).bearer_auth(&alice),
            200,
            "order.list",
            "success",
            "list",
        ),
        (
            h.patch(app.url(&path))
                .bearer_auth(&alice)
                .json(&json!({"notes": "n"})),
            200,
            "order.update",
            "success",
            "patch",
        ),
        (
            h.get(app.url(&format!("/v1/orders/{}", uuid::Uuid::now_v7())))
                .bearer_auth(&alice),
            404,
            "order.get",
            "client_error",
            "missing",
        ),
        (
            h.get(app.url("/v1/orders")),
            401,
            "order.list",
            "denied",
            "anonymous",
        ),
        (
            h.post(app.url("/v1/orders"))
                .bearer_auth(token("alice", "orders:read"))
                .json(&order_body()),
            403,
            "order.create",
            "denied",
            "scope",
        ),
        (
            h.put(app.url("/v1/orders")).bearer_auth(&alice),
            405,
            "request",
            "client_error",
            "method",
        ),
        (
            h.post(app.url("/v1/orders"))
                .bearer_auth(&alice)
                .header("content-type", "application/json")
                .body(vec![b' '; 300 * 1024]),
            413,
            "order.create",
            "client_error",
            "huge",
        ),
        (
            h.post(app.url("/v1/orders"))
                .bearer_auth(&alice)
                .header("content-type", "text/plain")
                .body("x"),
            415,
            "order.create",
            "client_error",
            "media",
        ),
        (
            h.post(app.url("/v1/orders"))
                .bearer_auth(&alice)
                .json(&json!({"currency": "EUR", "items": []})),
            422,
            "order.create",
            "client_error",
            "invalid",
        ),
        (
            h.get(app.url("/v1/unknown")).bearer_auth(&alice),
            404,
            "request",
            "client_error",
            "unmatched",
        ),
        (
            h.delete(app.url(&path)).bearer_auth(&alice),
            204,
            "order.delete",
            "success",
            "delete",
        ),
    ];
    for (request, status, op, outcome, name) in cases {
        let id = call(name, status, op, outcome);
        let r = request.header("x-request-id", id).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{name}");
    }
    expected
}

async fn every_call_is_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let expected = one_of_each(&app, "r").await;
    app.recorded(expected.len()).await;
    let events = app.settled_events().await;
    assert_eq!(events.len(), expected.len(), "exactly one event per call");
    let alice_token = token("alice", RW);
    for event in &events {
        let id = event["request"]["request_id"].as_str().unwrap();
        let (status, op, outcome) = expected[id];
        assert_eq!(event["response"]["status"], status, "{id}");
        assert_eq!(event["operation"], op, "{id}");
        assert_eq!(event["outcome"], outcome, "{id}");
        assert_eq!(event["source"], "order-service");
        assert_eq!(event["trace_id"].as_str().unwrap().len(), 32);
        assert!(event["duration_us"].is_u64());
        if status == 401 {
            assert_eq!(event["actor"], Value::Null);
        } else {
            assert_eq!(event["actor"]["sub"], "alice", "{id}");
        }
        assert!(
            !event.to_string().contains(&alice_token),
            "tokens are never recorded"
        );
    }
    let create = events
        .iter()
        .find(|e| e["operation"] == "order.create" && e["outcome"] == "success")
        .unwrap();
    assert_eq!(create["order_id"], create["response"]["body"]["id"]);
    assert_eq!(create["request"]["body"]["currency"], "EUR");
    let huge = events
        .iter()
        .find(|e| e["request"]["request_id"] == "r-huge")
        .unwrap();
    assert_eq!(
        huge["response"]["body"]["type"],
        "/problems/payload-too-large"
    );
    let deleted = events
        .iter()
        .find(|e| e["operation"] == "order.delete")
        .unwrap();
    assert_eq!(deleted["order_id"], create["order_id"]);
    assert!(app
        .receiver
        .bearer_tokens()
        .iter()
        .all(|t| t == "Bearer delivery-token"));
}

async fn large_bodies_are_cut_and_marked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut body = order_body();
    body["notes"] = json!("n".repeat(100 * 1024));
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(token("alice", RW))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let events = app.recorded(1).await;
    assert_eq!(events[0]["request"]["body_truncated"], true);
    assert!(events[0]["request"]["body"].as_str().unwrap().len() <= 64 * 1024);
    assert_eq!(events[0]["response"]["body_truncated"], false);
}

async fn outage_then_recovery_loses_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.receiver.set_down(true);
    let alice = token("alice", RW);
    let mut ids = Vec::new();
    for i in 0..200 {
        let id = format!("call-{i}");
        let r = match i % 4 {
            0 => app.http.post(app.url("/v1/orders")).json(&order_body()),
            1 => app.http.get(app.url("/v1/orders?limit=5")),
            2 => app
                .http
                .get(app.url(&format!("/v1/orders/{}", uuid::Uuid::now_v7()))),
            _ => app
                .http
                .post(app.url("/v1/orders"))
                .json(&json!({"currency": "x"})),
        }
        .bearer_auth(&alice)
        .header("x-request-id", &id)
        .send()
        .await
        .unwrap();
        assert!(
            [201, 200, 404, 422].contains(&r.status().as_u16()),
            "answered normally while the log is down"
        );
        ids.push(id);
    }
    let backlog = app.store.outbox.backlog().await.unwrap();
    assert_eq!(backlog.events, 200, "everything waits in the outbox");
    app.receiver.set_down(false);
    let events = app.recorded(200).await;
    let mut got: Vec<String> = events
        .iter()
        .map(|e| e["request"]["request_id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every call recorded exactly once");
}

async fn restart_delivers_the_backlog(backend: Backend) {
    let url = support::database_url(backend).await;
    let receiver = Receiver::start().await;
    receiver.set_down(true);
    let app = TestApp::spawn_on(&url, support::hs256_auth(), receiver.clone()).await;
    for _ in 0..10 {
        app.http
            .get(app.url("/v1/orders"))
            .bearer_auth(token("alice", RW))
            .send()
            .await
            .unwrap();
    }
    app.stop().await;
    assert_eq!(receiver.events().len(), 0);
    receiver.set_down(false);
    let again = TestApp::spawn_on(&url, support::hs256_auth(), receiver.clone()).await;
    assert_eq!(again.recorded(10).await.len(), 10);
}

/// Clients that give up before the answer: the service keeps working, and the orders in the
/// database are exactly the creates it recorded, each once.
async fn abandoned_calls_leave_orders_and_records_consistent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = token("alice", RW);
    let mut gave_up = Vec::new();
    for i in 0..40u64 {
        let sent = app
            .http
            .post(app.url("/v1/orders"))
            .bearer_auth(&alice)
            .header("x-request-id", format!("gone-{i}"))
            .json(&order_body())
            .timeout(std::time::Duration::from_micros(300 + (i % 10) * 600))
            .send()
            .await;
        if sent.is_err() {
            gave_up.push(format!("gone-{i}"));
        }
    }
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&alice)
        .header("x-request-id", "patient")
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the service still works");
    // Abandoned calls still run to the end; wait until the database and the deliveries settle.
    let creates = |events: &[Value]| -> Vec<String> {
        let mut ids: Vec<String> = events
            .iter()
            .filter(|e| e["operation"] == "order.create" && e["outcome"] == "success")
            .map(|e| e["order_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let (mut stored, mut created) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let listed = support::get_json(&app, app.url("/v1/orders?limit=200"), &alice).await;
        stored = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        stored.sort();
        created = creates(&app.receiver.events());
        if created == stored {
            break;
        }
    }
    let events = app.receiver.events();
    assert_eq!(
        created, stored,
        "stored orders = recorded creates, each once"
    );
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e["request"]["request_id"].as_str().unwrap())
        .collect();
    // The precondition: some calls were given up by their client after they reached the
    // service (which recorded them), or the test tested nothing.
    assert!(
        gave_up.iter().any(|id| ids.contains(&id.as_str())),
        "no call the client gave up on reached the service ({} given up)",
        gave_up.len()
    );
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "no call recorded twice");
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The event of the call with this request id.
fn by_request_id<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["request"]["request_id"] == id)
        .unwrap_or_else(|| panic!("no event for {id}"))
}

/// Asserts that a recorded request or response carries the digest of `bytes`.
fn assert_digest(part: &Value, bytes: &[u8], what: &str) {
    assert_eq!(part["body_bytes"], bytes.len() as u64, "{what}: body_bytes");
    assert_eq!(part["body_sha256"], sha256(bytes), "{what}: body_sha256");
}

/// SPEC section 7, what the log keeps of bodies: request bodies of authenticated calls only,
/// no response body for a successful read (the ids a list disclosed instead), every body's
/// length and SHA-256 as sent or received.
async fn bodies_are_kept_as_the_policy_says(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = token("alice", RW);
    let h = &app.http;
    let send = |request: reqwest::RequestBuilder, id: &str, body: &[u8]| {
        request
            .header("x-request-id", id)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
    };
    let order = serde_json::to_vec(&order_body()).unwrap();
    let mut received = HashMap::new();
    for (id, bearer) in [("anonymous", None), ("bad-token", Some("not.a.token"))] {
        let mut request = h.post(app.url("/v1/orders"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let r = send(request, id, &order).await.unwrap();
        assert_eq!(r.status(), 401, "{id}");
        received.insert(id, r.bytes().await.unwrap());
    }
    let r = send(
        h.post(app.url("/v1/orders")).bearer_auth(&alice),
        "create",
        &order,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created = r.bytes().await.unwrap();
    let id = serde_json::from_slice::<Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    received.insert("create", created);
    let second = send(
        h.post(app.url("/v1/orders")).bearer_auth(&alice),
        "create-2",
        &order,
    )
    .await
    .unwrap();
    assert_eq!(second.status(), 201);
    for (name, path) in [
        ("get", format!("/v1/orders/{id}")),
        ("list", "/v1/orders?limit=10".to_owned()),
        ("missing", format!("/v1/orders/{}", uuid::Uuid::now_v7())),
    ] {
        let r = h
            .get(app.url(&path))
            .bearer_auth(&alice)
            .header("x-request-id", name)
            .send()
            .await
            .unwrap();
        received.insert(name, r.bytes().await.unwrap());
    }
    let events = app.settled_events().await;

    for id in ["anonymous", "bad-token"] {
        let e = by_request_id(&events, id);
        assert_eq!(e["actor"], Value::Null, "{id}");
        assert_eq!(e["request"]["body"], Value::Null, "{id}: no anonymous body");
        assert!(!e.to_string().contains("Lovelace"), "{id}: nothing of it");
        assert_digest(&e["request"], &order, id);
        assert_eq!(
            e["response"]["body"]["status"], 401,
            "{id}: refusals keep the answer"
        );
        assert_digest(&e["response"], &received[id], id);
    }
    let create = by_request_id(&events, "create");
    assert_eq!(create["request"]["body"]["currency"], "EUR");
    assert_digest(&create["request"], &order, "create");
    assert_eq!(
        create["response"]["body"]["id"],
        id.as_str(),
        "writes keep the answer"
    );
    assert_digest(&create["response"], &received["create"], "create");

    let get = by_request_id(&events, "get");
    assert_eq!(get["response"]["status"], 200);
    assert_eq!(
        get["response"]["body"],
        Value::Null,
        "a successful read keeps no body"
    );
    assert_eq!(get["response"]["body_truncated"], false);
    assert!(get["response"].get("order_ids").is_none());
    assert_digest(&get["request"], b"", "get");
    assert_digest(&get["response"], &received["get"], "get");

    let list = by_request_id(&events, "list");
    assert_eq!(list["response"]["body"], Value::Null);
    let page: Value = serde_json::from_slice(&received["list"]).unwrap();
    let disclosed: Vec<Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(disclosed.len(), 2);
    assert_eq!(list["response"]["order_ids"], Value::Array(disclosed));
    assert_digest(&list["response"], &received["list"], "list");

    let missing = by_request_id(&events, "missing");
    assert_eq!(missing["response"]["status"], 404);
    assert_eq!(
        missing["response"]["body"]["status"], 404,
        "a failed read keeps it"
    );
    assert_digest(&missing["response"], &received["missing"], "missing");
}

/// Issue 14: a caller whose identity provider issues 150 roles, or one very long role, is
/// served and recorded (its scopes cut to the log's limits and marked), and delivery goes on.
async fn odd_tokens_are_recorded_and_delivery_goes_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let many: Vec<String> = (0..150).map(|i| format!("role-{i:03}")).collect();
    let many = token("many", &format!("{RW} {}", many.join(" ")));
    let long = token("long", &format!("{RW} {}", "x".repeat(300)));
    for (name, bearer) in [("many", &many), ("long", &long)] {
        let r = app
            .http
            .post(app.url("/v1/orders"))
            .bearer_auth(bearer)
            .header("x-request-id", format!("{name}-create"))
            .json(&order_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{name}");
        let r = app
            .http
            .get(app.url("/v1/orders"))
            .bearer_auth(bearer)
            .header("x-request-id", format!("{name}-list"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
    }
    let r = app
        .http
        .get(app.url("/v1/orders"))
        .bearer_auth(token("alice", RW))
        .header("x-request-id", "after")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Waits until the outbox is empty: every event was accepted by the log's validation.
    let events = app.settled_events().await;
    assert_eq!(events.len(), 5);
    for id in ["many-create", "many-list"] {
        let e = by_request_id(&events, id);
        let scopes = e["actor"]["scopes"].as_array().unwrap();
        assert_eq!(scopes.len(), 100, "{id}: the first 100 scopes");
        assert_eq!(e["truncated"], json!(["actor.scopes"]), "{id}");
    }
    for id in ["long-create", "long-list"] {
        let e = by_request_id(&events, id);
        assert_eq!(
            e["actor"]["scopes"],
            json!(["orders:read", "orders:write"]),
            "{id}: the over-long scope is dropped"
        );
        assert_eq!(e["truncated"], json!(["actor.scopes"]), "{id}");
    }
    assert!(by_request_id(&events, "after").get("truncated").is_none());
    assert!(app.store.outbox.dead_letters(10).await.unwrap().is_empty());
}

/// SPEC section 7: an event the log refuses (422) never blocks the others. It is found in its
/// batch, set aside in the dead-letter table and counted; the valid events of the same batch
/// and every later one are delivered.
async fn a_refused_event_is_set_aside_and_the_rest_delivered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.receiver.set_down(true);
    app.receiver.refuse("poison");
    let alice = token("alice", RW);
    let ids: Vec<String> = (0..9)
        .map(|i| {
            if i == 4 {
                "poison".into()
            } else {
                format!("ok-{i}")
            }
        })
        .collect();
    for id in &ids {
        let r = app
            .http
            .get(app.url("/v1/orders"))
            .bearer_auth(&alice)
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // All nine wait in the outbox, so that they go out in one batch with the poison inside.
    assert_eq!(app.store.outbox.backlog().await.unwrap().events, 9);
    app.receiver.set_down(false);
    let events = app.settled_events().await;
    let mut got: Vec<&str> = events
        .iter()
        .map(|e| e["request"]["request_id"].as_str().unwrap())
        .collect();
    got.sort_unstable();
    let expected: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|i| *i != "poison")
        .collect();
    assert_eq!(got, expected, "every valid event of the batch is delivered");
    assert!(
        app.receiver.poisoned_batches() >= 1,
        "the batch was refused"
    );
    let letters = app.store.outbox.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let payload: Value = serde_json::from_str(&letters[0].payload).unwrap();
    assert_eq!(payload["request"]["request_id"], "poison");
    assert_eq!(payload["event_id"], letters[0].event_id.to_string());
    assert_eq!(letters[0].status, 422);
    assert!(letters[0].reason.contains("refused on purpose"));
    let metrics = platform::metrics::handle().render();
    let count: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("outbox_dead_letters_total "))
        .unwrap_or_else(|| panic!("no outbox_dead_letters_total in\n{metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!(count >= 1.0, "outbox_dead_letters_total = {count}");

    // Delivery goes on.
    let r = app
        .http
        .get(app.url("/v1/orders"))
        .bearer_auth(&alice)
        .header("x-request-id", "later")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = app.recorded(9).await;
    by_request_id(&events, "later");
}

on_both_backends! {
    a_refused_event_is_set_aside_and_the_rest_delivered => a_refused_event_is_set_aside_and_the_rest_delivered;
    bodies_are_kept_as_the_policy_says => bodies_are_kept_as_the_policy_says;
    odd_tokens_are_recorded_and_delivery_goes_on => odd_tokens_are_recorded_and_delivery_goes_on;
    abandoned_calls_leave_orders_and_records_consistent => abandoned_calls_leave_orders_and_records_consistent;
    every_call_is_recorded_once => every_call_is_recorded_once;
    large_bodies_are_cut_and_marked => large_bodies_are_cut_and_marked;
    outage_then_recovery_loses_nothing => outage_then_recovery_loses_nothing;
    restart_delivers_the_backlog => restart_delivers_the_backlog;
}
