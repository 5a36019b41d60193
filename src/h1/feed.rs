//! Feeding a request body the gateway asked for from the connection's buffer and socket,
//! one piece per ask, answering `Expect: 100-continue` only then.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::AsyncRead;
use tokio_util::io::poll_read_buf;

use super::READ_CHUNK;
use super::body::{Decoded, Decoder, Pipe};

/// Reads a body the gateway asked for, from the connection's buffer and socket.
pub(super) struct Feed {
    pub(super) pipe: Arc<Pipe>,
    pub(super) decoder: Decoder,
    /// `Expect: 100-continue` not answered yet.
    pub(super) continue_owed: bool,
    /// `Some(true)` once the body was read to its end; `Some(false)` once it cannot be.
    pub(super) done: Option<bool>,
}

/// What the client side did while the gateway worked.
pub(super) enum Side {
    /// A piece of body was handed over, or pipelined bytes were read.
    Progress,
    /// The body was asked for: the client waits for `100 Continue`.
    Continue,
    /// The client hung up.
    Gone,
}

// === impl Feed ===

impl Feed {
    /// Reads and decodes while the body asks for more.
    pub(super) fn poll<S: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
        buf: &mut BytesMut,
    ) -> Poll<Side> {
        loop {
            match self.pipe.wants(cx) {
                None => {
                    // The body is gone: what is left of it stays unread.
                    self.done = Some(false);
                    return Poll::Ready(Side::Progress);
                }
                Some(false) => return Poll::Pending,
                Some(true) => {}
            }
            if std::mem::take(&mut self.continue_owed) && buf.is_empty() {
                return Poll::Ready(Side::Continue);
            }
            let step = match self.decoder.decode(buf) {
                Ok(Decoded::NeedMore) => {
                    buf.reserve(READ_CHUNK);
                    match poll_read_buf(Pin::new(&mut *io), cx, buf) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(n)) if n > 0 => continue,
                        Poll::Ready(_) => Err("the client closed before the body ended"),
                    }
                }
                Ok(Decoded::Data(d)) => Ok(Some(d)),
                Ok(Decoded::End) => Ok(None),
                Err(e) => Err(e),
            };
            let end = match &step {
                Ok(Some(_)) => self.decoder.is_done().then_some(true),
                Ok(None) => Some(true),
                Err(_) => Some(false),
            };
            self.pipe.put(step, end == Some(true));
            self.done = end;
            return Poll::Ready(Side::Progress);
        }
    }
}
