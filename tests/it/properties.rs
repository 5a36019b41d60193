//! The fuzz targets' properties, as property tests in the normal suite: the configuration
//! loader and the audit verifier never panic, and the verifier never accepts a changed record.

use kwanus_gateway::audit;
use kwanus_gateway::config::{self, Overrides};
use proptest::prelude::*;

const FIXTURE: &str = include_str!("../fixtures/gateway.toml");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_config_loader_never_panics(text in "\\PC{0,400}") {
        let _ = config::from_str(&text, &Overrides::default());
    }

    #[test]
    fn the_config_loader_never_panics_on_mutated_configs(cut in 0usize..4000, junk in "[\\[\\]=\"a-z0-9 .{}\n]{0,20}") {
        let mut text = FIXTURE.to_owned();
        let at = cut.min(text.len());
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &junk);
        let _ = config::from_str(&text, &Overrides::default());
    }

    #[test]
    fn the_audit_verifier_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = audit::verify_bytes(&data, None);
    }

    #[test]
    fn the_audit_verifier_never_accepts_a_changed_byte(flip in 0usize..10_000) {
        let line = concat!(
            r#"{"seq":1,"ts":"2026-11-25T01:48:28.767417Z","kind":"config","trigger":"startup","result":"ok","old_config_sha256":null,"new_config_sha256":"078e7c7f046e7dae53dc0971f0c81be494a651592d1bce56b032313185bfbd39","detail":null,"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"9c14b4890c139d22e346c0a264b182a8a3f96ba2455f1196244bc5528d6370af"}"#,
            "\n"
        );
        prop_assert!(audit::verify_bytes(line.as_bytes(), None).is_ok());
        let mut bytes = line.as_bytes().to_vec();
        let i = flip % (bytes.len() - 1);
        bytes[i] ^= 0x01;
        prop_assert!(audit::verify_bytes(&bytes, None).is_err(), "accepted a change at byte {}", i);
    }
}

/// Data-class patterns and the allow-list the contract properties run with.
const CLASS_PATTERNS: [&str; 3] = ["/**/raw_text", "/items/*/secret", "/a~1b/**/x"];
const ALLOW_PATTERNS: [&str; 2] = ["/id", "/items/**"];

