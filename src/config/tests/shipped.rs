//! The shipped configurations load, and to the facts the documentation states.

use super::*;

/// The shipped `config/gateway.toml`, its audit signing key (which an operator creates)
/// made in a temporary folder.
fn gateway_toml() -> String {
    static KEY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("kwanus-unit-audit-key-{}.pem", std::process::id()));
        let (private, _) = crate::audit::generate_pem().unwrap_or_default();
        std::fs::write(&path, private).unwrap_or_else(|e| panic!("{e}"));
        path
    });
    include_str!("../../../config/gateway.toml").replacen(
        "signing_key = \"secrets/audit-ed25519.pem\"",
        &format!("signing_key = {:?}", key.display().to_string()),
        1,
    )
}

#[test]
fn shipped_configs_load() {
    let demo = Overrides {
        demo: true,
        ..Overrides::default()
    };
    for (name, text, overrides) in [
        ("config/gateway.toml", gateway_toml(), Overrides::default()),
        (
            "config/demo.toml",
            include_str!("../../../config/demo.toml").to_owned(),
            demo,
        ),
    ] {
        let snap = from_str_in(&text, &overrides, Some(std::path::Path::new("config")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!snap.routes.is_empty(), "{name}");
    }
}

#[test]
fn the_demo_keys_load_only_in_the_demo() {
    let err = from_str_in(
        include_str!("../../../config/demo.toml"),
        &Overrides::default(),
        Some(std::path::Path::new("config")),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    for (partner, key, _) in crate::demo::DEMO_KEYS {
        assert!(
            err.contains(&format!(
                "partner {partner:?} would be reachable with the published demo key {key:?}"
            )),
            "{partner}: {err}"
        );
    }
}

/// Golden test: the shipped example compiles to exactly these facts.
#[test]
fn gateway_toml_golden() {
    let snap = from_str_in(
        &gateway_toml(),
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
        &Overrides {
            demo: true,
            ..Overrides::default()
        },
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

#[test]
fn the_shipped_configs_ship_with_every_safeguard_on() {
    let gateway = from_str_in(
        &gateway_toml(),
        &Overrides::default(),
        Some(std::path::Path::new("config")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(crate::safeguards::warnings(&gateway), Vec::<String>::new());
}

#[test]
fn the_view_read_without_compiling_is_the_view_the_gateway_computes() {
    let dir = crate::demo::prepare().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("demo.toml");
    let demo = Overrides {
        demo: true,
        ..Overrides::default()
    };
    let compiled = load_with(&path, &demo).unwrap_or_else(|e| panic!("{e}"));
    let view = governance_view(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(view.unread.is_empty(), "{:?}", view.unread);
    assert!(
        compiled
            .model
            .routes
            .values()
            .any(|r| r.request_schema_sha256.is_some()),
        "the demo hashes its schemas"
    );
    assert_eq!(view.model, *compiled.model);
    // A schema that is not here is named, and takes the other side's hash when compared.
    let moved = dir.join("moved-away.json");
    let (route, schema) = compiled
        .model
        .routes
        .iter()
        .find_map(|(n, r)| r.request_schema.clone().map(|s| (n.clone(), s)))
        .unwrap_or_default();
    let schema = dir.join(schema);
    std::fs::rename(&schema, &moved).unwrap_or_else(|e| panic!("{e}"));
    let mut partial = governance_view(&path).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(&moved, &schema).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(partial.unread.len(), 1, "{:?}", partial.unread);
    assert_eq!(partial.model.routes[&route].request_schema_sha256, None);
    let named = partial.compare_unread_as(&compiled.model);
    assert_eq!(named.len(), 1);
    assert!(
        named[0].starts_with(&format!("routes.{route}.request_schema")),
        "{named:?}"
    );
    assert_eq!(partial.model, *compiled.model);
}
