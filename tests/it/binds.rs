//! Every rule binds (issue 21) through the running binary: what the gateway judged is exactly
//! what the upstream acts on — one charset, no method override, a bounded cost of checking a
//! body, filtered answers that keep every kept byte, forbidden segments by meaning, and a
//! framing error that ends the connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// The fixture with bodies up to 16 MiB, the shipped `publish-report` schema on
/// `POST /v1/reports`, a data upstream with contract routes, a strict trail and an admin
/// listener.
fn config(dir: &Path, api: &Upstream, data: SocketAddr) -> String {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/schemas/publish-report.json");
    let text = render(FIXTURE, api, data)
        .replacen(
            "max_request_body_bytes = 1024",
            "max_request_body_bytes = 16777216",
            1,
        )
        .replacen(
            "path = \"/v1/reports\"\npermission = \"reports:publish\"\nupstream = \"api\"\n",
            &format!(
                "path = \"/v1/reports\"\npermission = \"reports:publish\"\nupstream = \"api\"\nrequest_schema = {:?}\n",
                schema.display().to_string()
            ),
            1,
        );
    let mut text = text;
    text.push_str(&format!(
        r#"
[[data_classes]]
name = "raw_report_text"
fields = ["/**/raw_report_text", "/**/raw_text"]

[audit]
dir = {:?}
durability = "strict"

[admin]
listen = "127.0.0.1:0"
token_sha256 = "{}"

[[upstreams]]
name = "data"
url = "http://{data}"

[[routes]]
name = "strip"
method = "GET"
path = "/v1/data/{{case}}"
permission = "reports:read"
upstream = "data"
[routes.response]

[[routes]]
name = "minimal"
method = "GET"
path = "/v1/minimal/{{case}}"
permission = "reports:read"
upstream = "data"
[routes.response]
allow_fields = ["/id"]
"#,
        dir.join("trail").display().to_string(),
        "0".repeat(64)
    ));
    passthrough_routes(&text)
}

struct Setup {
    served: Served,
    dir: PathBuf,
    api: Upstream,
}

impl Setup {
    async fn start(name: &str) -> Self {
        let dir = temp_dir(name);
        let api = Upstream::start().await;
        let (data, _) = data_upstream().await;
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config(&dir, &api, data)).expect("config");
        Self {
            served: Served::start(&path),
            dir,
            api,
        }
    }

    async fn send(&self, head: &str, body: &[u8]) -> RawReply {
        let mut bytes = head.as_bytes().to_vec();
        bytes.extend_from_slice(body);
        raw(self.served.addr, &bytes).await
    }

    /// A `POST` with `Content-Length` and `Connection: close`.
    async fn post(&self, target: &str, content_type: &str, body: &[u8]) -> RawReply {
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {UMBRELLA}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        self.send(&head, body).await
    }

    fn records(&self) -> Vec<Value> {
        audit_records(&self.dir.join("trail"))
            .into_iter()
            .filter(|v| v["kind"] == "request")
            .collect()
    }

    fn last_record(&self) -> Value {
        self.records().pop().expect("a request record")
    }
}

