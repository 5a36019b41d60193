//! Approvals that leave a trace (issue 22 item 3), through the CLI and the running binary: a
//! quorum's genesis makes the approved copy, every config record — at a start as on a reload
//! — names what it replaced, the diff, the folder's generation, the approved view's hash and
//! the signers with their times, and a grant cannot claim a body that did not sign.

use std::path::Path;

use ed25519_dalek::SigningKey;
use serde_json::Value;

use crate::governance::{ACME_V1, Bodies, GLOBEX_V1, TOKEN, base, rendered, run, write};
use crate::support::*;

fn sha(text: &str) -> String {
    hex::encode(kwanus_gateway::auth::digest(text.as_bytes()))
}

/// The first 16 hex digits of the test key of body number `i` (TSC, SCO, ERC, CGB).
fn key_id(i: u8) -> String {
    let key = SigningKey::from_bytes(&[i + 7; 32]);
    hex::encode(key.verifying_key().as_bytes())[..16].to_owned()
}

fn genesis(dir: &Path, approvals: &Path, body: &str, config: &Path) -> String {
    let key = dir.join(format!("{body}.key"));
    let (code, out, err) = run(&[
        "approve",
        "--body",
        body,
        "--key",
        key.to_str().unwrap_or(""),
        "--approvals",
        approvals.to_str().unwrap_or(""),
        "--genesis",
        config.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    out
}

async fn reload(admin: std::net::SocketAddr) -> RawReply {
    let req = format!(
        "POST /admin/reload HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    raw(admin, req.as_bytes()).await
}

/// Stops a served gateway the way an orchestrator does, so its trail is flushed.
fn stop(served: Served) {
    served.signal("-TERM");
    served.wait_log("stopped");
}

fn signers(record: &Value) -> Vec<(String, String)> {
    record["signers"]
        .as_array()
        .unwrap_or_else(|| panic!("signers: {record}"))
        .iter()
        .map(|s| {
            let at = s["signed_at"].as_str().unwrap_or_default();
            assert!(humantime::parse_rfc3339(at).is_ok(), "signed_at {s}");
            (
                s["body"].as_str().unwrap_or_default().to_owned(),
                s["key_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorums_genesis_is_the_copy_and_every_config_record_names_who_approved_it() {
    let dir = temp_dir("trace");
    let approvals = dir.join("approvals");
    let trail = dir.join("trail");
    let bodies = Bodies::new(&dir);
    let upstream = Upstream::start().await;
    let extra = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n[audit]\ndir = {:?}\n{}",
        trail.display().to_string(),
        bodies.section(&approvals)
    );
    let version = |globex_perms: &str| {
        let globex = GLOBEX_V1
            .replace("end_of_support", "active")
            .replace(r#"["reports:read", "reports:publish"]"#, globex_perms);
        rendered(&base(&format!("{ACME_V1}{globex}"), &extra))
            .replace("http://127.0.0.1:7001", &upstream.url())
    };
    let v1 = version(r#"["reports:read"]"#);
    let v2 = version(r#"["reports:read", "reports:publish"]"#);
    let config = write(&dir, "gateway.toml", &v1);
    let v2_path = write(&dir, "v2.toml", &v2);
    let approved = approvals.join("approved.toml");

    // Two bodies are not the quorum; the third signature makes the approved copy.
    for body in ["TSC", "SCO"] {
        let out = genesis(&dir, &approvals, body, &config);
        assert!(out.contains("genesis not yet approved"), "{out}");
        assert!(!approved.exists());
    }
    let out = genesis(&dir, &approvals, "CGB", &config);
    assert!(out.contains("genesis approved by"), "{out}");
    assert_eq!(std::fs::read_to_string(&approved).expect("copy"), v1);
    // The next change is judged against it before any gateway has run.
    for body in ["SCO", "CGB", "TSC"] {
        bodies.approve(body, &approvals, Some(&approved), &v2_path);
    }
    let (code, out, err) = run(&[
        "check",
        "--config",
        v2_path.to_str().unwrap_or(""),
        "--approvals",
        approvals.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("approved by TSC, SCO, CGB"), "{out}");

    // A start, a reload, a restart that takes the grant back (a reduction).
    let served = Served::start(&config);
    std::fs::write(&config, &v2).expect("write v2");
    let r = reload(served.admin.expect("admin")).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    stop(served);
    std::fs::write(&config, &v1).expect("write v1");
    stop(Served::start(&config));

    let records: Vec<Value> = audit_records(&trail)
        .into_iter()
        .filter(|r| r["kind"] == "config")
        .collect();
    assert_eq!(records.len(), 3, "{records:#?}");
    let quorum = vec![
        ("CGB".to_owned(), key_id(3)),
        ("SCO".to_owned(), key_id(1)),
        ("TSC".to_owned(), key_id(0)),
    ];
    let sorted = |r: &Value| {
        let mut s = signers(r);
        s.sort();
        s
    };
    let (start, reloaded, restart) = (&records[0], &records[1], &records[2]);
    assert_eq!(start["trigger"], "startup");
    assert_eq!(start["old_config_sha256"], Value::Null, "a first start");
    assert_eq!(start["new_config_sha256"], sha(&v1));
    assert_eq!(start["generation"], 1);
    assert_eq!(sorted(start), quorum, "the genesis signers");
    assert_eq!(reloaded["trigger"], "admin");
    assert_eq!(reloaded["old_config_sha256"], sha(&v1));
    assert_eq!(reloaded["new_config_sha256"], sha(&v2));
    assert_eq!(reloaded["generation"], 2);
    assert_eq!(sorted(reloaded), quorum);
    assert_eq!(
        reloaded["diff"],
        serde_json::json!(["+ partner globex gains reports:publish"])
    );
    assert_eq!(restart["trigger"], "startup");
    assert_eq!(
        restart["old_config_sha256"],
        sha(&v2),
        "a restart names the configuration it replaced"
    );
    assert_eq!(restart["new_config_sha256"], sha(&v1));
    assert_eq!(
        restart["diff"],
        serde_json::json!(["- partner globex loses reports:publish"])
    );
    assert_eq!(restart["generation"], 3);
    assert_eq!(signers(restart), [], "a reduction needs nobody");
    let views: Vec<&str> = records
        .iter()
        .map(|r| r["governance_sha256"].as_str().unwrap_or_default())
        .collect();
    assert!(views.iter().all(|v| v.len() == 64), "{views:?}");
    assert_eq!(views[0], views[2], "the same governance view");
    assert_ne!(views[0], views[1]);

    // The officer's question: every change, and who approved it.
    let (code, out, err) = run(&[
        "audit",
        "query",
        "--kind",
        "config",
        trail.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 record(s)"), "{err}");
    assert!(
        out.contains(&format!("TSC (key {}, signed 20", key_id(0))),
        "{out}"
    );
    assert!(out.contains("approved by nobody needed"), "{out}");
    assert!(
        out.contains("- partner globex loses reports:publish"),
        "{out}"
    );
    assert!(!out.contains("request"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_cannot_claim_the_approval_of_a_body_that_did_not_sign() {
    let dir = temp_dir("claims");
    let approvals = dir.join("approvals");
    let bodies = Bodies::new(&dir);
    let upstream = Upstream::start().await;
    let extra = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n{}",
        bodies.section(&approvals)
    );
    let grant = |approved_by: &str| {
        format!(
            r#"{{ name = "reports:publish", justification = "publishes", approved_by = {approved_by}, ticket = "GOV-7", review_due = 2027-06-01 }}"#
        )
    };
    let version = |publish: Option<&str>| {
        let perms = match publish {
            Some(g) => format!(r#"["reports:read", {g}]"#),
            None => r#"["reports:read"]"#.to_owned(),
        };
        let globex = GLOBEX_V1
            .replace("end_of_support", "active")
            .replace(r#"["reports:read", "reports:publish"]"#, &perms);
        rendered(&base(&format!("{ACME_V1}{globex}"), &extra))
            .replace("http://127.0.0.1:7001", &upstream.url())
    };
    let v1 = version(None);
    let config = write(&dir, "gateway.toml", &v1);
    for body in ["TSC", "SCO", "CGB"] {
        genesis(&dir, &approvals, body, &config);
    }
    let approved = approvals.join("approved.toml");
    let served = Served::start(&config);
    let admin = served.admin.expect("admin");

    // Signed by TSC, SCO and CGB, the grant says ERC approved it too.
    let claims_erc = version(Some(&grant(r#"["ERC", "CGB"]"#)));
    let claims_path = write(&dir, "claims.toml", &claims_erc);
    for body in ["TSC", "SCO", "CGB"] {
        bodies.approve(body, &approvals, Some(&approved), &claims_path);
    }
    let (code, _, err) = run(&[
        "check",
        "--config",
        claims_path.to_str().unwrap_or(""),
        "--approvals",
        approvals.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 1, "{err}");
    let why = "partner globex grant reports:publish claims approval by ERC, which did not sign this change";
    assert!(err.contains(why), "{err}");
    std::fs::write(&config, &claims_erc).expect("write");
    let r = reload(admin).await;
    assert_ne!(r.status(), 200, "{}", r.text);
    assert!(r.text.contains(why), "{}", r.text);

    // Naming only the bodies that signed, it takes effect.
    let honest = version(Some(&grant(r#"["SCO", "CGB"]"#)));
    let honest_path = write(&dir, "honest.toml", &honest);
    for body in ["TSC", "SCO", "CGB"] {
        bodies.approve(body, &approvals, Some(&approved), &honest_path);
    }
    std::fs::write(&config, &honest).expect("write");
    let r = reload(admin).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    // Editing the claim afterwards is a change nobody signed.
    let edited = version(Some(&grant(r#"["SCO", "CGB", "ERC"]"#)));
    std::fs::write(&config, &edited).expect("write");
    let r = reload(admin).await;
    assert!(r.text.contains("claims approval by ERC"), "{}", r.text);
    stop(served);
}
