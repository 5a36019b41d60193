//! Safe by default, loud when not (issue 22, items 1 and 2) through the real binary: every
//! safeguard is on unless the file says why (and then `check`, the log at every start,
//! `/admin/status` and a gauge say so), and no published key opens a configuration.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_kwanus-gateway");
const TOKEN: &str = "admin-token-for-tests-0123456789";

fn check(dir: &Path, name: &str, text: &str) -> (i32, String) {
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}{}", no_trail_unless(text))).expect("write");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("check");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The fixture, rendered against `api`, with one data class and an admin listener.
fn with_class(api: &Upstream) -> String {
    let down = "127.0.0.1:9".parse().expect("addr");
    format!(
        "{}\n[[data_classes]]\nname = \"raw_report_text\"\nfields = [\"/**/raw_text\"]\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"{}\"\n",
        render(FIXTURE, api, down),
        hex::encode(kwanus_gateway::auth::digest(TOKEN.as_bytes()))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_data_classes_every_route_filters_or_says_why_not_and_off_is_loud() {
    let dir = temp_dir("defaults-contracts");
    let api = Upstream::start().await;
    let text = with_class(&api);
    // The fixture's routes have no contract: each is refused, with the line to add.
    let (code, out) = check(&dir, "bare.toml", &text);
    assert_eq!(code, 1, "{out}");
    for i in 0..8 {
        assert!(
            out.contains(&format!("routes[{i}].response: ")) && out.contains("passthrough = "),
            "routes[{i}] missing from:\n{out}"
        );
    }
    // Contracts everywhere but one route, which says why.
    let justified = passthrough_routes(&text).replacen(
        "passthrough = \"the test upstream's answers carry no classified field\"",
        "content_types = [\"application/json\"]",
        7,
    );
    let (code, out) = check(&dir, "one.toml", &justified);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: safeguard response_contracts is off: route down passes its answers unfiltered (the test upstream's answers carry no classified field)"),
        "{out}"
    );
    // Ungoverned and unaudited: said too.
    for off in ["approvals", "grant_metadata", "audit"] {
        assert!(
            out.contains(&format!("warning: safeguard {off} is off: ")),
            "{off}: {out}"
        );
    }
    // At every start, in the log; in /admin/status; as a gauge.
    let path = dir.join("gateway.toml");
    std::fs::write(&path, &justified).expect("write");
    let served = Served::start(&path);
    let line = served.wait_log("safeguard off");
    assert!(line.contains("\"safeguard\":\"approvals\""), "{line}");
    let admin = served.admin.expect("admin");
    let status = raw(
        admin,
        format!(
            "GET /admin/status HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .body_json();
    let safeguards = status["safeguards"].as_array().expect("safeguards");
    assert_eq!(safeguards.len(), 10, "{status}");
    let entry = |name: &str| {
        safeguards
            .iter()
            .find(|s| s["safeguard"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(entry("response_contracts")["on"], false);
    assert!(
        entry("response_contracts")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("route down")),
        "{status}"
    );
    assert_eq!(entry("admin_token")["on"], true);
    assert_eq!(entry("versioned_routes")["on"], true);
    let metrics = http_get(admin, "/metrics").await.text;
    for (safeguard, value) in [
        ("response_contracts", 1.0),
        ("approvals", 1.0),
        ("audit", 1.0),
        ("admin_token", 0.0),
        ("workflow_idempotency", 0.0),
    ] {
        let series = format!("kwanus_gateway_safeguard_disabled{{safeguard=\"{safeguard}\"}}");
        assert_eq!(sample(&metrics, &series), Some(value), "{series}");
    }
    // The passthrough route streams its answer untouched.
    let r = raw(served.addr, &raw_get("/v1/down", ACME)).await;
    assert_eq!(r.status(), 502, "the down upstream: {}", r.text);
}

#[test]
fn the_built_in_forbidden_entries_hold_whatever_the_file_lists() {
    let dir = temp_dir("defaults-forbidden");
    let text = FIXTURE
        .replacen(
            "forbidden = [\"/internal\", \"/db\"]",
            "forbidden = []\nforbidden_segments = []",
            1,
        )
        .replacen(
            "path = \"/v1/reports\"\n",
            "path = \"/v1/internal/users\"\n",
            1,
        )
        .replace("UPSTREAM", "http://127.0.0.1:9")
        .replace("DOWN", "http://127.0.0.1:9");
    let (code, out) = check(&dir, "empty-lists.toml", &text);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("routes[0].path: ") && out.contains("forbidden_segments"),
        "{out}"
    );
}

#[tokio::test]
async fn a_request_under_a_built_in_prefix_is_refused_whatever_the_file_lists() {
    let gw = Gateway::start_with(&FIXTURE.replacen(
        "forbidden = [\"/internal\", \"/db\"]",
        "forbidden = [\"/legacy\"]\nforbidden_segments = []",
        1,
    ))
    .await;
    for path in ["/internal/users", "/db/x", "/v1/reports/db", "/legacy/x"] {
        let r = gw.get(path, ACME).await;
        assert_eq!(r.status, 403, "{path}");
    }
    assert!(gw.upstream.seen().is_empty());
}

#[tokio::test]
async fn workflow_routes_are_idempotent_unless_the_file_says_why() {
    let dir = temp_dir("defaults-workflow");
    // No `idempotency` line: a workflow route requires a key.
    let default = FIXTURE.replacen("idempotency = \"required\"\n", "", 1);
    let gw = Gateway::start_with(&default).await;
    let bearer = format!("Bearer {GLOBEX}");
    let r = gw
        .send(
            "POST",
            "/v1/workflows/nightly/runs",
            &[("authorization", bearer.as_str())],
            "",
        )
        .await;
    assert_eq!(r.status, 428, "{r:?}");
    assert_eq!(r.code(), "idempotency_key_required");
    // `none` needs a reason.
    let none = plain(FIXTURE).replacen(
        "idempotency = \"required\"\n",
        "idempotency = \"none\"\n",
        1,
    );
    let (code, out) = check(&dir, "none.toml", &none);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("routes[4].idempotency: ") && out.contains("add justification = "),
        "{out}"
    );
    let justified = none.replacen(
        "idempotency = \"none\"\n",
        "idempotency = \"none\"\njustification = \"the runner dedupes by run name\"\n",
        1,
    );
    let (code, out) = check(&dir, "justified.toml", &justified);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: safeguard workflow_idempotency is off: workflow route run-workflow is not idempotent (the runner dedupes by run name)"),
        "{out}"
    );
}

#[test]
fn with_the_bodies_keys_governance_is_on_unless_the_file_turns_it_off() {
    let dir = temp_dir("defaults-governance");
    let key = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[3; 32])
            .verifying_key()
            .as_bytes(),
    );
    let governed = format!(
        "{}\n[governance]\n[governance.bodies]\nCGB = [\"{key}\"]\n",
        plain(FIXTURE)
    );
    let (code, out) = check(&dir, "governed.toml", &governed);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("governance.approvals_dir: ")
            && out.contains("add approvals_dir = \"approvals\""),
        "{out}"
    );
    assert!(
        out.contains("partners[0].permissions[0]: ") && out.contains("write the grant as a table"),
        "{out}"
    );
    // Turned off in so many words: it loads, and says so.
    let off = governed.replacen(
        "[governance]\n",
        "[governance]\nenforce_approvals = false\nrequire_grant_metadata = false\n",
        1,
    );
    let (code, out) = check(&dir, "off.toml", &off);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: safeguard approvals is off: enforce_approvals = false"),
        "{out}"
    );
    assert!(
        out.contains("warning: safeguard grant_metadata is off"),
        "{out}"
    );
}

