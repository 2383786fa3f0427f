//! What the fuzz targets share: a sample order, the order invariants, key-order reversal and
//! a runtime for the async verifier.

use std::sync::OnceLock;

use order_service::domain::{apply_patch, Order, OrderInput, PatchOutcome};
use platform::http::parse_json;
use serde_json::{json, Map, Value};

/// Parses a JSON request body as the services do; a refusal must be a 400 (not JSON) or a
/// 422 (wrong shape), and then there is nothing more to check.
pub fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match parse_json::<T>(bytes) {
        Ok(value) => Some(value),
        Err(problem) => {
            assert!(
                matches!(problem.status.as_u16(), 400 | 422),
                "{}",
                problem.status
            );
            None
        }
    }
}

/// The rules of SPEC section 5 that every stored order keeps.
pub fn assert_order(order: &Order) {
    assert!(
        (1..=100).contains(&order.items.len()),
        "{} items",
        order.items.len()
    );
    assert!(
        order.currency.as_str().len() == 3
            && order
                .currency
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_uppercase()),
        "currency {:?}",
        order.currency
    );
    let mut sum = 0i64;
    for item in &order.items {
        assert!((1..=10_000).contains(&item.quantity));
        assert!((0..=10_000_000_000).contains(&item.unit_price));
        assert_eq!(item.line_total, item.quantity * item.unit_price);
        sum += item.line_total;
    }
    assert_eq!(order.total, sum);
    assert!(order.total <= (1 << 53) - 1);
    assert!(order.version >= 1);
}

/// A valid pending order with two items and an address.
pub fn sample_order() -> Order {
    let body = json!({
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "name": "Mug", "quantity": 2, "unit_price": 1250},
            {"sku": "SKU-2", "name": "Tea", "quantity": 1, "unit_price": 499}
        ],
        "shipping_address": {"line1": "1 Main St", "city": "Paris", "country": "FR"},
        "notes": "ring twice"
    });
    let input: OrderInput = parse_json(body.to_string().as_bytes()).expect("the sample parses");
    let (_, content) = input.validate().expect("the sample is valid");
    Order::new("alice".into(), content)
}

/// The sample order moved along the status machine by an admin: 0 pending, 1 confirmed,
/// 2 shipped, 3 delivered, 4 cancelled.
pub fn sample_order_in(step: u8) -> Order {
    let path: &[&str] = match step % 5 {
        0 => &[],
        1 => &["confirmed"],
        2 => &["confirmed", "shipped"],
        3 => &["confirmed", "shipped", "delivered"],
        _ => &["cancelled"],
    };
    let mut order = sample_order();
    for status in path {
        match apply_patch(&order, &json!({ "status": status }), true) {
            Ok(PatchOutcome::Changed(next)) => order = *next,
            other => panic!("an admin moves an order to {status}: {other:?}"),
        }
    }
    order
}

/// The same value with every object's keys in reverse order.
pub fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map.iter().rev() {
                out.insert(k.clone(), reversed(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

/// One single-threaded runtime for the whole fuzzing process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}
