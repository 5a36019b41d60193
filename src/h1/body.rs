//! A request body as the connection reads it: whole when the read that brought the head
//! brought all of it (no hand-off at all), else handed over piece by piece through a [`Pipe`]
//! when whoever reads the body asks for more — so a body nobody reads is never read (a denied
//! `Expect: 100-continue` request is answered without it). The chunked decoder is RFC 9112
//! §7.1 with hyper's strictness: hex sizes of at most 16 digits, CRLF only, bounded extensions
//! and trailers (which are read and dropped).

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Frame, SizeHint};

use super::head::Framing;
use crate::upstream::BoxError;

/// The body handed to the gateway with the head.
pub(super) struct RequestBody {
    inner: Inner,
    /// Bytes still to come for a `Content-Length` body.
    remaining: Option<u64>,
}

enum Inner {
    /// Everything, already read (`None` once taken).
    Whole(Option<Bytes>),
    /// Read on demand by the connection.
    Piped(Arc<Pipe>),
    /// The framing was broken before the gateway asked for anything.
    Failed(Option<&'static str>),
}

/// Between the body and the connection that feeds it (same thread, possibly another task:
/// the upstream connection's task polls a streamed body).
#[derive(Default)]
pub(super) struct Pipe(Mutex<Slot>);

#[derive(Default)]
struct Slot {
    data: Option<Bytes>,
    end: Option<Result<(), &'static str>>,
    /// The body was polled and found nothing: the connection should read.
    want: bool,
    /// The body is gone: nothing more will be read.
    dropped: bool,
    body: Option<Waker>,
    conn: Option<Waker>,
}

/// Where the chunked decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Reading the hex size (digits so far, value).
    Size(u8, u64),
    /// After the size: optional whitespace, then `;` or CR.
    AfterSize(u64),
    /// Inside an extension, up to CR.
    Extension(u64),
    /// CR seen after the size line: LF must follow.
    SizeLf(u64),
    /// Data bytes left in this chunk.
    Data(u64),
    /// After a chunk's data: CR, then LF.
    DataCr,
    DataLf,
    /// Trailer lines after the last chunk: at the start of a line.
    TrailerLine,
    /// Inside a trailer line, up to CR; then LF.
    TrailerField,
    TrailerLf {
        last: bool,
    },
    /// The body is complete.
    Done,
}

/// Reads a body's framing out of the connection's buffer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Decoder {
    Length(u64),
    Chunked { at: Chunk, extra: usize },
}

/// One step of decoding.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded {
    Data(Bytes),
    NeedMore,
    End,
}

/// Extension and trailer bytes one body may carry.
const MAX_EXTRA: usize = 16 * 1024;

// === impl RequestBody ===

impl RequestBody {
    /// The body for `framing`, taken from `buf` as far as it is there; the decoder to go on
    /// with when the rest is still to be read.
    pub(super) fn new(
        framing: Framing,
        buf: &mut BytesMut,
    ) -> (Self, Option<(Arc<Pipe>, Decoder)>) {
        let remaining = match framing {
            Framing::Length(n) => Some(n),
            _ => None,
        };
        let mut decoder = match framing {
            Framing::Empty | Framing::Length(0) => return (Self::whole(None, remaining), None),
            Framing::Length(n) if buf.len() as u64 >= n => {
                let all = buf.split_to(n as usize).freeze();
                return (Self::whole(Some(all), remaining), None);
            }
            Framing::Length(n) => Decoder::Length(n),
            Framing::Chunked => Decoder::chunked(),
        };
        // What is already here is decoded now; a chunked body is never "empty" before it is
        // read (the gateway refuses chunked GETs whatever they carry, as it did on hyper).
        let mut pieces: Option<BytesMut> = None;
        let mut first: Option<Bytes> = None;
        let step = loop {
            match decoder.decode(buf) {
                Ok(Decoded::Data(d)) => match (&mut first, &mut pieces) {
                    (None, _) => first = Some(d),
                    (Some(f), None) => {
                        let mut all = BytesMut::from(&f[..]);
                        all.extend_from_slice(&d);
                        pieces = Some(all);
                    }
                    (Some(_), Some(all)) => all.extend_from_slice(&d),
                },
                other => break other,
            }
        };
        let got = pieces.map(BytesMut::freeze).or(first);
        match step {
            Ok(Decoded::End) => (Self::whole(Some(got.unwrap_or_default()), remaining), None),
            Err(e) => (
                Self {
                    inner: Inner::Failed(Some(e)),
                    remaining,
                },
                None,
            ),
            Ok(_) => {
                let pipe = Arc::new(Pipe::default());
                pipe.lock().data = got.filter(|d| !d.is_empty());
                let body = Self {
                    inner: Inner::Piped(pipe.clone()),
                    remaining,
                };
                (body, Some((pipe, decoder)))
            }
        }
    }

