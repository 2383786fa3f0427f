//! The log's ids, each its own type so that one cannot be passed where the other is meant: an
//! event's id (chosen by the service that recorded it, the key of exactly-once storage) and a
//! record's transaction id (chosen by the log when it stores the event). Both are UUIDs and
//! read and write as a UUID's text, in JSON (`#[serde(transparent)]`) and in the stores.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> $name {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<$name, uuid::Error> {
                text.parse().map($name)
            }
        }
    };
}

uuid_id!(
    /// An event's `event_id`: one event is stored once, however often it is delivered.
    EventId
);

uuid_id!(
    /// A record's `transaction_id`, the log's name for it (`GET /v1/transactions/{id}`).
    TransactionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_write_as_the_uuid_text() {
        let uuid = Uuid::now_v7();
        let id = TransactionId(uuid);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(id.to_string().parse::<TransactionId>().unwrap(), id);
        assert_eq!(
            serde_json::to_string(&EventId(uuid)).unwrap(),
            serde_json::to_string(&uuid).unwrap()
        );
        assert!("not-a-uuid".parse::<EventId>().is_err());
    }
}
