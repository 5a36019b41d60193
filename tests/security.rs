//! The standing security suite, by attack class. Each test asserts what the upstream did and
//! did not receive, and that the audit trail still verifies.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kwanus_gateway::audit;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kwanus-sec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A gateway with an audit trail in `dir`.
async fn gateway(dir: &Path, extra: &str) -> Gateway {
    Gateway::start_with(&format!(
        "{FIXTURE}\n[audit]\ndir = {:?}\ndurability = \"strict\"\n{extra}",
        dir.join("trail").display().to_string()
    ))
    .await
}

/// Shuts the gateway down and checks its audit trail.
async fn trail_verifies(gw: Gateway, dir: &Path) -> audit::Report {
    gw.app.shutdown().await;
    audit::verify(&[dir.join("trail")], None).unwrap_or_else(|b| panic!("{b}"))
}

fn no_smuggled(gw: &Gateway) {
    for s in gw.upstream.seen() {
        assert!(
            !s.target.contains("internal") && !s.target.contains("smuggled"),
            "smuggled to the upstream: {s:?}"
        );
    }
}

// --- path confusion -------------------------------------------------------------------

#[tokio::test]
async fn path_confusion_every_encoding_of_slash_backslash_and_dot() {
    let dir = temp_dir("paths");
    let gw = gateway(&dir, "").await;
    let refused = [
        "/v1/reports/..%2finternal",
        "/v1/reports/..%2Finternal",
        "/v1/reports/..%5cinternal",
        "/v1/reports/..%255cinternal",
        "/v1/reports/%252e%252e/internal",
        "/v1/reports/%25%32%65",
        "/v1/reports/..\\internal",
        "/v1/reports/%c0%af",
        "/v1/reports/%e0%80%af",
        "/v1/reports/%c0%ae%c0%ae/internal",
        "/v1/reports/..;/internal",
        "/v1/reports;x=1/1",
        "/v1/reports/%3b/1",
        "/v1/reports/1%00.json",
        "/../internal",
        "/v1/../../internal",
    ];
    for t in refused {
        let r = gw.raw(&raw_get(t, ACME)).await;
        assert_eq!(r.status(), 400, "{t}: {}", r.text);
    }
    let forbidden = [
        "/internal/x",
        "/INTERNAL/x",
        "/%49nternal/x",
        "/v1/%2e%2e/internal",
        "/v1/.%2e/internal",
        "//internal//x",
        "/./internal",
        "/v1/reports/../../Db/users",
        "http://gw/internal/x",
        "HTTP://gw/v1/../internal",
    ];
    for t in forbidden {
        let r = gw.raw(&raw_get(t, ACME)).await;
        assert!(matches!(r.status(), 403 | 400), "{t}: {}", r.text);
    }
    // A fragment never travels: the parser drops it before the gateway sees the target.
    let r = gw
        .raw(&raw_get("/v1/reports/1#/../../internal", ACME))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(gw.upstream.last().target, "/v1/reports/1");
    // Overlong raw UTF-8 in the request line is refused by the parser or the normaliser.
    let req = b"GET /v1/reports/\xc0\xae\xc0\xae HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n";
    let r = gw.raw(req).await;
    assert_eq!(r.status(), 400, "{}", r.text);
    assert_eq!(gw.upstream.seen().len(), 1);
    no_smuggled(&gw);
    trail_verifies(gw, &dir).await;
}

// --- HTTP/1 smuggling ------------------------------------------------------------------

/// A POST whose body hides a second request for `/internal`.
fn smuggle(headers: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\n{headers}\r\n{body}"
    )
    .into_bytes()
}

const HIDDEN: &str = "GET /internal/smuggled HTTP/1.1\r\nHost: gw\r\nX-Api-Key: kwp_test_umbrella_0123456789abcdef\r\n\r\n";

