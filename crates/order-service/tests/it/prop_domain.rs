//! Property tests (issue 7): order bodies and merge patches. Whatever the bytes, parsing and
//! validation never panic and answer 400 or 422; valid content always passes, with the
//! server's totals; a patch never breaks the order's invariants or the status machine.

use order_service::domain::{apply_patch, Order, OrderInput, PatchError, PatchOutcome, Status};
use platform::http::parse_json;
use proptest::prelude::*;
use serde_json::{json, Value};

const FIELDS: &str = "customer_id|currency|items|shipping_address|notes|sku|name|quantity|unit_price|line1|line2|city|country|postal_code|status|total|version|[a-z]{1,6}";

/// Arbitrary JSON, biased towards the names and kinds of values an order has.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0i64..20_000).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "EUR|USD|eur|EU|EURO|pending|confirmed|shipped|delivered|cancelled|GB|SKU-1"
            .prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
        "[\\x00-\\x1f\u{202a}-\u{202e}\u{2066}-\u{2069}a]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(FIELDS, inner, 0..7)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Content within every rule of SPEC section 5.
fn valid_item() -> impl Strategy<Value = Value> {
    ("[A-Za-z0-9._-]{1,64}", "[a-zA-Z ]{0,200}", 1i64..=10_000, 0i64..=10_000_000_000).prop_map(
        |(sku, name, quantity, unit_price)| {
            json!({"sku": sku, "name": name, "quantity": quantity, "unit_price": unit_price})
        },
    )
}

fn valid_body() -> impl Strategy<Value = Value> {
    (
        "[A-Z]{3}",
        prop::collection::vec(valid_item(), 1..=100),
        prop::option::of("[a-z ]{0,2000}"),
        prop::option::of(("[a-z0-9 ]{1,200}", "[a-z]{1,200}", "[A-Z]{2}")),
    )
        .prop_map(|(currency, items, notes, address)| {
            let mut body = json!({"currency": currency, "items": items});
            if let Some(notes) = notes {
                body["notes"] = json!(notes);
            }
            if let Some((line1, city, country)) = address {
                body["shipping_address"] =
                    json!({"line1": line1, "city": city, "country": country});
            }
            body
        })
}

fn order(body: &Value) -> Order {
    let input: OrderInput = parse_json(body.to_string().as_bytes()).expect("a valid body parses");
    let (_, content) = input.validate().expect("a valid body validates");
    Order::new("alice".into(), content)
}

fn assert_totals(order: &Order) -> Result<(), TestCaseError> {
    let mut sum = 0i64;
    for item in &order.items {
        prop_assert_eq!(item.line_total, item.quantity * item.unit_price);
        sum += item.line_total;
    }
    prop_assert_eq!(order.total, sum);
    Ok(())
}

