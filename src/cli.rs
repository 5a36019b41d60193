//! The command line: `serve`, `check`, `keygen`, `demo` and `audit verify|query`, each a small
//! function.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::{App, Options};
use crate::config::{self, ConfigError, Overrides};
use crate::outcome::LogSink;
use crate::shutdown::{OsSignal, OsSignals};

/// Exit code for an invalid configuration at start-up (EX_USAGE).
const EX_USAGE: u8 = 64;

/// kwanus-gateway: the permission-enforcing API gateway in front of the KWANUS partner APIs.
#[derive(Debug, Parser)]
#[command(name = "kwanus-gateway", version, about)]
pub struct Cli {
    /// Log format on stderr; the level comes from RUST_LOG (default info).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log level or filter (e.g. `debug`, `info,kwanus_gateway::access=warn`); overrides RUST_LOG.
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// Partner worker threads, each with its own event loop (default: one per CPU).
    #[arg(long, global = true, env = "KWANUS_GATEWAY_WORKERS")]
    workers: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The configuration file.
        #[arg(long, env = "KWANUS_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Do not reload when the configuration file changes (SIGHUP and the admin endpoint
        /// still reload).
        #[arg(long)]
        no_watch: bool,
    },
    /// Validate a configuration file: every problem with its place, exit 1; or a summary, exit 0.
    Check {
        /// The configuration file.
        #[arg(long, env = "KWANUS_GATEWAY_CONFIG")]
        config: PathBuf,
    },
    /// Print a fresh partner API key once, and the TOML that stores only its SHA-256; or,
    /// with --audit-key, write an Ed25519 key pair for signed audit checkpoints.
    #[command(group = clap::ArgGroup::new("what").required(true))]
    Keygen {
        /// The partner the key is for.
        #[arg(long, group = "what")]
        partner: Option<String>,
        /// Write an audit signing key (PKCS#8 PEM, mode 0600) here, and its public key to
        /// the same path with `.pub` appended.
        #[arg(long, group = "what")]
        audit_key: Option<PathBuf>,
    },
    /// Read the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Start a sample upstream and the gateway in front of it on loopback, with demo keys.
    Demo {
        /// Where the demo gateway listens (default 127.0.0.1:8080, or a free port if taken).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the chain, sequence and checkpoints: exit 0 with a summary, or exit 1 naming
    /// the first broken record (file, line, why).
    Verify {
        /// Trail files, or folders holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Ed25519 public key (PEM, raw or hex): checkpoints must be present and signed by it.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// `audit.witness_dir`: the trail must reach the last checkpoint witnessed there.
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Show matching records: a table, or JSON lines with --json.
    Query {
        /// Trail files, or folders holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Only this partner.
        #[arg(long)]
        partner: Option<String>,
        /// Only `allow` or `deny`.
        #[arg(long, value_parser = ["allow", "deny"])]
        decision: Option<String>,
        /// Only this error code (e.g. permission_denied).
        #[arg(long)]
        code: Option<String>,
        /// Only this route.
        #[arg(long)]
        route: Option<String>,
        /// At or after this RFC 3339 instant.
        #[arg(long, value_parser = parse_time)]
        since: Option<std::time::SystemTime>,
        /// Before this RFC 3339 instant.
        #[arg(long, value_parser = parse_time)]
        until: Option<std::time::SystemTime>,
        /// JSON lines (the records as written) instead of a table.
        #[arg(long)]
        json: bool,
        /// Also show records that do not verify (from the first broken one on), marked
        /// `"verified": false` (`UNVERIFIED` in the table).
        #[arg(long)]
        unverified: bool,
    },
}

fn parse_time(s: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(s).map_err(|e| format!("{e}; write e.g. 2026-11-25T00:00:00Z"))
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One crypto provider for every TLS use, installed before anything could pick another.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_logging(cli.log_format, cli.log_level.as_deref());
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Keygen {
            partner: Some(partner),
            ..
        } => keygen(&partner),
        Command::Keygen {
            audit_key: Some(path),
            ..
        } => audit_keygen(&path),
        Command::Keygen { .. } => ExitCode::from(EX_USAGE),
        Command::Audit { command } => audit(command),
        Command::Serve { config, no_watch } => run_async(serve(config, !no_watch, cli.workers)),
        Command::Demo { listen } => run_async(demo(listen, cli.workers)),
    }
}

