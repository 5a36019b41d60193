//! The request path in the SPEC's decision order: `handle` reads as the list of phases, one
//! line each, and each phase is a named function below. Idempotent forwarding is
//! `idempotency.rs`'s; the per-request context and its finish are `exchange.rs`'s.

use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;
use http::{HeaderValue, Method, Request, Response};
use http_body::Body as _;
use tokio::time::Instant;

use super::exchange::Exchange;
use super::forward::Job;
use super::{
    Body, ClientBody, Forbidden, GatewayError, GatewayService, Malformed, contract, idempotency,
};
use crate::auth::{self, Principal};
use crate::normalize::{NormalPath, normalize_path};
use crate::outcome::{Decision, Recorded};
use crate::policy::{self, Facts, Permit};
use crate::routes::{Idempotency, Route, RouteMiss};
use crate::snapshot::Snapshot;
use crate::state::RateDecision;
use crate::upstream::RequestBody;

/// What the request says about itself beyond its target, read once before the decision.
struct RequestFacts {
    /// The validated host the client addressed (`X-Forwarded-Host`), if it named one.
    host: Option<HeaderValue>,
    /// The `Idempotency-Key`, parsed (a malformed one is refused before any budget is spent).
    idempotency_key: Option<String>,
}

// === impl GatewayService (the phases) ===

impl GatewayService {
    /// The phases in SPEC order, written for the happy path.
    pub(super) async fn handle(
        &self,
        snap: &Arc<Snapshot>,
        req: Request<ClientBody>,
        ex: &mut Exchange,
        request_id: &HeaderValue,
    ) -> Result<Response<Body>, GatewayError> {
        let (parts, body) = req.into_parts();
        framing(&parts, body.is_end_stream(), ex)?; // 1. framing (a refusal ends the connection)
        let path = normalise(&parts, ex)?; //    target
        let facts = request_facts(snap, &parts)?; //    Host, head, key
        let principal = self.authenticate(snap, &parts, &path, ex)?; // 2.-3. forbidden, credentials
        let route = find_route(snap, &parts, &path, ex)?; // 4. route
        let permit = self.decide(&principal, route, &facts, ex)?; // 5. stage, tier, permission
        self.rate_limit(&principal, ex).await?; // 6. rate
        let body = contract::request(snap, route, &parts, body).await?; //    request contract
        let job = self.job(snap, permit, path, facts.host, request_id, ex);
        match facts
            .idempotency_key
            .filter(|_| route.idempotency != Idempotency::None)
        {
            None => self.forward(ex, route, job, parts, body).await, // 7. intent, forward, response contract
            Some(key) => idempotency::forward(self, snap, ex, route, job, parts, body, &key).await,
        }
    }

    /// Phases 2 and 3: forbidden prefixes (whoever asks; a valid key still names the partner
    /// in the record), then the credentials.
    fn authenticate(
        &self,
        snap: &Snapshot,
        parts: &Parts,
        path: &NormalPath,
        ex: &mut Exchange,
    ) -> Result<Principal, GatewayError> {
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
        if snap.forbidden_prefix(path).is_some() {
            return Err(GatewayError::ForbiddenRoute(Forbidden::Prefix));
        }
        if snap.forbidden_segment(path) {
            return Err(GatewayError::ForbiddenRoute(Forbidden::Segment));
        }
        authn.map_err(GatewayError::InvalidCredentials)
    }

    /// Phase 5: the decision (lifecycle dates against now, a suspension for misuse, tier,
    /// permission); from here a request the client abandons was an allowed one.
    fn decide(
        &self,
        principal: &Principal,
        route: &Arc<Route>,
        facts: &RequestFacts,
        ex: &mut Exchange,
    ) -> Result<Permit, GatewayError> {
        let (suspended, lifted) = self.misuse.check(&principal.partner.id);
        if let Some(event) = lifted {
            self.sink.suspension(&event);
        }
        let facts = Facts {
            has_idempotency_key: facts.idempotency_key.is_some(),
            now: SystemTime::now(),
            misuse_suspended_until: suspended,
        };
        let permit = policy::decide(principal, route, &facts).map_err(GatewayError::Denied)?;
        ex.outcome.decision = Decision::Allow;
        Ok(permit)
    }

