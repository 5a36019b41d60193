//! One shutdown signal, fanned out through a `watch` channel to listeners and tasks.

use tokio::sync::watch;

/// Sends the shutdown signal.
#[derive(Debug, Clone)]
pub struct Trigger(watch::Sender<bool>);

/// Waits for the shutdown signal.
#[derive(Debug, Clone)]
pub struct Signal(watch::Receiver<bool>);

/// A connected trigger and signal.
pub fn channel() -> (Trigger, Signal) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Signal(rx))
}

// === impl Trigger ===

impl Trigger {
    /// Asks everything listening to stop.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

// === impl Signal ===

impl Signal {
    /// Whether shutdown has been asked for.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown has been asked for (at once if it already was).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// What the process was asked to do by a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsSignal {
    /// SIGTERM or SIGINT: drain and exit.
    Stop,
    /// SIGHUP: reload the configuration.
    Reload,
}

/// Listens for SIGTERM, SIGINT and SIGHUP.
pub struct OsSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl OsSignals {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> OsSignal {
        tokio::select! {
            _ = self.term.recv() => OsSignal::Stop,
            _ = self.int.recv() => OsSignal::Stop,
            _ = self.hup.recv() => OsSignal::Reload,
        }
    }
}
