//! `demo`: a built-in sample KWANUS upstream on loopback and the gateway in front of it.
//!
//! The demo keys below are fixed and public: they guard only a loopback demo.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// The shipped demo configuration.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.toml");

/// The request schemas the demo configuration names, relative to its folder.
pub const DEMO_SCHEMAS: [(&str, &str); 3] = [
    (
        "schemas/publish-report.json",
        include_str!("../config/schemas/publish-report.json"),
    ),
    (
        "schemas/run-workflow.json",
        include_str!("../config/schemas/run-workflow.json"),
    ),
    (
        "schemas/query-insights.json",
        include_str!("../config/schemas/query-insights.json"),
    ),
];

/// The governance bodies that sign the demo's approved change.
const DEMO_SIGNERS: [crate::governance::Body; 3] = [
    crate::governance::Body::Tsc,
    crate::governance::Body::Sco,
    crate::governance::Body::Cgb,
];

/// A demo body's signing key: public, derived from the body's name (like the demo keys, it
/// guards only the loopback demo).
pub fn demo_body_key(body: crate::governance::Body) -> ed25519_dalek::SigningKey {
    let seed = crate::digest::digest(
        format!("kwanus-gateway demo governance key {}", body.as_str()).as_bytes(),
    );
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// The configuration before the demo's approved change: umbrella without `insights:query`.
pub fn previous_config() -> String {
    DEMO_CONFIG
        .lines()
        .filter(|l| !l.contains("the demo's approved change"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Prepares the demo's folder (the configuration is built in; its schemas and approvals must
/// still be files): the schemas, the configuration and its previous version, the previous one
/// as the approved copy, and the signatures of TSC, SCO and CGB on the change. Returns the
/// folder to load the configuration against.
pub fn prepare() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("kwanus-gateway-demo-{}", std::process::id()));
    for (name, text) in DEMO_SCHEMAS {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    let previous = previous_config();
    std::fs::write(dir.join("demo.toml"), DEMO_CONFIG)?;
    std::fs::write(dir.join("previous.toml"), &previous)?;
    let approvals = dir.join("approvals");
    let model = |text: &str| {
        let demo = crate::config::Overrides {
            demo: true,
            ..crate::config::Overrides::default()
        };
        crate::config::from_str_in(text, &demo, Some(&dir))
            .map(|s| (*s.model).clone())
            .map_err(|e| std::io::Error::other(e.to_string()))
    };
    let (old, new) = (model(&previous)?, model(DEMO_CONFIG)?);
    crate::approvals::write_approved(&approvals, &previous, &old, &[])?;
    let generation = crate::approvals::generation(&approvals).map_err(std::io::Error::other)?;
    let (subject, diff) = crate::governance::approval::Subject::of(Some(&old), &new, generation);
    for body in DEMO_SIGNERS {
        let approval = subject.sign(body, &demo_body_key(body), &diff);
        crate::approvals::write_approval(&approvals, &approval)?;
    }
    Ok(dir)
}

/// The demo partners: (partner, key, what it shows).
pub const DEMO_KEYS: [(&str, &str, &str); 5] = [
    (
        "acme",
        crate::keygen::DEMO_KEYS[0],
        "tier 1, active, reports:read",
    ),
    (
        "globex",
        crate::keygen::DEMO_KEYS[1],
        "tier 2, active, reports:read + workflows:trigger",
    ),
    (
        "initech",
        crate::keygen::DEMO_KEYS[2],
        "tier 2, deprecation (sunset 2027-06-30)",
    ),
    (
        "umbrella",
        crate::keygen::DEMO_KEYS[3],
        "tier 3, active, reports:read + insights:query",
    ),
    (
        "oldco",
        crate::keygen::DEMO_KEYS[4],
        "tier 1, end_of_support",
    ),
];

/// Starts the sample upstream on `127.0.0.1:0`; returns its address.
pub async fn start_sample_upstream() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service_fn(sample))
                    .await;
            });
        }
    });
    Ok(addr)
}

