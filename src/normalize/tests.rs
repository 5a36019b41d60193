use super::*;

fn ok(raw: &str) -> String {
    match normalize_path(raw) {
        Ok(p) => p.as_str().to_owned(),
        Err(e) => panic!("{raw:?} rejected: {e}"),
    }
}

fn err(raw: &str) -> NormalizeError {
    match normalize_path(raw) {
        Ok(p) => panic!("{raw:?} accepted as {p}"),
        Err(e) => e,
    }
}

#[test]
fn rfc3986_5_2_4_remove_dot_segments() {
    assert_eq!(ok("/a/b/c/./../../g"), "/a/g");
}

/// RFC 3986 §5.4.1 and §5.4.2 examples, as the merged paths of base `/b/c/d`.
#[test]
fn rfc3986_5_4_examples() {
    let cases = [
        ("/b/c/g", "/b/c/g"),
        ("/b/c/./g", "/b/c/g"),
        ("/b/c/g/", "/b/c/g/"),
        ("/g", "/g"),
        ("/b/c/.", "/b/c/"),
        ("/b/c/./", "/b/c/"),
        ("/b/c/..", "/b/"),
        ("/b/c/../", "/b/"),
        ("/b/c/../g", "/b/g"),
        ("/b/c/../..", "/"),
        ("/b/c/../../", "/"),
        ("/b/c/../../g", "/g"),
        ("/./g", "/g"),
        ("/b/c/g.", "/b/c/g."),
        ("/b/c/.g", "/b/c/.g"),
        ("/b/c/g..", "/b/c/g.."),
        ("/b/c/..g", "/b/c/..g"),
        ("/b/c/./../g", "/b/g"),
        ("/b/c/./g/.", "/b/c/g/"),
        ("/b/c/g/./h", "/b/c/g/h"),
        ("/b/c/g/../h", "/b/c/h"),
    ];
    for (raw, want) in cases {
        assert_eq!(ok(raw), want, "{raw}");
    }
    // The abnormal examples that RFC 3986 clamps at the root are refused here instead.
    assert_eq!(err("/b/c/../../../g"), NormalizeError::AboveRoot);
    assert_eq!(err("/../g"), NormalizeError::AboveRoot);
}

#[test]
fn merges_slashes_and_keeps_trailing_slash() {
    assert_eq!(ok("/"), "/");
    assert_eq!(ok("//"), "/");
    assert_eq!(ok("//v1///reports//42"), "/v1/reports/42");
    assert_eq!(ok("/v1/reports/42/"), "/v1/reports/42/");
    assert_eq!(ok("/v1/reports/42//"), "/v1/reports/42/");
}

#[test]
fn decodes_unreserved_and_canonicalises_the_rest() {
    assert_eq!(ok("/v1/%72eports/%34%32"), "/v1/reports/42");
    assert_eq!(ok("/v1/%7e%2D%5f%2e/x"), "/v1/~-_./x");
}

#[test]
fn encoded_dots_are_dot_segments() {
    assert_eq!(ok("/v1/x/%2e%2e/y"), "/v1/y");
    assert_eq!(ok("/v1/x/.%2E/y"), "/v1/y");
    assert_eq!(ok("/v1/%2e/y"), "/v1/y");
    assert_eq!(err("/%2e%2e/internal"), NormalizeError::AboveRoot);
}

#[test]
fn keeps_reserved_escapes_upper_cased() {
    assert_eq!(ok("/v1/a%3fb"), "/v1/a%3Fb");
    assert_eq!(ok("/v1/a%20b"), "/v1/a%20b");
    assert_eq!(ok("/v1/caf%c3%a9"), "/v1/caf%C3%A9");
}

#[test]
fn encodes_raw_non_ascii() {
    assert_eq!(ok("/v1/café"), "/v1/caf%C3%A9");
    assert_eq!(ok("/v1/café"), ok("/v1/caf%C3%A9"));
}

