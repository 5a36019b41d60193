//! What the two `client::conn` bare proxies share, as `src/upstream/client.rs` does it: a stack
//! of ready senders each worker owns, and a response body that puts its sender back once it
//! has ended (when it is dropped: a server may never poll a body that says it has ended).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A worker's idle upstream connections, for requests with bodies of type `B`.
pub(crate) type Pool<B> = Arc<Mutex<Vec<SendRequest<B>>>>;

/// An idle connection of `pool`, or a new one to `upstream`, ready to send.
pub(crate) async fn checkout<B>(
    pool: &Pool<B>,
    upstream: SocketAddr,
) -> Result<SendRequest<B>, std::io::Error>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let idle = pool.lock().ok().and_then(|mut idle| idle.pop());
    let mut sender = match idle {
        Some(s) if !s.is_closed() => s,
        _ => {
            let stream = TcpStream::connect(upstream).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            sender
        }
    };
    sender.ready().await.map_err(std::io::Error::other)?;
    Ok(sender)
}

/// `req`'s target in origin form (path and query), as HTTP/1.1 sends it upstream.
pub(crate) fn to_origin_form<B>(req: &mut http::Request<B>) -> Result<(), std::io::Error> {
    let pq = req
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    *req.uri_mut() = http::Uri::try_from(pq).map_err(std::io::Error::other)?;
    Ok(())
}

/// A response body that puts its connection back in the pool once it has ended.
pub(crate) struct Returning<B> {
    body: Incoming,
    ended: bool,
    sender: Option<SendRequest<B>>,
    pool: Pool<B>,
}

impl<B> Returning<B> {
    /// `body`, which returns `sender` to `pool` when it has ended.
    pub(crate) fn new(body: Incoming, sender: SendRequest<B>, pool: Pool<B>) -> Self {
        Self {
            body,
            ended: false,
            sender: Some(sender),
            pool,
        }
    }
}

// No field is pinned: `poll_frame` reaches them through `&mut`.
impl<B> Unpin for Returning<B> {}

impl<B> Body for Returning<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.ended = true;
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

impl<B> Drop for Returning<B> {
    fn drop(&mut self) {
        if !self.is_end_stream() {
            return;
        }
        if let Some(sender) = self.sender.take()
            && let Ok(mut idle) = self.pool.lock()
        {
            idle.push(sender);
        }
    }
}
