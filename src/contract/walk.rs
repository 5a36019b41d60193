//! Walking a JSON document with the strict lexer: the grammar's structure and depth, told
//! to a sink in document order, and the rule that an object never carries the same key twice.

use std::borrow::Cow;
use std::hash::BuildHasher;

use super::scan::{JsonError, Lexer, MAX_DEPTH, Str, text_of};

/// What a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    False,
    True,
    Number,
    String,
    Array,
    Object,
    /// An object member's name.
    Key,
}

/// What a walk tells its sink, in document order. Positions are byte offsets into the
/// document; a container's `end` is just past its closing bracket.
pub(crate) trait Sink {
    /// A string, number or literal.
    fn scalar(
        &mut self,
        kind: Kind,
        start: usize,
        end: usize,
        escaped: bool,
    ) -> Result<(), JsonError>;
    /// An array or object opens at `start`.
    fn open(&mut self, kind: Kind, start: usize) -> Result<(), JsonError>;
    /// An object member's name (its value follows).
    fn key(&mut self, key: Str) -> Result<(), JsonError>;
    /// The innermost open array or object closes.
    fn close(&mut self, kind: Kind, end: usize) -> Result<(), JsonError>;
}

/// Every object's keys, to refuse one that repeats a key: keys are pushed as they come and
/// checked (then dropped) when their object closes, so one buffer serves every depth.
pub(crate) struct Dups {
    how: Keys,
    keys: Vec<Packed>,
    marks: Vec<usize>,
    scratch: Vec<(u64, u32)>,
}

/// A key's string token in 8 bytes (documents are under 2 GiB): its offsets, the escape flag
/// in the top bit of the end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packed(u32, u32);

const PACKED_ESCAPED: u32 = 1 << 31;

impl From<Str> for Packed {
    fn from(s: Str) -> Self {
        let end = s.end as u32 | if s.escaped { PACKED_ESCAPED } else { 0 };
        Self(s.start as u32, end)
    }
}

impl Packed {
    fn str(self) -> Str {
        Str {
            start: self.0 as usize,
            end: (self.1 & !PACKED_ESCAPED) as usize,
            escaped: self.1 & PACKED_ESCAPED != 0,
        }
    }
}

/// How keys compare when looking for duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keys {
    /// Equal after unescaping.
    Exact,
    /// Equal after unescaping and case folding (what lenient binders read as one field).
    Folded,
}

/// Walks one whole document (a value and nothing after it but whitespace), telling `sink`.
pub(crate) fn walk<S: Sink>(lx: &mut Lexer<'_>, sink: &mut S) -> Result<(), JsonError> {
    value(lx, sink, 0)?;
    lx.finish()
}

/// One value, `depth` containers deep.
fn value<S: Sink>(lx: &mut Lexer<'_>, sink: &mut S, depth: usize) -> Result<(), JsonError> {
    lx.ws();
    let start = lx.pos;
    let (kind, close) = match lx.peek() {
        Some(b'{') => (Kind::Object, b'}'),
        Some(b'[') => (Kind::Array, b']'),
        Some(b'"') => {
            let s = lx.string()?;
            return sink.scalar(Kind::String, s.start, s.end, s.escaped);
        }
        Some(b'-' | b'0'..=b'9') => {
            let end = lx.number(lx.exact_numbers)?;
            return sink.scalar(Kind::Number, start, end, false);
        }
        Some(c) => {
            let (kind, word) = match c {
                b't' => (Kind::True, "true"),
                b'f' => (Kind::False, "false"),
                b'n' => (Kind::Null, "null"),
                _ => return Err(JsonError::Invalid),
            };
            lx.literal(word)?;
            return sink.scalar(kind, start, lx.pos, false);
        }
        None => return Err(JsonError::Invalid),
    };
    if depth >= MAX_DEPTH {
        return Err(JsonError::TooDeep);
    }
    sink.open(kind, start)?;
    lx.pos += 1;
    lx.ws();
    if lx.peek() == Some(close) {
        lx.pos += 1;
        return sink.close(kind, lx.pos);
    }
    loop {
        if kind == Kind::Object {
            lx.ws();
            let key = lx.string()?;
            sink.key(key)?;
            lx.expect(b':')?;
        }
        value(lx, sink, depth + 1)?;
        lx.ws();
        match lx.peek() {
            Some(b',') => lx.pos += 1,
            Some(c) if c == close => {
                lx.pos += 1;
                return sink.close(kind, lx.pos);
            }
            _ => return Err(JsonError::Invalid),
        }
    }
}

// === impl Dups ===

