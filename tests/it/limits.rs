//! Rate limits and idempotent requests, on one node (memory) and across two gateway
//! processes sharing a real `redis-server`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

/// The fixture with `idempotency = "optional"` on the slow and down routes.
fn fixture() -> String {
    let slow = "name = \"slow\"\nmethod = \"GET\"\npath = \"/v1/slow/{ms}\"\npermission = \"reports:read\"\nupstream = \"api\"\n";
    let down = "name = \"down\"\nmethod = \"GET\"\npath = \"/v1/down\"\npermission = \"reports:read\"\nupstream = \"down\"\n";
    let text = FIXTURE
        .replacen(slow, &format!("{slow}idempotency = \"optional\"\n"), 1)
        .replacen(down, &format!("{down}idempotency = \"optional\"\n"), 1);
    assert_ne!(text, FIXTURE, "fixture shape changed");
    text
}

fn with_tier1_rate(text: &str, rate: &str) -> String {
    format!("{text}\n[tiers.1]\n{rate}\n")
}

#[tokio::test]
async fn tier_rates_limit_with_429_and_ratelimit_headers() {
    let gw = Gateway::start_with(&with_tier1_rate(
        &fixture(),
        "rate_per_second = 2\nburst = 3",
    ))
    .await;
    for _ in 0..3 {
        let r = gw.get("/v1/reports/1", ACME).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("ratelimit-policy").as_deref(),
            Some("\"partner\";q=3;w=2")
        );
        assert!(
            r.header("ratelimit")
                .is_some_and(|v| v.starts_with("\"partner\";r="))
        );
    }
    let r = gw.get("/v1/reports/1", ACME).await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited".into()));
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    assert!(r.header("ratelimit").is_some_and(|v| v.contains("r=0")));
    // Denied requests consume nothing: hammering while limited does not push the next slot out.
    for _ in 0..20 {
        assert_eq!(gw.get("/v1/reports/1", ACME).await.status, 429);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        gw.get("/v1/reports/1", ACME).await.status,
        200,
        "one slot back after 1/rate"
    );
    assert_eq!(gw.upstream.seen().len(), 4);
    // Partners of other tiers are not limited by tier 1's rate; outcomes carry the code.
    assert_eq!(gw.get("/v1/reports/1", GLOBEX).await.status, 200);
    let limited = gw
        .outcomes
        .all()
        .iter()
        .filter(|o| o.code == Some("rate_limited"))
        .count();
    assert_eq!(limited, 21);
}

#[tokio::test]
async fn a_partner_override_beats_its_tier() {
    let text = with_tier1_rate(&fixture(), "rate_per_second = 100\nburst = 100").replacen(
        "id = \"acme\"\ntier = 1\nstage = \"active\"\n",
        "id = \"acme\"\ntier = 1\nstage = \"active\"\nrate_per_second = 0.5\nburst = 1\n",
        1,
    );
    let gw = Gateway::start_with(&text).await;
    let first = gw.get("/v1/reports/1", ACME).await;
    assert_eq!(first.status, 200);
    // The policy announced is the partner's own (burst 1 over 2 s), not the tier's 100.
    assert_eq!(
        first.header("ratelimit-policy").as_deref(),
        Some("\"partner\";q=1;w=2")
    );
    assert_eq!(gw.get("/v1/reports/1", ACME).await.status, 429);
}

/// A GET by acme with an `Idempotency-Key`.
async fn acme_get(gw: &Gateway, path: &str, key: &str) -> Reply {
    gw.send(
        "GET",
        path,
        &[("x-api-key", ACME), ("idempotency-key", key)],
        "",
    )
    .await
}

async fn post_run(gw: &Gateway, key: &str, body: &str) -> Reply {
    gw.send(
        "POST",
        "/v1/workflows/nightly/runs",
        &[("x-api-key", GLOBEX), ("idempotency-key", key)],
        body,
    )
    .await
}

