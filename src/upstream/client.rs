//! The upstream client: hyper's connection-level HTTP/1.1 and HTTP/2 clients with a pool each
//! worker owns — a stack of idle HTTP/1.1 connections and one shared HTTP/2 connection — with no
//! pool task and no hand-off between tasks (`docs/decisions.md`: hyper-util's pool was 30 % of
//! the bare data path's instructions).
//!
//! An HTTP/1.1 connection goes back to its worker's stack when its response body has ended
//! (`Pooled` is dropped); a response the gateway does not trust is [`Pooled::close`]d, and its
//! connection is never used again: hyper closes a connection whose sender is gone. A request
//! that a pooled connection never sent (the upstream closed it while idle) is sent once more on
//! a new connection, as hyper-util's client did.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;
use tower_service::Service;

use super::CappedBody;

/// An idle HTTP/1.1 connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle HTTP/1.1 connections kept per worker and upstream; more are closed.
const MAX_IDLE: usize = 512;

/// Why an exchange failed, as far as the connection is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No connection was made (refused, TLS handshake, HTTP/2 preface); `timed_out` when the
    /// TCP connect timed out.
    Connect {
        /// The TCP connect timed out.
        timed_out: bool,
    },
    /// The connection failed after it was made.
    Connection,
}

/// One worker's connections to one upstream.
pub(crate) struct WorkerPool {
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority` of the upstream: what is connected to, and the HTTP/2 target's
    /// origin.
    origin: Uri,
    /// HTTP/2 without TLS (prior knowledge); over TLS, ALPN decides.
    h2_prior_knowledge: bool,
    idle: Mutex<Idle>,
    /// Held while an HTTP/2-by-prior-knowledge connection is being made, so that requests
    /// arriving together share it instead of each opening their own; holds when the last
    /// attempt failed, and how, so that those waiting fail with it rather than in turn.
    h2_connecting: tokio::sync::Mutex<Option<(Instant, SendError)>>,
}

#[derive(Default)]
struct Idle {
    /// Idle HTTP/1.1 connections, oldest first, with the time each went idle.
    h1: VecDeque<(http1::SendRequest<CappedBody>, Instant)>,
    /// The HTTP/2 connection requests share, with its number (to close that one only).
    h2: Option<(u64, http2::SendRequest<CappedBody>)>,
}

/// A connection taken for one request.
enum Sender {
    H1(http1::SendRequest<CappedBody>),
    H2(u64, http2::SendRequest<CappedBody>),
}

/// A response body that gives its HTTP/1.1 connection back to its pool once it has ended.
pub struct Pooled {
    body: Incoming,
    ended: bool,
    sender: Option<Sender>,
    pool: Arc<WorkerPool>,
}

/// Numbers HTTP/2 connections, so that closing one never closes its successor.
static H2_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

// === impl WorkerPool ===

impl WorkerPool {
    pub(crate) fn new(
        connector: HttpsConnector<HttpConnector>,
        origin: Uri,
        h2_prior_knowledge: bool,
    ) -> Self {
        Self {
            connector,
            origin,
            h2_prior_knowledge,
            idle: Mutex::new(Idle::default()),
            h2_connecting: tokio::sync::Mutex::new(None),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        // Only this worker's thread takes the lock; a panic elsewhere leaves it usable.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `req` (its `Host` header set) on an idle connection or a new one.
    pub(crate) async fn send(
        self: &Arc<Self>,
        req: Request<CappedBody>,
    ) -> Result<Response<Pooled>, SendError> {
        let (mut sender, mut fresh) = match self.take() {
            Some(s) => (s, false),
            None => Box::pin(self.first()).await?,
        };
        let mut req = req;
        loop {
            match sender.send(req, &self.origin).await {
                Ok(rsp) => {
                    let pool = self.clone();
                    return Ok(rsp.map(|body| Pooled {
                        body,
                        ended: false,
                        sender: Some(sender),
                        pool,
                    }));
                }
                Err(mut e) => {
                    self.forget(&sender);
                    // Sent once more only when the request never left: an idle connection the
                    // upstream had closed. Anything written may have been acted on.
                    match e.take_message() {
                        Some(unsent) if !fresh => {
                            req = unsent;
                            sender = Box::pin(self.connect()).await?;
                            fresh = true;
                        }
                        _ => return Err(SendError::Connection),
                    }
                }
            }
        }
    }

    /// An idle connection, or a share of the HTTP/2 one; closed and expired ones are dropped.
    fn take(&self) -> Option<Sender> {
        let mut idle = self.idle();
        if let Some((id, h2)) = &idle.h2 {
            if !h2.is_closed() {
                return Some(Sender::H2(*id, h2.clone()));
            }
            idle.h2 = None;
        }
        while let Some((_, since)) = idle.h1.front() {
            if since.elapsed() < IDLE_TIMEOUT {
                break;
            }
            idle.h1.pop_front();
        }
        while let Some((h1, _)) = idle.h1.pop_back() {
            if !h1.is_closed() {
                return Some(Sender::H1(h1));
            }
        }
        None
    }

    /// Gives an HTTP/1.1 connection back (HTTP/2 connections stay shared).
    fn give_back(&self, sender: Sender) {
        if let Sender::H1(h1) = sender
            && !h1.is_closed()
        {
            let mut idle = self.idle();
            if idle.h1.len() < MAX_IDLE {
                idle.h1.push_back((h1, Instant::now()));
            }
        }
    }

    /// Stops sharing an HTTP/2 connection that failed or was not trusted.
    fn forget(&self, sender: &Sender) {
        if let Sender::H2(id, _) = sender {
            let mut idle = self.idle();
            if idle.h2.as_ref().is_some_and(|(shared, _)| shared == id) {
                idle.h2 = None;
            }
        }
    }

    /// A new connection, or — over HTTP/2 by prior knowledge — the one a request arriving at
    /// the same time made (`true`: new).
    async fn first(&self) -> Result<(Sender, bool), SendError> {
        if !self.h2_prior_knowledge {
            return Ok((self.connect().await?, true));
        }
        let asked = Instant::now();
        let mut failed = self.h2_connecting.lock().await;
        if let Some(shared) = self.take() {
            return Ok((shared, false));
        }
        if let Some((at, e)) = *failed
            && at >= asked
        {
            return Err(e);
        }
        match self.connect().await {
            Ok(sender) => {
                *failed = None;
                Ok((sender, true))
            }
            Err(e) => {
                *failed = Some((Instant::now(), e));
                Err(e)
            }
        }
    }

    /// A new connection to the upstream, its task spawned on this worker.
    async fn connect(&self) -> Result<Sender, SendError> {
        let mut connector = self.connector.clone();
        let io = connector.call(self.origin.clone()).await.map_err(|e| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
            let mut timed_out = false;
            while let Some(s) = source {
                if let Some(io) = s.downcast_ref::<std::io::Error>() {
                    timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
                }
                source = s.source();
            }
            SendError::Connect { timed_out }
        })?;
        let refused = |_| SendError::Connect { timed_out: false };
        if self.h2_prior_knowledge || io.connected().is_negotiated_h2() {
            let (h2, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(refused)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let id = H2_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
            self.idle().h2 = Some((id, h2.clone()));
            Ok(Sender::H2(id, h2))
        } else {
            let (h1, conn) = http1::handshake(io).await.map_err(refused)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Sender::H1(h1))
        }
    }
}

// === impl Sender ===

impl Sender {
    /// Sends on this connection: the target in origin form over HTTP/1.1, absolute (from
    /// `origin`) over HTTP/2; the request's own URI may be either.
    async fn send(
        &mut self,
        mut req: Request<CappedBody>,
        origin: &Uri,
    ) -> Result<Response<Incoming>, TrySendError<Request<CappedBody>>> {
        let path = req.uri().path_and_query().cloned();
        match self {
            Self::H1(h1) => {
                if let Some(pq) = path {
                    *req.uri_mut() = Uri::from(pq);
                }
                *req.version_mut() = Version::HTTP_11;
                // A connection closed while idle fails the send below, which hands the request
                // back unsent.
                let _ = h1.ready().await;
                h1.try_send_request(req).await
            }
            Self::H2(_, h2) => {
                if req.uri().scheme().is_none() {
                    let mut parts = origin.clone().into_parts();
                    parts.path_and_query = path;
                    if let Ok(uri) = Uri::from_parts(parts) {
                        *req.uri_mut() = uri;
                    }
                }
                *req.version_mut() = Version::HTTP_2;
                h2.try_send_request(req).await
            }
        }
    }
}

// === impl Pooled ===

impl Pooled {
    /// Never uses this response's connection again: nothing else is read from it or sent on it.
    pub fn close(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool.forget(&sender);
        }
    }
}

impl Body for Pooled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.ended = true,
            Poll::Ready(Some(Err(_))) => self.close(),
            _ => {}
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

impl Drop for Pooled {
    fn drop(&mut self) {
        // A body dropped before its end leaves the connection mid-response: hyper closes it.
        if self.is_end_stream()
            && let Some(sender) = self.sender.take()
        {
            self.pool.give_back(sender);
        }
    }
}