#[tokio::test]
async fn smuggling_cl_te_duplicates_and_obfuscations_never_reach_the_upstream() {
    let dir = temp_dir("smuggle");
    let gw = gateway(&dir, "").await;
    let chunked_hiding = format!("0\r\n\r\n{HIDDEN}");
    let cases = [
        // CL + TE: the body is chunked (empty); the rest is a second, forbidden request.
        smuggle(
            &format!(
                "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                chunked_hiding.len()
            ),
            &chunked_hiding,
        ),
        smuggle(
            "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
            &chunked_hiding,
        ),
        // Duplicate and comma-joined Content-Length.
        smuggle(
            "Content-Length: 4\r\nContent-Length: 60\r\n",
            &format!("abcd{HIDDEN}"),
        ),
        smuggle("Content-Length: 4, 60\r\n", &format!("abcd{HIDDEN}")),
        // TE variants and obfuscations.
        smuggle("Transfer-Encoding: xchunked\r\n", &chunked_hiding),
        smuggle("Transfer-Encoding: chunked, identity\r\n", &chunked_hiding),
        smuggle("Transfer-Encoding : chunked\r\n", &chunked_hiding),
        smuggle(
            "Transfer-Encoding:\tchunked\r\nTransfer-Encoding: identity\r\n",
            &chunked_hiding,
        ),
        // obs-fold.
        smuggle(
            "Transfer-Encoding: identity\r\n chunked\r\n",
            &chunked_hiding,
        ),
        // Chunk-size and extension tricks.
        smuggle(
            "Transfer-Encoding: chunked\r\n",
            &format!("0x5\r\nhello\r\n0\r\n\r\n{HIDDEN}"),
        ),
        smuggle(
            "Transfer-Encoding: chunked\r\n",
            &format!("5 ;ext=\"a\r\nb\"\r\nhello\r\n0\r\n\r\n{HIDDEN}"),
        ),
        smuggle(
            "Transfer-Encoding: chunked\r\n",
            &format!("ffffffffffffffffff1\r\nhello\r\n0\r\n\r\n{HIDDEN}"),
        ),
        smuggle(
            "Transfer-Encoding: chunked\r\n",
            &format!("-5\r\nhello\r\n0\r\n\r\n{HIDDEN}"),
        ),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let r = gw.raw(bytes).await;
        let text = &r.text;
        assert!(!text.contains("smuggled\",\"body_len"), "case {i}: {text}");
        no_smuggled(&gw);
    }
    // Bare LF line endings are one request, framed consistently.
    let lf =
        format!("GET /v1/reports/1 HTTP/1.1\nHost: gw\nX-Api-Key: {ACME}\nConnection: close\n\n");
    let before = gw.upstream.seen().len();
    gw.raw(lf.as_bytes()).await;
    assert!(gw.upstream.seen().len() <= before + 1);
    no_smuggled(&gw);
    trail_verifies(gw, &dir).await;
}

#[tokio::test]
async fn pipelined_requests_behind_a_denied_one_are_each_decided() {
    let dir = temp_dir("pipeline");
    let gw = gateway(&dir, "").await;
    let both = format!(
        "GET /internal/x HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\n\r\nGET /v1/reports/9 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"
    );
    let r = gw.raw(both.as_bytes()).await;
    assert!(r.text.starts_with("HTTP/1.1 403"), "{}", r.text);
    assert!(
        r.text.contains("HTTP/1.1 401"),
        "the second request has no key of its own: {}",
        r.text
    );
    assert!(gw.upstream.seen().is_empty());
    let report = trail_verifies(gw, &dir).await;
    assert!(report.records >= 3, "startup + both requests");
}

#[tokio::test]
async fn expect_100_continue_on_a_denied_request_is_answered_without_reading_the_body() {
    let dir = temp_dir("expect");
    let gw = gateway(&dir, "").await;
    let mut s = TcpStream::connect(gw.app.addr()).await.expect("connect");
    s.write_all(b"POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered without the body")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(gw.upstream.seen().is_empty());
    drop(s);
    trail_verifies(gw, &dir).await;
}

// --- header abuse -----------------------------------------------------------------------