#[tokio::test]
async fn idempotent_requests_replay_refuse_reuse_and_conflict() {
    let gw = Gateway::start_with(&fixture()).await;
    let first = post_run(&gw, "run-1", "{\"n\":1}").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post_run(&gw, "run-1", "{\"n\":1}").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("content-type"), first.header("content-type"));
    assert_eq!(
        gw.upstream.seen().len(),
        1,
        "a replay never reaches the upstream"
    );

    let reused = post_run(&gw, "run-1", "{\"n\":2}").await;
    assert_eq!(
        (reused.status.as_u16(), reused.code()),
        (422, "idempotency_key_reused".into())
    );
    assert_eq!(gw.upstream.seen().len(), 1);

    // In flight: a second request with the key while the first waits on the upstream.
    let addr = gw.app.addr();
    let first = tokio::spawn(async move {
        let req = format!(
            "GET /v1/slow/400 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\nIdempotency-Key: slow-1\r\nConnection: close\r\n\r\n"
        );
        raw(addr, req.as_bytes()).await
    });
    let in_flight = || async {
        gw.upstream
            .seen()
            .iter()
            .any(|s| s.target == "/v1/slow/400")
    };
    assert!(eventually(Duration::from_secs(5), in_flight).await);
    let r = acme_get(&gw, "/v1/slow/400", "slow-1").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "idempotency_conflict".into())
    );
    assert_eq!(first.await.expect("join").status(), 200);
    let r = acme_get(&gw, "/v1/slow/400", "slow-1").await;
    assert_eq!(r.header("idempotent-replayed").as_deref(), Some("true"));

    // Gateway-made 5xx are not stored: the retry runs again.
    for _ in 0..2 {
        let r = acme_get(&gw, "/v1/down", "down-1").await;
        assert_eq!(r.status, 502);
    }

    // The outcomes (and so the audit trail) carry the key and whether it was a replay.
    let o = gw.outcomes.all();
    assert_eq!(o[0].idempotency_key.as_deref(), Some("run-1"));
    assert!(!o[0].replayed && o[1].replayed);
    assert_eq!(o[1].reason, "idempotent_replay");
    assert_eq!(o[1].upstream, None);
}

