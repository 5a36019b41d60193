//! The standing security suite, by attack class. Each test asserts what the upstream did and
//! did not receive, and that the audit trail still verifies.

use std::path::Path;
use std::time::Duration;

use crate::support::*;
use kwanus_gateway::audit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// The status of one bodiless request over a fresh h2c connection (raw h2 frames, so the
/// request may carry a `host` header of its own).
async fn h2_status(gw: &Gateway, req: http::request::Builder) -> u16 {
    let tcp = TcpStream::connect(gw.app.addr()).await.expect("connect");
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2c handshake");
    tokio::spawn(conn);
    let mut client = client.ready().await.expect("ready");
    let (rsp, _) = client
        .send_request(req.body(()).expect("request"), true)
        .expect("send");
    rsp.await.expect("response").status().as_u16()
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
    let open = |n: f64| {
        let small = &small;
        async move {
            sample(
                &small.app.metrics().render(),
                "kwanus_gateway_connections_active",
            ) == Some(n)
        }
    };
    assert!(eventually(Duration::from_secs(5), || open(8.0)).await);
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
    assert!(eventually(Duration::from_secs(5), || open(0.0)).await);
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

// --- connection exhaustion before a request -------------------------------------------

#[tokio::test]
async fn silent_and_preface_only_connections_are_closed_after_the_header_timeout() {
    // client_header_timeout = 2s; four slots, all taken by sockets that never send a request.
    let gw = Gateway::start_with(&FIXTURE.replace(
        "upstream_timeout = \"700ms\"",
        "upstream_timeout = \"700ms\"\nmax_connections = 4",
    ))
    .await;
    let addr = gw.app.addr();
    let mut held = Vec::new();
    for opening in [
        &b""[..],
        b"",
        b"PRI * HTTP/2.0\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(opening).await.expect("write");
        held.push(s);
    }
    for (i, s) in held.iter_mut().enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(8)).await,
            "silent connection {i} is still open"
        );
    }
    // The slots are free again: partners are served.
    let free = || async {
        sample(
            &gw.app.metrics().render(),
            "kwanus_gateway_connections_active",
        ) == Some(0.0)
    };
    assert!(eventually(Duration::from_secs(5), free).await);
    assert_eq!(gw.raw(&raw_get("/v1/reports/1", ACME)).await.status(), 200);
    assert!(
        gw.outcomes.all().len() == 1,
        "silent sockets make no records"
    );
}

#[tokio::test]
async fn the_admin_listener_has_its_own_small_cap_and_header_timeout() {
    let gw = Gateway::start_with(&format!(
        "{FIXTURE}\n[admin]\nlisten = \"127.0.0.1:0\"\nmax_connections = 3\n"
    ))
    .await;
    let admin = gw.app.admin_addr().expect("admin");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(admin).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Over the cap: accepted and closed at once, without an answer.
    let mut extra = TcpStream::connect(admin).await.expect("connect");
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let shed = tokio::time::timeout(Duration::from_secs(1), extra.read_to_end(&mut buf)).await;
    assert!(shed.is_ok() && buf.is_empty(), "{buf:?}");
    // The partner port does not notice.
    assert_eq!(gw.raw(&raw_get("/v1/reports/1", ACME)).await.status(), 200);
    // Silent admin sockets are closed after client_header_timeout (2s).
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(8)).await);
    }
    assert_eq!(gw.admin("GET", "/healthz", None).await.status, 200);
}

