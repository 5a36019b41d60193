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
