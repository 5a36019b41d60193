//! The partner-facing HTTP/1.1 server: one task per connection reads each head with
//! `httparse` (`head`), hands the gateway the request with its body read on demand (`body`,
//! `feed`), and writes the answer (`encode`) — head and a whole body in one write, with no
//! task or channel between the socket and the gateway (docs/decisions.md). HTTP/2 stays on
//! hyper (`sniff` tells them apart).
//!
//! Edge rules, as on hyper: a head must be complete within `client_header_timeout` of the
//! connection's start (or of the previous answer: idle keep-alive connections end then too);
//! a client that hangs up mid-request abandons it (the gateway records 499); pipelined
//! requests are answered in order; a body the gateway did not read to its end, a framing
//! error, `Connection: close`, HTTP/1.0 without keep-alive, an upgrade request and a drain
//! each end the connection after the answer.

mod body;
mod encode;
mod feed;
mod head;
mod sniff;
#[cfg(test)]
mod tests;

pub use sniff::{Rewind, Spoken, sniff};

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::io::poll_read_buf;

use crate::proxy::{Body, GatewayService};
use crate::shutdown::Signal;
use crate::upstream::ClientBody;
use body::RequestBody;
use encode::Out;
use feed::{Feed, Side};
use head::{Head, Refused};

/// How much room each read asks for.
pub const READ_CHUNK: usize = 8 * 1024;

/// Bodies up to this size are copied behind the head and leave in the same write.
const COPY_BODY: usize = 16 * 1024;

/// The interim answer to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What answers the requests a connection carries: the gateway, or (for the load table's
/// floor) a bare forwarder.
pub trait Handler {
    /// Answers one request; never fails (every error is an answer).
    fn handle(&self, req: Request<ClientBody>) -> impl Future<Output = Response<Body>>;
}

impl Handler for GatewayService {
    fn handle(&self, req: Request<ClientBody>) -> impl Future<Output = Response<Body>> {
        self.serve(req)
    }
}

/// What a connection needs besides its socket.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A head that is not complete in this many bytes is refused with 431.
    pub max_head: usize,
    /// `limits.client_header_timeout`.
    pub header_timeout: Duration,
}

/// Serves HTTP/1 requests on `io` (whose first bytes are already in `buf`) until the client
/// closes, a rule ends the connection, or `shutdown` fires while it is idle. The first head
/// must be complete by `deadline`.
pub async fn serve<S, H>(
    io: S,
    buf: BytesMut,
    service: &H,
    settings: Settings,
    deadline: Instant,
    mut shutdown: Signal,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler,
{
    let mut conn = Conn {
        io,
        buf,
        out: Vec::with_capacity(1024),
        spans: Vec::with_capacity(16),
        max_head: settings.max_head,
        timer: Box::pin(tokio::time::sleep_until(deadline)),
    };
    let mut deadline = deadline;
    loop {
        let head = match conn.read_head(deadline, &mut shutdown).await {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(refused) => {
                conn.refuse(refused).await;
                break;
            }
        };
        if !conn.exchange(service, head, &shutdown).await {
            break;
        }
        deadline = Instant::now() + settings.header_timeout;
    }
    // FIN (and TLS close_notify) after the last answer; a peer that reads nothing more
    // cannot hold the task.
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.io.shutdown()).await;
}

/// One connection's socket and buffers.
struct Conn<S> {
    io: S,
    /// Bytes read and not yet parsed.
    buf: BytesMut,
    /// Bytes to write.
    out: Vec<u8>,
    /// Scratch for the head parser.
    spans: Vec<[usize; 4]>,
    max_head: usize,
    /// Ends the wait for a head; set for the first deadline, moved on only when it fires.
    timer: Pin<Box<tokio::time::Sleep>>,
}

/// What happened while a request was in flight.
enum InFlight {
    Answered(Response<Body>),
    /// The body was asked for: the client waits for `100 Continue`.
    Continue,
    /// The client hung up.
    Gone,
}

