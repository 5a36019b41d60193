//! Forwarding: the exact path, header rules both ways, bodies, limits and upstream failures.

use std::time::Duration;

use crate::support::*;
use kwanus_gateway::outcome::Decision;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn the_normalised_path_is_forwarded_byte_for_byte_with_the_query_unchanged() {
    let gw = Gateway::start().await;
    let cases = [
        ("/v1/reports/42", "/v1/reports/42"),
        ("//v1///reports//42", "/v1/reports/42"),
        ("/v1/x/../reports/./42", "/v1/reports/42"),
        ("/v1/%72eports/%34%32", "/v1/reports/42"),
        ("/v1/reports/caf%c3%a9", "/v1/reports/caf%C3%A9"),
        ("/v1/reports/a%3fb", "/v1/reports/a%3Fb"),
        (
            "/v1/reports/42?b=2&a=%2F&c=..%2f#",
            "/v1/reports/42?b=2&a=%2F&c=..%2f",
        ),
        ("/v1/reports?q=%20x+y&&z", "/v1/reports?q=%20x+y&&z"),
    ];
    for (sent, want) in cases {
        let r = gw.raw(&raw_get(sent, ACME)).await;
        assert_eq!(r.status(), 200, "{sent}: {}", r.text);
        assert_eq!(gw.upstream.last().target, want, "{sent}");
    }
    // Absolute-form targets are authorised and forwarded by their path too.
    let r = gw
        .raw(&raw_get("http://gw.example/v1//reports/7?x=1", ACME))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(gw.upstream.last().target, "/v1/reports/7?x=1");
}

