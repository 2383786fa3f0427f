use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where an order is in fulfilment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
}

/// Whether a move between two statuses is allowed, and for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The owner may do it (only cancelling).
    Owner,
    /// Needs `orders:admin`.
    Admin,
    Forbidden,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Self::Pending,
        Self::Confirmed,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// pending→confirmed, pending→cancelled, confirmed→shipped, confirmed→cancelled,
    /// shipped→delivered; only cancelling is open to the owner.
    pub fn transition(self, to: Status) -> Transition {
        use Status::*;
        match (self, to) {
            (Pending | Confirmed, Cancelled) => Transition::Owner,
            (Pending, Confirmed) | (Confirmed, Shipped) | (Shipped, Delivered) => Transition::Admin,
            _ => Transition::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_is_exactly_the_spec() {
        let allowed = [
            ("pending", "confirmed", Transition::Admin),
            ("pending", "cancelled", Transition::Owner),
            ("confirmed", "shipped", Transition::Admin),
            ("confirmed", "cancelled", Transition::Owner),
            ("shipped", "delivered", Transition::Admin),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                let expected = allowed
                    .iter()
                    .find(|(f, t, _)| *f == from.as_str() && *t == to.as_str())
                    .map_or(Transition::Forbidden, |a| a.2);
                assert_eq!(from.transition(to), expected, "{from:?} -> {to:?}");
            }
        }
    }
}
