//! `PATCH /v1/orders/{id}`: RFC 7396 JSON merge patch of the editable fields and `status`.

use platform::json::JsonError;
use platform::FieldError;
use serde_json::{Map, Value};

use super::input::ContentInput;
use super::{Order, OrderContent, Status, Transition};

const PATCHABLE: [&str; 5] = ["status", "items", "currency", "shipping_address", "notes"];

/// Why a patch cannot be applied.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchError {
    /// 422
    Invalid(Vec<FieldError>),
    /// 409: content edits outside `pending`, or a transition the state machine forbids.
    Conflict(String),
    /// 403: a transition that needs `orders:admin`.
    NeedsAdmin(String),
}

/// What a valid patch did.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchOutcome {
    Changed(Box<Order>),
    Unchanged,
}

/// Applies `patch` to `order` for a caller who is an admin or not. The order is returned
/// with its version incremented when anything changed.
pub fn apply_patch(order: &Order, patch: &Value, admin: bool) -> Result<PatchOutcome, PatchError> {
    let Value::Object(fields) = patch else {
        return Err(PatchError::Invalid(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    };
    let unknown: Vec<FieldError> = fields
        .keys()
        .filter(|k| !PATCHABLE.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "unknown field or not patchable"))
        .collect();
    if !unknown.is_empty() {
        return Err(PatchError::Invalid(unknown));
    }
    let new_status = match fields.get("status") {
        None => None,
        Some(Value::String(s)) => Some(Status::parse(s).ok_or_else(invalid_status)?),
        Some(_) => return Err(invalid_status()),
    };
    let mut content_patch: Map<String, Value> = fields.clone();
    content_patch.remove("status");
    let mut next = order.clone();
    if !content_patch.is_empty() {
        next.set_content(patched_content(order, content_patch)?);
    }
    if let Some(to) = new_status {
        check_transition(order.status, to, admin)?;
        next.status = to;
    }
    if next == *order {
        return Ok(PatchOutcome::Unchanged);
    }
    next.version += 1;
    next.updated_at = super::timestamp::now().max(order.updated_at);
    Ok(PatchOutcome::Changed(Box::new(next)))
}

/// The order's content with the content fields of a patch merged in, validated.
fn patched_content(order: &Order, patch: Map<String, Value>) -> Result<OrderContent, PatchError> {
    if order.status != Status::Pending {
        return Err(PatchError::Conflict(format!(
            "the content of a {} order cannot change; only pending orders can be edited",
            order.status.as_str()
        )));
    }
    for required in ["items", "currency"] {
        if patch.get(required).is_some_and(Value::is_null) {
            return Err(PatchError::Invalid(vec![FieldError::new(
                required,
                "cannot be removed",
            )]));
        }
    }
    let mut merged = order.content_json();
    merge(&mut merged, &Value::Object(patch));
    let input: ContentInput =
        platform::json::from_slice(merged.to_string().as_bytes()).map_err(|e| match e {
            JsonError::Fields(errors) => PatchError::Invalid(errors),
            JsonError::NotJson(message) => {
                PatchError::Invalid(vec![FieldError::new("body", message)])
            }
        })?;
    input.validate().map_err(PatchError::Invalid)
}

/// Whether the caller may move an order from `from` to `to`.
fn check_transition(from: Status, to: Status, admin: bool) -> Result<(), PatchError> {
    match from.transition(to) {
        Transition::Forbidden => Err(PatchError::Conflict(format!(
            "an order cannot move from {} to {}",
            from.as_str(),
            to.as_str()
        ))),
        Transition::Admin if !admin => Err(PatchError::NeedsAdmin(format!(
            "moving an order to {} needs orders:admin",
            to.as_str()
        ))),
        _ => Ok(()),
    }
}

fn invalid_status() -> PatchError {
    PatchError::Invalid(vec![FieldError::new(
        "status",
        "must be one of pending, confirmed, shipped, delivered, cancelled",
    )])
}

/// RFC 7396 merge.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderInput;
    use serde_json::json;

    fn order() -> Order {
        let input: OrderInput = serde_json::from_value(json!({
            "currency": "EUR",
            "items": [{"sku": "A", "name": "a", "quantity": 1, "unit_price": 100}],
            "shipping_address": {"line1": "1 Main St", "city": "London", "country": "GB"}
        }))
        .unwrap();
        let (_, content) = input.validate().unwrap();
        Order::new("alice".into(), content)
    }

    fn changed(outcome: PatchOutcome) -> Order {
        match outcome {
            PatchOutcome::Changed(order) => *order,
            PatchOutcome::Unchanged => panic!("expected a change"),
        }
    }

    #[test]
    fn merge_patch_edits_nested_fields_and_recomputes_totals() {
        let o = order();
        let next = changed(
            apply_patch(&o, &json!({"shipping_address": {"city": "Paris", "line2": "Flat 2"}, "items": [{"sku": "B", "quantity": 3, "unit_price": 5}]}), false)
                .unwrap(),
        );
        let address = next.shipping_address.clone().unwrap();
        assert_eq!(
            (
                address.city.as_str(),
                address.line1.as_str(),
                address.line2.as_deref()
            ),
            ("Paris", "1 Main St", Some("Flat 2"))
        );
        assert_eq!(next.total, 15);
        assert_eq!(next.version, 2);
        let cleared =
            changed(apply_patch(&next, &json!({"shipping_address": null}), false).unwrap());
        assert_eq!(cleared.shipping_address, None);
        assert_eq!(cleared.version, 3);
    }

    #[test]
    fn transitions_and_permissions() {
        let o = order();
        assert!(matches!(
            apply_patch(&o, &json!({"status": "confirmed"}), false),
            Err(PatchError::NeedsAdmin(_))
        ));
        let confirmed = changed(apply_patch(&o, &json!({"status": "confirmed"}), true).unwrap());
        assert!(matches!(
            apply_patch(&confirmed, &json!({"notes": "x"}), true),
            Err(PatchError::Conflict(_))
        ));
        assert!(matches!(
            apply_patch(&confirmed, &json!({"status": "delivered"}), true),
            Err(PatchError::Conflict(_))
        ));
        let cancelled =
            changed(apply_patch(&confirmed, &json!({"status": "cancelled"}), false).unwrap());
        assert_eq!(cancelled.status, Status::Cancelled);
        assert_eq!(
            apply_patch(&o, &json!({}), false).unwrap(),
            PatchOutcome::Unchanged
        );
    }

    #[test]
    fn invalid_patches_name_the_field() {
        let o = order();
        let fields = |r: Result<PatchOutcome, PatchError>| match r {
            Err(PatchError::Invalid(e)) => e.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields(apply_patch(&o, &json!({"id": "x"}), false)), ["id"]);
        assert_eq!(
            fields(apply_patch(&o, &json!({"items": null}), false)),
            ["items"]
        );
        assert_eq!(
            fields(apply_patch(
                &o,
                &json!({"items": [{"sku": "A", "quantity": 1.5, "unit_price": 1}]}),
                false
            )),
            ["items[0].quantity"]
        );
        assert_eq!(
            fields(apply_patch(&o, &json!({"status": "lost"}), false)),
            ["status"]
        );
        assert_eq!(
            fields(apply_patch(&o, &json!({"currency": "euro"}), false)),
            ["currency"]
        );
    }
}