#[test]
fn no_published_key_opens_a_configuration_and_keys_about_to_expire_are_warned() {
    let dir = temp_dir("defaults-keys");
    let demo_sha = hex::encode(kwanus_gateway::auth::digest(
        b"kwp_demo_globex_workflow_key_0002",
    ));
    let soon = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + Duration::from_secs(10 * 86_400),
    );
    let text = FIXTURE
        .replace("UPSTREAM", "http://127.0.0.1:9")
        .replace("DOWN", "http://127.0.0.1:9");
    let leaked = render_keys(&text).replacen(
        &hex::encode(kwanus_gateway::auth::digest(GLOBEX.as_bytes())),
        &demo_sha,
        1,
    );
    let (code, out) = check(&dir, "leaked.toml", &leaked);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("partners[1].keys[0].sha256: ")
            && out.contains(
                "partner \"globex\" would be reachable with the published demo key \"kwp_demo_globex_workflow_key_0002\""
            ),
        "{out}"
    );
    // serve refuses it too.
    let path = dir.join("leaked.toml");
    let served = Command::new(BIN)
        .args(["serve", "--no-watch", "--config"])
        .arg(&path)
        .output()
        .expect("serve");
    assert_ne!(served.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&served.stderr).contains("published demo key"),
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
    // A key expiring within 30 days is warned about.
    let expiring = render_keys(&text).replacen(
        "{ id = \"globex-1\", sha256 = ",
        &format!("{{ id = \"globex-1\", expires = \"{soon}\", sha256 = "),
        1,
    );
    let (code, out) = check(&dir, "expiring.toml", &expiring);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: partner globex key globex-1: expires ")
            && out.contains("(in 9 days)"),
        "{out}"
    );
}

