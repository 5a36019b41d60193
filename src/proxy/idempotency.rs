//! Idempotent requests (IETF Idempotency-Key draft): the key, the buffered body to
//! fingerprint, capturing the response to store, replaying it, and releasing the key when the
//! first request fails.

use std::sync::Arc;

use super::exchange::{Exchange, MAX_RECORDED_KEY};
use super::prefixed::{Failed, Prefixed};
use super::{Body, ClientBody, Conflict, GatewayError, Malformed, UpstreamFault, contract};
use crate::routes::Route;
use crate::snapshot::Snapshot;
use crate::state::{Begin, IdemKey, STORED_HEADERS, State, StoredResponse};
use crate::upstream::RequestBody;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};

/// `Idempotency-Key`.
const IDEMPOTENCY_KEY: http::HeaderName = http::HeaderName::from_static("idempotency-key");

/// The `Idempotency-Key` header, if sent: printable ASCII, at most 255 characters.
pub(super) fn key_of(headers: &HeaderMap) -> Result<Option<String>, GatewayError> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| GatewayError::BadRequest(Malformed::IdempotencyKeyMalformed))?;
    let s = s.trim().trim_matches('"');
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(GatewayError::BadRequest(Malformed::IdempotencyKeyMalformed));
    }
    Ok(Some(s.to_owned()))
}

/// Where a key's record lives: (partner, route, key), the key hashed so any spelling is safe.
fn record_key(partner: &str, route: &str, key: &str) -> IdemKey {
    let k = hex::encode(crate::auth::digest(key.as_bytes()));
    IdemKey(format!("kwanus:idem:{partner}:{route}:{k}"))
}

/// Reads a request body whole (idempotent, schema-checked and form bodies), within the
/// route's body limit and the time a client may take to send it.
pub(super) async fn read_whole(
    snap: &Snapshot,
    route: &Route,
    body: ClientBody,
) -> Result<Bytes, GatewayError> {
    tokio::time::timeout(
        snap.limits.client_body_timeout * 4,
        read_body(body, route.request_limits.max_bytes),
    )
    .await
    .map_err(|_| GatewayError::RequestTimeout)?
}

/// Reads a request body whole, within the body limit.
async fn read_body(mut body: ClientBody, max: u64) -> Result<Bytes, GatewayError> {
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    if body.size_hint().lower() > max {
        return Err(GatewayError::PayloadTooLarge);
    }
    // A declared length is reserved at once, so the buffer never holds twice the body.
    let declared = usize::try_from(body.size_hint().lower()).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(declared.min(limit));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| GatewayError::BadRequest(Malformed::MalformedBody))?;
        if let Some(data) = frame.data_ref() {
            if buf.len() + data.len() > limit {
                return Err(GatewayError::PayloadTooLarge);
            }
            buf.extend_from_slice(data);
        }
    }
    Ok(buf.freeze())
}

/// Reads the response for storage when its body fits `max`; a larger body is passed on
/// intact (already read part first) and not kept.
async fn capture(rsp: Response<Body>, max: usize) -> (Response<Body>, Option<StoredResponse>) {
    let (parts, mut body) = rsp.into_parts();
    let mut buf = BytesMut::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    buf.extend_from_slice(data);
                }
                if buf.len() > max {
                    let rest = Prefixed::new(http_body::Frame::data(buf.freeze()), Some(body));
                    return (
                        Response::from_parts(parts, BodyExt::boxed_unsync(rest)),
                        None,
                    );
                }
            }
            Some(Err(e)) => {
                // The upstream broke off: pass the bytes and the error on, keep nothing.
                let failed = Prefixed::new(
                    http_body::Frame::data(buf.freeze()),
                    Some(BodyExt::boxed_unsync(Failed(Some(e)))),
                );
                return (Response::from_parts(parts, failed.boxed_unsync()), None);
            }
            None => break,
        }
    }
    let body = buf.freeze();
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        headers: STORED_HEADERS
            .iter()
            .filter_map(|n| {
                parts
                    .headers
                    .get(*n)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| ((*n).to_owned(), v.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
    };
    let rsp = Response::from_parts(
        parts,
        Full::new(body).map_err(|e| match e {}).boxed_unsync(),
    );
    (rsp, Some(stored))
}

/// Phase 7 for an idempotent request: fingerprint (method, target, body SHA-256), take the key
/// (or answer from its record), write the intent, then forward at most once.
#[allow(
    clippy::too_many_arguments,
    reason = "the pipeline's state, passed through once"
)]
pub(super) async fn forward(
    service: &super::GatewayService,
    snap: &Snapshot,
    ex: &mut Exchange,
    route: &Route,
    job: super::forward::Job,
    parts: http::request::Parts,
    body: RequestBody,
    key: &str,
) -> Result<Response<Body>, GatewayError> {
    ex.outcome.idempotency_key = Some(ex.cap(key, MAX_RECORDED_KEY));
    let target = match parts.uri.query() {
        Some(q) => format!("{}?{q}", job.path),
        None => job.path.to_string(),
    };
    let body = match body {
        RequestBody::Buffered(b) => b,
        RequestBody::Stream(s) => read_whole(snap, route, s).await?,
    };
    let fingerprint = crate::state::fingerprint(parts.method.as_str(), &target, &body);
    let partner = job.permit.principal().partner.id.clone();
    let record = record_key(&partner, &route.name, key);
    match service.state.begin(&partner, &record, &fingerprint).await {
        Begin::Fresh => {}
        Begin::Replay(stored) => {
            ex.outcome.replayed = true;
            // Stored as the first caller could see it; filtered again for this caller, under
            // the rules in force now (a reload may have taken a permission away).
            let filter = contract::Filter::of(&job, &parts);
            return contract::filtered(filter.as_ref(), replay(&stored)).await;
        }
        Begin::Unreplayable => {
            return Err(GatewayError::IdempotencyConflict(Conflict::ResponseNotKept));
        }
        Begin::InFlight => {
            return Err(GatewayError::IdempotencyConflict(Conflict::InFlight));
        }
        Begin::Reused => return Err(GatewayError::IdempotencyKeyReused),
        Begin::OverQuota { max } => return Err(GatewayError::IdempotencyQuota { max }),
        Begin::Unavailable => return Err(GatewayError::StateUnavailable),
    }
    // Until it is forwarded, a failure or an abandoned request releases the key.
    let guard = InFlight::new(service.state.clone(), partner, record, fingerprint);
    service.intent(ex, route).await?;
    // Once forwarded, the exchange is the gateway's to finish: its own task, which a client
    // going away does not cancel, stores the answer for the retry.
    let sent = tokio::time::Instant::now();
    let exchange = forward_once(job, parts, body, guard, service.state.max_body());
    let result = tokio::spawn(exchange)
        .await
        .unwrap_or(Err(GatewayError::UpstreamUnavailable(
            UpstreamFault::ExchangeFailed,
        )));
    ex.outcome.upstream_duration = Some(sent.elapsed());
    result
}

