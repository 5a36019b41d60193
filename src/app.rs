//! Wiring only: binds the listeners, opens the audit trail, builds the metrics, installs the
//! snapshot, spawns the server, admin and reload tasks, and returns a handle that reports the
//! bound addresses and shuts down gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::admin::{self, AdminState};
use crate::audit::{AuditError, AuditSink, ConfigEvent, ConfigResult, ConfigTrigger};
use crate::metrics::Metrics;
use crate::outcome::{OutcomeSink, Tee};
use crate::reload::{self, Reloader};
use crate::shutdown::{self, Trigger};
use crate::snapshot::{Shared, Snapshot};
use crate::state::unauthenticated::UnauthenticatedLimiter;

/// A running gateway.
pub struct App {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    shared: Shared,
    audit: Option<AuditSink>,
    metrics: Arc<Metrics>,
    reloader: Arc<Reloader>,
    trigger: Trigger,
    /// Set at the start of shutdown: `/readyz` fails from then on.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    workers: crate::server::Workers,
    _watcher: Option<notify::RecommendedWatcher>,
}

/// How to start.
#[derive(Debug, Default)]
pub struct Options {
    /// The configuration file, for reloads (SIGHUP, admin, file watch).
    pub config_path: Option<PathBuf>,
    /// Reload when the file changes.
    pub watch_config: bool,
    /// A partner listener bound already (else `server.listen` is bound).
    pub listener: Option<TcpListener>,
    /// Partner worker threads (default: one per CPU).
    pub workers: Option<usize>,
    /// The approvals folder pinned on the command line (`serve --approvals`).
    pub approvals_dir: Option<PathBuf>,
    /// What made the starting configuration acceptable (with approvals enforced), for its
    /// record.
    pub approved: Option<crate::approvals::Approved>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot bind {what} listener: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The partner worker threads could not be started.
    #[error("cannot start the partner workers: {0}")]
    Workers(std::io::Error),
    /// The audit trail could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The configuration file cannot be watched.
    #[error("cannot watch the configuration file: {0}")]
    Watch(#[from] notify::Error),
    /// The state backend cannot be set up.
    #[error("state backend: {0}")]
    State(String),
}

// === impl App ===

impl App {
    /// Binds `server.listen` (and `admin.listen`) and starts serving.
    pub async fn start(snapshot: Snapshot, sink: Arc<dyn OutcomeSink>) -> Result<Self, StartError> {
        Self::start_with(snapshot, sink, Options::default()).await
    }

