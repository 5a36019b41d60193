//! The framework floor for `benches/load/run.sh`: the gateway's own I/O model (one thread per
//! worker, each with a single-threaded runtime, an accept loop on the shared listener and its
//! own pooled hyper client) and the same hyper-util server, forwarding every request to one
//! upstream with no authentication, policy, metrics or audit. The gap between this row and the
//! gateway's is what the gateway's own work costs.
//!
//!   cargo run --release --example bare_proxy -- <listen addr> <upstream addr> <workers>

use std::net::SocketAddr;

use http::Uri;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[path = "common/workers.rs"]
mod workers;
use workers::BoxError;

/// The gateway's allocator, so that the two rows differ only in the gateway's own work.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), BoxError> {
    workers::run("bare_proxy", serve)
}

async fn serve(listener: std::net::TcpListener, upstream: SocketAddr) -> Result<(), BoxError> {
    let listener = TcpListener::from_std(listener)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(connector);
    let authority = upstream.to_string();
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let client = client.clone();
        let authority = authority.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut req: http::Request<Incoming>| {
                let client = client.clone();
                let uri = Uri::builder()
                    .scheme("http")
                    .authority(authority.as_str())
                    .path_and_query(req.uri().path_and_query().map_or("/", |pq| pq.as_str()))
                    .build();
                async move {
                    *req.uri_mut() = uri.map_err(|e| e.to_string())?;
                    // The upstream speaks HTTP/1.1 whatever the client spoke.
                    *req.version_mut() = http::Version::HTTP_11;
                    client.request(req).await.map_err(|e| e.to_string())
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