#[tokio::test]
async fn request_headers_are_stripped_and_added() {
    let gw = Gateway::start().await;
    let auth = format!("Bearer {GLOBEX}");
    let headers = [
        ("authorization", auth.as_str()),
        ("x-kwanus-partner", "umbrella"),
        ("X-Kwanus-Tier", "3"),
        ("x-kwanus-anything", "spoof"),
        ("x-forwarded-for", "10.9.9.9"),
        ("forwarded", "for=10.9.9.9"),
        ("x-real-ip", "10.9.9.9"),
        ("x-request-id", "client-chosen"),
        (
            "connection",
            "keep-alive, x-secret-hop, x-request-id, x-kwanus-partner",
        ),
        ("x-secret-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("proxy-authorization", "Basic Zm9vOmJhcg=="),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ),
        ("accept", "application/json"),
    ];
    // Two credentials are ambiguous and refused before anything is forwarded.
    let mut both = headers.to_vec();
    both.push(("x-api-key", "should-never-travel"));
    assert_eq!(gw.send("GET", "/v1/reports/1", &both, "").await.status, 401);
    assert!(gw.upstream.seen().is_empty());

    let r = gw.send("GET", "/v1/reports/1", &headers, "").await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = gw.upstream.last();
    let h = &seen.headers;
    let get = |n: &str| h.get(n).map(|v| v.to_str().expect("ascii").to_owned());
    for gone in [
        "authorization",
        "x-api-key",
        "x-kwanus-anything",
        "forwarded",
        "x-real-ip",
        "x-secret-hop",
        "keep-alive",
        "proxy-authorization",
    ] {
        assert_eq!(get(gone), None, "{gone} must not reach the upstream");
    }
    assert_eq!(get("x-kwanus-partner").as_deref(), Some("globex"));
    assert_eq!(get("x-kwanus-tier").as_deref(), Some("2"));
    assert_eq!(get("x-kwanus-permission").as_deref(), Some("reports:read"));
    assert_eq!(get("x-kwanus-route").as_deref(), Some("get-report"));
    assert_eq!(get("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(get("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(get("host"), Some(gw.upstream.addr.to_string()));
    assert_eq!(
        get("traceparent").as_deref(),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
    assert_eq!(get("accept").as_deref(), Some("application/json"));
    assert_eq!(h.get_all("x-kwanus-partner").iter().count(), 1);
    // The request id is the gateway's, the same upstream, in the response and in the outcome.
    let rid = get("x-request-id").expect("x-request-id forwarded");
    assert_ne!(rid, "client-chosen");
    assert_eq!(r.header("x-request-id"), Some(rid.clone()));
    assert_eq!(
        gw.outcomes.all().last().map(|o| o.request_id.clone()),
        Some(rid)
    );
}

#[tokio::test]
async fn x_api_key_is_stripped_and_foreign_authorization_kept() {
    let gw = Gateway::start().await;
    let r = gw
        .send("GET", "/v1/reports/1", &[("x-api-key", ACME)], "")
        .await;
    assert_eq!(r.status, 200);
    let h = gw.upstream.last().headers;
    assert!(h.get("x-api-key").is_none());
    assert_eq!(h["x-kwanus-partner"], "acme");
}

#[tokio::test]
async fn response_headers_lose_hop_by_hop_and_gain_request_id() {
    let gw = Gateway::start().await;
    let r = gw.get("/v1/reports/1", ACME).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-upstream-hop"),
        None,
        "named in the upstream's Connection"
    );
    let rid = r.header("x-request-id").expect("request id");
    assert_ne!(rid, "upstream-made-this-up");
    assert_eq!(r.json()["upstream"], "ok");
}

#[tokio::test]
async fn head_is_served_by_the_get_route() {
    let gw = Gateway::start().await;
    let r = gw
        .send("HEAD", "/v1/reports/3", &[("x-api-key", ACME)], "")
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let seen = gw.upstream.last();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("HEAD", "/v1/reports/3")
    );
    assert_eq!(gw.outcomes.all()[0].route.as_deref(), Some("get-report"));
}

#[tokio::test]
async fn request_bodies_stream_to_the_upstream() {
    let gw = Gateway::start().await;
    let body = "x".repeat(1000);
    let r = gw
        .send(
            "POST",
            "/v1/insights/query",
            &[("x-api-key", UMBRELLA)],
            &body,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(gw.upstream.last().body.len(), 1000);
    // Chunked, without Content-Length.
    let req = format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    );
    let r = gw.raw(req.as_bytes()).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(&gw.upstream.last().body[..], b"hello world");
}

#[tokio::test]
async fn oversized_bodies_are_413_with_and_without_content_length() {
    let gw = Gateway::start().await;
    let big = "y".repeat(2000);
    let r = gw
        .send(
            "POST",
            "/v1/insights/query",
            &[("x-api-key", UMBRELLA)],
            &big,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (413, "payload_too_large".into())
    );
    assert!(
        gw.upstream.seen().is_empty(),
        "declared too large: never forwarded"
    );

    let mut req = format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {UMBRELLA}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..4 {
        req.push_str(&format!("200\r\n{}\r\n", "z".repeat(512)));
    }
    req.push_str("0\r\n\r\n");
    let r = gw.raw(req.as_bytes()).await;
    assert_eq!(r.status(), 413, "{}", r.text);
    assert_eq!(r.body_json()["code"], "payload_too_large");
    let o = gw.outcomes.all();
    assert_eq!(
        o.iter()
            .filter(|o| o.code == Some("payload_too_large"))
            .count(),
        2
    );
    // Whatever reached the upstream is cut short of the limit.
    assert!(gw.upstream.seen().iter().all(|s| s.body.len() <= 1024));
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let gw = Gateway::start().await;
    let big = "v".repeat(5000);
    let r = gw
        .send(
            "GET",
            "/v1/reports/1",
            &[("x-api-key", ACME), ("x-big", &big)],
            "",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (431, "headers_too_large".into())
    );
    assert!(gw.upstream.seen().is_empty());
}

#[tokio::test]
async fn refused_upstream_is_502_and_slow_upstream_is_504() {
    let gw = Gateway::start().await;
    let r = gw.get("/v1/down", ACME).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (502, "upstream_unavailable".into())
    );
    let r = gw.get("/v1/slow/3000", ACME).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (504, "upstream_timeout".into())
    );
    let o = gw.outcomes.all();
    assert_eq!(o.len(), 2);
    assert_eq!(
        (o[0].decision, o[0].reason),
        (Decision::Allow, "upstream_connect_failed")
    );
    assert_eq!(o[0].upstream.as_deref(), Some("down"));
    assert_eq!(
        (o[1].decision, o[1].reason),
        (Decision::Allow, "upstream_response_timeout")
    );
    assert_eq!(o[1].status, 504);
}

