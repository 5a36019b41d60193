//! The floor under the gateway's own HTTP/1.1 server: `bare_conn_proxy`'s pool and upstream
//! client behind `kwanus_gateway::h1` (the partner-side server the gateway runs on) instead of
//! hyper's server — the load table's and the cost gate's `bare-h1` row. Against `bare-conn`
//! it says what the own server saves on the data path, with no gateway work on top.
//!
//!   cargo run --release --example bare_h1_proxy -- <listen addr> <upstream addr> <workers>

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use http::{Response, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use kwanus_gateway::h1::{self, Handler};
use kwanus_gateway::proxy::Body;
use kwanus_gateway::upstream::ClientBody;
use tokio::net::TcpListener;

#[path = "common/workers.rs"]
mod workers;
use workers::BoxError;
#[path = "common/pool.rs"]
mod pool;
use pool::{Pool, Returning};

/// The gateway's allocator, so that the rows differ only in the server.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Forwards every request to one upstream.
#[derive(Clone)]
struct Bare {
    pool: Pool<ClientBody>,
    upstream: SocketAddr,
}

fn main() -> Result<(), BoxError> {
    workers::run("bare_h1_proxy", serve)
}

async fn serve(listener: std::net::TcpListener, upstream: SocketAddr) -> Result<(), BoxError> {
    let listener = TcpListener::from_std(listener)?;
    let bare = Bare {
        pool: Pool::default(),
        upstream,
    };
    // Never fired: the bare proxy runs until it is killed.
    let (_trigger, signal) = kwanus_gateway::shutdown::channel();
    let settings = h1::Settings {
        max_head: 16 * 1024,
        header_timeout: Duration::from_secs(10),
    };
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let (bare, signal) = (bare.clone(), signal.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + settings.header_timeout;
            let buf = BytesMut::with_capacity(h1::READ_CHUNK);
            h1::serve(stream, buf, &bare, settings, deadline, signal).await;
        });
    }
}

impl Handler for Bare {
    async fn handle(&self, req: http::Request<ClientBody>) -> Response<Body> {
        match self.forward(req).await {
            Ok(rsp) => rsp.map(|b| b.map_err(BoxError::from).boxed_unsync()),
            Err(_) => {
                let mut rsp = Response::new(Empty::new().map_err(|e| match e {}).boxed_unsync());
                *rsp.status_mut() = StatusCode::BAD_GATEWAY;
                rsp
            }
        }
    }
}

impl Bare {
    async fn forward(
        &self,
        mut req: http::Request<ClientBody>,
    ) -> Result<Response<Returning<ClientBody>>, std::io::Error> {
        let mut sender = pool::checkout(&self.pool, self.upstream).await?;
        pool::to_origin_form(&mut req)?;
        let rsp = sender
            .send_request(req)
            .await
            .map_err(std::io::Error::other)?;
        Ok(rsp.map(|body| Returning::new(body, sender, self.pool.clone())))
    }
}
