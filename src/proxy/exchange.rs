//! One request in progress: the outcome it will record, the facts later phases need, and its
//! finish — exactly once, on every path: at the response head for a response without a body,
//! at the end of the body otherwise (so the record says whether the partner got it all), or
//! when the client goes away.

use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use bytes::Bytes;
use http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::prefixed::{Failed, Prefixed};
use super::{Body, BoxError, GatewayError};
use crate::auth::{self, Principal};
use crate::outcome::{Credential, Decision, Outcome, OutcomeSink, Recorded};
use crate::routes::Route;
use crate::snapshot::Snapshot;
use crate::state::Rate;
use http_body_util::BodyExt as _;

/// Most bytes of a path kept in an outcome (JSON-escaped), so that one audit line stays
/// within 4 KiB whatever a client sends; longer values are cut and the record marked
/// `truncated`.
const MAX_RECORDED_PATH: usize = 1024;
/// Most bytes of a method kept in an outcome.
const MAX_RECORDED_METHOD: usize = 32;
/// Most bytes of an `Idempotency-Key` kept in an outcome.
pub(super) const MAX_RECORDED_KEY: usize = 256;

/// One request in progress: what the outcome will say, and the facts later phases need.
pub(super) struct Exchange {
    pub(super) outcome: Outcome,
    pub(super) principal: Option<Principal>,
    /// The partner's rate, what is left of it and when it is full again.
    pub(super) rate: Option<(Rate, u32, u64)>,
    /// The matched route's deprecation, announced on the answer.
    pub(super) route_deprecation: Option<crate::model::Deprecation>,
    started: Instant,
    sink: Arc<dyn OutcomeSink>,
    /// The response head was handed to the client.
    head_sent: bool,
    finished: bool,
}

/// A response body that finishes its exchange when it ends: the last frame is held until the
/// record is taken (and, in strict audit, on disk), so no partner sees a complete response
/// whose record is missing; an upstream failure mid-body, or a client that goes away, is
/// recorded with `response_complete: false`.
pub(super) struct Finishing {
    inner: Body,
    exchange: Option<Exchange>,
    /// The last frame, held while the record is made durable.
    held: Option<Frame<Bytes>>,
    durable: Option<oneshot::Receiver<bool>>,
    done: bool,
}

/// The error that cuts a response whose record could not be written.
#[derive(Debug, thiserror::Error)]
#[error("the audit record of this response could not be written")]
struct Unrecorded;

// === impl Exchange ===

impl Exchange {
    pub(super) fn begin<B>(
        req: &Request<B>,
        client: SocketAddr,
        sink: Arc<dyn OutcomeSink>,
    ) -> Self {
        let outcome = Outcome {
            ts: SystemTime::now(),
            request_id: uuid::Uuid::now_v7().to_string(),
            partner: None,
            key_id: None,
            tier: None,
            credential: None,
            jwt_issuer: None,
            jwt_kid: None,
            client,
            method: String::new(),
            path: String::new(),
            query: None,
            route: None,
            permission: None,
            decision: Decision::Deny,
            code: None,
            reason: "client_closed",
            status: 499,
            upstream: None,
            upstream_status: None,
            duration: std::time::Duration::ZERO,
            upstream_duration: None,
            idempotency_key: None,
            replayed: false,
            truncated: false,
            summarised: None,
            response_complete: false,
            fields_removed: None,
            schema_pointers: Vec::new(),
        };
        let mut ex = Self {
            outcome,
            principal: None,
            rate: None,
            route_deprecation: None,
            started: Instant::now(),
            sink,
            head_sent: false,
            finished: false,
        };
        ex.outcome.method = ex.cap(req.method().as_str(), MAX_RECORDED_METHOD);
        ex
    }

    /// `value` as kept in the record: at most `max` bytes once JSON-escaped; a longer value
    /// is cut (on a character boundary) and the record marked `truncated`.
    pub(super) fn cap(&mut self, value: &str, max: usize) -> String {
        let (kept, cut) = crate::outcome::cap_escaped(value, max);
        self.outcome.truncated |= cut;
        kept
    }

    pub(super) fn set_path(&mut self, path: &str) {
        self.outcome.path = self.cap(path, MAX_RECORDED_PATH);
    }

    /// Records the query string as received (capped like the path).
    pub(super) fn set_query(&mut self, query: &str) {
        self.outcome.query = Some(self.cap(query, MAX_RECORDED_PATH));
    }

    pub(super) fn identify(&mut self, p: &Principal) {
        self.outcome.partner = Some(p.partner.id.clone());
        self.outcome.key_id = Some(p.key_id.clone());
        self.outcome.tier = Some(p.partner.tier.get());
        self.outcome.credential = Some(match (&p.token, p.source) {
            (Some(_), _) => Credential::Jwt,
            (None, auth::CredentialSource::Authorization) => Credential::ApiKeyBearer,
            (None, auth::CredentialSource::ApiKeyHeader) => Credential::ApiKeyHeader,
        });
        if let Some(t) = &p.token {
            self.outcome.jwt_issuer = Some(t.issuer.clone());
            self.outcome.jwt_kid = t.kid.clone();
        }
        self.principal = Some(p.clone());
    }

    /// Keeps partner and key id of a known but unusable key, for the audit record only.
    pub(super) fn identify_known(&mut self, e: &auth::AuthError) {
        if let Some((_, key_id)) = e.known_key() {
            self.outcome.key_id = Some(key_id.clone());
        }
        self.outcome.partner = e.partner().cloned();
    }

