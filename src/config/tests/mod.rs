//! Validation rules, one test each, through the public `from_str`.

use super::*;

mod governed;
mod shipped;

const BASE: &str = r#"
forbidden = ["/internal", "/db"]

[server]
listen = "127.0.0.1:0"

[audit]
enabled = false

[permissions]
"reports:read"      = { kind = "read" }
"reports:publish"   = { kind = "write" }
"workflows:trigger" = { kind = "workflow" }
"insights:query"    = { kind = "intelligence" }

[[upstreams]]
name = "reports-api"
url = "http://127.0.0.1:7001"

[[routes]]
name = "get-report"
method = "GET"
path = "/v1/reports/{id}"
permission = "reports:read"
upstream = "reports-api"

[[partners]]
id = "acme"
tier = 1
stage = "active"
permissions = ["reports:read"]
keys = [{ id = "acme-1", sha256 = "652f53e045f69853bc3bd6244736374e0ea5ea25e421046072bceff2ccf92c12" }]
"#;

const SHA_B: &str = "2f7db14414758c99b77d8898e2e86b345e699fcf2701186acf182371e98f18fb";

fn problems(text: &str) -> Vec<Problem> {
    match from_str(text, &Overrides::default()) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(ConfigError::Invalid(p)) => p,
        Err(e) => panic!("not a validation error: {e}"),
    }
}

/// The one problem of `text`, as "place: message".
fn one(text: &str) -> Problem {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.into_iter().next().unwrap_or_else(|| unreachable!())
}

fn partner(extra: &str) -> String {
    format!("{BASE}\n[[partners]]\n{extra}\n")
}

#[test]
fn base_config_loads() {
    let snap = from_str(BASE, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.partners.len(), 1);
    assert_eq!(snap.keys.len(), 1);
    assert_eq!(snap.routes.len(), 1);
    assert_eq!(
        snap.forbidden,
        vec!["/internal".to_owned(), "/db".to_owned()]
    );
}

#[test]
fn forbidden_defaults_to_internal_and_db() {
    let text = BASE.replace("forbidden = [\"/internal\", \"/db\"]", "");
    let snap = from_str(&text, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        snap.forbidden,
        vec!["/internal".to_owned(), "/db".to_owned()]
    );
}

#[test]
fn wildcard_permissions_are_refused() {
    for w in ["*", "reports:*", "reports:re?d"] {
        let p = one(&partner(&format!(
            "id = \"p\"\ntier = 1\nstage = \"active\"\npermissions = [\"{w}\"]"
        )));
        assert_eq!(p.place, "partners[1].permissions[0]");
        assert_eq!(p.kind, ProblemKind::WildcardPermission(w.into()));
    }
    let text = BASE.replace("\"insights:query\"    =", "\"insights:*\" =");
    let p = one(&text);
    assert_eq!(p.place, "permissions.\"insights:*\"");
}

#[test]
fn partner_defined_permissions_are_refused() {
    let p = one(&partner(
        "id = \"p\"\ntier = 1\nstage = \"active\"\npermissions = [\"reports:read\", \"reports:export\"]",
    ));
    assert_eq!(p.place, "partners[1].permissions[1]");
    assert_eq!(
        p.kind,
        ProblemKind::UnknownPermission("reports:export".into())
    );
    assert!(p.to_string().contains("[permissions]"), "{p}");
}

#[test]
fn permissions_above_the_tier_ceiling_are_refused() {
    let p = one(&partner(
        "id = \"p\"\ntier = 1\nstage = \"active\"\npermissions = [\"workflows:trigger\"]",
    ));
    assert_eq!(p.place, "partners[1].permissions[0]");
    assert!(
        matches!(p.kind, ProblemKind::AboveTierCeiling { tier: 1, .. }),
        "{p}"
    );
    let p = one(&partner(
        "id = \"p\"\ntier = 2\nstage = \"active\"\npermissions = [\"insights:query\"]",
    ));
    assert!(
        matches!(p.kind, ProblemKind::AboveTierCeiling { tier: 2, .. }),
        "{p}"
    );
    // Tier 3 may hold every kind.
    let ok = partner(
        "id = \"p\"\ntier = 3\nstage = \"active\"\npermissions = [\"insights:query\", \"reports:publish\"]",
    );
    assert!(from_str(&ok, &Overrides::default()).is_ok());
}

