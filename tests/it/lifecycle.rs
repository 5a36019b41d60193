//! The whole lifecycle at run time (issue 17, item 5): sunset enforced, a stable `Deprecation`
//! date and a migration link, maintenance with a compliance date, suspension (configured, and
//! automatic on misuse) and its lift, and grants refused to a partner in maintenance.

use std::time::Duration;

use crate::support::*;

const SUNSET: &str = "kwp_test_sunsetco_0123456789abcdef0";
const MOVING: &str = "kwp_test_movingco_0123456789abcdef0";
const MAINT: &str = "kwp_test_maintco_0123456789abcdef01";
const LATE: &str = "kwp_test_lateco_0123456789abcdef012";
const PAUSED: &str = "kwp_test_pausedco_0123456789abcdef0";
const BACK: &str = "kwp_test_backco_0123456789abcdef012";
const TOKEN: &str = "admin-token-for-tests-0123456789";

fn partner(id: &str, tier: u8, key: &str, extra: &str) -> String {
    format!(
        "\n[[partners]]\nid = \"{id}\"\ntier = {tier}\npermissions = [\"reports:read\"{}]\nkeys = [{{ id = \"{id}-1\", sha256 = \"@{key}\" }}]\n{extra}\n",
        if tier > 1 {
            ", \"workflows:trigger\""
        } else {
            ""
        }
    )
}

fn fixture() -> String {
    let mut text = FIXTURE.to_owned();
    for (id, tier, key, extra) in [
        (
            "sunsetco",
            1,
            SUNSET,
            "stage = \"deprecation\"\ndeprecated_since = \"2024-01-01T00:00:00Z\"\nsunset = \"2025-01-01T00:00:00Z\"",
        ),
        (
            "movingco",
            1,
            MOVING,
            "stage = \"deprecation\"\ndeprecated_since = \"2026-09-01T00:00:00Z\"\nsunset = \"2099-01-01T00:00:00Z\"\nmigration_url = \"https://kwanus.example/migrate\"",
        ),
        (
            "maintco",
            2,
            MAINT,
            "stage = \"maintenance\"\ncompliance_due = \"2099-01-01T00:00:00Z\"",
        ),
        (
            "lateco",
            2,
            LATE,
            "stage = \"maintenance\"\ncompliance_due = \"2020-01-01T00:00:00Z\"",
        ),
        (
            "pausedco",
            2,
            PAUSED,
            "stage = \"suspended\"\nsuspended_reason = \"incident INC-7\"",
        ),
        (
            "backco",
            2,
            BACK,
            "stage = \"suspended\"\nsuspended_reason = \"incident INC-3\"\nsuspended_until = \"2020-01-01T00:00:00Z\"",
        ),
    ] {
        text.push_str(&partner(id, tier, key, extra));
    }
    text
}

async fn run(gw: &Gateway, key: &str) -> Reply {
    gw.send(
        "POST",
        "/v1/workflows/nightly/runs",
        &[
            ("authorization", &format!("Bearer {key}")),
            ("idempotency-key", &format!("k-{key}")),
        ],
        "",
    )
    .await
}

#[tokio::test]
async fn each_stage_is_enforced_with_its_code_and_reason() {
    let gw = Gateway::start_with(&fixture()).await;
    let r = gw.get("/v1/reports/1", SUNSET).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "partner_revoked".into()),
        "{r:?}"
    );

    let r = gw.get("/v1/reports/1", MOVING).await;
    assert_eq!(r.status, 200);
    // The date the partner was deprecated, not the time the configuration was loaded.
    assert_eq!(r.header("deprecation").as_deref(), Some("@1788220800"));
    assert_eq!(
        r.header("link").as_deref(),
        Some("<https://kwanus.example/migrate>; rel=\"deprecation\"")
    );

    assert_eq!(
        run(&gw, MAINT).await.status,
        200,
        "maintenance is served as active"
    );
    assert_eq!(gw.get("/v1/reports/1", LATE).await.status, 200);
    let r = run(&gw, LATE).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "stage_restricted".into()),
        "{r:?}"
    );

    let r = gw.get("/v1/reports/1", PAUSED).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "partner_suspended".into()),
        "{r:?}"
    );
    assert_eq!(
        gw.get("/v1/reports/1", BACK).await.status,
        200,
        "the suspension ended"
    );

    let reasons: Vec<(Option<String>, &str)> = gw
        .outcomes
        .all()
        .iter()
        .filter(|o| o.code.is_some())
        .map(|o| (o.partner.as_deref().map(str::to_owned), o.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (Some("sunsetco".into()), "sunset_passed"),
            (Some("lateco".into()), "compliance_overdue"),
            (Some("pausedco".into()), "stage_suspended"),
        ]
    );
}

#[test]
fn check_refuses_incomplete_lifecycle_dates() {
    let dir = temp_dir("lifecycle-check");
    let path = dir.join("gateway.toml");
    let mut text = String::from("[permissions]\n\"reports:read\" = { kind = \"read\" }\n");
    for (id, extra) in [
        (
            "a",
            "stage = \"deprecation\"\nsunset = \"2027-01-01T00:00:00Z\"",
        ),
        (
            "b",
            "stage = \"deprecation\"\ndeprecated_since = \"2028-01-01T00:00:00Z\"\nsunset = \"2027-01-01T00:00:00Z\"",
        ),
        ("c", "stage = \"maintenance\""),
        ("d", "stage = \"suspended\""),
    ] {
        text.push_str(&format!(
            "\n[[partners]]\nid = \"{id}\"\ntier = 1\n{extra}\n"
        ));
    }
    std::fs::write(&path, text).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kwanus-gateway"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("check");
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for place in [
        "partners[0].deprecated_since",
        "partners[1].deprecated_since",
        "partners[2].compliance_due",
        "partners[3].suspended_reason",
    ] {
        assert!(
            err.contains(&format!("{place}: ")),
            "{place} missing from:\n{err}"
        );
    }
}

