//! The gateway under test, in-process: started from a rendered fixture on 127.0.0.1:0 with an
//! outcome recorder, and a client for it and its admin listener.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kwanus_gateway::app::App;
use kwanus_gateway::config::{self, Overrides};
use kwanus_gateway::outcome::{Outcome, OutcomeSink, Recorded};
use tokio::net::TcpListener;

use super::{FIXTURE, RawReply, Reply, Upstream, raw};

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

/// `[audit] enabled = false` unless `text` has its own `[audit]`: a file without `[audit]` is
/// refused, and a test that reads no trail gets its outcomes from its recorder instead.
pub fn no_trail_unless(text: &str) -> &'static str {
    if text.lines().any(|l| l.trim() == "[audit]") {
        ""
    } else {
        "\n[audit]\nenabled = false\n"
    }
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
        let mut text = render(template, &upstream, closed_port().await);
        text.push_str(no_trail_unless(&text));
        if let Some(path) = path {
            std::fs::write(path, &text).expect("write config");
        }
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            upstream_url: None,
            demo: false,
        };
        let snap = config::from_str(&text, &overrides).unwrap_or_else(|e| panic!("{e}"));
        let outcomes = Arc::new(Recorder::default());
        let opts = kwanus_gateway::app::Options {
            config_path: path.map(std::path::Path::to_owned),
            watch_config: watch,
            listener: None,
            workers,
            approvals_dir: None,
            approved: None,
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
        Reply::read(rsp).await
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
        Reply::read(rsp).await
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
