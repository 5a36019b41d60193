//! The audit trail end to end: one verified record per request on every path, tampering,
//! log injection, kill -9 under load, fail-closed on a real write failure, retention.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use kwanus_gateway::audit;
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_kwanus-gateway");

fn with_audit(dir: &Path, extra: &str) -> String {
    format!(
        "{FIXTURE}\n[audit]\ndir = {:?}\ndurability = \"strict\"\n{extra}\n",
        dir.join("trail").display().to_string()
    )
}

fn trail(dir: &Path) -> PathBuf {
    dir.join("trail")
}

/// Every line of every trail file, parsed.
fn records(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for (_, f) in audit::trail_files(&trail(dir)).expect("trail files") {
        let text = trail_text(&f);
        for line in text.lines() {
            out.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
    out
}

fn requests(dir: &Path) -> Vec<serde_json::Value> {
    records(dir)
        .into_iter()
        .filter(|r| r["kind"] == "request")
        .collect()
}

fn python_verify(dir: &Path) -> String {
    let files: Vec<_> = audit::trail_files(&trail(dir))
        .expect("files")
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    let out = Command::new("python3")
        .arg("tests/verify_chain.py")
        .args(&files)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn every_path_leaves_exactly_one_verified_record() {
    let dir = temp_dir("paths");
    let gw = Gateway::start_with(&with_audit(&dir, "")).await;
    let mut ids = Vec::new();
    let mut keep = |r: &Reply| ids.push(r.header("x-request-id").expect("request id"));
    keep(&gw.get("/v1/reports/1", ACME).await); // allow
    keep(&gw.send("GET", "/v1/reports/1", &[], "").await); // 401
    keep(&gw.get("/internal/x", ACME).await); // 403 forbidden_route
    keep(
        &gw.send("PUT", "/v1/reports/1", &[("x-api-key", GLOBEX)], "")
            .await,
    ); // 403
    keep(&gw.get("/v1/nope", ACME).await); // 404
    keep(
        &gw.send("DELETE", "/v1/reports/1", &[("x-api-key", ACME)], "")
            .await,
    ); // 405
    keep(&gw.get("/v1/reports/a%2Fb", ACME).await); // 400
    keep(
        &gw.send(
            "POST",
            "/v1/insights/query",
            &[("x-api-key", UMBRELLA)],
            &"b".repeat(5000),
        )
        .await,
    ); // 413
    keep(
        &gw.send(
            "GET",
            "/v1/reports/1",
            &[("x-api-key", ACME), ("x-big", &"h".repeat(5000))],
            "",
        )
        .await,
    ); // 431
    keep(&gw.get("/v1/down", ACME).await); // 502
    keep(&gw.get("/v1/slow/3000", ACME).await); // 504
    // Abandoned by the client while waiting for the upstream.
    let mut s = tokio::net::TcpStream::connect(gw.app.addr())
        .await
        .expect("connect");
    s.write_all(&raw_get("/v1/slow/500", ACME))
        .await
        .expect("write");
    assert!(
        eventually(Duration::from_secs(5), || async {
            gw.upstream
                .seen()
                .iter()
                .any(|s| s.target == "/v1/slow/500")
        })
        .await
    );
    drop(s);
    let abandoned = || async { gw.outcomes.all().iter().any(|o| o.status == 499) };
    assert!(eventually(Duration::from_secs(5), abandoned).await);
    gw.app.shutdown().await;

    let reqs = requests(&dir);
    assert_eq!(reqs.len(), ids.len() + 1, "{reqs:#?}");
    for id in &ids {
        assert_eq!(
            reqs.iter()
                .filter(|r| r["request_id"] == id.as_str())
                .count(),
            1,
            "{id}"
        );
    }
    let statuses: Vec<u64> = reqs
        .iter()
        .map(|r| r["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        [200, 401, 403, 403, 404, 405, 400, 413, 431, 502, 504, 499]
    );
    let abandoned = reqs.last().expect("abandoned");
    assert_eq!(
        (abandoned["reason"].as_str(), abandoned["decision"].as_str()),
        (Some("client_closed"), Some("allow"))
    );
    // SPEC fields, plus the credential kind.
    for field in [
        "seq",
        "ts",
        "request_id",
        "partner",
        "key_id",
        "tier",
        "credential",
        "client",
        "method",
        "path",
        "route",
        "permission",
        "decision",
        "code",
        "reason",
        "status",
        "upstream",
        "upstream_status",
        "duration_us",
        "prev",
        "hash",
    ] {
        assert!(reqs[0].get(field).is_some(), "missing {field}");
    }
    assert_eq!(reqs[0]["credential"], "api_key_bearer");
    assert_eq!(reqs[1]["reason"], "key_missing");
    // The startup configuration is in the same trail, first.
    let all = records(&dir);
    assert_eq!(
        (all[0]["kind"].as_str(), all[0]["trigger"].as_str()),
        (Some("config"), Some("startup"))
    );
    // The keys never appear.
    for (_, f) in audit::trail_files(&trail(&dir)).expect("files") {
        let text = trail_text(&f);
        for key in [ACME, GLOBEX, UMBRELLA] {
            assert!(!text.contains(key));
        }
    }
    let report = audit::verify(&[trail(&dir)], None).unwrap_or_else(|b| panic!("{b}"));
    assert_eq!(report.records, all.len() as u64);
    assert_eq!(python_verify(&dir), format!("ok {}", all.len()));
}

/// A trail of `n` requests with checkpoints every 5 records, signed; returns (dir, key).
async fn signed_trail(name: &str, n: usize) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let key = audit_key(&dir);
    let extra = format!(
        "signing_key = {:?}\ncheckpoint_every = 5\n",
        key.display().to_string()
    );
    let gw = Gateway::start_with(&with_audit(&dir, &extra)).await;
    for i in 0..n {
        gw.get(&format!("/v1/reports/{i}"), ACME).await;
    }
    gw.app.shutdown().await;
    (dir, key)
}

fn verify_file(file: &Path, key: Option<&Path>) -> Result<audit::Report, audit::Broken> {
    let key = key.map(|k| {
        let mut p = k.as_os_str().to_owned();
        p.push(".pub");
        audit::load_verifying_key(Path::new(&p)).expect("public key")
    });
    audit::verify(&[file.to_owned()], key.as_ref())
}

/// The 1-based line holding the chained record `seq`.
fn line_of(lines: &[String], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| l.contains(&format!("{{\"seq\":{seq},")) && !l.contains("\"checkpoint\""))
        .expect("seq present")
        + 1
}

#[tokio::test]
async fn tampering_is_detected_at_the_right_line() {
    let (dir, key) = signed_trail("tamper", 20).await;
    let file = trail(&dir).join(audit::file_name(1));
    let original = std::fs::read_to_string(&file).expect("read");
    let lines: Vec<String> = original.lines().map(str::to_owned).collect();
    let ok = verify_file(&file, Some(&key)).unwrap_or_else(|b| panic!("{b}"));
    assert_eq!(ok.records, 21);
    assert!(ok.checkpoints >= 4);

    let write = |name: &str, ls: &[String]| {
        let p = dir.join(name);
        std::fs::write(&p, ls.join("\n") + "\n").expect("write");
        p
    };
    let broken = |p: &Path| {
        verify_file(p, Some(&key))
            .err()
            .unwrap_or_else(|| panic!("{} verified", p.display()))
    };

    // Flip one byte of a record.
    let at = line_of(&lines, 8);
    let mut flipped = lines.clone();
    flipped[at - 1] = flipped[at - 1].replacen("/v1/reports/6", "/v1/reports/7", 1);
    let b = broken(&write("flip", &flipped));
    assert_eq!(b.line, at as u64);
    assert!(b.why.contains("hash mismatch"), "{b}");

    // Delete a record.
    let mut deleted = lines.clone();
    deleted.remove(at - 1);
    let b = broken(&write("delete", &deleted));
    assert_eq!(b.line, at as u64);
    assert!(b.why.contains("seq gap"), "{b}");

    // Insert a copy of a record.
    let mut inserted = lines.clone();
    inserted.insert(at, lines[at - 1].clone());
    let b = broken(&write("insert", &inserted));
    assert_eq!(b.line, at as u64 + 1);
    assert!(b.why.contains("reordering"), "{b}");

    // Swap two records.
    let mut swapped = lines.clone();
    let next = line_of(&lines, 9);
    swapped.swap(at - 1, next - 1);
    let b = broken(&write("swap", &swapped));
    assert_eq!(b.line, at as u64);
    assert!(b.why.contains("seq gap"), "{b}");

    // Cut records off the tail, keeping the final checkpoint.
    let last_cp = lines
        .iter()
        .rposition(|l| l.contains("\"checkpoint\""))
        .expect("checkpoint");
    let mut cut = lines.clone();
    cut.drain(last_cp - 2..last_cp);
    let b = broken(&write("cut", &cut));
    assert_eq!(b.line, last_cp as u64 - 1);
    assert!(b.why.contains("checkpoint"), "{b}");

    // A forged signature.
    let mut forged = lines.clone();
    let sig_at = lines
        .iter()
        .position(|l| l.contains("\"signature\""))
        .expect("signature");
    let v: serde_json::Value = serde_json::from_str(&lines[sig_at]).expect("json");
    let sig = v["signature"].as_str().expect("sig");
    let bad = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    forged[sig_at] = lines[sig_at].replace(sig, &bad);
    let b = broken(&write("forged", &forged));
    assert_eq!(b.line, sig_at as u64 + 1);
    assert!(b.why.contains("bad signature"), "{b}");

    // Checkpoints removed altogether: missing signature with a key, fine without.
    let unsigned: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("\"checkpoint\""))
        .cloned()
        .collect();
    let p = write("unsigned", &unsigned);
    assert!(broken(&p).why.contains("missing signature"));
    assert!(verify_file(&p, None).is_ok());

    // The CLI says the same, with exit 1 and file:line.
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(dir.join("delete"))
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("delete:{at}: seq gap")), "{text}");
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(trail(&dir))
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: 21 records (seq 1 .. 21)"));
}

