//! `audit verify` and `audit query`: what a security officer runs against the trail.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::EX_USAGE;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
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
        /// Only this error code (e.g. permission_denied; an unknown one is an error listing
        /// them all).
        #[arg(long, value_parser = crate::model::CODES.map(|(code, _)| code))]
        code: Option<String>,
        /// Only this route.
        #[arg(long)]
        route: Option<String>,
        /// Only records of this kind (`config` lists the configuration changes and who
        /// approved them).
        #[arg(long, value_parser = crate::audit::query::KINDS)]
        kind: Option<String>,
        /// Only this reason (e.g. method_override, charset).
        #[arg(long)]
        reason: Option<String>,
        /// Only the record(s) of this request id (the `X-Request-Id` a partner was given).
        #[arg(long)]
        request_id: Option<String>,
        /// Only this status (e.g. 403).
        #[arg(long)]
        status: Option<u16>,
        /// Only this client address.
        #[arg(long)]
        client: Option<String>,
        #[command(flatten)]
        period: Period,
        /// How matches are shown.
        #[arg(long, value_enum, default_value = "table")]
        format: crate::audit::query::Format,
        /// The same as --format json.
        #[arg(long)]
        json: bool,
        /// Also show records that do not verify (from the first broken one on), marked
        /// `"verified": false` (`UNVERIFIED` in the table).
        #[arg(long)]
        unverified: bool,
    },
    /// Counts from the verified trail, grouped: requests, allows, denials by code, 5xx, and
    /// the p50/p99 duration of each group, then the total.
    Summary {
        /// Trail files, or folders holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// What the rows are.
        #[arg(long, value_enum, default_value = "partner")]
        by: crate::audit::summary::By,
        /// Only this partner.
        #[arg(long)]
        partner: Option<String>,
        #[command(flatten)]
        period: Period,
    },
    /// One partner over a period, from the verified trail: requests, denials by code,
    /// workflow 5xx, unused grants, keys near expiry, and a tier-readiness verdict.
    Report {
        /// Trail files, or folders holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The partner.
        #[arg(long)]
        partner: String,
        /// The period: a duration back from now (`90d`) or an RFC 3339 instant.
        #[arg(long, default_value = "90d")]
        since: String,
        /// The configuration in force (grants, keys, risk, stage, permission kinds).
        #[arg(long, env = "KWANUS_GATEWAY_CONFIG")]
        config: PathBuf,
        /// Highest share of workflow requests answered 5xx that counts as reliable.
        #[arg(long, default_value_t = 0.01)]
        max_workflow_5xx: f64,
        /// Highest share of denied requests that counts as low risk.
        #[arg(long, default_value_t = 0.05)]
        max_denial_rate: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `--since` and `--until`, as every command that reads a period takes them.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(super) struct Period {
    /// At or after: a duration back from now (7d, 24h, 1h) or an RFC 3339 instant (any
    /// offset).
    #[arg(long, value_parser = parse_time)]
    since: Option<std::time::SystemTime>,
    /// Before: a duration back from now or an RFC 3339 instant (any offset).
    #[arg(long, value_parser = parse_time)]
    until: Option<std::time::SystemTime>,
}

fn parse_time(s: &str) -> Result<std::time::SystemTime, String> {
    crate::audit::query::parse_when(s, std::time::SystemTime::now())
}

pub(super) fn audit(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Report {
            paths,
            partner,
            since,
            config,
            max_workflow_5xx,
            max_denial_rate,
            json,
        } => super::report::run(super::report::Args {
            paths,
            partner,
            since,
            config,
            thresholds: crate::audit::report::Thresholds {
                max_workflow_5xx,
                max_denial_rate,
            },
            json,
        }),
        AuditCommand::Verify {
            paths,
            public_key,
            witness,
        } => audit_verify(&paths, public_key.as_deref(), witness.as_deref()),
        AuditCommand::Summary {
            paths,
            by,
            partner,
            period: Period { since, until },
        } => {
            let filter = crate::audit::query::Filter {
                partner,
                since,
                until,
                ..crate::audit::query::Filter::default()
            };
            match crate::audit::summary::summarise(&paths, &filter, by) {
                Ok(groups) => {
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    let written = crate::audit::summary::print(&groups, by, &mut out)
                        .and_then(|()| out.flush());
                    match written {
                        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                            eprintln!("audit summary: {e}");
                            ExitCode::FAILURE
                        }
                        _ => ExitCode::SUCCESS,
                    }
                }
                Err(e) => {
                    eprintln!("audit summary: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        AuditCommand::Query {
            paths,
            partner,
            decision,
            code,
            route,
            kind,
            reason,
            request_id,
            status,
            client,
            period: Period { since, until },
            format,
            json,
            unverified,
        } => {
            let filter = crate::audit::query::Filter {
                partner,
                decision,
                code,
                route,
                kind,
                reason,
                request_id,
                status,
                client,
                since,
                until,
            };
            let format = if json {
                crate::audit::query::Format::Json
            } else {
                format
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let result = crate::audit::query::run(&paths, &filter, format, unverified, &mut out);
            let result = result.and_then(|n| {
                out.flush()
                    .map(|()| n)
                    .map_err(crate::audit::query::QueryError::Output)
            });
            match result {
                Ok(n) => {
                    if format == crate::audit::query::Format::Table {
                        eprintln!("{n} record(s)");
                    }
                    ExitCode::SUCCESS
                }
                // The reader has what it wanted (`| head`): not a failure.
                Err(crate::audit::query::QueryError::Output(e))
                    if e.kind() == std::io::ErrorKind::BrokenPipe =>
                {
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
