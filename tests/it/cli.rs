//! The real binary: `check`, `keygen`, `serve` with SIGHUP reload and SIGTERM drain, `demo`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_kwanus-gateway");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_shipped_config_with_a_summary() {
    // As an operator runs it: beside the secrets folder with the audit signing key.
    let dir = temp_dir("check-shipped");
    std::fs::create_dir_all(dir.join("secrets")).expect("mkdir");
    std::fs::rename(audit_key(&dir), dir.join("secrets/audit-ed25519.pem")).expect("key");
    let config = std::fs::canonicalize("config/gateway.toml").expect("config");
    let out = Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(&config)
        .current_dir(&dir)
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every safeguard on: no warning.
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("ok: 3 partners, 3 keys, 4 routes"), "{text}");
}

#[test]
fn check_lists_every_problem_with_its_place_and_exits_1() {
    let dir = temp_dir("check");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        r#"
[permissions]
"reports:read" = { kind = "read" }
"runs:start" = { kind = "workflow" }

[[upstreams]]
name = "api"
url = "htp://nowhere"

[[routes]]
name = "r"
method = "GET"
path = "/internal/x"
permission = "reports:read"
upstream = "api"

[[partners]]
id = "a"
tier = 1
stage = "deprecation"
permissions = ["reports:*", "runs:start", "made:up"]
keys = [{ id = "k", sha256 = "not-hex" }]
"#,
    )
    .expect("write");
    let (code, _, err) = run(&["check", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{err}");
    for place in [
        "audit",
        "upstreams[0].url",
        "routes[0].path",
        "partners[0].sunset",
        "partners[0].permissions[0]",
        "partners[0].permissions[1]",
        "partners[0].permissions[2]",
        "partners[0].keys[0].sha256",
    ] {
        assert!(
            err.contains(&format!("  {place}: ")),
            "{place} missing from:\n{err}"
        );
    }
    assert!(err.contains("8 problem(s)"), "{err}");
    // A file without [audit] is told the line to add.
    assert!(err.contains("add [audit] with dir = "), "{err}");
}

#[test]
fn check_reports_syntax_errors_with_line_numbers() {
    let dir = temp_dir("syntax");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = \n").expect("write");
    let (code, _, err) = run(&["check", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn keygen_prints_a_key_once_and_only_its_hash_in_toml() {
    let (code, out, _) = run(&["keygen", "--partner", "acme"]);
    assert_eq!(code, 0);
    let key = out
        .lines()
        .find(|l| l.starts_with("kwp_"))
        .expect("a kwp_ key line")
        .to_owned();
    assert!(key.len() >= 4 + 32, "at least 128 bits: {key}");
    assert_eq!(out.matches(&key).count(), 1, "the key is printed once");
    let sha = hex::encode(kwanus_gateway::auth::digest(key.as_bytes()));
    let toml_line = out
        .lines()
        .find(|l| l.starts_with("keys = "))
        .expect("toml line");
    assert!(toml_line.contains(&sha), "{toml_line}");
    let (_, again, _) = run(&["keygen", "--partner", "acme"]);
    assert!(!again.contains(&key), "fresh key each time");
    let (bad, _, _) = run(&["keygen", "--partner", "not valid"]);
    assert_ne!(bad, 0);
}

async fn status_of(addr: SocketAddr, target: &str, key: &str) -> u16 {
    raw(addr, &raw_get(target, key)).await.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reloads_on_sighup_and_keeps_the_old_config_when_the_new_one_is_bad() {
    let upstream = Upstream::start().await;
    let down = closed_port().await;
    let dir = temp_dir("reload");
    let path = dir.join("gateway.toml");
    let trail = dir.join("trail");
    let _ = std::fs::remove_dir_all(&trail);
    let fixture = format!(
        "{FIXTURE}\n[audit]\ndir = {:?}\ndurability = \"buffered\"\nflush_interval = \"10ms\"\n",
        trail.display().to_string()
    );
    let good = render(&fixture, &upstream, down);
    std::fs::write(&path, &good).expect("write");
    let served = Served::start(&path);
    assert_eq!(status_of(served.addr, "/v1/reports/1", ACME).await, 200);
    // The process asked the kernel for no transparent huge pages (main.rs; kernels that
    // report it say so in the status file).
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", served.child.id())).expect("status");
    if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }

    // A removed permission denies the next request.
    let narrowed = good.replacen(
        "permissions = [\"reports:read\"]\nkeys = [\n  { id = \"acme-current\"",
        "permissions = []\nkeys = [\n  { id = \"acme-current\"",
        1,
    );
    assert_ne!(narrowed, good, "fixture shape changed");
    std::fs::write(&path, &narrowed).expect("write");
    served.signal("-HUP");
    served.wait_log("configuration reloaded");
    assert_eq!(status_of(served.addr, "/v1/reports/1", ACME).await, 403);

    // A bad file changes nothing.
    std::fs::write(&path, good.replace("tier = 2", "tier = 9")).expect("write");
    served.signal("-HUP");
    served.wait_log("reload refused");
    assert_eq!(status_of(served.addr, "/v1/reports/1", ACME).await, 403);
    assert_eq!(status_of(served.addr, "/v1/reports/1", GLOBEX).await, 200);

    // Every configuration change is in the audit trail: who asked, old and new hashes.
    served.signal("-TERM");
    served.wait_log("audit trail closed");
    let out = Command::new(BIN)
        .args(["audit", "query", "--json"])
        .arg(&trail)
        .output()
        .expect("query");
    let configs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|v: &serde_json::Value| v["kind"] == "config")
        .collect();
    let summary: Vec<(&str, &str)> = configs
        .iter()
        .map(|c| {
            (
                c["trigger"].as_str().unwrap_or("?"),
                c["result"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("startup", "ok"), ("signal", "ok"), ("signal", "error")]
    );
    assert_eq!(
        configs[1]["old_config_sha256"],
        configs[0]["new_config_sha256"]
    );
    assert_ne!(
        configs[1]["new_config_sha256"],
        configs[1]["old_config_sha256"]
    );
    assert!(configs[2]["detail"].as_str().unwrap_or("").contains("tier"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_drains_in_flight_requests_on_sigterm_and_exits_0() {
    let upstream = Upstream::start().await;
    let down = closed_port().await;
    let dir = temp_dir("drain");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, render(FIXTURE, &upstream, down)).expect("write");
    let mut served = Served::start(&path);
    let addr = served.addr;
    let in_flight = tokio::spawn(async move { raw(addr, &raw_get("/v1/slow/500", ACME)).await });
    for _ in 0..200 {
        if !upstream.seen().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    served.signal("-TERM");
    let r = in_flight.await.expect("join");
    assert_eq!(r.status(), 200, "{}", r.text);
    let status = tokio::task::spawn_blocking(move || served.child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_refuses_an_invalid_config_with_exit_64() {
    let dir = temp_dir("invalid");
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        "[[partners]]\nid = \"a\"\ntier = 7\nstage = \"active\"\n",
    )
    .expect("write");
    let (code, _, err) = run(&["serve", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(code, 64);
    assert!(err.contains("partners[0].tier"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_behaves_as_printed() {
    let log = std::fs::File::create(temp_dir("demo").join("demo.log")).expect("log file");
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let printed = lines
            .by_ref()
            .take_while(|l| !l.starts_with("Ctrl-C"))
            .collect();
        // Keep draining, as a terminal would.
        std::thread::spawn(move || lines.for_each(drop));
        printed
    })
    .await
    .expect("join");
    let mut checked = 0;
    for pair in lines.windows(2) {
        let (Some(expect), Some(cmd)) = (
            pair[0].trim().strip_prefix("# "),
            pair[1].trim().strip_prefix("curl "),
        ) else {
            continue;
        };
        let want_status: u16 = expect[..3].parse().expect("status in comment");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("curl -sS -i {}", cmd.trim_start_matches("-i ")))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert_eq!(
            status,
            want_status,
            "{cmd}\n{text}\n{:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(code) = expect.split_whitespace().nth(1).filter(|c| c.contains('_')) {
            assert!(
                text.contains(&format!("\"code\":\"{code}\"")),
                "{cmd}\n{text}"
            );
        }
        if expect.contains("Deprecation") {
            assert!(
                text.to_ascii_lowercase().contains("deprecation: @"),
                "{text}"
            );
            assert!(text.to_ascii_lowercase().contains("sunset: "), "{text}");
        }
        if expect.contains("removed on the way") {
            assert!(text.contains("\"title\""), "{text}");
            assert!(!text.contains("unredacted"), "{text}");
        }
        checked += 1;
    }
    // The commands printed with this binary's path: the approved change, and the trail.
    let exe = std::fs::canonicalize(BIN).expect("binary path");
    let mut trail = None;
    for line in &lines {
        let Some((first, args)) = line.trim().split_once(' ') else {
            continue;
        };
        if std::fs::canonicalize(first).ok().as_ref() != Some(&exe) {
            continue;
        }
        // Buffered: a record is on disk within the flush interval; query until it is there.
        let mut tries = 0;
        let (out, text) = loop {
            let out = Command::new(first)
                .args(args.split_whitespace())
                .output()
                .expect("run");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            tries += 1;
            if !args.starts_with("audit query") || text.contains("acme") || tries == 50 {
                break (out, text);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if args.starts_with("diff") {
            assert_eq!(out.status.code(), Some(1), "{text}");
            assert!(
                text.contains("+ partner umbrella gains insights:query"),
                "{text}"
            );
        } else {
            assert!(
                out.status.success(),
                "{line}\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let want = match args.split_whitespace().take(2).collect::<Vec<_>>()[..] {
                ["audit", "verify"] => "ok: ",
                ["audit", "query"] => "acme",
                _ => "approvals: accepted",
            };
            assert!(text.contains(want), "{line}\n{text}");
        }
        if args.starts_with("audit verify") {
            trail = args.split_whitespace().nth(2).map(std::path::PathBuf::from);
        }
        checked += 1;
    }
    // The operations lines: metrics, and the status behind the token made for this run.
    for line in lines.iter().map(|l| l.trim()) {
        let Some(cmd) = line.strip_prefix("curl -s ") else {
            continue;
        };
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("curl -sS -f {cmd}"))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{line}\n{text}");
        let want = if cmd.contains("/metrics") {
            "kwanus_gateway_requests_total"
        } else {
            "\"safeguards\""
        };
        assert!(text.contains(want), "{line}\n{text}");
        checked += 1;
    }
    let trail = trail.expect("an audit verify line");
    assert!(trail.is_dir(), "the trail is written while the demo runs");
    // SIGTERM: the demo drains and removes its folder (no --keep).
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    assert!(
        !trail.exists(),
        "the demo's folder is removed when it stops"
    );
    assert_eq!(checked, 16, "{lines:#?}");
}

#[tokio::test]
async fn check_loads_every_file_serve_loads_and_prints_the_absolute_audit_folder() {
    let dir = temp_dir("check-files");
    let path = dir.join("gateway.toml");
    let upstream_free = render(FIXTURE, &Upstream::start().await, closed_port().await);
    // A signing key that does not exist: serve could not start, so check must fail too.
    std::fs::write(
        &path,
        format!(
            "{upstream_free}\n[audit]\ndir = \"var/trail\"\nsigning_key = \"missing/audit.pem\"\n"
        ),
    )
    .expect("write");
    let check = || {
        Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .current_dir(&dir)
            .output()
            .expect("run")
    };
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("audit.signing_key"), "{err}");
    // With the key in place, check passes and names the folder the trail will be written to.
    std::fs::create_dir_all(dir.join("missing")).expect("dir");
    let made = Command::new(BIN)
        .args(["keygen", "--audit-key"])
        .arg(dir.join("missing/audit.pem"))
        .status()
        .expect("keygen");
    assert!(made.success());
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let absolute = dir.join("var/trail");
    assert!(
        stdout.contains(&format!("audit trail in {}", absolute.display())),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readyz_off_serves_through_the_shutdown_delay_then_exits_0() {
    let upstream = Upstream::start().await;
    let down = closed_port().await;
    let dir = temp_dir("shutdown-delay");
    let path = dir.join("gateway.toml");
    let text = FIXTURE.replace(
        "drain_timeout = \"5s\"",
        "drain_timeout = \"5s\"\nshutdown_delay = \"2s\"",
    );
    std::fs::write(
        &path,
        render(
            &format!("{text}\n[admin]\nlisten = \"127.0.0.1:0\"\n"),
            &upstream,
            down,
        ),
    )
    .expect("write");
    let mut served = Served::start(&path);
    let admin = served.admin.expect("admin");
    assert!(
        http_get(admin, "/readyz")
            .await
            .text
            .starts_with("HTTP/1.1 200")
    );
    served.signal("-TERM");
    // Not ready at once, so the load balancer stops sending; partners still served meanwhile.
    let not_ready = || async {
        http_get(admin, "/readyz")
            .await
            .text
            .starts_with("HTTP/1.1 503")
    };
    assert!(eventually(Duration::from_secs(1), not_ready).await);
    assert_eq!(
        raw(served.addr, &raw_get("/v1/reports/1", ACME))
            .await
            .status(),
        200
    );
    let status = tokio::task::spawn_blocking(move || served.child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn admin_errors_are_problem_json_and_405_names_the_allowed_methods() {
    let gw = Gateway::start_with(&format!("{FIXTURE}\n[admin]\nlisten = \"127.0.0.1:0\"\n")).await;
    let r = gw.admin("POST", "/metrics", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("GET"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(r.json()["code"], "method_not_allowed");
    let r = gw.admin("GET", "/admin/reload", None).await;
    assert_eq!(
        (r.status.as_u16(), r.header("allow").as_deref()),
        (405, Some("POST"))
    );
    let r = gw.admin("GET", "/nowhere", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "route_not_found");
    let r = gw.admin("GET", "/admin/status", None).await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(r.json()["status"], r.status.as_u16());
}
