//! The real binary: a `serve` process, the addresses it logged, signals and log lines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `serve` process and the address it printed.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    /// The admin listener, when `[admin]` is configured.
    pub admin: Option<SocketAddr>,
    stderr: std::sync::mpsc::Receiver<String>,
    /// Lines logged before the listening line.
    early: std::sync::Mutex<Vec<String>>,
}

impl Served {
    pub fn start(config: &std::path::Path) -> Self {
        no_trail_unless_file(config);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"));
        cmd.args(["--log-format", "json", "serve", "--no-watch", "--config"])
            .arg(config);
        Self::spawn(cmd)
    }

    /// Like `start`, with more `serve` arguments (e.g. `--approvals DIR`).
    pub fn start_with_args(config: &std::path::Path, args: &[&str]) -> Self {
        no_trail_unless_file(config);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"));
        cmd.args(["--log-format", "json", "serve", "--no-watch"])
            .args(args)
            .arg("--config")
            .arg(config);
        Self::spawn(cmd)
    }

    /// Like `start`, with the configuration file watched for changes.
    pub fn start_watching(config: &std::path::Path) -> Self {
        no_trail_unless_file(config);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"));
        cmd.args(["--log-format", "json", "serve", "--config"])
            .arg(config);
        Self::spawn(cmd)
    }

    /// Like `start`, with at most `nofile` open file descriptors (`ulimit -n`).
    pub fn start_with_nofile(config: &std::path::Path, nofile: u32) -> Self {
        no_trail_unless_file(config);
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
        let mut early = Vec::new();
        let (addr, admin) = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("serve logs a listening line");
            early.push(line.clone());
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
            early: std::sync::Mutex::new(early),
        }
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for a log line whose message contains `needle` (lines logged before the
    /// listening line count, once each).
    pub fn wait_log(&self, needle: &str) -> String {
        {
            let mut early = self.early.lock().expect("lock");
            if let Some(i) = early.iter().position(|l| l.contains(needle)) {
                return early.remove(i);
            }
        }
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

/// `config` with `[audit] enabled = false` appended when it has no `[audit]` of its own (see
/// `no_trail_unless`).
fn no_trail_unless_file(config: &std::path::Path) {
    let text = std::fs::read_to_string(config).expect("read config");
    let add = super::no_trail_unless(&text);
    if !add.is_empty() {
        std::fs::write(config, format!("{text}{add}")).expect("write config");
    }
}
