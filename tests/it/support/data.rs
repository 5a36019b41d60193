//! An upstream for the contract tests: JSON documents (and broken ones) chosen by the last
//! path segment, recording what it was sent.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;

/// What the data upstream received: (path, Accept-Encoding, body).
pub type DataSeen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>, Bytes)>>>;

/// The `exact` case: what the upstream sends ...
pub const EXACT: &str = "{ \"z\" : 1180591620717411303424 ,\"f\":1.00000000000000001,\n  \"raw_text\" : \"SECRET\" , \"s\":\"\\u00e9\\/x\", \"a\" : [ 1e400 , {\"raw_text\":\"S2\"} , -0.0 ], \"RAW_TEXT\": [1] }";
/// ... and what the partner receives: the members removed, every other byte as sent.
pub const EXACT_FILTERED: &str = "{ \"z\" : 1180591620717411303424 ,\"f\":1.00000000000000001 , \"s\":\"\\u00e9\\/x\", \"a\" : [ 1e400 , {} , -0.0 ] }";

/// The body the data upstream sends for `/v1/<route>/<case>`: (content type, encoding, body).
fn answer(case: &str) -> (&'static str, Option<&'static str>, Vec<u8>) {
    let report = json!({
        "id": "r-1",
        "title": "Quarterly",
        "raw_report_text": "SECRET-RAW",
        "items": [
            {"title": "a", "raw_text": "SECRET-ITEM", "parsed": {"raw_text": "SECRET-DEEP"}},
            {"title": "b"}
        ],
        "insights": {"score": 7},
        "a/b": {"raw~text": "SECRET-ESCAPED", "kept": 1}
    });
    match case {
        "report" => ("application/json", None, report.to_string().into_bytes()),
        "clean" => (
            "application/json; charset=utf-8",
            None,
            br#"{"id":"r-2","title":"ok"}"#.to_vec(),
        ),
        "html" => ("text/html", None, b"<html>raw_report_text</html>".to_vec()),
        "gzip" => (
            "application/json",
            Some("gzip"),
            b"\x1f\x8b\x08\x00".to_vec(),
        ),
        "notjson" => (
            "application/json",
            None,
            b"{\"raw_report_text\": \"SECRET".to_vec(),
        ),
        "huge" => {
            let mut b = b"{\"raw_report_text\":\"".to_vec();
            b.resize(10 * 1024 * 1024, b'x');
            b.extend_from_slice(b"\"}");
            ("application/json", None, b)
        }
        "deep" => {
            let mut b = "[".repeat(5000).into_bytes();
            b.extend_from_slice(b"{\"raw_report_text\":\"SECRET\"}");
            b.extend(std::iter::repeat_n(b']', 5000));
            ("application/json", None, b)
        }
        "dupes" => (
            "application/json",
            None,
            br#"{"raw_report_text":"SECRET-1","id":"r","raw_report_text":"SECRET-2"}"#.to_vec(),
        ),
        // The last copy is clean; a parser that keeps the first sees the secret.
        "shadowed" => (
            "application/json",
            None,
            br#"{"report":{"raw_report_text":"SECRET-1"},"report":{"id":1}}"#.to_vec(),
        ),
        "down503" => ("text/html", None, b"<html>503</html>".to_vec()),
        // JSON a UTF-7 decoder reads with a `raw_text` member the filter cannot see as one.
        "utf7" => (
            "application/json; charset=utf-7",
            None,
            br#"{"id":"r-7","note":"x+ACIALAAi-raw_text+ACIAOgAi-SECRET-UTF7"}"#.to_vec(),
        ),
        "latin1" => (
            "application/json;charset=\"ISO-8859-1\"",
            None,
            br#"{"id":"r-8"}"#.to_vec(),
        ),
        "utf8quoted" => (
            "application/json; Charset=\"UTF-8\"",
            None,
            br#"{"id":"r-9"}"#.to_vec(),
        ),
        // Kept values must reach the partner exactly as written: numbers beyond 64 bits and
        // beyond f64's precision, escapes, key order and whitespace.
        "exact" => ("application/json", None, EXACT.as_bytes().to_vec()),
        // An allow-list of `/id` keeps `id`, never `ID`.
        "idcase" => (
            "application/json",
            None,
            br#"{"id":1,"ID":"SECRET-CASE","Id":"SECRET-CASE2"}"#.to_vec(),
        ),
        _ => ("application/json", None, b"{}".to_vec()),
    }
}

/// An upstream that answers by the last path segment (see `answer`), and counts requests.
pub async fn data_upstream() -> (SocketAddr, DataSeen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let rec = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let rec = rec.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let rec = rec.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        // Like a real server: a Range request gets a part of the document.
                        let ranged =
                            req.headers().contains_key("range") || path.ends_with("/partial");
                        // Like a real server: validators are compared with the whole document.
                        let conditional = req.headers().contains_key("if-none-match");
                        let ae = req
                            .headers()
                            .get("accept-encoding")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        rec.lock().expect("lock").push((path.clone(), ae, body));
                        let case = path.rsplit('/').next().unwrap_or_default().to_owned();
                        let (ct, enc, body) = answer(&case);
                        let body = if ranged {
                            body[..body.len().min(40)].to_vec()
                        } else {
                            body
                        };
                        let mut rsp = Response::new(Full::new(Bytes::from(body)));
                        if ranged {
                            *rsp.status_mut() = http::StatusCode::PARTIAL_CONTENT;
                        }
                        if case == "down503" {
                            *rsp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        if conditional {
                            *rsp.status_mut() = http::StatusCode::NOT_MODIFIED;
                            *rsp.body_mut() = Full::new(Bytes::new());
                        }
                        rsp.headers_mut()
                            .insert("content-type", ct.parse().expect("hv"));
                        if case == "twotypes" {
                            rsp.headers_mut()
                                .append("content-type", "text/html".parse().expect("hv"));
                        }
                        rsp.headers_mut()
                            .insert("etag", "\"v1\"".parse().expect("hv"));
                        if let Some(e) = enc {
                            rsp.headers_mut()
                                .insert("content-encoding", e.parse().expect("hv"));
                        }
                        Ok::<_, Infallible>(rsp)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// `text` with `[routes.response] passthrough = "..."` added to every route that has no
/// `[routes.response]`: with data classes configured, every route must say how its answers
/// are treated.
pub fn passthrough_routes(text: &str) -> String {
    const PASS: &str = "[routes.response]\npassthrough = \"the test upstream's answers carry no classified field\"\n";
    let mut out = String::new();
    let mut in_route = false;
    let mut has_response = false;
    for line in text.lines() {
        let header = line.trim_start().starts_with('[');
        let sub_of_route = line.trim_start().starts_with("[routes.");
        if header && !sub_of_route && in_route {
            if !has_response {
                out.push_str(PASS);
            }
            in_route = false;
        }
        if line.trim() == "[[routes]]" {
            in_route = true;
            has_response = false;
        }
        if line.trim() == "[routes.response]" {
            has_response = true;
        }
        out.push_str(line);
        out.push('\n');
    }
    if in_route && !has_response {
        out.push_str(PASS);
    }
    out
}
