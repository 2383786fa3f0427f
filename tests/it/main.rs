//! The end-to-end tests with the real binaries (`order-service`, `txlog-service`, `ordersys`),
//! one test binary for all of them: a module for each subject, and `support` shared by them.

mod database_faults;
mod delivery_faults;
mod hostile;
mod keycloak;
mod observability;
mod support;
mod up_and_audit;
