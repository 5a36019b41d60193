//! Governance as code (issue 17, items 1-3) through the CLI and the running binary: grant
//! metadata and review dates, `diff` of each change kind, and signed approvals — quorum met,
//! CGB missing, a minority, a reduction needing none, a tampered signature, a restart that
//! cannot smuggle in an unapproved file.

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use serde_json::Value;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_kwanus-gateway");
pub(crate) const TOKEN: &str = "admin-token-for-tests-0123456789";

pub(crate) fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// A small configuration: two partners, two routes, one data class; `extra` is appended.
pub(crate) fn base(partners: &str, extra: &str) -> String {
    let audit = no_trail_unless(extra);
    format!(
        r#"[server]
listen = "127.0.0.1:0"
{audit}
[permissions]
"reports:read" = {{ kind = "read" }}
"reports:publish" = {{ kind = "write" }}
"workflows:trigger" = {{ kind = "workflow" }}

[[data_classes]]
name = "raw_report_text"
fields = ["/**/raw_text"]

[[upstreams]]
name = "api"
url = "UPSTREAM"

[[routes]]
name = "get-report"
method = "GET"
path = "/v1/reports/{{id}}"
permission = "reports:read"
upstream = "api"
[routes.response]

[[routes]]
name = "publish"
method = "POST"
path = "/v1/reports"
permission = "reports:publish"
upstream = "api"
[routes.response]
{partners}
{extra}
"#
    )
}

pub(crate) const ACME_V1: &str = r#"
[[partners]]
id = "acme"
tier = 1
stage = "active"
permissions = ["reports:read"]
keys = [{ id = "acme-1", sha256 = "@kwp_test_acme_0123456789abcdef0123" }]
"#;

pub(crate) const GLOBEX_V1: &str = r#"
[[partners]]
id = "globex"
tier = 2
stage = "end_of_support"
permissions = ["reports:read", "reports:publish"]
keys = [{ id = "globex-1", sha256 = "@kwp_test_globex_0123456789abcdef01", expires = "2027-01-01T00:00:00Z" }]
"#;

pub(crate) fn rendered(text: &str) -> String {
    let mut out = text.replace("UPSTREAM", "http://127.0.0.1:7001");
    for key in [
        "kwp_test_acme_0123456789abcdef0123",
        "kwp_test_globex_0123456789abcdef01",
        TOKEN,
    ] {
        let sha = hex::encode(kwanus_gateway::auth::digest(key.as_bytes()));
        out = out.replace(&format!("@{key}"), &sha);
    }
    out
}

