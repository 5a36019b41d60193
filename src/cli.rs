//! The command line: `serve`, `check`, `keygen` and `demo`, each a small function.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::App;
use crate::config::{self, ConfigError, Overrides};
use crate::outcome::LogSink;
use crate::reload::{self, Reloaded};
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
    },
    /// Validate a configuration file: every problem with its place, exit 1; or a summary, exit 0.
    Check {
        /// The configuration file.
        #[arg(long, env = "KWANUS_GATEWAY_CONFIG")]
        config: PathBuf,
    },
    /// Print a fresh partner API key once, and the TOML that stores only its SHA-256.
    Keygen {
        /// The partner the key is for.
        #[arg(long)]
        partner: String,
    },
    /// Start a sample upstream and the gateway in front of it on loopback, with demo keys.
    Demo {
        /// Where the demo gateway listens (default 127.0.0.1:8080, or a free port if taken).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Keygen { partner } => keygen(&partner),
        Command::Serve { config } => run_async(serve(config)),
        Command::Demo { listen } => run_async(demo(listen)),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn run_async(fut: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
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

async fn serve(path: PathBuf) -> ExitCode {
    let snapshot = match config::load(&path) {
        Ok(s) => s,
        Err(e) => {
            report(&path, &e);
            return ExitCode::from(EX_USAGE);
        }
    };
    let summary = snapshot.summary();
    let app = match App::start(snapshot, Arc::new(LogSink)).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot bind the partner listener");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %app.addr(), config = %path.display(), %summary, "listening");
    let mut signals = match OsSignals::install() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    while signals.next().await == OsSignal::Reload {
        match reload::reload(app.shared(), &path) {
            Ok(Reloaded::Swapped) => {}
            Ok(Reloaded::Unchanged) => tracing::info!("reload: configuration unchanged"),
            Err(e) => {
                for line in e.to_string().lines() {
                    tracing::error!(
                        problem = line,
                        "reload refused; the running configuration stays"
                    );
                }
            }
        }
    }
    tracing::info!("shutting down: draining in-flight requests");
    app.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn demo(listen: Option<SocketAddr>) -> ExitCode {
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
    let app = match App::start_on(listener, snapshot, Arc::new(LogSink)) {
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
