//! Operations: admin endpoints, metrics with bounded labels, hot reload under traffic.

use std::time::Duration;

use crate::support::*;

const TOKEN: &str = "admin-token-for-tests-0123456789";

fn with_admin(extra: &str) -> String {
    format!("{FIXTURE}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n{extra}")
}

/// Metric series (sample lines) in an exposition.
fn series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplit_once(' ').map_or(l, |(s, _)| s))
        .collect()
}

fn value(text: &str, series_prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series_prefix))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[tokio::test]
async fn health_readiness_and_metrics_endpoints() {
    let gw = Gateway::start_with(&with_admin("")).await;
    for path in ["/healthz", "/livez", "/readyz"] {
        let r = gw.admin("GET", path, None).await;
        assert_eq!(r.status, 200, "{path}");
    }
    let m = gw.admin("GET", "/metrics", None).await;
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(gw.admin("GET", "/nope", None).await.status, 404);
    assert_eq!(gw.admin("POST", "/metrics", None).await.status, 405);
}

#[tokio::test]
async fn admin_endpoints_need_the_bearer_token() {
    let gw = Gateway::start_with(&with_admin("")).await;
    for token in [None, Some("wrong"), Some("")] {
        let r = gw.admin("GET", "/admin/status", token).await;
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(gw.admin("POST", "/admin/reload", token).await.status, 401);
    }
    let r = gw.admin("GET", "/admin/status", Some(TOKEN)).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["partners"], 5);
    assert_eq!(j["routes"], 8);
    assert_eq!(j["keys"], 7);
    assert_eq!(j["generation"], 1);
    assert_eq!(j["config_sha256"].as_str().map(str::len), Some(64));
    // Without a configured token the admin endpoints are off.
    let open =
        Gateway::start_with(&format!("{FIXTURE}\n[admin]\nlisten = \"127.0.0.1:0\"\n")).await;
    assert_eq!(
        open.admin("GET", "/admin/status", Some(TOKEN)).await.status,
        403
    );
}