    /// What forwarding needs, owned (an idempotent exchange outlives the connection).
    fn job(
        &self,
        snap: &Arc<Snapshot>,
        permit: Permit,
        path: NormalPath,
        host: Option<HeaderValue>,
        request_id: &HeaderValue,
        ex: &Exchange,
    ) -> Job {
        let upstream = &snap.upstreams[permit.route().upstream_index];
        let identity = snap.identity.as_ref().and_then(|signer| {
            identity_assertion(signer, &permit, &upstream.name, &ex.outcome.request_id)
        });
        Job {
            snap: snap.clone(),
            permit,
            path,
            request_id: request_id.clone(),
            conn: self.conn.clone(),
            host,
            identity,
        }
    }

    /// Phase 7: the intent (side effects, strict audit), then the upstream, streaming.
    async fn forward(
        &self,
        ex: &mut Exchange,
        route: &Route,
        job: Job,
        parts: Parts,
        body: RequestBody,
    ) -> Result<Response<Body>, GatewayError> {
        self.intent(ex, route).await?;
        let filter = contract::Filter::of(&job, &parts);
        let sent = Instant::now();
        let result = job.send(parts, body).await;
        ex.outcome.upstream_duration = Some(sent.elapsed());
        contract::filtered(filter.as_ref(), result?).await
    }

    /// For a route with a side effect (permission kind other than `read`): the intent record,
    /// durable before anything is forwarded (strict audit); `503 audit_unavailable` if it
    /// cannot be written.
    pub(super) async fn intent(&self, ex: &Exchange, route: &Route) -> Result<(), GatewayError> {
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
        principal: &Principal,
        ex: &mut Exchange,
    ) -> Result<(), GatewayError> {
        let Some(rate) = principal.partner.rate else {
            return Ok(());
        };
        match self.state.rate_check(&principal.partner.id, rate).await {
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

/// Phase 1: the normalised path of an origin-form or absolute-form target, and a query (kept
/// for the record as forwarded) that does not override the method.
fn normalise(parts: &Parts, ex: &mut Exchange) -> Result<NormalPath, GatewayError> {
    if let Some(query) = parts.uri.query() {
        ex.set_query(query);
    }
    let path = target_path(parts).inspect_err(|_| ex.set_path(parts.uri.path()))?;
    ex.set_path(path.as_str());
    if parts
        .uri
        .query()
        .is_some_and(|q| crate::normalize::params::overrides_method(q.as_bytes()))
    {
        return Err(GatewayError::BadRequest(Malformed::MethodOverride));
    }
    Ok(path)
}

/// Phase 1 first of all: a body whose framing two parsers could read two ways is refused
/// before any other check, so every such refusal ends the connection (a `400` for the target
/// sent first would leave the body's bytes to be read as the next request).
fn framing(parts: &Parts, body_is_empty: bool, ex: &mut Exchange) -> Result<(), GatewayError> {
    check_framing(parts, body_is_empty).inspect_err(|_| ex.set_path(parts.uri.path()))
}

/// The rest of the request's shape, checked before anyone is authenticated: one valid host,
/// a head within the limit, and a well-formed `Idempotency-Key`.
fn request_facts(snap: &Snapshot, parts: &Parts) -> Result<RequestFacts, GatewayError> {
    let host = crate::normalize::host::validate(parts.version, &parts.uri, &parts.headers)
        .map_err(|_| GatewayError::BadRequest(Malformed::BadHost))?;
    check_head_size(parts, snap.limits.max_request_header_bytes)?;
    Ok(RequestFacts {
        host,
        idempotency_key: idempotency::key_of(&parts.headers)?,
    })
}

/// Phase 4: the route for the method and path.
fn find_route<'s>(
    snap: &'s Snapshot,
    parts: &Parts,
    path: &NormalPath,
    ex: &mut Exchange,
) -> Result<&'s Arc<Route>, GatewayError> {
    let route = snap
        .routes
        .find(&parts.method, path.as_str())
        .map_err(|miss| match miss {
            RouteMiss::NotFound => GatewayError::RouteNotFound,
            RouteMiss::MethodNotAllowed { allow } => GatewayError::MethodNotAllowed { allow },
        })?;
    ex.route(route, snap);
    Ok(route)
}

/// The normalised path of an origin-form or absolute-form target.
fn target_path(parts: &Parts) -> Result<NormalPath, GatewayError> {
    if parts.method == Method::CONNECT {
        return Err(GatewayError::BadRequest(Malformed::ConnectMethod));
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
        return Err(GatewayError::BadRequest(Malformed::MalformedBody));
    }
    if matches!(parts.method, Method::GET | Method::HEAD) && !body_is_empty {
        return Err(GatewayError::BadRequest(Malformed::BodyNotAllowed));
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
