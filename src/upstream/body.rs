//! The body sent to an upstream: the client's, streamed or already read, cut off past the body
//! limit or when the client stalls, and flagging a client's own framing errors (so they are
//! never blamed on the upstream).

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// The boxed error of bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client's request body, whatever carried it (a hyper connection, or a test in-process).
pub type ClientBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A request body that fails once it grows past its limit or stalls, and says which.
pub struct CappedBody {
    inner: Inner,
    remaining: u64,
    tripped: Arc<AtomicU8>,
    idle: Duration,
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why a `CappedBody` failed (its `tripped` flag): past the limit...
pub(crate) const TOO_LARGE: u8 = 1;
/// ... stalled ...
pub(crate) const STALLED: u8 = 2;
/// ... or the client's framing was malformed (bad chunk size, bare LF, ...) or it ended
/// mid-body.
pub(crate) const MALFORMED: u8 = 3;

/// Streamed from the client, or already read (idempotent routes fingerprint the body).
enum Inner {
    Stream(ClientBody),
    Full(Option<Bytes>),
}

/// The body to forward.
pub enum RequestBody {
    /// Streamed as it arrives.
    Stream(ClientBody),
    /// Read whole already.
    Buffered(Bytes),
}

/// The error a `CappedBody` yields past its limit.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the configured limit")]
pub struct BodyTooLarge;

/// The error a `CappedBody` yields when the client stops sending mid-body.
#[derive(Debug, thiserror::Error)]
#[error("request body stalled past the configured timeout")]
pub struct BodyStalled;

// === impl CappedBody ===

impl CappedBody {
    /// A body that fails past `limit` bytes or after `idle` without data; the flag says why.
    pub(crate) fn new(body: RequestBody, limit: u64, idle: Duration) -> (Self, Arc<AtomicU8>) {
        let tripped = Arc::new(AtomicU8::new(0));
        let inner = match body {
            RequestBody::Stream(s) => Inner::Stream(s),
            RequestBody::Buffered(b) => Inner::Full((!b.is_empty()).then_some(b)),
        };
        let body = Self {
            inner,
            remaining: limit,
            tripped: tripped.clone(),
            idle,
            stall: None,
        };
        (body, tripped)
    }
}

impl HttpBody for CappedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let stream = match &mut self.inner {
            Inner::Full(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream(s) => s,
        };
        let frame = match Pin::new(stream).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => {
                // The client's error, not the upstream's: never blamed on (or counted against) it.
                self.tripped.store(MALFORMED, Ordering::Relaxed);
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                // A client that stops sending mid-body is cut off after `idle`.
                let idle = self.idle;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if stall.as_mut().poll(cx).is_ready() {
                    self.tripped.store(STALLED, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(Box::new(BodyStalled))));
                }
                return Poll::Pending;
            }
        };
        self.stall = None;
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                self.tripped.store(TOO_LARGE, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
            }
            self.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Stream(s) => s.is_end_stream(),
            Inner::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Stream(s) => s.size_hint(),
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
