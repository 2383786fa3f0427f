//! `POST /v1/orders` bodies: any bytes are a 400 (not JSON) or a 422 (wrong shape or rules),
//! never a panic; what passes keeps every rule, and what the API shows reads back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use order_service::domain::{Order, OrderInput};

fuzz_target!(|bytes: &[u8]| {
    let Some(input) = ordersys_fuzz::parse_body::<OrderInput>(bytes) else {
        return;
    };
    match input.validate() {
        Ok((customer, content)) => {
            let order = Order::new(customer.unwrap_or_else(|| "fuzz".into()), content);
            ordersys_fuzz::assert_order(&order);
            let shown = serde_json::to_vec(&order).expect("an order serializes");
            let back: Order = serde_json::from_slice(&shown).expect("an order reads back");
            assert_eq!(back, order);
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal names at least one field");
            assert!(errors
                .iter()
                .all(|e| !e.field.is_empty() && !e.message.is_empty()));
        }
    }
});
