//! `audit report` (issue 17, item 4) against a real trail written by the running binary: the
//! counts, the unused grants, and the tier-readiness verdict criterion by criterion.

use std::path::Path;
use std::process::Command;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_judges_a_partner_against_the_upgrade_rule_from_the_trail() {
    let dir = temp_dir("report");
    let upstream = Upstream::start().await;
    let text = format!(
        "{}\n[audit]\ndir = {:?}\n",
        FIXTURE.replacen(
            "id = \"globex\"\ntier = 2\nstage = \"active\"\n",
            "id = \"globex\"\ntier = 2\nstage = \"active\"\nrisk = \"low\"\n",
            1
        ),
        dir.join("trail").display().to_string()
    );
    assert!(text.contains("risk = \"low\""));
    let config = dir.join("gateway.toml");
    std::fs::write(&config, render(&text, &upstream, closed_port().await)).expect("config");
    let served = Served::start(&config);
    for i in 0..3 {
        assert_eq!(
            raw(served.addr, &raw_get(&format!("/v1/reports/{i}"), GLOBEX))
                .await
                .status(),
            200
        );
    }
    for i in 0..2 {
        let req = format!(
            "POST /v1/workflows/nightly/runs HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {GLOBEX}\r\nIdempotency-Key: run-{i}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(raw(served.addr, req.as_bytes()).await.status(), 200);
    }
    assert_eq!(
        raw(served.addr, &raw_get("/v1/reports/1", ACME))
            .await
            .status(),
        200
    );
    assert_eq!(
        raw(served.addr, &raw_get("/internal/admin", ACME))
            .await
            .status(),
        403
    );
    drop(served);

    let report = |partner: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"))
            .args([
                "audit",
                "report",
                "--partner",
                partner,
                "--since",
                "1h",
                "--config",
            ])
            .arg(&config)
            .arg(dir.join("trail"))
            .output()
            .expect("report");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let globex = report("globex");
    for line in [
        "requests: 5 (5 allowed, 0 denied, 0 failed by the gateway or the upstream)",
        "workflow requests: 2 (0 answered 5xx)",
        "permissions held but unused: none",
        "  [x] workflows reliable: 0 of 2 workflow requests answered 5xx (0.00 %, at most 1.00 %)",
        "  [x] compliance clean: stage active; 0 overdue review(s)",
        "  [x] permissions minimal: all 2 held permission(s) used",
        "  [x] risk low: risk low; 0 of 5 requests denied (0.00 %, at most 5.00 %)",
        "verdict: ready for a tier upgrade (every criterion met)",
    ] {
        assert!(
            globex.lines().any(|l| l == line),
            "{line:?} missing from:\n{globex}"
        );
    }
    let acme = report("acme");
    for line in [
        "requests: 2 (1 allowed, 1 denied, 0 failed by the gateway or the upstream)",
        "  denied forbidden_route: 1",
        "  [ ] risk low: risk not assessed; 1 of 2 requests denied (50.00 %, at most 5.00 %)",
        "verdict: not ready for a tier upgrade",
        "downgrade signal: permission misuse: 1 denied permission or forbidden-route request(s), 0 automatic suspension(s)",
    ] {
        assert!(
            acme.lines().any(|l| l == line),
            "{line:?} missing from:\n{acme}"
        );
    }
}

/// Issue 22 item 6: the gateway's own faults are not the partner's denials, a criterion
/// without data keeps the verdict from "ready", and an officer's workstation needs the trail
/// and `approved.json` only — no private key, no schema files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_tells_the_partners_doing_from_the_gateways_and_runs_on_a_workstation() {
    let dir = temp_dir("report-truth");
    let upstream = Upstream::start().await;
    let bodies = crate::governance::Bodies::new(&dir);
    let approvals = dir.join("approvals");
    let key = audit_key(&dir);
    let text = format!(
        "{}\n[audit]\ndir = {:?}\nsigning_key = {:?}\n[state]\nbackend = \"redis\"\nredis_url = \"redis://{}/0\"\n{}",
        FIXTURE.replacen(
            "id = \"globex\"\ntier = 2\nstage = \"active\"\n",
            "id = \"globex\"\ntier = 2\nstage = \"active\"\nrisk = \"low\"\n",
            1
        ),
        dir.join("trail").display().to_string(),
        key.display().to_string(),
        closed_port().await,
        bodies.section(&approvals)
    );
    let config = dir.join("gateway.toml");
    std::fs::write(&config, render(&text, &upstream, closed_port().await)).expect("config");
    for b in ["TSC", "SCO", "CGB"] {
        bodies.approve(b, &approvals, None, &config);
    }
    let served = Served::start(&config);
    for i in 0..2 {
        let r = raw(served.addr, &raw_get(&format!("/v1/reports/{i}"), GLOBEX)).await;
        assert_eq!(r.status(), 200);
    }
    // Redis is down: every idempotent workflow request is the gateway's failure.
    for i in 0..7 {
        let req = format!(
            "POST /v1/workflows/nightly/runs HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {GLOBEX}\r\nIdempotency-Key: run-{i}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let r = raw(served.addr, req.as_bytes()).await;
        assert_eq!(r.body_json()["code"], "state_unavailable", "{}", r.text);
    }
    served.signal("-TERM");
    served.wait_log("stopped");
    drop(served);

    // The workstation: a copy of the trail and of approved.json; the private key is gone.
    let desk = dir.join("workstation");
    std::fs::create_dir_all(desk.join("trail")).expect("desk");
    for (_, f) in kwanus_gateway::audit::trail_files(&dir.join("trail")).expect("trail") {
        std::fs::copy(&f, desk.join("trail").join(f.file_name().expect("name"))).expect("copy");
    }
    std::fs::copy(approvals.join("approved.json"), desk.join("approved.json")).expect("copy");
    std::fs::rename(&key, dir.join("elsewhere.pem")).expect("take the key away");
    let bin = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"))
            .args(args)
            .output()
            .expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let report = |facts: &Path| {
        let args = ["audit", "report", "--partner", "globex", "--since", "1h"];
        let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        let trail = desk.join("trail");
        all.extend(["--config".as_ref(), facts.as_os_str(), trail.as_os_str()]);
        let (code, out, err) = bin(&all);
        assert_eq!(code, Some(0), "{err}");
        out
    };
    for facts in [desk.join("approved.json"), config.clone()] {
        let out = report(&facts);
        for line in [
            "requests: 9 (2 allowed, 0 denied, 7 failed by the gateway or the upstream)",
            "  state_unavailable: 7 (the gateway's or the upstream's fault, not the partner's)",
            "  [?] workflows reliable: insufficient data: no workflow requests in the period",
            "  [x] risk low: risk low; 0 of 2 requests denied (0.00 %, at most 5.00 %); 7 answer(s) the gateway's or the upstream's fault left out",
            "verdict: not ready for a tier upgrade (insufficient data to judge every criterion)",
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "{line:?} missing ({}):\n{out}",
                facts.display()
            );
        }
    }
    // diff works there too: what cannot be read is named, not shown as changed.
    let (code, out, err) = bin(&[
        "diff".as_ref(),
        desk.join("approved.json").as_os_str(),
        config.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("no governance-relevant change"), "{out}");
    assert!(
        err.contains("not compared (not readable here): audit.signing_key"),
        "{err}"
    );

    // The misuse detector never counts the gateway's faults: a file asking it to is refused.
    let misuse = text.replace(
        "[state]",
        "[governance.misuse]\nthreshold = 5\nwindow = \"60s\"\nsuspend_for = \"1m\"\ncodes = [\"permission_denied\", \"state_unavailable\"]\n[state]",
    );
    let bad = dir.join("misuse.toml");
    std::fs::write(&bad, render(&misuse, &upstream, closed_port().await)).expect("config");
    let (code, _, err) = bin(&["check".as_ref(), "--config".as_ref(), bad.as_os_str()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("governance.misuse.codes[1]") && err.contains("never the partner's"),
        "{err}"
    );
}
