//! Audit lines: the record kinds, their canonical form and the hash chain.
//!
//! A chained line is `canonical` with `,"hash":"<64 hex>"` inserted before its final `}`,
//! where `canonical` is the record serialised without `hash` (fields in a fixed order, every
//! string JSON-escaped) and `hash = SHA-256(prev ‖ canonical)`, `prev` as 64 ASCII hex digits.

use std::time::SystemTime;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use crate::outcome::Intent;
use crate::outcome::Outcome;

/// The `prev` of the very first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a chained record is about.
#[derive(Debug, Clone)]
pub enum Event {
    /// One finished request (its members serialised where it finished).
    Request(super::line::Body),
    /// A configuration load or reload.
    Config(Box<ConfigEvent>),
    /// Requests from one client address refused by the per-address limit on unauthenticated
    /// traffic during one window, summarised instead of recorded one by one.
    UnauthenticatedSummary(UnauthenticatedSummary),
    /// Written before a request with a side effect is forwarded (strict durability, routes
    /// whose permission kind is not `read`); its outcome follows with the same `request_id`.
    Intent(super::line::Body),
    /// An audit file deleted by retention (compliance deletion rule), written before the
    /// deletion: it vouches for the new start of the trail.
    Retention {
        /// The file name that was deleted.
        file: String,
        /// Why.
        reason: String,
        /// The first record that remains after the deletion...
        first_seq: u64,
        /// ... and its `prev`, the hash of the last record deleted.
        first_prev: String,
    },
    /// A partner suspended for misuse, or its suspension lifted.
    Suspension(crate::governance::misuse::Event),
}

/// Who asked for a configuration load (a closed set; the audit record keeps the names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigTrigger {
    /// The process started.
    Startup,
    /// `SIGHUP`.
    Signal,
    /// `POST /admin/reload`.
    Admin,
    /// The file changed.
    FileWatch,
}

/// What a configuration load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigResult {
    /// A new snapshot is in force.
    Ok,
    /// The file was refused; the running configuration stays.
    Error,
    /// Nothing changed.
    Unchanged,
    /// Refused: the change needs approvals it does not have; the running configuration stays.
    Unapproved,
}

/// How many lines of a change's diff summary a config record keeps.
pub const DIFF_LINES: usize = 16;

/// A configuration change, recorded so the trail answers "who could do what, when".
#[derive(Debug, Clone)]
pub struct ConfigEvent {
    /// Who asked.
    pub trigger: ConfigTrigger,
    /// What it did.
    pub result: ConfigResult,
    /// The config hash in force before.
    pub old_sha256: Option<String>,
    /// The config hash of the file that was read.
    pub new_sha256: Option<String>,
    /// The error, for `result = "error"`.
    pub detail: Option<String>,
    /// What the change does to governance, one line per change (capped).
    pub diff: Vec<String>,
    /// What made the configuration in force acceptable (with approvals enforced): the
    /// approvals folder's generation, the approved view's hash, the signers.
    pub approved: Option<crate::approvals::Approved>,
}

/// What one summary record says about one client address and window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnauthenticatedSummary {
    /// The address (IPv4, or an IPv6 /64).
    pub client: String,
    /// Requests refused.
    pub count: u64,
    /// When the first arrived.
    pub first: SystemTime,
    /// When the last arrived.
    pub last: SystemTime,
    /// How many would have had each code (`invalid_credentials`, `forbidden_route`, ...).
    pub codes: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'static str,
    client: &'a str,
    count: u64,
    first: &'a str,
    last: &'a str,
    codes: &'a std::collections::BTreeMap<&'static str, u64>,
    status: u16,
    code: &'static str,
    prev: &'a str,
}

#[derive(Serialize)]
struct RetentionLine<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'static str,
    file: &'a str,
    reason: &'a str,
    first_seq: u64,
    first_prev: &'a str,
    prev: &'a str,
}

// === impl Event ===

impl Event {
    /// The record of a finished request, serialised here (on the worker that served it).
    pub fn request(o: &Outcome) -> Self {
        Self::Request(super::line::request(o))
    }

    /// The record of an intent, serialised here.
    pub fn intent(i: &Intent) -> Self {
        Self::Intent(super::line::intent(i))
    }
}

// === impl ConfigTrigger ===

