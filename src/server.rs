//! Partner workers: one thread per worker, each with its own single-threaded runtime, accept
//! loop and upstream pools, so a request and its upstream exchange never leave the thread.
//! Accept → TLS handshake when `server.tls` is set (with the config of the snapshot current at
//! accept time, so reloaded certificates apply to new connections) → the first bytes decide:
//! the gateway's own HTTP/1.1 server (`h1`), or hyper's HTTP/2 (h2c without TLS) →
//! `GatewayService`, with graceful drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::conn_guard::{Marked, first_request_by};
use crate::h1::{self, Rewind, Spoken};
use crate::metrics::Metrics;
use crate::outcome::OutcomeSink;
use crate::proxy::{ConnInfo, GatewayService, Proto};
use crate::shutdown::Signal;
use crate::snapshot::{Limits, Shared};
use crate::state::State;
use crate::state::unauthenticated::UnauthenticatedLimiter;

/// What the partner workers share.
#[derive(Clone)]
pub struct Ctx {
    /// The running configuration.
    pub shared: Shared,
    /// Where every outcome goes.
    pub sink: Arc<dyn OutcomeSink>,
    /// Rate limits and idempotency.
    pub state: Arc<State>,
    /// The per-address limit on unauthenticated traffic.
    pub unauthenticated: Arc<UnauthenticatedLimiter>,
    /// The misuse detector (`[governance.misuse]`).
    pub misuse: Arc<crate::governance::misuse::Detector>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

/// The running partner workers.
pub struct Workers {
    threads: Vec<JoinHandle<()>>,
}

/// Partner connections open on each worker (accepts are kept balanced by it; `/admin/status`
/// shows it).
#[derive(Clone)]
pub struct WorkerLoads(Arc<[AtomicUsize]>);

/// What one worker's connection tasks need.
#[derive(Clone)]
struct Worker {
    index: usize,
    loads: WorkerLoads,
    ctx: Ctx,
}

/// How long a worker holding more than its share of connections leaves new ones to the
/// others before it accepts again itself.
const BALANCE_WAIT: Duration = Duration::from_millis(5);

/// One worker per CPU.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Starts one thread per entry of `loads`, serving partners on `listener` until `shutdown`;
/// each then drains its in-flight requests for at most the snapshot's `drain_timeout`.
pub fn spawn(
    loads: &WorkerLoads,
    listener: std::net::TcpListener,
    ctx: Ctx,
    shutdown: &Signal,
) -> std::io::Result<Workers> {
    listener.set_nonblocking(true)?;
    let mut threads = Vec::with_capacity(loads.0.len());
    for index in 0..loads.0.len() {
        // Every worker waits on the same listening socket; whoever is free accepts.
        let listener = listener.try_clone()?;
        let worker = Worker {
            index,
            loads: loads.clone(),
            ctx: ctx.clone(),
        };
        let shutdown = shutdown.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("kwanus-worker-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(l) => run(l, worker, shutdown).await,
                        Err(e) => tracing::error!(error = %e, "worker cannot listen"),
                    }
                });
            })?;
        threads.push(thread);
    }
    Ok(Workers { threads })
}

// === impl WorkerLoads ===

impl WorkerLoads {
    /// Counters for `workers` workers (at least one).
    pub fn new(workers: usize) -> Self {
        Self((0..workers.max(1)).map(|_| AtomicUsize::new(0)).collect())
    }

    /// Connections open on each worker now.
    pub fn open(&self) -> Vec<usize> {
        self.0.iter().map(|l| l.load(Ordering::Relaxed)).collect()
    }

    /// Connections open on all workers together (checked against `limits.max_connections`).
    fn total(&self) -> usize {
        self.0.iter().map(|l| l.load(Ordering::Relaxed)).sum()
    }
}

// === impl Workers ===

impl Workers {
    /// Waits until every worker has drained and stopped.
    pub async fn join(self) {
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                if t.join().is_err() {
                    tracing::error!("a partner worker panicked");
                }
            }
        });
        if let Err(e) = joined.await {
            tracing::error!(error = %e, "cannot join the partner workers");
        }
    }
}

// === impl Worker ===

impl Worker {
    /// Whether this worker holds more connections than the least loaded one plus one.
    fn over_share(&self) -> bool {
        let mine = self.loads.0[self.index].load(Ordering::Relaxed);
        let least = self
            .loads
            .0
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        mine > least + 1
    }
}