#[test]
fn rejects_each_ambiguous_class() {
    let cases = [
        ("/v1/a%2Fb", NormalizeError::EncodedSlash),
        ("/v1/a%2fb", NormalizeError::EncodedSlash),
        ("/v1/a%5Cb", NormalizeError::EncodedSlash),
        ("/v1/a%5cb", NormalizeError::EncodedSlash),
        ("/v1/a\\b", NormalizeError::Backslash),
        ("/v1/a%00b", NormalizeError::ControlCharacter),
        ("/v1/a\u{0}b", NormalizeError::ControlCharacter),
        ("/v1/a%0Ab", NormalizeError::ControlCharacter),
        ("/v1/a%0db", NormalizeError::ControlCharacter),
        ("/v1/a%7Fb", NormalizeError::ControlCharacter),
        ("/v1/a\tb", NormalizeError::ControlCharacter),
        ("/v1/a%252Fb", NormalizeError::DoubleEncoding),
        ("/v1/%252e%252e/x", NormalizeError::DoubleEncoding),
        ("/v1/a%2", NormalizeError::BadEscape),
        ("/v1/a%zz", NormalizeError::BadEscape),
        ("/v1/a%", NormalizeError::BadEscape),
        ("/v1/%c0%ae%c0%ae/x", NormalizeError::InvalidUtf8),
        ("/v1/%ff", NormalizeError::InvalidUtf8),
        ("/v1/%e2%82", NormalizeError::InvalidUtf8),
        ("/v1/reports/..;/internal", NormalizeError::PathParameter),
        ("/v1/reports;jsessionid=1", NormalizeError::PathParameter),
        ("/v1/reports%3Bx", NormalizeError::PathParameter),
        ("/v1/reports#frag", NormalizeError::Fragment),
        ("/..", NormalizeError::AboveRoot),
        ("/v1/../../internal", NormalizeError::AboveRoot),
        ("v1/reports", NormalizeError::NotOriginForm),
        ("*", NormalizeError::NotOriginForm),
        ("", NormalizeError::NotOriginForm),
    ];
    for (raw, want) in cases {
        assert_eq!(err(raw), want, "{raw:?}");
    }
}

#[test]
fn forbidden_prefix_comparison_ignores_case() {
    let p = normalize_path("/v1/../INTERNAL/x").unwrap_or_else(|e| panic!("{e}"));
    assert!(p.starts_with_ignore_case("/internal"));
    assert!(!p.starts_with_ignore_case("/db"));
}

mod properties {
    use super::super::*;
    use proptest::prelude::*;

    fn path_strategy() -> impl Strategy<Value = String> {
        let seg = prop_oneof![
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("%2e".to_owned()),
            Just("%2E%2e".to_owned()),
            Just(String::new()),
            Just("%2F".to_owned()),
            Just("%41".to_owned()),
            Just("internal".to_owned()),
            Just("InTeRnAl".to_owned()),
            "[a-zA-Z0-9_~.%-]{0,6}",
            "\\PC{0,3}",
        ];
        prop::collection::vec(seg, 0..8).prop_map(|segs| format!("/{}", segs.join("/")))
    }

    proptest! {
        #[test]
        fn output_is_a_fixed_point_and_clean(raw in path_strategy()) {
            if let Ok(p) = normalize_path(&raw) {
                let s = p.as_str();
                prop_assert!(s.starts_with('/'));
                prop_assert!(!s.contains("//"), "{s}");
                prop_assert!(!s.split('/').any(|seg| seg == "." || seg == ".."), "{s}");
                prop_assert!(!s.to_ascii_uppercase().contains("%2F"), "{s}");
                let again = normalize_path(s).map(|q| q.as_str().to_owned());
                prop_assert_eq!(again, Ok(s.to_owned()));
            }
        }

        #[test]
        fn fast_path_agrees_with_the_full_algorithm(raw in path_strategy()) {
            prop_assert_eq!(normalize_path(&raw), normalize_slow(&raw));
        }

        #[test]
        fn fast_path_agrees_on_plain_ascii(raw in "/[a-z0-9./_~:@!$&'()*+,=-]{0,24}") {
            prop_assert_eq!(normalize_path(&raw), normalize_slow(&raw));
        }

        #[test]
        fn every_encoding_gets_the_same_forbidden_verdict(raw in path_strategy()) {
            if let Ok(p) = normalize_path(&raw) {
                let mut encoded = String::new();
                let mut in_escape = 0;
                for c in raw.chars() {
                    if c == '%' {
                        in_escape = 2;
                        encoded.push(c);
                    } else if in_escape > 0 {
                        in_escape -= 1;
                        encoded.push(c);
                    } else if c.is_ascii_alphanumeric() || c == '.' {
                        encoded.push_str(&format!("%{:02X}", c as u32));
                    } else {
                        encoded.push(c);
                    }
                }
                let again = normalize_path(&encoded);
                prop_assert_eq!(again.as_ref().map(NormalPath::as_str), Ok(p.as_str()));
                for prefix in ["/internal", "/db"] {
                    prop_assert_eq!(
                        again.as_ref().map(|q| q.starts_with_ignore_case(prefix)),
                        Ok(p.starts_with_ignore_case(prefix))
                    );
                }
            }
        }

        #[test]
        fn never_panics(raw in "\\PC{0,40}") {
            let _ = normalize_path(&raw);
        }
    }
}

#[test]
fn the_fast_path_takes_plain_canonical_paths_and_only_those() {
    for p in [
        "/",
        "/v1/reports/1",
        "/a/",
        "/a/.../b",
        "/a.b/.c",
        "/~x@y:z",
    ] {
        assert!(is_already_canonical(p.as_bytes()), "{p}");
    }
    for p in [
        "", "v1", "//", "//a", "/a//b", "/.", "/..", "/a/./b", "/a/../b", "/a/.", "/a/..",
        "/a%2Fb", "/a b", "/é",
    ] {
        assert!(!is_already_canonical(p.as_bytes()), "{p}");
    }
}
