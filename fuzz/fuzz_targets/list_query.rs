//! `GET /v1/orders` query strings and cursors: any query is a list query or a 400/403
//! problem, never a panic; a caller without `orders:admin` only ever lists its own orders;
//! a cursor that decodes names a position that encodes and decodes back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use order_service::api::list::{decode_cursor, encode_cursor, parse, MAX_LIMIT};
use platform::auth::Principal;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(bytes);
    let caller = Principal {
        sub: "alice".into(),
        scopes: Default::default(),
        name: None,
    };
    let admin = flags & 1 == 1;
    match parse(Some(&text), &caller, admin) {
        Ok(query) => {
            assert!((1..=MAX_LIMIT).contains(&query.limit));
            if !admin {
                assert_eq!(query.customer_id.as_deref(), Some("alice"));
            }
        }
        Err(problem) => assert!(
            matches!(problem.status.as_u16(), 400 | 403),
            "{}",
            problem.status
        ),
    }
    if let Some((created_at, id)) = decode_cursor(&text) {
        let mut order = ordersys_fuzz::sample_order();
        order.created_at = created_at;
        order.id = id;
        assert_eq!(
            decode_cursor(&encode_cursor(&order)),
            Some((created_at, id))
        );
    }
});