    fn whole(data: Option<Bytes>, remaining: Option<u64>) -> Self {
        Self {
            inner: Inner::Whole(data),
            remaining,
        }
    }

    /// Whether the framing was already broken in what came with the head.
    pub(super) fn is_failed(&self) -> bool {
        matches!(self.inner, Inner::Failed(_))
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let data = match &mut self.inner {
            Inner::Whole(data) => data.take(),
            Inner::Failed(e) => return Poll::Ready(e.take().map(|e| Err(e.into()))),
            Inner::Piped(pipe) => {
                let mut slot = pipe.lock();
                match (slot.data.take(), slot.end) {
                    (Some(d), _) => Some(d),
                    (None, Some(Ok(()))) => None,
                    (None, Some(Err(e))) => {
                        slot.end = Some(Ok(()));
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    (None, None) => {
                        slot.want = true;
                        if !slot.body.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            slot.body = Some(cx.waker().clone());
                        }
                        if let Some(conn) = slot.conn.take() {
                            conn.wake();
                        }
                        return Poll::Pending;
                    }
                }
            }
        };
        if let (Some(d), Some(left)) = (&data, &mut self.remaining) {
            *left = left.saturating_sub(d.len() as u64);
        }
        Poll::Ready(data.map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.inner, Inner::Whole(None)) || self.remaining == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match (self.remaining, &self.inner) {
            (Some(n), _) => SizeHint::with_exact(n),
            (None, Inner::Whole(Some(d))) => SizeHint::with_exact(d.len() as u64),
            (None, Inner::Whole(None)) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Inner::Piped(pipe) = &self.inner {
            let mut slot = pipe.lock();
            slot.dropped = true;
            if let Some(conn) = slot.conn.take() {
                conn.wake();
            }
        }
    }
}

// === impl Pipe ===

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic elsewhere while holding it leaves plain data behind: still usable.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the body asked for more and has nothing: registers `cx` otherwise.
    /// `None` when the body is gone.
    pub(super) fn wants(&self, cx: &Context<'_>) -> Option<bool> {
        let mut slot = self.lock();
        if slot.dropped {
            return None;
        }
        if slot.want && slot.data.is_none() {
            return Some(true);
        }
        if !slot.conn.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.conn = Some(cx.waker().clone());
        }
        Some(false)
    }

    /// Hands the body its next piece (its `last`), or its end.
    pub(super) fn put(&self, step: Result<Option<Bytes>, &'static str>, last: bool) {
        let mut slot = self.lock();
        match step {
            Ok(Some(d)) => {
                slot.data = Some(d);
                if last {
                    slot.end = Some(Ok(()));
                }
            }
            Ok(None) => slot.end = Some(Ok(())),
            Err(e) => slot.end = Some(Err(e)),
        }
        slot.want = false;
        if let Some(body) = slot.body.take() {
            body.wake();
        }
    }
}

// === impl Decoder ===

