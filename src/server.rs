//! Accept loop: `TcpListener` → hyper-util auto (HTTP/1.1 and h2c) → `GatewayService`,
//! with graceful drain on shutdown.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::outcome::OutcomeSink;
use crate::proxy::GatewayService;
use crate::shutdown::Signal;
use crate::snapshot::{Limits, Shared};

/// Serves partners on `listener` until `shutdown`, then drains in-flight requests for at most
/// the snapshot's `drain_timeout`.
pub async fn run(
    listener: TcpListener,
    shared: Shared,
    sink: Arc<dyn OutcomeSink>,
    metrics: Arc<Metrics>,
    mut shutdown: Signal,
) {
    let graceful = GracefulShutdown::new();
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
        let _ = stream.set_nodelay(true);
        let builder = connection_builder(&shared.load().limits);
        let service = GatewayService::new(shared.clone(), sink.clone(), peer);
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        let metrics = metrics.clone();
        metrics.connection(1.0);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, client = %peer, "connection ended with an error");
            }
            metrics.connection(-1.0);
        });
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

/// HTTP/1.1 and h2c settings from the snapshot's limits.
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
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(buf).unwrap_or(u32::MAX))
        .max_concurrent_streams(256);
    builder
}