/// A JSON document over a small alphabet of keys, so that the patterns hit often.
fn document() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        let key = prop_oneof![
            Just("raw_text".to_owned()),
            Just("secret".to_owned()),
            Just("items".to_owned()),
            Just("a/b".to_owned()),
            Just("x".to_owned()),
            Just("id".to_owned()),
            Just("~0".to_owned()),
            "[a-z]{1,3}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            proptest::collection::vec((key, inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The reference semantics of a pattern, written independently of the gateway's NFA.
fn glob(pattern: &[String], path: &[String]) -> bool {
    match (pattern.first().map(String::as_str), path.first()) {
        (None, None) => true,
        (Some("**"), _) => {
            glob(&pattern[1..], path) || (!path.is_empty() && glob(pattern, &path[1..]))
        }
        (Some("*"), Some(_)) => glob(&pattern[1..], &path[1..]),
        (Some(seg), Some(key)) => seg == key.as_str() && glob(&pattern[1..], &path[1..]),
        _ => false,
    }
}

fn segments(pattern: &str) -> Vec<String> {
    pattern[1..]
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Every node's path in `doc` (containers and leaves), keys unescaped.
fn paths(doc: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    let children: Vec<(String, &serde_json::Value)> = match doc {
        serde_json::Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (k, v) in children {
        at.push(k);
        out.push((at.clone(), v.is_object() || v.is_array()));
        paths(v, at, out);
        at.pop();
    }
}

fn contract(allow: bool) -> kwanus_gateway::contract::ResponseContract {
    use kwanus_gateway::contract::*;
    let mut classes = DataClasses::default();
    let fields = CLASS_PATTERNS
        .iter()
        .map(|p| FieldPattern::parse(p).expect("pattern"))
        .collect();
    classes.push("forbidden".into(), fields, Vec::new());
    let allow_fields = allow.then(|| {
        let mut set = PatternSet::exact();
        for p in ALLOW_PATTERNS {
            set.push(FieldPattern::parse(p).expect("pattern"), OUTSIDE_ALLOW_LIST);
        }
        set
    });
    ResponseContract {
        classes: std::sync::Arc::new(classes),
        content_types: vec!["application/json".into()],
        max_bytes: 1 << 20,
        allow_fields,
        on_violation: OnViolation::Strip,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_output_ever_carries_a_field_of_a_forbidden_class(doc in document(), allow in any::<bool>()) {
        let input = serde_json::to_vec(&doc).expect("serialise");
        let passed = contract(allow).apply(&input, &|_| false).expect("valid JSON passes");
        let out: serde_json::Value = match passed.body {
            Some(b) => serde_json::from_slice(&b).expect("the output is JSON"),
            None => doc.clone(),
        };
        let mut all = Vec::new();
        paths(&out, &mut Vec::new(), &mut all);
        for (path, container) in &all {
            for p in CLASS_PATTERNS {
                prop_assert!(!glob(&segments(p), path), "{path:?} matches {p} in {out}");
            }
            if allow && !container {
                // A kept leaf lies on or under an allowed field.
                let allowed = ALLOW_PATTERNS.iter().any(|p| {
                    let p = segments(p);
                    (0..=path.len()).any(|n| glob(&p, &path[..n]))
                });
                prop_assert!(allowed, "{path:?} is outside the allow-list in {out}");
            }
        }
        // What was reported removed is gone, and nothing else changed when nothing was.
        prop_assert_eq!(passed.removed.count == 0, out == doc);
    }
}

/// Whether some continuation of `path` could match `pattern` (the path is a prefix of a match).
fn could_match(pattern: &[String], path: &[String]) -> bool {
    match (pattern.first().map(String::as_str), path.first()) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some("**"), _) => could_match(&pattern[1..], path) || could_match(pattern, &path[1..]),
        (Some("*"), Some(_)) => could_match(&pattern[1..], &path[1..]),
        (Some(seg), Some(key)) => seg == key.as_str() && could_match(&pattern[1..], &path[1..]),
    }
}

/// The contract's rules applied to a tree, written independently of the byte filter: a member
/// goes when a class pattern matches it, or (under an allow-list not yet satisfied) when no
/// allowed field is it or, for a container, could lie below it.
fn reference(doc: &serde_json::Value, allow: bool) -> serde_json::Value {
    fn walk(
        v: &serde_json::Value,
        at: &mut Vec<String>,
        allowed: bool,
        allow: bool,
    ) -> serde_json::Value {
        use serde_json::Value;
        let keep = |at: &mut Vec<String>, child: &Value| -> Option<bool> {
            if CLASS_PATTERNS.iter().any(|p| glob(&segments(p), at)) {
                return None;
            }
            if !allow || allowed {
                return Some(true);
            }
            if ALLOW_PATTERNS.iter().any(|p| glob(&segments(p), at)) {
                return Some(true);
            }
            let container = child.is_object() || child.is_array();
            (container && ALLOW_PATTERNS.iter().any(|p| could_match(&segments(p), at)))
                .then_some(false)
        };
        match v {
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, child) in m {
                    at.push(k.clone());
                    if let Some(all) = keep(at, child) {
                        out.insert(k.clone(), walk(child, at, allowed || all, allow));
                    }
                    at.pop();
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                let mut out = Vec::new();
                for (i, child) in a.iter().enumerate() {
                    at.push(i.to_string());
                    if let Some(all) = keep(at, child) {
                        out.push(walk(child, at, allowed || all, allow));
                    }
                    at.pop();
                }
                Value::Array(out)
            }
            other => other.clone(),
        }
    }
    walk(doc, &mut Vec::new(), false, allow)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_byte_filter_removes_what_the_rules_remove_however_the_document_is_laid_out(
        doc in document(),
        allow in any::<bool>(),
        pretty in any::<bool>(),
    ) {
        let input = if pretty {
            serde_json::to_vec_pretty(&doc).expect("serialise")
        } else {
            serde_json::to_vec(&doc).expect("serialise")
        };
        let passed = contract(allow).apply(&input, &|_| false).expect("valid JSON passes");
        let out = passed.body.clone().unwrap_or_else(|| input.clone());
        let parsed: serde_json::Value = serde_json::from_slice(&out).expect("the output is JSON");
        prop_assert_eq!(&parsed, &reference(&doc, allow));
        // Nothing is re-encoded: the output is the input with whole ranges cut out, so every
        // line of a pretty document that is kept is kept as it was.
        if pretty {
            let text = String::from_utf8(out).expect("utf8");
            let original = String::from_utf8(input).expect("utf8");
            for line in text.lines().filter(|l| l.trim_start().starts_with('"') && !l.trim_end().ends_with(['{', '['])) {
                let line = line.trim_end_matches(',');
                prop_assert!(original.lines().any(|o| o.trim_end_matches(',') == line), "{line:?} was rewritten");
            }
        }
    }

    #[test]
    fn the_lexer_accepts_what_serde_json_accepts(doc in document(), cut in 0usize..400, junk in "[\\\\\\[\\]{}\",:0-9a-z .eE+-]{0,3}") {
        // A valid document with a few bytes inserted: accepted by both or refused by both —
        // but for duplicate keys, which only the gateway refuses, and numbers beyond f64,
        // which only serde_json refuses (the filter passes them on as written).
        use kwanus_gateway::contract::{JsonError, check_json};
        let mut text = serde_json::to_string(&doc).expect("serialise");
        let at = cut.min(text.len());
        text.insert_str(at, &junk);
        let theirs = serde_json::from_str::<serde_json::Value>(&text);
        let ours = check_json(text.as_bytes());
        match (&theirs, ours) {
            (Ok(_), Ok(()) | Err(JsonError::DuplicateKey)) => {}
            (Err(e), _) if e.to_string().contains("out of range") => {}
            (Err(_), Err(_)) => {}
            (t, o) => prop_assert!(false, "{text:?}: serde_json {t:?}, gateway {o:?}"),
        }
    }
}
