//! A request body as a tape: every value and key of the document in one array of 16-byte nodes
//! pointing into the body's own bytes, so checking a body never copies it into a tree of
//! allocations. The body is walked twice: once to count (refusing one nested too deep or with
//! too many values before anything is allocated), once to fill a tape of exactly that size.
//! The tape is a JSON representation for `jsonschema`, so the schema judges the very bytes the
//! upstream will read.

use std::borrow::Cow;

use super::scan::{self, JsonError, Lexer, Str};
use super::walk::{self, Dups, Keys, Kind, Sink};

mod repr;

/// A document read into a tape.
pub struct Tape<'a> {
    src: &'a str,
    nodes: Vec<Slot>,
}

/// One value or key: its bytes in the document, the index after its subtree, and its kind,
/// escape flag and member count packed in `meta`.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    start: u32,
    end: u32,
    after: u32,
    meta: u32,
}

const KIND_SHIFT: u32 = 28;
const ESCAPED: u32 = 1 << 27;
const COUNT: u32 = ESCAPED - 1;

/// The `jsonschema` representation of a tape.
pub struct TapeJson;

/// A node of a tape (cheap to copy).
#[derive(Clone, Copy)]
pub struct TapeNode<'a> {
    src: &'a str,
    nodes: &'a [Slot],
    at: u32,
}

/// A number's text.
pub struct TapeNumber<'a>(&'a str);

/// Counts values and keys and refuses repeated keys (the first walk: nothing of the size of
/// the tape is allocated before a body passes it).
struct Count<'a> {
    src: &'a str,
    values: usize,
    keys: usize,
    max_values: usize,
    dups: Dups,
}

/// Fills the tape (the second walk).
struct Fill {
    nodes: Vec<Slot>,
    open: Vec<u32>,
}

// === impl Tape ===

impl<'a> Tape<'a> {
    /// Reads a request body: strict JSON, at most `MAX_DEPTH` deep, at most `max_values`
    /// values, no key twice (without regard to case), every number exact.
    pub fn read(bytes: &'a [u8], max_values: usize) -> Result<Self, JsonError> {
        if u32::try_from(bytes.len()).is_err() {
            return Err(JsonError::TooManyValues);
        }
        let mut lx = Lexer::new(bytes)?;
        lx.exact_numbers = true;
        let mut count = Count {
            src: lx.src,
            values: 0,
            keys: 0,
            max_values,
            dups: Dups::new(Keys::Folded),
        };
        walk::walk(&mut lx, &mut count)?;
        let capacity = count.values + count.keys;
        // The keys held for the duplicate check go before the tape comes.
        drop(count);
        let mut fill = Fill {
            nodes: Vec::with_capacity(capacity),
            open: Vec::new(),
        };
        lx.pos = 0;
        walk::walk(&mut lx, &mut fill)?;
        Ok(Self {
            src: lx.src,
            nodes: fill.nodes,
        })
    }

    /// The document's root.
    pub fn root(&self) -> TapeNode<'_> {
        TapeNode {
            src: self.src,
            nodes: &self.nodes,
            at: 0,
        }
    }

    /// Every object member's name, in document order.
    pub fn keys(&self) -> impl Iterator<Item = Cow<'_, str>> {
        self.nodes
            .iter()
            .filter(|s| kind_of(s.meta) == Kind::Key)
            .map(|s| s.text(self.src))
    }

    /// Bytes the tape holds beyond the document.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Slot>()
    }
}

// === impl Slot ===

impl Slot {
    /// The value of a string or key slot of `src`.
    fn text(self, src: &str) -> Cow<'_, str> {
        scan::text_of(
            src,
            Str {
                start: self.start as usize,
                end: self.end as usize,
                escaped: self.meta & ESCAPED != 0,
            },
        )
    }
}

// === impl Count ===

impl Count<'_> {
    fn one(&mut self) -> Result<(), JsonError> {
        self.values += 1;
        if self.values > self.max_values {
            Err(JsonError::TooManyValues)
        } else {
            Ok(())
        }
    }
}

