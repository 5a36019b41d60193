//! Test harness: the real gateway on 127.0.0.1:0 in front of a real recording hyper upstream.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kwanus_gateway::app::App;
use kwanus_gateway::config::{self, Overrides};
use kwanus_gateway::outcome::{Outcome, OutcomeSink, Recorded};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const ACME: &str = "kwp_test_acme_0123456789abcdef0123";
pub const ACME_EXPIRED: &str = "kwp_test_acme_expired_0123456789ab";
pub const ACME_REVOKED: &str = "kwp_test_acme_revoked_0123456789ab";
pub const GLOBEX: &str = "kwp_test_globex_0123456789abcdef01";
pub const INITECH: &str = "kwp_test_initech_0123456789abcdef0";
pub const UMBRELLA: &str = "kwp_test_umbrella_0123456789abcdef";
pub const OLDCO: &str = "kwp_test_oldco_0123456789abcdef012";

/// The shared test configuration; `UPSTREAM` and `DOWN` are replaced, `"@key"` becomes the
/// key's SHA-256.
pub const FIXTURE: &str = include_str!("../fixtures/gateway.toml");

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A recording upstream. `/v1/slow/{ms}` waits that long before answering.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rec = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rec = rec.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| record(rec.clone(), req));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    pub fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream received nothing")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn record(
    seen: Arc<Mutex<Vec<Seen>>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    seen.lock().expect("lock").push(Seen {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    if let Some(ms) = target.strip_prefix("/v1/slow/") {
        let ms: u64 = ms.parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut rsp = Response::new(Full::new(Bytes::from(format!(
        r#"{{"upstream":"ok","target":"{target}","body_len":{}}}"#,
        body.len()
    ))));
    let h = rsp.headers_mut();
    h.insert("content-type", "application/json".parse().expect("hv"));
    h.insert("x-upstream-hop", "secret".parse().expect("hv"));
    h.insert("connection", "x-upstream-hop".parse().expect("hv"));
    h.insert("x-request-id", "upstream-made-this-up".parse().expect("hv"));
    Ok(rsp)
}

/// Collects every outcome the gateway finishes.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<Outcome>>);

impl OutcomeSink for Recorder {
    fn record(&self, outcome: &Outcome) -> Recorded {
        self.0.lock().expect("lock").push(outcome.clone());
        Recorded::Done
    }
}

impl Recorder {
    pub fn all(&self) -> Vec<Outcome> {
        self.0.lock().expect("lock").clone()
    }
}

/// A running gateway with its upstream and outcome recorder.
pub struct Gateway {
    pub app: App,
    pub upstream: Upstream,
    pub outcomes: Arc<Recorder>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A closed loopback port: connecting to it is refused.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

/// The fixture with its placeholders filled in.
pub fn render(template: &str, upstream: &Upstream, down: SocketAddr) -> String {
    let mut text = template
        .replace("UPSTREAM", &upstream.url())
        .replace("DOWN", &format!("http://{down}"));
    while let Some(start) = text.find("\"@") {
        let end = start + 2 + text[start + 2..].find('"').expect("closing quote");
        let key = &text[start + 2..end];
        let sha = hex::encode(kwanus_gateway::auth::digest(key.as_bytes()));
        text.replace_range(start..=end, &format!("\"{sha}\""));
    }
    text
}

impl Gateway {
    pub async fn start() -> Self {
        Self::start_with(FIXTURE).await
    }

    pub async fn start_with(template: &str) -> Self {
        Self::launch(template, None, false, None).await
    }

    /// Starts with `workers` partner worker threads.
    pub async fn start_workers(template: &str, workers: usize) -> Self {
        Self::launch(template, None, false, Some(workers)).await
    }

    /// Starts from a config file written to `path` (rendered from `template`), so that the
    /// gateway can reload it.
    pub async fn start_file(template: &str, path: &std::path::Path, watch: bool) -> Self {
        Self::launch(template, Some(path), watch, None).await
    }

    async fn launch(
        template: &str,
        path: Option<&std::path::Path>,
        watch: bool,
        workers: Option<usize>,
    ) -> Self {
        let upstream = Upstream::start().await;
        let text = render(template, &upstream, closed_port().await);
        if let Some(path) = path {
            std::fs::write(path, &text).expect("write config");
        }
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            upstream_url: None,
        };
        let snap = config::from_str(&text, &overrides).unwrap_or_else(|e| panic!("{e}"));
        let outcomes = Arc::new(Recorder::default());
        let opts = kwanus_gateway::app::Options {
            config_path: path.map(std::path::Path::to_owned),
            watch_config: watch,
            listener: None,
            workers,
        };
        let app = App::start_with(snap, outcomes.clone(), opts)
            .await
            .expect("start gateway");
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            app,
            upstream,
            outcomes,
            client,
        }
    }

    /// Sends a request to the admin listener.
    pub async fn admin(&self, method: &str, path: &str, token: Option<&str>) -> Reply {
        let addr = self.app.admin_addr().expect("admin listener");
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Full::new(Bytes::new())).expect("request");
        let rsp = self.client.request(req).await.expect("admin answered");
        Reply::from(rsp).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.app.addr())
    }

    /// Sends a request and returns status, headers and body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        let rsp = self.client.request(req).await.expect("gateway answered");
        Reply::from(rsp).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.send(
            "GET",
            path,
            &[("authorization", &format!("Bearer {key}"))],
            "",
        )
        .await
    }

    /// Sends raw bytes on a fresh connection and reads the whole answer.
    pub async fn raw(&self, bytes: &[u8]) -> RawReply {
        raw(self.app.addr(), bytes).await
    }
}

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
    async fn from(rsp: Response<Incoming>) -> Self {
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

/// A `serve` process and the address it printed.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    /// The admin listener, when `[admin]` is configured.
    pub admin: Option<SocketAddr>,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Served {
    pub fn start(config: &std::path::Path) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"));
        cmd.args(["--log-format", "json", "serve", "--no-watch", "--config"])
            .arg(config);
        Self::spawn(cmd)
    }

    /// Like `start`, with the configuration file watched for changes.
    pub fn start_watching(config: &std::path::Path) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"));
        cmd.args(["--log-format", "json", "serve", "--config"])
            .arg(config);
        Self::spawn(cmd)
    }

    /// Like `start`, with at most `nofile` open file descriptors (`ulimit -n`).
    pub fn start_with_nofile(config: &std::path::Path, nofile: u32) -> Self {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_kwanus-gateway"))
            .args(["--log-format", "json", "serve", "--no-watch", "--config"])
            .arg(config);
        Self::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (addr, admin) = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("serve logs a listening line");
            let j: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if j["message"] == "listening" {
                let addr = j["addr"]
                    .as_str()
                    .expect("addr")
                    .parse()
                    .expect("socket addr");
                break (addr, j["admin"].as_str().and_then(|a| a.parse().ok()));
            }
        };
        Self {
            child,
            addr,
            admin,
            stderr: rx,
        }
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for a log line whose message contains `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no log line with {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An upstream that answers every request with the same raw bytes (a malformed or hostile
/// HTTP/1 response), and counts the connections it was given.
#[derive(Clone)]
pub struct RawUpstream {
    pub addr: SocketAddr,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl RawUpstream {
    pub async fn start(response: &'static [u8]) -> Self {
        Self::script(&[(response, 0)], false).await
    }

    /// Answers each request head with `parts`, each written after its delay (ms); with
    /// `close`, the connection is closed after the last part.
    pub async fn script(parts: &[(&'static [u8], u64)], close: bool) -> Self {
        let parts: Arc<[(&'static [u8], u64)]> = parts.into();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let parts = parts.clone();
                tokio::spawn(async move {
                    // Answer each request head on the connection (keep-alive, if the gateway reuses it).
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            for (bytes, delay) in parts.iter() {
                                tokio::time::sleep(Duration::from_millis(*delay)).await;
                                if s.write_all(bytes).await.is_err() {
                                    return;
                                }
                            }
                            if close {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, connections }
    }

    /// Connections the gateway opened to it.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The fixture plus an upstream `raw` at this address and a route `GET /v1/raw` to it.
    pub fn fixture(&self, upstream_extra: &str) -> String {
        format!(
            "{FIXTURE}\n[[upstreams]]\nname = \"raw\"\nurl = \"http://{}\"\n{upstream_extra}\n\n[[routes]]\nname = \"raw\"\nmethod = \"GET\"\npath = \"/v1/raw\"\npermission = \"reports:read\"\nupstream = \"raw\"\n",
            self.addr
        )
    }
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
