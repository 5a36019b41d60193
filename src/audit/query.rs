//! `audit query`: what a security officer asks of the trail, streamed file by file.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use serde_json::Value;

/// The filters of one query; `None` matches everything.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this partner.
    pub partner: Option<String>,
    /// `allow` or `deny`.
    pub decision: Option<String>,
    /// Only this error code.
    pub code: Option<String>,
    /// Only this route.
    pub route: Option<String>,
    /// Only records of this kind (one of [`KINDS`]).
    pub kind: Option<String>,
    /// Only this reason.
    pub reason: Option<String>,
    /// At or after this RFC 3339 instant.
    pub since: Option<std::time::SystemTime>,
    /// Before this RFC 3339 instant.
    pub until: Option<std::time::SystemTime>,
}

/// The record kinds a query can select (checkpoints are never shown).
pub const KINDS: [&str; 6] = [
    "request",
    "config",
    "intent",
    "suspension",
    "retention",
    "unauthenticated_summary",
];

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("writing the result: {0}")]
    Output(std::io::Error),
}

// === impl Filter ===

impl Filter {
    /// Whether a record matches. Non-request records (config, retention) match only when no
    /// request-specific filter is set.
    fn matches(&self, v: &Value) -> bool {
        let field = |name: &str| v.get(name).and_then(Value::as_str);
        let eq = |want: &Option<String>, name: &str| {
            want.as_deref().is_none_or(|w| field(name) == Some(w))
        };
        if field("kind") == Some("checkpoint") {
            return false;
        }
        let ts = field("ts").and_then(|t| humantime::parse_rfc3339(t).ok());
        let time_ok = match (ts, self.since, self.until) {
            (Some(t), since, until) => since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u),
            (None, None, None) => true,
            (None, _, _) => false,
        };
        time_ok
            && eq(&self.partner, "partner")
            && eq(&self.decision, "decision")
            && eq(&self.code, "code")
            && eq(&self.route, "route")
            && eq(&self.kind, "kind")
            && eq(&self.reason, "reason")
    }
}

/// Streams the matching records of `paths` to `out`: JSON lines, or a table. Returns the
/// number of matches.
///
/// Only records that verify are shown: the trail is verified first (its chain from the first
/// record given), and from the first broken record on nothing is shown, unless `unverified`
/// asks for it, and then each such record is marked (`"verified": false`, `UNVERIFIED`).
pub fn run(
    paths: &[PathBuf],
    filter: &Filter,
    json: bool,
    unverified: bool,
    out: &mut impl Write,
) -> Result<u64, QueryError> {
    if !json {
        writeln!(
            out,
            "     SEQ  TIME                         PARTNER     METHOD  PATH                              ROUTE             DECIDE  CODE                   ST  REASON"
        )
        .map_err(QueryError::Output)?;
    }
    each(paths, filter, unverified, |line, mut v, verified| {
        match (json, verified) {
            (true, true) => writeln!(out, "{line}"),
            (true, false) => {
                if let Some(m) = v.as_object_mut() {
                    m.insert("verified".into(), Value::Bool(false));
                }
                writeln!(out, "{v}")
            }
            (false, true) => writeln!(out, "{}", table_row(&v)),
            (false, false) => writeln!(out, "UNVERIFIED {}", table_row(&v)),
        }
        .map_err(QueryError::Output)
    })
}

