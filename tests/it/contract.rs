//! Data-access rules (issue 16, items 1 and 2) through the running binary: response contracts
//! that strip or refuse what a partner may not receive, request schemas that refuse a body
//! before it is forwarded, and what the trail and the metrics say about both.

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::support::*;

const CLASSES: &str = r#"
[[data_classes]]
name = "raw_report_text"
fields = ["/**/raw_report_text", "/**/raw_text"]
allowed_for = []

[[data_classes]]
name = "intelligence_data"
fields = ["/**/insights"]
allowed_for = ["insights:query"]

[[data_classes]]
name = "escaped_names"
fields = ["/a~1b/raw~0text"]
"#;

fn data_route(name: &str, method: &str, path: &str, permission: &str, extra: &str) -> String {
    format!(
        "\n[[routes]]\nname = \"{name}\"\nmethod = \"{method}\"\npath = \"{path}\"\npermission = \"{permission}\"\nupstream = \"data\"\n{extra}\n"
    )
}

/// The fixture plus the data classes, a `data` upstream and the contract routes; an audit
/// trail in `dir`, and an admin listener for `/metrics`.
fn config(dir: &Path, api: &Upstream, data: SocketAddr) -> String {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schemas/comment.json");
    let mut text = render(FIXTURE, api, data);
    text.push_str(CLASSES);
    text.push_str(&format!(
        "\n[audit]\ndir = {:?}\ndurability = \"strict\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"{}\"\n\n[[upstreams]]\nname = \"data\"\nurl = \"http://{data}\"\n",
        dir.join("trail").display().to_string(),
        "0".repeat(64)
    ));
    for (name, path, contract) in [
        ("strip", "/v1/data/{case}", "[routes.response]\n"),
        (
            "reject",
            "/v1/strict/{case}",
            "[routes.response]\non_violation = \"reject\"\n",
        ),
        (
            "minimal",
            "/v1/minimal/{case}",
            "[routes.response]\nallow_fields = [\"/id\", \"/items/*/title\"]\n",
        ),
        (
            "small",
            "/v1/small/{case}",
            "[routes.response]\nmax_bytes = 64\n",
        ),
        ("plain", "/v1/plain/{case}", ""),
        (
            "idem",
            "/v1/idem/{case}",
            "idempotency = \"optional\"\n[routes.response]\n",
        ),
    ] {
        text.push_str(&data_route(name, "GET", path, "reports:read", contract));
    }
    text.push_str(&data_route(
        "comment",
        "POST",
        "/v1/comments/{case}",
        "reports:publish",
        &format!("request_schema = {:?}\n", schema.display().to_string()),
    ));
    passthrough_routes(&text)
}

/// A running gateway binary in front of the data upstream.
struct Setup {
    served: Served,
    dir: std::path::PathBuf,
    seen: DataSeen,
}

impl Setup {
    async fn start(name: &str) -> Self {
        let dir = temp_dir(name);
        let api = Upstream::start().await;
        let (data, seen) = data_upstream().await;
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config(&dir, &api, data)).expect("config");
        Self {
            served: Served::start(&path),
            dir,
            seen,
        }
    }

    async fn get(&self, path: &str, key: &str) -> RawReply {
        raw(self.served.addr, &raw_get(path, key)).await
    }

    async fn post(&self, path: &str, key: &str, content_type: &str, body: &str) -> RawReply {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        raw(self.served.addr, req.as_bytes()).await
    }

    async fn metric(&self, series: &str) -> f64 {
        let admin = self.served.admin.expect("admin listener");
        sample(&http_get(admin, "/metrics").await.text, series).unwrap_or(0.0)
    }

    /// The request records of the trail, in order.
    fn records(&self) -> Vec<Value> {
        audit_records(&self.dir.join("trail"))
            .into_iter()
            .filter(|v| v["kind"] == "request")
            .collect()
    }

    fn upstream_saw(&self, prefix: &str) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|(p, _, _)| p.starts_with(prefix))
            .count()
    }
}

