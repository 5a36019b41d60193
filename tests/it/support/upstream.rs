//! Upstreams for the gateway under test: a recording hyper server, and a raw one that answers
//! with exactly the bytes a test gives it (malformed, hostile or slow responses).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::FIXTURE;

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub version: http::Version,
    pub method: String,
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A recording upstream. `/v1/slow/{ms}` waits that long before answering.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rec = seen.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let rec = rec.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| record(rec.clone(), req));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            seen,
            connections,
        }
    }

    /// Connections the gateway opened to it.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream received nothing")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn record(
    seen: Arc<Mutex<Vec<Seen>>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    seen.lock().expect("lock").push(Seen {
        version: parts.version,
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    if let Some(ms) = target.strip_prefix("/v1/slow/") {
        let ms: u64 = ms.parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut rsp = Response::new(Full::new(Bytes::from(format!(
        r#"{{"upstream":"ok","target":"{target}","body_len":{}}}"#,
        body.len()
    ))));
    let h = rsp.headers_mut();
    h.insert("content-type", "application/json".parse().expect("hv"));
    h.insert("x-upstream-hop", "secret".parse().expect("hv"));
    h.insert("connection", "x-upstream-hop".parse().expect("hv"));
    h.insert("x-request-id", "upstream-made-this-up".parse().expect("hv"));
    Ok(rsp)
}

/// An upstream that answers every request with the same raw bytes (a malformed or hostile
/// HTTP/1 response), and counts the connections it was given.
#[derive(Clone)]
pub struct RawUpstream {
    pub addr: SocketAddr,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl RawUpstream {
    pub async fn start(response: &'static [u8]) -> Self {
        Self::script(&[(response, 0)], false).await
    }

    /// Answers each request head with `parts`, each written after its delay (ms); with
    /// `close`, the connection is closed after the last part.
    pub async fn script(parts: &[(&'static [u8], u64)], close: bool) -> Self {
        let parts: Arc<[(&'static [u8], u64)]> = parts.into();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let parts = parts.clone();
                tokio::spawn(async move {
                    // Answer each request head on the connection (keep-alive, if the gateway reuses it).
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            for (bytes, delay) in parts.iter() {
                                tokio::time::sleep(Duration::from_millis(*delay)).await;
                                if s.write_all(bytes).await.is_err() {
                                    return;
                                }
                            }
                            if close {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, connections }
    }

    /// Connections the gateway opened to it.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The fixture plus an upstream `raw` at this address and a route `GET /v1/raw` to it.
    pub fn fixture(&self, upstream_extra: &str) -> String {
        format!(
            "{FIXTURE}\n[[upstreams]]\nname = \"raw\"\nurl = \"http://{}\"\n{upstream_extra}\n\n[[routes]]\nname = \"raw\"\nmethod = \"GET\"\npath = \"/v1/raw\"\npermission = \"reports:read\"\nupstream = \"raw\"\n",
            self.addr
        )
    }
}
