//! Request bodies that must keep arriving: [`TimedBody`] fails with [`BodyTimeout`] after a gap
//! of [`super::Limits::body_idle_timeout`] or past [`super::Limits::body_total_timeout`].

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::Problem;

/// The error a request body yields when it stalls or takes too long.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// Whether `error`, or anything in its source chain, is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The answer to a body that did not arrive in time.
pub fn body_timeout_problem() -> Problem {
    Problem::timeout("the request body took too long to arrive")
}

/// A request body that fails with [`BodyTimeout`] when it stalls or takes too long.
pub(super) struct TimedBody {
    inner: Incoming,
    idle_timeout: Duration,
    deadline: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl TimedBody {
    pub(super) fn new(inner: Incoming, (idle_timeout, total): (Duration, Duration)) -> Self {
        let now = Instant::now();
        let deadline = now + total;
        Self {
            inner,
            idle_timeout,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until((now + idle_timeout).min(deadline))),
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = (Instant::now() + this.idle_timeout).min(this.deadline);
                this.sleep.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn timeouts_are_found_in_source_chains() {
        let direct: Box<dyn StdError + Send + Sync> = Box::new(BodyTimeout);
        assert!(is_body_timeout(direct.as_ref()));
        let wrapped = axum::Error::new(BodyTimeout);
        assert!(is_body_timeout(&wrapped));
        let other = std::io::Error::other("x");
        assert!(!is_body_timeout(&other));
        assert_eq!(body_timeout_problem().status, StatusCode::REQUEST_TIMEOUT);
    }
}
