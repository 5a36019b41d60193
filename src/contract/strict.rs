//! JSON parsing that refuses duplicate object keys. A document with two copies of a key reads
//! differently to different parsers (serde_json keeps the last, others the first), so the
//! gateway would check one document and pass on another; such a document is invalid here.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses `bytes` as JSON (nesting capped by serde_json at 128), refusing duplicate keys.
pub(super) fn parse(bytes: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice::<Strict<false>>(bytes).map(|s| s.0)
}

/// As `parse`, and keys equal without regard to case are duplicates too (`role` and `ROLE`
/// reach a lenient binder as one field): for request bodies, which upstreams bind.
pub(super) fn parse_folded(bytes: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice::<Strict<true>>(bytes).map(|s| s.0)
}

struct Strict<const FOLD: bool>(Value);

impl<'de, const FOLD: bool> Deserialize<'de> for Strict<FOLD> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor::<FOLD>).map(Strict)
    }
}

struct StrictVisitor<const FOLD: bool>;

impl<'de, const FOLD: bool> Visitor<'de> for StrictVisitor<FOLD> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value without duplicate keys")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict::<FOLD>(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut folded = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict::<FOLD>(v) = map.next_value()?;
            let repeated =
                out.contains_key(&key) || (FOLD && !folded.insert(super::pattern::fold(&key)));
            if repeated {
                return Err(de::Error::custom("duplicate key"));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth_and_everything_else_parses_as_serde_json_does() {
        for doc in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"raw":"s"},"x":{"id":1}}"#,
            r#"[{"k":1,"k":1}]"#,
        ] {
            assert!(parse(doc.as_bytes()).is_err(), "{doc}");
        }
        for doc in [
            r#"{"a":[1,-2,3.5,true,null,"s"],"b":{"c":{}},"\u0061b":1}"#,
            "[]",
            "\"x\"",
            "18446744073709551615",
        ] {
            let ours = parse(doc.as_bytes()).expect("valid");
            let theirs: Value = serde_json::from_str(doc).expect("valid");
            assert_eq!(ours, theirs, "{doc}");
        }
        assert!(parse(br#"{"role":1,"ROLE":2}"#).is_ok());
        assert!(parse_folded(br#"{"role":1,"ROLE":2}"#).is_err());
        assert!(parse_folded(br#"{"role":1,"other":2}"#).is_ok());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(
            parse(deep.as_bytes()).is_err(),
            "nesting beyond 128 is refused"
        );
    }
}