/// Two gateway processes on one Redis, in front of one upstream.
async fn replicas(dir: &Path, redis: &Redis, extra: &str) -> (Upstream, Served, Served) {
    let upstream = Upstream::start().await;
    let text = format!(
        "{}\n[state]\nbackend = \"redis\"\nredis_url = \"{}\"\n{extra}",
        fixture(),
        redis.url()
    );
    let config = dir.join("gateway.toml");
    std::fs::write(&config, render(&text, &upstream, closed_port().await)).expect("config");
    let a = Served::start(&config);
    let b = Served::start(&config);
    (upstream, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_rate_within_five_percent() {
    let dir = temp_dir("redis-rate");
    let redis = Redis::start(&dir).await;
    let (_upstream, a, b) = replicas(
        &dir,
        &redis,
        "[tiers.2]\nrate_per_second = 40\nburst = 10\n",
    )
    .await;
    let targets: [SocketAddr; 2] = [a.addr, b.addr];
    let started = tokio::time::Instant::now();
    let window = Duration::from_secs(3);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let addr = targets[i % 2];
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u32;
            while started.elapsed() < window {
                if raw(addr, &raw_get("/v1/reports/1", GLOBEX)).await.status() == 200 {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.expect("join");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let expected = 10.0 + 40.0 * elapsed;
    let error = (f64::from(accepted) - expected).abs() / expected;
    assert!(
        error <= 0.05,
        "accepted {accepted}, expected {expected:.0} over {elapsed:.2}s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_on_one_replica_is_replayed_on_the_other() {
    let dir = temp_dir("redis-replay");
    let redis = Redis::start(&dir).await;
    let (upstream, a, b) = replicas(&dir, &redis, "").await;
    let req = |addr: SocketAddr, key: &str| {
        let body = "{\"n\":1}";
        let text = format!(
            "POST /v1/workflows/nightly/runs HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {GLOBEX}\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        async move { raw(addr, text.as_bytes()).await }
    };
    let first = req(a.addr, "cross-1").await;
    assert_eq!(first.status(), 200, "{}", first.text);
    let second = req(b.addr, "cross-1").await;
    assert_eq!(second.status(), 200, "{}", second.text);
    assert!(
        second
            .text
            .to_ascii_lowercase()
            .contains("idempotent-replayed: true"),
        "{}",
        second.text
    );
    assert_eq!(upstream.seen().len(), 1, "the upstream saw it once");

    // Two concurrent first requests with one key, one on each replica: exactly one forwarded.
    let slow = |addr: SocketAddr| async move {
        let text = format!(
            "GET /v1/slow/500 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\nIdempotency-Key: race-1\r\nConnection: close\r\n\r\n"
        );
        raw(addr, text.as_bytes()).await.status()
    };
    let (x, y) = tokio::join!(slow(a.addr), slow(b.addr));
    let mut statuses = [x, y];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let slow_seen = upstream
        .seen()
        .iter()
        .filter(|s| s.target.starts_with("/v1/slow/"))
        .count();
    assert_eq!(slow_seen, 1);
}

#[tokio::test]
async fn redis_down_limits_rates_per_replica_and_refuses_idempotency() {
    let text = format!(
        "{}\n[state]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{}/0\"\n",
        with_tier1_rate(&fixture(), "rate_per_second = 1\nburst = 1"),
        closed_port().await.port()
    );
    let gw = Gateway::start_with(&text).await;
    // Rate limits are not silently off: this replica's memory holds them meanwhile.
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(gw.get("/v1/reports/1", ACME).await.status.as_u16());
        }
        v
    };
    assert_eq!(statuses, [200, 429, 429]);
    let r = post_run(&gw, "k-1", "{}").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (503, "state_unavailable".into())
    );
    assert!(
        gw.upstream
            .seen()
            .iter()
            .all(|s| !s.target.contains("workflows"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_visible_and_found_again_in_the_background() {
    const TOKEN: &str = "admin-token-for-tests-0123456789";
    let dir = temp_dir("redis-down");
    let port = closed_port().await.port();
    let upstream = Upstream::start().await;
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256 = \"@{TOKEN}\"\n[state]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{port}/0\"\n",
        with_tier1_rate(&fixture(), "rate_per_second = 1\nburst = 5")
    );
    let config = dir.join("gateway.toml");
    std::fs::write(&config, render(&text, &upstream, closed_port().await)).expect("config");
    let served = Served::start(&config);
    let admin = served.admin.expect("admin");
    // Sixteen clients at once: every request is answered, from this replica's rate memory.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let addr = served.addr;
        tasks.push(tokio::spawn(async move {
            raw(addr, &raw_get("/v1/reports/1", ACME)).await.status()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let status = t.await.expect("join");
        assert!(status == 200 || status == 429, "{status}");
        ok += usize::from(status == 200);
    }
    assert!(
        (1..=6).contains(&ok),
        "{ok} of 16 allowed with a burst of 5"
    );
    let status = |admin| async move {
        let r = raw(
            admin,
            format!("GET /admin/status HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        r.body_json()["state"].clone()
    };
    let mut s = status(admin).await;
    for _ in 0..50 {
        if s["errors"]["connect"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        s = status(admin).await;
    }
    assert_eq!(s["backend"], "redis");
    assert_eq!(s["reachable"], false, "{s}");
    assert!(s["since"].is_string(), "{s}");
    assert!(s["rate_fallback"].as_u64() >= Some(16), "{s}");
    let metrics = http_get(admin, "/metrics").await.text;
    for op in ["connect", "rate"] {
        let series = format!("kwanus_gateway_state_errors_total{{backend=\"redis\",op=\"{op}\"}}");
        assert!(
            sample(&metrics, &series).unwrap_or(0.0) >= 1.0,
            "{series}\n{metrics}"
        );
    }
    // Redis comes up: the gateway finds it by itself and idempotent requests work again.
    let _redis = Redis::start_on(&dir, port).await;
    let mut reachable = false;
    for _ in 0..100 {
        if status(admin).await["reachable"] == true {
            reachable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reachable, "the background task reconnected");
    let body = "{}";
    let post = format!(
        "POST /v1/workflows/nightly/runs HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {GLOBEX}\r\nIdempotency-Key: back-1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(raw(served.addr, post.as_bytes()).await.status(), 200);
}

/// `fixture()` plus an idempotent workflow route to the slow upstream path.
fn with_slow_run(extra: &str) -> String {
    format!(
        "{}\n[[routes]]\nname = \"slow-run\"\nmethod = \"POST\"\npath = \"/v1/slow/{{ms}}\"\npermission = \"workflows:trigger\"\nupstream = \"api\"\nidempotency = \"required\"\n{extra}",
        fixture()
    )
}

fn slow_post(ms: u64, key: &str) -> Vec<u8> {
    format!(
        "POST /v1/slow/{ms} HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {GLOBEX}\r\nIdempotency-Key: {key}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .into_bytes()
}

#[tokio::test]
async fn an_abandoned_idempotent_request_runs_once_and_its_retry_gets_the_stored_answer() {
    let gw = Gateway::start_with(&with_slow_run("")).await;
    // The client sends, waits 0.3 s of the upstream's 0.6 s (upstream_timeout is 0.7 s), and
    // goes away.
    let mut s = tokio::net::TcpStream::connect(gw.app.addr())
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut s, &slow_post(600, "pay-42"))
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Its retry while the first is still at the upstream: in flight, not run again.
    let r = raw(gw.app.addr(), &slow_post(600, "pay-42")).await;
    assert_eq!(r.status(), 409, "{}", r.text);
    // Once the upstream answered, the gateway has stored it: the retry gets that answer.
    let mut replayed = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = raw(gw.app.addr(), &slow_post(600, "pay-42")).await;
        if r.status() == 200 {
            replayed = Some(r);
            break;
        }
        assert_eq!(r.status(), 409, "{}", r.text);
    }
    let r = replayed.expect("the retry was answered from the stored response");
    assert!(
        r.text
            .to_ascii_lowercase()
            .contains("idempotent-replayed: true"),
        "{}",
        r.text
    );
    let posts = gw
        .upstream
        .seen()
        .iter()
        .filter(|s| s.method == "POST")
        .count();
    assert_eq!(posts, 1, "the upstream ran the side effect once");
}

#[tokio::test]
async fn a_refused_connection_releases_the_key_for_a_retry() {
    // Nothing reached the upstream, so the key is free again at once.
    let text = with_slow_run("").replace(
        "name = \"slow-run\"\nmethod = \"POST\"\npath = \"/v1/slow/{ms}\"\npermission = \"workflows:trigger\"\nupstream = \"api\"",
        "name = \"slow-run\"\nmethod = \"POST\"\npath = \"/v1/slow/{ms}\"\npermission = \"workflows:trigger\"\nupstream = \"down\"",
    );
    let gw = Gateway::start_with(&text).await;
    for _ in 0..2 {
        let r = raw(gw.app.addr(), &slow_post(1, "refused-1")).await;
        assert_eq!(r.status(), 502, "{}", r.text);
    }
}

#[tokio::test]
async fn one_partner_cannot_fill_the_idempotency_store() {
    let gw = Gateway::start_with(&with_slow_run(
        "\n[state]\nidempotency_max_per_partner = 3\nidempotency_max_body_bytes = 10\n",
    ))
    .await;
    for i in 0..3 {
        assert_eq!(post_run(&gw, &format!("q-{i}"), "{}").await.status, 200);
    }
    let r = post_run(&gw, "q-3", "{}").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited".into()));
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("idempotency_max_per_partner"),
        "{:?}",
        r.json()
    );
    assert_eq!(
        gw.outcomes.all().last().map(|o| o.reason),
        Some("idempotency_quota_exceeded")
    );
    // A key already held is still answered from its record (here: too large to have been
    // kept, so 409, not the quota's 429), and other partners are untouched.
    let held = post_run(&gw, "q-0", "{}").await;
    assert_eq!(
        (held.status.as_u16(), held.code()),
        (409, "idempotency_conflict".into())
    );
    let r = acme_get(&gw, "/v1/slow/1", "acme-1").await;
    assert_eq!(r.status, 200);
    // Responses larger than idempotency_max_body_bytes are forwarded, not stored: the
    // replay says so.
    let again = acme_get(&gw, "/v1/slow/1", "acme-1").await;
    assert_eq!(
        (again.status.as_u16(), again.code()),
        (409, "idempotency_conflict".into())
    );
    assert!(
        again.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("idempotency_max_body_bytes"),
        "{:?}",
        again.json()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_partner_idempotency_quota_holds_across_replicas_in_redis() {
    let dir = temp_dir("redis-quota");
    let redis = Redis::start(&dir).await;
    let (upstream, a, b) = replicas(&dir, &redis, "idempotency_max_per_partner = 3\n").await;
    let post = |addr: SocketAddr, key: String| async move {
        let text = format!(
            "POST /v1/workflows/nightly/runs HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {GLOBEX}\r\nIdempotency-Key: {key}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        raw(addr, text.as_bytes()).await.status()
    };
    let mut statuses = Vec::new();
    for i in 0..5 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        statuses.push(post(addr, format!("rq-{i}")).await);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // Another partner still has its own quota.
    let text = format!(
        "GET /v1/slow/1 HTTP/1.1\r\nHost: gw\r\nX-Api-Key: {ACME}\r\nIdempotency-Key: other-1\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(raw(a.addr, text.as_bytes()).await.status(), 200);
    assert_eq!(upstream.seen().len(), 4);
}
