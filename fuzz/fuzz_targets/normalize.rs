//! The normaliser's properties: the output is a fixed point, never holds `..`, `//` or an
//! encoded slash, never leaves the root, and every encoding of a path gets the same
//! forbidden-prefix verdict.
#![no_main]

use kwanus_gateway::normalize::normalize_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(p) = normalize_path(raw) else { return };
    let s = p.as_str();
    assert!(s.starts_with('/'));
    assert!(!s.contains("//"), "{s}");
    assert!(!s.split('/').any(|seg| seg == ".." || seg == "."), "{s}");
    let upper = s.to_ascii_uppercase();
    assert!(!upper.contains("%2F") && !upper.contains("%5C"), "{s}");
    assert_eq!(normalize_path(s).map(|q| q.as_str().to_owned()), Ok(s.to_owned()));
    // Percent-encode every unreserved letter: the same path, the same verdict.
    let mut encoded = String::new();
    let mut in_escape = 0;
    for c in raw.chars() {
        if c == '%' {
            in_escape = 2;
            encoded.push(c);
        } else if in_escape > 0 {
            in_escape -= 1;
            encoded.push(c);
        } else if c.is_ascii_alphabetic() {
            encoded.push_str(&format!("%{:02X}", c as u32));
        } else {
            encoded.push(c);
        }
    }
    let again = normalize_path(&encoded).expect("an encoding of a valid path is valid");
    assert_eq!(again.as_str(), s);
    assert_eq!(
        again.starts_with_ignore_case("/internal"),
        p.starts_with_ignore_case("/internal")
    );
});
