//! The pool's retry rule, where only a unit test can hold the race still: a request that an idle
//! connection never sent (the upstream had closed it) goes once more on a new connection.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::{CappedBody, Pools, RequestBody, SendError, Upstream, UpstreamOptions};

/// An upstream on its own thread, one connection at a time, that answers the first request of
/// each connection and then closes it at once without having said so (`close`), or answers
/// every request (keep-alive); counts connections.
fn upstream(close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let (addr, count, _) = upstream_closing(close);
    (addr, count)
}

/// `upstream`, also counting the connections it has closed.
fn upstream_closing(close: bool) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (counted, closing) = (count.clone(), closed.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while s.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
                if head.ends_with(b"\r\n\r\n") {
                    head.clear();
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    if close {
                        break;
                    }
                }
            }
            drop(s);
            closing.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, count, closed)
}

/// An upstream at `addr` with its pools (one worker), which live as long as the first.
fn bound(addr: SocketAddr) -> (Pools, Arc<Upstream>) {
    let opts = UpstreamOptions {
        connect_timeout: Duration::from_secs(1),
        ..UpstreamOptions::default()
    };
    let upstream = Arc::new(Upstream::new("api", &format!("http://{addr}"), &opts).expect("ok"));
    let pools = Pools::new(1);
    pools.bind(std::slice::from_ref(&upstream));
    (pools, upstream)
}

fn request(addr: SocketAddr) -> http::Request<CappedBody> {
    let (body, _) = CappedBody::new(
        RequestBody::Buffered(Bytes::new()),
        1024,
        Duration::from_secs(1),
    );
    let mut req = http::Request::new(body);
    *req.uri_mut() = format!("http://{addr}/v1/x").parse().expect("uri");
    req.headers_mut()
        .insert(http::header::HOST, addr.to_string().parse().expect("host"));
    req
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_a_closed_idle_connection_never_sent_goes_on_a_new_connection() {
    let (addr, connections, closed) = upstream_closing(true);
    let (_pools, upstream) = bound(addr);
    let pool = upstream.pool(0).expect("bound");
    // Whether the pool sees the close before it hands the connection out (and skips it) or
    // after (and hyper hands the request back unsent) is a race: 50 rounds take both paths.
    // Each round starts once the upstream has closed the last connection: a request written
    // before its close arrived may have been acted on, and is never sent twice.
    for round in 0..50 {
        while closed.load(Ordering::SeqCst) < round {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let rsp = pool.send(request(addr)).await.expect("answered");
        let body = rsp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"ok");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 50);
}

async fn answered(pool: &super::Pool, addr: SocketAddr) {
    let rsp = pool.send(request(addr)).await.expect("answered");
    let body = rsp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"ok");
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_connection_is_reused_for_a_minute_and_not_after() {
    // The keep-alive upstream serves one connection at a time: a new one is accepted only
    // once the gateway has closed the last.
    let (addr, connections) = upstream(false);
    let (_pools, upstream) = bound(addr);
    let pool = upstream.pool(0).expect("bound");
    answered(pool, addr).await;
    answered(pool, addr).await;
    assert_eq!(connections.load(Ordering::SeqCst), 1, "reused");
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    tokio::time::resume();
    answered(pool, addr).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "expired after 60 s idle"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_connection_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let (_pools, upstream) = bound(port);
    let pool = upstream.pool(0).expect("bound");
    let err = pool.send(request(port)).await.err();
    assert_eq!(err, Some(SendError::Connect { timed_out: false }));
}