/// The fixture with its upstreams on a closed port and its keys rendered.
fn plain(text: &str) -> String {
    render_keys(
        &text
            .replace("UPSTREAM", "http://127.0.0.1:9")
            .replace("DOWN", "http://127.0.0.1:9"),
    )
}

/// `"@key"` replaced by the key's SHA-256, as the harness does.
fn render_keys(text: &str) -> String {
    let mut out = text.to_owned();
    for key in [
        ACME,
        ACME_EXPIRED,
        ACME_REVOKED,
        GLOBEX,
        INITECH,
        UMBRELLA,
        OLDCO,
    ] {
        let sha = hex::encode(kwanus_gateway::auth::digest(key.as_bytes()));
        out = out.replace(&format!("@{key}"), &sha);
    }
    out
}

#[test]
fn a_file_without_audit_does_not_load_and_an_unaudited_one_says_so() {
    let dir = temp_dir("defaults-audit");
    // No [audit]: check and serve refuse it, naming the line to add.
    let path = dir.join("unaudited.toml");
    std::fs::write(&path, plain(FIXTURE)).expect("write");
    let checked = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("check");
    let err = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(1), "{err}");
    assert!(
        err.contains("  audit: missing: ") && err.contains("add [audit] with dir = "),
        "{err}"
    );
    let served = Command::new(BIN)
        .args(["serve", "--no-watch", "--config"])
        .arg(&path)
        .output()
        .expect("serve");
    assert_eq!(served.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&served.stderr).contains("audit: missing: "));
    // `enabled = false` loads, as a safeguard that is off; with anything else beside it, not.
    let (code, out) = check(
        &dir,
        "off.toml",
        &format!("{}\n[audit]\nenabled = false\n", plain(FIXTURE)),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "warning: safeguard audit is off: audit.enabled = false: requests are not recorded"
        ),
        "{out}"
    );
    let (code, out) = check(
        &dir,
        "half.toml",
        &format!(
            "{}\n[audit]\nenabled = false\ndir = \"x\"\n",
            plain(FIXTURE)
        ),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("audit.enabled: \"false\": the other [audit] settings would go unused"),
        "{out}"
    );
}
