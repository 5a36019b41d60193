//! HTTP/2 hardening: rapid reset (CVE-2023-44487) and CONTINUATION floods are cut off, and the
//! stream limit is advertised and enforced.

use std::time::Duration;

use crate::support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A gateway with an audit trail, so each attack can be shown to leave it verifiable.
async fn audited(dir: &std::path::Path) -> Gateway {
    Gateway::start_with(&format!(
        "{FIXTURE}\n[audit]\ndir = {:?}\n",
        dir.join("trail").display().to_string()
    ))
    .await
}

async fn trail_verifies(gw: Gateway, dir: &std::path::Path) {
    gw.app.shutdown().await;
    kwanus_gateway::audit::verify(&[dir.join("trail")], None).unwrap_or_else(|b| panic!("{b}"));
}

#[tokio::test]
async fn rapid_reset_is_cut_off_with_goaway() {
    let dir = temp_dir("reset");
    let gw = audited(&dir).await;
    let tcp = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let (mut client, conn) = h2::client::handshake(tcp).await.expect("h2c handshake");
    let conn = tokio::spawn(conn);
    let mut sent = 0;
    for _ in 0..10_000 {
        let req = http::Request::get("http://gw/v1/slow/1000")
            .header("x-api-key", ACME)
            .body(())
            .expect("request");
        let Ok(ready) = client.ready().await else {
            break;
        };
        client = ready;
        let Ok((_rsp, mut stream)) = client.send_request(req, false) else {
            break;
        };
        stream.send_reset(h2::Reason::CANCEL);
        sent += 1;
    }
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    let result = ended
        .expect("the server closed the connection")
        .expect("join");
    // The server ends the connection (GOAWAY ENHANCE_YOUR_CALM; the client may only see the
    // closed socket while still writing its queued resets).
    let err = result.expect_err("the connection ended with an error");
    assert!(
        err.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) || err.is_go_away() || err.is_io(),
        "{err:?}"
    );
    let reached = gw.upstream.seen().len();
    assert!(
        reached < 1_000,
        "{reached} of {sent} reset streams reached the upstream"
    );
}

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[tokio::test]
async fn a_continuation_flood_is_cut_off() {
    let dir = temp_dir("continuation");
    let gw = audited(&dir).await;
    let mut tcp = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(0x4, 0, 0, &[])); // SETTINGS
    // HEADERS without END_HEADERS: GET http / (static table indexes 2, 6, 4).
    out.extend(frame(0x1, 0x1, 1, &[0x82, 0x86, 0x84]));
    tcp.write_all(&out).await.expect("write preface");
    let mut block = vec![0x00, 3, b'x', b'-', b'a', 0x7f, 0x81, 0x07]; // literal, value 1000 bytes
    block.extend(std::iter::repeat_n(b'a', 1000));
    let continuation = frame(0x9, 0, 1, &block);
    let (mut rd, mut wr) = tcp.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        let mut seen = Vec::new();
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return seen,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    });
    let mut sent = 0usize;
    while sent < 10 * 1024 * 1024 {
        if wr.write_all(&continuation).await.is_err() {
            break;
        }
        sent += continuation.len();
    }
    let seen = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the server closed the connection")
        .expect("join");
    assert!(
        sent < 10 * 1024 * 1024,
        "the server kept reading a 10 MiB header block"
    );
    // The server said why: a GOAWAY frame (type 7) is among what it sent.
    let mut i = 0;
    let mut goaway = false;
    while i + 9 <= seen.len() {
        let len = (usize::from(seen[i]) << 16)
            | (usize::from(seen[i + 1]) << 8)
            | usize::from(seen[i + 2]);
        goaway |= seen[i + 3] == 0x7;
        i += 9 + len;
    }
    assert!(goaway, "no GOAWAY after {sent} bytes of CONTINUATION");
    assert!(gw.upstream.seen().is_empty());
    trail_verifies(gw, &dir).await;
}

/// A HEADERS frame (END_STREAM | END_HEADERS) for `GET /v1/slow/300` with an API key,
/// HPACK-encoded with literal fields only.
fn get_slow(stream: u32) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
    let mut literal = |name: &str, value: &str| {
        block.push(0x00);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    };
    literal(":path", "/v1/slow/300");
    literal(":authority", "gw");
    literal("x-api-key", ACME);
    frame(0x1, 0x5, stream, &block)
}

#[tokio::test]
async fn a_stream_flood_past_the_limit_is_refused() {
    let dir = temp_dir("streams");
    let gw = audited(&dir).await;
    let mut tcp = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(0x4, 0, 0, &[]));
    // 300 streams at once against SETTINGS_MAX_CONCURRENT_STREAMS = 100.
    for i in 0..300u32 {
        out.extend(get_slow(1 + 2 * i));
    }
    tcp.write_all(&out).await.expect("write");
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    // Count RST_STREAM (type 3) frames and GOAWAY (type 7) from the server.
    let (mut resets, mut goaway, mut i) = (0, false, 0);
    while i + 9 <= seen.len() {
        let len = (usize::from(seen[i]) << 16)
            | (usize::from(seen[i + 1]) << 8)
            | usize::from(seen[i + 2]);
        match seen[i + 3] {
            0x3 => resets += 1,
            0x7 => goaway = true,
            _ => {}
        }
        i += 9 + len;
    }
    assert!(
        resets >= 200 || goaway,
        "{resets} streams refused, goaway {goaway}"
    );
    let reached = gw.upstream.seen().len();
    assert!(
        reached <= 100,
        "{reached} of 300 streams reached the upstream"
    );
    drop(tcp);
    trail_verifies(gw, &dir).await;
}

#[tokio::test]
async fn the_server_advertises_its_limits() {
    let gw = Gateway::start().await;
    let mut tcp = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(0x4, 0, 0, &[]));
    tcp.write_all(&out).await.expect("write");
    let mut head = [0u8; 9];
    tcp.read_exact(&mut head).await.expect("server SETTINGS");
    assert_eq!(head[3], 0x4, "the first frame is SETTINGS");
    let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).await.expect("payload");
    let settings: Vec<(u16, u32)> = payload
        .chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    // SETTINGS_MAX_CONCURRENT_STREAMS (3) and SETTINGS_MAX_HEADER_LIST_SIZE (6).
    assert!(settings.contains(&(0x3, 100)), "{settings:?}");
    assert!(settings.contains(&(0x6, 16384)), "{settings:?}");
}
