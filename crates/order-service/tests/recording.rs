//! SPEC section 7 from the order service's side: every `/v1/` call yields exactly one event,
//! durable before the response, delivered through outages and restarts.

mod support;

use std::collections::HashMap;

use serde_json::{json, Value};
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
    let (backlog, _) = app.store.outbox_backlog().await.unwrap();
    assert_eq!(backlog, 200, "everything waits in the outbox");
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
    for i in 0..40u64 {
        let _ = app
            .http
            .post(app.url("/v1/orders"))
            .bearer_auth(&alice)
            .header("x-request-id", format!("gone-{i}"))
            .json(&order_body())
            .timeout(std::time::Duration::from_micros(300 + (i % 10) * 600))
            .send()
            .await;
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
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "no call recorded twice");
}

on_both_backends! {
    abandoned_calls_leave_orders_and_records_consistent => abandoned_calls_leave_orders_and_records_consistent;
    every_call_is_recorded_once => every_call_is_recorded_once;
    large_bodies_are_cut_and_marked => large_bodies_are_cut_and_marked;
    outage_then_recovery_loses_nothing => outage_then_recovery_loses_nothing;
    restart_delivers_the_backlog => restart_delivers_the_backlog;
}