#[test]
fn admin_sockets_cannot_exhaust_the_file_descriptors_of_the_partner_port() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = temp_dir("admin-fds");
    let upstream = rt.block_on(Upstream::start());
    let down = rt.block_on(closed_port());
    let config = dir.join("gateway.toml");
    let text = render(
        &format!("{FIXTURE}\n[admin]\nlisten = \"127.0.0.1:0\"\n"),
        &upstream,
        down,
    );
    std::fs::write(&config, text).expect("write config");
    // 256 descriptors in all; 400 idle admin sockets would take every one of them.
    let served = Served::start_with_nofile(&config, 256);
    let admin = served.admin.expect("admin address");
    rt.block_on(async {
        let mut idle = Vec::new();
        for _ in 0..400 {
            match TcpStream::connect(admin).await {
                Ok(s) => idle.push(s),
                Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = raw(served.addr, &raw_get("/v1/reports/1", ACME)).await;
        assert_eq!(r.status(), 200, "{}", r.text);
        drop(idle);
    });
}

// --- Host and request-line ambiguity --------------------------------------------------

#[tokio::test]
async fn host_must_be_one_valid_authority() {
    let dir = temp_dir("host");
    let gw = gateway(&dir, "").await;
    let key = format!("X-Api-Key: {ACME}\r\nConnection: close\r\n");
    let refused = [
        format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nHost: evil\r\n{key}\r\n"),
        format!("GET /v1/reports/1 HTTP/1.1\r\n{key}\r\n"),
        format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw.test/internal?x=1\r\n{key}\r\n"),
        format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw test\r\n{key}\r\n"),
        format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw\x01x\r\n{key}\r\n"),
        format!("GET /v1/reports/1 HTTP/1.1\r\nHost: user@gw\r\n{key}\r\n"),
        format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw:80x\r\n{key}\r\n"),
        format!("GET /v1/reports/1 HTTP/1.1\r\nHost: \r\n{key}\r\n"),
        format!("GET http://user:pw@gw/v1/reports/1 HTTP/1.1\r\nHost: gw\r\n{key}\r\n"),
    ];
    for (i, req) in refused.iter().enumerate() {
        let r = gw.raw(req.as_bytes()).await;
        assert_eq!(r.status(), 400, "case {i}: {}", r.text);
        if r.text.contains("problem+json") {
            assert_eq!(r.body_json()["code"], "bad_request", "case {i}");
        }
    }
    assert!(gw.upstream.seen().is_empty(), "{:?}", gw.upstream.seen());
    let reasons: Vec<_> = gw.outcomes.all().iter().map(|o| o.reason).collect();
    assert!(
        reasons.iter().filter(|r| **r == "bad_host").count() >= 7,
        "{reasons:?}"
    );
    // Valid forms are served, and X-Forwarded-Host carries the validated authority.
    for (host, version) in [
        ("gw.test:8080", "1.1"),
        ("[::1]:80", "1.1"),
        ("127.0.0.1", "1.1"),
        ("", "1.0"),
    ] {
        let host_line = if host.is_empty() {
            String::new()
        } else {
            format!("Host: {host}\r\n")
        };
        let req = format!("GET /v1/reports/1 HTTP/{version}\r\n{host_line}{key}\r\n");
        let r = gw.raw(req.as_bytes()).await;
        assert_eq!(r.status(), 200, "{host}: {}", r.text);
        let seen = gw.upstream.last().headers;
        match host {
            "" => assert!(seen.get("x-forwarded-host").is_none()),
            h => assert_eq!(seen["x-forwarded-host"], h),
        }
    }
    // Absolute form: the target's authority is the host, whatever Host says.
    let r = gw
        .raw(
            format!("GET http://gw.test/v1/reports/1 HTTP/1.1\r\nHost: other\r\n{key}\r\n")
                .as_bytes(),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(gw.upstream.last().headers["x-forwarded-host"], "gw.test");
    trail_verifies(gw, &dir).await;
}

#[tokio::test]
async fn an_h2_host_header_must_match_the_authority() {
    let gw = Gateway::start().await;
    let mut status = Vec::new();
    for host in ["evil.example", "gw.test"] {
        let req = http::Request::get("http://gw.test/v1/reports/1")
            .header("host", host)
            .header("x-api-key", ACME);
        status.push(h2_status(&gw, req).await);
    }
    assert_eq!(status, [400, 200]);
    assert_eq!(gw.upstream.seen().len(), 1);
    assert_eq!(gw.outcomes.all()[0].reason, "bad_host");
}

// --- spoofable headers ----------------------------------------------------------------

#[tokio::test]
async fn underscore_and_override_headers_never_reach_the_upstream() {
    let gw = Gateway::start().await;
    let r = gw
        .send(
            "GET",
            "/v1/reports/1",
            &[
                ("x-api-key", ACME),
                ("x_kwanus_partner", "umbrella"),
                ("x-kwanus_partner", "umbrella"),
                ("x_forwarded_for", "10.0.0.1"),
                ("some_header", "v"),
                ("x-original-url", "/internal/admin"),
                ("x-rewrite-url", "/internal/admin"),
                ("x-http-method-override", "DELETE"),
                ("x-method-override", "DELETE"),
                ("x-forwarded-prefix", "/internal"),
                ("x-forwarded-host", "evil.example"),
                ("x-kept", "yes"),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    let h = gw.upstream.last().headers;
    for name in h.keys() {
        assert!(!name.as_str().contains('_'), "{name} reached the upstream");
    }
    for name in [
        "x-original-url",
        "x-rewrite-url",
        "x-http-method-override",
        "x-method-override",
        "x-forwarded-prefix",
    ] {
        assert!(h.get(name).is_none(), "{name} reached the upstream");
    }
    assert_ne!(h["x-forwarded-host"], "evil.example");
    assert_eq!(h["x-kwanus-partner"], "acme");
    assert_eq!(h["x-kept"], "yes");
}

// --- request bodies and framing -------------------------------------------------------

#[tokio::test]
async fn bodies_on_get_and_head_are_refused() {
    let gw = Gateway::start().await;
    let key = format!("X-Api-Key: {ACME}\r\nConnection: close\r\n");
    for req in [
        format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\n{key}Content-Length: 5\r\n\r\nhello"),
        format!("HEAD /v1/reports/1 HTTP/1.1\r\nHost: gw\r\n{key}Content-Length: 5\r\n\r\nhello"),
        format!(
            "GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\n{key}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        ),
    ] {
        let r = gw.raw(req.as_bytes()).await;
        assert_eq!(r.status(), 400, "{}", r.text);
    }
    assert!(gw.upstream.seen().is_empty());
    assert!(
        gw.outcomes
            .all()
            .iter()
            .all(|o| o.reason == "body_not_allowed" && o.code == Some("bad_request")),
        "{:?}",
        gw.outcomes.all()
    );
    // An empty body is no body.
    let r = gw
        .raw(
            format!("GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\n{key}Content-Length: 0\r\n\r\n")
                .as_bytes(),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text);
}

#[tokio::test]
async fn malformed_chunked_bodies_are_the_clients_error_not_the_upstreams() {
    let gw = Gateway::start_with(&format!("{FIXTURE}\n[admin]\nlisten = \"127.0.0.1:0\"\n")).await;
    let head = format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\nConnection: close\r\n"
    );
    let cases = [
        ("Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", "5\r\nhelloXX0\r\n\r\n"),
        (
            "Transfer-Encoding: chunked\r\n",
            "fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "Transfer-Encoding: chunked, chunked\r\n",
            "5\r\nhello\r\n0\r\n\r\n",
        ),
    ];
    for (i, (te, body)) in cases.iter().enumerate() {
        let r = gw.raw(format!("{head}{te}\r\n{body}").as_bytes()).await;
        assert_eq!(r.status(), 400, "case {i}: {}", r.text);
        if r.text.contains("problem+json") {
            assert_eq!(r.body_json()["code"], "bad_request", "case {i}");
        }
    }
    let outcomes = gw.outcomes.all();
    assert!(
        outcomes
            .iter()
            .all(|o| o.reason == "malformed_body" && o.status == 400),
        "{outcomes:?}"
    );
    // `chunked, chunked` is refused before anything is forwarded.
    assert!(gw.upstream.seen().iter().all(|s| s.body.is_empty()));
    let metrics = gw.admin("GET", "/metrics", None).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        !text.contains("kwanus_gateway_upstream_errors_total{"),
        "{text}"
    );
}

// --- audit trail flooding -------------------------------------------------------------

#[tokio::test]
async fn oversized_client_fields_are_capped_in_the_record() {
    let dir = temp_dir("oversized");
    let gw = gateway(&dir, "").await;
    let method = "A".repeat(15_000);
    let r = gw
        .raw(
            format!("{method} /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
    assert!(r.status() >= 400, "{}", r.text);
    let path = format!("/v1/{}", "p\"\\".repeat(1_300));
    let r = gw
        .raw(format!("GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").as_bytes())
        .await;
    assert!(r.status() >= 400, "{}", r.text);
    let r = gw
        .send(
            "POST",
            "/v1/workflows/x/runs",
            &[
                ("x-api-key", GLOBEX),
                // 255 backslashes: a valid key, 510 bytes once JSON-escaped.
                ("idempotency-key", &"\\".repeat(255)),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    gw.app.shutdown().await;
    audit::verify(&[dir.join("trail")], None).unwrap_or_else(|b| panic!("{b}"));
    let mut truncated = 0;
    for (_, path) in audit::trail_files(&dir.join("trail")).expect("trail") {
        for line in trail_text(&path).lines() {
            assert!(line.len() <= 4096, "{} bytes: {}", line.len(), &line[..200]);
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            if v["truncated"] == true {
                truncated += 1;
            }
        }
    }
    assert!(truncated >= 3, "{truncated} records marked truncated");
}

#[tokio::test]
async fn an_unauthenticated_flood_is_limited_per_address_and_summarised() {
    let dir = temp_dir("unauth");
    // The defaults are 50/s with a burst of 100; smaller here so the test stays short.
    let text = FIXTURE.replace(
        "upstream_timeout = \"700ms\"",
        "upstream_timeout = \"700ms\"\nunauthenticated_rate_per_second = 1\nunauthenticated_burst = 10",
    );
    let gw = Gateway::start_with(&format!(
        "{text}\n[admin]\nlisten = \"127.0.0.1:0\"\n[audit]\ndir = {:?}\ndurability = \"strict\"\n",
        dir.join("trail2").display().to_string()
    ))
    .await;
    let mut codes = Vec::new();
    for i in 0..60 {
        let r = match i % 3 {
            0 => gw.get("/v1/reports/1", "kwp_wrong_key_0123456789").await,
            1 => gw.send("GET", "/v1/reports/1", &[], "").await,
            _ => gw.get("/internal/x", ACME).await,
        };
        codes.push(r.status.as_u16());
        if r.status == 429 {
            assert_eq!(r.code(), "rate_limited");
            assert!(r.header("retry-after").is_some());
        }
    }
    let limited = codes.iter().filter(|c| **c == 429).count();
    assert!((45..=50).contains(&limited), "{codes:?}");
    // A partner with a valid key from the same address is not affected.
    assert_eq!(gw.get("/v1/reports/1", ACME).await.status, 200);
    let metrics = gw.admin("GET", "/metrics", None).await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        text.contains(&format!(
            "kwanus_gateway_unauthenticated_limited_total {limited}"
        )),
        "{text}"
    );
    gw.app.shutdown().await;
    audit::verify(&[dir.join("trail2")], None).unwrap_or_else(|b| panic!("{b}"));
    let mut requests = 0;
    let mut summarised = 0;
    for (_, path) in audit::trail_files(&dir.join("trail2")).expect("trail") {
        for line in trail_text(&path).lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            match v["kind"].as_str() {
                Some("request") => requests += 1,
                Some("unauthenticated_summary") => {
                    assert_eq!(v["client"], "127.0.0.1");
                    assert!(v["first"].is_string() && v["last"].is_string(), "{v}");
                    assert!(v["codes"]["invalid_credentials"].as_u64() > Some(0), "{v}");
                    assert!(v["codes"]["forbidden_route"].as_u64() > Some(0), "{v}");
                    summarised += v["count"].as_u64().expect("count");
                }
                _ => {}
            }
        }
    }
    assert_eq!(summarised, limited as u64);
    assert_eq!(requests, 60 - limited + 1);
}

// --- hostile or broken upstream responses ---------------------------------------------

#[tokio::test]
async fn an_upstream_response_with_content_length_and_transfer_encoding_is_refused() {
    let raw_up = RawUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    let gw = Gateway::start_with(&raw_up.fixture("")).await;
    for _ in 0..2 {
        let r = gw.get("/v1/raw", ACME).await;
        assert_eq!(r.status, 502);
        assert_eq!(r.code(), "bad_upstream_response");
    }
    // Over HTTP/2 as well.
    let req = http::Request::get("http://gw/v1/raw").header("x-api-key", ACME);
    assert_eq!(h2_status(&gw, req).await, 502);
    // The connection's framing is unknown: it is never reused.
    assert_eq!(raw_up.connections(), 3);
    let o = gw.outcomes.all();
    assert!(
        o.iter().all(|o| o.code == Some("bad_upstream_response")),
        "{o:?}"
    );
}

#[tokio::test]
async fn an_unrequested_switching_protocols_or_other_1xx_is_refused() {
    for response in [
        &b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"[..],
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ] {
        let raw_up = RawUpstream::start(response).await;
        let gw = Gateway::start_with(&raw_up.fixture("")).await;
        let r = gw.get("/v1/raw", ACME).await;
        assert_eq!(r.status, 502);
        assert_eq!(r.code(), "bad_upstream_response");
        let req = http::Request::get("http://gw/v1/raw").header("x-api-key", ACME);
        assert_eq!(h2_status(&gw, req).await, 502);
    }
}

#[tokio::test]
async fn upstream_identity_headers_are_removed() {
    let raw_up = RawUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: nginx/1.2.3\r\nX-Powered-By: PHP/5.4\r\nX-AspNet-Version: 4.0\r\nX-AspNetMvc-Version: 5.2\r\nX-Runtime: 0.01\r\nX-Backend-Server: db-7.internal\r\nX-Internal-Trace: abc\r\nX-Kept: yes\r\n\r\nok",
    )
    .await;
    let gw =
        Gateway::start_with(&raw_up.fixture("response_headers_remove = [\"X-Internal-Trace\"]"))
            .await;
    let r = gw.get("/v1/raw", ACME).await;
    assert_eq!(r.status, 200);
    for name in [
        "server",
        "x-powered-by",
        "x-aspnet-version",
        "x-aspnetmvc-version",
        "x-runtime",
        "x-backend-server",
        "x-internal-trace",
    ] {
        assert!(r.headers.get(name).is_none(), "{name}: {:?}", r.headers);
    }
    assert_eq!(r.header("x-kept").as_deref(), Some("yes"));
}
