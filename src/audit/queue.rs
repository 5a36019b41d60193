//! The writer's queue: bounded (a full queue fails closed), but holding memory only for what
//! is in it. A `sync_channel` of the same bound allocates and writes every slot when it is
//! made (65 536 × 112 bytes, 7 MiB resident in every gateway, most of it never used).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError, TrySendError};
use std::time::Duration;

/// The sending side; cheap to clone.
pub(crate) struct Sender<T> {
    tx: mpsc::Sender<T>,
    queued: Arc<AtomicUsize>,
    bound: usize,
}

/// The writer's side: every message taken leaves room for another.
pub(crate) struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    queued: Arc<AtomicUsize>,
}

/// A queue of at most `bound` messages.
pub(crate) fn bounded<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Sender {
            tx,
            queued: queued.clone(),
            bound,
        },
        Receiver { rx, queued },
    )
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            queued: self.queued.clone(),
            bound: self.bound,
        }
    }
}

impl<T> Sender<T> {
    /// Queues `msg` unless the queue is full or the receiver is gone.
    pub(crate) fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.bound {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(TrySendError::Full(msg));
        }
        self.tx.send(msg).map_err(|mpsc::SendError(msg)| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            TrySendError::Disconnected(msg)
        })
    }

    /// Queues `msg` whatever the bound (the shutdown message: a full queue still drains).
    pub(crate) fn send(&self, msg: T) -> Result<(), mpsc::SendError<T>> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.send(msg)
    }
}

impl<T> Receiver<T> {
    fn taken(&self, msg: T) -> T {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        msg
    }

    /// The next message, if one is queued.
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map(|m| self.taken(m))
    }

    /// The next message, waiting at most `timeout`.
    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(|m| self.taken(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_holds_and_every_message_taken_frees_a_place() {
        let (tx, rx) = bounded(2);
        assert!(tx.try_send(1).is_ok());
        assert!(tx.clone().try_send(2).is_ok());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(tx.try_send(4).is_ok());
        assert!(matches!(tx.try_send(5), Err(TrySendError::Full(5))));
        // Shutdown goes in whatever the bound.
        assert!(tx.send(6).is_ok());
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Ok(4));
        assert_eq!(rx.try_recv(), Ok(6));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(rx);
        assert!(matches!(tx.try_send(7), Err(TrySendError::Disconnected(7))));
        // A refused message leaves no place taken.
        assert_eq!(tx.queued.load(Ordering::Relaxed), 0);
    }
}
