//! How a database error is sorted, once for both services: a database that is away, restarting,
//! overloaded or too slow is not a fault of the service (the call may succeed when tried
//! again: 503 with `Retry-After`), every other failure is.

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
        assert!(is_unavailable(&sqlx::Error::Io(reset)));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }
}
