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
    /// Only the record(s) of this request id.
    pub request_id: Option<String>,
    /// Only this status.
    pub status: Option<u16>,
    /// Only this client address.
    pub client: Option<String>,
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
            && eq(&self.request_id, "request_id")
            && eq(&self.client, "client")
            && self
                .status
                .is_none_or(|s| v.get("status").and_then(Value::as_u64) == Some(u64::from(s)))
    }
}

/// How matching records are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// The records as written, one JSON object a line.
    Json,
    /// Comma-separated values with a header line, for spreadsheets.
    Csv,
}

/// The columns of `--format csv`.
const CSV_COLUMNS: [&str; 13] = [
    "seq",
    "ts",
    "kind",
    "partner",
    "method",
    "path",
    "route",
    "decision",
    "code",
    "status",
    "reason",
    "request_id",
    "client",
];

/// An instant given on the command line: a duration back from `now` (`7d`, `24h`, `90m`) or an
/// RFC 3339 instant with `Z` or any offset (`2026-11-29T12:04:00+01:00`).
pub fn parse_when(s: &str, now: std::time::SystemTime) -> Result<std::time::SystemTime, String> {
    const HOW: &str = "write a duration back from now (7d, 24h, 1h) or an RFC 3339 instant (2026-11-25T00:00:00Z, 2026-11-29T12:04:00+01:00)";
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now.checked_sub(d).unwrap_or(std::time::UNIX_EPOCH));
    }
    let bad = |e: &dyn std::fmt::Display| format!("{s:?}: {e}; {HOW}");
    let b = s.as_bytes();
    let offset = match b.len().checked_sub(6).map(|i| (i, &b[i..])) {
        Some((i, [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]))
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            let num = |a: &u8, b: &u8| u64::from((a - b'0') * 10 + (b - b'0'));
            Some((i, *sign == b'+', (num(h1, h2) * 60 + num(m1, m2)) * 60))
        }
        _ => None,
    };
    match offset {
        None => humantime::parse_rfc3339_weak(s).map_err(|e| bad(&e)),
        Some((at, ahead, secs)) => {
            let local =
                humantime::parse_rfc3339_weak(&format!("{}Z", &s[..at])).map_err(|e| bad(&e))?;
            let shift = std::time::Duration::from_secs(secs);
            // Local time ahead of UTC by the offset: UTC is that much earlier.
            let utc = if ahead {
                local.checked_sub(shift)
            } else {
                local.checked_add(shift)
            };
            utc.ok_or_else(|| bad(&"out of range"))
        }
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
    format: Format,
    unverified: bool,
    out: &mut impl Write,
) -> Result<u64, QueryError> {
    match format {
        Format::Table => writeln!(
            out,
            "     SEQ  TIME                         PARTNER     METHOD  PATH                              ROUTE             DECIDE  CODE                   ST  REASON"
        ),
        Format::Csv => {
            let verified = if unverified { ",verified" } else { "" };
            writeln!(out, "{}{verified}", CSV_COLUMNS.join(","))
        }
        Format::Json => Ok(()),
    }
    .map_err(QueryError::Output)?;
    each(paths, filter, unverified, |line, mut v, verified| {
        match (format, verified) {
            (Format::Json, true) => writeln!(out, "{line}"),
            (Format::Json, false) => {
                if let Some(m) = v.as_object_mut() {
                    m.insert("verified".into(), Value::Bool(false));
                }
                writeln!(out, "{v}")
            }
            (Format::Table, true) => writeln!(out, "{}", table_row(&v)),
            (Format::Table, false) => writeln!(out, "UNVERIFIED {}", table_row(&v)),
            (Format::Csv, _) => {
                let flag = match (unverified, verified) {
                    (false, _) => "",
                    (true, true) => ",true",
                    (true, false) => ",false",
                };
                writeln!(out, "{}{flag}", csv_row(&v))
            }
        }
        .map_err(QueryError::Output)
    })
}

/// One record as a CSV line of [`CSV_COLUMNS`] (RFC 4180 quoting).
fn csv_row(v: &Value) -> String {
    CSV_COLUMNS
        .iter()
        .map(|name| {
            let cell = match v.get(*name) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            // A cell a spreadsheet would run as a formula (a partner's path or key id can
            // start so) is written as text.
            let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{cell}")
            } else {
                cell
            };
            if cell.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", cell.replace('"', "\"\""))
            } else {
                cell
            }
        })
        .collect::<Vec<_>>()
        .join(",")
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::parse_when;

    #[test]
    fn instants_take_any_offset_and_durations_count_back_from_now() {
        let utc = |s: &str| humantime::parse_rfc3339(s).expect("instant");
        let now = utc("2026-12-08T00:00:00Z");
        let cases = [
            ("2026-11-29T12:04:00Z", utc("2026-11-29T12:04:00Z")),
            ("2026-11-29T12:04:00+01:00", utc("2026-11-29T11:04:00Z")),
            ("2026-11-29T12:04:00-05:30", utc("2026-11-29T17:34:00Z")),
            ("2026-11-29T12:04:00.5+00:00", utc("2026-11-29T12:04:00.5Z")),
            ("7d", now - Duration::from_secs(7 * 86_400)),
            ("24h", now - Duration::from_secs(86_400)),
            ("1h", now - Duration::from_secs(3_600)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_when(text, now), Ok(want), "{text}");
        }
        for bad in ["yesterday", "2026-11-29", "2026-11-29T12:04:00+1:00", ""] {
            let e = parse_when(bad, now).expect_err(bad);
            assert!(e.contains("7d, 24h, 1h"), "{bad}: {e}");
        }
        assert!(parse_when("1h", SystemTime::UNIX_EPOCH).is_ok());
    }
}
