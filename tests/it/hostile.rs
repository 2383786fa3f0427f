//! Hostile input against the real binaries (issue 7): every answer is a clear 4xx
//! problem+json, or a refusal at the HTTP layer for transport-level abuse, never a 5xx or a
//! crash; afterwards the transaction log verifies, every call that reached the API is
//! recorded exactly once, and the orders stored are exactly the ones created.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::hostile::{
    assert_problem, assert_refused, audit, odd_methods, open_files_limit, raw, read_response,
    request_series, Ledger, ADMIN,
};
use support::{token, System};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const RW: &str = "orders:read orders:write";

fn order() -> Value {
    json!({"currency": "EUR", "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250}]})
}

fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("{}1{}", open.repeat(depth), close.repeat(depth))
}

/// A create body whose `notes` is the given raw JSON text.
fn with_notes(notes: &str) -> String {
    format!(
        r#"{{"currency":"EUR","items":[{{"sku":"SKU-1","name":"W","quantity":1,"unit_price":1}}],"notes":{notes}}}"#
    )
}

fn item_with(field: &str, raw_value: &str) -> String {
    let mut item = serde_json::Map::new();
    item.insert("sku".into(), json!("SKU-1"));
    item.insert("name".into(), json!("W"));
    item.insert("quantity".into(), json!(1));
    item.insert("unit_price".into(), json!(1));
    item.remove(field);
    let mut text = serde_json::to_string(&Value::Object(item)).unwrap();
    text.insert_str(1, &format!("\"{field}\":{raw_value},"));
    format!(r#"{{"currency":"EUR","items":[{text}]}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_headers_and_urls_get_clear_4xx_and_are_recorded_once() {
    let system = System::start().await;
    let base = system.orders.base.clone();
    let http = reqwest::Client::new();
    let ledger = Ledger::default();
    let alice = token("alice", RW);
    let admin = token("root", ADMIN);

    let post = |body: Vec<u8>| {
        http.post(format!("{base}/v1/orders"))
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body(body)
    };

    // A good order to patch, and a baseline.
    let created = ledger
        .send("api:create", post(order().to_string().into_bytes()))
        .await;
    assert_eq!(created.status, Some(201));
    let id = serde_json::from_slice::<Value>(&created.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bodies: (label, body, acceptable statuses).
    let bodies: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("api:nested-arrays-100k", "[".repeat(100_000).into_bytes(), &[400, 422]),
        ("api:nested-objects-40k", r#"{"a":"#.repeat(40_000).into_bytes(), &[400, 422]),
        ("api:nested-closed-100k", nested("[", "]", 100_000).into_bytes(), &[400, 422]),
        ("api:nested-in-items-100k", format!(r#"{{"currency":"EUR","items":[{}"#, "[".repeat(100_000)).into_bytes(), &[400, 422]),
        // Deep but within the parser's limit: must be recorded and delivered like any call.
        ("api:nested-notes-120", with_notes(&nested("[", "]", 120)).into_bytes(), &[422]),
        ("api:nested-notes-126", with_notes(&nested("[", "]", 126)).into_bytes(), &[400, 422]),
        ("api:top-level-126", nested("[", "]", 126).into_bytes(), &[400, 422]),
        ("api:quantity-1e400", item_with("quantity", "1e400").into_bytes(), &[400, 422]),
        ("api:quantity-2^64", item_with("quantity", "18446744073709551616").into_bytes(), &[422]),
        ("api:quantity-u64max", item_with("quantity", "18446744073709551615").into_bytes(), &[422]),
        ("api:quantity-neg", item_with("quantity", "-1").into_bytes(), &[422]),
        ("api:quantity-fraction", item_with("quantity", "1.5").into_bytes(), &[422]),
        ("api:price-1e400", item_with("unit_price", "1e400").into_bytes(), &[400, 422]),
        ("api:price-1e19", item_with("unit_price", "10000000000000000000").into_bytes(), &[422]),
        ("api:price-digits", item_with("unit_price", &"9".repeat(5000)).into_bytes(), &[400, 422]),
        ("api:notes-1e400", with_notes("1e400").into_bytes(), &[400, 422]),
        (
            "api:duplicate-currency",
            br#"{"currency":"EUR","currency":"USD","items":[{"sku":"S","name":"W","quantity":1,"unit_price":1}]}"#.to_vec(),
            &[422],
        ),
        (
            "api:duplicate-quantity",
            br#"{"currency":"EUR","items":[{"sku":"S","name":"W","quantity":1,"quantity":100000,"unit_price":1}]}"#.to_vec(),
            &[422],
        ),
        (
            "api:invalid-utf8-in-string",
            b"{\"currency\":\"EUR\",\"items\":[{\"sku\":\"S\xff\xfe\",\"name\":\"W\",\"quantity\":1,\"unit_price\":1}]}".to_vec(),
            &[400],
        ),
        ("api:invalid-utf8-bare", b"\xc3\x28\xa0\xa1\xe2\x28\xa1".to_vec(), &[400]),
        ("api:utf16-bom", b"\xff\xfe{\x00}\x00".to_vec(), &[400]),
        ("api:raw-nul-in-string", with_notes("\"a\0b\"").into_bytes(), &[400]),
        ("api:escaped-nul-in-notes", with_notes(r#""a\u0000b""#).into_bytes(), &[422]),
        ("api:escaped-nul-in-name", item_with("name", r#""W\u0000""#).into_bytes(), &[422]),
        ("api:escaped-nul-in-sku", item_with("sku", r#""S\u0000""#).into_bytes(), &[422]),
        ("api:bidi-override-in-name", item_with("name", r#""abc\u202Edef""#).into_bytes(), &[422]),
        ("api:bidi-isolate-in-notes", with_notes(r#""x\u2066y\u2069""#).into_bytes(), &[422]),
        ("api:lone-surrogate", with_notes(r#""\uD800""#).into_bytes(), &[400, 422]),
        ("api:empty", Vec::new(), &[400]),
        ("api:trailing-garbage", format!("{} x", order()).into_bytes(), &[400]),
        ("api:two-documents", format!("{}{}", order(), order()).into_bytes(), &[400]),
        ("api:too-large", vec![b' '; 300 * 1024], &[413]),
    ];
    for (label, body, expected) in bodies {
        let call = ledger.send(label, post(body)).await;
        assert_problem(&call, expected);
    }

    // Admin-only fields with hostile values.
    for (label, customer) in [
        ("api:customer-nul", "a\u{0}b"),
        ("api:customer-bidi", "al\u{202e}ice"),
        ("api:customer-empty", ""),
        ("api:customer-long", &"c".repeat(10_000)),
    ] {
        let mut body = order();
        body["customer_id"] = json!(customer);
        let call = ledger
            .send(
                label,
                http.post(format!("{base}/v1/orders"))
                    .bearer_auth(&admin)
                    .json(&body),
            )
            .await;
        assert_problem(&call, &[422]);
    }

    // Merge patches.
    let patch = |body: Vec<u8>| {
        http.patch(format!("{base}/v1/orders/{id}"))
            .bearer_auth(&alice)
            .header("content-type", "application/merge-patch+json")
            .body(body)
    };
    let patches: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("api:patch-nested", "[".repeat(100_000).into_bytes(), &[400]),
        (
            "api:patch-nested-notes",
            format!(r#"{{"notes":{}}}"#, nested("[", "]", 120)).into_bytes(),
            &[422],
        ),
        (
            "api:patch-nul-notes",
            br#"{"notes":"a\u0000"}"#.to_vec(),
            &[422],
        ),
        (
            "api:patch-bidi-notes",
            br#"{"notes":"a\u202e"}"#.to_vec(),
            &[422],
        ),
        (
            "api:patch-huge-quantity",
            br#"{"items":[{"sku":"S","name":"W","quantity":1e400,"unit_price":1}]}"#.to_vec(),
            &[400, 422],
        ),
        (
            "api:patch-duplicate-status",
            br#"{"status":"cancelled","status":"delivered"}"#.to_vec(),
            &[400, 403, 409, 422],
        ),
        (
            "api:patch-invalid-utf8",
            b"{\"notes\":\"\xff\"}".to_vec(),
            &[400],
        ),
        (
            "api:patch-unknown",
            br#"{"total":1e400}"#.to_vec(),
            &[400, 422],
        ),
        ("api:patch-version", br#"{"version":-1}"#.to_vec(), &[422]),
    ];
    for (label, body, expected) in patches {
        let call = ledger.send(label, patch(body)).await;
        assert_problem(&call, expected);
    }

    // Query strings.
    let many_unknown: String = (0..5000).map(|i| format!("p{i}=1&")).collect();
    let many_repeated: String = (0..5000).map(|_| "limit=1&").collect();
    let many_empty = "&".repeat(20_000);
    let queries: Vec<(&str, String, &str, &[u16])> = vec![
        ("api:query-5000-unknown", many_unknown, RW, &[400]),
        ("api:query-5000-repeated", many_repeated, RW, &[400]),
        ("api:query-20000-ampersands", many_empty, RW, &[200, 400]),
        (
            "api:query-customer-nul",
            "customer_id=a%00b".into(),
            ADMIN,
            &[200, 400],
        ),
        (
            "api:query-customer-bidi",
            "customer_id=a%E2%80%AEb".into(),
            ADMIN,
            &[200, 400],
        ),
        (
            "api:query-invalid-utf8",
            "customer_id=%FF%FE".into(),
            ADMIN,
            &[200, 400],
        ),
        (
            "api:query-status-nul",
            "status=pending%00".into(),
            RW,
            &[400],
        ),
        (
            "api:query-limit-huge",
            "limit=99999999999999999999999".into(),
            RW,
            &[400],
        ),
        (
            "api:query-date-huge",
            "created_after=99999-01-01T00:00:00Z".into(),
            RW,
            &[400],
        ),
        (
            "api:query-cursor-long",
            format!("cursor={}", "A".repeat(50_000)),
            RW,
            &[400],
        ),
        ("api:query-cursor-nul", "cursor=AA%00".into(), RW, &[400]),
    ];
    for (label, query, scopes, expected) in queries {
        let call = ledger
            .send(
                label,
                http.get(format!("{base}/v1/orders?{query}"))
                    .bearer_auth(token("alice", scopes)),
            )
            .await;
        if call.status == Some(200) {
            assert!(call.echoed, "{label}");
        } else {
            assert_problem(&call, expected);
        }
    }

    // Long paths and header values that still fit the head limit reach the API.
    let long_id = "a".repeat(50_000);
    let call = ledger
        .send(
            "api:path-50k",
            http.get(format!("{base}/v1/orders/{long_id}"))
                .bearer_auth(&alice),
        )
        .await;
    assert_problem(&call, &[400, 404]);
    let call = ledger
        .send(
            "api:path-unknown-50k",
            http.get(format!("{base}/v1/{long_id}")).bearer_auth(&alice),
        )
        .await;
    assert_problem(&call, &[404]);
    let call = ledger
        .send(
            "api:user-agent-50k",
            http.get(format!("{base}/v1/orders"))
                .bearer_auth(&alice)
                .header("user-agent", "u".repeat(50_000)),
        )
        .await;
    assert_eq!(call.status, Some(200), "{}", call.label);
    let call = ledger
        .send(
            "api:token-50k",
            http.get(format!("{base}/v1/orders"))
                .bearer_auth("x".repeat(50_000)),
        )
        .await;
    assert_problem(&call, &[401]);
    let call = ledger
        .send(
            "api:idempotency-key-long",
            post(order().to_string().into_bytes()).header("idempotency-key", "k".repeat(5000)),
        )
        .await;
    assert_problem(&call, &[400, 422]);

    // Transport-level abuse: refused by the HTTP layer before any route, never a 5xx.
    let huge_header = ledger
        .send(
            "transport:header-100k",
            http.get(format!("{base}/v1/orders"))
                .bearer_auth(&alice)
                .header("x-junk", "j".repeat(100_000)),
        )
        .await;
    assert_refused(&huge_header);
    assert_ne!(huge_header.status, Some(200));
    let mut many = http.get(format!("{base}/v1/orders")).bearer_auth(&alice);
    for i in 0..500 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let many_headers = ledger.send("transport:500-headers", many).await;
    assert_refused(&many_headers);
    assert_ne!(many_headers.status, Some(200));
    let long_path = ledger
        .send(
            "transport:path-100k",
            http.get(format!("{base}/v1/orders/{}", "a".repeat(100_000)))
                .bearer_auth(&alice),
        )
        .await;
    assert_refused(&long_path);
    for (label, bytes) in [
        ("transport:nul-in-header", b"GET /v1/orders HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\nConnection: close\r\n\r\n".to_vec()),
        ("transport:nul-in-path", b"GET /v1/orders/\0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("transport:bad-method", b"G\xffT /v1/orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("transport:bad-version", b"GET /v1/orders HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("transport:cl-and-te", b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n".to_vec()),
        ("transport:two-content-lengths", b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd".to_vec()),
        ("transport:huge-content-length", b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\nConnection: close\r\n\r\n".to_vec()),
        ("transport:bad-chunk", b"POST /v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nConnection: close\r\n\r\nzz\r\n".to_vec()),
    ] {
        let request_id = ledger.request_id(label);
        let result = raw(&base, &bytes, Duration::from_secs(15)).await;
        let call = ledger.add_raw(label, &request_id, &result);
        assert_refused(&call);
    }

    // Methods the API does not know, some longer than the log's 16-character limit: a 405
    // (or 401 without a token), recorded like any call.
    for (label, method, bearer, expected) in [
        ("api:long-method", "PROPFINDPROPFINDPROPFIND", true, 405u16),
        (
            "api:long-method-anonymous",
            "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            false,
            401,
        ),
        ("api:odd-method", "BREW", true, 405),
    ] {
        let request_id = ledger.request_id(label);
        let auth = if bearer {
            format!("Authorization: Bearer {alice}\r\n")
        } else {
            String::new()
        };
        let bytes = format!(
            "{method} /v1/orders HTTP/1.1\r\nHost: x\r\n{auth}X-Request-Id: {request_id}\r\nConnection: close\r\n\r\n"
        );
        let result = raw(&base, bytes.as_bytes(), Duration::from_secs(15)).await;
        let call = ledger.add_raw(label, &request_id, &result);
        assert_problem(&call, &[expected]);
    }

    // The transaction log service gets the same treatment.
    let txlog = system.txlog.base.clone();
    let writer = token("order-service", "txlog:write");
    let auditor = token("auditor", "txlog:read");
    for (label, body, expected) in [
        (
            "txlog:nested",
            "[".repeat(100_000).into_bytes(),
            &[400u16, 422][..],
        ),
        (
            "txlog:nested-in-batch",
            format!(r#"{{"transactions":{}"#, "[".repeat(100_000)).into_bytes(),
            &[400],
        ),
        (
            "txlog:nested-object",
            r#"{"transactions":"#.repeat(50_000).into_bytes(),
            &[400, 422],
        ),
        (
            "txlog:invalid-utf8",
            b"{\"transactions\":[\"\xff\"]}".to_vec(),
            &[400],
        ),
        (
            "txlog:duplicate-key",
            br#"{"transactions":[],"transactions":[]}"#.to_vec(),
            &[422],
        ),
        (
            "txlog:huge-number",
            br#"{"transactions":[1e400]}"#.to_vec(),
            &[400, 422],
        ),
        (
            "txlog:empty-batch",
            br#"{"transactions":[]}"#.to_vec(),
            &[422],
        ),
    ] {
        let call = ledger
            .send(
                label,
                http.post(format!("{txlog}/v1/transactions"))
                    .bearer_auth(&writer)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_problem(&call, expected);
    }
    for (label, query) in [
        (
            "txlog:query-5000",
            (0..5000).map(|i| format!("p{i}=1&")).collect::<String>(),
        ),
        ("txlog:query-nul", "order_id=%00".into()),
        (
            "txlog:query-cursor",
            format!("cursor={}", "Z".repeat(40_000)),
        ),
        ("txlog:query-limit", "limit=1e400".into()),
    ] {
        let call = ledger
            .send(
                label,
                http.get(format!("{txlog}/v1/transactions?{query}"))
                    .bearer_auth(&auditor),
            )
            .await;
        if call.status == Some(200) {
            assert!(call.echoed, "{label}");
        } else {
            assert_problem(&call, &[400]);
        }
    }
    let call = ledger
        .send(
            "txlog:header-100k",
            http.get(format!("{txlog}/v1/transactions"))
                .bearer_auth(&auditor)
                .header("x-junk", "j".repeat(100_000)),
        )
        .await;
    assert_refused(&call);

    // Still serving, normally.
    let after = ledger
        .send("api:after", post(order().to_string().into_bytes()))
        .await;
    assert_eq!(after.status, Some(201));
    audit(&system, &ledger, "api:").await;
}

/// A request head with `Content-Length` whose body then stalls or trickles.
async fn slow_post(base: &str, request_id: &str, bearer: Option<&str>) -> TcpStream {
    let mut stream = TcpStream::connect(support::hostile::authority(base))
        .await
        .unwrap();
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 1000\r\nX-Request-Id: {request_id}\r\n\r\n{{\"currency\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_and_heads_time_out_and_the_service_stays_healthy() {
    let system = System::start().await;
    let base = system.orders.base.clone();
    let ledger = Ledger::default();
    let alice = token("alice", RW);
    let started = Instant::now();

    // A body that stalls after a few bytes: 408 problem after the idle timeout.
    let stall_id = ledger.request_id("api:body-stall");
    let stall = {
        let base = base.clone();
        let alice = alice.clone();
        let stall_id = stall_id.clone();
        tokio::spawn(async move {
            let mut stream = slow_post(&base, &stall_id, Some(&alice)).await;
            let result = read_response(&mut stream, Duration::from_secs(40)).await;
            (result, Instant::now())
        })
    };
    // A body that trickles one byte a second: 408 once the total body time is over.
    let trickle_id = ledger.request_id("api:body-trickle");
    let trickle = {
        let base = base.clone();
        let alice = alice.clone();
        let trickle_id = trickle_id.clone();
        tokio::spawn(async move {
            let mut stream = slow_post(&base, &trickle_id, Some(&alice)).await;
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if stream.write_all(b" ").await.is_err() {
                    break;
                }
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(1), stream.peek(&mut [0u8; 1])).await
                {
                    if n > 0 {
                        break;
                    }
                }
            }
            let result = read_response(&mut stream, Duration::from_secs(20)).await;
            (result, Instant::now())
        })
    };
    // Unauthenticated slow body: refused at once, without waiting for the body.
    let anon_id = ledger.request_id("api:body-stall-anonymous");
    let mut anon = slow_post(&base, &anon_id, None).await;
    let anon_result = read_response(&mut anon, Duration::from_secs(5)).await;
    let anon_call = ledger.add_raw("api:body-stall-anonymous", &anon_id, &anon_result);
    assert_problem(&anon_call, &[401]);

    // A head that never ends, and a connection that never says anything: closed.
    let mut head_stall = TcpStream::connect(support::hostile::authority(&base))
        .await
        .unwrap();
    head_stall
        .write_all(b"GET /v1/orders HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(support::hostile::authority(&base))
        .await
        .unwrap();
    // Slowloris: one byte of head every 2 s.
    let mut loris = TcpStream::connect(support::hostile::authority(&base))
        .await
        .unwrap();
    let loris_task = tokio::spawn(async move {
        let started = Instant::now();
        for b in b"GET /v1/orders HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if loris.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), loris.peek(&mut [0u8; 1])).await
            {
                break;
            }
        }
        started.elapsed()
    });

    // Meanwhile the service answers normal calls promptly.
    let http = reqwest::Client::new();
    for i in 0..5 {
        let call = ledger
            .send(
                &format!("api:during-{i}"),
                http.get(format!("{base}/v1/orders")).bearer_auth(&alice),
            )
            .await;
        assert_eq!(call.status, Some(200));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let head_result = read_response(&mut head_stall, Duration::from_secs(30)).await;
    let head_elapsed = started.elapsed();
    assert!(
        head_result
            .as_ref()
            .map_or(true, |r| r.status == 408 || r.status == 400),
        "{head_result:?}"
    );
    assert!(
        head_elapsed < Duration::from_secs(25),
        "a stalled head was held for {head_elapsed:?}"
    );
    let silent_result = read_response(&mut silent, Duration::from_secs(30)).await;
    assert!(
        silent_result.is_err(),
        "a silent connection got {silent_result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a silent connection was held"
    );
    let loris_elapsed = loris_task.await.unwrap();
    assert!(
        loris_elapsed < Duration::from_secs(30),
        "slowloris held a connection for {loris_elapsed:?}"
    );

    let (stall_result, stall_done) = stall.await.unwrap();
    let stall_call = ledger.add_raw("api:body-stall", &stall_id, &stall_result);
    assert_problem(&stall_call, &[408]);
    assert!(
        stall_done - started < Duration::from_secs(25),
        "stalled body answered after {:?}",
        stall_done - started
    );
    let (trickle_result, trickle_done) = trickle.await.unwrap();
    let trickle_call = ledger.add_raw("api:body-trickle", &trickle_id, &trickle_result);
    assert_problem(&trickle_call, &[408]);
    assert!(
        trickle_done - started < Duration::from_secs(45),
        "trickled body answered after {:?}",
        trickle_done - started
    );

    let after = ledger
        .send(
            "api:after",
            http.post(format!("{base}/v1/orders"))
                .bearer_auth(&alice)
                .json(&order()),
        )
        .await;
    assert_eq!(after.status, Some(201));
    audit(&system, &ledger, "api:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_neither_crash_nor_block_the_service() {
    const IDLE: usize = 10_000;
    match open_files_limit() {
        Some(limit) if limit >= IDLE as u64 + 500 => {}
        other => {
            let message = format!(
                "this test needs {} open files; the limit is {other:?} (raise it with `ulimit -n`)",
                IDLE + 500
            );
            testkit::unavailable(message);
            return;
        }
    }
    let system = System::start().await;
    let base = system.orders.base.clone();
    let ledger = Ledger::default();
    let alice = token("alice", RW);
    let addr = support::hostile::authority(&base).to_owned();

    let mut idle = Vec::with_capacity(IDLE);
    let mut failed = 0usize;
    for _ in 0..IDLE / 500 {
        let batch =
            futures::future::join_all((0..500).map(|_| TcpStream::connect(addr.as_str()))).await;
        for c in batch {
            match c {
                Ok(stream) => idle.push(stream),
                Err(_) => failed += 1,
            }
        }
    }
    assert!(
        idle.len() >= IDLE * 9 / 10,
        "only {} of {IDLE} connections opened ({failed} failed)",
        idle.len()
    );

    // With all of them open the service still answers, promptly.
    let http = reqwest::Client::new();
    for i in 0..5 {
        let started = Instant::now();
        let call = ledger
            .send(
                &format!("api:under-load-{i}"),
                http.post(format!("{base}/v1/orders"))
                    .bearer_auth(&alice)
                    .json(&order()),
            )
            .await;
        assert_eq!(call.status, Some(201), "{call:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    drop(idle);

    let after = ledger
        .send(
            "api:after",
            http.get(format!("{base}/v1/orders")).bearer_auth(&alice),
        )
        .await;
    assert_eq!(after.status, Some(200));
    audit(&system, &ledger, "api:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_method_names_keep_the_metric_series_bounded() {
    let system = System::start().await;
    for base in [&system.orders.base, &system.txlog.base] {
        let before = request_series(base).await;
        let answered = odd_methods(base, "/healthz", 10_000).await;
        assert_eq!(answered, 10_000, "{base}");
        let unknown_route = odd_methods(base, "/no/such/path", 100).await;
        assert_eq!(unknown_route, 100, "{base}");
        let after = request_series(base).await;
        assert!(
            after.len() <= before.len() + 6,
            "{base}: {} series before, {} after: {after:#?}",
            before.len(),
            after.len()
        );
        for series in &after {
            let method = series
                .split("method=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default();
            assert!(
                ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"]
                    .contains(&method),
                "{series}"
            );
        }
        assert!(
            after.iter().any(|s| s.contains(r#"method="other""#)),
            "{after:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preface_only_http2_connections_are_closed_after_the_idle_timeout() {
    // As many as the connection cap: before the idle timeout they locked everyone out.
    const HOLD: usize = 4096;
    match open_files_limit() {
        Some(limit) if limit >= HOLD as u64 + 500 => {}
        other => {
            let message = format!(
                "this test needs {} open files; the limit is {other:?} (raise it with `ulimit -n`)",
                HOLD + 500
            );
            testkit::unavailable(message);
            return;
        }
    }
    let system = System::start().await;
    let base = system.orders.base.clone();
    let addr = support::hostile::authority(&base).to_owned();
    let started = tokio::time::Instant::now();
    let mut held = Vec::with_capacity(HOLD);
    for _ in 0..HOLD / 512 {
        let batch = futures::future::join_all((0..512).map(|_| async {
            let mut stream = TcpStream::connect(addr.as_str()).await.ok()?;
            stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .ok()?;
            Some(stream)
        }))
        .await;
        held.extend(batch.into_iter().flatten());
    }
    assert!(held.len() >= HOLD * 9 / 10, "only {} opened", held.len());
    // The idle timeout is 30 s, HTTP/2 keep-alive gives up after 20 + 10 s.
    let deadline = started + Duration::from_secs(50);
    let closed = futures::future::join_all(
        held.iter_mut()
            .map(|stream| support::hostile::closed_by(stream, deadline)),
    )
    .await;
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(
        open, 0,
        "{open} preface-only connections were still open after 50 s"
    );
    let alice = token("alice", RW);
    let answer = reqwest::Client::new()
        .get(format!("{base}/v1/orders"))
        .bearer_auth(&alice)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_during_the_drain_delay_after_sigterm_is_served() {
    let mut system = System::start_with(&[("ORDERS_SHUTDOWN_DELAY", "3s")]).await;
    let base = system.orders.base.clone();
    let alice = token("alice", RW);
    let create = |request_id: &str| {
        // A new connection for every call: the listener itself must still accept.
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
            .post(format!("{base}/v1/orders"))
            .bearer_auth(&alice)
            .header("x-request-id", request_id)
            .json(&order())
    };
    let before = create("drain-before").send().await.unwrap();
    assert_eq!(before.status(), 201);

    system.orders.terminate();
    let signalled = Instant::now();
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    loop {
        let ready = fresh().get(format!("{base}/readyz")).send().await.unwrap();
        if ready.status() == 503 {
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "/readyz still answers {} after SIGTERM",
            ready.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = create("drain-during").send().await.unwrap();
    assert_eq!(during.status(), 201, "a request during the drain delay");
    let during_id = during.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ready = fresh().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(signalled.elapsed() < Duration::from_secs(3));

    let status = tokio::task::block_in_place(|| system.orders.wait_exit(Duration::from_secs(40)));
    assert!(status.success(), "{status}");
    let took = signalled.elapsed();
    assert!(took >= Duration::from_secs(3), "stopped after {took:?}");
    assert!(
        fresh().get(format!("{base}/healthz")).send().await.is_err(),
        "still listening after the exit"
    );
    // The outbox drained before the exit: both calls are in the log.
    let records = system.settled_records().await;
    for request_id in ["drain-before", "drain-during"] {
        assert!(
            records
                .iter()
                .any(|r| r["request"]["request_id"] == request_id),
            "{request_id} is not in the log"
        );
    }
    assert!(records.iter().any(|r| r.to_string().contains(&during_id)));
}

/// Issue 26, hole 1: one authenticated call with serde's private marker key in its body once
/// made the log answer 500 for every page that held its record, `/verify` report a false
/// tamper alarm and `ordersys audit --full` fail for good. Through the whole pipeline (the
/// order service's recording, delivery, the log's append, list, fetch, `/verify`, the auditor),
/// every such body is stored as sent, or as its text when the log could not keep it exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_body_never_makes_the_log_unreadable() {
    let system = System::start().await;
    let base = system.orders.base.clone();
    let http = reqwest::Client::new();
    let alice = token("alice", RW);
    let created: Value = http
        .post(format!("{base}/v1/orders"))
        .bearer_auth(&alice)
        .json(&order())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    const RAW: &str = "$serde_json::private::RawValue";
    // (method, body, recorded as text rather than as JSON)
    let bodies: Vec<(&str, String, bool)> = vec![
        ("POST", format!(r#"{{"a":1,"{RAW}":"x"}}"#), false),
        ("POST", format!(r#"{{"{RAW}":"x"}}"#), false),
        ("POST", format!(r#"{{"{RAW}":"1"}}"#), false),
        (
            "POST",
            format!(r#"{{"b":{{"{RAW}":"[]"}},"$serde_json::private::Number":"1"}}"#),
            false,
        ),
        ("POST", with_notes("9007199254740993"), true),
        (
            "POST",
            r#"{"currency":"EUR","currency":"USD"}"#.to_owned(),
            true,
        ),
        (
            "POST",
            "{\"\u{1f600}\":1,\"\u{e000}\":\"\u{2028}\"}".to_owned(),
            false,
        ),
        (
            "PATCH",
            format!(r#"{{"{RAW}":"{{\"status\":\"cancelled\"}}"}}"#),
            false,
        ),
        ("PATCH", format!(r#"{{"notes":"n","{RAW}":"x"}}"#), false),
    ];
    let mut sent = Vec::new();
    for (method, body, as_text) in &bodies {
        let request = match *method {
            "POST" => http.post(format!("{base}/v1/orders")),
            _ => http.patch(format!("{base}/v1/orders/{id}")),
        };
        let request_id = format!("hostile-body-{}", sent.len());
        let response = request
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .header("x-request-id", &request_id)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{body}: answered {status}");
        sent.push((request_id, body, *as_text));
    }
    // The marker patch was read as an unknown key, not as the patch it wraps.
    let order: Value = http
        .get(format!("{base}/v1/orders/{id}"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "pending");

    let records = system.settled_records().await;
    for (request_id, body, as_text) in &sent {
        let record = records
            .iter()
            .find(|r| r["request"]["request_id"] == request_id.as_str())
            .unwrap_or_else(|| panic!("{body}: not recorded"));
        let expected = if *as_text {
            Value::String((*body).clone())
        } else {
            txlog_verify::json::from_str(body).unwrap()
        };
        assert_eq!(record["request"]["body"], expected, "{body}");
        // Fetched one by one, as listed.
        let id = record["transaction_id"].as_str().unwrap();
        let fetched = system.read_json(&format!("/v1/transactions/{id}")).await;
        assert_eq!(&fetched, record);
    }
    let full = system.read_json("/v1/transactions/verify?full=true").await;
    assert_eq!(full["valid"], true, "{full}");
    assert_eq!(full["checked"], records.len() as u64, "{full}");
    assert_eq!(system.verify().await["valid"], true);

    // The auditor, as a user runs it, once a checkpoint covers every record.
    let size = records.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let note = system.read("/v1/checkpoint").await;
        let signed: u64 = note
            .lines()
            .nth(1)
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if signed >= size {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint of {size} records");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audit = std::process::Command::new(support::bin("ordersys"))
        .args(["audit", "--full", "--log", &system.txlog.base])
        .args(["--key", &support::log_key().1])
        .args(["--token", &token("auditor", "txlog:read")])
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "audit --full: {}\n{}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );
}