#[test]
fn unknown_route_permission_and_upstream_are_refused() {
    let text = format!(
        "{BASE}\n[[routes]]\nname = \"x\"\nmethod = \"GET\"\npath = \"/v1/x\"\npermission = \"x:read\"\nupstream = \"nowhere\"\n"
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!(p[0].place, "routes[1].permission");
    assert_eq!(p[0].kind, ProblemKind::UnknownPermission("x:read".into()));
    assert_eq!(p[1].place, "routes[1].upstream");
    assert_eq!(p[1].kind, ProblemKind::UnknownUpstream("nowhere".into()));
}

#[test]
fn routes_under_forbidden_prefixes_are_refused_in_every_spelling() {
    for path in ["/internal/users", "/INTERNAL/users", "/Db", "/db/{table}"] {
        let text = format!(
            "{BASE}\n[[routes]]\nname = \"x\"\nmethod = \"GET\"\npath = \"{path}\"\npermission = \"reports:read\"\nupstream = \"reports-api\"\n"
        );
        let p = one(&text);
        assert_eq!(p.place, "routes[1].path");
        assert!(
            matches!(p.kind, ProblemKind::UnderForbiddenPrefix { .. }),
            "{path}: {p}"
        );
    }
    // Non-canonical spellings are refused before they could hide a forbidden prefix.
    for path in ["/v1/../internal/x", "//internal/x", "/%69nternal/x"] {
        let text = format!(
            "{BASE}\n[[routes]]\nname = \"x\"\nmethod = \"GET\"\npath = \"{path}\"\npermission = \"reports:read\"\nupstream = \"reports-api\"\n"
        );
        let p = one(&text);
        assert!(p.to_string().contains("canonical"), "{path}: {p}");
    }
}

#[test]
fn duplicates_are_refused_with_the_first_place() {
    let dup_partner = partner(&format!(
        "id = \"acme\"\ntier = 1\nstage = \"active\"\nkeys = [{{ id = \"b\", sha256 = \"{SHA_B}\" }}]"
    ));
    let p = one(&dup_partner);
    assert_eq!(p.place, "partners[1].id");
    assert!(p.to_string().contains("first at partners[0].id"), "{p}");

    let dup_key_id = partner(&format!(
        "id = \"b\"\ntier = 1\nstage = \"active\"\nkeys = [{{ id = \"acme-1\", sha256 = \"{SHA_B}\" }}]"
    ));
    assert_eq!(one(&dup_key_id).place, "partners[1].keys[0].id");

    let dup_hash = partner(
        "id = \"b\"\ntier = 1\nstage = \"active\"\nkeys = [{ id = \"b-1\", sha256 = \"652F53E045F69853BC3BD6244736374E0EA5EA25E421046072BCEFF2CCF92C12\" }]",
    );
    let p = one(&dup_hash);
    assert_eq!(p.place, "partners[1].keys[0].sha256");
    assert!(matches!(
        p.kind,
        ProblemKind::Duplicate {
            what: "key sha256",
            ..
        }
    ));

    let dup_route_name = format!(
        "{BASE}\n[[routes]]\nname = \"get-report\"\nmethod = \"GET\"\npath = \"/v1/other\"\npermission = \"reports:read\"\nupstream = \"reports-api\"\n"
    );
    assert_eq!(one(&dup_route_name).place, "routes[1].name");

    let dup_method_path = format!(
        "{BASE}\n[[routes]]\nname = \"again\"\nmethod = \"GET\"\npath = \"/v1/reports/{{id}}\"\npermission = \"reports:read\"\nupstream = \"reports-api\"\n"
    );
    let p = one(&dup_method_path);
    assert_eq!(p.place, "routes[1].path");
    assert!(p.to_string().contains("already served"), "{p}");

    let dup_upstream =
        format!("{BASE}\n[[upstreams]]\nname = \"reports-api\"\nurl = \"http://127.0.0.1:1\"\n");
    assert_eq!(one(&dup_upstream).place, "upstreams[1].name");
}

#[test]
fn malformed_sha256_is_refused() {
    for bad in [
        "abc",
        "zz5a838f301b0b7c5a85026b27d5256a0ed1c565be48f7b34626703f80a596d2",
        "",
    ] {
        let p = one(&partner(&format!(
            "id = \"b\"\ntier = 1\nstage = \"active\"\nkeys = [{{ id = \"b-1\", sha256 = \"{bad}\" }}]"
        )));
        assert_eq!(p.place, "partners[1].keys[0].sha256");
        assert_eq!(p.kind, ProblemKind::BadSha256(bad.into()));
    }
}

#[test]
fn deprecation_requires_sunset_and_the_date_it_began() {
    let p = one(&partner("id = \"b\"\ntier = 1\nstage = \"deprecation\""));
    assert_eq!(p.place, "partners[1].sunset");
    assert_eq!(p.kind, ProblemKind::MissingSunset);
    let p = one(&partner(
        "id = \"b\"\ntier = 1\nstage = \"deprecation\"\nsunset = \"2027-06-30T00:00:00Z\"",
    ));
    assert_eq!(p.place, "partners[1].deprecated_since");
    let ok = partner(
        "id = \"b\"\ntier = 1\nstage = \"deprecation\"\nsunset = \"2027-06-30T00:00:00Z\"\ndeprecated_since = \"2026-06-30T00:00:00Z\"",
    );
    assert!(from_str(&ok, &Overrides::default()).is_ok());
}

#[test]
fn bad_urls_durations_and_timestamps_are_refused() {
    for url in [
        "htp://x",
        "127.0.0.1:7001",
        "http://",
        "http://host/base",
        "http://u@host:1",
        "ftp://host",
    ] {
        let text = BASE.replace("http://127.0.0.1:7001", url);
        let p = one(&text);
        assert_eq!(p.place, "upstreams[0].url", "{url}");
        assert!(matches!(p.kind, ProblemKind::BadUrl { .. }), "{url}: {p}");
    }
    let text =
        format!("{BASE}\n[limits]\nupstream_timeout = \"soon\"\nclient_header_timeout = \"0s\"\n");
    let p = problems(&text);
    let places: Vec<_> = p.iter().map(|p| p.place.as_str()).collect();
    assert_eq!(
        places,
        ["limits.client_header_timeout", "limits.upstream_timeout"]
    );
    assert!(
        p.iter()
            .all(|p| matches!(p.kind, ProblemKind::BadDuration { .. }))
    );

    let p = one(&partner(&format!(
        "id = \"b\"\ntier = 1\nstage = \"active\"\nkeys = [{{ id = \"b-1\", sha256 = \"{SHA_B}\", expires = \"next year\" }}]"
    )));
    assert_eq!(p.place, "partners[1].keys[0].expires");
    assert_eq!(p.kind, ProblemKind::BadTimestamp("next year".into()));
}

#[test]
fn every_problem_is_listed_at_once() {
    let text = format!(
        "{BASE}\n[[partners]]\nid = \"bad\"\ntier = 4\nstage = \"retired\"\npermissions = [\"*\", \"nope\"]\nkeys = [{{ id = \"acme-1\", sha256 = \"xyz\" }}]\n"
    );
    let p = problems(&text);
    let places: Vec<_> = p.iter().map(|p| p.place.as_str()).collect();
    assert_eq!(
        places,
        [
            "partners[1].tier",
            "partners[1].stage",
            "partners[1].permissions[0]",
            "partners[1].permissions[1]",
            "partners[1].keys[0].id",
            "partners[1].keys[0].sha256",
        ],
        "{p:#?}"
    );
}

#[test]
fn keys_are_checked_even_when_the_partner_is_valid() {
    let text = partner(&format!(
        "id = \"b\"\ntier = 1\nstage = \"active\"\nkeys = [{{ id = \"acme-1\", sha256 = \"xyz\" }}, {{ id = \"b-2\", sha256 = \"{SHA_B}\" }}]"
    ));
    let p = problems(&text);
    let places: Vec<_> = p.iter().map(|p| p.place.as_str()).collect();
    assert_eq!(
        places,
        ["partners[1].keys[0].id", "partners[1].keys[0].sha256"]
    );
}

#[test]
fn unknown_fields_fail_loudly() {
    let text = BASE.replace("stage = \"active\"", "stage = \"active\"\nstagee = \"x\"");
    match from_str(&text, &Overrides::default()) {
        Err(ConfigError::Syntax(msg)) => assert!(msg.contains("stagee"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mtls_needs_a_client_ca_and_bound_certificates() {
    let p = problems(&partner(
        "id = \"b\"\ntier = 1\nstage = \"active\"\nrequire_mtls = true\nclient_cert_sha256 = [\"nothex\"]",
    ));
    let places: Vec<_> = p.iter().map(|p| p.place.as_str()).collect();
    assert_eq!(
        places,
        [
            "partners[1].client_cert_sha256[0]",
            "partners[1].require_mtls"
        ],
        "{p:#?}"
    );
    assert!(
        p[1].to_string().contains("server.tls.client_ca"),
        "{}",
        p[1]
    );
}

#[test]
fn unreadable_tls_files_are_reported_at_server_tls() {
    let text = BASE.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\ntls = { cert = \"/nonexistent/cert.pem\", key = \"/nonexistent/key.pem\" }",
    );
    let p = one(&text);
    assert_eq!(p.place, "server.tls");
    assert!(p.to_string().contains("/nonexistent/cert.pem"), "{p}");
}

#[test]
fn jwt_issuers_are_pinned_and_partners_name_only_configured_ones() {
    let text = format!(
        "{}\n[[auth.jwt]]\nissuer = \"https://idp\"\naudiences = []\nalgorithms = [\"HS256\", \"RS256\", \"none\"]\nleeway = \"5s\"\n",
        partner("id = \"b\"\ntier = 1\nstage = \"active\"\njwt_issuers = [\"https://elsewhere\"]")
    );
    let p = problems(&text);
    let places: Vec<_> = p.iter().map(|p| p.place.as_str()).collect();
    assert_eq!(
        places,
        [
            "auth.jwt[0].audiences",
            "auth.jwt[0].algorithms[2]",
            "auth.jwt[0].algorithms",
            "auth.jwt[0].secret",
            "partners[1].jwt_issuers[0]",
        ],
        "{p:#?}"
    );
    assert!(p[2].to_string().contains("key confusion"), "{}", p[2]);
}

#[test]
fn edge_limits_default_and_bad_values_are_listed_with_their_place() {
    let snap = from_str(
        &format!("{BASE}\n[admin]\nlisten = \"127.0.0.1:0\"\n"),
        &Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.admin.as_ref().map(|a| a.max_connections), Some(64));
    assert_eq!(snap.limits.unauthenticated.per_second, 50.0);
    assert_eq!(snap.limits.unauthenticated.burst, 100);

    let bad = BASE
        .replace(
            "listen = \"127.0.0.1:0\"\n",
            "listen = \"127.0.0.1:0\"\n\n[limits]\nunauthenticated_rate_per_second = 0.0\nunauthenticated_burst = 0\n\n[admin]\nlisten = \"127.0.0.1:0\"\nmax_connections = 0\n",
        )
        .replace(
            "url = \"http://127.0.0.1:7001\"",
            "url = \"http://127.0.0.1:7001\"\nresponse_headers_remove = [\"X-Ok\", \"Bad Name\"]",
        );
    let places: Vec<String> = problems(&bad).into_iter().map(|p| p.place).collect();
    assert_eq!(
        places,
        [
            "admin.max_connections",
            "limits.unauthenticated_rate_per_second",
            "limits.unauthenticated_burst",
            "upstreams[0].response_headers_remove[1]",
        ]
    );
}
