//! An off switch on every upstream connection: a response whose framing cannot be trusted turns
//! its connection off, so nothing else is ever read from it or sent on it.
//!
//! The switch travels with each response as an extension (hyper-util copies a connection's
//! `extra` into every response it carries), which costs one small insert per response, where
//! `capture_connection` cost a watch channel and two extension maps per request. A connection
//! switched off fails its next read or write: hyper closes it (an idle connection is read for
//! end-of-file at once) and the pool drops it. A request that takes it from the pool before its
//! task has run fails with a connection error instead of reading what the upstream smuggled.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

/// The switch of the connection that carried a response (in its extensions).
#[derive(Debug, Clone)]
pub struct Switch(Arc<AtomicBool>);

impl Switch {
    /// Ends the connection: every later read and write on it fails.
    pub fn turn_off(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A connector whose connections carry a [`Switch`].
#[derive(Debug, Clone)]
pub(crate) struct Switched<C>(pub(crate) C);

/// A connection with its switch.
#[derive(Debug)]
pub(crate) struct SwitchedIo<T> {
    io: T,
    off: Arc<AtomicBool>,
}

impl<T> SwitchedIo<T> {
    fn check(&self) -> io::Result<()> {
        if self.off.load(Ordering::Relaxed) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the gateway closed this upstream connection (untrustworthy framing)",
            ))
        } else {
            Ok(())
        }
    }
}

impl<C> tower_service::Service<Uri> for Switched<C>
where
    C: tower_service::Service<Uri>,
    C::Future: Send + 'static,
{
    type Response = SwitchedIo<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(SwitchedIo {
                io,
                off: Arc::new(AtomicBool::new(false)),
            })
        })
    }
}

impl<T: Connection> Connection for SwitchedIo<T> {
    fn connected(&self) -> Connected {
        self.io.connected().extra(Switch(self.off.clone()))
    }
}

impl<T: Read + Unpin> Read for SwitchedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for SwitchedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
