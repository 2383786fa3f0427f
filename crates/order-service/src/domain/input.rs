//! Order bodies as clients send them, and their validation into [`OrderContent`].

use platform::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Address, Country, Currency, Item, OrderContent};

pub const MAX_ITEMS: usize = 100;
pub const MAX_QUANTITY: i64 = 10_000;
pub const MAX_UNIT_PRICE: i64 = 10_000_000_000;
pub const MAX_NOTES: usize = 2_000;
pub const MAX_TEXT: usize = 200;
pub const MAX_CUSTOMER_ID: usize = 255;
/// Largest order total: 2^53 - 1, the largest integer every JSON reader (and the RFC 8785
/// canonical form of the audit record) keeps exactly.
pub const MAX_TOTAL: i64 = (1 << 53) - 1;

/// `POST /v1/orders` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// Defaults to the caller; another customer needs `orders:admin`.
    #[serde(default)]
    pub customer_id: Option<String>,
    #[schema(example = "EUR")]
    pub currency: String,
    pub items: Vec<ItemInput>,
    #[serde(default)]
    pub shipping_address: Option<AddressInput>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// The editable part of an order, as sent or as the result of a merge patch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentInput {
    pub currency: String,
    pub items: Vec<ItemInput>,
    #[serde(default)]
    pub shipping_address: Option<AddressInput>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    /// 1 to 64 of `[A-Za-z0-9._-]`.
    pub sku: String,
    /// At most 200 characters.
    #[serde(default)]
    pub name: String,
    /// 1 to 10 000.
    pub quantity: i64,
    /// Minor units, 0 to 10 000 000 000.
    pub unit_price: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    #[serde(default)]
    pub name: Option<String>,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// 2 uppercase letters.
    pub country: String,
}

impl OrderInput {
    /// Splits the body into the requested customer (validated) and the content.
    pub fn validate(self) -> Result<(Option<String>, OrderContent), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(customer) = &self.customer_id {
            check_text(
                &mut errors,
                "customer_id",
                customer,
                1,
                MAX_CUSTOMER_ID,
                false,
            );
        }
        let content = ContentInput {
            currency: self.currency,
            items: self.items,
            shipping_address: self.shipping_address,
            notes: self.notes,
        };
        match content.validate() {
            Ok(content) if errors.is_empty() => Ok((self.customer_id, content)),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }
}

impl ContentInput {
    pub fn validate(self) -> Result<OrderContent, Vec<FieldError>> {
        let mut errors = Vec::new();
        let currency = Currency::parse(&self.currency);
        if currency.is_none() {
            errors.push(FieldError::new("currency", Currency::RULE));
        }
        if self.items.is_empty() || self.items.len() > MAX_ITEMS {
            errors.push(FieldError::new(
                "items",
                format!("must hold 1 to {MAX_ITEMS} items"),
            ));
        }
        let mut items = Vec::with_capacity(self.items.len());
        let mut total: Option<i64> = Some(0);
        for (i, item) in self.items.into_iter().enumerate() {
            let (item, line_total) = item.validate(i, &mut errors);
            total = total.zip(line_total).and_then(|(t, l)| t.checked_add(l));
            items.push(item);
        }
        let Some(total) = total.filter(|t| *t <= MAX_TOTAL) else {
            errors.push(FieldError::new(
                "items",
                format!("the order total must not exceed {MAX_TOTAL}"),
            ));
            return Err(errors);
        };
        let shipping_address = match self.shipping_address {
            Some(address) => address.validate(&mut errors),
            None => None,
        };
        if let Some(notes) = &self.notes {
            check_text(&mut errors, "notes", notes, 0, MAX_NOTES, true);
        }
        match currency {
            Some(currency) if errors.is_empty() => Ok(OrderContent {
                currency,
                items,
                total,
                shipping_address,
                notes: self.notes,
            }),
            _ => Err(errors),
        }
    }
}

impl ItemInput {
    /// The item (its reasons in `errors` when invalid) and its line total, `None` on overflow.
    fn validate(self, i: usize, errors: &mut Vec<FieldError>) -> (Item, Option<i64>) {
        let item = self;
        let at = |f: &str| format!("items[{i}].{f}");
        let sku_ok = (1..=64).contains(&item.sku.len())
            && item
                .sku
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !sku_ok {
            errors.push(FieldError::new(
                at("sku"),
                "must be 1 to 64 of A-Z a-z 0-9 . _ -",
            ));
        }
        check_text(errors, &at("name"), &item.name, 0, MAX_TEXT, false);
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            errors.push(FieldError::new(
                at("quantity"),
                format!("must be an integer from 1 to {MAX_QUANTITY}"),
            ));
        }
        if !(0..=MAX_UNIT_PRICE).contains(&item.unit_price) {
            errors.push(FieldError::new(
                at("unit_price"),
                format!("must be an integer from 0 to {MAX_UNIT_PRICE}"),
            ));
        }
        let line_total = item.quantity.checked_mul(item.unit_price);
        let item = Item {
            sku: item.sku,
            name: item.name,
            quantity: item.quantity,
            unit_price: item.unit_price,
            line_total: line_total.unwrap_or(0),
        };
        (item, line_total)
    }
}