#[tokio::test]
async fn nothing_a_client_sends_breaks_or_forges_a_line() {
    let dir = temp_dir("inject");
    let gw = Gateway::start_with(&with_audit(&dir, "")).await;
    let targets: [&[u8]; 7] = [
        b"/internal/x\",\"decision\":\"allow\",\"status\":200,\"x\":\"",
        b"/v1/reports/a%0d%0a%7b%22seq%22:1%7d",
        b"/v1/reports/%1b[31mred",
        "/v1/reports/caf\u{e9}\u{2028}x".as_bytes(),
        b"/v1/reports/a\\b\"",
        b"/v1/reports/%e2%80%ae-rtl",
        b"/internal/\"}\n",
    ];
    for t in targets {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(t);
        req.extend_from_slice(format!(" HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\nUser-Agent: \"}}\r\nConnection: close\r\n\r\n").as_bytes());
        gw.raw(&req).await;
    }
    gw.app.shutdown().await;
    let text: String = audit::trail_files(&trail(&dir))
        .expect("files")
        .into_iter()
        .map(|(_, f)| trail_text(&f))
        .collect();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["kind"].is_string());
    }
    let reqs = requests(&dir);
    // Every target that hyper accepted is one record; none forged an allow.
    assert!(reqs.len() >= 5, "{reqs:#?}");
    let forged = reqs
        .iter()
        .find(|r| r["path"].as_str().is_some_and(|p| p.contains("decision")))
        .expect("the injection attempt is recorded");
    assert_eq!(forged["decision"], "deny");
    assert_eq!(forged["status"], 403);
    let raw_quote = reqs
        .iter()
        .find(|r| r["reason"] == "backslash")
        .expect("the backslash target is recorded");
    assert_eq!(raw_quote["path"], "/v1/reports/a\\b\"");
    for r in &reqs {
        let path = r["path"].as_str().expect("path");
        assert!(
            !path.contains('\n') && !path.contains('\r') && !path.contains('\u{1b}'),
            "{path:?}"
        );
    }
    assert!(audit::verify(&[trail(&dir)], None).is_ok());
    python_verify(&dir);
}

