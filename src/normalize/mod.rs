//! Request-target normalisation: the one canonical path that is authorised and forwarded.
//!
//! Anything two servers could read two ways is rejected rather than guessed at; the output is
//! a fixed point of [`normalize_path`], so the path that was authorised is the path forwarded.

use std::fmt;

mod forbidden;
pub mod host;
pub mod json;
pub mod params;

pub use forbidden::Forbidden;

/// Why a request target was refused; each variant becomes the audit reason of a `400`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// The target is not origin-form (`/path`) or absolute-form (`http://host/path`).
    #[error("request target must be origin-form or absolute-form")]
    NotOriginForm,
    /// `%2F` or `%5C`: an encoded slash or backslash.
    #[error("encoded slash or backslash in path")]
    EncodedSlash,
    /// A raw `\`.
    #[error("backslash in path")]
    Backslash,
    /// A raw or encoded control character or NUL.
    #[error("control character in path")]
    ControlCharacter,
    /// `%25`: an encoded `%`, which a second decoding would read differently.
    #[error("encoded percent sign (double encoding) in path")]
    DoubleEncoding,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent escape in path")]
    BadEscape,
    /// The decoded bytes are not UTF-8 (including overlong forms).
    #[error("path is not valid UTF-8 after decoding")]
    InvalidUtf8,
    /// A raw or encoded `;` (path parameter, as in Tomcat's `..;/`).
    #[error("path parameter (;) in path")]
    PathParameter,
    /// A `#` fragment in the target.
    #[error("fragment in request target")]
    Fragment,
    /// A `..` segment that would climb above `/`.
    #[error("dot segment above the root")]
    AboveRoot,
}

/// A normalised request path (always starts with `/`, never contains `//`, `.` or `..`
/// segments, and carries only canonical upper-case escapes of reserved or non-ASCII bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalPath(String);

// === impl NormalizeError ===

impl NormalizeError {
    /// The stable audit reason for this rejection.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotOriginForm => "target_form",
            Self::EncodedSlash => "encoded_slash",
            Self::Backslash => "backslash",
            Self::ControlCharacter => "control_character",
            Self::DoubleEncoding => "double_encoding",
            Self::BadEscape => "bad_escape",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::PathParameter => "path_parameter",
            Self::Fragment => "fragment",
            Self::AboveRoot => "above_root",
        }
    }
}

// === impl NormalPath ===

impl NormalPath {
    /// The path as forwarded.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the path lies under `prefix` (already lower-case), ignoring ASCII case.
    pub fn starts_with_ignore_case(&self, prefix: &str) -> bool {
        let p = self.0.as_bytes();
        p.len() >= prefix.len() && p[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    }
}

impl fmt::Display for NormalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Normalises the path part of a request target (no query).
///
/// Decodes escapes of unreserved characters, upper-cases the hex of the escapes it keeps,
/// percent-encodes raw non-ASCII bytes, merges repeated slashes and removes dot segments
/// (RFC 3986 §5.2.4), rejecting everything listed in [`NormalizeError`].
pub fn normalize_path(raw: &str) -> Result<NormalPath, NormalizeError> {
    if is_already_canonical(raw.as_bytes()) {
        return Ok(NormalPath(raw.to_owned()));
    }
    normalize_slow(raw)
}

/// The common case: a path that the full algorithm would return unchanged.
///
/// Only plain ASCII that needs no decoding, no `//` and no `.` or `..` segment qualifies;
/// a property test checks that this agrees with [`normalize_slow`].
fn is_already_canonical(bytes: &[u8]) -> bool {
    if bytes.first() != Some(&b'/') {
        return false;
    }
    // One pass: each segment's length and how many of its bytes are dots (`.` and `..` are
    // the segments made of one or two dots only; an empty one before a `/` is a `//`).
    let dot_segment = |len: usize, dots: usize| len > 0 && len <= 2 && dots == len;
    let (mut len, mut dots) = (0, 0);
    for &b in &bytes[1..] {
        if !CANONICAL[usize::from(b)] {
            return false;
        }
        if b == b'/' {
            if len == 0 || dot_segment(len, dots) {
                return false;
            }
            (len, dots) = (0, 0);
        } else {
            len += 1;
            dots += usize::from(b == b'.');
        }
    }
    !dot_segment(len, dots)
}

/// The bytes a canonical path holds as they are: unreserved and sub-delimiters, `:`, `@`, `/`.
const CANONICAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b"-._~!$&'()*+,=:@/";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
};

