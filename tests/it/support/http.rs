//! Talking to a gateway: full replies, raw HTTP/1 bytes over a fresh connection, and reading
//! what a connection or a metrics page says.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body was cut before its end (an upstream that failed mid-body, or a response
    /// whose audit record could not be written).
    pub cut: bool,
}

impl Reply {
    pub(crate) async fn read(rsp: Response<Incoming>) -> Self {
        let (parts, body) = rsp.into_parts();
        let (body, cut) = match body.collect().await {
            Ok(b) => (b.to_bytes(), false),
            Err(_) => (Bytes::new(), true),
        };
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
            cut,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The problem+json `code`, after checking the problem shape.
    pub fn code(&self) -> String {
        assert_eq!(
            self.headers
                .get("content-type")
                .map(|v| v.to_str().expect("ascii")),
            Some("application/problem+json"),
            "{self:?}"
        );
        let j = self.json();
        assert_eq!(j["status"].as_u64(), Some(u64::from(self.status.as_u16())));
        assert_eq!(j["type"], "about:blank");
        assert!(j["title"].is_string() && j["detail"].is_string());
        assert_eq!(
            j["request_id"].as_str(),
            self.header("x-request-id").as_deref(),
            "problem request_id matches X-Request-Id"
        );
        j["code"].as_str().expect("code").to_owned()
    }

    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    }
}

/// A raw HTTP/1 answer.
#[derive(Debug)]
pub struct RawReply {
    pub text: String,
}

impl RawReply {
    pub fn status(&self) -> u16 {
        self.text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {:?}", self.text))
    }

    pub fn body_json(&self) -> serde_json::Value {
        let body = self.text.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {:?}", self.text))
    }
}

pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> RawReply {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    RawReply {
        text: String::from_utf8_lossy(&buf).into_owned(),
    }
}

/// A GET with `Connection: close` for raw tests.
pub fn raw_get(target: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Whether the peer closes `s` within `within` (reading and discarding what it sends).
pub async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(within, s.read_to_end(&mut sink))
        .await
        .is_ok()
}

/// A plain HTTP/1.1 GET to `addr` on a fresh connection, fully read.
pub async fn http_get(addr: SocketAddr, path: &str) -> RawReply {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

/// The value of one sample line (`name{labels}`) of a Prometheus exposition.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `condition` every 10 ms until it holds, for at most `within`: whether it held. Tests
/// wait for the state they need instead of sleeping for a guessed time.
pub async fn eventually<F, Fut>(within: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