fn body(r: &RawReply) -> &str {
    r.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn head_has(r: &RawReply, line: &str) -> bool {
    let head = r.text.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().any(|l| l.eq_ignore_ascii_case(line))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_charset_both_ways() {
    let s = Setup::start("binds-charset").await;
    // UTF-7 hides `","status":"approved` from a UTF-8 reader; Express would decode it.
    let utf7 = br#"{"title":"x+ACIALAAi-status+ACIAOgAi-approved","summary":"s"}"#;
    for ct in [
        "application/json; charset=utf-7",
        "application/json;charset=UTF-7",
        "application/json; charset=\"utf-7\"",
        "application/json; Charset=ISO-8859-1",
        "application/json; charset=utf-16",
    ] {
        let r = s.post("/v1/reports", ct, utf7).await;
        assert_eq!(r.status(), 422, "{ct}: {}", r.text);
        assert_eq!(r.body_json()["code"], "request_contract_violation", "{ct}");
        assert_eq!(s.last_record()["reason"], "charset", "{ct}");
    }
    // A byte-order mark is a charset declaration too.
    for bom in [&b"\xEF\xBB\xBF"[..], b"\xFE\xFF", b"\xFF\xFE"] {
        let mut b = bom.to_vec();
        b.extend_from_slice(br#"{"title":"t","summary":"s"}"#);
        let r = s.post("/v1/reports", "application/json", &b).await;
        assert_eq!(r.status(), 422, "{bom:?}: {}", r.text);
        assert_eq!(s.last_record()["reason"], "charset");
    }
    assert!(s.api.seen().is_empty(), "nothing reached the upstream");
    // UTF-8, however it is spelled, is the one charset.
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=\"UTF-8\"",
    ] {
        let r = s
            .post("/v1/reports", ct, br#"{"title":"t","summary":"s"}"#)
            .await;
        assert_eq!(r.status(), 200, "{ct}: {}", r.text);
    }
    assert_eq!(s.api.seen().len(), 3);

    // An answer declaring another charset is refused whole on a contract route.
    for case in ["utf7", "latin1"] {
        let r = raw(s.served.addr, &raw_get(&format!("/v1/data/{case}"), ACME)).await;
        assert_eq!(r.status(), 502, "{case}: {}", r.text);
        assert!(!r.text.contains("SECRET"), "{}", r.text);
        let last = s.last_record();
        assert_eq!(
            (last["code"].as_str(), last["reason"].as_str()),
            (Some("response_contract_violation"), Some("charset")),
            "{case}"
        );
    }
    let r = raw(s.served.addr, &raw_get("/v1/data/utf8quoted", ACME)).await;
    assert_eq!(r.status(), 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_method_override_reaches_the_upstream() {
    let s = Setup::start("binds-override").await;
    let headers = [
        "X-HTTP-Method",
        "X-HTTP-Method-Override",
        "X-Method-Override",
        "X-Method",
        "X-Original-Method",
        "X-Forwarded-Method",
    ];
    let mut head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {UMBRELLA}\r\nContent-Type: application/json\r\nContent-Length: 27\r\nConnection: close\r\n"
    );
    for h in headers {
        head.push_str(&format!("{h}: DELETE\r\n"));
    }
    head.push_str("\r\n");
    let r = s.send(&head, br#"{"title":"t","summary":"s"}"#).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    let seen = s.api.last();
    for h in headers {
        assert!(seen.headers.get(h).is_none(), "{h} reached the upstream");
    }

    // `_method` in the query, however spelled, is refused before anything is forwarded.
    for query in [
        "_method=DELETE",
        "a=1&_method=DELETE",
        "_METHOD=delete",
        "%5Fmethod=DELETE",
        "_%6D%65thod=DELETE",
        "_Method",
        ".method=DELETE",
        "+method=DELETE",
        "%5B_method%5D=DELETE",
        "X-HTTP-Method-Override=DELETE",
    ] {
        let r = s
            .post(
                &format!("/v1/reports?{query}"),
                "application/json",
                br#"{"title":"t","summary":"s"}"#,
            )
            .await;
        assert_eq!(r.status(), 400, "{query}: {}", r.text);
        assert_eq!(r.body_json()["code"], "bad_request");
        let last = s.last_record();
        assert_eq!(last["reason"], "method_override", "{query}");
        assert!(last["query"].as_str().is_some(), "{last}");
    }
    // ... and in a form body, on any route.
    for body in ["_method=DELETE", "a=b&_method=DELETE", "x=1&%5fMETHOD=put"] {
        let head = format!(
            "PUT /v1/reports/9 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {UMBRELLA}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let r = s.send(&head, body.as_bytes()).await;
        assert_eq!(r.status(), 400, "{body}: {}", r.text);
        assert_eq!(s.last_record()["reason"], "method_override");
    }
    // On POST, a JSON body's top-level `_method` (Laravel, Symfony, Express with a body getter)
    // and an untyped body (Rack reads it as a form) are read too.
    for (ct, body) in [
        (
            "Content-Type: application/json\r\n",
            r#"{"signal":"x","_method":"DELETE"}"#,
        ),
        (
            "Content-Type: application/json\r\n",
            r#"{"signal":"x","\u005fmethod":"DELETE"}"#,
        ),
        ("", "_method=DELETE"),
        ("Content-Type: \r\n", "signal=x&_method=DELETE"),
    ] {
        let head = format!(
            "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {UMBRELLA}\r\n{ct}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let r = s.send(&head, body.as_bytes()).await;
        assert_eq!(r.status(), 400, "{ct:?} {body}: {}", r.text);
        assert_eq!(s.last_record()["reason"], "method_override");
    }
    // A JSON body naming `_method` below the top level is data, and is forwarded.
    let nested = r#"{"signal":"x","filter":{"_method":"DELETE"}}"#;
    let head = format!(
        "POST /v1/insights/query HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {UMBRELLA}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        nested.len()
    );
    assert_eq!(s.send(&head, nested.as_bytes()).await.status(), 200);
    assert_eq!(
        s.api.seen().len(),
        2,
        "only the plain requests were forwarded"
    );
    // Other parameters pass, and the officer sees the query that was forwarded.
    let r = raw(
        s.served.addr,
        &raw_get("/v1/reports/1?method=x&a_method=2&q=%22quoted%22", ACME),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(
        s.api.last().target,
        "/v1/reports/1?method=x&a_method=2&q=%22quoted%22"
    );
    let last = s.last_record();
    assert_eq!(last["query"], "method=x&a_method=2&q=%22quoted%22");
    assert_eq!(last["truncated"], false);
    let long = format!("/v1/reports/1?q={}", "a".repeat(3000));
    let r = raw(s.served.addr, &raw_get(&long, ACME)).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    let last = s.last_record();
    assert!(last["query"].as_str().expect("query").len() < 3000);
    assert_eq!(last["truncated"], true);
}

/// The process's peak resident memory (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}

/// Sends `body` as a schema-checked `POST`, tolerating a gateway that answers (and closes)
/// before the body is all sent; returns the status.
async fn post_large(addr: SocketAddr, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {UMBRELLA}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `{"title":"x","summary":"s","tags":[0,0,…]}` of about `bytes`.
fn zeros_in_tags(bytes: usize) -> Vec<u8> {
    let mut b = br#"{"title":"x","summary":"s","tags":[0"#.to_vec();
    while b.len() + 4 < bytes {
        b.extend_from_slice(b",0");
    }
    b.extend_from_slice(b"]}");
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checking_a_body_costs_a_bounded_amount_of_memory() {
    let s = Setup::start("binds-cost").await;
    let pid = s.served.child.id();
    let mib = 1024 * 1024;
    // The worst shapes: one of 10 MiB (over the route's 1 MiB), one with more values than
    // the route allows, one nested too deep, and ones within both limits that fail the schema.
    let huge = zeros_in_tags(10 * mib);
    let many = zeros_in_tags(mib - 64);
    let mut deep = "[".repeat(mib / 2 - 8).into_bytes();
    deep.extend(std::iter::repeat_n(b']', mib / 2 - 8));
    let within = zeros_in_tags(190_000); // ~95 000 values: over maxItems, under the limit
    let mut wide = b"{".to_vec();
    for i in 0..49_000 {
        wide.extend_from_slice(format!("\"k{i}\":{{}},").as_bytes());
    }
    wide.extend_from_slice(br#""title":"x","summary":"s"}"#);
    // 65 537 members all named "": refused as repeated keys before the tape is built.
    let mut dupes = b"{".to_vec();
    for _ in 0..65_537 {
        dupes.extend_from_slice(br#""":0,"#);
    }
    dupes.extend_from_slice(br#""title":"x","summary":"s"}"#);
    let shapes: [(&[u8], u16, &str); 6] = [
        (&huge, 413, "body_bytes_limit"),
        (&many, 422, "too_many_values"),
        (&deep, 422, "too_deep"),
        (&within, 422, "request_schema"),
        (&wide, 422, "request_schema"),
        (&dupes, 422, "request_schema"),
    ];
    let before = peak_rss(pid);
    let mut peaks = Vec::new();
    for round in 0..2 {
        let mut tasks = Vec::new();
        for _ in 0..3 {
            for (body, _, _) in &shapes {
                let body = body.to_vec();
                let addr = s.served.addr;
                tasks.push(tokio::spawn(async move { post_large(addr, &body).await }));
            }
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let (_, expected, reason) = shapes[i % shapes.len()];
            assert_eq!(t.await.expect("task"), expected, "round {round}, {reason}");
        }
        peaks.push(peak_rss(pid));
    }
    let grown = peaks[0].saturating_sub(before);
    eprintln!(
        "peak RSS: {} MiB before, +{} MiB after 18 concurrent worst shapes, +{} MiB after a second round",
        before / mib as u64,
        grown / mib as u64,
        peaks[1].saturating_sub(peaks[0]) / mib as u64
    );
    // Eighteen bodies of at most 1 MiB checked at once: at most 16× each, plus a constant.
    let bound = 18 * 16 * mib as u64 + 64 * mib as u64;
    assert!(grown < bound, "the peak grew by {} MiB", grown / mib as u64);
    // The same load again needs no more: what the first round held went back to the
    // allocator when its requests ended, and the second round used it again.
    let again = peaks[1].saturating_sub(peaks[0]);
    assert!(
        again < 32 * mib as u64,
        "the second round grew the peak by {} MiB",
        again / mib as u64
    );
    let reasons: Vec<String> = s
        .records()
        .iter()
        .filter_map(|r| r["reason"].as_str().map(str::to_owned))
        .collect();
    for (_, _, reason) in shapes {
        assert!(reasons.iter().any(|r| r == reason), "{reason}: {reasons:?}");
    }
    assert!(s.api.seen().is_empty(), "nothing reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtering_keeps_what_it_keeps_byte_for_byte() {
    let s = Setup::start("binds-exact").await;
    let r = raw(s.served.addr, &raw_get("/v1/data/exact", ACME)).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(body(&r), EXACT_FILTERED);
    assert!(
        head_has(&r, &format!("content-length: {}", EXACT_FILTERED.len())),
        "{}",
        r.text
    );
    let last = s.last_record();
    assert_eq!(last["fields_removed"]["count"], 3, "{last}");
    // The allow-list compares keys exactly.
    let r = raw(s.served.addr, &raw_get("/v1/minimal/idcase", ACME)).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_eq!(body(&r), r#"{"id":1}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_segments_match_by_meaning_not_spelling() {
    let s = Setup::start("binds-segments").await;
    for path in [
        "/v1/reports/internal.",
        "/v1/reports/internal%2e",
        "/v1/reports/internal%2E%2E",
        "/v1/reports/db%20",
        "/v1/reports/db.json",
        "/v1/reports/DB.tar.gz",
        "/v1/reports/db%20.",
        "/v1/reports/%EF%BD%84%EF%BD%82",
        "/v1/reports/%C4%B1nternal",
        "/v1/reports/%E2%85%B0nternal",
        "/v1/reports/INTERNAL%EF%BC%8E",
        "/internal./users",
        "/%EF%BD%89nternal/users",
        "/DB.json",
        "/Db%20/x",
    ] {
        let r = raw(s.served.addr, &raw_get(path, ACME)).await;
        assert_eq!(r.status(), 403, "{path}: {}", r.text);
        assert_eq!(r.body_json()["code"], "forbidden_route", "{path}");
    }
    // `;parameters` never reach a route either.
    let r = raw(s.served.addr, &raw_get("/v1/reports/DB;v=1", ACME)).await;
    assert!(matches!(r.status(), 400 | 403), "{}", r.text);
    assert!(s.api.seen().is_empty(), "nothing reached the upstream");
    // Segments that merely contain the word are not forbidden.
    for path in [
        "/v1/reports/dbx",
        "/v1/reports/internally",
        "/v1/reports/a.db",
    ] {
        let r = raw(s.served.addr, &raw_get(path, ACME)).await;
        assert_eq!(r.status(), 200, "{path}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framing_error_ends_the_connection() {
    let s = Setup::start("binds-framing").await;
    let next = format!(
        "GET /v1/reports/smuggled HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {ACME}\r\n\r\n"
    );
    // Another 400 that would be sent first (a method override, an encoded slash, a bad host)
    // ends the connection just the same.
    for (target, host, te) in [
        ("/v1/reports", "gw", "chunked, chunked"),
        ("/v1/reports", "gw", "gzip, chunked"),
        ("/v1/reports", "gw", "identity"),
        ("/v1/reports?_method=x", "gw", "chunked, chunked"),
        ("/v1/a%2Fb", "gw", "chunked, chunked"),
        ("/v1/reports", "gw/x", "chunked, chunked"),
    ] {
        let req = format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {UMBRELLA}\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n{next}"
        );
        let mut c = TcpStream::connect(s.served.addr).await.expect("connect");
        c.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut buf))
            .await
            .is_ok();
        let text = String::from_utf8_lossy(&buf);
        assert!(closed, "{target} {te}: the connection stayed open: {text}");
        assert!(text.starts_with("HTTP/1.1 400"), "{target} {te}: {text}");
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "{target} {te}: {text}"
        );
        assert!(
            text.lines()
                .any(|l| l.eq_ignore_ascii_case("connection: close")),
            "{target} {te}: {text}"
        );
    }
    assert!(s.api.seen().is_empty(), "nothing reached the upstream");
}

#[test]
fn the_json_in_the_shapes_is_what_the_test_means() {
    let v: Value = serde_json::from_slice(&zeros_in_tags(100)).expect("json");
    assert_eq!(v["title"], json!("x"));
    assert!(v["tags"].as_array().is_some_and(|a| a.len() > 20));
}