#[tokio::test]
async fn every_spec_metric_is_exported_with_config_labels() {
    let gw = Gateway::start_with(&with_admin("")).await;
    gw.get("/v1/reports/1", ACME).await;
    gw.send("PUT", "/v1/reports/1", &[("x-api-key", GLOBEX)], "")
        .await;
    gw.send("GET", "/v1/reports/1", &[], "").await;
    gw.get("/v1/down", ACME).await;
    let text =
        String::from_utf8(gw.admin("GET", "/metrics", None).await.body.to_vec()).expect("utf-8");
    for name in [
        "kwanus_gateway_requests_total",
        "kwanus_gateway_request_duration_seconds",
        "kwanus_gateway_denials_total",
        "kwanus_gateway_permission_uses_total",
        "kwanus_gateway_upstream_duration_seconds",
        "kwanus_gateway_upstream_errors_total",
        "kwanus_gateway_config_reloads_total",
        "kwanus_gateway_partner_info",
        "kwanus_gateway_connections_active",
    ] {
        assert!(
            text.contains(&format!("# HELP {name}")),
            "{name} has no HELP:\n{text}"
        );
        assert!(
            text.contains(&format!("\n{name}")),
            "{name} missing:\n{text}"
        );
    }
    let has = |s: &str| text.lines().any(|l| l.starts_with(s));
    assert!(
        has(r#"kwanus_gateway_requests_total{partner="acme",route="get-report",status="200"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"kwanus_gateway_requests_total{partner="-",route="-",status="401"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"kwanus_gateway_denials_total{partner="globex",code="permission_denied"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"kwanus_gateway_permission_uses_total{partner="acme",permission="reports:read"}"#),
        "{text}"
    );
    assert!(
        has(
            r#"kwanus_gateway_upstream_errors_total{upstream="down",kind="upstream_connect_failed"} 1"#
        ),
        "{text}"
    );
    assert!(
        has(r#"kwanus_gateway_partner_info{partner="initech",tier="2",stage="deprecation"} 1"#),
        "{text}"
    );
    assert!(
        has(r#"kwanus_gateway_request_duration_seconds_bucket{route="get-report",le="0.0001"}"#),
        "{text}"
    );
    assert!(
        has(r#"kwanus_gateway_request_duration_seconds_bucket{route="get-report",le="10"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_paths_and_keys_do_not_grow_the_series() {
    let gw = Gateway::start_with(&with_admin("")).await;
    let scrape = || async {
        String::from_utf8(gw.admin("GET", "/metrics", None).await.body.to_vec()).expect("utf-8")
    };
    // Warm up each kind of answer once: 404, 401, and the 429 of the per-address limit on
    // unauthenticated requests, which the loop below runs into.
    gw.get("/v1/unknown/warm", ACME).await;
    for _ in 0..1000 {
        let r = gw
            .send(
                "GET",
                "/v1/reports/1",
                &[("x-api-key", "kwp_unknown_warm")],
                "",
            )
            .await;
        if r.status == 429 {
            break;
        }
    }
    let before = series(&scrape().await).len();
    for i in 0..1000 {
        if i % 2 == 0 {
            gw.get(&format!("/v1/unknown/{i}/x{i}"), ACME).await;
        } else {
            let key = format!("kwp_unknown_key_{i}");
            gw.send(
                "GET",
                &format!("/v1/reports/{i}"),
                &[("x-api-key", &key)],
                "",
            )
            .await;
        }
    }
    let after_text = scrape().await;
    assert_eq!(
        series(&after_text).len(),
        before,
        "series grew with client input"
    );
    assert!(!after_text.contains("kwp_unknown_key"));
    assert!(!after_text.contains("/v1/unknown/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_traffic_fail_no_request() {
    let dir = temp_dir("reload20");
    let path = dir.join("gateway.toml");
    let gw = Gateway::start_file(&with_admin(""), &path, false).await;
    let original = std::fs::read_to_string(&path).expect("read");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = gw.app.addr();
    let mut traffic = Vec::new();
    for _ in 0..4 {
        let stop = stop.clone();
        traffic.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = raw(addr, &raw_get("/v1/reports/1", GLOBEX)).await;
                if r.status() == 200 {
                    ok += 1
                } else {
                    failed += 1
                }
            }
            (ok, failed)
        }));
    }
    for i in 0..20 {
        // Alternate between two valid files that differ (a comment), so each reload swaps.
        std::fs::write(&path, format!("{original}\n# reload {i}\n")).expect("write");
        let r = gw.admin("POST", "/admin/reload", Some(TOKEN)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.json()["result"], "ok");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total_ok = 0;
    for t in traffic {
        let (ok, failed) = t.await.expect("join");
        assert_eq!(failed, 0, "requests failed during reloads");
        total_ok += ok;
    }
    assert!(total_ok > 20, "traffic ran during the reloads ({total_ok})");
    let status = gw.admin("GET", "/admin/status", Some(TOKEN)).await.json();
    assert_eq!(status["generation"], 21);
    assert_eq!(status["last_reload"]["trigger"], "admin");

    // Unchanged: a no-op. Removed permission: the next request is denied.
    let r = gw.admin("POST", "/admin/reload", Some(TOKEN)).await;
    assert_eq!(r.json()["result"], "unchanged");
    let narrowed = original.replacen(
        "permissions = [\"reports:read\", \"workflows:trigger\"]\nkeys = [{ id = \"globex-1\"",
        "permissions = [\"workflows:trigger\"]\nkeys = [{ id = \"globex-1\"",
        1,
    );
    assert_ne!(narrowed, original);
    std::fs::write(&path, &narrowed).expect("write");
    assert_eq!(
        gw.admin("POST", "/admin/reload", Some(TOKEN)).await.status,
        200
    );
    let r = gw.get("/v1/reports/1", GLOBEX).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, "permission_denied".into())
    );

    // A bad file changes nothing and is counted.
    std::fs::write(&path, original.replace("tier = 2", "tier = 5")).expect("write");
    let r = gw.admin("POST", "/admin/reload", Some(TOKEN)).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["problems"][0]
            .as_str()
            .unwrap_or("")
            .contains(".tier")
    );
    assert_eq!(
        gw.get("/v1/reports/1", GLOBEX).await.status,
        403,
        "the narrowed config stays"
    );
    let text =
        String::from_utf8(gw.admin("GET", "/metrics", None).await.body.to_vec()).expect("utf-8");
    assert_eq!(
        value(&text, r#"kwanus_gateway_config_reloads_total{result="ok"}"#),
        Some(21.0)
    );
    assert_eq!(
        value(
            &text,
            r#"kwanus_gateway_config_reloads_total{result="error"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"kwanus_gateway_config_reloads_total{result="unchanged"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_reloaded_by_the_watcher() {
    let dir = temp_dir("watch");
    let path = dir.join("gateway.toml");
    let gw = Gateway::start_file(&with_admin(""), &path, true).await;
    assert_eq!(gw.get("/v1/reports/1", ACME).await.status, 200);
    let original = std::fs::read_to_string(&path).expect("read");
    let narrowed = original.replacen(
        "permissions = [\"reports:read\"]\nkeys = [\n  { id = \"acme-current\"",
        "permissions = []\nkeys = [\n  { id = \"acme-current\"",
        1,
    );
    assert_ne!(narrowed, original);
    // Write elsewhere and rename over the file, as editors and config management do.
    let tmp = dir.join("gateway.toml.tmp");
    std::fs::write(&tmp, &narrowed).expect("write");
    std::fs::rename(&tmp, &path).expect("rename");
    let mut denied = false;
    for _ in 0..100 {
        if gw.get("/v1/reports/1", ACME).await.status == 403 {
            denied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(denied, "the watcher did not reload the changed file");
    let status = gw.admin("GET", "/admin/status", Some(TOKEN)).await.json();
    assert_eq!(status["last_reload"]["trigger"], "file_watch");
}

#[tokio::test]
async fn readyz_reports_an_unwritable_audit_trail() {
    let dir = temp_dir("readyz");
    let trail = dir.join("trail");
    std::fs::create_dir_all(trail.join("audit-000002.jsonl")).expect("occupy");
    let extra = format!(
        "[audit]\ndir = {:?}\nrotate_bytes = 4096\n",
        trail.display().to_string()
    );
    let gw = Gateway::start_with(&with_admin(&extra)).await;
    for i in 0..200 {
        if gw.get(&format!("/v1/reports/{i}"), ACME).await.status == 503 {
            break;
        }
    }
    let r = gw.admin("GET", "/readyz", None).await;
    assert_eq!(r.status, 503);
    assert!(String::from_utf8_lossy(&r.body).contains("audit"));
    assert_eq!(
        gw.admin("GET", "/healthz", None).await.status,
        200,
        "alive, just not ready"
    );
    let text =
        String::from_utf8(gw.admin("GET", "/metrics", None).await.body.to_vec()).expect("utf-8");
    assert!(
        value(&text, "kwanus_gateway_audit_errors_total").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
}

/// Sends one keep-alive GET on `conn` and reads its response; returns the head.
async fn read_response(conn: &mut tokio::net::TcpStream, key: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET /v1/reports/42 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {key}\r\n\r\n");
    conn.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed mid-response");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("content-length"));
            if buf.len() >= end + 4 + length {
                return text[..end].to_owned();
            }
        }
    }
}

/// Open connections per worker, from `/admin/status`.
async fn worker_loads(gw: &Gateway) -> Vec<u64> {
    let status = gw.admin("GET", "/admin/status", Some(TOKEN)).await.json();
    status["workers"]
        .as_array()
        .expect("workers in status")
        .iter()
        .map(|n| n.as_u64().expect("a count"))
        .collect()
}

#[tokio::test]
async fn connections_are_spread_over_the_workers_and_all_served() {
    let template = with_admin("").replace(
        "client_header_timeout = \"2s\"",
        "client_header_timeout = \"60s\"",
    );
    let gw = Gateway::start_workers(&template, 3).await;
    assert_eq!(worker_loads(&gw).await, vec![0, 0, 0]);

    // Twelve keep-alive connections, opened one after another and held open; each serves a
    // request, so every worker's upstream pool is used too.
    let mut conns = Vec::new();
    for n in 1..=12u64 {
        let mut conn = tokio::net::TcpStream::connect(gw.app.addr())
            .await
            .expect("connect");
        let head = read_response(&mut conn, ACME).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        conns.push(conn);
        assert_eq!(worker_loads(&gw).await.iter().sum::<u64>(), n);
    }
    let loads = worker_loads(&gw).await;
    assert_eq!(loads.len(), 3);
    // Each worker takes a share: a worker more than one connection ahead of the least loaded
    // leaves new connections to the others (one that waits too long is not starved, so allow
    // some slack on a busy machine).
    assert!(
        loads.iter().all(|&l| (2..=6).contains(&l)),
        "unbalanced: {loads:?}"
    );
    assert_eq!(gw.upstream.seen().len(), 12);

    drop(conns);
    for _ in 0..200 {
        if worker_loads(&gw).await.iter().sum::<u64>() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "closed connections still counted: {:?}",
        worker_loads(&gw).await
    );
}

#[test]
fn the_file_watcher_reloads_on_content_changes_and_never_retries_a_failed_content() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = temp_dir("watch-loop");
    let upstream = rt.block_on(Upstream::start());
    let down = rt.block_on(closed_port());
    let path = dir.join("gateway.toml");
    let mut good = render(&with_admin(""), &upstream, down);
    good.push_str(no_trail_unless(&good));
    std::fs::write(&path, &good).expect("write");
    let served = Served::start_watching(&path);
    let admin = served.admin.expect("admin");
    let errors = || {
        let m = rt.block_on(http_get(admin, "/metrics")).text;
        sample(&m, "kwanus_gateway_config_reloads_total{result=\"error\"}").unwrap_or(-1.0)
    };
    // An invalid file is tried once; the gateway's own reads of it are not changes.
    let bad = good.replacen("tier = 1", "tier = 9", 1);
    std::fs::write(&path, &bad).expect("write");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(errors(), 1.0);
    // Writing the same failed content again is not retried either.
    std::fs::write(&path, &bad).expect("write");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(errors(), 1.0);
    // A different content is tried.
    std::fs::write(&path, good.replacen("tier = 1", "tier = 8", 1)).expect("write");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(errors(), 2.0);
    // And a valid one is loaded.
    std::fs::write(
        &path,
        good.replacen("drain_timeout = \"5s\"", "drain_timeout = \"6s\"", 1),
    )
    .expect("write");
    let mut ok = 0.0;
    for _ in 0..40 {
        let m = rt.block_on(http_get(admin, "/metrics")).text;
        ok = sample(&m, "kwanus_gateway_config_reloads_total{result=\"ok\"}").unwrap_or(0.0);
        if ok >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ok, 1.0);
    assert_eq!(errors(), 2.0);
}