#[tokio::test]
async fn a_request_the_client_abandons_still_has_one_outcome() {
    let gw = Gateway::start().await;
    let mut s = tokio::net::TcpStream::connect(gw.app.addr())
        .await
        .expect("connect");
    s.write_all(&raw_get("/v1/slow/600", ACME))
        .await
        .expect("write");
    // Wait until the upstream has the request, then hang up.
    for _ in 0..100 {
        if !gw.upstream.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(s);
    let mut outcomes = Vec::new();
    for _ in 0..100 {
        outcomes = gw.outcomes.all();
        if !outcomes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(
        (outcomes[0].status, outcomes[0].reason),
        (499, "client_closed")
    );
    assert_eq!(outcomes[0].decision, Decision::Allow);
    assert_eq!(outcomes[0].partner.as_deref(), Some("acme"));
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    let gw = Gateway::start().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let req = http::Request::get(gw.url("/v1/reports/5"))
        .header("x-api-key", ACME)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let rsp = client.request(req).await.expect("h2c answer");
    assert_eq!(rsp.version(), http::Version::HTTP_2);
    assert_eq!(rsp.status(), 200);
    let body = rsp.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("/v1/reports/5"));
    assert_eq!(gw.upstream.last().headers["x-kwanus-partner"], "acme");
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let gw = Gateway::start().await;
    let addr = gw.app.addr();
    let in_flight = tokio::spawn(async move { raw(addr, &raw_get("/v1/slow/400", ACME)).await });
    for _ in 0..100 {
        if !gw.upstream.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outcomes = gw.outcomes.clone();
    gw.app.shutdown().await;
    let r = in_flight.await.expect("join");
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(outcomes.all().len(), 1);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_cut_off() {
    use tokio::io::AsyncReadExt;
    let gw = Gateway::start().await;
    let mut s = tokio::net::TcpStream::connect(gw.app.addr())
        .await
        .expect("connect");
    s.write_all(b"GET /v1/reports/1 HTTP/1.1\r\nHost: gw\r\nX-Slow: ")
        .await
        .expect("write");
    // client_header_timeout is 2s in the fixture; the connection must end well before 10s.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after 10s");
    assert!(gw.upstream.seen().is_empty());
}

#[tokio::test]
async fn a_reload_keeps_warm_upstream_connections_for_unchanged_upstreams() {
    let raw_up = RawUpstream::start(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let dir = std::env::temp_dir().join(format!("kwanus-warm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("gateway.toml");
    let gw = Gateway::start_file(&raw_up.fixture(""), &path, false).await;
    for _ in 0..3 {
        assert_eq!(gw.get("/v1/raw", ACME).await.status, 200);
    }
    let before = raw_up.connections();
    // A reload that changes something else: the `raw` upstream is the same.
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace("drain_timeout = \"5s\"", "drain_timeout = \"6s\""),
    )
    .expect("write");
    let report = gw.app.reload(kwanus_gateway::audit::ConfigTrigger::Admin);
    assert_eq!(
        report.result.as_ref().ok(),
        Some(&kwanus_gateway::reload::Reloaded::Swapped)
    );
    for _ in 0..3 {
        assert_eq!(gw.get("/v1/raw", ACME).await.status, 200);
    }
    assert_eq!(
        raw_up.connections(),
        before,
        "the reloaded snapshot reused the warm pool"
    );
}