/// The sample KWANUS API: JSON answers for reports, workflows and insights.
async fn sample(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let partner = req
        .headers()
        .get("x-kwanus-partner")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let path = req.uri().path().to_owned();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, body) = match (req.method(), segs.as_slice()) {
        (&Method::GET | &Method::HEAD, ["v1", "reports"]) => (
            StatusCode::OK,
            r#"{"reports":[{"id":"42","title":"Quarterly grid load"},{"id":"43","title":"Supplier risk"}]}"#.to_owned(),
        ),
        (&Method::GET | &Method::HEAD, ["v1", "reports", id]) => (
            StatusCode::OK,
            // `raw_report_text` is a forbidden data class: the gateway removes it.
            format!(
                r#"{{"id":{},"title":"Report {id}","served_to":{},"raw_report_text":"unredacted source text"}}"#,
                json(id),
                json(&partner)
            ),
        ),
        (&Method::POST, ["v1", "reports"]) => {
            (StatusCode::CREATED, r#"{"id":"44","status":"published"}"#.to_owned())
        }
        (&Method::POST, ["v1", "workflows", name, "runs"]) => (
            StatusCode::ACCEPTED,
            format!(r#"{{"workflow":{},"run":"{}","status":"queued"}}"#, json(name), uuid::Uuid::now_v7()),
        ),
        (&Method::POST, ["v1", "insights", "query"]) => (
            StatusCode::OK,
            r#"{"insights":[{"signal":"demand_spike","confidence":0.87}]}"#.to_owned(),
        ),
        _ => (StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned()),
    };
    let mut rsp = Response::new(Full::new(Bytes::from(body)));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(rsp)
}

fn json(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The text `demo` prints: keys and curl lines that show each decision.
/// Where the demo's pieces are, for its instructions.
pub struct Printed<'a> {
    /// The partner listener.
    pub gateway: SocketAddr,
    /// The admin listener and its token (made for this run).
    pub admin: Option<(SocketAddr, &'a str)>,
    /// The demo's folder (configuration, approvals, the trail in `audit/`).
    pub dir: &'a std::path::Path,
    /// This binary, as the commands printed must name it to run from anywhere.
    pub exe: &'a std::path::Path,
}

/// What the demo prints: the partners and keys, requests to try, where the metrics and the
/// trail are, and commands that run as printed.
pub fn instructions(printed: &Printed<'_>) -> String {
    let Printed {
        gateway,
        admin,
        dir,
        exe,
    } = printed;
    let base = format!("http://{gateway}");
    let key = |p: &str| {
        DEMO_KEYS
            .iter()
            .find(|(id, _, _)| *id == p)
            .map_or("", |(_, k, _)| *k)
    };
    let mut out = format!(
        "kwanus-gateway demo: gateway on {base}\n\nDemo partners and keys (loopback demo only):\n"
    );
    for (id, k, what) in DEMO_KEYS {
        out.push_str(&format!("  {id:<9} {k}   {what}\n"));
    }
    let lines = [
        (
            "200 allow (the upstream's raw_report_text field is removed on the way)",
            format!(
                "curl -i -H 'Authorization: Bearer {}' {base}/v1/reports/42",
                key("acme")
            ),
        ),
        (
            "401 invalid_credentials",
            format!("curl -i {base}/v1/reports/42"),
        ),
        (
            "403 permission_denied",
            format!(
                "curl -i -X POST -H 'X-Api-Key: {}' {base}/v1/reports",
                key("globex")
            ),
        ),
        (
            "403 forbidden_route",
            format!(
                "curl -i -H 'Authorization: Bearer {}' {base}/internal/admin",
                key("acme")
            ),
        ),
        (
            "403 stage_restricted",
            format!(
                "curl -i -X POST -H 'Idempotency-Key: demo-1' -H 'Authorization: Bearer {}' {base}/v1/workflows/nightly/runs",
                key("initech")
            ),
        ),
        (
            "403 tier_insufficient",
            format!(
                "curl -i -X POST -H 'Idempotency-Key: demo-1' -H 'Authorization: Bearer {}' {base}/v1/workflows/nightly/runs",
                key("acme")
            ),
        ),
        (
            "403 partner_revoked",
            format!(
                "curl -i -H 'Authorization: Bearer {}' {base}/v1/reports/42",
                key("oldco")
            ),
        ),
        (
            "202 allow (workflow)",
            format!(
                "curl -i -X POST -H 'Idempotency-Key: demo-1' -H 'Content-Type: application/json' -d '{{\"priority\":\"high\"}}' -H 'Authorization: Bearer {}' {base}/v1/workflows/nightly/runs",
                key("globex")
            ),
        ),
        (
            "422 request_contract_violation (the body fails the route's schema)",
            format!(
                "curl -i -X POST -H 'Idempotency-Key: demo-2' -H 'Content-Type: application/json' -d '{{\"priority\":\"urgent\"}}' -H 'Authorization: Bearer {}' {base}/v1/workflows/nightly/runs",
                key("globex")
            ),
        ),
        (
            "200 allow + Deprecation/Sunset",
            format!(
                "curl -i -H 'Authorization: Bearer {}' {base}/v1/reports/42",
                key("initech")
            ),
        ),
    ];
    out.push_str("\nTry:\n");
    for (what, line) in lines {
        out.push_str(&format!("  # {what}\n  {line}\n"));
    }
    out.push_str(
        "\nGovernance: this configuration is an approved change from the previous one\n  (+ partner umbrella gains insights:query), signed by TSC, SCO and CGB (a majority,\n  CGB included); without those signatures it would not have started. See it with:\n",
    );
    let (exe, dir) = (exe.display(), dir.display());
    out.push_str(&format!(
        "  {exe} diff {dir}/previous.toml {dir}/demo.toml\n  {exe} check --demo-keys --config {dir}/demo.toml --approvals {dir}/approvals\n",
    ));
    if let Some((admin, token)) = admin {
        out.push_str(&format!(
            "\nOperations (admin listener, token made for this run):\n  curl -s http://{admin}/metrics\n  curl -s -H 'Authorization: Bearer {token}' http://{admin}/admin/status\n",
        ));
    }
    out.push_str(&format!(
        "\nAudit trail ({dir}/audit, one hash-chained record per request):\n  {exe} audit verify {dir}/audit\n  {exe} audit query {dir}/audit --partner acme\n",
    ));
    out.push_str(
        "\nCtrl-C stops the demo (its folder is removed unless it was started with --keep).\n",
    );
    out
}
