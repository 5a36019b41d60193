//! Forwarding: builds the upstream request from a `Permit` and streams both bodies.
//!
//! Nothing reaches an upstream without a `Permit`; the forwarded path is the normalised
//! path, byte for byte, and the query is passed unchanged.

use std::error::Error as _;
use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{HttpConnector, capture_connection};
use hyper_util::rt::TokioExecutor;

use super::headers::{self, Forwarding};
use super::{Body, ClientBody, ConnInfo, GatewayError};
use crate::normalize::NormalPath;
use crate::policy::Permit;
use crate::snapshot::Snapshot;

/// An upstream service, as validated from `[[upstreams]]`, with its own pooled client.
#[derive(Debug)]
pub struct Upstream {
    /// Its name.
    pub name: Arc<str>,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    client: UpstreamClient,
    /// Response headers never passed to partners, besides the built-in identifying ones.
    response_headers_remove: Vec<http::HeaderName>,
}

/// How to reach an upstream besides its URL.
#[derive(Debug, Default)]
pub struct UpstreamOptions {
    /// PEM CA bundle for `https://` (default: the system roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate and key for upstream mTLS.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Speak HTTP/2 (ALPN h2 over TLS, prior knowledge over plain HTTP).
    pub http2: bool,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// `response_headers_remove`.
    pub response_headers_remove: Vec<http::HeaderName>,
}

/// Pooled keep-alive clients (HTTP or HTTPS), one pool per worker thread.
///
/// A pooled connection's task runs on the worker that opened it; a pool per worker keeps
/// every upstream exchange on one thread, with no cross-thread wake-ups (measured in
/// `benches/load/run.sh`: one shared pool costs about a quarter of the throughput).
#[derive(Clone)]
pub struct UpstreamClient {
    pools: Arc<[Client<HttpsConnector<HttpConnector>, CappedBody>]>,
}

/// A request body that fails once it grows past its limit or stalls, and says which.
pub struct CappedBody {
    inner: Inner,
    remaining: u64,
    tripped: Arc<AtomicU8>,
    idle: Duration,
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why a `CappedBody` failed.
const TOO_LARGE: u8 = 1;
const STALLED: u8 = 2;
/// The client's framing was malformed (bad chunk size, bare LF, ...) or it ended mid-body.
const MALFORMED: u8 = 3;

/// Streamed from the client, or already read (idempotent routes fingerprint the body).
enum Inner {
    Stream(ClientBody),
    Full(Option<Bytes>),
}

/// The body to forward.
pub(super) enum RequestBody {
    /// Streamed as it arrives.
    Stream(ClientBody),
    /// Read whole already.
    Buffered(Bytes),
}

/// The error a `CappedBody` yields past its limit.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the configured limit")]
pub struct BodyTooLarge;

/// The error a `CappedBody` yields when the client stops sending mid-body.
#[derive(Debug, thiserror::Error)]
#[error("request body stalled past the configured timeout")]
pub struct BodyStalled;

/// What forwarding needs besides the request.
#[derive(Debug)]
struct Outbound<'a> {
    /// The upstream to call.
    pub upstream: &'a Upstream,
    /// The normalised path.
    pub path: &'a NormalPath,
    /// Header facts for the upstream.
    pub forwarding: Forwarding<'a>,
    /// Largest body accepted.
    pub max_body: u64,
    /// Time allowed for the response head.
    pub timeout: Duration,
    /// Longest pause while reading the request body.
    pub body_timeout: Duration,
    /// The worker thread serving the request (picks its upstream pool).
    pub worker: usize,
}

// === impl Upstream ===

