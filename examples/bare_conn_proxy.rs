//! The floor the gateway runs on: `bare_proxy` with hyper's low-level `client::conn::http1` and a
//! pool each worker owns (a stack of ready senders; a sender goes back when its response body
//! has been sent on), as `src/upstream/client.rs` does, instead of hyper-util's legacy client (a
//! shared pool map keyed by scheme and authority, a checkout future, a task per exchange to
//! return the connection). Same server side, same I/O model, same upstream: the load table's
//! and the cost gate's `bare-conn` row, what "the gateway's own work" is measured over.
//!
//!   cargo run --release --example bare_conn_proxy -- <listen addr> <upstream addr> <workers>

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[path = "common/workers.rs"]
mod workers;
use workers::BoxError;
#[path = "common/pool.rs"]
mod pool;
use pool::{Pool, Returning};

/// The gateway's allocator, so that the rows differ only in the client.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), BoxError> {
    workers::run("bare_conn_proxy", serve)
}

async fn serve(listener: std::net::TcpListener, upstream: SocketAddr) -> Result<(), BoxError> {
    let listener = TcpListener::from_std(listener)?;
    let pool: Pool<Incoming> = Pool::default();
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let pool = pool.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<Incoming>| {
                let pool = pool.clone();
                async move { forward(&pool, upstream, req).await }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    pool: &Pool<Incoming>,
    upstream: SocketAddr,
    mut req: http::Request<Incoming>,
) -> Result<http::Response<Returning<Incoming>>, std::io::Error> {
    let mut sender = pool::checkout(pool, upstream).await?;
    if !req.headers().contains_key(http::header::HOST) {
        // An HTTP/2 client names the host in the URI, which HTTP/1.1's origin form drops.
        let host = req.uri().authority().map(|a| a.as_str().parse());
        if let Some(Ok(host)) = host {
            req.headers_mut().insert(http::header::HOST, host);
        }
    }
    pool::to_origin_form(&mut req)?;
    *req.version_mut() = http::Version::HTTP_11;
    let rsp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    Ok(rsp.map(|body| Returning::new(body, sender, pool.clone())))
}