// === impl Conn ===

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// The next complete head; `Ok(None)` when the client closed, `deadline` passed, or a
    /// drain began with nothing read.
    async fn read_head(
        &mut self,
        deadline: Instant,
        shutdown: &mut Signal,
    ) -> Result<Option<Head>, Refused> {
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = head::parse(&mut self.buf, &mut self.spans)? {
                    return Ok(Some(head));
                }
                if self.buf.len() >= self.max_head {
                    return Err(Refused::TooLarge);
                }
            }
            self.buf.reserve(READ_CHUNK);
            let idle = self.buf.is_empty();
            let read = tokio::select! {
                biased;
                read = self.io.read_buf(&mut self.buf) => read,
                () = &mut self.timer => {
                    // The timer runs to the deadline it was set for; only then does it learn
                    // of a later one. Moving it on every request would make each one reach
                    // into the timer wheel, and wake the runtime when it comes first.
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                    self.timer.as_mut().reset(deadline);
                    continue;
                }
                () = shutdown.wait(), if idle => return Ok(None),
            };
            if matches!(read, Ok(0) | Err(_)) {
                return Ok(None);
            }
        }
    }

    /// Answers a head the gateway never saw, and ends the connection.
    async fn refuse(&mut self, refused: Refused) {
        let (status, code, detail) = match refused {
            Refused::BadRequest => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request head is not valid HTTP/1.1",
            ),
            Refused::TooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "the request headers are larger than allowed",
            ),
            Refused::UriTooLong => (
                StatusCode::URI_TOO_LONG,
                "bad_request",
                "the request target is longer than allowed",
            ),
        };
        let body = format!(
            r#"{{"type":"about:blank","title":"{}","status":{},"code":"{code}","detail":"{detail}","request_id":"-"}}"#,
            status.canonical_reason().unwrap_or(""),
            status.as_u16()
        );
        self.out.clear();
        encode::refusal(&mut self.out, status, &body);
        let _ = self.flush_out().await;
    }

    /// One request through the gateway and its answer back; whether the connection goes on.
    async fn exchange<H: Handler>(&mut self, service: &H, head: Head, shutdown: &Signal) -> bool {
        let Head {
            request,
            framing,
            keep_alive,
            expect_continue,
        } = head;
        let method = request.method.clone();
        let version = request.version;
        let (body, feed) = RequestBody::new(framing, &mut self.buf);
        let intact = !body.is_failed();
        let mut feed = feed.map(|(pipe, decoder)| Feed {
            pipe,
            decoder,
            continue_owed: expect_continue,
            done: None,
        });
        let req = Request::from_parts(request, body.boxed_unsync());
        let rsp = {
            let mut fut = pin!(service.handle(req));
            loop {
                let step = poll_fn(|cx| self.poll_in_flight(cx, fut.as_mut(), feed.as_mut()));
                match step.await {
                    InFlight::Answered(rsp) => break rsp,
                    InFlight::Continue => {
                        if self.write_now(CONTINUE).await.is_err() {
                            return false;
                        }
                    }
                    InFlight::Gone => return false,
                }
            }
        };
        if let Some(f) = feed.as_mut() {
            // Too late for an interim answer once the final one is on its way.
            f.continue_owed = false;
        }
        let (mut parts, mut rsp_body) = rsp.into_parts();
        let asked = encode::Asked {
            method: &method,
            version,
            keep_alive: keep_alive && !shutdown.is_set(),
        };
        self.out.clear();
        let (out, keep_alive) =
            encode::head(&mut self.out, &mut parts, &rsp_body.size_hint(), &asked);
        drop(parts);
        if out == Out::Nothing {
            drop(rsp_body);
        } else if !self.send_body(out, &mut rsp_body, feed.as_mut()).await {
            return false;
        }
        if self.flush_out().await.is_err() {
            return false;
        }
        let read_to_end = feed.map_or(intact, |f| f.done == Some(true));
        keep_alive && read_to_end
    }

    /// Polls the gateway's future; meanwhile feeds the body it asks for, or watches the
    /// socket for the client hanging up (keeping what it pipelines).
    fn poll_in_flight<F: Future<Output = Response<Body>>>(
        &mut self,
        cx: &mut Context<'_>,
        mut fut: Pin<&mut F>,
        mut feed: Option<&mut Feed>,
    ) -> Poll<InFlight> {
        loop {
            if let Poll::Ready(rsp) = fut.as_mut().poll(cx) {
                return Poll::Ready(InFlight::Answered(rsp));
            }
            match self.poll_side(cx, feed.as_deref_mut()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Side::Progress) => {}
                Poll::Ready(Side::Continue) => return Poll::Ready(InFlight::Continue),
                Poll::Ready(Side::Gone) => return Poll::Ready(InFlight::Gone),
            }
        }
    }

    /// What the client side does while the gateway works: the body it is asked for is fed;
    /// once there is none to feed, the socket is watched for the client hanging up.
    fn poll_side(&mut self, cx: &mut Context<'_>, feed: Option<&mut Feed>) -> Poll<Side> {
        if let Some(f) = feed.filter(|f| f.done.is_none()) {
            return f.poll(cx, &mut self.io, &mut self.buf);
        }
        if self.buf.len() >= self.max_head {
            return Poll::Pending;
        }
        self.buf.reserve(READ_CHUNK);
        match poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(Side::Gone),
            Poll::Ready(Ok(_)) => Poll::Ready(Side::Progress),
        }
    }

    /// Writes the response body framed as `out`; `false` when the connection cannot go on
    /// (the body failed, or was shorter or longer than its `Content-Length`).
    async fn send_body(&mut self, out: Out, body: &mut Body, mut feed: Option<&mut Feed>) -> bool {
        let mut sent = 0u64;
        loop {
            let ready = poll_fn(|cx| Poll::Ready(Pin::new(&mut *body).poll_frame(cx))).await;
            let frame = match ready {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    // Nothing to add yet: what is written goes now.
                    if self.flush_out().await.is_err() {
                        return false;
                    }
                    poll_fn(|cx| self.poll_frame_feeding(cx, body, feed.as_deref_mut())).await
                }
            };
            let data = match frame {
                None => break,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_trailers) => continue,
                },
            };
            let ok = match out {
                Out::Length(n) => {
                    let fits = data.len() as u64 <= n - sent;
                    sent += data.len() as u64;
                    fits && self.put(data, false).await.is_ok()
                }
                Out::Chunked if data.is_empty() => true,
                Out::Chunked => self.put(data, true).await.is_ok(),
                Out::UntilClose | Out::Nothing => self.put(data, false).await.is_ok(),
            };
            if !ok {
                return false;
            }
        }
        match out {
            Out::Chunked => self.out.extend_from_slice(b"0\r\n\r\n"),
            Out::Length(n) if sent < n => {
                let _ = self.flush_out().await;
                return false;
            }
            _ => {}
        }
        true
    }

    /// The next response frame, feeding the request body meanwhile (an upstream may answer
    /// while it still reads the request); a client that hangs up ends the body with an error.
    fn poll_frame_feeding(
        &mut self,
        cx: &mut Context<'_>,
        body: &mut Body,
        mut feed: Option<&mut Feed>,
    ) -> Poll<Option<Result<Frame<Bytes>, crate::upstream::BoxError>>> {
        loop {
            if let Poll::Ready(frame) = Pin::new(&mut *body).poll_frame(cx) {
                return Poll::Ready(frame);
            }
            match self.poll_side(cx, feed.as_deref_mut()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Side::Progress | Side::Continue) => {}
                Poll::Ready(Side::Gone) => {
                    return Poll::Ready(Some(Err("the client hung up mid-response".into())));
                }
            }
        }
    }

    /// Queues `data` (as one chunk when `chunked`); large pieces are written at once.
    async fn put(&mut self, data: Bytes, chunked: bool) -> std::io::Result<()> {
        if chunked {
            // The chunk size in hex, written in place (no string per chunk).
            let _ = std::io::Write::write_fmt(&mut self.out, format_args!("{:x}\r\n", data.len()));
        }
        if data.len() <= COPY_BODY {
            self.out.extend_from_slice(&data);
        } else {
            self.flush_out().await?;
            self.io.write_all(&data).await?;
        }
        if chunked {
            self.out.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    /// Writes what is queued.
    async fn flush_out(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.out.clear();
        }
        self.io.flush().await
    }

    /// Writes `bytes` at once, ahead of anything queued.
    async fn write_now(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }
}