    /// Starts serving; every outcome goes to `sink`, the metrics and, when `[audit]` is
    /// configured, the audit trail.
    pub async fn start_with(
        snapshot: Snapshot,
        sink: Arc<dyn OutcomeSink>,
        opts: Options,
    ) -> Result<Self, StartError> {
        let bind = |what| move |source| StartError::Bind { what, source };
        let listener = match opts.listener {
            Some(l) => l.into_std().map_err(bind("the partner"))?,
            None => {
                std::net::TcpListener::bind(snapshot.server.listen).map_err(bind("the partner"))?
            }
        };
        let addr = listener.local_addr().map_err(bind("the partner"))?;
        let admin_listener = match &snapshot.admin {
            Some(a) => Some(
                TcpListener::bind(a.listen)
                    .await
                    .map_err(bind("the admin"))?,
            ),
            None => None,
        };
        let admin_addr = admin_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
            .map_err(bind("the admin"))?;

        let audit = snapshot.audit.as_ref().map(AuditSink::start).transpose()?;
        if let Some(a) = &audit {
            // A start is a change too (every rollout, every restart): the record names what
            // the last one put in force.
            let event = ConfigEvent {
                trigger: ConfigTrigger::Startup,
                result: ConfigResult::Ok,
                old_sha256: None,
                new_sha256: Some(snapshot.config_sha256.clone()),
                detail: None,
                diff: Vec::new(),
                approved: opts.approved.clone(),
            };
            a.record_config(event, Some(&snapshot.model));
        }
        let metrics = Metrics::new(audit.as_ref().map(|a| a.health().clone()));
        metrics.config_loaded(&snapshot);
        crate::safeguards::log_off(&snapshot);
        let mut sinks: Vec<Arc<dyn OutcomeSink>> = vec![sink, metrics.clone()];
        if let Some(a) = &audit {
            sinks.push(Arc::new(a.clone()));
        }
        let sink: Arc<dyn OutcomeSink> = Arc::new(Tee(sinks));

        let workers = opts.workers.unwrap_or_else(crate::server::default_workers);
        // Upstream clients outlive snapshots: a reload keeps the warm pools of the upstreams
        // it does not change. One pool per worker thread.
        let pools = Arc::new(crate::upstream::Pools::new(workers));
        pools.bind(&snapshot.upstreams);
        let state = crate::state::State::new(&snapshot.state).map_err(StartError::State)?;
        metrics.watch_state(state.clone());
        let shared: Shared = Arc::new(ArcSwap::from_pointee(snapshot));
        let reloader = Arc::new(Reloader::new(
            shared.clone(),
            opts.config_path,
            audit.clone(),
            metrics.clone(),
            pools,
            opts.approvals_dir,
        ));
        let watcher = if opts.watch_config {
            reload::watch(reloader.clone())?
        } else {
            None
        };
        let loads = crate::server::WorkerLoads::new(workers);
        let misuse = Arc::new(crate::governance::misuse::Detector::default());
        let (trigger, signal) = shutdown::channel();
        tokio::spawn(metrics.clone().upkeep(signal.clone()));
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(l) = admin_listener {
            let admin_state = Arc::new(AdminState {
                state: state.clone(),
                stopping: stopping.clone(),
                shared: shared.clone(),
                metrics: metrics.clone(),
                reloader: reloader.clone(),
                audit: audit.as_ref().map(|a| a.health().clone()),
                workers: loads.clone(),
                misuse: misuse.clone(),
                sink: sink.clone(),
            });
            tokio::spawn(admin::run(l, admin_state, signal.clone()));
        }
        let unauthenticated = Arc::new(UnauthenticatedLimiter::new(
            shared.load().limits.unauthenticated,
        ));
        tokio::spawn(summaries(
            audit.clone(),
            unauthenticated.clone(),
            signal.clone(),
        ));
        tokio::spawn(crate::fleet::run(
            misuse.clone(),
            state.clone(),
            sink.clone(),
            signal.clone(),
        ));
        let ctx = crate::server::Ctx {
            shared: shared.clone(),
            sink,
            state,
            unauthenticated,
            misuse,
            metrics: metrics.clone(),
        };
        let workers =
            crate::server::spawn(&loads, listener, ctx, &signal).map_err(StartError::Workers)?;
        Ok(Self {
            addr,
            admin_addr,
            shared,
            audit,
            metrics,
            reloader,
            trigger,
            stopping,
            workers,
            _watcher: watcher,
        })
    }

    /// The partner listener's bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's bound address, when `[admin]` is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The shared snapshot handle.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The audit trail, when configured.
    pub fn audit(&self) -> Option<&AuditSink> {
        self.audit.as_ref()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Reloads the configuration file and records the result; `trigger` says who asked.
    pub fn reload(&self, trigger: ConfigTrigger) -> reload::Report {
        self.reloader.reload(trigger)
    }

    /// Fails `/readyz` at once and keeps serving for `server.shutdown_delay` (so a load
    /// balancer stops sending first), then stops accepting, drains in-flight requests
    /// (bounded by `drain_timeout`), and drains and syncs the audit trail.
    pub async fn shutdown(self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let delay = self.shared.load().server.shutdown_delay;
        if !delay.is_zero() {
            tracing::info!(?delay, "not ready; still serving for shutdown_delay");
            tokio::time::sleep(delay).await;
        }
        self.trigger.fire();
        self.workers.join().await;
        if let Some(a) = &self.audit {
            a.flush_summaries();
            a.shutdown().await;
        }
    }
}

/// Every `SUMMARY_WINDOW`: one summary record per address whose unauthenticated requests were
/// limited, and addresses whose budget is full again forgotten.
async fn summaries(
    audit: Option<AuditSink>,
    limiter: Arc<UnauthenticatedLimiter>,
    mut shutdown: crate::shutdown::Signal,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(crate::audit::SUMMARY_WINDOW) => {}
            () = shutdown.wait() => return,
        }
        if let Some(a) = &audit {
            a.flush_summaries();
        }
        limiter.sweep();
    }
}
