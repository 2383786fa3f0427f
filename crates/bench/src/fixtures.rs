//! What the benchmark sends and stores: an order as a client creates it, the stored order
//! document, and a business transaction shaped like the ones the order service records.

use chrono::Utc;
use serde_json::{json, Value};
use txlog_api::{Actor, Event, Outcome, RequestRecord, ResponseRecord};
use uuid::Uuid;

/// The caller of every benchmark request.
pub const CUSTOMER: &str = "bench-user";
pub const SCOPES: &str = "orders:read orders:write";

/// The body of `POST /v1/orders`.
pub fn order_input() -> Value {
    json!({
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250},
            {"sku": "SKU-2", "name": "Gadget", "quantity": 1, "unit_price": 9900}
        ],
        "shipping_address": {
            "name": "A. Lovelace", "line1": "1 Main St", "line2": null,
            "city": "London", "postal_code": "N1", "country": "GB"
        },
        "notes": null
    })
}

/// The order the service stores for [`order_input`] (the `doc` column).
pub fn order_doc(id: Uuid, version: i64, notes: Option<&str>) -> Value {
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "id": id,
        "customer_id": CUSTOMER,
        "status": "pending",
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250, "line_total": 2500},
            {"sku": "SKU-2", "name": "Gadget", "quantity": 1, "unit_price": 9900, "line_total": 9900}
        ],
        "total": 12400,
        "shipping_address": {
            "name": "A. Lovelace", "line1": "1 Main St", "line2": null,
            "city": "London", "postal_code": "N1", "country": "GB"
        },
        "notes": notes,
        "version": version,
        "created_at": now,
        "updated_at": now
    })
}

/// A business transaction like the one the order service records for a call.
pub fn event(
    operation: &str,
    method: &str,
    order_id: Option<Uuid>,
    request_body: Option<Value>,
    response_body: Option<Value>,
) -> Event {
    let event_id = Uuid::now_v7();
    let path = match order_id {
        Some(id) => format!("/v1/orders/{id}"),
        None => "/v1/orders".to_owned(),
    };
    Event {
        event_id,
        occurred_at: Utc::now(),
        source: "order-service".into(),
        operation: operation.into(),
        outcome: Outcome::Success,
        actor: Some(Actor {
            sub: CUSTOMER.into(),
            scopes: SCOPES.split(' ').map(str::to_owned).collect(),
        }),
        order_id: order_id.map(|id| id.to_string()),
        request: RequestRecord {
            method: method.into(),
            path,
            query: None,
            request_id: event_id.simple().to_string(),
            client_ip: Some("127.0.0.1".into()),
            user_agent: Some("ordersys-bench".into()),
            body: request_body,
            body_truncated: false,
            body_bytes: None,
            body_sha256: None,
        },
        response: ResponseRecord {
            status: 200,
            body: response_body,
            body_truncated: false,
            body_bytes: None,
            body_sha256: None,
            order_ids: None,
        },
        duration_us: 750,
        trace_id: Some(Uuid::now_v7().simple().to_string()),
        truncated: Vec::new(),
    }
}