#[test]
fn diff_names_each_change_and_exits_by_relevance() {
    let dir = temp_dir("diff");
    let old = write(
        &dir,
        "old.toml",
        &rendered(&base(&format!("{ACME_V1}{GLOBEX_V1}"), "")),
    );
    // Reformatted only: nothing governance-relevant.
    let same = write(
        &dir,
        "same.toml",
        &rendered(&base(
            &format!("{ACME_V1}{GLOBEX_V1}"),
            "[limits]\nupstream_timeout = \"5s\"\n",
        )),
    );
    let (code, out, err) = run(&[
        "diff",
        old.to_str().unwrap_or(""),
        same.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no governance-relevant change"), "{out}");

    let acme = ACME_V1
        .replace("tier = 1", "tier = 2")
        .replace(r#"permissions = ["reports:read"]"#, r#"permissions = ["reports:read", "reports:publish"]"#)
        .replace(
            r#"keys = [{ id = "acme-1", sha256 = "@kwp_test_acme_0123456789abcdef0123" }]"#,
            r#"keys = [{ id = "acme-1", sha256 = "@kwp_test_acme_0123456789abcdef0123", revoked = true }, { id = "acme-2", sha256 = "cafe000000000000000000000000000000000000000000000000000000000000" }]"#,
        );
    let globex = GLOBEX_V1
        .replace("tier = 2", "tier = 1")
        .replace("end_of_support", "active")
        .replace(
            r#"["reports:read", "reports:publish"]"#,
            r#"["reports:read"]"#,
        )
        .replace("2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z");
    let new_text = base(&format!("{acme}{globex}"), "")
        .replace(
            "fields = [\"/**/raw_text\"]",
            "fields = [\"/**/raw_text\"]\nallowed_for = [\"reports:read\"]",
        )
        .replace(
            "permission = \"reports:publish\"",
            "permission = \"workflows:trigger\"",
        )
        .replace(
            "[routes.response]\n",
            "[routes.response]\non_violation = \"reject\"\n",
        );
    let new = write(&dir, "new.toml", &rendered(&new_text));
    let (code, out, err) = run(&[
        "diff",
        old.to_str().unwrap_or(""),
        new.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    for line in [
        "+ partner acme gains reports:publish",
        "+ partner acme tier 1 -> 2 (up)",
        "- partner acme key acme-1 revoked",
        "+ partner acme key acme-2 added",
        "- partner globex loses reports:publish",
        "- partner globex tier 2 -> 1 (down)",
        "+ partner globex stage end_of_support -> active (BACKWARDS)",
        "+ partner globex key globex-1 expiry 2027-01-01T00:00:00Z -> 2028-01-01T00:00:00Z",
        // Partners lose the route before any sunset was announced: no silent breaking change.
        "+ route publish permission reports:publish -> workflows:trigger; BREAKING for: globex (before its sunset); callable by: nobody",
        "- route get-report contract changed",
        "+ data class raw_report_text now allowed for reports:read (widened)",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line:?} missing from:\n{out}"
        );
    }
    let (code, json, _) = run(&[
        "diff",
        "--json",
        old.to_str().unwrap_or(""),
        new.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["needs_approval"], true);
    let kinds: Vec<&str> = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    for k in [
        "grant_added",
        "tier_raised",
        "key_revoked",
        "key_added",
        "grant_removed",
        "tier_lowered",
        "stage_changed",
        "key_expiry_changed",
        "route_permission_changed",
        "contract_changed",
        "data_class_changed",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // Renaming a route (one removed, one added), a partner added and one removed, a data
    // class removed and another added.
    let newco = ACME_V1
        .replace("\"acme", "\"newco")
        .replace("acme-1", "newco-1");
    let third_text = base(
        &format!("{newco}{GLOBEX_V1}"),
        "[[data_classes]]\nname = \"simulation_data\"\nfields = [\"/**/simulation\"]\n",
    )
    .replace("name = \"publish\"", "name = \"publish-v2\"")
    .replace(
        "[[data_classes]]\nname = \"raw_report_text\"\nfields = [\"/**/raw_text\"]\n",
        "",
    );
    let third = write(
        &dir,
        "third.toml",
        &rendered(&format!(
            "forbidden = [\"/internal\", \"/legacy\"]\n{third_text}"
        )),
    );
    let (_, out, _) = run(&[
        "diff",
        old.to_str().unwrap_or(""),
        third.to_str().unwrap_or(""),
    ]);
    assert!(
        out.contains("+ route publish removed; BREAKING for: globex (before its sunset)"),
        "{out}"
    );
    assert!(
        out.contains("+ route publish-v2 added (reports:publish)"),
        "{out}"
    );
    for line in [
        "+ partner newco added (tier 1; reports:read)",
        "- partner acme removed",
        "+ data class raw_report_text removed (its fields may leave)",
        "- data class simulation_data added",
        // Listing `/internal` alone removes nothing: `/db` is built in.
        "- forbidden prefix /legacy refused",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line:?} missing from:\n{out}"
        );
    }
    assert!(!out.contains("/db"), "{out}");
    let broken = write(&dir, "broken.toml", "[[partners]]\nid = 1\n");
    assert_eq!(
        run(&[
            "diff",
            old.to_str().unwrap_or(""),
            broken.to_str().unwrap_or("")
        ])
        .0,
        2
    );
}

#[test]
fn grant_metadata_is_required_when_asked_and_reviews_coming_due_are_warned() {
    let dir = temp_dir("grants");
    let soon = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(10 * 86_400),
    );
    let partners = format!(
        r#"
[[partners]]
id = "acme"
tier = 2
stage = "active"
review_due = 2099-01-01
risk = "low"
permissions = [
  {{ name = "reports:read", justification = "reads its own reports", approved_by = ["SCO", "CGB"], ticket = "GOV-1", review_due = "{soon}" }},
  "reports:publish",
]
"#
    );
    let text = rendered(&base(
        &partners,
        "[governance]\nrequire_grant_metadata = true\n",
    ));
    let (code, _, err) = run(&[
        "check",
        "--config",
        write(&dir, "a.toml", &text).to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("partners[0].permissions[1]: ") && err.contains("require_grant_metadata"),
        "{err}"
    );
    let text = text.replace("[governance]\nrequire_grant_metadata = true\n", "");
    let (code, out, err) = run(&[
        "check",
        "--config",
        write(&dir, "b.toml", &text).to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("warning: partner acme grant reports:read: review due"),
        "{out}"
    );
    assert!(
        !out.contains("reports:publish: review"),
        "its review is years away: {out}"
    );
}

#[tokio::test]
async fn an_overdue_review_is_a_gauge() {
    let dir = temp_dir("review-gauge");
    let partners = r#"
[[partners]]
id = "acme"
tier = 1
stage = "active"
review_due = 2099-01-01
permissions = [{ name = "reports:read", justification = "j", approved_by = ["CGB"], review_due = 2020-01-01 }]
"#;
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\n",
        base(partners, "")
    );
    let gw = Gateway::start_file(&text, &dir.join("g.toml"), false).await;
    let metrics =
        String::from_utf8_lossy(&gw.admin("GET", "/metrics", None).await.body).into_owned();
    assert_eq!(
        sample(
            &metrics,
            "kwanus_gateway_review_overdue{partner=\"acme\",permission=\"reports:read\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

/// Four bodies, each with one member key.
pub(crate) struct Bodies {
    dir: PathBuf,
}

impl Bodies {
    pub(crate) fn new(dir: &Path) -> Self {
        for (i, b) in ["TSC", "SCO", "ERC", "CGB"].iter().enumerate() {
            let key = SigningKey::from_bytes(&[i as u8 + 7; 32]);
            std::fs::write(dir.join(format!("{b}.key")), hex::encode(key.to_bytes())).expect("key");
        }
        Self {
            dir: dir.to_owned(),
        }
    }

    pub(crate) fn section(&self, approvals: &Path) -> String {
        let mut out = format!(
            "[governance]\nenforce_approvals = true\nrequire_grant_metadata = false\napprovals_dir = {:?}\n[governance.bodies]\n",
            approvals.display().to_string()
        );
        for (i, b) in ["TSC", "SCO", "ERC", "CGB"].iter().enumerate() {
            let key = SigningKey::from_bytes(&[i as u8 + 7; 32]);
            out.push_str(&format!(
                "{b} = [\"{}\"]\n",
                hex::encode(key.verifying_key().as_bytes())
            ));
        }
        out
    }

    pub(crate) fn approve(&self, body: &str, approvals: &Path, old: Option<&Path>, new: &Path) {
        let key = self.dir.join(format!("{body}.key"));
        let mut args = vec![
            "approve",
            "--body",
            body,
            "--key",
            key.to_str().unwrap_or(""),
            "--approvals",
            approvals.to_str().unwrap_or(""),
        ];
        match old {
            Some(o) => args.push(o.to_str().unwrap_or("")),
            None => args.push("--genesis"),
        }
        args.push(new.to_str().unwrap_or(""));
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{out}{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_that_widen_access_need_a_majority_with_cgb_and_reductions_need_none() {
    let dir = temp_dir("approvals");
    let approvals = dir.join("approvals");
    let bodies = Bodies::new(&dir);
    let upstream = Upstream::start().await;
    let admin = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n[audit]\ndir = {:?}\n",
        dir.join("trail").display().to_string()
    );
    let version = |globex_perms: &str| {
        let globex = GLOBEX_V1
            .replace("end_of_support", "active")
            .replace(r#"["reports:read", "reports:publish"]"#, globex_perms);
        rendered(&base(
            &format!("{ACME_V1}{globex}"),
            &format!("{admin}{}", bodies.section(&approvals)),
        ))
        .replace("http://127.0.0.1:7001", &upstream.url())
    };
    let v1 = version(r#"["reports:read"]"#);
    let v2 = version(r#"["reports:read", "reports:publish"]"#);
    let config = write(&dir, "gateway.toml", &v1);
    let v2_path = write(&dir, "v2.toml", &v2);
    let check = |p: &Path| {
        run(&[
            "check",
            "--config",
            p.to_str().unwrap_or(""),
            "--approvals",
            approvals.to_str().unwrap_or(""),
        ])
    };

    // No approved copy: the genesis needs the quorum too, and serve refuses to start without it.
    let (code, _, err) = check(&config);
    assert_eq!(code, 1);
    assert!(err.contains("CGB"), "{err}");
    let mut refused = Command::new(BIN)
        .args(["serve", "--no-watch", "--config"])
        .arg(&config)
        .output()
        .expect("serve");
    assert_eq!(refused.status.code(), Some(1));
    refused.stderr.truncate(4000);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unapproved genesis"));
    for b in ["TSC", "SCO", "CGB"] {
        bodies.approve(b, &approvals, None, &config);
    }
    assert_eq!(check(&config).0, 0);
    let served = Served::start(&config);
    assert!(
        approvals.join("approved.toml").exists(),
        "the accepted file is the approved copy"
    );
    let approved = approvals.join("approved.toml");
    let reload = || async {
        let admin = served.admin.expect("admin");
        let req = format!(
            "POST /admin/reload HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        raw(admin, req.as_bytes()).await
    };
    let publish = || async {
        let req = "POST /v1/reports HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer kwp_test_globex_0123456789abcdef01\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        raw(served.addr, req.as_bytes()).await.status()
    };
    assert_eq!(publish().await, 403);

    // A grant added: a minority (SCO, CGB) is not enough; a majority without CGB neither.
    bodies.approve("SCO", &approvals, Some(&approved), &v2_path);
    bodies.approve("CGB", &approvals, Some(&approved), &v2_path);
    std::fs::write(&config, &v2).expect("write v2");
    let r = reload().await;
    assert_ne!(r.status(), 200, "{}", r.text);
    assert!(r.text.contains("1 more of TSC, ERC"), "{}", r.text);
    assert_eq!(publish().await, 403, "the old configuration stays");
    // A tampered signature does not count.
    bodies.approve("TSC", &approvals, Some(&approved), &v2_path);
    let tsc = std::fs::read_dir(approvals.join("signatures"))
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.to_string_lossy().contains("-TSC-") && !p.to_string_lossy().contains("-00000000-")
        })
        .expect("TSC file");
    let mut a: Value =
        serde_json::from_str(&std::fs::read_to_string(&tsc).expect("read")).expect("json");
    let sig = a["signature"].as_str().unwrap_or_default().to_owned();
    a["signature"] = Value::from(format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    ));
    let good = std::fs::read_to_string(&tsc).expect("read");
    std::fs::write(&tsc, a.to_string()).expect("tamper");
    let r = reload().await;
    assert!(r.text.contains("does not verify"), "{}", r.text);
    assert_eq!(publish().await, 403);
    std::fs::write(&tsc, good).expect("restore");
    let r = reload().await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert_ne!(publish().await, 403, "the approved grant is in force");
    assert_eq!(std::fs::read_to_string(&approved).expect("copy"), v2);

    // TSC, SCO and ERC without CGB: refused.
    let v3 = version(r#"["reports:read", "reports:publish", "workflows:trigger"]"#);
    let v3_path = write(&dir, "v3.toml", &v3);
    for b in ["TSC", "SCO", "ERC"] {
        bodies.approve(b, &approvals, Some(&approved), &v3_path);
    }
    std::fs::write(&config, &v3).expect("write v3");
    let r = reload().await;
    assert!(r.text.contains("CGB (final authority"), "{}", r.text);

    // A reduction needs nobody.
    std::fs::write(&config, &v1).expect("write v1");
    assert_eq!(reload().await.status(), 200);
    assert_eq!(publish().await, 403);
    // The grant taken away and brought back: the signatures it had once are used up.
    std::fs::write(&config, &v2).expect("write v2 again");
    let r = reload().await;
    assert!(r.text.contains("approvals missing"), "{}", r.text);
    std::fs::write(&config, &v1).expect("write v1");
    assert_eq!(reload().await.status(), 200, "unchanged");
    // Turning enforcement off, or moving the folder somewhere else, is itself a change that
    // needs the quorum: the folder in force says so, not the new file.
    let elsewhere = dir.join("elsewhere");
    for (what, text) in [
        (
            "enforce_approvals",
            v1.replace("enforce_approvals = true", "enforce_approvals = false"),
        ),
        (
            "approvals_dir",
            v1.replace(
                &format!("approvals_dir = {:?}", approvals.display().to_string()),
                &format!("approvals_dir = {:?}", elsewhere.display().to_string()),
            ),
        ),
    ] {
        assert_ne!(text, v1, "{what}");
        std::fs::write(&config, &text).expect("write");
        let r = reload().await;
        assert!(
            r.text.contains("needs approval: governance"),
            "{what}: {}",
            r.text
        );
    }
    drop(served);

    // With the folder pinned on the command line, a file that turns enforcement off does not
    // start.
    let off = v1.replace("enforce_approvals = true", "enforce_approvals = false");
    std::fs::write(&config, &off).expect("write");
    let out = Command::new(BIN)
        .args(["serve", "--no-watch", "--approvals"])
        .arg(&approvals)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("enforce_approvals true -> false"));

    // A restart cannot smuggle the unapproved v3 in.
    std::fs::write(&config, &v3).expect("write v3");
    let out = Command::new(BIN)
        .args(["serve", "--no-watch", "--config"])
        .arg(&config)
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CGB"));

    let metrics_seen = audit_records(&dir.join("trail"));
    let results: Vec<&str> = metrics_seen
        .iter()
        .filter(|r| r["kind"] == "config")
        .filter_map(|r| r["result"].as_str())
        .collect();
    assert_eq!(
        results,
        [
            "ok",
            "unapproved",
            "unapproved",
            "ok",
            "unapproved",
            "ok",
            "unapproved",
            "unchanged",
            "unapproved",
            "unapproved"
        ]
    );
    let accepted = metrics_seen
        .iter()
        .filter(|r| r["kind"] == "config" && r["result"] == "ok")
        .nth(1)
        .expect("the accepted reload");
    let diff: Vec<&str> = accepted["diff"]
        .as_array()
        .expect("diff")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(diff, ["+ partner globex gains reports:publish"]);
}

#[test]
fn dates_credentials_and_file_contents_that_extend_access_need_approval() {
    let dir = temp_dir("diff-extends");
    let issuer = "[[auth.jwt]]\nissuer = \"https://idp.acme.example\"\naudiences = [\"kwanus-gateway\"]\nalgorithms = [\"HS256\"]\nsecret = \"0123456789abcdef0123456789abcdef\"\nleeway = \"30s\"\n";
    let deprecated = GLOBEX_V1.replace(
        "stage = \"end_of_support\"",
        "stage = \"deprecation\"\ndeprecated_since = \"2026-01-01T00:00:00Z\"\nsunset = \"2026-06-01T00:00:00Z\"",
    );
    // Two folders, each with a schema under the same written path, different content.
    let mut paths = Vec::new();
    for (name, schema, partners, extra) in [
        (
            "a",
            r#"{"type":"object","required":["title"]}"#,
            format!("{ACME_V1}{deprecated}"),
            "",
        ),
        (
            "b",
            "{}",
            format!(
                "{}{}",
                ACME_V1.replace(
                    "stage = \"active\"",
                    "stage = \"active\"\njwt_issuers = [\"https://idp.acme.example\"]"
                ),
                deprecated.replace("2026-06-01T00:00:00Z", "2099-06-01T00:00:00Z")
            ),
            issuer,
        ),
    ] {
        let folder = dir.join(name);
        std::fs::create_dir_all(folder.join("schemas")).expect("mkdir");
        std::fs::write(folder.join("schemas/publish.json"), schema).expect("schema");
        let text = base(&partners, extra).replace(
            "permission = \"reports:publish\"\nupstream = \"api\"\n",
            "permission = \"reports:publish\"\nupstream = \"api\"\nrequest_schema = \"schemas/publish.json\"\n",
        );
        paths.push(write(&folder, "gateway.toml", &rendered(&text)));
    }
    let (code, out, err) = run(&[
        "diff",
        paths[0].to_str().unwrap_or(""),
        paths[1].to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    for line in [
        "+ partner globex sunset 2026-06-01T00:00:00Z -> 2099-06-01T00:00:00Z",
        "+ partner acme may now be named by tokens of https://idp.acme.example",
        "+ token issuer https://idp.acme.example added",
        "+ route publish contract request_schema schemas/publish.json -> schemas/publish.json (content changed) (loosened)",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line:?} missing from:\n{out}"
        );
    }
    // An upstream moved elsewhere: every route to it reaches another service.
    let moved = paths[0].with_file_name("moved.toml");
    let text = std::fs::read_to_string(&paths[0])
        .expect("read")
        .replace("http://127.0.0.1:7001", "http://10.0.0.9:8080");
    std::fs::write(&moved, text).expect("write");
    let (_, out, _) = run(&[
        "diff",
        paths[0].to_str().unwrap_or(""),
        moved.to_str().unwrap_or(""),
    ]);
    assert!(
        out.contains("+ upstream api http://127.0.0.1:7001 -> http://10.0.0.9:8080"),
        "{out}"
    );
    // A deprecated partner put under a suspension that ends goes back to full access.
    let suspended = paths[0].with_file_name("suspended.toml");
    let text = std::fs::read_to_string(&paths[0]).expect("read").replace(
        "stage = \"deprecation\"",
        "stage = \"suspended\"\nsuspended_reason = \"review\"\nsuspended_until = 2020-01-01",
    );
    std::fs::write(&suspended, text).expect("write");
    let (_, out, _) = run(&[
        "diff",
        paths[0].to_str().unwrap_or(""),
        suspended.to_str().unwrap_or(""),
    ]);
    assert!(
        out.contains("+ partner globex stage deprecation -> suspended (BACKWARDS)"),
        "{out}"
    );
}

#[test]
fn one_key_speaks_for_one_body_only() {
    let dir = temp_dir("body-keys");
    let key = hex::encode(SigningKey::from_bytes(&[9; 32]).verifying_key().as_bytes());
    let text = rendered(&base(
        ACME_V1,
        &format!("[governance]\n[governance.bodies]\nTSC = [\"{key}\"]\nCGB = [\"{key}\"]\n"),
    ));
    let (code, _, err) = run(&[
        "check",
        "--config",
        write(&dir, "g.toml", &text).to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("governance.bodies.TSC[0]: ") && err.contains("body key"),
        "{err}"
    );
}

#[test]
fn settings_that_let_partners_do_more_need_approval() {
    let dir = temp_dir("diff-settings");
    let with = |rate: u32, extra: &str| {
        rendered(&base(
            ACME_V1,
            &format!("[tiers.1]\nrate_per_second = {rate}\n{extra}"),
        ))
    };
    let misuse = "[governance.misuse]\nthreshold = 50\nwindow = \"60s\"\nsuspend_for = \"15m\"\n";
    let a = write(&dir, "a.toml", &with(50, misuse));
    let b = write(&dir, "b.toml", &with(500, ""));
    let (code, out, _) = run(&["diff", a.to_str().unwrap_or(""), b.to_str().unwrap_or("")]);
    assert_eq!(code, 1);
    for line in [
        "+ setting tiers.1.rate_per_second 50 -> 500",
        "+ setting governance.misuse on -> off",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line:?} missing from:\n{out}"
        );
    }
    let (_, out, _) = run(&["diff", b.to_str().unwrap_or(""), a.to_str().unwrap_or("")]);
    for line in [
        "- setting tiers.1.rate_per_second 500 -> 50",
        "- setting governance.misuse off -> on",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line:?} missing from:\n{out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_move_of_the_folder_takes_the_approved_copy_with_it() {
    let dir = temp_dir("approvals-move");
    let (first, second) = (dir.join("first"), dir.join("second"));
    let bodies = Bodies::new(&dir);
    let admin = format!("[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n");
    let v1 = rendered(&base(
        ACME_V1,
        &format!("{admin}{}", bodies.section(&first)),
    ));
    let config = write(&dir, "gateway.toml", &v1);
    for b in ["TSC", "SCO", "CGB"] {
        bodies.approve(b, &first, None, &config);
    }
    let served = Served::start(&config);
    let reload = || async {
        let req = format!(
            "POST /admin/reload HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        raw(served.admin.expect("admin"), req.as_bytes()).await
    };
    // The move, approved by the quorum.
    let moved = v1.replace(
        &format!("approvals_dir = {:?}", first.display().to_string()),
        &format!("approvals_dir = {:?}", second.display().to_string()),
    );
    let moved_path = write(&dir, "moved.toml", &moved);
    for b in ["TSC", "SCO", "CGB"] {
        bodies.approve(b, &first, Some(&first.join("approved.toml")), &moved_path);
    }
    std::fs::write(&config, &moved).expect("write");
    assert_eq!(reload().await.status(), 200);
    assert!(
        second.join("approved.toml").exists(),
        "the copy moved with the folder"
    );
    // In the new folder, a file that brings its own keys and signs itself is not a genesis.
    let rogue_dir = dir.join("rogue");
    std::fs::create_dir_all(&rogue_dir).expect("mkdir");
    for (i, b) in ["TSC", "SCO", "ERC", "CGB"].iter().enumerate() {
        let key = SigningKey::from_bytes(&[i as u8 + 90; 32]);
        std::fs::write(
            rogue_dir.join(format!("{b}.key")),
            hex::encode(key.to_bytes()),
        )
        .expect("key");
    }
    let rogue = Bodies { dir: rogue_dir };
    let mut widened = moved.replace("tier = 1", "tier = 2").replace(
        r#"permissions = ["reports:read"]"#,
        r#"permissions = ["reports:read", "reports:publish"]"#,
    );
    for (i, b) in ["TSC", "SCO", "ERC", "CGB"].iter().enumerate() {
        let legit = hex::encode(
            SigningKey::from_bytes(&[i as u8 + 7; 32])
                .verifying_key()
                .as_bytes(),
        );
        let own = hex::encode(
            SigningKey::from_bytes(&[i as u8 + 90; 32])
                .verifying_key()
                .as_bytes(),
        );
        widened = widened.replace(
            &format!("{b} = [\"{legit}\"]"),
            &format!("{b} = [\"{own}\"]"),
        );
    }
    let widened_path = write(&dir, "widened.toml", &widened);
    for b in ["TSC", "SCO", "CGB"] {
        rogue.approve(
            b,
            &second,
            Some(&second.join("approved.toml")),
            &widened_path,
        );
    }
    std::fs::write(&config, &widened).expect("write");
    let r = reload().await;
    assert_ne!(r.status(), 200, "{}", r.text);
    assert!(r.text.contains("not one of the body's keys"), "{}", r.text);
}

#[test]
fn removals_are_reductions_and_bindings_loosen_by_their_certificates() {
    let dir = temp_dir("diff-reductions");
    let cert = |c: char| c.to_string().repeat(64);
    let acme = |certs: &str| {
        ACME_V1.replace(
            "stage = \"active\"",
            &format!("stage = \"active\"\nrate_per_second = 5\nclient_cert_sha256 = [{certs}]"),
        )
    };
    let with_globex = format!(
        "{}{}",
        acme(&format!("\"{}\"", cert('a'))),
        GLOBEX_V1.replace(
            "stage = \"end_of_support\"",
            "stage = \"active\"\nrate_per_second = 9"
        )
    );
    let a = write(
        &dir,
        "a.toml",
        &rendered(&base(&with_globex, "[tiers.1]\nrate_per_second = 10\n")),
    );
    // globex removed (its own rate with it), a second certificate accepted for acme, a tier
    // burst set where none was.
    let b = write(
        &dir,
        "b.toml",
        &rendered(&base(
            &acme(&format!("\"{}\", \"{}\"", cert('a'), cert('b'))),
            "[tiers.1]\nrate_per_second = 10\nburst = 100000\n",
        )),
    );
    let (_, out, err) = run(&["diff", a.to_str().unwrap_or(""), b.to_str().unwrap_or("")]);
    for line in [
        "- partner globex removed",
        "+ partner acme client certificate binding optional -> optional (2 certificate(s))",
        "+ setting tiers.1.burst - -> 100000",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "{line:?} missing from:\n{out}{err}"
        );
    }
    assert!(!out.contains("partners.globex"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_and_every_safeguard_are_under_the_same_approvals() {
    let dir = temp_dir("approvals-audit");
    let approvals = dir.join("approvals");
    let bodies = Bodies::new(&dir);
    let upstream = Upstream::start().await;
    let key = audit_key(&dir);
    let trail = dir.join("trail");
    let audit = format!(
        "[audit]\ndir = {:?}\ndurability = \"strict\"\nsigning_key = {:?}\ncheckpoint_every = 5\nwitness_dir = {:?}\n",
        trail.display().to_string(),
        key.display().to_string(),
        dir.join("witness").display().to_string()
    );
    let admin = format!("[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n");
    let v1 = rendered(&base(
        ACME_V1,
        &format!("{admin}{audit}{}", bodies.section(&approvals)),
    ))
    .replace("http://127.0.0.1:7001", &upstream.url());
    let config = write(&dir, "gateway.toml", &v1);
    for b in ["TSC", "SCO", "CGB"] {
        bodies.approve(b, &approvals, None, &config);
    }
    let pinned = ["--approvals", approvals.to_str().unwrap_or("")];
    let served = Served::start_with_args(&config, &pinned);
    let reload = || async {
        let req = format!(
            "POST /admin/reload HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        raw(served.admin.expect("admin"), req.as_bytes()).await
    };
    let audit_lines: String = audit.lines().map(|l| format!("{l}\n")).collect();
    let without = |line: &str| v1.replacen(&format!("{line}\n"), "", 1);
    for (what, text, says) in [
        (
            "[audit] turned off",
            v1.replacen(&audit_lines, "[audit]\nenabled = false\n", 1),
            "setting audit on -> off",
        ),
        (
            "durability",
            v1.replacen("durability = \"strict\"", "durability = \"buffered\"", 1),
            "setting audit.durability strict -> buffered",
        ),
        (
            "signing key and witness",
            without(&format!("signing_key = {:?}", key.display().to_string())).replacen(
                &format!(
                    "witness_dir = {:?}\n",
                    dir.join("witness").display().to_string()
                ),
                "",
                1,
            ),
            "setting audit.signing_key",
        ),
        (
            "trail moved",
            v1.replacen(
                &format!("dir = {:?}", trail.display().to_string()),
                &format!("dir = {:?}", dir.join("elsewhere").display().to_string()),
                1,
            ),
            "setting audit.dir",
        ),
        (
            "a route's body limit",
            v1.replacen(
                "permission = \"reports:publish\"\n",
                "permission = \"reports:publish\"\nrequest_max_bytes = 1024\n",
                1,
            ),
            "",
        ),
    ] {
        assert_ne!(text, v1, "{what}");
        std::fs::write(&config, &text).expect("write");
        let r = reload().await;
        if says.is_empty() {
            // Setting a limit where the default applied narrows: no approval needed (going
            // back to the default would widen).
            assert_eq!(r.status(), 200, "{what}: {}", r.text);
            continue;
        }
        assert_ne!(r.status(), 200, "{what}: {}", r.text);
        assert!(r.text.contains("needs approval"), "{what}: {}", r.text);
        assert!(r.text.contains(says), "{what}: {}", r.text);
    }
    // The configuration in force still records every request, where it always did.
    let r = raw(
        served.addr,
        &raw_get(
            "/v1/reports/after-the-refusals",
            "kwp_test_acme_0123456789abcdef0123",
        ),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text);
    assert!(
        audit_records(&trail)
            .iter()
            .any(|r| r["path"] == "/v1/reports/after-the-refusals"),
        "the request is in the original trail"
    );
    drop(served);
    // And a restart cannot bring the unaudited file in.
    std::fs::write(
        &config,
        v1.replacen(&audit_lines, "[audit]\nenabled = false\n", 1),
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["serve", "--no-watch"])
        .args(pinned)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("setting audit on -> off"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn taking_a_route_before_its_sunset_needs_approval_and_after_it_is_a_reduction() {
    let dir = temp_dir("diff-sunset");
    let with_sunset = |sunset: &str| {
        rendered(&base(ACME_V1, "")).replacen(
            "permission = \"reports:read\"\nupstream = \"api\"\n",
            &format!(
                "permission = \"reports:read\"\nupstream = \"api\"\ndeprecated_since = \"2026-01-01T00:00:00Z\"\nsunset = \"{sunset}\"\nmigration_url = \"https://kwanus.example/v2/reports\"\n"
            ),
            1,
        )
    };
    let removed = rendered(&base(ACME_V1, "")).replacen(
        "[[routes]]\nname = \"get-report\"\nmethod = \"GET\"\npath = \"/v1/reports/{id}\"\npermission = \"reports:read\"\nupstream = \"api\"\n[routes.response]\n",
        "",
        1,
    );
    let diff = |old: &str, new: &str| {
        let a = write(&dir, "a.toml", old);
        let b = write(&dir, "b.toml", new);
        run(&["diff", a.to_str().unwrap_or(""), b.to_str().unwrap_or("")])
    };
    // Before its sunset: breaking, and it needs the quorum.
    let (code, out, err) = diff(&with_sunset("2099-01-01T00:00:00Z"), &removed);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l == "+ route get-report removed; BREAKING for: acme (before its sunset)"),
        "{out}"
    );
    // Without a sunset announced: the same.
    let (_, out, _) = diff(&rendered(&base(ACME_V1, "")), &removed);
    assert!(
        out.lines()
            .any(|l| l == "+ route get-report removed; BREAKING for: acme (before its sunset)"),
        "{out}"
    );
    // After its sunset: a reduction.
    let (_, out, _) = diff(&with_sunset("2026-06-01T00:00:00Z"), &removed);
    assert!(
        out.lines()
            .any(|l| l == "- route get-report removed; BREAKING for: acme (after its sunset)"),
        "{out}"
    );
    // Announcing a sunset, or moving it sooner, is itself what needs the approval.
    let (_, out, _) = diff(
        &with_sunset("2099-01-01T00:00:00Z"),
        &with_sunset("2098-01-01T00:00:00Z"),
    );
    assert!(
        out.lines().any(|l| l
            == "+ route get-report sunset 2099-01-01T00:00:00Z -> 2098-01-01T00:00:00Z (sooner)"),
        "{out}"
    );
    // Revoking one partner's access stays a reduction that needs nobody.
    let revoked = rendered(&base(ACME_V1, ""))
        .replace("permissions = [\"reports:read\"]", "permissions = []");
    let (_, out, _) = diff(&rendered(&base(ACME_V1, "")), &revoked);
    assert!(
        out.lines()
            .any(|l| l == "- partner acme loses reports:read"),
        "{out}"
    );
}

#[tokio::test]
async fn a_deprecated_route_says_so_on_every_answer() {
    let text = FIXTURE.replacen(
        "path = \"/v1/reports/{id}\"\npermission = \"reports:read\"\nupstream = \"api\"\n",
        "path = \"/v1/reports/{id}\"\npermission = \"reports:read\"\nupstream = \"api\"\ndeprecated_since = \"2026-09-01T00:00:00Z\"\nsunset = \"2027-06-30T00:00:00Z\"\nmigration_url = \"https://developer.kwanus.example/migrate/reports-v2\"\n",
        1,
    );
    let gw = Gateway::start_with(&text).await;
    let r = gw.get("/v1/reports/7", ACME).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("deprecation").as_deref(), Some("@1788220800"));
    assert_eq!(
        r.header("sunset").as_deref(),
        Some("Wed, 30 Jun 2027 00:00:00 GMT")
    );
    assert_eq!(
        r.header("link").as_deref(),
        Some("<https://developer.kwanus.example/migrate/reports-v2>; rel=\"deprecation\"")
    );
    // Another route: nothing announced.
    let r = gw.get("/v1/reports", ACME).await;
    assert_eq!(r.header("sunset"), None);
}
