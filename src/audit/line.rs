//! The request and intent lines — the trail's every-request records — written by hand: keys
//! are constants, numbers go through `itoa`, the timestamp and an IPv4 client are formatted
//! without `core::fmt`, and each string is escaped in one pass that copies clean runs whole
//! (eight bytes checked at a time). The bytes are exactly what `serde_json` writes for the
//! same record (a property test compares the two), so the chain and `verify` are unchanged.
//!
//! A record's members between `seq` and `prev` (its `Body`) are serialised where the event
//! happens, on the worker that served the request; the one writer thread only adds the
//! chain's two ends and hashes — the part that must be done in order.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::outcome::{Intent, Outcome};

/// A request's or intent's members between `seq` and `prev`, serialised (`,"ts":…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(Vec<u8>);

/// A JSON object's members being written: each key is a constant with its separator.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
}

/// `"name":` after the first member: `,"name":`.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":").as_bytes()
    };
}

impl<'a> Obj<'a> {
    fn str(&mut self, key: &[u8], v: &str) {
        self.out.extend_from_slice(key);
        string(self.out, v);
    }

    fn opt_str(&mut self, key: &[u8], v: Option<&str>) {
        match v {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    fn null(&mut self, key: &[u8]) {
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(b"null");
    }

    fn num(&mut self, key: &[u8], v: u64) {
        self.out.extend_from_slice(key);
        number(self.out, v);
    }

    fn opt_num(&mut self, key: &[u8], v: Option<u64>) {
        match v {
            Some(v) => self.num(key, v),
            None => self.null(key),
        }
    }

    fn bool(&mut self, key: &[u8], v: bool) {
        self.out.extend_from_slice(key);
        self.out
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
    }
}

fn number(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// The record of a chained event: `{"seq":N` + its body + `,"prev":"…"}` (without its hash).
pub(super) fn assemble(out: &mut Vec<u8>, seq: u64, prev: &str, body: &Body) {
    out.extend_from_slice(b"{\"seq\":");
    number(out, seq);
    out.extend_from_slice(&body.0);
    out.extend_from_slice(key!("prev"));
    string(out, prev);
    out.push(b'}');
}

/// A request record's body.
pub(super) fn request(o: &Outcome) -> Body {
    let mut buf = Vec::with_capacity(640);
    let j = &mut Obj { out: &mut buf };
    j.out.extend_from_slice(key!("ts"));
    timestamp(j.out, o.ts);
    j.str(key!("kind"), "request");
    j.str(key!("request_id"), &o.request_id);
    j.opt_str(key!("partner"), o.partner.as_deref());
    j.opt_str(key!("key_id"), o.key_id.as_deref());
    j.opt_num(key!("tier"), o.tier.map(u64::from));
    j.opt_str(key!("credential"), o.credential.map(|c| c.as_str()));
    j.opt_str(key!("issuer"), o.jwt_issuer.as_deref());
    j.opt_str(key!("kid"), o.jwt_kid.as_deref());
    j.out.extend_from_slice(key!("client"));
    client(j.out, o.client);
    j.str(key!("method"), &o.method);
    j.str(key!("path"), &o.path);
    j.opt_str(key!("query"), o.query.as_deref());
    j.opt_str(key!("route"), o.route.as_deref());
    j.opt_str(key!("permission"), o.permission.as_deref());
    j.str(key!("decision"), o.decision.as_str());
    j.opt_str(key!("code"), o.code);
    j.str(key!("reason"), o.reason);
    j.num(key!("status"), u64::from(o.status));
    j.opt_str(key!("upstream"), o.upstream.as_deref());
    j.opt_num(key!("upstream_status"), o.upstream_status.map(u64::from));
    j.num(
        key!("duration_us"),
        u64::try_from(o.duration.as_micros()).unwrap_or(u64::MAX),
    );
    j.opt_str(key!("idempotency_key"), o.idempotency_key.as_deref());
    j.bool(key!("replayed"), o.replayed);
    j.bool(key!("truncated"), o.truncated);
    j.bool(key!("response_complete"), o.response_complete);
    if let Some(f) = o.fields_removed.as_deref() {
        j.out.extend_from_slice(key!("fields_removed"));
        j.out.extend_from_slice(b"{\"count\":");
        number(j.out, f.count as u64);
        j.out.extend_from_slice(b",\"pointers\":");
        strings(j.out, &f.pointers);
        j.out.push(b'}');
    }
    if !o.schema_pointers.is_empty() {
        j.out.extend_from_slice(key!("schema_pointers"));
        strings(j.out, &o.schema_pointers);
    }
    Body(buf)
}

/// A JSON array of strings.
fn strings(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, s);
    }
    out.push(b']');
}

/// An intent record's body.
pub(super) fn intent(i: &Intent) -> Body {
    let mut buf = Vec::with_capacity(384);
    let j = &mut Obj { out: &mut buf };
    j.out.extend_from_slice(key!("ts"));
    timestamp(j.out, i.ts);
    j.str(key!("kind"), "intent");
    j.str(key!("request_id"), &i.request_id);
    j.str(key!("partner"), &i.partner);
    j.str(key!("key_id"), &i.key_id);
    j.out.extend_from_slice(key!("client"));
    client(j.out, i.client);
    j.str(key!("method"), &i.method);
    j.str(key!("path"), &i.path);
    j.str(key!("route"), &i.route);
    j.str(key!("permission"), &i.permission);
    Body(buf)
}

/// A JSON string: quoted, with `"`, `\` and control characters escaped as serde_json does
/// (`\b \t \n \f \r`, else `\u00XX` in lower-case hex); everything else copied as it is.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(at) = crate::normalize::json::next_special(bytes, start) {
        out.extend_from_slice(&bytes[start..at]);
        let b = bytes[at];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `"2026-11-25T01:02:03.123456Z"`: RFC 3339 UTC with microseconds, as humantime writes it.
/// A clock before 1970 reads as the epoch, one past 9999 as its last microsecond (humantime
/// would panic on either).
fn timestamp(out: &mut Vec<u8>, t: SystemTime) {
    out.push(b'"');
    out.extend_from_slice(&rfc3339_micros(t));
    out.push(b'"');
}

/// The 27 bytes of `2026-11-25T01:02:03.123456Z`.
pub(super) fn rfc3339_micros(t: SystemTime) -> [u8; 27] {
    const LAST: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (secs, micros) = match since.as_secs() {
        s if s > LAST => (LAST, 999_999),
        s => (s, u64::from(since.subsec_micros())),
    };
    let (y, m, d) = civil(secs / 86_400);
    let rem = secs % 86_400;
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, rem / 3600);
    put(14, 2, rem % 3600 / 60);
    put(17, 2, rem % 60);
    put(20, 6, micros);
    buf
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The client address as a JSON string: IPv4 written directly, IPv6 through `Display`.
fn client(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            out.push(b'"');
            for (i, octet) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                number(out, u64::from(*octet));
            }
            out.push(b':');
            number(out, u64::from(v4.port()));
            out.push(b'"');
        }
        SocketAddr::V6(_) => {
            out.push(b'"');
            // Writing into a Vec cannot fail; an IPv6 address needs no escaping.
            let _ = write!(out, "{addr}");
            out.push(b'"');
        }
    }
}

#[cfg(test)]
mod tests;