/// Calls `f` with each matching record of `paths` (its line, parsed, and whether it verifies),
/// in order; returns how many matched. The trail is verified first; from the first broken
/// record on, records are passed only with `unverified` (and then marked `false`).
pub fn each(
    paths: &[PathBuf],
    filter: &Filter,
    unverified: bool,
    mut f: impl FnMut(&str, Value, bool) -> Result<(), QueryError>,
) -> Result<u64, QueryError> {
    let opts = super::VerifyOptions {
        key: None,
        require_start: false,
        witness: None,
    };
    let broken = super::verify_with(paths, opts).err();
    if let Some(b) = &broken {
        eprintln!(
            "warning: the trail does not verify from {b}; records from there on are {}",
            if unverified {
                "marked unverified"
            } else {
                "not shown (--unverified shows them)"
            }
        );
    }
    let files = super::verify::expand(paths).map_err(|b| QueryError::Io {
        path: b.file.display().to_string(),
        source: std::io::Error::other(b.why),
    })?;
    let mut matched = 0;
    let mut verified = true;
    for path in files {
        let io = |source| QueryError::Io {
            path: path.display().to_string(),
            source,
        };
        let reader = BufReader::new(File::open(&path).map_err(io)?);
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(io)?;
            if let Some(b) = &broken
                && b.file == path
                && (b.line == 0 || b.line == n as u64 + 1)
            {
                verified = false;
            }
            if !verified && !unverified {
                return Ok(matched);
            }
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if !filter.matches(&v) {
                continue;
            }
            matched += 1;
            f(&line, v, verified)?;
        }
    }
    Ok(matched)
}

fn table_row(v: &Value) -> String {
    let s = |name: &str| match v.get(name) {
        Some(Value::String(s)) => printable(s),
        Some(Value::Number(n)) => n.to_string(),
        _ => "-".to_owned(),
    };
    if v.get("kind").and_then(Value::as_str) != Some("request") {
        let what = match v.get("kind").and_then(Value::as_str) {
            Some("config") => config_row(v, &s),
            Some("retention") => format!("retention deleted {} ({})", s("file"), s("reason")),
            Some("intent") => format!(
                "intent {} {} {} {} via {} (request {})",
                s("partner"),
                s("method"),
                s("path"),
                s("permission"),
                s("route"),
                s("request_id")
            ),
            Some("unauthenticated_summary") => format!(
                "unauthenticated {} requests from {} limited ({} .. {})",
                s("count"),
                s("client"),
                s("first"),
                s("last")
            ),
            _ => "record".to_owned(),
        };
        return format!("{:>8}  {:<27}  {what}", s("seq"), s("ts"));
    }
    format!(
        "{:>8}  {:<27}  {:<10}  {:<6}  {:<32}  {:<16}  {:<6}  {:<20}  {:>3}  {}",
        s("seq"),
        s("ts"),
        s("partner"),
        s("method"),
        s("path"),
        s("route"),
        s("decision"),
        s("code"),
        s("status"),
        s("reason")
    )
}

/// A configuration change: what it replaced, what it changed and who approved it.
fn config_row(v: &Value, s: &dyn Fn(&str) -> String) -> String {
    let short = |name: &str| s(name).chars().take(12).collect::<String>();
    let mut row = format!(
        "config {} via {}: {} -> {}",
        s("result"),
        s("trigger"),
        short("old_config_sha256"),
        short("new_config_sha256")
    );
    let signers: Vec<String> = v
        .get("signers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|g| {
            let f = |n: &str| printable(g.get(n).and_then(Value::as_str).unwrap_or("-"));
            format!(
                "{} (key {}, signed {})",
                f("body"),
                f("key_id"),
                f("signed_at")
            )
        })
        .collect();
    if v.get("generation").is_some() {
        row.push_str(&format!(
            "; generation {}; approved by {}",
            s("generation"),
            if signers.is_empty() {
                "nobody needed".to_owned()
            } else {
                signers.join(", ")
            }
        ));
    }
    for line in v
        .get("diff")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        row.push_str(&format!(
            "\n          {}",
            printable(line.as_str().unwrap_or(""))
        ));
    }
    if v.get("detail").is_some_and(|d| !d.is_null()) {
        row.push_str(&format!("\n          refused: {}", s("detail")));
    }
    row
}

/// Escapes control characters so nothing in a record can move the officer's cursor or
/// forge a table row.
fn printable(s: &str) -> String {
    s.chars().flat_map(char::escape_default).collect::<String>()
}