/// Forwards a fresh idempotent request and stores its answer, start to end, on a task of its
/// own (a client that goes away does not cancel it). The key is released only when nothing
/// reached the upstream (connection refused, or the gateway's own 5xx); an upstream 5xx also
/// releases it, as before; any other failure keeps it, with no answer to replay (`409`).
async fn forward_once(
    job: super::forward::Job,
    parts: http::request::Parts,
    body: Bytes,
    guard: InFlight,
    max_store: usize,
) -> Result<Response<Body>, GatewayError> {
    let filter = contract::Filter::of(&job, &parts);
    match job.send(parts, RequestBody::Buffered(body)).await {
        // An upstream 5xx releases the key (the guard is dropped), whatever its body.
        Ok(rsp) if rsp.status().is_server_error() => contract::filtered(filter.as_ref(), rsp).await,
        Ok(rsp) => match contract::filtered(filter.as_ref(), rsp).await {
            Ok(rsp) => {
                // What is kept for a replay is what this partner was allowed to see.
                let (rsp, stored) = capture(rsp, max_store).await;
                guard.complete(stored).await;
                Ok(rsp)
            }
            Err(e) => {
                guard.complete(None).await;
                Err(e)
            }
        },
        Err(e) if nothing_forwarded(&e) => Err(e),
        Err(e) => {
            // The upstream may have acted on it: a retry must not run it again.
            guard.complete(None).await;
            Err(e)
        }
    }
}

/// Whether a failed forward certainly never reached the upstream.
fn nothing_forwarded(e: &GatewayError) -> bool {
    matches!(
        e,
        GatewayError::UpstreamUnavailable(UpstreamFault::ConnectFailed)
            | GatewayError::UpstreamTimeout(UpstreamFault::ConnectTimeout)
            | GatewayError::PayloadTooLarge
            | GatewayError::BadRequest(_)
            | GatewayError::RequestTimeout
    )
}

/// A stored response, replayed with `Idempotent-Replayed: true`.
fn replay(stored: &StoredResponse) -> Response<Body> {
    let mut rsp = Response::new(
        Full::new(Bytes::from(stored.body.clone()))
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *rsp.status_mut() = http::StatusCode::from_u16(stored.status).unwrap_or(http::StatusCode::OK);
    for (n, v) in &stored.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            rsp.headers_mut().insert(n, v);
        }
    }
    rsp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    rsp
}

/// A fresh idempotent request in flight: dropped without `complete`, it releases its key.
struct InFlight {
    state: Arc<State>,
    partner: Arc<str>,
    key: Option<IdemKey>,
    fingerprint: String,
}

impl InFlight {
    pub(super) fn new(
        state: Arc<State>,
        partner: Arc<str>,
        key: IdemKey,
        fingerprint: String,
    ) -> Self {
        Self {
            state,
            partner,
            key: Some(key),
            fingerprint,
        }
    }

    /// Stores the response (or that it was too large to keep).
    pub(super) async fn complete(mut self, stored: Option<StoredResponse>) {
        if let Some(key) = self.key.take() {
            self.state.complete(&key, &self.fingerprint, stored).await;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let state = self.state.clone();
            let partner = self.partner.clone();
            let fingerprint = std::mem::take(&mut self.fingerprint);
            tokio::spawn(async move { state.abort(&partner, &key, &fingerprint).await });
        }
    }
}
