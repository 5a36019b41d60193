//! The tape as a `jsonschema` representation: nodes, objects, arrays and numbers read from
//! the body's bytes, equality and `uniqueItems` without building `serde_json` values, and error
//! instances built only if someone reads them.

use std::borrow::Cow;
use std::sync::OnceLock;

use jsonschema::JsonType;
use jsonschema_value::{Array, Json, JsonNumber, LazyInstance, Node, NodeIdentity, Object};
use serde_json::Value;

use super::{
    Children, ESCAPED, KIND_SHIFT, Kind, Members, Slot, TapeArray, TapeJson, TapeNode, TapeNumber,
    TapeObject,
};

impl<'a> TapeNode<'a> {
    /// JSON equality with `expected` (numbers by value), without building a `Value`.
    fn equals(&self, expected: &Value) -> bool {
        match (self.kind(), expected) {
            (Kind::Null, Value::Null) => true,
            (Kind::True, Value::Bool(b)) => *b,
            (Kind::False, Value::Bool(b)) => !*b,
            (Kind::Number, Value::Number(n)) => {
                jsonschema::json::cmp::equal_numbers(&TapeNumber(self.text()), n)
            }
            (Kind::String, Value::String(s)) => *self.string() == **s,
            (Kind::Array, Value::Array(items)) => {
                self.count() == items.len() && self.children().zip(items).all(|(a, b)| a.equals(b))
            }
            (Kind::Object, Value::Object(map)) => {
                self.count() == map.len()
                    && TapeObject(*self)
                        .members()
                        .all(|(k, v)| map.get(&*k).is_some_and(|e| v.equals(e)))
            }
            _ => false,
        }
    }

    /// A hash equal for equal values (numbers by value, members in any order).
    fn value_hash(&self, h: &std::collections::hash_map::RandomState) -> u64 {
        use std::hash::BuildHasher;
        match self.kind() {
            Kind::Number => {
                let f: f64 = self.text().parse().unwrap_or(0.0);
                h.hash_one(if f == 0.0 { 0 } else { f.to_bits() })
            }
            Kind::String | Kind::Key => h.hash_one((4u8, &*self.string())),
            Kind::Array => self
                .children()
                .fold(h.hash_one(5u8), |acc, c| h.hash_one((acc, c.value_hash(h)))),
            Kind::Object => TapeObject(*self)
                .members()
                .fold(h.hash_one(6u8), |acc, (k, v)| {
                    acc ^ h.hash_one((&*k, v.value_hash(h)))
                }),
            k => h.hash_one(k as u8),
        }
    }
}

// === the jsonschema representation ===

impl Json for TapeJson {
    type Node<'a> = TapeNode<'a>;
    type PreparedKey = Box<str>;
    type StringBuffer = (Vec<u8>, Vec<Slot>);

    // A lookup scans the members, so a members pass never costs more.
    const KEYS_PER_LOOKUP: usize = 1 << 16;
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> Box<str> {
        key.into()
    }

    fn with_string_node<T>(
        buffer: &mut Self::StringBuffer,
        string: &str,
        f: impl FnOnce(TapeNode<'_>) -> T,
    ) -> T {
        let (text, slots) = buffer;
        text.clear();
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *text, string);
        let escaped = text[1..text.len() - 1].contains(&b'\\');
        slots.clear();
        slots.push(Slot {
            start: 0,
            end: text.len() as u32,
            after: 1,
            meta: (Kind::String as u32) << KIND_SHIFT | if escaped { ESCAPED } else { 0 },
        });
        let src = std::str::from_utf8(text).unwrap_or("\"\"");
        f(TapeNode {
            src,
            nodes: slots,
            at: 0,
        })
    }
}

