//! How a call to the transaction log's store fails. Absent records are not errors (`get`
//! answers `None`); a `seq` or `event_id` stored already is [`StoreError::Taken`], because the
//! sequencer branches on it (another writer appended first: read the new end and try again).

use std::sync::Arc;

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// One cause behind the errors of several callers.
#[derive(Debug)]
struct SharedCause(Arc<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for SharedCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An insert met a `seq` or `event_id` stored before. What an ordered insert stored before
    /// it stays stored.
    #[error("a record's seq or event id is stored already")]
    Taken,
    /// The database could not be reached, went away during the call, or was too busy to
    /// answer in time: trying again later may succeed (503 with `Retry-After`).
    #[error("the database is not available")]
    Unavailable(#[source] Cause),
    #[error("the database failed")]
    Database(#[source] Cause),
    /// What the store holds breaks the log's rules: a record that does not parse, a value out
    /// of range, a stored tree hash missing. Written by something other than this service, or
    /// a bug; never retried.
    #[error("the store holds something it should not: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn corrupt(what: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(what.to_string())
    }

    /// This error for each of `n` callers that share the call that failed (group commit): the
    /// same kind, each with the same cause.
    pub fn shared(self, n: usize) -> Vec<StoreError> {
        let kind = |cause: Cause, make: fn(Cause) -> StoreError| {
            let cause: Arc<dyn std::error::Error + Send + Sync> = Arc::from(cause);
            (0..n)
                .map(|_| make(Box::new(SharedCause(cause.clone()))))
                .collect()
        };
        match self {
            StoreError::Taken => (0..n).map(|_| StoreError::Taken).collect(),
            StoreError::Corrupt(what) => {
                (0..n).map(|_| StoreError::Corrupt(what.clone())).collect()
            }
            StoreError::Unavailable(cause) => kind(cause, StoreError::Unavailable),
            StoreError::Database(cause) => kind(cause, StoreError::Database),
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if platform::database::is_unavailable(&e) {
            StoreError::Unavailable(e.into())
        } else {
            StoreError::Database(e.into())
        }
    }
}

impl From<mongodb::error::Error> for StoreError {
    fn from(e: mongodb::error::Error) -> Self {
        use mongodb::error::ErrorKind;
        let away = matches!(
            *e.kind,
            ErrorKind::ServerSelection { .. }
                | ErrorKind::Io(_)
                | ErrorKind::ConnectionPoolCleared { .. }
                | ErrorKind::DnsResolve { .. }
        );
        if away {
            StoreError::Unavailable(e.into())
        } else {
            StoreError::Database(e.into())
        }
    }
}

/// A stored integer that does not fit: a `seq` or size written by something else.
impl From<std::num::TryFromIntError> for StoreError {
    fn from(e: std::num::TryFromIntError) -> Self {
        StoreError::corrupt(format!("a stored number is out of range ({e})"))
    }
}

/// A stored id that is not a UUID.
impl From<uuid::Error> for StoreError {
    fn from(e: uuid::Error) -> Self {
        StoreError::corrupt(format!("a stored id is not a UUID ({e})"))
    }
}

/// A document field missing or of the wrong type.
impl From<mongodb::bson::document::ValueAccessError> for StoreError {
    fn from(e: mongodb::bson::document::ValueAccessError) -> Self {
        StoreError::corrupt(format!("a stored document lacks a field ({e})"))
    }
}

/// A stored record whose text does not parse (its leaf cannot be computed).
impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::corrupt(format!("a record's text is not valid JSON ({e})"))
    }
}

/// A tree computation over stored hashes that cannot be done (an index the store lacks).
impl From<tlog_tiles::Error> for StoreError {
    fn from(e: tlog_tiles::Error) -> Self {
        StoreError::corrupt(format!("the stored tree is incomplete ({e})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_is_away_is_unavailable() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::from(i8::try_from(300i32).unwrap_err()).is_unavailable());
    }
}