impl Sink for Count<'_> {
    fn scalar(&mut self, _: Kind, _: usize, _: usize, _: bool) -> Result<(), JsonError> {
        self.one()
    }

    fn open(&mut self, kind: Kind, _: usize) -> Result<(), JsonError> {
        if kind == Kind::Object {
            self.dups.open();
        }
        self.one()
    }

    fn key(&mut self, key: Str) -> Result<(), JsonError> {
        self.keys += 1;
        self.dups.key(key);
        Ok(())
    }

    fn close(&mut self, kind: Kind, _: usize) -> Result<(), JsonError> {
        if kind == Kind::Object {
            self.dups.close(self.src)?;
        }
        Ok(())
    }
}

// === impl Fill ===

impl Fill {
    fn push(&mut self, kind: Kind, start: usize, end: usize, escaped: bool) {
        let at = self.nodes.len() as u32;
        let meta = (kind as u32) << KIND_SHIFT | if escaped { ESCAPED } else { 0 };
        self.nodes.push(Slot {
            start: start as u32,
            end: end as u32,
            after: at + 1,
            meta,
        });
    }

    /// A value of the innermost open array counts as one of its members.
    fn member_of_array(&mut self) {
        if let Some(&parent) = self.open.last() {
            let p = &mut self.nodes[parent as usize];
            if kind_of(p.meta) == Kind::Array {
                p.meta += 1;
            }
        }
    }
}

impl Sink for Fill {
    fn scalar(
        &mut self,
        kind: Kind,
        start: usize,
        end: usize,
        escaped: bool,
    ) -> Result<(), JsonError> {
        self.member_of_array();
        self.push(kind, start, end, escaped);
        Ok(())
    }

    fn open(&mut self, kind: Kind, start: usize) -> Result<(), JsonError> {
        self.member_of_array();
        self.open.push(self.nodes.len() as u32);
        self.push(kind, start, start, false);
        Ok(())
    }

    fn key(&mut self, key: Str) -> Result<(), JsonError> {
        if let Some(&parent) = self.open.last() {
            self.nodes[parent as usize].meta += 1;
        }
        self.push(Kind::Key, key.start, key.end, key.escaped);
        Ok(())
    }

    fn close(&mut self, _: Kind, end: usize) -> Result<(), JsonError> {
        let after = self.nodes.len() as u32;
        if let Some(at) = self.open.pop() {
            let slot = &mut self.nodes[at as usize];
            slot.end = end as u32;
            slot.after = after;
        }
        Ok(())
    }
}

fn kind_of(meta: u32) -> Kind {
    match meta >> KIND_SHIFT {
        0 => Kind::Null,
        1 => Kind::False,
        2 => Kind::True,
        3 => Kind::Number,
        4 => Kind::String,
        5 => Kind::Array,
        6 => Kind::Object,
        _ => Kind::Key,
    }
}

// === impl TapeNode ===

impl<'a> TapeNode<'a> {
    fn slot(&self) -> Slot {
        self.nodes[self.at as usize]
    }

    fn kind(&self) -> Kind {
        kind_of(self.slot().meta)
    }

    /// The value's own bytes in the document.
    fn text(&self) -> &'a str {
        let s = self.slot();
        &self.src[s.start as usize..s.end as usize]
    }

    fn count(&self) -> usize {
        (self.slot().meta & COUNT) as usize
    }

    fn string(&self) -> Cow<'a, str> {
        self.slot().text(self.src)
    }

    fn at(&self, at: u32) -> Self {
        Self { at, ..*self }
    }

    /// The children: values of an array; keys and values, alternating, of an object.
    fn children(&self) -> Children<'a> {
        Children {
            node: *self,
            next: self.at + 1,
            end: self.slot().after,
        }
    }
}

/// The direct children of a node.
pub struct Children<'a> {
    node: TapeNode<'a>,
    next: u32,
    end: u32,
}

impl<'a> Iterator for Children<'a> {
    type Item = TapeNode<'a>;

    fn next(&mut self) -> Option<TapeNode<'a>> {
        if self.next >= self.end {
            return None;
        }
        let child = self.node.at(self.next);
        self.next = child.slot().after;
        Some(child)
    }
}

/// An object node.
#[derive(Clone, Copy)]
pub struct TapeObject<'a>(TapeNode<'a>);

/// An array node.
#[derive(Clone, Copy)]
pub struct TapeArray<'a>(TapeNode<'a>);

/// An object's members: (name, value).
pub struct Members<'a>(Children<'a>);