impl<'a> Node<'a, TapeJson> for TapeNode<'a> {
    type Object = TapeObject<'a>;
    type Array = TapeArray<'a>;
    type Number = TapeNumber<'a>;

    fn as_object(&self) -> Option<TapeObject<'a>> {
        (self.kind() == Kind::Object).then_some(TapeObject(*self))
    }

    fn as_array(&self) -> Option<TapeArray<'a>> {
        (self.kind() == Kind::Array).then_some(TapeArray(*self))
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        (self.kind() == Kind::String).then(|| self.string())
    }

    fn as_number(&self) -> Option<TapeNumber<'a>> {
        (self.kind() == Kind::Number).then(|| TapeNumber(self.text()))
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.kind() {
            Kind::True => Some(true),
            Kind::False => Some(false),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    fn json_type(&self) -> JsonType {
        match self.kind() {
            Kind::Null => JsonType::Null,
            Kind::True | Kind::False => JsonType::Boolean,
            Kind::Number => JsonType::Number,
            Kind::String | Kind::Key => JsonType::String,
            Kind::Array => JsonType::Array,
            Kind::Object => JsonType::Object,
        }
    }

    fn equals_value(&self, expected: &Value) -> bool {
        self.equals(expected)
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(parse_value(self.text().as_bytes(), 0))
    }

    fn lazy_value(&self) -> LazyInstance<'a> {
        // Built only if someone reads it (the gateway's messages never do).
        LazyInstance::Deferred {
            bytes: self.text().as_bytes(),
            tag: 0,
            make: parse_value,
            cell: OnceLock::new(),
        }
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::tagged(self.nodes.as_ptr() as usize, self.at))
    }
}

/// A value's bytes as a `serde_json::Value` (for error details nobody is shown).
fn parse_value(bytes: &[u8], _: u32) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

impl<'a> Object<'a, TapeJson> for TapeObject<'a> {
    type Node = TapeNode<'a>;
    type MemberName = Cow<'a, str>;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        self.0.count()
    }

    fn get(&self, key: &Box<str>) -> Option<TapeNode<'a>> {
        self.members().find(|(k, _)| **k == **key).map(|(_, v)| v)
    }

    fn members(&self) -> Members<'a> {
        Members(self.0.children())
    }
}

impl<'a> Array<'a, TapeJson> for TapeArray<'a> {
    type Node = TapeNode<'a>;
    type ElementsIter = Children<'a>;

    fn len(&self) -> usize {
        self.0.count()
    }

    fn elements(&self) -> Children<'a> {
        self.0.children()
    }

    fn is_unique(&self) -> bool {
        // Keyed hashes sorted, equal neighbours compared: no element is copied out.
        let h = std::collections::hash_map::RandomState::new();
        let mut hashes: Vec<(u64, u32)> =
            self.elements().map(|e| (e.value_hash(&h), e.at)).collect();
        hashes.sort_unstable();
        !hashes.chunk_by(|a, b| a.0 == b.0).any(|group| {
            group.iter().enumerate().any(|(i, (_, a))| {
                let a = self.0.at(*a);
                group[i + 1..].iter().any(|(_, b)| same(a, self.0.at(*b)))
            })
        })
    }
}

/// JSON equality of two nodes (numbers by value, members in any order).
fn same(a: TapeNode<'_>, b: TapeNode<'_>) -> bool {
    match (a.kind(), b.kind()) {
        (Kind::Number, Kind::Number) => {
            let n: Option<serde_json::Number> = b.text().parse().ok();
            n.is_some_and(|n| jsonschema::json::cmp::equal_numbers(&TapeNumber(a.text()), &n))
        }
        (Kind::String, Kind::String) => a.string() == b.string(),
        (Kind::Array, Kind::Array) => {
            a.count() == b.count() && a.children().zip(b.children()).all(|(x, y)| same(x, y))
        }
        (Kind::Object, Kind::Object) => {
            // Members by name on both sides (names are unique: the tape refuses repeats), so
            // two large objects compare in n log n, never n × m.
            fn sorted(o: TapeNode<'_>) -> Vec<(Cow<'_, str>, TapeNode<'_>)> {
                let mut m: Vec<_> = TapeObject(o).members().collect();
                m.sort_unstable_by(|x, y| x.0.cmp(&y.0));
                m
            }
            a.count() == b.count()
                && sorted(a)
                    .into_iter()
                    .zip(sorted(b))
                    .all(|((k, v), (k2, v2))| k == k2 && same(v, v2))
        }
        (x, y) => x == y,
    }
}

impl JsonNumber for TapeNumber<'_> {
    fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    fn as_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }

    fn as_str(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.0)
    }

    fn to_number(&self) -> Cow<'_, serde_json::Number> {
        Cow::Owned(
            self.0
                .parse()
                .unwrap_or_else(|_| serde_json::Number::from(0)),
        )
    }

    fn is_written_as_integer(&self) -> bool {
        !self.0.contains(['.', 'e', 'E'])
    }
}