fn header<'a>(r: &'a RawReply, name: &str) -> Option<&'a str> {
    let head = r.text.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(r: &RawReply) -> &str {
    r.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_route_removes_what_the_partner_may_not_receive_at_any_depth() {
    let s = Setup::start("contract-strip").await;
    let r = s.get("/v1/data/report", ACME).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(
        r.body_json(),
        json!({
            "id": "r-1",
            "title": "Quarterly",
            "items": [{"title": "a", "parsed": {}}, {"title": "b"}],
            "a/b": {"kept": 1}
        }),
        "key order is kept and every forbidden field is gone"
    );
    assert!(!r.text.contains("SECRET"), "{}", r.text);
    assert_eq!(
        header(&r, "content-length"),
        Some(body(&r).len().to_string().as_str())
    );
    assert_eq!(
        header(&r, "etag"),
        None,
        "the upstream's ETag described other bytes"
    );
    // The gateway asked for a body it can read field by field.
    let seen = s.seen.lock().expect("lock").clone();
    assert_eq!(seen[0].1.as_deref(), Some("identity"));

    // A partner holding the intelligence permission receives the intelligence class.
    let r = s.get("/v1/data/report", UMBRELLA).await;
    assert_eq!(r.body_json()["insights"], json!({"score": 7}));
    assert!(!r.text.contains("SECRET"), "{}", r.text);

    // Nothing to remove: the upstream's bytes go on as they were.
    let r = s.get("/v1/data/clean", ACME).await;
    assert_eq!(body(&r), r#"{"id":"r-2","title":"ok"}"#);

    let records = s.records();
    let removed = &records[0]["fields_removed"];
    assert_eq!(removed["count"], 5, "{removed}");
    let pointers: Vec<&str> = removed["pointers"]
        .as_array()
        .expect("pointers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        pointers,
        [
            "/raw_report_text",
            "/items/0/raw_text",
            "/items/0/parsed/raw_text",
            "/insights",
            "/a~1b/raw~0text"
        ]
    );
    assert_eq!(records[1]["fields_removed"]["count"], 4);
    assert!(records[2].get("fields_removed").is_none(), "{}", records[2]);
    for (class, n) in [
        ("raw_report_text", 6.0),
        ("intelligence_data", 1.0),
        ("escaped_names", 2.0),
    ] {
        let series = format!(
            "kwanus_gateway_fields_removed_total{{route=\"strip\",data_class=\"{class}\"}}"
        );
        assert_eq!(s.metric(&series).await, n, "{series}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_mode_and_allow_lists() {
    let s = Setup::start("contract-reject").await;
    let r = s.get("/v1/strict/report", ACME).await;
    assert_eq!(r.status(), 502, "{}", r.text);
    assert_eq!(r.body_json()["code"], "response_contract_violation");
    assert!(
        !r.text.contains("SECRET") && !r.text.contains("Quarterly"),
        "{}",
        r.text
    );
    assert_eq!(s.get("/v1/strict/clean", ACME).await.status(), 200);

    let r = s.get("/v1/minimal/report", UMBRELLA).await;
    assert_eq!(
        r.body_json(),
        json!({"id": "r-1", "items": [{"title": "a"}, {"title": "b"}]})
    );

    let records = s.records();
    assert_eq!(
        (
            records[0]["status"].as_u64(),
            records[0]["code"].as_str(),
            records[0]["reason"].as_str()
        ),
        (
            Some(502),
            Some("response_contract_violation"),
            Some("forbidden_field")
        )
    );
    assert_eq!(records[2]["fields_removed"]["count"], 6, "{}", records[2]);
    let series = r#"kwanus_gateway_contract_violations_total{route="reject",direction="response"}"#;
    assert_eq!(s.metric(series).await, 1.0);
    let series =
        r#"kwanus_gateway_fields_removed_total{route="minimal",data_class="allow_fields"}"#;
    assert!(s.metric(series).await >= 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_checked_is_a_violation_and_leaks_nothing() {
    let s = Setup::start("contract-bad").await;
    for (path, reason) in [
        ("/v1/data/html", "content_type_not_allowed"),
        ("/v1/data/gzip", "compressed_response"),
        ("/v1/data/notjson", "invalid_json"),
        ("/v1/data/deep", "invalid_json"),
        ("/v1/data/huge", "response_too_large"),
        ("/v1/small/report", "response_too_large"),
    ] {
        let r = s.get(path, ACME).await;
        assert_eq!(r.status(), 502, "{path}: {}", r.text);
        assert_eq!(
            r.body_json()["code"],
            "response_contract_violation",
            "{path}"
        );
        assert!(
            !r.text.contains("SECRET") && !r.text.contains("raw_report_text"),
            "{path}: {}",
            r.text
        );
        let last = s.records().pop().expect("record");
        assert_eq!(last["reason"], reason, "{path}");
    }
    // Duplicate keys read differently to different parsers: such a document is refused.
    for path in [
        "/v1/data/dupes",
        "/v1/data/shadowed",
        "/v1/data/partial",
        "/v1/data/twotypes",
    ] {
        let r = s.get(path, ACME).await;
        assert_eq!(r.status(), 502, "{path}: {}", r.text);
        assert!(!r.text.contains("SECRET"), "{path}: {}", r.text);
    }
    // A partner's Range header is not passed on: the whole document is checked.
    let ranged = format!(
        "GET /v1/data/report HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {ACME}\r\nRange: bytes=40-80\r\nConnection: close\r\n\r\n"
    );
    let r = raw(s.served.addr, ranged.as_bytes()).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert!(!r.text.contains("SECRET"), "{}", r.text);
    // Nor its validators: the upstream would compare them with the whole document.
    let conditional = format!(
        "GET /v1/data/report HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {ACME}\r\nIf-None-Match: \"v1\"\r\nConnection: close\r\n\r\n"
    );
    let r = raw(s.served.addr, conditional.as_bytes()).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    // HEAD tells nothing about the size of what was withheld.
    let head = format!(
        "HEAD /v1/data/report HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {ACME}\r\nConnection: close\r\n\r\n"
    );
    let r = raw(s.served.addr, head.as_bytes()).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(header(&r, "etag"), None);
    // An upstream 5xx that breaks the contract still releases an idempotency key for a retry.
    let keyed = format!(
        "GET /v1/idem/down503 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {ACME}\r\nIdempotency-Key: retry-1\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..2 {
        let r = raw(s.served.addr, keyed.as_bytes()).await;
        assert_eq!(r.status(), 502, "{}", r.text);
        assert!(!r.text.contains("<html>"), "{}", r.text);
    }
    assert_eq!(s.upstream_saw("/v1/idem/down503"), 2, "the retry ran again");
    // A route without a contract streams untouched (and pays nothing).
    let r = s.get("/v1/plain/report", ACME).await;
    assert!(r.text.contains("SECRET-RAW"));
    let series = r#"kwanus_gateway_contract_violations_total{route="strip",direction="response"}"#;
    assert_eq!(s.metric(series).await, 9.0);
    // Contract violations are not upstream errors of the transport kind.
    assert!(
        !http_get(s.served.admin.expect("admin"), "/metrics")
            .await
            .text
            .contains("kind=\"invalid_json\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_breaks_the_request_schema_is_refused_before_forwarding() {
    let s = Setup::start("contract-request").await;
    let r = s
        .post(
            "/v1/comments/c1",
            UMBRELLA,
            "application/json",
            r#"{"text":"","rating":9,"PARTNER-KEY":"PARTNER-VALUE"}"#,
        )
        .await;
    assert_eq!(r.status(), 422, "{}", r.text);
    let problem = r.body_json();
    assert_eq!(problem["code"], "request_contract_violation");
    let errors = problem["errors"].as_array().expect("errors");
    let pointers: Vec<&str> = errors
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(
        pointers.contains(&"/rating") && pointers.contains(&"/text"),
        "{problem}"
    );
    assert!(errors.len() <= 5);
    assert!(
        !r.text.contains("PARTNER-VALUE"),
        "the partner's values are never echoed: {}",
        r.text
    );
    // A property the schema does not allow is named, so the caller can fix its request.
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("property \"PARTNER-KEY\" is not allowed"))),
        "{problem}"
    );
    // The record says where the body failed, as the answer did, and holds no value of it.
    let records = s.records();
    let record = records
        .iter()
        .rev()
        .find(|r| r["reason"] == "request_schema")
        .expect("the 422's record");
    let recorded: Vec<&str> = record["schema_pointers"]
        .as_array()
        .unwrap_or_else(|| panic!("schema_pointers: {record}"))
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(
        recorded.contains(&"/rating") && recorded.contains(&"/text"),
        "{record}"
    );
    assert!(!record.to_string().contains("PARTNER-VALUE"), "{record}");

    for (ct, body) in [
        ("text/plain", r#"{"text":"hi","rating":3}"#),
        ("application/json", "not json"),
        ("application/json", r#"{"text":"hi","rating":9,"rating":3}"#),
        ("application/json", r#"{"text":"hi","rating":3,"RATING":9}"#),
        (
            "application/json",
            r#"{"text":"hi","rating":3.0000000000000000001}"#,
        ),
        (
            "application/x-www-form-urlencoded, a/b+json",
            r#"{"text":"hi&rating=9&","rating":3}"#,
        ),
        ("application/json", ""),
    ] {
        let r = s.post("/v1/comments/c2", UMBRELLA, ct, body).await;
        assert_eq!(r.status(), 422, "{ct} {body:?}: {}", r.text);
    }
    assert_eq!(
        s.upstream_saw("/v1/comments"),
        0,
        "nothing reached the upstream"
    );

    let r = s
        .post(
            "/v1/comments/c3",
            UMBRELLA,
            "application/json",
            r#"{"text":"hi","rating":3}"#,
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text);
    let seen = s.seen.lock().expect("lock").clone();
    assert_eq!(
        seen.last().map(|(_, _, b)| b.clone()),
        Some(Bytes::from_static(br#"{"text":"hi","rating":3}"#))
    );

    let records = s.records();
    assert_eq!(records[0]["code"], "request_contract_violation");
    assert_eq!(records[0]["decision"], "deny");
    let series = r#"kwanus_gateway_contract_violations_total{route="comment",direction="request"}"#;
    assert_eq!(s.metric(series).await, 8.0);
}

#[tokio::test]
async fn an_idempotent_replay_is_filtered_again_under_the_rules_in_force() {
    const TOKEN: &str = "admin-token-for-tests-0123456789";
    let dir = temp_dir("contract-replay");
    let path = dir.join("gateway.toml");
    // umbrella may run workflows and receive the intelligence class (here: the `target` field
    // of the recording upstream's answer) — until a reload takes insights:query away.
    let text = FIXTURE
        .replacen(
            "permissions = [\"reports:read\", \"reports:publish\", \"insights:query\"]",
            "permissions = [\"reports:read\", \"reports:publish\", \"insights:query\", \"workflows:trigger\"]",
            1,
        )
        .replacen(
            "idempotency = \"required\"\n",
            "idempotency = \"required\"\n[routes.response]\n",
            1,
        )
        + &format!(
            "\n[[data_classes]]\nname = \"intelligence_data\"\nfields = [\"/target\"]\nallowed_for = [\"insights:query\"]\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n"
        );
    let text = passthrough_routes(&text);
    let gw = Gateway::start_file(&text, &path, false).await;
    let bearer = format!("Bearer {UMBRELLA}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("idempotency-key", "replay-1"),
    ];
    let run = || gw.send("POST", "/v1/workflows/nightly/runs", &headers, "");
    let first = run().await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.json()["target"], "/v1/workflows/nightly/runs");
    let live = std::fs::read_to_string(&path).expect("read");
    let revoked = live.replacen(
        "\"reports:publish\", \"insights:query\", \"workflows:trigger\"]",
        "\"reports:publish\", \"workflows:trigger\"]",
        1,
    );
    assert_ne!(revoked, live);
    std::fs::write(&path, revoked).expect("write");
    assert_eq!(
        gw.admin("POST", "/admin/reload", Some(TOKEN)).await.status,
        200
    );
    let replay = run().await;
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.json().get("target"), None, "{:?}", replay.json());
    assert_eq!(
        gw.upstream.seen().len(),
        1,
        "the replay did not run it again"
    );
}
