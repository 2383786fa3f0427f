//! The order domain: types parsed at the edge, validation, totals, the status machine and
//! merge patches. Nothing here knows about HTTP or databases.

mod codes;
mod input;
mod order;
mod patch;
mod status;

pub use codes::{Country, Currency};
pub use input::{AddressInput, ItemInput, OrderInput};
pub use order::{Address, Item, Order, OrderContent};
pub use patch::{apply_patch, PatchError, PatchOutcome};
pub use status::{Status, Transition};

/// Timestamps in API bodies: RFC 3339, milliseconds, `Z`.
pub mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// Now, cut to the millisecond so that what is stored is exactly what is shown.
    pub fn now() -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }
}