fn init_logging(format: LogFormat, level: Option<&str>) {
    let filter = match level {
        Some(l) => tracing_subscriber::EnvFilter::new(l),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// The control plane (admin listener, signals, reloads) runs here; partner traffic runs on the
/// worker threads `App` starts.
fn run_async(fut: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(snap) => {
            println!("{}: ok: {}", path.display(), snap.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            report(path, &e);
            ExitCode::FAILURE
        }
    }
}

/// Prints every problem of a configuration, one per line.
fn report(path: &Path, e: &ConfigError) {
    match e {
        ConfigError::Invalid(problems) => {
            eprintln!("{}: {} problem(s):", path.display(), problems.len());
            for p in problems {
                eprintln!("  {p}");
            }
        }
        ConfigError::Io { .. } | ConfigError::Syntax(_) => eprintln!("{}: {e}", path.display()),
    }
}

fn keygen(partner: &str) -> ExitCode {
    match crate::keygen::generate(partner) {
        Ok(g) => {
            println!("# API key for partner {partner:?}. It is shown only this once:");
            println!("{}", g.key);
            println!();
            println!("# Add to the partner's [[partners]] entry (only the SHA-256 is stored):");
            println!("{}", g.toml_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keygen: {e}");
            ExitCode::from(EX_USAGE)
        }
    }
}

fn audit_keygen(path: &Path) -> ExitCode {
    let (private, public) = match crate::audit::generate_pem() {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("keygen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let write_private = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(private.as_bytes())
    };
    if let Err(e) = write_private().and_then(|()| std::fs::write(&pub_path, &public)) {
        eprintln!("keygen: {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!(
        "# Audit checkpoint signing key written to {} (keep it secret).",
        path.display()
    );
    println!(
        "# Public key for `audit verify --public-key`, also in {}:",
        Path::new(&pub_path).display()
    );
    print!("{public}");
    println!(
        "# In gateway.toml:  [audit] signing_key = {:?}",
        path.display().to_string()
    );
    ExitCode::SUCCESS
}

fn audit(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify {
            paths,
            public_key,
            witness,
        } => audit_verify(&paths, public_key.as_deref(), witness.as_deref()),
        AuditCommand::Query {
            paths,
            partner,
            decision,
            code,
            route,
            since,
            until,
            json,
            unverified,
        } => {
            let filter = crate::audit::query::Filter {
                partner,
                decision,
                code,
                route,
                since,
                until,
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match crate::audit::query::run(&paths, &filter, json, unverified, &mut out) {
                Ok(n) => {
                    let _ = out.flush();
                    if !json {
                        eprintln!("{n} record(s)");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("audit query: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn audit_verify(paths: &[PathBuf], public_key: Option<&Path>, witness: Option<&Path>) -> ExitCode {
    let key = match public_key.map(crate::audit::load_verifying_key).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("audit verify: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let opts = crate::audit::VerifyOptions {
        key: key.as_ref(),
        require_start: true,
        witness,
    };
    match crate::audit::verify_with(paths, opts) {
        Ok(r) => {
            let range = |a: &Option<String>, b: &Option<String>| {
                format!(
                    "{} .. {}",
                    a.as_deref().unwrap_or("-"),
                    b.as_deref().unwrap_or("-")
                )
            };
            println!(
                "ok: {} records (seq {}), {}, {} file(s), {} checkpoint(s){}",
                r.records,
                range(
                    &r.first_seq.map(|s| s.to_string()),
                    &r.last_seq.map(|s| s.to_string())
                ),
                range(&r.first_ts, &r.last_ts),
                r.files,
                r.checkpoints,
                if key.is_some() {
                    " with valid signatures"
                } else {
                    " (signatures not checked: no --public-key)"
                },
            );
            if let (Some(cp), Some(last)) = (r.last_checkpoint_seq, r.last_seq)
                && last > cp
            {
                println!(
                    "note: {} record(s) after the last checkpoint (seq {cp}) are not covered by a signature",
                    last - cp
                );
            }
            if let (Some(first), Some(by)) = (r.first_seq, r.vouched_by) {
                println!(
                    "note: the trail starts at seq {first}, as the retention record at seq {by} says (earlier files were deleted by retention)"
                );
            }
            if let Some(w) = r.witnessed_seq {
                println!("note: the trail reaches the last witnessed checkpoint (seq {w})");
            }
            if !r.dangling_intents.is_empty() {
                println!(
                    "warning: {} intent(s) without an outcome (forwarded or about to be when the gateway stopped; check the upstream): {}",
                    r.dangling_intents.len(),
                    r.dangling_intents.join(", ")
                );
            }
            if let Some(torn) = r.torn_tail {
                println!(
                    "note: torn final line at {torn}: a write cut short by a crash, never acknowledged to a client"
                );
            }
            ExitCode::SUCCESS
        }
        Err(b) => {
            println!("broken: {b}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(path: PathBuf, watch: bool, workers: Option<usize>) -> ExitCode {
    let snapshot = match config::load(&path) {
        Ok(s) => s,
        Err(e) => {
            report(&path, &e);
            return ExitCode::from(EX_USAGE);
        }
    };
    let summary = snapshot.summary();
    let opts = Options {
        config_path: Some(path.clone()),
        watch_config: watch,
        listener: None,
        workers: workers.filter(|n| *n > 0),
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
    let mut signals = match OsSignals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    while signals.next().await == OsSignal::Reload {
        app.reload(crate::audit::ConfigTrigger::Signal);
    }
    tracing::info!("shutting down: draining in-flight requests");
    app.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn demo(listen: Option<SocketAddr>, workers: Option<usize>) -> ExitCode {
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
    };
    let snapshot = match config::from_str(crate::demo::DEMO_CONFIG, &overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: the built-in demo config is invalid: {e}");
            return ExitCode::FAILURE;
        }
    };
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
    let opts = Options {
        listener: Some(listener),
        workers: workers.filter(|n| *n > 0),
        ..Options::default()
    };
    let app = match App::start_with(snapshot, Arc::new(LogSink), opts).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A closed stdout (e.g. piped to `head`) must not stop the demo.
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        crate::demo::instructions(app.addr())
    );
    let _ = std::io::stdout().flush();
    let mut signals = match OsSignals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    while signals.next().await == OsSignal::Reload {}
    app.shutdown().await;
    ExitCode::SUCCESS
}
