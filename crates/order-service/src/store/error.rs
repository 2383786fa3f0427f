//! How a store call fails. Rows that are missing and versions that moved on are not errors:
//! `get` answers `None` and the compare-and-set writes answer `false`, because the handlers
//! branch on them (404, 412, another attempt).
//!
//! A database that is away, restarting, overloaded or too slow is not a fault of the service:
//! the call may succeed when tried again, so it is [`StoreError::Unavailable`] (503 with
//! `Retry-After`), never a 500. Every `sqlx::Error` is sorted here, once, by [`is_unavailable`].

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

/// Whether an error says the database is away or slow rather than that the statement is wrong:
/// the pool could not hand out a connection in time or is closed; the connection broke
/// (I/O, TLS, a protocol message cut short); or the server refused with a SQLSTATE of class
/// 08 (connection exception), 53 (insufficient resources), 57P01/57P02/57P03 (administrator
/// shutdown, crash shutdown, cannot connect now) or 57014 (the statement timeout, or a cancel).
/// SQLite's "busy" and "locked" (codes 5 and 6, after the busy timeout) count as slow.
/// Serialization failures and deadlocks (40001, 40P01) are not here: nothing retries them, and
/// the order store's statements do not run at a level that raises the first.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                unavailable_sqlstate(pg.code())
            } else {
                // SQLite: the primary result code is the low byte of the extended one.
                db.code()
                    .and_then(|code| code.parse::<u32>().ok())
                    .is_some_and(|code| matches!(code & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}

fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "57014")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_a_database_that_is_away() {
        for code in [
            "08006", "08001", "08P01", "53300", "53100", "57P01", "57P02", "57P03", "57014",
        ] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "40P01", "22P02", "XX000"] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
    }

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