    pub(super) fn route(&mut self, route: &Route, snap: &Snapshot) {
        self.outcome.route = Some(route.name.clone());
        self.outcome.permission = Some(route.permission.clone());
        self.route_deprecation.clone_from(&route.deprecation);
        self.outcome.upstream = Some(snap.upstreams[route.upstream_index].name.clone());
    }

    pub(super) fn fail(&mut self, e: &GatewayError) {
        self.outcome.decision = if e.after_permit() {
            Decision::Allow
        } else {
            Decision::Deny
        };
        self.outcome.code = Some(e.code());
        self.outcome.reason = e.reason();
        if let GatewayError::RequestContractViolation(v) = e {
            // Where, never what: the pointers name the partner's own properties.
            self.outcome.schema_pointers = v
                .errors
                .iter()
                .map(|(pointer, _)| crate::outcome::cap_escaped(pointer, 128).0)
                .collect();
        }
        if !e.after_permit() {
            self.outcome.upstream = None;
        }
    }

    /// The response head is chosen: its status, and the time to it (the SPEC's duration).
    pub(super) fn head(&mut self, status: u16) {
        self.outcome.status = status;
        self.outcome.duration = self.started.elapsed();
        self.head_sent = true;
    }

    /// Hands the outcome to the sinks, once; `complete` says whether the partner received
    /// the whole response.
    pub(super) fn finish(&mut self, complete: bool) -> Recorded {
        if std::mem::replace(&mut self.finished, true) {
            return Recorded::Done;
        }
        self.outcome.response_complete = complete;
        self.sink.record(&self.outcome)
    }
}

impl Drop for Exchange {
    /// The client went away (or the body was cut) before the exchange finished: still exactly
    /// one outcome.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if !self.head_sent {
            // Before a response was chosen.
            self.outcome.reason = "client_closed";
            self.outcome.code = None;
            self.outcome.status = 499;
            self.outcome.duration = self.started.elapsed();
        }
        // Nobody is left to answer; the record is queued all the same.
        let _ = self.finish(false);
    }
}

/// The whole body, if it is one frame that has already arrived (polled once, never waited
/// for); else `body` is left as it was, with any frame taken put back in front.
pub(super) fn take_whole(body: &mut Body) -> Option<Body> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match Pin::new(&mut *body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) if body.is_end_stream() => {
            Some(Prefixed::new(frame, None).boxed_unsync())
        }
        Poll::Ready(Some(Ok(frame))) => {
            let rest = std::mem::replace(
                body,
                http_body_util::Empty::new()
                    .map_err(|e| match e {})
                    .boxed_unsync(),
            );
            *body = Prefixed::new(frame, Some(rest)).boxed_unsync();
            None
        }
        Poll::Ready(Some(Err(e))) => {
            // The upstream failed before its first byte: the partner gets the cut, and the
            // record says so (Finishing sees the error).
            *body = Failed(Some(e)).boxed_unsync();
            None
        }
        Poll::Ready(None) => Some(
            http_body_util::Empty::new()
                .map_err(|e| match e {})
                .boxed_unsync(),
        ),
        Poll::Pending => None,
    }
}

// === impl Finishing ===

impl Finishing {
    pub(super) fn new(inner: Body, exchange: Exchange) -> Self {
        Self {
            inner,
            exchange: Some(exchange),
            held: None,
            durable: None,
            done: false,
        }
    }

    /// Records the exchange as complete; the held frame (if any) goes once it is taken.
    fn complete(&mut self) -> Option<Result<(), BoxError>> {
        let mut ex = self.exchange.take()?;
        match ex.finish(true) {
            Recorded::Done => Some(Ok(())),
            Recorded::Pending(rx) => {
                self.durable = Some(rx);
                None
            }
            Recorded::Refused => Some(Err(Box::new(Unrecorded))),
        }
    }

    /// What follows once the record is taken: the held frame, then the end.
    fn release(
        &mut self,
        recorded: Result<(), BoxError>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match recorded {
            Ok(()) => match self.held.take() {
                Some(frame) => Poll::Ready(Some(Ok(frame))),
                None => {
                    self.done = true;
                    Poll::Ready(None)
                }
            },
            Err(e) => {
                self.done = true;
                self.held = None;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl HttpBody for Finishing {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(rx) = &mut this.durable {
            let written = ready!(Pin::new(rx).poll(cx)).unwrap_or(false);
            this.durable = None;
            let recorded = if written {
                Ok(())
            } else {
                Err(Box::new(Unrecorded) as BoxError)
            };
            return this.release(recorded);
        }
        if this.exchange.is_none() {
            // Recorded; the held frame went out last time.
            return this.release(Ok(()));
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) if !this.inner.is_end_stream() => Poll::Ready(Some(Ok(frame))),
            Some(Ok(frame)) => {
                // The last frame: held until the record is taken.
                this.held = Some(frame);
                match this.complete() {
                    Some(recorded) => this.release(recorded),
                    None => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
            Some(Err(e)) => {
                // The upstream failed mid-body: the partner did not get it all.
                if let Some(mut ex) = this.exchange.take() {
                    let _ = ex.finish(false);
                }
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            None => match this.complete() {
                Some(recorded) => this.release(recorded),
                None => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
