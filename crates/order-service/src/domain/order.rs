use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{timestamp, Country, Currency, Status};

/// An order as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    /// UUID v7, assigned by the server.
    pub id: Uuid,
    pub customer_id: String,
    pub status: Status,
    /// ISO 4217 code, 3 uppercase letters.
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub items: Vec<Item>,
    /// Sum of the line totals, in minor units.
    pub total: i64,
    pub shipping_address: Option<Address>,
    pub notes: Option<String>,
    /// Starts at 1, incremented by every change; the `ETag`.
    pub version: i64,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "timestamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Item {
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    /// Minor units.
    pub unit_price: i64,
    /// `quantity * unit_price`, computed by the server.
    pub line_total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    pub name: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, 2 uppercase letters.
    #[schema(value_type = String)]
    pub country: Country,
}

/// Validated editable content with server-computed totals.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderContent {
    pub currency: Currency,
    pub items: Vec<Item>,
    pub total: i64,
    pub shipping_address: Option<Address>,
    pub notes: Option<String>,
}

impl Order {
    /// A new pending order from validated content.
    pub fn new(customer_id: String, content: OrderContent) -> Self {
        let now = timestamp::now();
        Self {
            id: Uuid::now_v7(),
            customer_id,
            status: Status::Pending,
            currency: content.currency,
            items: content.items,
            total: content.total,
            shipping_address: content.shipping_address,
            notes: content.notes,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Replaces the editable content (already validated, totals already computed).
    pub fn set_content(&mut self, content: OrderContent) {
        self.currency = content.currency;
        self.total = content.total;
        self.items = content.items;
        self.shipping_address = content.shipping_address;
        self.notes = content.notes;
    }

    /// The editable part as the JSON a client would send, for merge patches.
    pub fn content_json(&self) -> serde_json::Value {
        let items: Vec<_> = self
            .items
            .iter()
            .map(|i| serde_json::json!({"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price": i.unit_price}))
            .collect();
        serde_json::json!({
            "currency": self.currency,
            "items": items,
            "shipping_address": self.shipping_address,
            "notes": self.notes,
        })
    }

    /// The `ETag` value: the version, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}