impl Upstream {
    /// Validates an upstream URL (`http://` or `https://host[:port]`, no path, query or user
    /// info) and builds its client.
    pub fn new(name: &str, url: &str, opts: &UpstreamOptions) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
        let scheme = uri.scheme().cloned().ok_or("it has no scheme")?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(format!(
                "scheme {scheme} is not supported, use http or https"
            ));
        }
        let authority = uri.authority().cloned().ok_or("it has no host")?;
        if authority.as_str().contains('@') {
            return Err("user information is not allowed in upstream URLs".into());
        }
        if authority.host().is_empty() {
            return Err("it has no host".into());
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err("an upstream URL names a server only, without path or query".into());
        }
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
        let client = UpstreamClient::new(scheme == Scheme::HTTPS, opts)?;
        Ok(Self {
            name: name.into(),
            scheme,
            authority,
            host,
            client,
            response_headers_remove: opts.response_headers_remove.clone(),
        })
    }

    /// `host[:port]` as sent in `Host`.
    pub fn host_header(&self) -> &HeaderValue {
        &self.host
    }

    fn uri(&self, path: &NormalPath, query: Option<&str>) -> Result<Uri, GatewayError> {
        let pq = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|_| GatewayError::BadRequest("unforwardable query"))
    }
}

// === impl UpstreamClient ===

impl UpstreamClient {
    /// A pooled client; `tls` upstreams verify against `opts.ca_file` or the system roots.
    fn new(tls: bool, opts: &UpstreamOptions) -> Result<Self, String> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(opts.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let config = if tls {
            let client_cert = opts
                .client_cert
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path()));
            crate::tls::client_config(opts.ca_file.as_deref(), client_cert)?
        } else {
            // Never used for plain HTTP, but the connector type is shared.
            rustls::ClientConfig::builder_with_provider(crate::tls::provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        };
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1();
        let https = if opts.http2 && tls {
            builder.enable_http2().wrap_connector(connector)
        } else {
            builder.wrap_connector(connector)
        };
        let pools = (0..crate::server::default_workers())
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .pool_max_idle_per_host(512)
                    .http2_only(opts.http2 && !tls)
                    .build(https.clone())
            })
            .collect();
        Ok(Self { pools })
    }

    /// The pool of `worker` (workers beyond the CPU count share pools).
    fn pool(&self, worker: usize) -> &Client<HttpsConnector<HttpConnector>, CappedBody> {
        &self.pools[worker % self.pools.len()]
    }
}

impl fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamClient")
    }
}

// === impl CappedBody ===

impl CappedBody {
    fn new(body: RequestBody, limit: u64, idle: Duration) -> (Self, Arc<AtomicU8>) {
        let tripped = Arc::new(AtomicU8::new(0));
        let inner = match body {
            RequestBody::Stream(s) => Inner::Stream(s),
            RequestBody::Buffered(b) => Inner::Full((!b.is_empty()).then_some(b)),
        };
        let body = Self {
            inner,
            remaining: limit,
            tripped: tripped.clone(),
            idle,
            stall: None,
        };
        (body, tripped)
    }
}

impl HttpBody for CappedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let stream = match &mut self.inner {
            Inner::Full(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream(s) => s,
        };
        let frame = match Pin::new(stream).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => {
                // The client's error, not the upstream's: never blamed on (or counted against) it.
                self.tripped.store(MALFORMED, Ordering::Relaxed);
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                // A client that stops sending mid-body is cut off after `idle`.
                let idle = self.idle;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if stall.as_mut().poll(cx).is_ready() {
                    self.tripped.store(STALLED, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(Box::new(BodyStalled))));
                }
                return Poll::Pending;
            }
        };
        self.stall = None;
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                self.tripped.store(TOO_LARGE, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
            }
            self.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Stream(s) => s.is_end_stream(),
            Inner::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Stream(s) => s.size_hint(),
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// Everything forwarding one permitted request needs, owned, so that an exchange can outlive
/// the client's connection (idempotent requests finish on their own task).
pub(super) struct Job {
    /// The snapshot the request was decided on.
    pub snap: Arc<Snapshot>,
    /// The decision.
    pub permit: Permit,
    /// The normalised path.
    pub path: NormalPath,
    /// The gateway's request id.
    pub request_id: HeaderValue,
    /// The client's connection.
    pub conn: Arc<ConnInfo>,
    /// The validated host the client addressed.
    pub host: Option<HeaderValue>,
    /// The signed identity assertion, when configured.
    pub identity: Option<HeaderValue>,
}

