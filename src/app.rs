//! Wiring only: binds the listener, opens the audit trail, installs the snapshot, spawns the
//! server, and returns a handle that reports the bound address and shuts down gracefully.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::audit::{AuditError, AuditSink, ConfigEvent, Event};
use crate::outcome::{OutcomeSink, Tee};
use crate::reload::{self, Reloaded};
use crate::shutdown::{self, Trigger};
use crate::snapshot::{Shared, Snapshot};

/// A running gateway.
pub struct App {
    addr: SocketAddr,
    shared: Shared,
    audit: Option<AuditSink>,
    trigger: Trigger,
    server: JoinHandle<()>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The partner listener could not be bound.
    #[error("cannot bind the partner listener: {0}")]
    Bind(std::io::Error),
    /// The audit trail could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

// === impl App ===

impl App {
    /// Binds `snapshot.server.listen` and starts serving.
    pub async fn start(snapshot: Snapshot, sink: Arc<dyn OutcomeSink>) -> Result<Self, StartError> {
        let listener = TcpListener::bind(snapshot.server.listen)
            .await
            .map_err(StartError::Bind)?;
        Self::start_on(listener, snapshot, sink)
    }

    /// Starts serving on an already bound listener; every outcome goes to `sink` and, when
    /// `[audit]` is configured, to the audit trail.
    pub fn start_on(
        listener: TcpListener,
        snapshot: Snapshot,
        sink: Arc<dyn OutcomeSink>,
    ) -> Result<Self, StartError> {
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let audit = snapshot.audit.as_ref().map(AuditSink::start).transpose()?;
        if let Some(a) = &audit {
            a.submit(Event::Config(ConfigEvent {
                trigger: "startup",
                result: "ok",
                old_sha256: None,
                new_sha256: Some(snapshot.config_sha256.clone()),
                detail: None,
            }));
        }
        let sink: Arc<dyn OutcomeSink> = match &audit {
            Some(a) => Arc::new(Tee(vec![sink, Arc::new(a.clone())])),
            None => sink,
        };
        let shared: Shared = Arc::new(ArcSwap::from_pointee(snapshot));
        let (trigger, signal) = shutdown::channel();
        let server = tokio::spawn(crate::server::run(listener, shared.clone(), sink, signal));
        Ok(Self {
            addr,
            shared,
            audit,
            trigger,
            server,
        })
    }

    /// The partner listener's bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared snapshot handle.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The audit trail, when configured.
    pub fn audit(&self) -> Option<&AuditSink> {
        self.audit.as_ref()
    }

    /// Reloads the configuration from `path` and records the result in the audit trail;
    /// `trigger` says who asked (`signal`, `admin`, `file_watch`).
    pub fn reload(&self, path: &Path, trigger: &'static str) -> reload::Report {
        let report = reload::reload(&self.shared, path);
        if let Some(a) = &self.audit {
            let (result, detail) = match &report.result {
                Ok(Reloaded::Swapped) => ("ok", None),
                Ok(Reloaded::Unchanged) => ("unchanged", None),
                Err(e) => ("error", Some(e.to_string())),
            };
            a.submit(Event::Config(ConfigEvent {
                trigger,
                result,
                old_sha256: Some(report.old_sha256.clone()),
                new_sha256: report.new_sha256.clone(),
                detail,
            }));
        }
        report
    }

    /// Stops accepting, drains in-flight requests (bounded by `drain_timeout`), then drains
    /// and syncs the audit trail.
    pub async fn shutdown(self) {
        self.trigger.fire();
        if let Err(e) = self.server.await {
            tracing::error!(error = %e, "server task failed");
        }
        if let Some(a) = &self.audit {
            a.shutdown().await;
        }
    }
}
