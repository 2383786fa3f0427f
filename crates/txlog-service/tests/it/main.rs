//! The transaction log's integration tests, one binary (one link of the service) for all of
//! them: a module for each subject, and `common` shared by them. `common::process` runs the
//! `txlog-service` binary, which cargo builds for the tests of this package.

// Declared first: `#[macro_use]` puts its `on_both_stores!` in scope of the modules below.
#[macro_use]
mod common;

mod binary;
mod conformance;
mod console;
mod console_e2e;
mod filters;
mod group_commit;
mod hostile_bodies;
mod http_api;
mod mongo_indexes;
mod processes;
mod prop_chain;
mod prop_cursor;
mod prop_tree;
mod python_verifier;
mod replicas;
mod seals;
mod tamper;
mod verifiable_log;
mod verify_bounds;
mod witnesses;
