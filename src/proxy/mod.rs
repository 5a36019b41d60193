//! `GatewayService`: runs the phases of SPEC's decision order and always calls `finish`.
//!
//! The only orchestrating module: normalise → forbidden → authenticate → route → decide →
//! forward, then one outcome to the sinks on every path (allow, deny, error, abandoned).

mod contract;
mod error;
mod exchange;
mod forward;
mod headers;
mod idempotency;
mod pipeline;
mod prefixed;
mod reason;
mod respond;

pub use crate::governance::misuse::Detector;
use crate::upstream::{BoxError, ClientBody};
pub use error::{Conflict, Forbidden, GatewayError, Malformed, UpstreamFault};
pub use headers::REQUEST_ID;
pub use respond::PROBLEM_JSON;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt as _;

use crate::outcome::{Decision, OutcomeSink, Recorded};
use crate::policy::Stage;
use crate::snapshot::{Shared, Snapshot};
use crate::state::unauthenticated::UnauthenticatedLimiter;
use crate::state::{Rate, State};

/// The body of every response the gateway sends.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

use exchange::Exchange;

/// The partner-facing service for one connection.
#[derive(Clone)]
pub struct GatewayService {
    shared: Shared,
    sink: Arc<dyn OutcomeSink>,
    state: Arc<State>,
    unauthenticated: Arc<UnauthenticatedLimiter>,
    misuse: Arc<Detector>,
    conn: Arc<ConnInfo>,
}

/// What the gateway knows about a partner connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer address.
    pub client_addr: SocketAddr,
    /// How the client connected.
    pub proto: Proto,
    /// SHA-256 of the client certificate the TLS handshake verified, if any.
    pub client_cert: Option<crate::tls::CertFingerprint>,
    /// The worker thread the connection lives on.
    pub worker: usize,
    /// The peer's IP address as a header value (`X-Forwarded-For`).
    pub forwarded_for: HeaderValue,
}

/// How a client connected (`X-Forwarded-Proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// Plain HTTP (h1 or h2c).
    Http,
    /// TLS.
    Https,
}

// === impl Proto ===

impl Proto {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

// === impl ConnInfo ===

impl ConnInfo {
    /// A connection from `client_addr`, served by `worker`.
    pub fn new(
        client_addr: SocketAddr,
        proto: Proto,
        client_cert: Option<crate::tls::CertFingerprint>,
        worker: usize,
    ) -> Self {
        let forwarded_for = HeaderValue::from_str(&client_addr.ip().to_string())
            .unwrap_or(HeaderValue::from_static("unknown"));
        Self {
            client_addr,
            proto,
            client_cert,
            worker,
            forwarded_for,
        }
    }
}

// === impl GatewayService ===

impl GatewayService {
    /// A service for one connection.
    pub fn new(
        shared: Shared,
        sink: Arc<dyn OutcomeSink>,
        state: Arc<State>,
        unauthenticated: Arc<UnauthenticatedLimiter>,
        misuse: Arc<Detector>,
        conn: ConnInfo,
    ) -> Self {
        Self {
            shared,
            sink,
            state,
            unauthenticated,
            misuse,
            conn: Arc::new(conn),
        }
    }

    /// Answers one request; never fails, every error becomes a problem+json response.
    pub async fn serve(&self, req: Request<ClientBody>) -> Response<Body> {
        // One consistent snapshot for the whole request, across every await.
        let snap = self.shared.load_full();
        let mut ex = Exchange::begin(&req, self.conn.client_addr, self.sink.clone());
        let request_id = request_id_value(&ex.outcome.request_id);
        let result = if self.sink.ready() {
            self.handle(&snap, req, &mut ex, &request_id).await
        } else {
            // Fail closed: a request that cannot be recorded is not served.
            ex.set_path(req.uri().path());
            Err(GatewayError::AuditUnavailable)
        };
        let forwarded = result.is_ok();
        let mut rsp = match result {
            Ok(mut rsp) if ex.outcome.replayed => {
                ex.outcome.fields_removed = rsp.extensions_mut().remove().map(Box::new);
                ex.outcome.decision = Decision::Allow;
                ex.outcome.reason = "idempotent_replay";
                ex.outcome.upstream = None;
                rsp
            }
            Ok(mut rsp) => {
                ex.outcome.decision = Decision::Allow;
                ex.outcome.reason = "permitted";
                ex.outcome.upstream_status = Some(rsp.status().as_u16());
                ex.outcome.fields_removed = rsp.extensions_mut().remove().map(Box::new);
                rsp
            }
            Err(e) => {
                let e = self.limit_unauthenticated(&snap, &mut ex, e);
                ex.fail(&e);
                self.count_misuse(&snap, &ex);
                respond::error(&e, &ex.outcome.request_id, ex.outcome.route.as_deref())
            }
        };
        let h = rsp.headers_mut();
        h.insert(REQUEST_ID, request_id);
        // The partner's deprecation, else the route's: the same three headers.
        let partner = ex.principal.as_ref().and_then(|p| match p.partner.stage {
            Stage::Deprecation { since, sunset } => Some(crate::model::Deprecation {
                since,
                sunset,
                link: p.partner.migration_url.clone(),
            }),
            _ => None,
        });
        if let Some(d) = partner.as_ref().or(ex.route_deprecation.as_ref()) {
            deprecation_headers(h, d);
        }
        if let Some((rate, remaining, reset)) = ex.rate {
            rate_headers(h, rate, remaining, reset);
        }
        ex.head(rsp.status().as_u16());
        if forwarded && !rsp.body().is_end_stream() {
            // Most forwarded answers are one frame that has already arrived: taken now, the
            // whole response is in hand, it is recorded below like the gateway's own answers,
            // and head and body leave together. Otherwise the record waits for the body's end,
            // so it can say whether the partner got it all; the last bytes wait for the record.
            match exchange::take_whole(rsp.body_mut()) {
                Some(whole) => *rsp.body_mut() = whole,
                None => return rsp.map(|body| exchange::Finishing::new(body, ex).boxed_unsync()),
            }
        }
        let released = match ex.finish(true) {
            Recorded::Done => true,
            Recorded::Pending(durable) => durable.await.unwrap_or(false),
            Recorded::Refused => false,
        };
        if released {
            return rsp;
        }
        // The record did not reach the trail: the response it describes is withheld.
        let mut rsp = respond::error(
            &GatewayError::AuditUnavailable,
            &ex.outcome.request_id,
            None,
        );
        rsp.headers_mut()
            .insert(REQUEST_ID, request_id_value(&ex.outcome.request_id));
        rsp
    }