impl<'a> Iterator for Members<'a> {
    type Item = (Cow<'a, str>, TapeNode<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let key = self.0.next()?;
        let value = self.0.next()?;
        Some((key.string(), value))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn check(schema: Value, doc: &str) -> bool {
        let v = jsonschema::options_for::<TapeJson>()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&schema)
            .expect("schema");
        let tape = Tape::read(doc.as_bytes(), 1000).expect("tape");
        let ours = v.is_valid(tape.root());
        let theirs =
            jsonschema::draft202012::is_valid(&schema, &serde_json::from_str(doc).expect("json"));
        assert_eq!(ours, theirs, "{schema} / {doc}");
        ours
    }

    #[test]
    fn the_tape_validates_as_serde_json_values_do() {
        let s = serde_json::json!({
            "type": "object",
            "required": ["a"],
            "additionalProperties": false,
            "properties": {
                "a": {"type": "integer", "minimum": 1, "maximum": 5},
                "b": {"type": "array", "items": {"type": "string", "maxLength": 3}, "uniqueItems": true},
                "c": {"enum": [{"x": [1, 2.0]}, "low"]},
                "d": {"type": "string", "pattern": "^https://"},
                "e": {"const": 1}
            }
        });
        assert!(check(s.clone(), r#"{"a":3}"#));
        assert!(!check(s.clone(), r#"{"a":9}"#));
        assert!(!check(s.clone(), r#"{"a":3,"z":1}"#));
        assert!(check(s.clone(), r#"{"a":3,"b":["x","y"]}"#));
        assert!(!check(s.clone(), r#"{"a":3,"b":["x","x"]}"#));
        assert!(!check(s.clone(), r#"{"a":3,"b":["x","\u0078"]}"#));
        assert!(!check(s.clone(), r#"{"a":3,"b":["long!"]}"#));
        assert!(check(s.clone(), r#"{"a":3,"c":{"x":[1.0,2]}}"#));
        assert!(check(s.clone(), r#"{"a":3,"c":"low"}"#));
        assert!(!check(s.clone(), r#"{"a":3,"c":"high"}"#));
        assert!(check(s.clone(), r#"{"a":3,"d":"https://x"}"#));
        assert!(!check(s.clone(), r#"{"a":3,"d":"http\u003a//x"}"#));
        assert!(check(s.clone(), r#"{"a":3,"e":1.0}"#));
        assert!(check(s.clone(), r#"{"a":1e0}"#));
        let u = serde_json::json!({"uniqueItems": true});
        assert!(!check(u.clone(), r#"[{"a":1,"b":2},{"b":2,"a":1.0}]"#));
        assert!(check(u.clone(), r#"[{"a":1},{"a":2},[1],[1,1]]"#));
        assert!(!check(u, r#"[0, -0.0, 1]"#));
    }

    #[test]
    fn limits_and_strictness() {
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert_eq!(
            Tape::read(deep.as_bytes(), 1000).err(),
            Some(JsonError::TooDeep)
        );
        let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(Tape::read(ok.as_bytes(), 1000).is_ok());
        assert_eq!(
            Tape::read(b"[0,0,0,0]", 4).err(),
            Some(JsonError::TooManyValues)
        );
        assert!(Tape::read(b"[0,0,0]", 4).is_ok());
        for (doc, e) in [
            (r#"{"a":1,"A":2}"#, JsonError::DuplicateKey),
            (r#"{"a":{"b":1,"b":1}}"#, JsonError::DuplicateKey),
            ("[1000.0000000000000001]", JsonError::InexactNumber),
            ("[1,]", JsonError::Invalid),
            ("{} x", JsonError::Invalid),
            ("\u{feff}{}", JsonError::Invalid),
            ("[01]", JsonError::Invalid),
            ("", JsonError::Invalid),
        ] {
            assert_eq!(Tape::read(doc.as_bytes(), 1000).err(), Some(e), "{doc}");
        }
        // Exactly one slot per value and key.
        let tape = Tape::read(br#"{"a":[1,{"b":null}],"c":"d"}"#, 1000).expect("tape");
        assert_eq!(tape.nodes.len(), 9);
        assert_eq!(tape.heap_bytes(), 9 * 16);
    }
}