impl ConfigTrigger {
    /// `startup`, `signal`, `admin` or `file_watch`, as in the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Signal => "signal",
            Self::Admin => "admin",
            Self::FileWatch => "file_watch",
        }
    }
}

// === impl ConfigResult ===

impl ConfigResult {
    /// `ok`, `error` or `unchanged`, as in the audit record and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Unchanged => "unchanged",
            Self::Unapproved => "unapproved",
        }
    }
}

/// RFC 3339 UTC with microseconds, e.g. `2026-11-25T01:02:03.123456Z`.
pub(super) fn timestamp(t: SystemTime) -> String {
    String::from_utf8_lossy(&super::line::rfc3339_micros(t)).into_owned()
}

/// Appends the chained line for `event` (with its newline) to `out`; returns its hash.
pub fn append_line(out: &mut Vec<u8>, seq: u64, prev: &str, event: &Event) -> String {
    let start = out.len();
    // Serialising plain strings and integers into a Vec cannot fail.
    let _ = match event {
        Event::Request(body) | Event::Intent(body) => {
            super::line::assemble(out, seq, prev, body);
            Ok(())
        }
        Event::Config(c) => super::governance::write_config(out, seq, prev, c),
        Event::UnauthenticatedSummary(u) => {
            let ts = timestamp(SystemTime::now());
            serde_json::to_writer(
                &mut *out,
                &SummaryLine {
                    seq,
                    ts: &ts,
                    kind: "unauthenticated_summary",
                    client: &u.client,
                    count: u.count,
                    first: &timestamp(u.first),
                    last: &timestamp(u.last),
                    codes: &u.codes,
                    status: 429,
                    code: "rate_limited",
                    prev,
                },
            )
        }
        Event::Retention {
            file,
            reason,
            first_seq,
            first_prev,
        } => {
            let ts = timestamp(SystemTime::now());
            serde_json::to_writer(
                &mut *out,
                &RetentionLine {
                    seq,
                    ts: &ts,
                    kind: "retention",
                    file,
                    reason,
                    first_seq: *first_seq,
                    first_prev,
                    prev,
                },
            )
        }
        Event::Suspension(e) => super::governance::write_suspension(out, seq, prev, e),
    };
    let hash = chain_hash(prev, &out[start..]);
    // Replace the closing brace with the hash member, then close the object again.
    out.pop();
    out.extend_from_slice(b",\"hash\":\"");
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(b"\"}\n");
    hash
}

/// `SHA-256(prev ‖ canonical)` in hex.
pub fn chain_hash(prev: &str, canonical: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(canonical);
    // By table into a fixed buffer (hex::encode collects a String from chars, a tenth of a
    // line's cost; pushing into a Vec checks its capacity at every byte).
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(h.finalize()) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// Splits a chained line into its canonical form and its hash, if it has the shape.
pub fn split_hash(line: &[u8]) -> Option<(Vec<u8>, &str)> {
    const TAIL: usize = ",\"hash\":\"".len() + 64 + "\"}".len();
    if line.len() < TAIL + 2 || !line.ends_with(b"\"}") {
        return None;
    }
    let cut = line.len() - TAIL;
    let tail = &line[cut..];
    if !tail.starts_with(b",\"hash\":\"") {
        return None;
    }
    let hash = std::str::from_utf8(&tail[9..9 + 64]).ok()?;
    let mut canonical = line[..cut].to_vec();
    canonical.push(b'}');
    Some((canonical, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_carries_the_hash_of_prev_and_its_canonical_form() {
        let mut out = Vec::new();
        let event = Event::Retention {
            file: "audit-000001.jsonl".into(),
            reason: "older than 400 days".into(),
            first_seq: 8,
            first_prev: GENESIS.into(),
        };
        let hash = append_line(&mut out, 7, GENESIS, &event);
        assert_eq!(out.last(), Some(&b'\n'));
        let line = &out[..out.len() - 1];
        let (canonical, h) = split_hash(line).unwrap_or_else(|| panic!("shape"));
        assert_eq!(h, hash);
        assert_eq!(chain_hash(GENESIS, &canonical), hash);
        let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["kind"], "retention");
        assert_eq!(v["prev"], GENESIS);
        assert_eq!(v["hash"], hash.as_str());
    }
}