/// A gateway whose trail fails at its first rotation (4 KiB): the next file's path is taken.
async fn failing_trail(name: &str) -> (PathBuf, Gateway) {
    let dir = temp_dir(name);
    std::fs::create_dir_all(trail(&dir).join(audit::file_name(2))).expect("occupy the next file");
    let gw = Gateway::start_with(&with_audit(&dir, "rotate_bytes = 4096")).await;
    (dir, gw)
}

#[tokio::test]
async fn a_full_or_failing_trail_fails_closed_and_recovers_by_itself() {
    let (dir, gw) = failing_trail("failclosed").await;
    let mut refused = None;
    for i in 0..200 {
        let r = gw.get(&format!("/v1/reports/{i}"), ACME).await;
        if r.status == 503 {
            assert_eq!(r.code(), "audit_unavailable");
            assert_eq!(r.header("retry-after").as_deref(), Some("1"));
            refused = Some(i);
            break;
        }
        assert_eq!(r.status, 200);
    }
    assert!(
        refused.is_some(),
        "rotation into an occupied path never failed closed"
    );
    let seen_before = gw.upstream.seen().len();
    for _ in 0..3 {
        assert_eq!(gw.get("/v1/reports/x", ACME).await.status, 503);
    }
    assert_eq!(
        gw.upstream.seen().len(),
        seen_before,
        "nothing is forwarded while failing"
    );

    std::fs::remove_dir(trail(&dir).join(audit::file_name(2))).expect("free the path");
    let mut recovered = false;
    for _ in 0..100 {
        if gw.get("/v1/reports/y", ACME).await.status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recovered,
        "the gateway did not recover once the trail was writable"
    );
    gw.app.shutdown().await;
    let report = audit::verify(&[trail(&dir)], None).unwrap_or_else(|b| panic!("{b}"));
    assert!(report.files >= 2);
    python_verify(&dir);
}

