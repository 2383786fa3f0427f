//! What the permanent log keeps of a call's bodies (SPEC section 7). The log can never delete,
//! so it keeps no more than an auditor needs: the digests of both bodies always (they prove a
//! body later without storing it), the request body only when the caller was authenticated,
//! the response body for writes and every refusal or failure, and for a successful list the
//! ids it disclosed instead of the orders themselves.

use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use super::Operation;

/// Which bodies one call's event keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    pub request_body: bool,
    pub response_body: bool,
    /// `response.order_ids`: the ids a successful `order.list` disclosed, in order.
    pub order_ids: bool,
    /// Whether a request body nobody read (the call was refused before) is read to the end
    /// for its digest. Not for a rate-limited caller: 429 means "no more work for you".
    pub digest_unread_request: bool,
}

impl BodyPolicy {
    pub fn for_call(authenticated: bool, operation: Operation, status: StatusCode) -> Self {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Self {
                request_body: false,
                response_body: false,
                order_ids: false,
                digest_unread_request: false,
            };
        }
        let successful_read = operation.is_read() && status.is_success();
        Self {
            request_body: authenticated,
            response_body: !successful_read,
            order_ids: successful_read && operation == Operation::OrderList,
            digest_unread_request: true,
        }
    }
}

/// Length and lowercase hex SHA-256 of a whole body as it went over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDigest {
    pub bytes: u64,
    pub sha256: String,
}

impl BodyDigest {
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }
}

/// Hashes a body that arrives in pieces.
#[derive(Default)]
pub struct DigestBuilder {
    hasher: Sha256,
    bytes: u64,
}

impl DigestBuilder {
    pub fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn finish(self) -> BodyDigest {
        BodyDigest {
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation::*;

    #[test]
    fn bodies_kept_follow_spec_section_7() {
        let p = |auth, op, status: u16| {
            let p = BodyPolicy::for_call(auth, op, StatusCode::from_u16(status).unwrap());
            (p.request_body, p.response_body, p.order_ids)
        };
        // Anonymous callers' request bodies are never kept; refusals keep the answer.
        assert_eq!(p(false, OrderCreate, 401), (false, true, false));
        assert_eq!(p(false, Request, 404), (false, true, false));
        // Writes keep both.
        assert_eq!(p(true, OrderCreate, 201), (true, true, false));
        assert_eq!(p(true, OrderUpdate, 200), (true, true, false));
        assert_eq!(p(true, OrderDelete, 204), (true, true, false));
        // Successful reads keep no response body; a list keeps the ids it disclosed.
        assert_eq!(p(true, OrderGet, 200), (true, false, false));
        assert_eq!(p(true, OrderList, 200), (true, false, true));
        // Failed reads keep the answer.
        assert_eq!(p(true, OrderGet, 404), (true, true, false));
        assert_eq!(p(true, OrderList, 422), (true, true, false));
        assert_eq!(p(true, OrderGet, 500), (true, true, false));
        // Rate-limited: no bodies at all, and the unread body stays unread.
        assert_eq!(p(true, OrderCreate, 429), (false, false, false));
        assert!(
            !BodyPolicy::for_call(false, OrderList, StatusCode::TOO_MANY_REQUESTS)
                .digest_unread_request
        );
    }

    #[test]
    fn digests_are_of_the_whole_body() {
        let whole = BodyDigest::of(b"hello world");
        assert_eq!(whole.bytes, 11);
        assert_eq!(
            whole.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let mut pieces = DigestBuilder::default();
        pieces.update(b"hello ");
        pieces.update(b"world");
        assert_eq!(pieces.finish(), whole);
    }
}
