//! The upstream connection pool each worker owns: warm connections reused, connections the
//! upstream closed never used, HTTP/2 by prior knowledge shared, an untrusted connection never
//! reused (that one is in `security.rs`).

use std::time::Duration;

use crate::support::*;

/// Keep-alive, without `Connection: close`.
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[tokio::test]
async fn sequential_requests_share_one_warm_upstream_connection() {
    let raw_up = RawUpstream::start(OK).await;
    let gw = Gateway::start_workers(&raw_up.fixture(""), 1).await;
    for _ in 0..5 {
        let r = gw.get("/v1/raw", ACME).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(&r.body[..], b"ok");
    }
    assert_eq!(raw_up.connections(), 1);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_never_used() {
    // The upstream closes every connection after its answer, without saying so beforehand.
    let raw_up = RawUpstream::script(&[(OK, 0)], true).await;
    let gw = Gateway::start_workers(&raw_up.fixture(""), 1).await;
    for i in 1..=3 {
        let r = gw.get("/v1/raw", ACME).await;
        assert_eq!(r.status, 200, "request {i}: {r:?}");
        // Time for the close to arrive: the next request must not be sent on that connection.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(raw_up.connections(), 3);
}

/// The fixture with its `api` upstream spoken to over HTTP/2 by prior knowledge.
fn with_h2() -> String {
    let with_h2 = FIXTURE.replacen(
        "url = \"UPSTREAM\"\n",
        "url = \"UPSTREAM\"\nhttp2 = true\n",
        1,
    );
    assert_ne!(with_h2, FIXTURE, "the fixture's api upstream");
    with_h2
}

#[tokio::test]
async fn requests_arriving_together_share_one_new_http2_connection() {
    let gw = Gateway::start_workers(&with_h2(), 1).await;
    all_answered_at_once(&gw, 16).await;
    assert_eq!(gw.upstream.connections(), 1);
}

#[tokio::test]
async fn an_http2_upstream_by_prior_knowledge_gets_http2_requests() {
    let gw = Gateway::start_workers(&with_h2(), 1).await;
    for i in 0..3 {
        let r = gw.get(&format!("/v1/reports/{i}"), ACME).await;
        assert_eq!(r.status, 200, "{r:?}");
        let seen = gw.upstream.last();
        assert_eq!(seen.version, http::Version::HTTP_2);
        assert_eq!(seen.target, format!("/v1/reports/{i}"));
    }
    // Concurrent requests are answered over it too.
    all_answered_at_once(&gw, 8).await;
    assert_eq!(gw.upstream.last().version, http::Version::HTTP_2);
}

/// Sends `n` GETs at once, each on its own client connection; every one must be answered 200.
async fn all_answered_at_once(gw: &Gateway, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let addr = gw.app.addr();
        set.spawn(async move { raw(addr, &raw_get(&format!("/v1/reports/c{i}"), ACME)).await });
    }
    while let Some(r) = set.join_next().await {
        let r = r.expect("task");
        assert_eq!(r.status(), 200, "{}", r.text);
    }
}