proptest! {

    #[test]
    fn arbitrary_bytes_are_400_or_422(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(problem) = parse_json::<OrderInput>(&bytes) {
            prop_assert!(matches!(problem.status.as_u16(), 400 | 422), "{}", problem.status);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_valid_results_keep_the_rules(value in json_value()) {
        match parse_json::<OrderInput>(value.to_string().as_bytes()) {
            Err(problem) => {
                prop_assert_eq!(problem.status.as_u16(), 422, "JSON text is never a 400");
                prop_assert!(!problem.errors.is_empty() || problem.slug == "validation-error");
            }
            Ok(input) => {
                if let Ok((_, content)) = input.validate() {
                    let order = Order::new("alice".into(), content);
                    prop_assert!((1..=100).contains(&order.items.len()));
                    prop_assert!(order.currency.as_str().len() == 3 && order.currency.as_str().bytes().all(|b| b.is_ascii_uppercase()));
                    for item in &order.items {
                        prop_assert!((1..=10_000).contains(&item.quantity));
                        prop_assert!((0..=10_000_000_000).contains(&item.unit_price));
                    }
                    assert_totals(&order)?;
                }
            }
        }
    }

    #[test]
    fn valid_bodies_always_pass_with_server_totals(body in valid_body()) {
        let order = order(&body);
        prop_assert_eq!(order.status, Status::Pending);
        prop_assert_eq!(order.version, 1);
        prop_assert_eq!(order.items.len(), body["items"].as_array().unwrap().len());
        assert_totals(&order)?;
        // What the API shows parses back as the same order.
        let shown = serde_json::to_value(&order).unwrap();
        let back: Order = serde_json::from_value(shown).unwrap();
        prop_assert_eq!(back.total, order.total);
    }

    #[test]
    fn one_bad_field_is_named(body in valid_body(), which in 0usize..6, index in any::<prop::sample::Index>()) {
        let mut body = body;
        let n = body["items"].as_array().unwrap().len();
        let i = index.index(n);
        let (field, bad) = match which {
            0 => ("quantity", json!(0)),
            1 => ("quantity", json!(10_001)),
            2 => ("unit_price", json!(-1)),
            3 => ("unit_price", json!(10_000_000_001i64)),
            4 => ("sku", json!("bad sku")),
            _ => ("name", json!("x\u{202e}")),
        };
        body["items"][i][field] = bad;
        let input: OrderInput = parse_json(body.to_string().as_bytes()).unwrap();
        let errors = input.validate().expect_err("an invalid field is refused");
        let expected = format!("items[{i}].{field}");
        prop_assert!(errors.iter().any(|e| e.field == expected), "{:?} lacks {}", errors, expected);
    }

    #[test]
    fn patches_keep_the_invariants(body in valid_body(), patch in json_value(), status in prop::option::of("pending|confirmed|shipped|delivered|cancelled|lost"), admin in any::<bool>()) {
        let before = order(&body);
        let mut patch = patch;
        if let (Some(status), Value::Object(map)) = (&status, &mut patch) {
            map.insert("status".into(), json!(status));
        }
        match apply_patch(&before, &patch, admin) {
            Ok(PatchOutcome::Unchanged) => {}
            Ok(PatchOutcome::Changed(after)) => {
                prop_assert_eq!(after.id, before.id);
                prop_assert_eq!(&after.customer_id, &before.customer_id);
                prop_assert_eq!(after.created_at, before.created_at);
                prop_assert_eq!(after.version, before.version + 1);
                prop_assert!((1..=100).contains(&after.items.len()));
                assert_totals(&after)?;
                if after.status != before.status {
                    let allowed = matches!(
                        (before.status, after.status),
                        (Status::Pending, Status::Cancelled) | (Status::Confirmed, Status::Cancelled)
                    ) || (admin && matches!(
                        (before.status, after.status),
                        (Status::Pending, Status::Confirmed) | (Status::Confirmed, Status::Shipped) | (Status::Shipped, Status::Delivered)
                    ));
                    prop_assert!(allowed, "{:?} -> {:?} (admin {})", before.status, after.status, admin);
                }
            }
            Err(PatchError::Invalid(errors)) => prop_assert!(!errors.is_empty()),
            Err(PatchError::Conflict(_)) | Err(PatchError::NeedsAdmin(_)) => {}
        }
    }

    /// Content edits after the order left `pending` are conflicts, whatever the patch says.
    #[test]
    fn only_pending_orders_change_content(body in valid_body(), notes in "[a-z]{1,20}") {
        let before = order(&body);
        let Ok(PatchOutcome::Changed(confirmed)) = apply_patch(&before, &json!({"status": "confirmed"}), true) else {
            return Err(TestCaseError::fail("an admin confirms a pending order"));
        };
        let result = apply_patch(&confirmed, &json!({"notes": notes}), true);
        prop_assert!(matches!(result, Err(PatchError::Conflict(_))), "{:?}", result.map(|_| ()).map_err(|e| format!("{e:?}")));
    }
}
