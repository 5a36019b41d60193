//! The floor the gateway runs on: `bare_proxy` with hyper's low-level `client::conn::http1` and a
//! pool each worker owns (a stack of ready senders; a sender goes back when its response body
//! has been sent on), as `src/upstream/client.rs` does, instead of hyper-util's legacy client (a
//! shared pool map keyed by scheme and authority, a checkout future, a task per exchange to
//! return the connection). Same server side, same I/O model, same upstream: the load table's
//! and the cost gate's `bare-conn` row, what "the gateway's own work" is measured over.
//!
//!   cargo run --release --example bare_conn_proxy -- <listen addr> <upstream addr> <workers>

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Uri;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};

#[path = "common/workers.rs"]
mod workers;
use workers::BoxError;

/// The gateway's allocator, so that the rows differ only in the client.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A worker's idle upstream connections.
type Pool = Arc<Mutex<Vec<SendRequest<Incoming>>>>;

fn main() -> Result<(), BoxError> {
    workers::run("bare_conn_proxy", serve)
}

async fn serve(listener: std::net::TcpListener, upstream: SocketAddr) -> Result<(), BoxError> {
    let listener = TcpListener::from_std(listener)?;
    let pool: Pool = Arc::default();
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
    pool: &Pool,
    upstream: SocketAddr,
    mut req: http::Request<Incoming>,
) -> Result<http::Response<Returning>, std::io::Error> {
    let idle = pool.lock().ok().and_then(|mut idle| idle.pop());
    let mut sender = match idle {
        Some(s) if !s.is_closed() => s,
        _ => connect(upstream).await?,
    };
    sender.ready().await.map_err(std::io::Error::other)?;
    if !req.headers().contains_key(http::header::HOST) {
        // An HTTP/2 client names the host in the URI, which HTTP/1.1's origin form drops.
        let host = req.uri().authority().map(|a| a.as_str().parse());
        if let Some(Ok(host)) = host {
            req.headers_mut().insert(http::header::HOST, host);
        }
    }
    let pq = req
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    *req.uri_mut() = Uri::try_from(pq).map_err(std::io::Error::other)?;
    *req.version_mut() = http::Version::HTTP_11;
    let rsp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    let pool = pool.clone();
    Ok(rsp.map(|body| Returning {
        body,
        ended: false,
        sender: Some(sender),
        pool,
    }))
}

async fn connect(upstream: SocketAddr) -> Result<SendRequest<Incoming>, std::io::Error> {
    let stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A response body that puts its connection back in the pool once it has ended (when it is
/// dropped: hyper may never poll a body that says it has ended).
struct Returning {
    body: Incoming,
    ended: bool,
    sender: Option<SendRequest<Incoming>>,
    pool: Pool,
}

impl Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if !self.is_end_stream() {
            return;
        }
        if let Some(sender) = self.sender.take()
            && let Ok(mut idle) = self.pool.lock()
        {
            idle.push(sender);
        }
    }
}
