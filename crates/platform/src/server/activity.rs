//! Requests in progress on one connection: what tells an idle connection (closed after
//! [`super::Limits::idle_timeout`]) from a busy one, and when a closing one may be dropped.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Instant;

/// Requests in progress on one connection, and when the last one ended.
pub(super) struct Activity {
    active: AtomicUsize,
    origin: std::time::Instant,
    /// Milliseconds after `origin` when the connection last had no request in progress.
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            active: AtomicUsize::new(0),
            origin: std::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    pub(super) fn start(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(self.clone())
    }

    pub(super) fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// When to look again if the connection is not yet idle for `idle`; None once it is.
    pub(super) fn idle_until(&self, idle: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.active() > 0 {
            return Some(now + idle);
        }
        let last = self.origin + Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        let due = tokio::time::Instant::from_std(last) + idle;
        (due > now).then_some(due)
    }
}

/// One request in progress; dropped when its response has been sent.
pub(super) struct ActiveGuard(Arc<Activity>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in progress until it is dropped.
pub(super) struct ActiveBody {
    pub(super) inner: Body,
    pub(super) _active: ActiveGuard,
}

impl HttpBody for ActiveBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