impl Job {
    /// Sends the request to the route's upstream and returns the streaming response.
    pub(super) async fn send(
        self,
        parts: Parts,
        body: RequestBody,
    ) -> Result<Response<Body>, GatewayError> {
        let Self {
            snap,
            permit,
            path,
            request_id,
            conn,
            host,
            identity,
        } = self;
        let upstream = &snap.upstreams[permit.route().upstream_index];
        let out = Outbound {
            upstream,
            path: &path,
            forwarding: Forwarding {
                permit: &permit,
                request_id: &request_id,
                client_ip: &conn.forwarded_for,
                proto: conn.proto,
                upstream_host: upstream.host_header(),
                host: host.as_ref(),
                identity,
            },
            max_body: snap.limits.max_request_body_bytes,
            timeout: snap.limits.upstream_timeout,
            body_timeout: snap.limits.client_body_timeout,
            worker: conn.worker,
        };
        send(&permit, parts, body, out).await
    }
}

/// Sends a permitted request to its upstream and returns the streaming response.
async fn send(
    permit: &Permit,
    mut parts: Parts,
    body: RequestBody,
    out: Outbound<'_>,
) -> Result<Response<Body>, GatewayError> {
    let _ = permit; // the proof is required to call this function at all
    let declared = match &body {
        RequestBody::Stream(s) => s.size_hint().lower(),
        RequestBody::Buffered(b) => b.len() as u64,
    };
    if declared > out.max_body {
        return Err(GatewayError::PayloadTooLarge);
    }
    let uri = out.upstream.uri(out.path, parts.uri.query())?;
    headers::to_upstream(&mut parts.headers, &out.forwarding);
    let (body, tripped) = CappedBody::new(body, out.max_body, out.body_timeout);
    let mut req = Request::new(body);
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.headers_mut() = parts.headers;
    let connection = capture_connection(&mut req);

    let result = tokio::time::timeout(
        out.timeout,
        out.upstream.client.pool(out.worker).request(req),
    )
    .await;
    match tripped.load(Ordering::Relaxed) {
        TOO_LARGE => return Err(GatewayError::PayloadTooLarge),
        STALLED => return Err(GatewayError::RequestTimeout),
        MALFORMED => return Err(GatewayError::BadRequest("malformed_body")),
        _ => {}
    }
    let rsp = match result {
        Err(_elapsed) => return Err(GatewayError::UpstreamTimeout("upstream_response_timeout")),
        Ok(Err(e)) => return Err(classify(&e)),
        Ok(Ok(rsp)) => rsp,
    };
    if let Err(e) = check_response(&rsp) {
        // What else the connection carries is unknown: it is closed, never reused.
        if let Some(c) = connection.connection_metadata().as_ref() {
            c.poison();
        }
        return Err(e);
    }
    let (mut parts, body) = rsp.into_parts();
    headers::from_upstream(&mut parts.headers, &out.upstream.response_headers_remove);
    Ok(Response::from_parts(
        parts,
        body.map_err(Into::into).boxed_unsync(),
    ))
}

/// Refuses a response no partner may receive: a 1xx that hyper passed on (an unrequested
/// `101 Switching Protocols`; HTTP/2 forbids relaying it), or both `Content-Length` and
/// `Transfer-Encoding` (RFC 9112 §6.3: the framing is ambiguous, so is the connection).
fn check_response<B>(rsp: &Response<B>) -> Result<(), GatewayError> {
    if rsp.status().is_informational() {
        return Err(GatewayError::BadUpstreamResponse(
            "upstream_unrequested_1xx",
        ));
    }
    let h = rsp.headers();
    if h.contains_key(http::header::CONTENT_LENGTH)
        && h.contains_key(http::header::TRANSFER_ENCODING)
    {
        return Err(GatewayError::BadUpstreamResponse(
            "upstream_ambiguous_framing",
        ));
    }
    Ok(())
}

/// Maps a client error to 502 or 504, with a precise reason.
fn classify(e: &hyper_util::client::legacy::Error) -> GatewayError {
    let mut source = e.source();
    let mut timed_out = false;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        source = s.source();
    }
    if e.is_connect() {
        if timed_out {
            GatewayError::UpstreamTimeout("upstream_connect_timeout")
        } else {
            GatewayError::UpstreamUnavailable("upstream_connect_failed")
        }
    } else {
        GatewayError::UpstreamUnavailable("upstream_connection_error")
    }
}
