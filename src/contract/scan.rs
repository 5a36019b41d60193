//! The one JSON reader of the data-access rules: a strict lexer over the exact bytes a partner
//! or an upstream sent (RFC 8259, no extensions). The tape (request bodies) and the filter
//! (response bodies) walk documents with it (`walk.rs`), so what the gateway checks is the text
//! the other side reads, never a re-encoding.

use std::borrow::Cow;

/// Deepest nesting of arrays and objects read (serde_json's own limit).
pub const MAX_DEPTH: usize = 128;

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON (or not UTF-8, or more than one value).
    Invalid,
    /// Nested deeper than `MAX_DEPTH`.
    TooDeep,
    /// More values than allowed.
    TooManyValues,
    /// An object with the same key twice (after unescaping; for requests, after case folding).
    DuplicateKey,
    /// A number that reads differently as text and as a 64-bit integer or float.
    InexactNumber,
}

/// A string token: the offsets of its opening and closing quotes, and whether it has escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Str {
    /// The opening quote.
    pub start: usize,
    /// Just past the closing quote.
    pub end: usize,
    /// It has a `\` escape (its text is not its value).
    pub escaped: bool,
}

/// A cursor over a document that is valid UTF-8.
pub(crate) struct Lexer<'a> {
    pub src: &'a str,
    pub pos: usize,
    /// Refuse numbers that a 64-bit integer or float would read differently.
    pub exact_numbers: bool,
}
// === impl Lexer ===

impl<'a> Lexer<'a> {
    /// A lexer over `bytes`, which must be UTF-8.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, JsonError> {
        // Offsets are kept in 31 bits; no body the gateway reads comes near.
        if bytes.len() >= 1 << 31 {
            return Err(JsonError::TooManyValues);
        }
        let src = std::str::from_utf8(bytes).map_err(|_| JsonError::Invalid)?;
        Ok(Self {
            src,
            pos: 0,
            exact_numbers: false,
        })
    }

    /// Skips whitespace (space, tab, line feed, carriage return only).
    #[inline]
    pub(crate) fn ws(&mut self) {
        let b = self.src.as_bytes();
        while let Some(c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
    }

    /// The next byte, without taking it.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// Takes `c` (after whitespace), or fails.
    #[inline]
    pub(crate) fn expect(&mut self, c: u8) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(JsonError::Invalid)
        }
    }

    /// After the last value: only whitespace may follow.
    pub(crate) fn finish(&mut self) -> Result<(), JsonError> {
        self.ws();
        if self.pos == self.src.len() {
            Ok(())
        } else {
            Err(JsonError::Invalid)
        }
    }

    /// A string starting at the current `"`.
    pub(crate) fn string(&mut self) -> Result<Str, JsonError> {
        let b = self.src.as_bytes();
        let start = self.pos;
        if b.get(start) != Some(&b'"') {
            return Err(JsonError::Invalid);
        }
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            // Plain bytes are skipped eight at a time.
            let Some(at) = crate::normalize::json::next_special(b, i) else {
                return Err(JsonError::Invalid);
            };
            i = at;
            let c = b[i];
            match c {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i = escape(b, i)?;
                }
                0x00..=0x1F => return Err(JsonError::Invalid),
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        Ok(Str {
            start,
            end: i + 1,
            escaped,
        })
    }

    /// A number at the current position: its end. `exact` also refuses what a 64-bit
    /// integer or float would read differently.
    pub(crate) fn number(&mut self, exact: bool) -> Result<usize, JsonError> {
        let b = self.src.as_bytes();
        let start = self.pos;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(b, i),
            _ => return Err(JsonError::Invalid),
        }
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            integer = false;
            let after = digits(b, i + 1);
            if after == i + 1 {
                return Err(JsonError::Invalid);
            }
            i = after;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let after = digits(b, i);
            if after == i {
                return Err(JsonError::Invalid);
            }
            i = after;
        }
        self.pos = i;
        if exact && !exact_number(&self.src[start..i], integer) {
            return Err(JsonError::InexactNumber);
        }
        Ok(i)
    }

    /// `true`, `false` or `null` at the current position.
    pub(crate) fn literal(&mut self, word: &str) -> Result<(), JsonError> {
        if self.src.as_bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(JsonError::Invalid)
        }
    }
}
/// The value of the string token `s` of `src`.
pub(crate) fn text_of(src: &str, s: Str) -> Cow<'_, str> {
    let inner = &src[s.start + 1..s.end - 1];
    if !s.escaped {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let b = inner.as_bytes();
    let mut i = 0;
    let mut plain = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&inner[plain..i]);
        let (c, next) = match b[i + 1] {
            b'"' => ('"', i + 2),
            b'\\' => ('\\', i + 2),
            b'/' => ('/', i + 2),
            b'b' => ('\u{8}', i + 2),
            b'f' => ('\u{c}', i + 2),
            b'n' => ('\n', i + 2),
            b'r' => ('\r', i + 2),
            b't' => ('\t', i + 2),
            _ => {
                // `\uXXXX`, a surrogate pair already checked by the lexer.
                let hi = hex4(b, i + 2).unwrap_or(0xFFFD);
                if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(b, i + 8).unwrap_or(0xDC00);
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    (char::from_u32(c).unwrap_or('\u{FFFD}'), i + 12)
                } else {
                    (char::from_u32(hi).unwrap_or('\u{FFFD}'), i + 6)
                }
            }
        };
        out.push(c);
        i = next;
        plain = next;
    }
    out.push_str(&inner[plain..]);
    Cow::Owned(out)
}

