//! Accept loop: `TcpListener` → TLS handshake when `server.tls` is set (with the config of the
//! snapshot current at accept time, so reloaded certificates apply to new connections) →
//! hyper-util auto (HTTP/1.1 and HTTP/2; h2c without TLS) → `GatewayService`, with graceful drain.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;
use crate::outcome::OutcomeSink;
use crate::proxy::{ConnInfo, GatewayService};
use crate::shutdown::Signal;
use crate::snapshot::{Limits, Shared};
use crate::state::State;

/// What every connection task needs.
#[derive(Clone)]
struct Ctx {
    /// Partner connections open now (checked against `limits.max_connections` at accept).
    open: Arc<std::sync::atomic::AtomicUsize>,
    shared: Shared,
    sink: Arc<dyn OutcomeSink>,
    state: Arc<State>,
    metrics: Arc<Metrics>,
}

/// Serves partners on `listener` until `shutdown`, then drains in-flight requests for at most
/// the snapshot's `drain_timeout`.
pub async fn run(
    listener: TcpListener,
    shared: Shared,
    sink: Arc<dyn OutcomeSink>,
    state: Arc<State>,
    metrics: Arc<Metrics>,
    mut shutdown: Signal,
) {
    let graceful = GracefulShutdown::new();
    let ctx = Ctx {
        open: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        shared: shared.clone(),
        sink,
        state,
        metrics,
    };
    loop {
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
        if ctx.open.load(std::sync::atomic::Ordering::Relaxed) >= max {
            // Shed the connection at once rather than let it queue behind the others.
            tracing::debug!(client = %peer, max, "max_connections reached; closing");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        ctx.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(connection(ctx.clone(), stream, peer, graceful.watcher()));
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
async fn connection(ctx: Ctx, stream: TcpStream, peer: std::net::SocketAddr, watcher: Watcher) {
    let snap = ctx.shared.load_full();
    ctx.metrics.connection(1.0);
    match &snap.server.tls {
        None => {
            let conn = ConnInfo {
                client_addr: peer,
                proto: "http",
                client_cert: None,
            };
            serve(&ctx, &snap.limits, stream, conn, watcher).await;
        }
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            let handshake =
                tokio::time::timeout(snap.limits.client_header_timeout, acceptor.accept(stream))
                    .await;
            match handshake {
                Ok(Ok(tls)) => {
                    let client_cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(crate::tls::fingerprint);
                    let conn = ConnInfo {
                        client_addr: peer,
                        proto: "https",
                        client_cert,
                    };
                    serve(&ctx, &snap.limits, tls, conn, watcher).await;
                }
                Ok(Err(e)) => tracing::debug!(client = %peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(client = %peer, "TLS handshake timed out"),
            }
        }
    }
    ctx.metrics.connection(-1.0);
    ctx.open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

async fn serve<S>(ctx: &Ctx, limits: &Limits, io: S, conn: ConnInfo, watcher: Watcher)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let peer = conn.client_addr;
    let service = GatewayService::new(
        ctx.shared.clone(),
        ctx.sink.clone(),
        ctx.state.clone(),
        conn,
    );
    let builder = connection_builder(limits);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(error = %e, client = %peer, "connection ended with an error");
    }
}

/// HTTP/1.1 and HTTP/2 settings from the snapshot's limits.
fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper answers a head past its read buffer with a bare 431; keep that buffer above the
    // configured limit so the gateway's own problem+json 431 is what clients normally see.
    let buf = (limits.max_request_header_bytes * 2).max(16 * 1024);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.client_header_timeout)
        .max_buf_size(buf)
        .keep_alive(true);
    // Explicit HTTP/2 limits: header list (CONTINUATION floods end there), streams, frames,
    // resets (rapid reset, CVE-2023-44487) and keep-alive pings for dead peers.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(buf).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_frame_size(limits.h2_max_frame_size)
        .max_pending_accept_reset_streams(limits.h2_max_pending_reset_streams as usize)
        .max_local_error_reset_streams(1024)
        .keep_alive_interval(limits.h2_keepalive_interval)
        .keep_alive_timeout(limits.h2_keepalive_timeout);
    builder
}
