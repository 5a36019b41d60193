//! Guards every listener puts on a connection before it has earned any time: a deadline from
//! accept to the first complete request head, and a cap on connections open at once.
//!
//! hyper bounds the time to read a request head only once it knows the protocol; the bytes it
//! reads to find out (and the HTTP/2 preface and SETTINGS) have no timeout of their own, so a
//! silent socket would stay open for ever. The deadline here covers all of it, from accept
//! (the TLS handshake included) to the first request the service sees.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::time::Instant;

/// A service that notes when its connection delivered a first complete request head.
#[derive(Clone)]
pub struct Marked<S> {
    inner: S,
    seen: Arc<AtomicBool>,
}

/// Connections open on a listener, against its cap.
#[derive(Debug, Clone, Default)]
pub struct OpenConnections(Arc<AtomicUsize>);

/// One open connection; dropping it frees its slot.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

// === impl Marked ===

impl<S> Marked<S> {
    /// Wraps `inner`; `seen` turns true with the first request.
    pub fn new(inner: S) -> (Self, Arc<AtomicBool>) {
        let seen = Arc::new(AtomicBool::new(false));
        (
            Self {
                inner,
                seen: seen.clone(),
            },
            seen,
        )
    }
}

impl<S, R> hyper::service::Service<R> for Marked<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, req: R) -> Self::Future {
        self.seen.store(true, Ordering::Relaxed);
        self.inner.call(req)
    }
}

/// Drives `conn` to its end, but drops it (closing the socket) at `deadline` if no request
/// head was complete by then. `None` when it was cut off.
pub async fn first_request_by<F: Future>(
    conn: F,
    deadline: Instant,
    seen: &AtomicBool,
) -> Option<F::Output> {
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        out = &mut conn => return Some(out),
        () = tokio::time::sleep_until(deadline) => {}
    }
    if seen.load(Ordering::Relaxed) {
        Some(conn.await)
    } else {
        None
    }
}

// === impl OpenConnections ===

impl OpenConnections {
    /// A slot, unless `max` connections are open already.
    pub fn try_open(&self, max: usize) -> Option<Slot> {
        let open = self.0.fetch_add(1, Ordering::AcqRel);
        if open >= max {
            self.0.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self.0.clone()))
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn slots_are_capped_and_freed_on_drop() {
        let open = OpenConnections::default();
        let a = open.try_open(2);
        let b = open.try_open(2);
        assert!(a.is_some() && b.is_some());
        assert!(open.try_open(2).is_none());
        assert_eq!(open.open(), 2);
        drop(a);
        assert!(open.try_open(2).is_some());
        assert_eq!(open.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_is_cut_at_the_deadline() {
        let seen = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(2);
        let silent = std::future::pending::<()>();
        assert!(first_request_by(silent, deadline, &seen).await.is_none());
        // Once a request was seen, the connection runs past the deadline.
        seen.store(true, Ordering::Relaxed);
        let slow = tokio::time::sleep(Duration::from_secs(10));
        let deadline = Instant::now() + Duration::from_secs(2);
        assert!(first_request_by(slow, deadline, &seen).await.is_some());
    }
}