impl Dups {
    /// No keys yet; keys compare `how`.
    pub(crate) fn new(how: Keys) -> Self {
        Self {
            how,
            keys: Vec::new(),
            marks: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// An object opens.
    pub(crate) fn open(&mut self) {
        self.marks.push(self.keys.len());
    }

    /// A key of the innermost open object.
    pub(crate) fn key(&mut self, key: Str) {
        self.keys.push(key.into());
    }

    /// The innermost object closes: refused if it repeated a key.
    pub(crate) fn close(&mut self, src: &str) -> Result<(), JsonError> {
        let mark = self.marks.pop().unwrap_or(0);
        let dup = has_duplicate(src, &self.keys[mark..], self.how, &mut self.scratch);
        self.keys.truncate(mark);
        if dup {
            Err(JsonError::DuplicateKey)
        } else {
            Ok(())
        }
    }
}

/// Whether a member of the document's top-level object has a name `f` picks, read as far as the
/// bytes are JSON (a member seen before an error counts; repeated names count too).
pub fn any_top_level_key(bytes: &[u8], f: impl Fn(&str) -> bool) -> bool {
    struct Keys<'a, F> {
        src: &'a str,
        depth: usize,
        f: F,
        found: bool,
    }
    impl<F: Fn(&str) -> bool> Sink for Keys<'_, F> {
        fn scalar(&mut self, _: Kind, _: usize, _: usize, _: bool) -> Result<(), JsonError> {
            Ok(())
        }
        fn open(&mut self, _: Kind, _: usize) -> Result<(), JsonError> {
            self.depth += 1;
            Ok(())
        }
        fn key(&mut self, key: Str) -> Result<(), JsonError> {
            if self.depth == 1 && (self.f)(&text_of(self.src, key)) {
                self.found = true;
                // Nothing more to learn.
                return Err(JsonError::Invalid);
            }
            Ok(())
        }
        fn close(&mut self, _: Kind, _: usize) -> Result<(), JsonError> {
            self.depth -= 1;
            Ok(())
        }
    }
    let Ok(mut lx) = Lexer::new(bytes) else {
        return false;
    };
    let mut sink = Keys {
        src: lx.src,
        depth: 0,
        f,
        found: false,
    };
    let _ = walk(&mut lx, &mut sink);
    sink.found
}

/// Checks that `bytes` are one strict JSON document with no key repeated in an object (what
/// the response filter accepts).
pub fn check_json(bytes: &[u8]) -> Result<(), JsonError> {
    struct Only<'a>(&'a str, Dups);
    impl Sink for Only<'_> {
        fn scalar(&mut self, _: Kind, _: usize, _: usize, _: bool) -> Result<(), JsonError> {
            Ok(())
        }
        fn open(&mut self, kind: Kind, _: usize) -> Result<(), JsonError> {
            if kind == Kind::Object {
                self.1.open();
            }
            Ok(())
        }
        fn key(&mut self, key: Str) -> Result<(), JsonError> {
            self.1.key(key);
            Ok(())
        }
        fn close(&mut self, kind: Kind, _: usize) -> Result<(), JsonError> {
            if kind == Kind::Object {
                self.1.close(self.0)?;
            }
            Ok(())
        }
    }
    let mut lx = Lexer::new(bytes)?;
    let mut sink = Only(lx.src, Dups::new(Keys::Exact));
    walk(&mut lx, &mut sink)
}

/// Whether an object's keys (string tokens of `src`) hold a duplicate under `how`. Small
/// objects compare pairwise; larger ones sort keyed hashes (`scratch` is reused) and compare
/// only equal neighbours, so no key is copied unless it has escapes or must be folded.
pub(crate) fn has_duplicate(
    src: &str,
    keys: &[Packed],
    how: Keys,
    scratch: &mut Vec<(u64, u32)>,
) -> bool {
    let norm = |s: Packed| -> Cow<'_, str> {
        let t = text_of(src, s.str());
        match how {
            Keys::Exact => t,
            Keys::Folded if t.is_ascii() => Cow::Owned(t.to_ascii_uppercase()),
            Keys::Folded => Cow::Owned(super::pattern::fold(&t)),
        }
    };
    if keys.len() <= 8 {
        for (i, a) in keys.iter().enumerate() {
            let a = norm(*a);
            if keys[i + 1..].iter().any(|b| norm(*b) == a) {
                return true;
            }
        }
        return false;
    }
    let hasher = std::collections::hash_map::RandomState::new();
    scratch.clear();
    scratch.extend(
        keys.iter()
            .enumerate()
            .map(|(i, k)| (hasher.hash_one(&*norm(*k)), i as u32)),
    );
    scratch.sort_unstable();
    scratch.chunk_by(|a, b| a.0 == b.0).any(|group| {
        group.len() > 1
            && group.iter().enumerate().any(|(i, (_, a))| {
                let a = norm(keys[*a as usize]);
                group[i + 1..]
                    .iter()
                    .any(|(_, b)| norm(keys[*b as usize]) == a)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_small_and_large_exact_and_folded() {
        let keys_of = |doc: &str| -> Vec<Packed> {
            let mut l = Lexer::new(doc.as_bytes()).expect("utf8");
            let mut out = Vec::new();
            while l.pos < doc.len() {
                if l.peek() == Some(b'"') {
                    out.push(l.string().expect("string").into());
                } else {
                    l.pos += 1;
                }
            }
            out
        };
        let mut scratch = Vec::new();
        let mut check = |doc: &str, how| has_duplicate(doc, &keys_of(doc), how, &mut scratch);
        assert!(check(r#""a" "b" "a""#, Keys::Exact));
        assert!(check(r#""a" "\u0061""#, Keys::Exact));
        assert!(!check(r#""a" "A""#, Keys::Exact));
        assert!(check(r#""role" "ROLE""#, Keys::Folded));
        assert!(check(r#""risk" "RI\u017fK""#, Keys::Folded));
        let many: String = (0..100).map(|i| format!("\"k{i}\" ")).collect();
        assert!(!check(&many, Keys::Exact));
        assert!(check(&format!("{many} \"k57\""), Keys::Exact));
        assert!(check(&format!("{many} \"K57\""), Keys::Folded));
    }
}
