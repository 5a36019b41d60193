//! `GatewayService`: runs the phases of SPEC's decision order and always calls `finish`.
//!
//! The only orchestrating module: normalise → forbidden → authenticate → route → decide →
//! forward, then one outcome to the sinks on every path (allow, deny, error, abandoned).

mod error;
mod exchange;
mod forward;
mod headers;
mod idempotency;
mod respond;

pub use error::GatewayError;
pub use forward::{
    BodyStalled, BodyTooLarge, CappedBody, Upstream, UpstreamClient, UpstreamOptions,
};
pub use headers::REQUEST_ID;
pub use respond::PROBLEM_JSON;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::auth;
use crate::normalize::{NormalPath, normalize_path};
use crate::outcome::{Decision, OutcomeSink, Recorded};
use crate::policy::{self, Facts, Stage};
use crate::routes::{Idempotency, Route, RouteMiss};
use crate::snapshot::{Shared, Snapshot};
use crate::state::unauthenticated::UnauthenticatedLimiter;
use crate::state::{Begin, Rate, RateDecision, State};

/// The boxed error of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the gateway sends.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

use exchange::{Exchange, MAX_RECORDED_KEY};

/// The partner-facing service for one connection.
#[derive(Clone)]
pub struct GatewayService {
    shared: Shared,
    sink: Arc<dyn OutcomeSink>,
    state: Arc<State>,
    unauthenticated: Arc<UnauthenticatedLimiter>,
    conn: Arc<ConnInfo>,
}

/// What the gateway knows about a partner connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer address.
    pub client_addr: SocketAddr,
    /// `http` or `https`.
    pub proto: &'static str,
    /// SHA-256 of the client certificate the TLS handshake verified, if any.
    pub client_cert: Option<crate::tls::CertFingerprint>,
    /// The worker thread the connection lives on.
    pub worker: usize,
    /// The peer's IP address as a header value (`X-Forwarded-For`).
    pub forwarded_for: HeaderValue,
}

// === impl ConnInfo ===

impl ConnInfo {
    /// A connection from `client_addr`, served by `worker`.
    pub fn new(
        client_addr: SocketAddr,
        proto: &'static str,
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
        conn: ConnInfo,
    ) -> Self {
        Self {
            shared,
            sink,
            state,
            unauthenticated,
            conn: Arc::new(conn),
        }
    }

