//! HTTP plumbing shared by both services, one concern a file: JSON request bodies (`body`),
//! query parameters (`query`), answers that are problems whatever produced them (`problems`),
//! the access log (`access_log`), and the binaries' `healthcheck` probe (`probe`). The server
//! loop is [`crate::server`].

mod access_log;
mod body;
mod probe;
mod problems;
mod query;

pub use access_log::{access_log, client_ip, header_str};
pub use body::{parse_json, read_json_body, JsonBody, BODY_LIMIT};
pub use probe::healthcheck;
pub use problems::{catch_panic, not_found, problem_json, PanicAnswer};
pub use query::parse_query;
