//! Helpers shared by every crate's tests and the benchmark.
//!
//! One rule decides what a test does when a service it needs (PostgreSQL, FerretDB, Node's
//! OpenID Connect provider, Python's verifiers, enough file descriptors) is missing: it fails,
//! naming what is missing. Only a developer who asks for it (`ORDERSYS_SKIP_MISSING=1`, never
//! under CI) gets a notice and a test that returns without running.

mod postgres;

use std::fmt::Display;
use std::path::PathBuf;

pub use postgres::{admin_url as postgres_admin_url, drop_database, TestDatabase};

/// Whether the tests run under CI: `CI` is set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    flag_is_on(std::env::var("CI").ok().as_deref())
}

/// Whether a flag variable's value turns it on: anything but unset, empty, `0` or `false`.
fn flag_is_on(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// For a test that cannot run because `why`: panics, unless the developer asked to skip
/// such tests (`ORDERSYS_SKIP_MISSING` set, and not under CI); then prints a notice so that
/// the caller can return.
pub fn unavailable(why: impl Display) {
    let skip_asked = flag_is_on(std::env::var("ORDERSYS_SKIP_MISSING").ok().as_deref());
    assert!(
        skip_asked && !in_ci(),
        "{why}; a missing service fails the test (start it, or run `bash .ci/run`)"
    );
    eprintln!("not run (ORDERSYS_SKIP_MISSING): {why}");
}

/// The FerretDB server binary: `FERRETDB_BIN`, the copy `bash .ci/ferretdb.sh` builds in
/// `~/.cache/ordersys/bin`, or `ferretdb` on the PATH.
pub fn ferretdb_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("FERRETDB_BIN") {
        return Some(PathBuf::from(bin));
    }
    let cached = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/ordersys/bin/ferretdb"))
        .filter(|p| p.is_file());
    cached.or_else(|| {
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join("ferretdb"))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::flag_is_on;

    #[test]
    fn what_counts_as_ci() {
        for value in ["true", "1", "yes"] {
            assert!(flag_is_on(Some(value)), "{value:?}");
        }
        for value in [None, Some(""), Some("0"), Some("false"), Some("FALSE")] {
            assert!(!flag_is_on(value), "{value:?}");
        }
    }
}
