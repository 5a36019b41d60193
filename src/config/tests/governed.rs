//! The governance view is exhaustive (issue 21 item 4): a table with one row per field of the
//! file, each with a change. A governed field's change widens (and so needs the quorum) or is
//! shown without widening (a justification, a ticket); an operational field's change is no
//! governance-relevant change at all. The rows must be exactly the fields `config::model`
//! classifies, so a field can be neither in the view nor listed as operational.

use std::collections::BTreeSet;

use crate::config::model::classify;
use crate::governance::diff::Diff;

/// A configuration that sets every field of the file (it need not load: the view is built
/// from the file's types).
const EVERYTHING: &str = include_str!("everything.toml");

/// What a row's change does to the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Governed: the change widens access or weakens a safeguard (needs the quorum).
    Weakens,
    /// Governed: the change is shown, and never widens (free text for people).
    Shown,
    /// Operational: no governance-relevant change.
    Operational,
}

use Expect::{Operational, Shown, Weakens};

/// One row per field: the field, the text replaced in `EVERYTHING` and by what, the verdict.
#[rustfmt::skip]
const TABLE: &[(&str, &str, &str, Expect)] = &[
    ("forbidden", r#"["/internal", "/db", "/legacy"]"#, r#"["/internal", "/db"]"#, Weakens),
    ("forbidden_segments", r#"["internal", "db", "secrets"]"#, r#"["internal", "db"]"#, Weakens),
    ("server.listen", "127.0.0.1:8443", "127.0.0.1:9443", Operational),
    ("server.drain_timeout", r#"drain_timeout = "30s""#, r#"drain_timeout = "5s""#, Operational),
    ("server.shutdown_delay", r#"shutdown_delay = "5s""#, r#"shutdown_delay = "0s""#, Operational),
    ("server.require_versioned_routes", "require_versioned_routes = true", "require_versioned_routes = false", Weakens),
    ("server.justification", "nothing is off here", "still nothing is off", Shown),
    ("server.tls.cert", "certs/gw.pem", "certs/gw-2027.pem", Operational),
    ("server.tls.key", "certs/gw-key.pem", "certs/gw-2027-key.pem", Operational),
    ("server.tls.client_ca", r#", client_ca = "certs/partners-ca.pem""#, "", Weakens),
    ("admin.listen", "127.0.0.1:9090", "0.0.0.0:9090", Weakens),
    ("admin.token_sha256", "aaaa0000", "aaaa1111", Weakens),
    ("admin.max_connections", "max_connections = 64", "max_connections = 6400", Weakens),
    ("limits.max_request_header_bytes", "max_request_header_bytes = 16384", "max_request_header_bytes = 65536", Weakens),
    ("limits.max_request_body_bytes", "max_request_body_bytes = 10485760", "max_request_body_bytes = 104857600", Weakens),
    ("limits.client_header_timeout", r#"client_header_timeout = "10s""#, r#"client_header_timeout = "10m""#, Weakens),
    ("limits.upstream_connect_timeout", r#"upstream_connect_timeout = "2s""#, r#"upstream_connect_timeout = "5s""#, Operational),
    ("limits.upstream_timeout", r#"upstream_timeout = "30s""#, r#"upstream_timeout = "60s""#, Operational),
    ("limits.client_body_timeout", r#"client_body_timeout = "30s""#, r#"client_body_timeout = "30m""#, Weakens),
    ("limits.max_connections", "max_connections = 10000", "max_connections = 100000", Weakens),
    ("limits.h2_max_concurrent_streams", "h2_max_concurrent_streams = 100", "h2_max_concurrent_streams = 1000", Weakens),
    ("limits.h2_max_frame_size", "h2_max_frame_size = 16384", "h2_max_frame_size = 65536", Weakens),
    ("limits.h2_max_pending_reset_streams", "h2_max_pending_reset_streams = 20", "h2_max_pending_reset_streams = 2000", Weakens),
    ("limits.h2_keepalive_interval", r#"h2_keepalive_interval = "20s""#, r#"h2_keepalive_interval = "60s""#, Operational),
    ("limits.h2_keepalive_timeout", r#"h2_keepalive_timeout = "10s""#, r#"h2_keepalive_timeout = "30s""#, Operational),
    ("limits.unauthenticated_rate_per_second", "unauthenticated_rate_per_second = 50.0", "unauthenticated_rate_per_second = 500.0", Weakens),
    ("limits.unauthenticated_burst", "unauthenticated_burst = 100", "unauthenticated_burst = 1000", Weakens),
    ("audit.dir", r#"dir = "var/audit""#, r#"dir = "/tmp/elsewhere""#, Weakens),
    ("audit.durability", r#"durability = "strict""#, r#"durability = "buffered""#, Weakens),
    ("audit.flush_interval", r#"flush_interval = "100ms""#, r#"flush_interval = "10s""#, Weakens),
    ("audit.rotate_bytes", "rotate_bytes = 104857600", "rotate_bytes = 1048576", Operational),
    ("audit.retention_days", "retention_days = 400", "retention_days = 1", Weakens),
    ("audit.signing_key", "signing_key = \"secrets/audit.pem\"\n", "", Weakens),
    ("audit.checkpoint_every", "checkpoint_every = 1000", "checkpoint_every = 1000000", Weakens),
    ("audit.checkpoint_interval", r#"checkpoint_interval = "10s""#, r#"checkpoint_interval = "1d""#, Weakens),
    ("audit.witness_dir", "witness_dir = \"var/witness\"\n", "", Weakens),
    ("tiers.*.rate_per_second", "[tiers.2]\nrate_per_second = 50.0", "[tiers.2]\nrate_per_second = 5000.0", Weakens),
    ("tiers.*.burst", "burst = 100\n\n[permissions]", "burst = 1000\n\n[permissions]", Weakens),
    ("permissions.*.kind", r#""reports:read" = { kind = "read""#, r#""reports:read" = { kind = "write""#, Weakens),
    ("permissions.*.description", "Read reports", "Read published reports", Operational),
    ("upstreams[].name", r#""api""#, r#""api2""#, Weakens),
    ("upstreams[].url", "https://api.internal.example:8443", "https://evil.example", Weakens),
    ("upstreams[].ca_file", "certs/upstream-ca.pem", "certs/other-ca.pem", Weakens),
    ("upstreams[].client_cert", "certs/gw-client.pem", "certs/other.pem", Weakens),
    ("upstreams[].client_key", "certs/gw-client-key.pem", "certs/other-key.pem", Weakens),
    ("upstreams[].http2", "http2 = false", "http2 = true", Operational),
    ("upstreams[].response_headers_remove", r#"["x-debug"]"#, "[]", Weakens),
    ("upstreams[].allow_database_port", "allow_database_port = false", "allow_database_port = true", Weakens),
    ("upstreams[].justification", "the reports API", "the reports API (v2)", Shown),
    ("routes[].name", "name = \"run\"", "name = \"run2\"", Weakens),
    ("routes[].method", "method = \"POST\"", "method = \"PUT\"", Weakens),
    ("routes[].path", "/v1/workflows/{name}/runs", "/v1/workflows/{name}/start", Weakens),
    ("routes[].permission", "permission = \"workflows:trigger\"", "permission = \"reports:read\"", Weakens),
    ("routes[].upstream", "upstream = \"api\"", "upstream = \"other\"", Weakens),
    ("routes[].idempotency", r#"idempotency = "required""#, r#"idempotency = "none""#, Weakens),
    ("routes[].catch_all", "catch_all = false", "catch_all = true", Weakens),
    ("routes[].justification", "partners start runs", "partners start their runs", Shown),
    ("routes[].request_schema", "request_schema = \"schemas/run.json\"\n", "", Weakens),
    ("routes[].request_max_bytes", "request_max_bytes = 65536", "request_max_bytes = 10485760", Weakens),
    ("routes[].request_max_values", "request_max_values = 1000", "request_max_values = 1000000", Weakens),
    ("routes[].deprecated_since", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", Shown),
    ("routes[].sunset", "2027-09-01T00:00:00Z", "2027-01-01T00:00:00Z", Weakens),
    ("routes[].migration_url", "https://kwanus.example/v2/runs", "https://kwanus.example/v3/runs", Shown),
    ("routes[].response", "[routes.response]\ncontent_types = [\"application/json\"]\nmax_bytes = 1048576\nallow_fields = [\"/id\", \"/status\"]\non_violation = \"reject\"\n", "", Weakens),
    ("routes[].response.content_types", r#"content_types = ["application/json"]"#, r#"content_types = ["application/json", "application/x+json"]"#, Weakens),
    ("routes[].response.max_bytes", "max_bytes = 1048576", "max_bytes = 2097152", Shown),
    ("routes[].response.allow_fields", r#"allow_fields = ["/id", "/status"]"#, r#"allow_fields = ["/id", "/status", "/raw"]"#, Weakens),
    ("routes[].response.on_violation", r#"on_violation = "reject""#, r#"on_violation = "strip""#, Weakens),
    ("routes[].response.passthrough", "on_violation = \"reject\"\n", "passthrough = \"answers carry nothing classified\"\n", Weakens),
    ("data_classes[].name", "name = \"raw\"", "name = \"raw2\"", Weakens),
    ("data_classes[].fields", r#"["/**/raw_text", "/**/notes"]"#, r#"["/**/raw_text"]"#, Weakens),
    ("data_classes[].allowed_for", "allowed_for = []", "allowed_for = [\"reports:read\"]", Weakens),
    ("partners[].id", "id = \"acme\"", "id = \"acme2\"", Weakens),
    ("partners[].tier", "tier = 2", "tier = 3", Weakens),
    ("partners[].stage", r#"stage = "deprecation""#, r#"stage = "active""#, Weakens),
    ("partners[].sunset", "2027-06-30T00:00:00Z", "2029-06-30T00:00:00Z", Weakens),
    ("partners[].deprecated_since", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z", Shown),
    ("partners[].migration_url", "https://kwanus.example/migrate", "https://kwanus.example/v2", Shown),
    ("partners[].compliance_due", "compliance_due = 2027-01-01", "compliance_due = 2028-01-01", Weakens),
    ("partners[].suspended_reason", r#"suspended_reason = "none""#, r#"suspended_reason = "review""#, Shown),
    ("partners[].suspended_until", "suspended_until = 2027-02-01", "suspended_until = 2026-02-01", Weakens),
    ("partners[].review_due", "review_due = 2027-03-01", "review_due = 2029-03-01", Weakens),
    ("partners[].risk", r#"risk = "medium""#, r#"risk = "low""#, Shown),
    ("partners[].client_cert_sha256", r#", "dddd000000000000000000000000000000000000000000000000000000000000""#, r#", "ffff000000000000000000000000000000000000000000000000000000000000""#, Weakens),
    ("partners[].require_mtls", "require_mtls = true", "require_mtls = false", Weakens),
    ("partners[].jwt_issuers", r#"jwt_issuers = ["https://idp.acme.example"]"#, r#"jwt_issuers = ["https://idp.acme.example", "https://idp.other.example"]"#, Weakens),
    ("partners[].rate_per_second", "rate_per_second = 20.0", "rate_per_second = 200.0", Weakens),
    ("partners[].burst", "burst = 40", "burst = 400", Weakens),
    ("partners[].permissions", "  \"reports:read\",\n", "  \"reports:read\",\n  \"insights:query\",\n", Weakens),
    ("partners[].permissions[].name", r#"{ name = "workflows:trigger""#, r#"{ name = "reports:publish""#, Weakens),
    ("partners[].permissions[].justification", "runs nightly jobs", "runs nightly and weekly jobs", Shown),
    ("partners[].permissions[].approved_by", r#"approved_by = ["SCO", "CGB"]"#, r#"approved_by = ["TSC", "SCO", "CGB"]"#, Shown),
    ("partners[].permissions[].ticket", r#"ticket = "GOV-1""#, r#"ticket = "GOV-2""#, Shown),
    ("partners[].permissions[].review_due", "review_due = 2027-04-01", "review_due = 2030-04-01", Weakens),
    ("partners[].keys", "  { id = \"acme-0\"", "  { id = \"acme-9\", sha256 = \"9999000000000000000000000000000000000000000000000000000000000000\" },\n  { id = \"acme-0\"", Weakens),
    ("partners[].keys[].id", r#"{ id = "acme-1""#, r#"{ id = "acme-2""#, Weakens),
    ("partners[].keys[].sha256", "bbbb0000", "bbbb1111", Weakens),
    ("partners[].keys[].expires", r#"expires = "2027-01-01T00:00:00Z""#, r#"expires = "2030-01-01T00:00:00Z""#, Weakens),
    ("partners[].keys[].revoked", "revoked = true", "revoked = false", Weakens),
    ("auth.jwt[].issuer", "issuer = \"https://idp.acme.example\"\naudiences", "issuer = \"https://idp.other.example\"\naudiences", Weakens),
    ("auth.jwt[].audiences", r#"audiences = ["kwanus-gateway"]"#, r#"audiences = ["kwanus-gateway", "any"]"#, Weakens),
    ("auth.jwt[].algorithms", r#"algorithms = ["ES256"]"#, r#"algorithms = ["ES256", "HS256"]"#, Weakens),
    ("auth.jwt[].jwks_file", "jwks/acme.json", "jwks/other.json", Weakens),
    ("auth.jwt[].secret", "not-really-used", "another-secret", Weakens),
    ("auth.jwt[].partner_claim", r#"partner_claim = "sub""#, r#"partner_claim = "azp""#, Weakens),
    ("auth.jwt[].leeway", r#"leeway = "30s""#, r#"leeway = "1h""#, Weakens),
    ("identity.signing_key", "secrets/identity.pem", "secrets/identity-2.pem", Weakens),
    ("identity.ttl", r#"ttl = "60s""#, r#"ttl = "1h""#, Weakens),
    ("identity.issuer", "issuer = \"kwanus-gateway\"", "issuer = \"someone-else\"", Weakens),
    ("state.backend", r#"backend = "redis""#, r#"backend = "memory""#, Weakens),
    ("state.redis_url", "redis://127.0.0.1:6379/0", "redis://10.0.0.5:6379/0", Weakens),
    ("state.idempotency_ttl", r#"idempotency_ttl = "24h""#, r#"idempotency_ttl = "1m""#, Weakens),
    ("state.idempotency_max_body_bytes", "idempotency_max_body_bytes = 65536", "idempotency_max_body_bytes = 6553600", Weakens),
    ("state.idempotency_max_per_partner", "idempotency_max_per_partner = 10000", "idempotency_max_per_partner = 1000000", Weakens),
    ("state.max_entries", "max_entries = 100000", "max_entries = 10", Weakens),
    ("state.timeout", r#"timeout = "50ms""#, r#"timeout = "1ms""#, Weakens),
    ("governance.require_grant_metadata", "require_grant_metadata = true", "require_grant_metadata = false", Weakens),
    ("governance.enforce_approvals", "enforce_approvals = true", "enforce_approvals = false", Weakens),
    ("governance.approvals_dir", r#"approvals_dir = "approvals""#, r#"approvals_dir = "elsewhere""#, Weakens),
    ("governance.bodies", "TSC = [\"1111", "TSC = [\"3333", Weakens),
    ("governance.misuse.threshold", "threshold = 50", "threshold = 5000", Weakens),
    ("governance.misuse.window", r#"window = "60s""#, r#"window = "1s""#, Weakens),
    ("governance.misuse.suspend_for", r#"suspend_for = "15m""#, r#"suspend_for = "1s""#, Weakens),
    ("governance.misuse.codes", r#"codes = ["permission_denied"]"#, r#"codes = ["stage_restricted"]"#, Weakens),
];

/// Changes of whole sections, beyond the rows: each weakens.
#[rustfmt::skip]
const SECTIONS: &[(&str, &str, &str)] = &[
    ("[audit] removed", "[audit]\n", "[not_audit]\n"),
    ("[audit] enabled = false", "[audit]\n", "[audit]\nenabled = false\n[not_audit]\n"),
    ("[server.tls] removed", "tls = { cert", "# tls = { cert"),
    ("[identity] removed", "[identity]\n", "[not_identity]\n"),
    ("[governance.misuse] removed", "[governance.misuse]\n", "[governance.not_misuse]\n"),
];

/// `text` with every `from` replaced (a rename reaches each reference).
/// Fields left at their default, then set weaker than the default: each weakens (the view
/// holds the default, not "unset").
#[rustfmt::skip]
const FROM_DEFAULTS: &[(&str, &str)] = &[
    ("request_max_bytes = 65536\n", "request_max_bytes = 10485760\n"),
    ("request_max_values = 1000\n", "request_max_values = 10000000\n"),
    ("idempotency_ttl = \"24h\"\n", "idempotency_ttl = \"1s\"\n"),
    ("idempotency_max_per_partner = 10000\n", "idempotency_max_per_partner = 1000000\n"),
    ("idempotency_max_body_bytes = 65536\n", "idempotency_max_body_bytes = 6553600\n"),
    ("max_entries = 100000\n", "max_entries = 10\n"),
    ("timeout = \"50ms\"\n", "timeout = \"1ms\"\n"),
    ("durability = \"strict\"\n", "durability = \"buffered\"\n"),
    ("retention_days = 400\n", "retention_days = 1\n"),
    ("checkpoint_every = 1000\n", "checkpoint_every = 1000000\n"),
    ("token_sha256 = \"aaaa000000000000000000000000000000000000000000000000000000000000\"\n", "token_sha256 = \"bbbb000000000000000000000000000000000000000000000000000000000000\"\n"),
];

/// Sections turned on: each narrows (no widening line), and is one line, not one per field.
const TURNED_ON: &[&str] = &["[audit]\n", "[identity]\n", "[governance.misuse]\n"];

fn changed(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the configuration");
    text.replace(from, to)
}

/// The diff from `EVERYTHING` to `text`; sections renamed away are dropped first (the file
/// types refuse unknown tables).
fn diff_to(text: &str) -> Diff {
    let (old, _) = classify(EVERYTHING).expect("EVERYTHING parses");
    let cleaned = cut_unknown(text);
    let (new, _) = classify(&cleaned).unwrap_or_else(|e| panic!("{e}\n{cleaned}"));
    Diff::between(&old, &new)
}

/// Removes `[not_*]` and `[governance.not_*]` tables and their lines.
fn cut_unknown(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line.contains("not_");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn every_field_is_governed_or_operational_and_the_table_lists_each_once() {
    let (_, fields) = classify(EVERYTHING).expect("EVERYTHING parses");
    let mut seen = BTreeSet::new();
    for (path, _, _, _) in TABLE {
        assert!(seen.insert(*path), "{path} is in the table twice");
    }
    let governed: BTreeSet<&str> = TABLE
        .iter()
        .filter(|r| r.3 != Operational)
        .map(|r| r.0)
        .collect();
    let operational: BTreeSet<&str> = TABLE
        .iter()
        .filter(|r| r.3 == Operational)
        .map(|r| r.0)
        .collect();
    assert_eq!(
        fields.governed.iter().copied().collect::<BTreeSet<_>>(),
        governed,
        "the table's governed rows are the fields in the view"
    );
    assert_eq!(
        fields.operational.iter().copied().collect::<BTreeSet<_>>(),
        operational,
        "the table's operational rows are the fields listed as operational"
    );
    assert!(fields.governed.is_disjoint(&fields.operational));
}

#[test]
fn each_field_changes_the_view_as_its_row_says() {
    for (path, from, to, expect) in TABLE {
        let diff = diff_to(&changed(EVERYTHING, from, to));
        let widening: Vec<String> = diff.needing_approval().map(|c| c.line()).collect();
        match expect {
            Weakens => assert!(
                !widening.is_empty(),
                "{path}: {from:?} -> {to:?} needs no approval: {:?}",
                diff.summary(20)
            ),
            Shown => assert!(
                !diff.is_empty() && widening.is_empty(),
                "{path}: {from:?} -> {to:?} should be shown without widening: {:?}",
                diff.summary(20)
            ),
            Operational => assert!(
                diff.is_empty(),
                "{path}: {from:?} -> {to:?} is operational, yet: {:?}",
                diff.summary(20)
            ),
        }
    }
}

#[test]
fn the_built_in_forbidden_entries_cannot_be_removed() {
    // The file adds to `/internal`, `/db`, `internal` and `db`; listing fewer removes none.
    let diff = diff_to(
        &changed(
            EVERYTHING,
            r#"["/internal", "/db", "/legacy"]"#,
            "[\"/legacy\"]",
        )
        .replace(r#"["internal", "db", "secrets"]"#, "[]"),
    );
    assert_eq!(
        diff.summary(10),
        ["- forbidden segment secrets no longer refused"].map(|l| l.replacen("- ", "+ ", 1))
    );
}

#[test]
fn dropping_a_safeguard_section_weakens() {
    for (what, from, to) in SECTIONS {
        let diff = diff_to(&changed(EVERYTHING, from, to));
        assert!(
            diff.needing_approval().next().is_some(),
            "{what} needs no approval: {:?}",
            diff.summary(20)
        );
    }
}

#[test]
fn stages_kinds_risks_and_dates_are_compared_as_values() {
    // The same meaning written differently is no change.
    for (from, to) in [
        ("\"2027-06-30T00:00:00Z\"", "\"2027-06-30\""),
        (
            "compliance_due = 2027-01-01",
            "compliance_due = \"2027-01-01T00:00:00Z\"",
        ),
        ("window = \"60s\"", "window = \"1m\""),
        (
            "allow_fields = [\"/id\", \"/status\"]",
            "allow_fields = [\"/status\", \"/id\"]",
        ),
    ] {
        let diff = diff_to(&changed(EVERYTHING, from, to));
        assert!(diff.is_empty(), "{from} -> {to}: {:?}", diff.summary(10));
    }
    // Tightening is no widening: buffered -> strict, none -> required, later -> earlier.
    let buffered = changed(
        EVERYTHING,
        "durability = \"strict\"",
        "durability = \"buffered\"",
    );
    let (b, _) = classify(&buffered).expect("parses");
    let (s, _) = classify(EVERYTHING).expect("parses");
    let back = Diff::between(&b, &s);
    assert!(!back.is_empty() && back.needing_approval().next().is_none());
}

#[test]
fn a_default_is_a_value_and_setting_a_weaker_one_weakens() {
    for (line, weaker) in FROM_DEFAULTS {
        let (old, _) = classify(&changed(EVERYTHING, line, "")).expect("parses");
        let (new, _) = classify(&changed(EVERYTHING, line, weaker)).expect("parses");
        let diff = Diff::between(&old, &new);
        assert!(
            diff.needing_approval().next().is_some(),
            "{line:?} -> {weaker:?}: {:?}",
            diff.summary(10)
        );
    }
}

#[test]
fn turning_a_safeguard_on_narrows_in_one_line() {
    for section in TURNED_ON {
        let renamed = section
            .replace('[', "[not_")
            .replace("[not_governance.", "[governance.not_");
        let (old, _) =
            classify(&cut_unknown(&changed(EVERYTHING, section, &renamed))).expect("parses");
        let (new, _) = classify(EVERYTHING).expect("parses");
        let diff = Diff::between(&old, &new);
        assert!(
            diff.needing_approval().next().is_none(),
            "turning {section:?} on: {:?}",
            diff.summary(20)
        );
        assert_eq!(diff.changes.len(), 1, "{section:?}: {:?}", diff.summary(20));
    }
}

#[test]
fn ids_with_dots_own_their_settings() {
    // `acme.eu` removed while `acme` stays: its rate goes with it, not as a weakening setting.
    let two = EVERYTHING.replacen(
        "[[auth.jwt]]",
        "[[partners]]\nid = \"acme.eu\"\ntier = 1\nstage = \"active\"\nrate_per_second = 5.0\n\n[[auth.jwt]]",
        1,
    );
    let (old, _) = classify(&two).expect("parses");
    let (new, _) = classify(EVERYTHING).expect("parses");
    let diff = Diff::between(&old, &new);
    assert_eq!(diff.summary(10), ["- partner acme.eu removed"]);
}
