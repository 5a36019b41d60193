//! The command line: `serve` and `demo` (run.rs), `check`, `keygen`, and `audit verify|query`
//! (audit.rs), each a small function.

mod audit;
mod governance;
mod report;
mod run;

use audit::AuditCommand;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError};

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
        /// Enforce signed approvals against this folder whatever the file says (a restart
        /// with a file that moves `approvals_dir` or turns enforcement off is refused too).
        #[arg(long, env = "KWANUS_GATEWAY_APPROVALS")]
        approvals: Option<PathBuf>,
    },
    /// Validate a configuration file: every problem with its place, exit 1; or a summary, exit 0
    /// (with warnings for grant reviews overdue or due within 30 days).
    Check {
        /// The configuration file.
        #[arg(long, env = "KWANUS_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Also say whether the file would be accepted against the approved copy and the
        /// signatures in this approvals folder, and which bodies are missing (exit 1 if not).
        #[arg(long)]
        approvals: Option<PathBuf>,
        /// Accept the published demo keys (for the demo's own files; `serve` never does).
        #[arg(long)]
        demo_keys: bool,
    },
    /// What a configuration change does to governance; exit 0 when nothing relevant changed,
    /// 1 when something did, 2 on error. Each side is a configuration file (read, not
    /// compiled: no key or schema file needs to be here; those missing are not compared) or
    /// an approvals folder's `approved.json`.
    Diff {
        /// The configuration before (a file, or `approved.json`).
        old: PathBuf,
        /// The configuration after (a file, or `approved.json`).
        new: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign the change from OLD to NEW as one governance body, into the approvals folder
    /// (`--genesis NEW`: the first approved configuration).
    Approve {
        /// TSC, SCO, ERC or CGB.
        #[arg(long)]
        body: String,
        /// The body member's Ed25519 private key (PKCS#8 PEM, 32 raw bytes or 64 hex digits).
        #[arg(long)]
        key: PathBuf,
        /// The approvals folder.
        #[arg(long)]
        approvals: PathBuf,
        /// Sign the first approved configuration (no OLD).
        #[arg(long)]
        genesis: bool,
        /// OLD NEW, or NEW with --genesis.
        #[arg(num_args = 1..=2, required = true)]
        files: Vec<PathBuf>,
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
        /// Keep the demo's folder (its configuration, approvals and audit trail) when it stops.
        #[arg(long)]
        keep: bool,
    },
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One crypto provider for every TLS use, installed before anything could pick another.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_logging(cli.log_format, cli.log_level.as_deref());
    match cli.command {
        Command::Check {
            config,
            approvals,
            demo_keys,
        } => check(&config, approvals.as_deref(), demo_keys),
        Command::Diff { old, new, json } => governance::diff(&old, &new, json),
        Command::Approve {
            body,
            key,
            approvals,
            genesis,
            files,
        } => governance::approve(governance::ApproveArgs {
            body,
            key,
            approvals,
            genesis,
            files,
        }),
        Command::Keygen {
            partner: Some(partner),
            ..
        } => keygen(&partner),
        Command::Keygen {
            audit_key: Some(path),
            ..
        } => audit_keygen(&path),
        Command::Keygen { .. } => ExitCode::from(EX_USAGE),
        Command::Audit { command } => audit::audit(command),
        Command::Serve {
            config,
            no_watch,
            approvals,
        } => run_async(run::serve(config, !no_watch, approvals, cli.workers)),
        Command::Demo { listen, keep } => run_async(run::demo(listen, keep, cli.workers)),
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

fn check(path: &Path, approvals: Option<&Path>, demo_keys: bool) -> ExitCode {
    let overrides = config::Overrides {
        demo: demo_keys,
        ..config::Overrides::default()
    };
    match config::load_with(path, &overrides) {
        Ok(snap) => {
            println!("{}: ok: {}", path.display(), snap.summary());
            for w in governance::review_warnings(&snap, std::time::SystemTime::now()) {
                println!("{w}");
            }
            for w in crate::safeguards::warnings(&snap) {
                println!("{w}");
            }
            match approvals {
                Some(dir) => governance::check_approvals(&snap, dir),
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            report(path, &e);
            ExitCode::FAILURE
        }
    }
}

/// Prints every problem of a configuration, one per line.
pub(super) fn report(path: &Path, e: &ConfigError) {
    match e {
        ConfigError::Invalid(problems) => {
            eprintln!("{}: {} problem(s):", path.display(), problems.len());
            for p in problems {
                eprintln!("  {p}");
            }
        }
        ConfigError::Io { .. }
        | ConfigError::Syntax(_)
        | ConfigError::Refused(_)
        | ConfigError::Unapproved(_) => eprintln!("{}: {e}", path.display()),
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
    if let Ok(key) = crate::audit::load_verifying_key(Path::new(&pub_path)) {
        println!(
            "# Or, as a governance body member's key:  [governance.bodies] SCO = [\"{}\"]",
            hex::encode(key.as_bytes())
        );
    }
    ExitCode::SUCCESS
}