    /// A denial a partner's key or token made counts towards its misuse threshold, when
    /// `[governance.misuse]` is configured; reaching it suspends the partner.
    fn count_misuse(&self, snap: &Snapshot, ex: &Exchange) {
        let (Some(settings), Some(partner), Some(code)) = (
            snap.governance.misuse.as_ref(),
            ex.outcome.partner.as_ref(),
            ex.outcome.code,
        ) else {
            return;
        };
        // Only what the partner's own valid credential did counts: a revoked or stolen key
        // without its certificate must not get the partner suspended.
        if ex.outcome.summarised.is_some() || ex.principal.is_none() {
            return;
        }
        // The gateway's own faults and the upstream's are never the partner's misuse.
        if crate::model::fault_of(code) != Some(crate::model::Fault::Partner) {
            return;
        }
        for event in self.misuse.denial(settings, partner, code) {
            if matches!(
                event.action,
                crate::governance::misuse::Action::Suspended { .. }
            ) {
                tracing::warn!(partner = %partner, "partner suspended for misuse");
            }
            self.sink.suspension(&event);
        }
    }

    /// Unauthenticated traffic (every refusal before a key was accepted, and forbidden-route
    /// probes) counts against its client address; over the limit the answer is `429` and the
    /// outcome is summarised in the trail instead of recorded by itself.
    fn limit_unauthenticated(
        &self,
        snap: &Snapshot,
        ex: &mut Exchange,
        e: GatewayError,
    ) -> GatewayError {
        let unauthenticated =
            ex.principal.is_none() || matches!(e, GatewayError::ForbiddenRoute(_));
        if !unauthenticated || e == GatewayError::AuditUnavailable {
            return e;
        }
        match self
            .unauthenticated
            .check(self.conn.client_addr.ip(), snap.limits.unauthenticated)
        {
            Ok(()) => e,
            Err(retry_after_secs) => {
                ex.outcome.summarised = Some(e.code());
                GatewayError::UnauthenticatedLimited { retry_after_secs }
            }
        }
    }
}

/// Over a connection (`Incoming`) or in-process (any body, e.g. `Full<Bytes>` in tests).
impl<B> hyper::service::Service<Request<B>> for GatewayService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        let req = req.map(|b| b.map_err(boxed_error::<B::Error>).boxed_unsync());
        Box::pin(async move { Ok(this.serve(req).await) })
    }
}

fn boxed_error<E: Into<BoxError>>(e: E) -> BoxError {
    e.into()
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10 structured
/// fields): quota `q` requests per window `w` seconds; `r` remaining, `t` seconds to full.
fn rate_headers(h: &mut http::HeaderMap, rate: Rate, remaining: u32, reset: u64) {
    let window = (f64::from(rate.burst) / rate.per_second).ceil().max(1.0) as u64;
    if let Ok(v) = HeaderValue::from_str(&format!("\"partner\";q={};w={window}", rate.burst)) {
        h.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"partner\";r={remaining};t={reset}")) {
        h.insert("ratelimit", v);
    }
}

/// RFC 9745 `Deprecation` (the date of the deprecation), RFC 8594 `Sunset`, and the
/// migration `Link`, for a deprecated partner or route.
fn deprecation_headers(h: &mut http::HeaderMap, d: &crate::model::Deprecation) {
    let secs = d
        .since
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Ok(v) = HeaderValue::from_str(&format!("@{secs}")) {
        h.insert("deprecation", v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(d.sunset)) {
        h.insert("sunset", v);
    }
    let link = d
        .link
        .as_ref()
        .and_then(|u| HeaderValue::from_str(&format!("<{u}>; rel=\"deprecation\"")).ok());
    if let Some(v) = link {
        h.append(http::header::LINK, v);
    }
}

fn request_id_value(id: &str) -> HeaderValue {
    // A UUID is always a valid header value.
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("-"))
}
