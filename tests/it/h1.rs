//! The partner side's own HTTP/1.1 server, over real sockets: what one connection carries
//! (bodies that arrive in pieces, `100 Continue`, pipelining, HTTP/1.0 keep-alive) and when
//! it ends (a drain closes idle connections at once).

use std::time::Duration;

use crate::support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads from `s` until `done` says the text so far is complete (or 5 s pass).
async fn read_until(s: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut text = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(&String::from_utf8_lossy(&text)) {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => text.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// How many complete answers `text` holds (each one ends with the upstream's JSON echo).
fn answers(text: &str) -> usize {
    text.matches("HTTP/1.1 200 OK").count()
}

#[tokio::test]
async fn bodies_arriving_in_pieces_reach_the_upstream_and_the_connection_goes_on() {
    let gw = Gateway::start().await;
    let mut s = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let head = format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b"lo\r\n6\r\n wor").await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b"ld\r\n0\r\n\r\n").await.expect("write");
    let first = read_until(&mut s, |t| answers(t) == 1 && t.ends_with('}')).await;
    assert!(first.starts_with("HTTP/1.1 200 OK"), "{first}");
    assert_eq!(&gw.upstream.last().body[..], b"hello world");
    // The same connection, a Content-Length body in two writes.
    let head = format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\nContent-Length: 10\r\n\r\n01234"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b"56789").await.expect("write");
    let second = read_until(&mut s, |t| answers(t) == 1 && t.ends_with('}')).await;
    assert!(second.starts_with("HTTP/1.1 200 OK"), "{second}");
    assert_eq!(&gw.upstream.last().body[..], b"0123456789");
    assert_eq!(gw.upstream.seen().len(), 2);
}

#[tokio::test]
async fn expect_100_continue_on_an_allowed_request_is_answered_before_the_body() {
    let gw = Gateway::start().await;
    let mut s = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let head = format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let interim = read_until(&mut s, |t| t.ends_with("\r\n\r\n")).await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").await.expect("write");
    let mut rest = String::new();
    s.read_to_string(&mut rest).await.expect("read");
    assert!(rest.starts_with("HTTP/1.1 200 OK"), "{rest}");
    assert_eq!(&gw.upstream.last().body[..], b"hello");
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_http_1_0_keeps_alive_when_asked() {
    let gw = Gateway::start().await;
    let mut s = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let three = format!(
        "GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\n\r\n\
         POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\nContent-Length: 2\r\n\r\nhi\
         GET /v1/reports/3 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\n\r\n"
    );
    s.write_all(three.as_bytes()).await.expect("write");
    let text = read_until(&mut s, |t| answers(t) == 3 && t.ends_with('}')).await;
    assert_eq!(answers(&text), 3, "{text}");
    let order: Vec<String> = gw
        .upstream
        .seen()
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(
        order,
        ["/v1/reports/1", "/v1/insights/query", "/v1/reports/3"]
    );
    let first = text.find("/v1/reports/1").expect("first echo");
    let last = text.find("/v1/reports/3").expect("third echo");
    assert!(first < last, "{text}");
    // HTTP/1.0 with keep-alive: two answers on one connection, each with its length.
    let mut s = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let req = format!(
        "GET /v1/reports/4 HTTP/1.0\r\nHost: gw\r\nX-Api-Key: {ACME}\r\nConnection: keep-alive\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let one = read_until(&mut s, |t| answers(t) == 1 && t.ends_with('}')).await;
    assert!(one.contains("connection: keep-alive\r\n"), "{one}");
    assert!(one.contains("content-length: "), "{one}");
    s.write_all(req.replace("keep-alive", "close").as_bytes())
        .await
        .expect("write");
    let mut two = String::new();
    s.read_to_string(&mut two).await.expect("read to the close");
    assert!(two.starts_with("HTTP/1.1 200 OK"), "{two}");
}

#[tokio::test]
async fn a_drain_closes_idle_and_silent_connections_at_once() {
    // Long header and drain timeouts: a close within seconds is the drain's own.
    let gw = Gateway::start_with(
        &FIXTURE
            .replace(
                "client_header_timeout = \"2s\"",
                "client_header_timeout = \"60s\"",
            )
            .replace("drain_timeout = \"5s\"", "drain_timeout = \"60s\""),
    )
    .await;
    let mut s = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let req = format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let text = read_until(&mut s, |t| answers(t) == 1 && t.ends_with('}')).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    // And one that has not said anything yet.
    let mut silent = TcpStream::connect(gw.app.addr()).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shutdown = tokio::spawn(gw.app.shutdown());
    assert!(closed_within(&mut s, Duration::from_secs(3)).await);
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    shutdown.await.expect("shut down");
}
