//! Wiring only: binds the listener, installs the snapshot, spawns the server, and returns a
//! handle that reports the bound address and shuts down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::outcome::OutcomeSink;
use crate::shutdown::{self, Trigger};
use crate::snapshot::{Shared, Snapshot};

/// A running gateway.
#[derive(Debug)]
pub struct App {
    addr: SocketAddr,
    shared: Shared,
    trigger: Trigger,
    server: JoinHandle<()>,
}

// === impl App ===

impl App {
    /// Binds `snapshot.server.listen` and starts serving.
    pub async fn start(snapshot: Snapshot, sink: Arc<dyn OutcomeSink>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(snapshot.server.listen).await?;
        Self::start_on(listener, snapshot, sink)
    }

    /// Starts serving on an already bound listener.
    pub fn start_on(
        listener: TcpListener,
        snapshot: Snapshot,
        sink: Arc<dyn OutcomeSink>,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared: Shared = Arc::new(ArcSwap::from_pointee(snapshot));
        let (trigger, signal) = shutdown::channel();
        let server = tokio::spawn(crate::server::run(listener, shared.clone(), sink, signal));
        Ok(Self {
            addr,
            shared,
            trigger,
            server,
        })
    }

    /// The partner listener's bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared snapshot handle (for reload).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Stops accepting, drains in-flight requests (bounded by `drain_timeout`), and returns
    /// when the server has finished.
    pub async fn shutdown(self) {
        self.trigger.fire();
        if let Err(e) = self.server.await {
            tracing::error!(error = %e, "server task failed");
        }
    }
}