#[tokio::test]
async fn header_abuse_is_refused_or_neutralised() {
    let dir = temp_dir("headers");
    let gw = gateway(&dir, "").await;
    // CR/LF injection in a header value: the parser refuses the request.
    let inj = format!(
        "GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\nX-A: a\rX-Kwanus-Partner: umbrella\r\nConnection: close\r\n\r\n"
    );
    let r = gw.raw(inj.as_bytes()).await;
    assert!(r.status() == 400 || r.text.is_empty(), "{}", r.text);
    // Too many headers: 431 (the parser's), never forwarded.
    let mut many = format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("Connection: close\r\n\r\n");
    let r = gw.raw(many.as_bytes()).await;
    assert_eq!(r.status(), 431, "{}", r.text);
    // A huge header value: 431.
    let big = format!(
        "GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(gw.raw(big.as_bytes()).await.status(), 431);
    // Spoofed identity and forwarding headers, and hop-by-hop tricks.
    let r = gw
        .send(
            "GET",
            "/v1/reports/1",
            &[
                ("x-api-key", ACME),
                ("x-kwanus-partner", "umbrella"),
                ("x-kwanus-tier", "3"),
                ("x-forwarded-for", "10.0.0.1"),
                ("x-forwarded-host", "evil.example"),
                ("host", "evil.example"),
                (
                    "connection",
                    "x-kwanus-partner, x-forwarded-for, x-request-id",
                ),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    let h = gw.upstream.last().headers;
    assert_eq!(h["x-kwanus-partner"], "acme");
    assert_eq!(h["x-kwanus-tier"], "1");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["host"], gw.upstream.addr.to_string());
    assert!(
        h.get("x-request-id").is_some(),
        "a client cannot drop the gateway's headers"
    );
    assert_eq!(gw.upstream.seen().len(), 1);
    trail_verifies(gw, &dir).await;
}

// --- upgrades --------------------------------------------------------------------------

#[tokio::test]
async fn upgrades_are_never_passed_to_the_upstream() {
    let dir = temp_dir("upgrade");
    let gw = gateway(&dir, "").await;
    for (upgrade, extra) in [
        (
            "websocket",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        ),
        ("h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"),
    ] {
        let req = format!(
            "GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\nConnection: Upgrade, close\r\nUpgrade: {upgrade}\r\n{extra}\r\n"
        );
        let r = gw.raw(req.as_bytes()).await;
        assert!(!r.text.starts_with("HTTP/1.1 101"), "{}", r.text);
        let h = gw.upstream.last().headers;
        assert!(
            h.get("upgrade").is_none() && h.get("connection").is_none(),
            "{h:?}"
        );
        assert!(h.get("http2-settings").is_none(), "{h:?}");
    }
    trail_verifies(gw, &dir).await;
}

// --- resource exhaustion ---------------------------------------------------------------

#[tokio::test]
async fn slow_heads_slow_bodies_and_idle_connections_are_cut_off() {
    let dir = temp_dir("slow");
    // The upstream may wait longer than the client may pause, so the pause is what ends it.
    let gw = Gateway::start_with(&format!(
        "{}\n[audit]\ndir = {:?}\n",
        FIXTURE.replace("upstream_timeout = \"700ms\"", "upstream_timeout = \"5s\""),
        dir.join("trail").display().to_string()
    ))
    .await;
    let addr = gw.app.addr();
    // Slowloris: a head that never ends (client_header_timeout = 2s).
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
            .await
            .is_ok()
    );
    // Slow body: half a body, then silence (client_body_timeout = 1s in the fixture).
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\nContent-Length: 100\r\n\r\nhalf"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "a stalled body is cut off");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // Idle keep-alive: after one request, an idle connection is closed.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let _ = s.read(&mut buf).await;
    let mut rest = Vec::new();
    let idle = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(idle.is_ok(), "an idle keep-alive connection is closed");
    // The stalled body was streamed, so the upstream saw its start, and never its end.
    assert!(gw.upstream.seen().iter().all(|s| s.body.len() < 100));
    trail_verifies(gw, &dir).await;
}

#[tokio::test]
async fn a_connection_flood_is_shed_beyond_max_connections() {
    let dir = temp_dir("flood");
    let gw = gateway(&dir, "").await;
    let text = format!("{FIXTURE}\n").replace(
        "upstream_timeout = \"700ms\"",
        "upstream_timeout = \"700ms\"\nmax_connections = 8",
    );
    let small = Gateway::start_with(&text).await;
    let addr = small.app.addr();
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\n")
            .await
            .expect("write");
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The ninth is accepted and closed at once.
    let mut extra = TcpStream::connect(addr).await.expect("connect");
    let _ = extra.write_all(&raw_get("/v1/reports/1", ACME)).await;
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok() && buf.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        small.raw(&raw_get("/v1/reports/1", ACME)).await.status(),
        200,
        "served again once others left"
    );
    trail_verifies(gw, &dir).await;
}

// --- credential probing ----------------------------------------------------------------

#[tokio::test]
async fn credential_probes_all_read_the_same() {
    let dir = temp_dir("probe");
    let gw = gateway(&dir, "").await;
    let mut bodies = std::collections::BTreeSet::new();
    for key in [
        "",
        "kwp_",
        "kwp_test_acme_0123456789abcdef012",
        "kwp_test_acme_0123456789abcdef01234",
        ACME_EXPIRED,
        ACME_REVOKED,
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhY21lIn0.",
    ] {
        let r = gw
            .send("GET", "/v1/reports/1", &[("x-api-key", key)], "")
            .await;
        assert_eq!(r.status, 401);
        let mut j = r.json();
        j["request_id"] = serde_json::Value::Null;
        bodies.insert(j.to_string());
    }
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert!(gw.upstream.seen().is_empty());
    trail_verifies(gw, &dir).await;
}