/// Checks the escape at `b[i]` (a `\`); returns the index after it. A `\u` escape of a
/// surrogate must be a high one followed by a low one (serde_json refuses lone surrogates).
fn escape(b: &[u8], i: usize) -> Result<usize, JsonError> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            let v = hex4(b, i + 2).ok_or(JsonError::Invalid)?;
            match v {
                0xD800..=0xDBFF => {
                    if b.get(i + 6) != Some(&b'\\') || b.get(i + 7) != Some(&b'u') {
                        return Err(JsonError::Invalid);
                    }
                    let lo = hex4(b, i + 8).ok_or(JsonError::Invalid)?;
                    if (0xDC00..=0xDFFF).contains(&lo) {
                        Ok(i + 12)
                    } else {
                        Err(JsonError::Invalid)
                    }
                }
                0xDC00..=0xDFFF => Err(JsonError::Invalid),
                _ => Ok(i + 6),
            }
        }
        _ => Err(JsonError::Invalid),
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    digits
        .iter()
        .try_fold(0u32, |acc, d| Some(acc * 16 + char::from(*d).to_digit(16)?))
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// Whether a number reads the same to every reader: the schema checks the parsed value, the
/// upstream reads the text, and the two must agree (`1000.0000000000000001` is `1000` to one and
/// more than 1000 to another). Integers within ±2^53, which a reader of doubles (JavaScript,
/// Jackson) holds exactly too (I-JSON, RFC 7493); others with at most 15 significant digits,
/// finite and not subnormal.
fn exact_number(token: &str, integer: bool) -> bool {
    const SAFE: u64 = 1 << 53;
    if integer {
        return token.parse::<i64>().is_ok_and(|v| v.unsigned_abs() <= SAFE);
    }
    let mantissa = token.split(['e', 'E']).next().unwrap_or("");
    let digits = mantissa.bytes().filter(u8::is_ascii_digit);
    let mut first = None;
    let mut last = 0;
    for (i, d) in digits.enumerate() {
        if d != b'0' {
            first.get_or_insert(i);
            last = i;
        }
    }
    let significant = first.map_or(0, |f| last - f + 1);
    let value: f64 = token.parse().unwrap_or(f64::INFINITY);
    // Too large for a float, or too small (read as 0 or a subnormal), is not exact either.
    let underflows = significant > 0 && value.abs() < f64::MIN_POSITIVE;
    significant <= 15 && value.is_finite() && !underflows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex_string(s: &str) -> Result<String, JsonError> {
        let mut l = Lexer::new(s.as_bytes())?;
        let t = l.string()?;
        Ok(text_of(l.src, t).into_owned())
    }

    #[test]
    fn strings_unescape_as_serde_json_reads_them() {
        for s in [
            r#""plain""#,
            r#""a\"b\\c\/d\b\f\n\r\t""#,
            r#""\u00e9\u20AC\ud83d\ude00""#,
            r#""mixed \u0041 é 😀""#,
        ] {
            let theirs: String = serde_json::from_str(s).expect("serde");
            assert_eq!(lex_string(s), Ok(theirs), "{s}");
        }
        for bad in [
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\x""#,
            "\"a\u{1}\"",
            r#""open"#,
        ] {
            assert_eq!(lex_string(bad), Err(JsonError::Invalid), "{bad}");
        }
    }

    #[test]
    fn numbers_follow_the_grammar_and_exactness() {
        for (n, exact) in [
            ("0", true),
            ("-0.0", true),
            ("1e3", true),
            ("9007199254740992", true),
            ("-9007199254740992", true),
            ("9007199254740993", false),
            ("18446744073709551615", false),
            ("-9223372036854775808", false),
            ("1.50000000000000000", true),
            ("18446744073709551616", false),
            ("1000.0000000000000001", false),
            ("1e-400", false),
            ("2.5e-310", false),
            ("1e400", false),
            ("1.2345678901234567e3", false),
        ] {
            let mut l = Lexer::new(n.as_bytes()).expect("utf8");
            assert_eq!(l.number(false), Ok(n.len()), "{n}");
            let mut l = Lexer::new(n.as_bytes()).expect("utf8");
            assert_eq!(l.number(true).is_ok(), exact, "{n}");
        }
        for bad in ["01", "-", "1.", ".5", "1e", "+1", "-a"] {
            let mut l = Lexer::new(bad.as_bytes()).expect("utf8");
            let r = l.number(false);
            assert!(r.is_err() || r == Ok(1), "{bad}: {r:?}");
        }
    }
}