/// One worker's accept loop, then its drain.
async fn run(listener: TcpListener, worker: Worker, mut shutdown: Signal) {
    let graceful = GracefulShutdown::new();
    let shared = worker.ctx.shared.clone();
    loop {
        if worker.over_share() {
            // Every worker is woken for a new connection: a less loaded one will take it.
            tokio::select! {
                () = tokio::time::sleep(BALANCE_WAIT) => {}
                () = shutdown.wait() => break,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.wait() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let max = shared.load().limits.max_connections;
        if worker.loads.total() >= max {
            // Shed the connection at once rather than let it queue behind the others.
            tracing::debug!(client = %peer, max, "max_connections reached; closing");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        worker.loads.0[worker.index].fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(
            worker.clone(),
            stream,
            peer,
            graceful.watcher(),
            shutdown.clone(),
        ));
    }
    drop(listener);
    let drain = shared.load().server.drain_timeout;
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(drain) => {
            tracing::warn!(timeout = ?drain, "drain timeout reached; closing remaining connections");
        }
    }
}

/// One partner connection: TLS (if configured), then HTTP.
async fn connection(
    worker: Worker,
    stream: TcpStream,
    peer: std::net::SocketAddr,
    watcher: Watcher,
    shutdown: Signal,
) {
    let snap = worker.ctx.shared.load_full();
    // From accept to the first complete request head: the TLS handshake, reading the first
    // bytes (HTTP/2 preface or not) and HTTP/2's SETTINGS all count against
    // client_header_timeout.
    let deadline = Instant::now() + snap.limits.client_header_timeout;
    worker.ctx.metrics.connection(1.0);
    match &snap.server.tls {
        None => {
            let conn = ConnInfo::new(peer, Proto::Http, None, worker.index);
            serve(
                &worker,
                &snap.limits,
                stream,
                conn,
                watcher,
                deadline,
                shutdown,
            )
            .await;
        }
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream)).await;
            match handshake {
                Ok(Ok(tls)) => {
                    let client_cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(crate::tls::fingerprint);
                    let conn = ConnInfo::new(peer, Proto::Https, client_cert, worker.index);
                    serve(
                        &worker,
                        &snap.limits,
                        tls,
                        conn,
                        watcher,
                        deadline,
                        shutdown,
                    )
                    .await;
                }
                Ok(Err(e)) => tracing::debug!(client = %peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(client = %peer, "TLS handshake timed out"),
            }
        }
    }
    worker.ctx.metrics.connection(-1.0);
    worker.loads.0[worker.index].fetch_sub(1, Ordering::Relaxed);
}

async fn serve<S>(
    worker: &Worker,
    limits: &Limits,
    mut io: S,
    conn: ConnInfo,
    watcher: Watcher,
    deadline: Instant,
    mut shutdown: Signal,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let peer = conn.client_addr;
    let service = GatewayService::new(
        worker.ctx.shared.clone(),
        worker.ctx.sink.clone(),
        worker.ctx.state.clone(),
        worker.ctx.unauthenticated.clone(),
        worker.ctx.misuse.clone(),
        conn,
    );
    let mut buf = BytesMut::with_capacity(h1::READ_CHUNK);
    // A connection that has said nothing yet is closed at once by a drain.
    let spoken = tokio::select! {
        spoken = h1::sniff(&mut io, &mut buf, deadline) => spoken,
        () = shutdown.wait() => None,
    };
    match spoken {
        None => tracing::debug!(client = %peer, "no request head before client_header_timeout"),
        Some(Spoken::Http1) => {
            let settings = h1::Settings {
                max_head: head_buffer(limits),
                header_timeout: limits.client_header_timeout,
            };
            h1::serve(io, buf, &service, settings, deadline, shutdown).await;
            // The drain waits for every watcher: this one goes with the connection.
            drop(watcher);
        }
        Some(Spoken::Http2) => {
            let (service, seen) = Marked::new(service);
            let io = TokioIo::new(Rewind::new(buf.freeze(), io));
            let conn = http2_builder(limits).serve_connection(io, service);
            match first_request_by(watcher.watch(conn), deadline, &seen).await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, client = %peer, "connection ended with an error");
                }
                None => {
                    tracing::debug!(client = %peer, "no request head before client_header_timeout");
                }
            }
        }
    }
}

/// The most a request head may take of the read buffer before it is refused with 431: above
/// the configured limit, so the gateway's own check (a problem+json 431 in the trail) is what
/// clients normally meet.
fn head_buffer(limits: &Limits) -> usize {
    (limits.max_request_header_bytes * 2).max(16 * 1024)
}

/// HTTP/2 settings from the snapshot's limits: header list (CONTINUATION floods end there),
/// streams, frames, resets (rapid reset, CVE-2023-44487) and keep-alive pings for dead peers.
fn http2_builder(limits: &Limits) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(head_buffer(limits)).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_frame_size(limits.h2_max_frame_size)
        .max_pending_accept_reset_streams(limits.h2_max_pending_reset_streams as usize)
        .max_local_error_reset_streams(1024)
        .keep_alive_interval(limits.h2_keepalive_interval)
        .keep_alive_timeout(limits.h2_keepalive_timeout);
    builder
}