    /// Answers one request; never fails, every error becomes a problem+json response.
    pub async fn serve(&self, req: Request<Incoming>) -> Response<Body> {
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
            Ok(rsp) if ex.outcome.replayed => {
                ex.outcome.decision = Decision::Allow;
                ex.outcome.reason = "idempotent_replay";
                ex.outcome.upstream = None;
                rsp
            }
            Ok(rsp) => {
                ex.outcome.decision = Decision::Allow;
                ex.outcome.reason = "permitted";
                ex.outcome.upstream_status = Some(rsp.status().as_u16());
                rsp
            }
            Err(e) => {
                let e = self.limit_unauthenticated(&snap, &mut ex, e);
                ex.fail(&e);
                respond::error(&e, &ex.outcome.request_id, ex.outcome.route.as_deref())
            }
        };
        let h = rsp.headers_mut();
        h.insert(REQUEST_ID, request_id);
        if let Some(p) = &ex.principal {
            deprecation_headers(h, p.partner.stage);
        }
        if let Some((rate, remaining, reset)) = ex.rate {
            rate_headers(h, rate, remaining, reset);
        }
        ex.head(rsp.status().as_u16());
        if forwarded && !rsp.body().is_end_stream() {
            // The record waits for the body's end, so it can say whether the partner got it
            // all; the last bytes wait for the record. (The gateway's own answers are whole in
            // memory: they are recorded now, and withheld as below if that fails.)
            return rsp.map(|body| exchange::Finishing::new(body, ex).boxed_unsync());
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

    /// The phases in SPEC order, written for the happy path.
    async fn handle(
        &self,
        snap: &Arc<Snapshot>,
        req: Request<Incoming>,
        ex: &mut Exchange,
        request_id: &HeaderValue,
    ) -> Result<Response<Body>, GatewayError> {
        let (parts, body) = req.into_parts();
        let path = target_path(&parts).inspect_err(|_| ex.set_path(parts.uri.path()))?;
        ex.set_path(path.as_str());
        let host = crate::normalize::host::validate(parts.version, &parts.uri, &parts.headers)
            .map_err(|_| GatewayError::BadRequest("bad_host"))?;
        check_framing(&parts, body.is_end_stream())?;
        check_head_size(&parts, snap.limits.max_request_header_bytes)?;

        let authn = auth::authenticate(
            snap.credentials(),
            &parts.headers,
            SystemTime::now(),
            self.conn.client_cert.as_ref(),
        );
        match &authn {
            Ok(p) => ex.identify(p),
            Err(e) => ex.identify_known(e),
        }
        if snap.forbidden_prefix(&path).is_some() {
            return Err(GatewayError::ForbiddenRoute);
        }
        let principal = authn.map_err(GatewayError::InvalidCredentials)?;

        let route = snap
            .routes
            .find(&parts.method, path.as_str())
            .map_err(|miss| match miss {
                RouteMiss::NotFound => GatewayError::RouteNotFound,
                RouteMiss::MethodNotAllowed { allow } => GatewayError::MethodNotAllowed { allow },
            })?;
        ex.route(route, snap);

        let facts = Facts {
            has_idempotency_key: parts.headers.contains_key("idempotency-key"),
        };
        let permit = policy::decide(&principal, route, &facts).map_err(GatewayError::Denied)?;
        // From here a request the client abandons was an allowed one.
        ex.outcome.decision = Decision::Allow;

        if let Some(rate) = principal.partner.rate {
            self.rate_limit(&principal.partner.id, rate, ex).await?;
        }

        let upstream = &snap.upstreams[route.upstream_index];
        let identity = snap.identity.as_ref().and_then(|signer| {
            identity_assertion(signer, &permit, &upstream.name, &ex.outcome.request_id)
        });
        let idempotency_key = idempotency::key_of(&parts.headers)?;
        let job = forward::Job {
            snap: snap.clone(),
            permit,
            path: path.clone(),
            request_id: request_id.clone(),
            conn: self.conn.clone(),
            host,
            identity,
        };
        let key = match (route.idempotency, idempotency_key) {
            (Idempotency::None, _) | (_, None) => {
                self.intent(ex, route).await?;
                let sent = Instant::now();
                let result = job.send(parts, forward::RequestBody::Stream(body)).await;
                ex.outcome.upstream_duration = Some(sent.elapsed());
                return result;
            }
            (Idempotency::Optional | Idempotency::Required, Some(k)) => k,
        };

        // Idempotent: fingerprint (method, target, body SHA-256), then forward at most once.
        ex.outcome.idempotency_key = Some(ex.cap(&key, MAX_RECORDED_KEY));
        let target = match parts.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let body = tokio::time::timeout(
            snap.limits.client_body_timeout * 4,
            idempotency::read_body(body, snap.limits.max_request_body_bytes),
        )
        .await
        .map_err(|_| GatewayError::RequestTimeout)??;
        let fingerprint = crate::state::fingerprint(parts.method.as_str(), &target, &body);
        let record = idempotency::record_key(&principal.partner.id, &route.name, &key);
        match self
            .state
            .begin(&principal.partner.id, &record, &fingerprint)
            .await
        {
            Begin::Fresh => {}
            Begin::Replay(stored) => {
                ex.outcome.replayed = true;
                return Ok(idempotency::replay(&stored));
            }
            Begin::Unreplayable => {
                return Err(GatewayError::IdempotencyConflict(
                    "idempotency_response_not_kept",
                ));
            }
            Begin::InFlight => {
                return Err(GatewayError::IdempotencyConflict("idempotency_in_flight"));
            }
            Begin::Reused => return Err(GatewayError::IdempotencyKeyReused),
            Begin::OverQuota { max } => return Err(GatewayError::IdempotencyQuota { max }),
            Begin::Unavailable => return Err(GatewayError::StateUnavailable),
        }
        // Until it is forwarded, a failure or an abandoned request releases the key.
        let guard = idempotency::InFlight::new(
            self.state.clone(),
            principal.partner.id.clone(),
            record,
            fingerprint,
        );
        self.intent(ex, route).await?;
        // Once forwarded, the exchange is the gateway's to finish: its own task, which a client
        // going away does not cancel, stores the answer for the retry.
        let sent = Instant::now();
        let exchange = idempotency::forward_once(job, parts, body, guard, self.state.max_body());
        let result =
            tokio::spawn(exchange)
                .await
                .unwrap_or(Err(GatewayError::UpstreamUnavailable(
                    "upstream_exchange_failed",
                )));
        ex.outcome.upstream_duration = Some(sent.elapsed());
        result
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
        let unauthenticated = ex.principal.is_none() || e == GatewayError::ForbiddenRoute;
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

    /// For a route with a side effect (permission kind other than `read`): the intent record,
    /// durable before anything is forwarded (strict audit); `503 audit_unavailable` if it
    /// cannot be written.
    async fn intent(&self, ex: &Exchange, route: &Route) -> Result<(), GatewayError> {
        if route.kind == policy::PermissionKind::Read {
            return Ok(());
        }
        let Some(p) = &ex.principal else {
            return Ok(());
        };
        let intent = crate::outcome::Intent {
            request_id: ex.outcome.request_id.clone(),
            partner: p.partner.id.clone(),
            key_id: p.key_id.clone(),
            route: route.name.clone(),
            permission: route.permission.clone(),
            method: ex.outcome.method.clone(),
            path: ex.outcome.path.clone(),
            client: ex.outcome.client,
            ts: ex.outcome.ts,
        };
        let durable = match self.sink.intent(&intent) {
            Recorded::Done => true,
            Recorded::Pending(rx) => rx.await.unwrap_or(false),
            Recorded::Refused => false,
        };
        if durable {
            Ok(())
        } else {
            Err(GatewayError::AuditUnavailable)
        }
    }

    /// Phase 6: the partner's rate (GCRA). Denied requests consume no budget.
    async fn rate_limit(
        &self,
        partner: &str,
        rate: Rate,
        ex: &mut Exchange,
    ) -> Result<(), GatewayError> {
        match self.state.rate_check(partner, rate).await {
            RateDecision::Allowed {
                remaining,
                reset_secs,
            } => {
                ex.rate = Some((rate, remaining, reset_secs));
                Ok(())
            }
            RateDecision::Limited { retry_after_secs } => {
                ex.rate = Some((rate, 0, retry_after_secs));
                Err(GatewayError::RateLimited { retry_after_secs })
            }
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for GatewayService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.serve(req).await) })
    }
}

