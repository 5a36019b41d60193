//! The shipped configurations load, and to the facts the documentation states.

use super::*;

#[test]
fn shipped_configs_load() {
    for (name, text) in [
        (
            "config/gateway.toml",
            include_str!("../../../config/gateway.toml"),
        ),
        (
            "config/demo.toml",
            include_str!("../../../config/demo.toml"),
        ),
    ] {
        let snap = from_str_in(
            text,
            &Overrides::default(),
            Some(std::path::Path::new("config")),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!snap.routes.is_empty(), "{name}");
    }
}

/// Golden test: the shipped example compiles to exactly these facts.
#[test]
fn gateway_toml_golden() {
    let snap = from_str_in(
        include_str!("../../../config/gateway.toml"),
        &Overrides::default(),
        Some(std::path::Path::new("config")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        snap.summary().split(", audit trail in ").next(),
        Some("3 partners, 3 keys, 4 routes, 3 upstreams, 4 permissions, 2 forbidden prefixes")
    );
    // The relative `var/audit` is resolved once, against the working directory.
    let audit = snap.audit.as_ref().map(|a| a.dir.clone());
    assert_eq!(
        audit,
        std::path::absolute("var/audit").ok(),
        "{:?}",
        snap.summary()
    );
    assert_eq!(snap.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(snap.limits.max_request_header_bytes, 16384);
    assert_eq!(
        snap.limits.upstream_timeout,
        std::time::Duration::from_secs(30)
    );
    let ids: Vec<_> = snap.partners.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(ids, ["acme", "globex", "initech"]);
}

#[test]
fn demo_keys_match_demo_config() {
    let snap = from_str_in(
        crate::demo::DEMO_CONFIG,
        &Overrides::default(),
        Some(std::path::Path::new("config")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (partner, key, _) in crate::demo::DEMO_KEYS {
        let entry = snap
            .keys
            .find(&crate::auth::PresentedKey(key))
            .unwrap_or_else(|| panic!("demo key of {partner} not in demo.toml"));
        assert_eq!(&*entry.partner.id, partner);
    }
}