#[tokio::test]
async fn retention_deletes_old_files_and_records_each_deletion() {
    let dir = temp_dir("retention");
    let text = with_audit(&dir, "rotate_bytes = 4096\nretention_days = 1");
    let gw = Gateway::start_with(&text).await;
    for i in 0..30 {
        gw.get(&format!("/v1/reports/{i}"), ACME).await;
    }
    gw.app.shutdown().await;
    let files = audit::trail_files(&trail(&dir)).expect("files");
    assert!(files.len() >= 3, "{files:?}");
    let status = Command::new("touch")
        .args(["-d", "3 days ago"])
        .arg(&files[0].1)
        .status()
        .expect("touch");
    assert!(status.success());

    let gw = Gateway::start_with(&text).await;
    gw.get("/v1/reports/after", ACME).await;
    gw.app.shutdown().await;
    assert!(!files[0].1.exists(), "the old file is deleted");
    let all = records(&dir);
    let deletion = all
        .iter()
        .find(|r| r["kind"] == "retention")
        .expect("retention record");
    assert_eq!(deletion["file"], audit::file_name(1));
    let report = audit::verify(&[trail(&dir)], None).unwrap_or_else(|b| panic!("{b}"));
    assert!(report.first_seq.unwrap_or(0) > 1);
    let out = Command::new(BIN)
        .args(["audit", "query"])
        .arg(trail(&dir))
        .output()
        .expect("query");
    assert!(String::from_utf8_lossy(&out.stdout).contains("retention deleted audit-000001.jsonl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_record() {
    let dir = temp_dir("kill9");
    let upstream = Upstream::start().await;
    let config = dir.join("gateway.toml");
    let text = render(&with_audit(&dir, ""), &upstream, closed_port().await);
    std::fs::write(&config, &text).expect("write config");

    let mut served = Served::start(&config);
    let addr = served.addr;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..8 {
        let acked = acked.clone();
        clients.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let target = if i % 3 == 0 {
                    format!("/internal/{c}/{i}")
                } else {
                    format!("/v1/reports/{c}-{i}")
                };
                let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                    return;
                };
                if s.write_all(&raw_get(&target, ACME)).await.is_err() {
                    return;
                }
                let mut buf = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut buf).await;
                let text = String::from_utf8_lossy(&buf);
                let id = text
                    .lines()
                    .find_map(|l| l.strip_prefix("x-request-id: "))
                    .map(str::to_owned);
                match id {
                    Some(id) if text.starts_with("HTTP/1.1 ") => {
                        acked.lock().expect("lock").push(id)
                    }
                    _ => return,
                }
            }
        }));
    }
    // Let the load run, then kill -9 in the middle of it.
    while acked.lock().expect("lock").len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served.child.kill().expect("kill -9");
    let _ = served.child.wait();
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 200);

    let report = audit::verify(&[trail(&dir)], None).unwrap_or_else(|b| panic!("{b}"));
    let reqs = requests(&dir);
    let in_trail: std::collections::HashSet<&str> = reqs
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !in_trail.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged responses missing from the trail",
        missing.len()
    );

    // A restart resumes the chain after the last complete record.
    let mut served = Served::start(&config);
    let r = raw(served.addr, &raw_get("/v1/reports/after-restart", ACME)).await;
    assert_eq!(r.status(), 200, "{}", r.text);
    served.signal("-TERM");
    let _ = served.child.wait();
    let after = audit::verify(&[trail(&dir)], None).unwrap_or_else(|b| panic!("{b}"));
    assert!(after.last_seq > report.last_seq);
    assert!(after.torn_tail.is_none());
    python_verify(&dir);
}

#[tokio::test]
async fn buffered_records_reach_the_disk_within_the_flush_interval() {
    let dir = temp_dir("buffered");
    let text = with_audit(&dir, "").replace(
        "durability = \"strict\"",
        "durability = \"buffered\"\nflush_interval = \"50ms\"",
    );
    let gw = Gateway::start_with(&text).await;
    let id = gw
        .get("/v1/reports/1", ACME)
        .await
        .header("x-request-id")
        .expect("id");
    let mut found = false;
    for _ in 0..100 {
        if requests(&dir)
            .iter()
            .any(|r| r["request_id"] == id.as_str())
        {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(found, "the record is on disk without a shutdown");
    gw.app.shutdown().await;
}

#[tokio::test]
async fn query_filters_by_partner_decision_code_route_and_time() {
    let dir = temp_dir("query");
    let gw = Gateway::start_with(&with_audit(&dir, "")).await;
    gw.get("/v1/reports/1", ACME).await;
    gw.get("/v1/reports/2", GLOBEX).await;
    gw.send("PUT", "/v1/reports/3", &[("x-api-key", GLOBEX)], "")
        .await;
    gw.get("/internal/x", ACME).await;
    gw.app.shutdown().await;
    let query = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["audit", "query", "--json"])
            .arg(trail(&dir))
            .args(args)
            .output()
            .expect("query");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
            .collect::<Vec<_>>()
    };
    assert_eq!(query(&["--partner", "globex"]).len(), 2);
    assert_eq!(
        query(&["--partner", "globex", "--decision", "deny"]).len(),
        1
    );
    assert_eq!(
        query(&["--code", "forbidden_route"])[0]["path"],
        "/internal/x"
    );
    assert_eq!(query(&["--route", "put-report"]).len(), 1);
    assert_eq!(query(&["--until", "2000-01-01T00:00:00Z"]).len(), 0);
    assert_eq!(
        query(&["--since", "2000-01-01T00:00:00Z", "--decision", "allow"]).len(),
        2
    );
    let table = Command::new(BIN)
        .args(["audit", "query"])
        .arg(trail(&dir))
        .args(["--decision", "deny"])
        .output()
        .expect("query");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("     SEQ  TIME"), "{text}");
    assert!(
        text.contains("permission_denied") && text.contains("forbidden_route"),
        "{text}"
    );
    assert!(
        !text.contains("/v1/reports/1 "),
        "allowed requests are filtered out: {text}"
    );
}