/// The normalised path of an origin-form or absolute-form target.
fn target_path(parts: &Parts) -> Result<NormalPath, GatewayError> {
    if parts.method == Method::CONNECT {
        return Err(GatewayError::BadRequest("connect_method"));
    }
    let uri = &parts.uri;
    match (uri.scheme_str(), uri.authority()) {
        (None, None) => {}
        (Some("http" | "https"), Some(_)) => {}
        _ => {
            return Err(GatewayError::BadTarget(
                crate::normalize::NormalizeError::NotOriginForm,
            ));
        }
    }
    let path = match uri.path() {
        "" if uri.scheme().is_some() => "/",
        p => p,
    };
    normalize_path(path).map_err(GatewayError::BadTarget)
}

/// Refuses what two HTTP parsers could frame two ways, or what a pooled upstream connection
/// could be desynchronised by: a body on `GET` or `HEAD` (`body_not_allowed`), and any
/// transfer coding but a single `chunked` (`malformed_body`; `chunked, chunked` included).
fn check_framing(parts: &Parts, body_is_empty: bool) -> Result<(), GatewayError> {
    let mut codings = parts
        .headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii);
    let framed = match (codings.next(), codings.next()) {
        (None, _) => true,
        (Some(only), None) => only.eq_ignore_ascii_case(b"chunked"),
        (Some(_), Some(_)) => false,
    };
    if !framed {
        return Err(GatewayError::BadRequest("malformed_body"));
    }
    if matches!(parts.method, Method::GET | Method::HEAD) && !body_is_empty {
        return Err(GatewayError::BadRequest("body_not_allowed"));
    }
    Ok(())
}

/// Refuses a request head larger than the limit (target plus header lines).
fn check_head_size(parts: &Parts, max: usize) -> Result<(), GatewayError> {
    let target = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let headers: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if target + headers > max {
        return Err(GatewayError::HeadersTooLarge);
    }
    Ok(())
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

/// `Deprecation` (RFC 9745) and `Sunset` (RFC 8594) for a deprecated partner.
fn deprecation_headers(h: &mut http::HeaderMap, stage: Stage) {
    if let Stage::Deprecation { since, sunset } = stage {
        let secs = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if let Ok(v) = HeaderValue::from_str(&format!("@{secs}")) {
            h.insert("deprecation", v);
        }
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(sunset)) {
            h.insert("sunset", v);
        }
    }
}

/// The signed `X-Kwanus-Identity` for a permitted request.
fn identity_assertion(
    signer: &crate::identity::IdentitySigner,
    permit: &policy::Permit,
    upstream: &str,
    request_id: &str,
) -> Option<HeaderValue> {
    let partner = &permit.principal().partner;
    let route = permit.route();
    let claims = crate::identity::IdentityClaims {
        iss: signer.issuer(),
        aud: upstream,
        sub: &partner.id,
        tier: partner.tier.get(),
        stage: partner.stage.as_str(),
        permission: &route.permission,
        route: &route.name,
        jti: request_id,
        iat: 0,
        exp: 0,
    };
    let token = signer.sign(claims, SystemTime::now())?;
    HeaderValue::from_str(&token).ok()
}

fn request_id_value(id: &str) -> HeaderValue {
    // A UUID is always a valid header value.
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("-"))
}
