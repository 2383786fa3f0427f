//! Property test (issue 28): the opaque list cursor of `GET /v1/transactions`, base64url of the
//! last `seq`. Whatever the cursor (random text, random bytes in base64url, numbers beyond what
//! the stores hold), the answer is a 200 page or a 400 `malformed-request` naming `cursor`,
//! never a 5xx; a cursor that is not one the service could have issued is 400.

use crate::common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{events, token, Backend, TestApp, READ};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

/// What a cursor must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A page.
    Page,
    /// 400 naming `cursor`.
    Refused,
    /// Either of the above, never anything else.
    PageOrRefused,
}

/// The answer a cursor of these decoded bytes deserves: a page only for the decimal digits
/// of a `seq` the stores can hold (0 to 2^63 − 1).
fn expect_for(decoded: &[u8]) -> Expect {
    let digits = !decoded.is_empty() && decoded.iter().all(u8::is_ascii_digit);
    let fits = std::str::from_utf8(decoded)
        .ok()
        .and_then(|t| t.parse::<u128>().ok())
        .is_some_and(|n| n <= i64::MAX as u128);
    if digits && fits {
        Expect::Page
    } else {
        Expect::Refused
    }
}

fn encoded(text: String) -> (String, Expect) {
    let expect = expect_for(text.as_bytes());
    (URL_SAFE_NO_PAD.encode(text), expect)
}

fn cursors() -> impl Strategy<Value = (String, Expect)> {
    let beyond = u128::from(u64::try_from(i64::MAX).unwrap()) + 1;
    prop_oneof![
        // Random text, sent as it is.
        ".{0,60}".prop_map(|t| (t, Expect::PageOrRefused)),
        "[A-Za-z0-9_=+/-]{0,30}".prop_map(|t| (t, Expect::PageOrRefused)),
        // Random bytes, in base64url.
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| {
            let expect = expect_for(&b);
            (URL_SAFE_NO_PAD.encode(b), expect)
        }),
        // Random digit strings, in base64url.
        "[0-9]{1,40}".prop_map(encoded),
        "[-+ 0-9.e]{1,25}".prop_map(encoded),
        // Numbers the stores hold, and numbers beyond them.
        (0..=i64::MAX).prop_map(|n| (URL_SAFE_NO_PAD.encode(n.to_string()), Expect::Page)),
        (beyond..=u128::MAX).prop_map(|n| (URL_SAFE_NO_PAD.encode(n.to_string()), Expect::Refused)),
        prop_oneof![
            Just("9223372036854775807"),
            Just("9223372036854775808"),
            Just("18446744073709551615"),
            Just("18446744073709551616"),
            Just("-9223372036854775808"),
            Just("-1"),
            Just("0"),
        ]
        .prop_map(|t| encoded(t.to_owned())),
    ]
}

#[test]
fn any_cursor_is_a_page_or_a_400_never_a_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(app) = runtime.block_on(async {
        let app = TestApp::spawn(Backend::Sqlite).await?;
        app.append(&events(3)).await;
        Some(app)
    }) else {
        return;
    };
    let reader = token("auditor", READ);
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&cursors(), |(cursor, expect)| {
            let (status, body) = runtime.block_on(async {
                let r = app
                    .client
                    .get(app.url("/v1/transactions"))
                    .query(&[("cursor", cursor.as_str()), ("limit", "2")])
                    .bearer_auth(&reader)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, body)
            });
            match (status, expect) {
                (200, Expect::Page | Expect::PageOrRefused) => {
                    prop_assert!(body["items"].is_array(), "{}", body);
                }
                (400, Expect::Refused | Expect::PageOrRefused) => {
                    prop_assert_eq!(&body["type"], "/problems/malformed-request");
                    prop_assert_eq!(&body["errors"][0]["field"], "cursor", "{}", body);
                }
                _ => prop_assert!(
                    false,
                    "cursor {:?} ({:?}) answered {}: {}",
                    cursor,
                    expect,
                    status,
                    body
                ),
            }
            Ok(())
        })
        .unwrap();
    runtime.block_on(async move { drop(app) });
}