impl Decoder {
    fn chunked() -> Self {
        Self::Chunked {
            at: Chunk::Size(0, 0),
            extra: 0,
        }
    }

    /// Whether the whole body has been decoded.
    pub(super) fn is_done(&self) -> bool {
        matches!(
            self,
            Self::Length(0)
                | Self::Chunked {
                    at: Chunk::Done,
                    ..
                }
        )
    }

    /// The next piece of the body from `buf`.
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, &'static str> {
        match self {
            Self::Length(0) => Ok(Decoded::End),
            Self::Length(_) if buf.is_empty() => Ok(Decoded::NeedMore),
            Self::Length(left) => {
                let n = (*left).min(buf.len() as u64);
                *left -= n;
                Ok(Decoded::Data(buf.split_to(n as usize).freeze()))
            }
            Self::Chunked { at, extra } => chunked(at, extra, buf),
        }
    }
}

/// Runs the chunked state machine over `buf` until a piece of data, the end, or the end of
/// what has arrived.
fn chunked(at: &mut Chunk, extra: &mut usize, buf: &mut BytesMut) -> Result<Decoded, &'static str> {
    const BAD: &str = "malformed chunked body";
    loop {
        if *at == Chunk::Done {
            return Ok(Decoded::End);
        }
        if let Chunk::Data(left) = *at {
            if buf.is_empty() {
                return Ok(Decoded::NeedMore);
            }
            let n = left.min(buf.len() as u64);
            *at = if n == left {
                Chunk::DataCr
            } else {
                Chunk::Data(left - n)
            };
            return Ok(Decoded::Data(buf.split_to(n as usize).freeze()));
        }
        let Some(&b) = buf.first() else {
            return Ok(Decoded::NeedMore);
        };
        buf.advance(1);
        *at = match (*at, b) {
            (Chunk::Size(digits, n), _) if b.is_ascii_hexdigit() => {
                if digits == 16 {
                    return Err("chunk size too large");
                }
                let v = u64::from((b as char).to_digit(16).unwrap_or(0));
                Chunk::Size(digits + 1, (n << 4) | v)
            }
            (Chunk::Size(0, _), _) => return Err(BAD),
            (Chunk::Size(_, n) | Chunk::AfterSize(n), b' ' | b'\t') => Chunk::AfterSize(n),
            (Chunk::Size(_, n) | Chunk::AfterSize(n) | Chunk::Extension(n), b';') => {
                Chunk::Extension(n)
            }
            (Chunk::Size(_, n) | Chunk::AfterSize(n) | Chunk::Extension(n), b'\r') => {
                Chunk::SizeLf(n)
            }
            (Chunk::Extension(_), b'\n') => return Err(BAD),
            (Chunk::Extension(n), _) => {
                *extra += 1;
                if *extra > MAX_EXTRA {
                    return Err("chunk extensions too large");
                }
                Chunk::Extension(n)
            }
            (Chunk::SizeLf(0), b'\n') => Chunk::TrailerLine,
            (Chunk::SizeLf(n), b'\n') => Chunk::Data(n),
            (Chunk::DataCr, b'\r') => Chunk::DataLf,
            (Chunk::DataLf, b'\n') => Chunk::Size(0, 0),
            (Chunk::TrailerLine, b'\r') => Chunk::TrailerLf { last: true },
            (Chunk::TrailerLine | Chunk::TrailerField, b'\n') => return Err(BAD),
            (Chunk::TrailerLine | Chunk::TrailerField, _) => {
                *extra += 1;
                if *extra > MAX_EXTRA {
                    return Err("trailers too large");
                }
                if b == b'\r' {
                    Chunk::TrailerLf { last: false }
                } else {
                    Chunk::TrailerField
                }
            }
            (Chunk::TrailerLf { last: true }, b'\n') => Chunk::Done,
            (Chunk::TrailerLf { last: false }, b'\n') => Chunk::TrailerLine,
            _ => return Err(BAD),
        };
    }
}