#[tokio::test]
async fn a_reload_that_adds_grants_to_a_partner_in_maintenance_is_refused() {
    let dir = temp_dir("lifecycle-reload");
    let path = dir.join("gateway.toml");
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n",
        fixture()
    );
    let gw = Gateway::start_file(&text, &path, false).await;
    let live = std::fs::read_to_string(&path).expect("read");
    let widened = live.replacen(
        "id = \"maintco\"\ntier = 2\npermissions = [\"reports:read\", \"workflows:trigger\"]",
        "id = \"maintco\"\ntier = 2\npermissions = [\"reports:read\", \"workflows:trigger\", \"reports:publish\"]",
        1,
    );
    assert_ne!(widened, live);
    std::fs::write(&path, widened).expect("write");
    let r = gw.admin("POST", "/admin/reload", Some(TOKEN)).await;
    assert_ne!(r.status, 200, "{r:?}");
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        text.contains("maintco") && text.contains("maintenance"),
        "{text}"
    );
    let r = gw
        .send(
            "POST",
            "/v1/reports",
            &[("authorization", &format!("Bearer {MAINT}"))],
            "{}",
        )
        .await;
    assert_eq!(r.code(), "permission_denied", "the old configuration stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misuse_suspends_a_partner_which_lifts_by_itself_or_by_an_operator() {
    let dir = temp_dir("misuse");
    let upstream = Upstream::start().await;
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n[audit]\ndir = {:?}\n[governance.misuse]\nthreshold = 5\nwindow = \"60s\"\nsuspend_for = \"2s\"\n",
        FIXTURE,
        dir.join("trail").display().to_string()
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, render(&text, &upstream, closed_port().await)).expect("config");
    let served = Served::start(&path);
    let admin = served.admin.expect("admin");
    let post = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {GLOBEX}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let trip = || async {
        for _ in 0..5 {
            assert_eq!(raw(served.addr, post.as_bytes()).await.status(), 403);
        }
    };
    // Denials made with a credential the partner does not control (a revoked key) never
    // count against it.
    for _ in 0..10 {
        assert_eq!(
            raw(served.addr, &raw_get("/internal/x", ACME_REVOKED))
                .await
                .status(),
            403
        );
    }
    assert_eq!(
        raw(served.addr, &raw_get("/v1/reports/1", ACME))
            .await
            .status(),
        200
    );
    trip().await;
    let r = raw(served.addr, &raw_get("/v1/reports/1", GLOBEX)).await;
    assert_eq!(r.status(), 403, "{}", r.text);
    assert_eq!(r.body_json()["code"], "partner_suspended");
    // It says when it lifts: the time in the detail, the seconds in Retry-After.
    let detail = r.body_json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains(" until 20"), "{detail}");
    let retry_after: u64 = r
        .text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {}", r.text));
    assert!(retry_after >= 1, "{}", r.text);
    assert_eq!(
        raw(served.addr, &raw_get("/v1/reports/1", ACME))
            .await
            .status(),
        200
    );
    let metrics = http_get(admin, "/metrics").await.text;
    assert_eq!(
        sample(
            &metrics,
            "kwanus_gateway_partner_suspensions_total{partner=\"globex\",reason=\"misuse\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    // The per-partner gauge, written at each scrape: 1 for the suspended partner, 0 for others.
    for (partner, on) in [("globex", 1.0), ("acme", 0.0)] {
        let series = format!("kwanus_gateway_partner_suspended{{partner=\"{partner}\"}}");
        assert_eq!(sample(&metrics, &series), Some(on), "{metrics}");
    }

    let status = format!(
        "GET /admin/status HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    let status = raw(admin, status.as_bytes()).await.body_json();
    assert_eq!(status["suspended"][0]["partner"], "globex", "{status}");

    // An operator lifts it.
    let unsuspend = format!(
        "POST /admin/partners/globex/unsuspend HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(admin, unsuspend.as_bytes()).await.status(), 200);
    assert_eq!(
        raw(served.addr, &raw_get("/v1/reports/1", GLOBEX))
            .await
            .status(),
        200
    );

    // Tripped again, it lifts by itself after suspend_for.
    trip().await;
    assert_eq!(
        raw(served.addr, &raw_get("/v1/reports/1", GLOBEX))
            .await
            .status(),
        403
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            raw(served.addr, &raw_get("/v1/reports/1", GLOBEX))
                .await
                .status()
                == 200
        })
        .await
    );

    let records = audit_records(&dir.join("trail"));
    let events: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["kind"] == "suspension")
        .map(|r| {
            (
                r["action"].as_str().unwrap_or("").to_owned(),
                r["by"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("suspended".into(), "misuse".into()),
            ("lifted".into(), "operator".into()),
            ("suspended".into(), "misuse".into()),
            ("lifted".into(), "expiry".into()),
        ]
    );
}
