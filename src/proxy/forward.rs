//! Forwarding: builds the upstream request from a `Permit` and streams both bodies.
//!
//! Nothing reaches an upstream without a `Permit`; the forwarded path is the normalised
//! path, byte for byte, and the query is passed unchanged.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderValue, Request, Response};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;

use super::headers::{self, Forwarding};
use super::{Body, ConnInfo, GatewayError, Malformed, UpstreamFault};
use crate::normalize::NormalPath;
use crate::policy::Permit;
use crate::snapshot::Snapshot;
use crate::upstream::{
    CappedBody, MALFORMED, RequestBody, STALLED, SendError, TOO_LARGE, Upstream,
};

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
            max_body: permit.route().request_limits.max_bytes,
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
    let declared = match &body {
        RequestBody::Stream(s) => s.size_hint().lower(),
        RequestBody::Buffered(b) => b.len() as u64,
    };
    if declared > out.max_body {
        return Err(GatewayError::PayloadTooLarge);
    }
    let uri = out
        .upstream
        .uri(out.path.as_str(), parts.uri.query())
        .map_err(|_| GatewayError::BadRequest(Malformed::UnforwardableQuery))?;
    let pool = out
        .upstream
        .pool(out.worker)
        .ok_or(GatewayError::UpstreamUnavailable(UpstreamFault::NotBound))?;
    headers::to_upstream(&mut parts.headers, &out.forwarding);
    if permit.route().response.is_some() {
        // A body is filtered field by field only as one whole, plain JSON document.
        parts.headers.insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        for name in super::contract::NOT_ON_CONTRACT_ROUTES {
            parts.headers.remove(name);
        }
    }
    let (body, tripped) = CappedBody::new(body, out.max_body, out.body_timeout);
    let mut req = Request::new(body);
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.headers_mut() = parts.headers;

    // Boxed: the exchange's state (about 2 KiB) stays out of every request's future, which
    // is moved whole (denied requests included).
    let result = tokio::time::timeout(out.timeout, Box::pin(pool.send(req))).await;
    match tripped.load(Ordering::Relaxed) {
        TOO_LARGE => return Err(GatewayError::PayloadTooLarge),
        STALLED => return Err(GatewayError::RequestTimeout),
        MALFORMED => return Err(GatewayError::BadRequest(Malformed::MalformedBody)),
        _ => {}
    }
    let rsp = match result {
        Err(_elapsed) => {
            return Err(GatewayError::UpstreamTimeout(
                UpstreamFault::ResponseTimeout,
            ));
        }
        Ok(Err(e)) => return Err(classify(e)),
        Ok(Ok(rsp)) => rsp,
    };
    if let Err(e) = check_response(&rsp) {
        // What else the connection carries is unknown: it is closed, never reused.
        rsp.into_body().close();
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
            UpstreamFault::Unrequested1xx,
        ));
    }
    let h = rsp.headers();
    if h.contains_key(http::header::CONTENT_LENGTH)
        && h.contains_key(http::header::TRANSFER_ENCODING)
    {
        return Err(GatewayError::BadUpstreamResponse(
            UpstreamFault::AmbiguousFraming,
        ));
    }
    Ok(())
}

/// Maps a client error to 502 or 504, with a precise reason.
fn classify(e: SendError) -> GatewayError {
    match e {
        SendError::Connect { timed_out: true } => {
            GatewayError::UpstreamTimeout(UpstreamFault::ConnectTimeout)
        }
        SendError::Connect { timed_out: false } => {
            GatewayError::UpstreamUnavailable(UpstreamFault::ConnectFailed)
        }
        SendError::Connection => GatewayError::UpstreamUnavailable(UpstreamFault::ConnectionError),
    }
}