/// Runs `kwanus-gateway audit ARGS...` and returns (exit code, stdout).
fn audit_cli(args: &[&str], paths: &[&Path]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("audit")
        .args(args)
        .args(paths)
        .output()
        .expect("audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn no_side_effect_reaches_an_upstream_without_a_durable_intent_record() {
    let (dir, gw) = failing_trail("intent").await;
    let mut refused = false;
    for i in 0..200 {
        let key = format!("run-{i}");
        let r = gw
            .send(
                "POST",
                "/v1/workflows/nightly/runs",
                &[("x-api-key", GLOBEX), ("idempotency-key", &key)],
                "{}",
            )
            .await;
        if r.status == 503 {
            assert_eq!(r.code(), "audit_unavailable");
            refused = true;
            break;
        }
        assert_eq!(r.status, 200);
    }
    assert!(refused, "the trail never failed");
    gw.app.shutdown().await;
    let all = records(&dir);
    let intents: std::collections::HashSet<String> = all
        .iter()
        .filter(|r| r["kind"] == "intent")
        .map(|r| r["request_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let seen = gw.upstream.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        let id = s.headers["x-request-id"].to_str().expect("ascii");
        assert!(
            intents.contains(id),
            "{id} reached the upstream with no intent on disk ({} POSTs, {} intents)",
            seen.len(),
            intents.len()
        );
    }
    // Every intent is followed by its outcome with the same request id, except at most the
    // ones whose outcome could not be written once the disk failed.
    let intent = all.iter().find(|r| r["kind"] == "intent").expect("intent");
    for field in ["partner", "route", "permission", "method", "path"] {
        assert!(intent[field].is_string(), "{field}: {intent}");
    }
    // Reads write no intent.
    assert!(
        all.iter()
            .all(|r| r["kind"] != "intent" || r["method"] == "POST")
    );
}

#[tokio::test]
async fn verify_warns_about_intents_without_an_outcome_and_query_shows_them() {
    let dir = temp_dir("intent-dangling");
    let gw = Gateway::start_with(&with_audit(&dir, "")).await;
    let r = gw
        .send(
            "POST",
            "/v1/workflows/nightly/runs",
            &[("x-api-key", GLOBEX), ("idempotency-key", "a")],
            "{}",
        )
        .await;
    assert_eq!(r.status, 200);
    gw.get("/v1/reports/1", ACME).await;
    gw.app.shutdown().await;
    let file = trail(&dir).join(audit::file_name(1));
    let (code, out) = audit_cli(&["verify"], &[&trail(&dir)]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("without an outcome"), "{out}");
    // A crash between the intent and its outcome: the outcome (and what follows) never written.
    let text = std::fs::read_to_string(&file).expect("read");
    let cut: Vec<&str> = text
        .lines()
        .take_while(|l| !(l.contains("\"kind\":\"request\"") && l.contains("\"POST\"")))
        .collect();
    std::fs::write(&file, format!("{}\n", cut.join("\n"))).expect("write");
    let id = cut
        .iter()
        .find(|l| l.contains("\"kind\":\"intent\""))
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["request_id"].as_str().map(str::to_owned))
        .expect("intent id");
    let (code, out) = audit_cli(&["verify"], &[&trail(&dir)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 intent(s) without an outcome") && out.contains(&id),
        "{out}"
    );
    let (_, q) = audit_cli(&["query", "--json"], &[&trail(&dir)]);
    assert!(
        q.lines()
            .any(|l| l.contains("\"kind\":\"intent\"") && l.contains(&id)),
        "{q}"
    );
}

#[tokio::test]
async fn a_trail_whose_head_was_cut_fails_unless_retention_vouches_for_it() {
    let dir = temp_dir("headcut");
    let gw = Gateway::start_with(&with_audit(&dir, "rotate_bytes = 4096")).await;
    for i in 0..40 {
        gw.get(&format!("/v1/reports/{i}"), ACME).await;
    }
    gw.app.shutdown().await;
    let files = audit::trail_files(&trail(&dir)).expect("files");
    assert!(files.len() >= 3);
    // The first file deleted by hand: no retention record vouches for it.
    let saved = std::fs::read(&files[0].1).expect("read");
    std::fs::remove_file(&files[0].1).expect("rm");
    let (code, out) = audit_cli(&["verify"], &[&trail(&dir)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("starts at seq") && out.contains("no retention record"),
        "{out}"
    );
    // The first lines of the first file removed: the same.
    let text = String::from_utf8(saved).expect("utf-8");
    let rest: Vec<&str> = text.lines().skip(3).collect();
    std::fs::write(&files[0].1, format!("{}\n", rest.join("\n"))).expect("write");
    let (code, out) = audit_cli(&["verify"], &[&trail(&dir)]);
    assert_eq!(code, 1, "{out}");
    std::fs::write(&files[0].1, &text).expect("restore");
    assert_eq!(audit_cli(&["verify"], &[&trail(&dir)]).0, 0);

    // Real retention: the record is written before the file goes, and verify accepts the cut.
    let status = Command::new("touch")
        .args(["-d", "3 days ago"])
        .arg(&files[0].1)
        .status()
        .expect("touch");
    assert!(status.success());
    let gw =
        Gateway::start_with(&with_audit(&dir, "rotate_bytes = 4096\nretention_days = 1")).await;
    gw.get("/v1/reports/after", ACME).await;
    gw.app.shutdown().await;
    assert!(!files[0].1.exists());
    let retention = records(&dir)
        .into_iter()
        .find(|r| r["kind"] == "retention")
        .expect("retention record");
    let first = records(&dir)
        .into_iter()
        .find(|r| r["kind"] == "request")
        .expect("first record");
    assert_eq!(retention["first_seq"], first["seq"]);
    assert_eq!(retention["first_prev"], first["prev"]);
    let (code, out) = audit_cli(&["verify"], &[&trail(&dir)]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn a_complete_forged_record_at_the_tail_is_verified_not_excused() {
    let dir = temp_dir("forged-tail");
    let gw = Gateway::start_with(&with_audit(&dir, "")).await;
    gw.get("/v1/reports/1", ACME).await;
    gw.app.shutdown().await;
    let file = trail(&dir).join(audit::file_name(1));
    let text = std::fs::read_to_string(&file).expect("read");
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("line")).expect("json");
    let seq = last["seq"].as_u64().expect("seq") + 1;
    // A complete record with a made-up hash, appended without a newline.
    let forged = format!(
        "{{\"seq\":{seq},\"ts\":\"2026-11-29T00:00:00.000000Z\",\"kind\":\"request\",\"request_id\":\"forged\",\"partner\":\"umbrella\",\"decision\":\"allow\",\"prev\":{},\"hash\":\"{}\"}}",
        last["hash"],
        "a".repeat(64)
    );
    std::fs::write(&file, format!("{text}{forged}")).expect("write");
    let (code, out) = audit_cli(&["verify"], &[&trail(&dir)]);
    assert_eq!(code, 1, "a complete record must verify: {out}");
    assert!(!out.contains("torn"), "{out}");
    // Query shows only what verifies, unless asked, and then marks it.
    let (_, q) = audit_cli(&["query", "--json"], &[&trail(&dir)]);
    assert!(!q.contains("forged"), "{q}");
    assert!(q.lines().count() >= 2, "{q}");
    let (_, q) = audit_cli(&["query", "--json", "--unverified"], &[&trail(&dir)]);
    let marked = q
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["request_id"] == "forged")
        .expect("listed with --unverified");
    assert_eq!(marked["verified"], false);
    // A real torn fragment is still only a warning.
    std::fs::write(&file, format!("{text}{{\"seq\":{seq},\"ts\":\"2026")).expect("write");
    let (code, out) = audit_cli(&["verify"], &[&trail(&dir)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("torn"), "{out}");
}

#[tokio::test]
async fn the_witness_copy_of_checkpoints_detects_a_trail_cut_with_its_checkpoints() {
    let dir = temp_dir("witness");
    let key = dir.join("audit.pem");
    let made = Command::new(BIN)
        .args(["keygen", "--audit-key"])
        .arg(&key)
        .status()
        .expect("keygen");
    assert!(made.success());
    let witness = dir.join("witness");
    let extra = format!(
        "signing_key = {:?}\ncheckpoint_every = 5\nwitness_dir = {:?}\n",
        key.display().to_string(),
        witness.display().to_string()
    );
    let gw = Gateway::start_with(&with_audit(&dir, &extra)).await;
    for i in 0..22 {
        gw.get(&format!("/v1/reports/{i}"), ACME).await;
    }
    gw.app.shutdown().await;
    let witnessed = std::fs::read_to_string(witness.join("checkpoints.jsonl")).expect("witness");
    assert!(witnessed.lines().count() >= 4, "{witnessed}");
    let (code, out) = audit_cli(
        &["verify", "--witness", witness.to_str().expect("utf-8")],
        &[&trail(&dir)],
    );
    assert_eq!(code, 0, "{out}");
    // Cut the trail and its checkpoints together after seq 10: without the witness it passes.
    let file = trail(&dir).join(audit::file_name(1));
    let text = std::fs::read_to_string(&file).expect("read");
    let kept: Vec<&str> = text
        .lines()
        .take_while(|l| !l.contains("\"seq\":11,"))
        .collect();
    std::fs::write(&file, format!("{}\n", kept.join("\n"))).expect("write");
    assert_eq!(audit_cli(&["verify"], &[&trail(&dir)]).0, 0);
    let (code, out) = audit_cli(
        &["verify", "--witness", witness.to_str().expect("utf-8")],
        &[&trail(&dir)],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("witnessed checkpoint"), "{out}");
}

#[tokio::test]
async fn every_record_says_whether_the_partner_received_the_whole_response() {
    // The upstream promises 100 bytes, sends 10 and closes; another sends the head and a first
    // chunk, then the rest a second later.
    let cut = RawUpstream::script(
        &[(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
            0,
        )],
        true,
    )
    .await;
    let slow = RawUpstream::script(
        &[
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
                0,
            ),
            (b"5\r\nlater\r\n0\r\n\r\n", 1000),
        ],
        false,
    )
    .await;
    let dir = temp_dir("complete");
    let config = format!(
        "{}\n[[upstreams]]\nname = \"slow\"\nurl = \"http://{}\"\n\n[[routes]]\nname = \"slow-body\"\nmethod = \"GET\"\npath = \"/v1/slow-body\"\npermission = \"reports:read\"\nupstream = \"slow\"\n[audit]\ndir = {:?}\ndurability = \"strict\"\n",
        cut.fixture(""),
        slow.addr,
        trail(&dir).display().to_string()
    );
    let gw = Gateway::start_with(&config).await;
    // A whole response.
    assert_eq!(gw.get("/v1/reports/1", ACME).await.status, 200);
    // An upstream that closes mid-body: the partner gets 10 of 100 bytes.
    let r = raw(gw.app.addr(), &raw_get("/v1/raw", ACME)).await;
    assert!(r.text.starts_with("HTTP/1.1 200"), "{}", r.text);
    // A client that goes away after the first chunk.
    let mut s = tokio::net::TcpStream::connect(gw.app.addr())
        .await
        .expect("connect");
    s.write_all(&raw_get("/v1/slow-body", ACME))
        .await
        .expect("write");
    let mut buf = vec![0u8; 256];
    let n = tokio::io::AsyncReadExt::read(&mut s, &mut buf)
        .await
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(s);
    let recorded = || async { gw.outcomes.all().iter().any(|o| o.path == "/v1/slow-body") };
    assert!(eventually(Duration::from_secs(5), recorded).await);
    gw.app.shutdown().await;
    let by_path = |path: &str| {
        requests(&dir)
            .into_iter()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("no record for {path}"))
    };
    assert_eq!(by_path("/v1/reports/1")["response_complete"], true);
    let cut_record = by_path("/v1/raw");
    assert_eq!(cut_record["response_complete"], false, "{cut_record}");
    assert_eq!(cut_record["status"], 200);
    let gone = by_path("/v1/slow-body");
    assert_eq!(gone["response_complete"], false, "{gone}");
    assert_eq!(gone["status"], 200);
    audit::verify(&[trail(&dir)], None).unwrap_or_else(|b| panic!("{b}"));
}

/// Strict segments are written through ahead of their records, so a commit's `fdatasync`
/// writes data only; the zeros after the last record are read past by every reader while the
/// gateway runs, and cut when the segment is sealed.
#[tokio::test]
async fn a_strict_segment_is_written_through_ahead_and_sealed_at_the_end() {
    let dir = temp_dir("write-ahead");
    let gw = Gateway::start_with(&with_audit(&dir, "")).await;
    for i in 0..5 {
        assert_eq!(gw.get(&format!("/v1/reports/{i}"), ACME).await.status, 200);
    }
    let (_, file) = audit::trail_files(&trail(&dir))
        .expect("files")
        .pop()
        .expect("a segment");
    let live = std::fs::read(&file).expect("read");
    let data = trail_text(&file).len();
    assert_eq!(live.len(), 1 << 20, "written through a mebibyte ahead");
    assert!(
        live[data..].iter().all(|b| *b == 0),
        "zeros after the records"
    );
    // Every reader stops at the zeros: verify, query, the officer's own script.
    let report = audit::verify(&[trail(&dir)], None).unwrap_or_else(|b| panic!("{b}"));
    assert_eq!(report.records, 6, "the start and five requests");
    assert_eq!(report.torn_tail, None, "zeros are not a torn record");
    assert_eq!(python_verify(&dir), "ok 6");
    let out = Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"))
        .args(["audit", "query", "--json"])
        .arg(trail(&dir))
        .output()
        .expect("query");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);
    gw.app.shutdown().await;
    let sealed = std::fs::read(&file).expect("read");
    assert!(!sealed.contains(&0), "sealed: no zeros left");
    assert_eq!(sealed.len(), trail_text(&file).len());
    assert!(sealed.len() >= data, "nothing of it lost");
    // A restart continues the chain from the sealed segment.
    let again = Gateway::start_with(&with_audit(&dir, "")).await;
    assert_eq!(again.get("/v1/reports/9", ACME).await.status, 200);
    again.app.shutdown().await;
    audit::verify(&[trail(&dir)], None).unwrap_or_else(|b| panic!("{b}"));
}

/// Runs `audit query` with `args` over `trail`: exit code, stdout, stderr.
fn query(trail: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(["audit", "query"])
        .arg(trail)
        .args(args)
        .output()
        .expect("audit query");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn audit_query_answers_by_status_request_id_and_relative_or_offset_times() {
    let dir = temp_dir("query-answers");
    let gw = Gateway::start_with(&with_audit(&dir, "")).await;
    let allowed = gw.get("/v1/reports/1", ACME).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(gw.raw(&raw_get("/internal/x", ACME)).await.status(), 403);
    let id = allowed.headers["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    gw.app.shutdown().await;
    let trail = trail(&dir);
    // Relative times, and RFC 3339 with an offset: +01:00 is an hour ahead of UTC.
    let (code, out, _) = query(&trail, &["--since", "1h", "--format", "json"]);
    assert_eq!(code, Some(0));
    assert!(out.lines().count() >= 2, "{out}");
    let (_, out, _) = query(
        &trail,
        &["--until", "2000-01-01T00:30:00+01:00", "--format", "json"],
    );
    assert_eq!(out.lines().count(), 0, "{out}");
    let (_, out, _) = query(
        &trail,
        &["--since", "2000-01-01T00:30:00-01:00", "--format", "json"],
    );
    assert!(out.lines().count() >= 2, "{out}");
    // By status, as CSV: the header and the one 403.
    let (code, out, _) = query(&trail, &["--status", "403", "--format", "csv"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("seq,ts,kind,partner,"), "{out}");
    assert!(lines[1].contains(",forbidden_route,403,"), "{out}");
    // By request id: the partner's X-Request-Id finds its record.
    let (_, out, _) = query(&trail, &["--request-id", &id, "--format", "json"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("\"/v1/reports/1\""), "{out}");
    // A misspelled code is an error that lists the real ones.
    let (code, _, err) = query(&trail, &["--code", "permision_denied"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("permission_denied") && err.contains("forbidden_route"),
        "{err}"
    );
    // A reader that stops reading (`| head`) ends the query quietly, with exit 0.
    let mut child = Command::new(BIN)
        .args(["audit", "query"])
        .arg(&trail)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
}

#[tokio::test]
async fn audit_summary_counts_by_partner_and_code_with_the_total() {
    let dir = temp_dir("summary");
    let gw = Gateway::start_with(&with_audit(&dir, "")).await;
    for _ in 0..2 {
        assert_eq!(gw.get("/v1/reports/1", ACME).await.status, 200);
    }
    assert_eq!(gw.raw(&raw_get("/internal/x", ACME)).await.status(), 403);
    assert_eq!(gw.get("/v1/reports/1", "kwp_nobody").await.status, 401);
    gw.app.shutdown().await;
    let summary = |by: &str| {
        let out = Command::new(BIN)
            .args(["audit", "summary", "--since", "1h", "--by", by])
            .arg(trail(&dir))
            .output()
            .expect("audit summary");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // A row's first five columns: key, requests, allows, denials, 5xx.
    let row = |text: &str, key: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no row {key}:\n{text}"))
            .split_whitespace()
            .take(5)
            .map(str::to_owned)
            .collect()
    };
    let by_partner = summary("partner");
    assert_eq!(row(&by_partner, "acme"), ["acme", "3", "2", "1", "0"]);
    assert_eq!(row(&by_partner, "-"), ["-", "1", "0", "1", "0"]);
    assert_eq!(row(&by_partner, "total"), ["total", "4", "2", "2", "0"]);
    assert!(by_partner.contains("forbidden_route=1"), "{by_partner}");
    // p50 and p99 in milliseconds, from the records' durations.
    let acme = by_partner
        .lines()
        .find(|l| l.starts_with("acme "))
        .expect("acme row");
    for q in acme.split_whitespace().skip(5).take(2) {
        assert!(q.parse::<f64>().is_ok_and(|ms| ms >= 0.0), "{acme}");
    }
    let by_code = summary("code");
    assert_eq!(
        row(&by_code, "invalid_credentials"),
        ["invalid_credentials", "1", "0", "1", "0"]
    );
    assert_eq!(row(&by_code, "-")[..3], ["-", "2", "2"]);
}
