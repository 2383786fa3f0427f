//! How a store call fails. Rows that are missing and versions that moved on are not errors:
//! `get` answers `None` and the compare-and-set writes answer `false`, because the handlers
//! branch on them (404, 412, another attempt).
//!
//! A database that is away, restarting, overloaded or too slow is not a fault of the service:
//! the call may succeed when tried again, so it is [`StoreError::Unavailable`] (503 with
//! `Retry-After`), never a 500. Every `sqlx::Error` is sorted here, once, by
//! [`platform::database::is_unavailable`].

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, went away during the call, refused it for lack of
    /// resources, or did not answer within its statement timeout. Whether a write that failed
    /// this way committed is unknown to us (a commit whose answer was lost); a retry with the
    /// same `Idempotency-Key` settles it.
    #[error("the database is not available")]
    Unavailable(#[source] sqlx::Error),
    #[error("the database failed")]
    Database(#[source] sqlx::Error),
    /// A stored document, or one about to be stored, that is not the JSON it should be.
    #[error("a stored document is not valid JSON of its type")]
    Document(#[from] serde_json::Error),
    /// A stored value outside what the schema allows (a timestamp out of range, a status code
    /// that is not one): the row was written by something other than this service.
    #[error("a stored value is out of range: {0}")]
    Corrupt(String),
}

use platform::database::is_unavailable;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            Self::Unavailable(e)
        } else {
            Self::Database(e)
        }
    }
}

impl StoreError {
    /// Whether trying again later may succeed (the caller is answered 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_unavailable() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(StoreError::from(sqlx::Error::Io(reset)).is_unavailable());
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::from(sqlx::Error::PoolClosed).is_unavailable());
        assert!(StoreError::from(sqlx::Error::Protocol("unexpected EOF".into())).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
    }
}
