//! `serve` and `demo`: the gateway running until a signal, with reloads on SIGHUP.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::{EX_USAGE, report};
use crate::app::{App, Options};
use crate::config::{self, Overrides};
use crate::outcome::LogSink;
use crate::shutdown::{OsSignal, OsSignals};

pub(super) async fn serve(
    path: PathBuf,
    watch: bool,
    approvals: Option<PathBuf>,
    workers: Option<usize>,
) -> ExitCode {
    let mut snapshot = match config::load(&path) {
        Ok(s) => s,
        Err(e) => {
            report(&path, &e);
            return ExitCode::from(EX_USAGE);
        }
    };
    let approved = match pass_gate(&mut snapshot, approvals.as_deref()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let summary = snapshot.summary();
    // Before anything listens: a SIGTERM that arrives once "listening" is logged must drain,
    // not kill (the default action) — orchestrators signal as soon as they see the line.
    let mut signals = match OsSignals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let opts = Options {
        config_path: Some(path.clone()),
        watch_config: watch,
        listener: None,
        workers: workers.filter(|n| *n > 0),
        approvals_dir: approvals,
        approved,
    };
    let app = match App::start_with(snapshot, Arc::new(LogSink), opts).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        addr = %app.addr(),
        admin = %app.admin_addr().map_or("-".into(), |a| a.to_string()),
        config = %path.display(),
        %summary,
        "listening"
    );
    while signals.next().await == OsSignal::Reload {
        app.reload(crate::audit::ConfigTrigger::Signal);
    }
    tracing::info!("shutting down: draining in-flight requests");
    app.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// A start cannot bring in what a reload would refuse: with `enforce_approvals`, the file is
/// checked against the last approved configuration, and an accepted one becomes the copy.
/// The snapshot's text is taken: the snapshot in force does not keep it (megabytes for a
/// large configuration).
fn pass_gate(
    snapshot: &mut crate::snapshot::Snapshot,
    pinned: Option<&std::path::Path>,
) -> Result<Option<crate::approvals::Approved>, String> {
    let source = std::mem::take(&mut snapshot.source);
    match crate::approvals::gate(snapshot, None, pinned) {
        Ok(None) => Ok(None),
        Ok(Some(gate)) if gate.accepted() => gate
            .commit(&source, &snapshot.model)
            .map(Some)
            .map_err(|e| format!("cannot keep the approved copy: {e}")),
        Ok(Some(gate)) => Err(gate.refusal()),
        Err(e) => Err(format!("approvals: {e}")),
    }
}

pub(super) async fn demo(
    listen: Option<SocketAddr>,
    keep: bool,
    workers: Option<usize>,
) -> ExitCode {
    let upstream = match crate::demo::start_sample_upstream().await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("demo: cannot start the sample upstream: {e}");
            return ExitCode::FAILURE;
        }
    };
    let overrides = Overrides {
        listen,
        upstream_url: Some(format!("http://{upstream}")),
        demo: true,
    };
    let dir = match crate::demo::prepare() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("demo: cannot prepare the demo's folder (schemas, approvals): {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut snapshot = match config::from_str_in(crate::demo::DEMO_CONFIG, &overrides, Some(&dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: the built-in demo config is invalid: {e}");
            return ExitCode::FAILURE;
        }
    };
    let approved = match pass_gate(&mut snapshot, None) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The trail goes in the demo's folder, and the admin listener gets a token made now.
    if let Some(audit) = snapshot.audit.as_mut() {
        audit.dir = dir.join("audit");
    }
    let token = demo_admin_token();
    snapshot.admin = Some(crate::snapshot::AdminSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token_sha256: Some(crate::digest::digest(token.as_bytes())),
        max_connections: config::defaults::ADMIN_MAX_CONNECTIONS,
    });
    let wanted = snapshot.server.listen;
    let listener = match tokio::net::TcpListener::bind(wanted).await {
        Ok(l) => l,
        Err(e) if listen.is_none() => {
            tracing::warn!(addr = %wanted, error = %e, "demo address taken; using a free port");
            match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("demo: cannot bind: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Err(e) => {
            eprintln!("demo: cannot bind {wanted}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before anything is printed: a Ctrl-C or SIGTERM after the instructions stops the demo
    // cleanly (and removes its folder).
    let mut signals = match OsSignals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = Options {
        listener: Some(listener),
        workers: workers.filter(|n| *n > 0),
        approved,
        ..Options::default()
    };
    let app = match App::start_with(snapshot, Arc::new(LogSink), opts).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("kwanus-gateway"));
    let printed = crate::demo::Printed {
        gateway: app.addr(),
        admin: app.admin_addr().map(|a| (a, token.as_str())),
        dir: &dir,
        exe: &exe,
    };
    // A closed stdout (e.g. piped to `head`) must not stop the demo.
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        crate::demo::instructions(&printed)
    );
    let _ = std::io::stdout().flush();
    while signals.next().await == OsSignal::Reload {}
    app.shutdown().await;
    if keep {
        eprintln!("demo: kept {}", dir.display());
    } else if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("demo: cannot remove {}: {e}", dir.display());
    }
    ExitCode::SUCCESS
}

/// A fresh admin token for one demo run (printed with the commands that use it).
fn demo_admin_token() -> String {
    let mut bytes = [0u8; 16];
    // Without the OS's randomness the token is only as secret as the loopback demo itself.
    let _ = getrandom::fill(&mut bytes);
    format!("kwa_demo_{}", hex::encode(bytes))
}
