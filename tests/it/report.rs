//! `audit report` (issue 17, item 4) against a real trail written by the running binary: the
//! counts, the unused grants, and the tier-readiness verdict criterion by criterion.

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
        "requests: 5 (5 allowed, 0 denied)",
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
        "requests: 2 (1 allowed, 1 denied)",
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
