//! The platform crate's integration tests, one binary for all of them: a module for each
//! subject, and `support` shared by them. `preface_cpu` is a binary of its own (see there).

mod address_limit;
mod private_ca;
mod prop_auth;
mod server;
mod support;
mod trusted_proxies;
