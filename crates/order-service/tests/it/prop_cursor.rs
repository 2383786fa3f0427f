//! Property test (issue 7): the opaque list cursor, decoded by `GET /v1/orders`. Whatever the
//! cursor (random text, random base64, well-formed ones with random times and ids), the answer
//! is a 200 page or a 400 problem, never a 5xx.

use crate::support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::{token, Backend, TestApp};

fn cursors() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        (any::<i64>(), ".{0,40}").prop_map(|(t, id)| URL_SAFE_NO_PAD.encode(format!("{t}:{id}"))),
        (any::<i64>(), any::<u128>()).prop_map(|(t, id)| {
            URL_SAFE_NO_PAD.encode(format!("{t}:{}", uuid::Uuid::from_u128(id)))
        }),
        (
            -1_000_000_000_000_000i64..4_000_000_000_000_000,
            any::<u128>()
        )
            .prop_map(|(t, id)| {
                URL_SAFE_NO_PAD.encode(format!("{t}:{}", uuid::Uuid::from_u128(id)))
            }),
    ]
}

#[test]
fn any_cursor_is_a_page_or_a_400() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(async {
        let app = TestApp::spawn(Backend::Sqlite).await;
        for _ in 0..3 {
            let r = app
                .http
                .post(app.url("/v1/orders"))
                .bearer_auth(token("alice", "orders:read orders:write"))
                .json(&support::order_body())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        app
    });
    let alice = token("alice", "orders:read orders:write");
    let mut runner = TestRunner::new(Config::default());
    runner
        .run(&(cursors(), 1u32..=3), |(cursor, limit)| {
            let (status, body) = runtime.block_on(async {
                let r = app
                    .http
                    .get(app.url("/v1/orders"))
                    .query(&[("cursor", cursor.as_str()), ("limit", &limit.to_string())])
                    .bearer_auth(&alice)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                (status, body)
            });
            match status {
                200 => prop_assert!(body["items"]
                    .as_array()
                    .is_some_and(|i| i.len() <= limit as usize)),
                400 => prop_assert_eq!(&body["type"], "/problems/malformed-request"),
                other => prop_assert!(false, "cursor {:?} answered {}: {}", cursor, other, body),
            }
            Ok(())
        })
        .unwrap();
    runtime.block_on(app.stop());
}
