//! Helpers shared by every crate's tests and the benchmark.
//!
//! One rule decides what a test does when a service it needs (PostgreSQL, FerretDB, Node's
//! OpenID Connect provider, Python's verifiers, enough file descriptors) is missing: under CI
//! it fails; on a developer's machine it says why it did not run and returns.

use std::fmt::Display;
use std::path::PathBuf;

/// Whether the tests run under CI: `CI` is set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    means_ci(std::env::var("CI").ok().as_deref())
}

fn means_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// For a test that cannot run because `why`: panics under CI, otherwise prints a notice so
/// that the caller can return.
pub fn unavailable(why: impl Display) {
    assert!(
        !in_ci(),
        "{why}; CI is set, so a missing service fails the test"
    );
    eprintln!("SKIPPED: {why}");
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
    use super::means_ci;

    #[test]
    fn what_counts_as_ci() {
        for value in ["true", "1", "yes"] {
            assert!(means_ci(Some(value)), "{value:?}");
        }
        for value in [None, Some(""), Some("0"), Some("false"), Some("FALSE")] {
            assert!(!means_ci(value), "{value:?}");
        }
    }
}