impl AddressInput {
    /// The address, or `None` with the reasons in `errors`.
    fn validate(self, errors: &mut Vec<FieldError>) -> Option<Address> {
        let at = |f: &str| format!("shipping_address.{f}");
        for (field, value, min) in [
            ("line1", Some(&self.line1), 1),
            ("city", Some(&self.city), 1),
        ]
        .into_iter()
        .chain([
            ("name", self.name.as_ref(), 0),
            ("line2", self.line2.as_ref(), 0),
            ("postal_code", self.postal_code.as_ref(), 0),
        ]) {
            if let Some(value) = value {
                check_text(errors, &at(field), value, min, MAX_TEXT, false);
            }
        }
        let Some(country) = Country::parse(&self.country) else {
            errors.push(FieldError::new(at("country"), Country::RULE));
            return None;
        };
        Some(Address {
            name: self.name,
            line1: self.line1,
            line2: self.line2,
            city: self.city,
            postal_code: self.postal_code,
            country,
        })
    }
}

/// Length in characters, and no control or bidirectional formatting characters (line breaks
/// and tabs only where `multiline`).
fn check_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    min: usize,
    max: usize,
    multiline: bool,
) {
    let len = value.chars().count();
    if len < min || len > max {
        let rule = if min == 0 {
            format!("at most {max} characters")
        } else {
            format!("{min} to {max} characters")
        };
        errors.push(FieldError::new(field, format!("must be {rule}")));
    } else if value.chars().any(|c| is_forbidden_char(c, multiline)) {
        errors.push(FieldError::new(
            field,
            "must not contain control or bidirectional formatting characters",
        ));
    }
}

fn is_forbidden_char(c: char, multiline: bool) -> bool {
    let allowed_whitespace = multiline && matches!(c, '\n' | '\r' | '\t');
    (c.is_control() && !allowed_whitespace)
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: serde_json::Value) -> OrderInput {
        serde_json::from_value(v).unwrap()
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn totals_are_computed() {
        let (_, content) = input(json!({"currency": "EUR", "items": [
            {"sku": "A", "name": "x", "quantity": 2, "unit_price": 1250},
            {"sku": "B", "quantity": 10000, "unit_price": 10_000_000_000i64}
        ]}))
        .validate()
        .unwrap();
        assert_eq!(content.items[0].line_total, 2500);
        assert_eq!(content.total, 2500 + 100_000_000_000_000);
    }

    #[test]
    fn every_rule_names_its_field() {
        let errors = input(json!({"customer_id": "", "currency": "eur", "items": [
            {"sku": "bad sku", "name": "n".repeat(201), "quantity": 0, "unit_price": -1}
        ], "shipping_address": {"line1": "", "city": "c", "country": "gb"}, "notes": "x".repeat(2001)}))
        .validate()
        .unwrap_err();
        assert_eq!(
            fields(errors),
            [
                "customer_id",
                "currency",
                "items[0].sku",
                "items[0].name",
                "items[0].quantity",
                "items[0].unit_price",
                "shipping_address.line1",
                "shipping_address.country",
                "notes"
            ]
        );
    }

    #[test]
    fn item_count_and_control_characters() {
        let none = input(json!({"currency": "EUR", "items": []}))
            .validate()
            .unwrap_err();
        assert_eq!(fields(none), ["items"]);
        let item = json!({"sku": "A", "quantity": 1, "unit_price": 1});
        let many = input(json!({"currency": "EUR", "items": vec![item; 101]}))
            .validate()
            .unwrap_err();
        assert_eq!(fields(many), ["items"]);
        let bidi = input(
            json!({"currency": "EUR", "items": [{"sku": "A", "name": "a\u{202E}b", "quantity": 1, "unit_price": 1}]}),
        );
        assert_eq!(fields(bidi.validate().unwrap_err()), ["items[0].name"]);
        let notes = input(
            json!({"currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_price": 1}], "notes": "line\nline"}),
        );
        assert!(notes.validate().is_ok());
    }
}
