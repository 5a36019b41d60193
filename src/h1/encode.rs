//! A response head in HTTP/1.1 bytes, and the framing of its body: the gateway decides it,
//! whatever framing headers the response carried (RFC 9112 §6.3) — `Content-Length` when the
//! length is known, else chunked (close-delimited for HTTP/1.0 clients), none where the
//! status or `HEAD` allows no body. `Date` is added, cached per second as hyper does.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderValue, Method, StatusCode, Version};
use http_body::SizeHint;

use super::head::digits;

/// How the response body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Out {
    /// No body bytes at all (`HEAD`, 1xx, 204, 304).
    Nothing,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the connection closes (HTTP/1.0 clients, unknown length).
    UntilClose,
}

/// What of the request decides the response's framing.
pub(super) struct Asked<'a> {
    pub method: &'a Method,
    pub version: Version,
    /// Whether the connection may go on after this answer.
    pub keep_alive: bool,
}

/// Writes the status line and fields of `parts` into `out`; returns how the body goes and
/// whether the connection goes on after it.
pub(super) fn head(
    out: &mut Vec<u8>,
    parts: &mut http::response::Parts,
    body: &SizeHint,
    asked: &Asked<'_>,
) -> (Out, bool) {
    let status = parts.status;
    let h = &mut parts.headers;
    let mut keep_alive = asked.keep_alive && !closes(h.get_all(CONNECTION).iter());
    let no_body = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    h.remove(TRANSFER_ENCODING);
    let declared = h.get(CONTENT_LENGTH).and_then(|v| digits(v.as_bytes()));
    if declared.is_none() {
        h.remove(CONTENT_LENGTH);
    }
    let framing = if no_body {
        if status == StatusCode::NO_CONTENT {
            h.remove(CONTENT_LENGTH);
        }
        Out::Nothing
    } else if let Some(n) = declared.or(body.exact()) {
        if declared.is_none() {
            h.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        Out::Length(n)
    } else if asked.version == Version::HTTP_11 {
        if *asked.method != Method::HEAD {
            h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        Out::Chunked
    } else {
        keep_alive = false;
        Out::UntilClose
    };
    let framing = if *asked.method == Method::HEAD {
        Out::Nothing
    } else {
        framing
    };
    if !keep_alive {
        h.insert(CONNECTION, HeaderValue::from_static("close"));
    } else if asked.version == Version::HTTP_10 {
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in h.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !h.contains_key(DATE) {
        out.extend_from_slice(b"date: ");
        date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive)
}

/// The status line and fields of an answer the gateway gives before any request reached it
/// (a head it could not parse), with `body` as problem+json; the connection ends after it.
pub(super) fn refusal(out: &mut Vec<u8>, status: StatusCode, body: &str) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/problem+json\r\nconnection: close\r\n");
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    date(out);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
}

/// Whether a `Connection` field asks to close.
fn closes<'a>(mut values: impl Iterator<Item = &'a HeaderValue>) -> bool {
    values.any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

thread_local! {
    /// The second the cached `Date` is for, and its text.
    static DATE_CACHE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

/// Appends the current IMF-fixdate.
fn date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE_CACHE.with_borrow_mut(|(at, text)| {
        if *at != secs || text.is_empty() {
            *at = secs;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
}