/// The full algorithm (see [`normalize_path`]).
fn normalize_slow(raw: &str) -> Result<NormalPath, NormalizeError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(NormalizeError::NotOriginForm);
    }
    check_decoded_utf8(bytes)?;

    // Segments of the canonical form; a trailing empty segment means a trailing slash.
    let mut out: Vec<String> = Vec::new();
    let mut trailing_slash = false;
    for raw_seg in raw[1..].split('/') {
        let seg = canonical_segment(raw_seg.as_bytes())?;
        match seg.as_str() {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                if out.pop().is_none() {
                    return Err(NormalizeError::AboveRoot);
                }
                trailing_slash = true;
            }
            _ => {
                out.push(seg);
                trailing_slash = false;
            }
        }
    }
    let mut path = String::with_capacity(raw.len());
    for seg in &out {
        path.push('/');
        path.push_str(seg);
    }
    if out.is_empty() || trailing_slash {
        path.push('/');
    }
    Ok(NormalPath(path))
}

/// Case folding as lenient JSON binders apply it (Go's `encoding/json` compares
/// `ToUpper(ToLower(c))` per character; ASP.NET is no stricter): each character's simple
/// lower case, then its simple upper case — `ı`, `İ`, `i` and `I` are one letter, as are `ſ`,
/// `s` and `S`, `K` (Kelvin) and `k`, `ς` and `σ`.
pub fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    let single = |mut it: std::iter::Peekable<std::char::ToLowercase>| {
        let first = it.next();
        if it.peek().is_none() { first } else { None }
    };
    // Simple mappings only: a character whose full mapping has several characters (`İ`
    // lower-cases to `i` + a combining dot) takes its simple one.
    let lower = if c == '\u{130}' {
        'i'
    } else {
        single(c.to_lowercase().peekable()).unwrap_or(c)
    };
    let mut upper = lower.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => lower,
    }
}

/// Lower-cases a forbidden prefix or compares route templates the way requests are compared.
pub fn fold_case(path: &str) -> String {
    path.to_ascii_lowercase()
}

/// Rejects targets whose fully decoded bytes are not UTF-8 (RFC 3629 forbids overlong forms).
fn check_decoded_utf8(bytes: &[u8]) -> Result<(), NormalizeError> {
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            decoded.push(escape_at(bytes, i)?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&decoded).map_err(|_| NormalizeError::InvalidUtf8)?;
    Ok(())
}

/// The canonical form of one segment: unreserved escapes decoded, others upper-cased.
fn canonical_segment(seg: &[u8]) -> Result<String, NormalizeError> {
    let mut out = String::with_capacity(seg.len());
    let mut i = 0;
    while i < seg.len() {
        let b = seg[i];
        if b == b'%' {
            let v = escape_at(seg, i)?;
            check_byte(v, true)?;
            if is_unreserved(v) {
                out.push(char::from(v));
            } else {
                push_escape(&mut out, v);
            }
            i += 3;
            continue;
        }
        check_byte(b, false)?;
        // Characters RFC 3986 never allows raw in a path are sent in their encoded form.
        if b.is_ascii() && !b"\"<>[]^`|".contains(&b) {
            out.push(char::from(b));
        } else {
            push_escape(&mut out, b);
        }
        i += 1;
    }
    Ok(out)
}

/// Refuses the bytes no canonical path may carry, raw or decoded.
fn check_byte(b: u8, encoded: bool) -> Result<(), NormalizeError> {
    match b {
        0x00..=0x1F | 0x7F => Err(NormalizeError::ControlCharacter),
        b'/' if encoded => Err(NormalizeError::EncodedSlash),
        b'\\' if encoded => Err(NormalizeError::EncodedSlash),
        b'\\' => Err(NormalizeError::Backslash),
        b';' => Err(NormalizeError::PathParameter),
        b'#' if !encoded => Err(NormalizeError::Fragment),
        b'%' if encoded => Err(NormalizeError::DoubleEncoding),
        b' ' if !encoded => Err(NormalizeError::ControlCharacter),
        _ => Ok(()),
    }
}

/// The byte encoded by the escape starting at `i`.
fn escape_at(bytes: &[u8], i: usize) -> Result<u8, NormalizeError> {
    let hi = bytes.get(i + 1).and_then(|c| hex_value(*c));
    let lo = bytes.get(i + 2).and_then(|c| hex_value(*c));
    match (hi, lo) {
        (Some(h), Some(l)) => Ok(h << 4 | l),
        _ => Err(NormalizeError::BadEscape),
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xF)]));
}

/// RFC 3986 §2.3 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests;
