//! The request path in-process: `GatewayService` called directly with an in-memory request,
//! no sockets — for the phases where sockets add nothing (every refusal before forwarding).

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::service::Service as _;
use kwanus_gateway::config::{self, Overrides};
use kwanus_gateway::proxy::{ConnInfo, GatewayService, Proto};
use kwanus_gateway::state::State;
use kwanus_gateway::state::unauthenticated::UnauthenticatedLimiter;

use crate::support::*;

/// A service over the fixture (upstreams on closed ports: nothing here forwards) and its
/// outcome recorder.
async fn service() -> (GatewayService, Arc<Recorder>) {
    let down = closed_port().await;
    let upstream = Upstream::start().await;
    let mut text = render(FIXTURE, &upstream, down);
    text.push_str(no_trail_unless(&text));
    let snap = config::from_str(&text, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    let recorder = Arc::new(Recorder::default());
    let state = State::new(&snap.state).expect("state");
    let limiter = Arc::new(UnauthenticatedLimiter::new(snap.limits.unauthenticated));
    let shared = Arc::new(arc_swap::ArcSwap::from_pointee(snap));
    let conn = ConnInfo::new(
        "127.0.0.1:40000".parse().expect("addr"),
        Proto::Http,
        None,
        0,
    );
    let svc = GatewayService::new(
        shared,
        recorder.clone(),
        state,
        limiter,
        Default::default(),
        conn,
    );
    (svc, recorder)
}

async fn call(svc: &GatewayService, req: Request<Full<Bytes>>) -> (u16, serde_json::Value) {
    let rsp = svc.call(req).await.expect("infallible");
    let status = rsp.status().as_u16();
    let body = rsp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

fn get(path: &str, key: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::get(path).header("host", "gw.test");
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.body(Full::new(Bytes::new())).expect("request")
}

#[tokio::test]
async fn every_refusal_before_forwarding_in_process() {
    let (svc, recorder) = service().await;
    let cases: [(Request<Full<Bytes>>, u16, &str, &str); 7] = [
        (
            get("/v1/reports/..%2f", Some(ACME)),
            400,
            "bad_request",
            "encoded_slash",
        ),
        (
            Request::get("/v1/reports/1")
                .header("x-api-key", ACME)
                .body(Full::new(Bytes::new()))
                .expect("request"),
            400,
            "bad_request",
            "bad_host",
        ),
        (
            get("/internal/x", Some(ACME)),
            403,
            "forbidden_route",
            "forbidden_prefix",
        ),
        (
            get("/v1/reports/1", None),
            401,
            "invalid_credentials",
            "key_missing",
        ),
        (
            get("/v1/nothing", Some(ACME)),
            404,
            "route_not_found",
            "no_matching_path",
        ),
        (
            get("/v1/reports/1", Some(OLDCO)),
            403,
            "partner_revoked",
            "stage_end_of_support",
        ),
        (
            Request::post("/v1/workflows/x/runs")
                .header("host", "gw.test")
                .header("x-api-key", GLOBEX)
                .body(Full::new(Bytes::from_static(b"{}")))
                .expect("request"),
            428,
            "idempotency_key_required",
            "idempotency_key_missing",
        ),
    ];
    let mut expected = Vec::new();
    for (req, status, code, reason) in cases {
        let (got, problem) = call(&svc, req).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{problem}"
        );
        expected.push(reason);
    }
    let reasons: Vec<&str> = recorder.all().iter().map(|o| o.reason).collect();
    assert_eq!(reasons, expected);
}
